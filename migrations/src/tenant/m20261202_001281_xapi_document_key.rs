//! One row per xAPI document key (xAPI-Communication 2.2–2.7): a unique index over the kind,
//! the document id, the activity, the agent's blind index and the registration, so two
//! concurrent first writes of one document cannot both insert (the LRS's write turns the
//! loser's insert into an update of the winner's row). The nullable parts are coalesced to
//! an empty value, because a unique index holds NULLs distinct on both backends (and
//! PostgreSQL's `NULLS NOT DISTINCT` is 15+ only, SQLite has none).
//!
//! Duplicates written before the index (the race it closes) are removed first, keeping each
//! key's latest write, which is the one the LRS has been answering reads with since.
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let (same_key, index) = match manager.get_database_backend() {
            DatabaseBackend::Postgres => (
                "b.kind = a.kind AND b.document_id = a.document_id \
                 AND b.activity_id IS NOT DISTINCT FROM a.activity_id \
                 AND b.agent_index IS NOT DISTINCT FROM a.agent_index \
                 AND b.registration IS NOT DISTINCT FROM a.registration",
                "CREATE UNIQUE INDEX IF NOT EXISTS xapi_documents_key ON xapi_documents \
                 (kind, document_id, COALESCE(activity_id, ''), \
                 COALESCE(agent_index, '\\x'::bytea), \
                 COALESCE(registration, '00000000-0000-0000-0000-000000000000'::uuid))",
            ),
            _ => (
                "b.kind = a.kind AND b.document_id = a.document_id \
                 AND b.activity_id IS a.activity_id \
                 AND b.agent_index IS a.agent_index \
                 AND b.registration IS a.registration",
                "CREATE UNIQUE INDEX IF NOT EXISTS xapi_documents_key ON xapi_documents \
                 (kind, document_id, COALESCE(activity_id, ''), COALESCE(agent_index, x''), \
                 COALESCE(registration, ''))",
            ),
        };
        let db = manager.get_connection();
        db.execute_unprepared(&format!(
            "DELETE FROM xapi_documents WHERE id IN (SELECT a.id FROM xapi_documents a \
             WHERE EXISTS (SELECT 1 FROM xapi_documents b WHERE {same_key} \
             AND (b.updated_at > a.updated_at OR (b.updated_at = a.updated_at AND b.id > a.id))))"
        ))
        .await?;
        db.execute_unprepared(index).await?;
        Ok(())
    }
}
