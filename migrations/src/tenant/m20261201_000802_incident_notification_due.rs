//! An incident carries its notification deadline (A2): opened + the breach notification
//! window of the privacy addendum in force then (72 hours without one). Older incidents have
//! none stored and read as opened + 72 hours. (Not `notify_by`: a column ending in `_by` names
//! a person, by the schema's naming rule the completeness scan applies.)
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
                    .add_column(col("notification_due_at").timestamp_with_time_zone().null())
                    .to_owned(),
            )
            .await
    }
}
