//! An incident carries its notification deadline (A2): opened + the breach notification
//! window of the privacy addendum in force then (72 hours without one). Older incidents have
//! none stored and read as opened + 72 hours.
use crate::{col, table};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(table("incidents"))
                    .add_column(col("notify_by").timestamp_with_time_zone().null())
                    .to_owned(),
            )
            .await
    }
}
