//! The institution's audit trail: append-only, hash-chained. `audit_head` holds the chain's
//! last sequence number and hash in one row, so concurrent writers queue on its row lock and
//! each entry names exactly one predecessor. Triggers refuse UPDATE and DELETE on entries;
//! the chain detects a change made around them (by a superuser, on disk).
use crate::{col, table};
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(table("audit_events"))
                    .if_not_exists()
                    .col(col("seq").big_integer().not_null().primary_key())
                    .col(col("at").timestamp_with_time_zone().not_null())
                    .col(col("actor").string().not_null())
                    .col(col("action").string().not_null())
                    .col(col("subject").string().null())
                    .col(col("detail").text().not_null())
                    // Where the actor acted from: personal data (technical), sealed.
                    .col(col("ip_address_sealed").blob().null())
                    .col(col("prev_hash").string().not_null())
                    .col(col("hash").string().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(table("audit_head"))
                    .if_not_exists()
                    .col(col("id").integer().not_null().primary_key())
                    .col(col("seq").big_integer().not_null())
                    .col(col("hash").string().not_null())
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        // The chain starts at sequence 0 with an all-zero hash.
        db.execute_unprepared(&format!(
            "INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '{}')",
            "0".repeat(64)
        ))
        .await?;
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                // search_path points at the tenant's schema: the function lives there too.
                db.execute_unprepared(
                    "CREATE FUNCTION audit_events_append_only() RETURNS trigger \
                     LANGUAGE plpgsql AS $$ BEGIN \
                     RAISE EXCEPTION 'the audit trail is append-only'; END $$",
                )
                .await?;
                db.execute_unprepared(
                    "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE \
                     ON audit_events FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()",
                )
                .await?;
            }
            _ => {
                for op in ["UPDATE", "DELETE"] {
                    db.execute_unprepared(&format!(
                        "CREATE TRIGGER audit_events_no_{} BEFORE {op} ON audit_events \
                         BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END",
                        op.to_lowercase()
                    ))
                    .await?;
                }
            }
        }
        Ok(())
    }
}
