//! An export request's bundle, one row per page of one source (R4): the page's records
//! sealed as a JSON array, and the CSV columns they flatten to (sealed too: a column name
//! can carry a key of the data). A download streams the parts one at a time, so no step
//! holds more than one page of a person's export; a re-run of a source's task replaces
//! that source's parts.
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
                    .table(table("privacy_export_parts"))
                    .if_not_exists()
                    .col(col("id").uuid().not_null().primary_key())
                    .col(col("request_id").uuid().not_null())
                    .col(col("source").string().not_null())
                    .col(col("seq").integer().not_null())
                    .col(col("record_count").integer().not_null())
                    .col(col("records_sealed").blob().not_null())
                    .col(col("columns_sealed").blob().not_null())
                    .col(col("created_at").timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("privacy_export_parts_by_request")
                    .table(table("privacy_export_parts"))
                    .col(Alias::new("request_id"))
                    .col(Alias::new("source"))
                    .col(Alias::new("seq"))
                    .unique()
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }
}
