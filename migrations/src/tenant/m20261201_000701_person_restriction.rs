//! A person whose data's processing is restricted (R3) carries the time the restriction
//! began: what deactivated them may not be undone by a SCIM push while it holds.
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
                    .table(table("people"))
                    .add_column(col("restricted_at").timestamp_with_time_zone().null())
                    .to_owned(),
            )
            .await
    }
}
