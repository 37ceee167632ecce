//! The tombstone journal: one row per erasure that a restored backup of the data must not
//! undo (an offboarded institution today; an erased person later), kept in the key store
//! because that database is kept and backed up apart from the data (see `hub_tenant::tombstones`).
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
                    .table(table("tombstones"))
                    .if_not_exists()
                    .col(col("id").uuid().not_null().primary_key())
                    .col(col("kind").string().not_null())
                    .col(col("tenant_id").uuid().not_null())
                    // What inside the tenant was erased; empty for the whole tenant.
                    .col(col("subject").string().not_null().default(""))
                    .col(col("detail").text().not_null())
                    .col(col("recorded_at").timestamp_with_time_zone().not_null())
                    .col(col("completed_at").timestamp_with_time_zone().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("tombstones_erasure")
                    .table(table("tombstones"))
                    .if_not_exists()
                    .unique()
                    .col(Alias::new("tenant_id"))
                    .col(Alias::new("kind"))
                    .col(Alias::new("subject"))
                    .to_owned(),
            )
            .await
    }
}
