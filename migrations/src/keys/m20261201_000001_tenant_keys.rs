//! Wrapped tenant keys, one row per tenant, purpose and version: the same shape the control
//! plane's `tenant_keys` had before the keys moved here (`hub migrate` moves them).
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
                    .table(table("tenant_keys"))
                    .if_not_exists()
                    .col(col("tenant_id").uuid().not_null())
                    .col(col("purpose").string().not_null())
                    .col(col("version").integer().not_null())
                    .col(col("wrapped_key").blob().not_null())
                    .col(col("kek_id").string().not_null())
                    .col(col("state").string().not_null())
                    .col(col("created_at").timestamp_with_time_zone().not_null())
                    .primary_key(
                        Index::create()
                            .col(Alias::new("tenant_id"))
                            .col(Alias::new("purpose"))
                            .col(Alias::new("version")),
                    )
                    .to_owned(),
            )
            .await
    }
}
