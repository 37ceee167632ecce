//! The audit chain stops covering the plaintext IP address (issue 9, item 2).
//!
//! Entries written from now on (`chain_version` 2) seal a random salt together with the IP and
//! chain a hiding commitment, `ip_commitment = SHA-256(salt || ip)`, so a dump of the table
//! cannot test IP guesses against the hash. Entries already written keep `chain_version` 1 and
//! are verified with the rule they were written under: re-chaining them here is impossible
//! (the migration holds no tenant key, so it cannot open the sealed IPs to commit to them) and
//! would rewrite every hash of the trail, which is what the chain exists to make detectable.
//!
//! The append-only triggers are replaced by ones that allow exactly two updates, both of the
//! sealed IP only: re-sealing it under another key version (a non-empty ciphertext replaced by
//! another) and expiring it (set to NULL) on an entry that has a commitment, which the chain
//! keeps. Every other update, and every delete, is still refused.
use crate::{col, table};
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Everything but the sealed IP stays as it was; the sealed IP may be replaced by another
/// ciphertext, or removed where a commitment keeps the chain verifiable; an expired IP does
/// not come back. `same` is the backend's null-safe equality.
fn allowed_update(same: &str) -> String {
    let unchanged = [
        "seq",
        "at",
        "actor",
        "action",
        "subject",
        "detail",
        "prev_hash",
        "hash",
        "ip_commitment",
        "chain_version",
    ]
    .map(|c| format!("NEW.{c} {same} OLD.{c}"))
    .join(" AND ");
    format!(
        "{unchanged} AND OLD.ip_address_sealed IS NOT NULL \
         AND (NEW.ip_address_sealed IS NOT NULL OR OLD.ip_commitment IS NOT NULL)"
    )
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(table("audit_events"))
                    .add_column(col("ip_commitment").string().null())
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(table("audit_events"))
                    .add_column(col("chain_version").integer().not_null().default(1))
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                // The trigger keeps its name and now calls the replaced function.
                db.execute_unprepared(&format!(
                    "CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger \
                     LANGUAGE plpgsql AS $$ BEGIN \
                     IF TG_OP = 'UPDATE' AND {} THEN RETURN NEW; END IF; \
                     RAISE EXCEPTION 'the audit trail is append-only'; END $$",
                    allowed_update("IS NOT DISTINCT FROM")
                ))
                .await?;
            }
            _ => {
                db.execute_unprepared("DROP TRIGGER audit_events_no_update")
                    .await?;
                db.execute_unprepared(&format!(
                    "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events \
                     WHEN NOT ({}) \
                     BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END",
                    allowed_update("IS")
                ))
                .await?;
            }
        }
        Ok(())
    }
}
