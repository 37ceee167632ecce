//! People a SCIM `DELETE /Users/{id}` deprovisioned: the person record stays (deactivated, for
//! the audit trail and the institution's records) but SCIM no longer serves it, as RFC 7644
//! §3.6 requires of a deleted resource. Plain `CREATE TABLE`: works on SQLite and PostgreSQL.
use crate::{col, table};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(table("scim_deprovisioned"))
                    .if_not_exists()
                    .col(col("person_id").uuid().not_null().primary_key())
                    .col(
                        col("deprovisioned_at")
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
