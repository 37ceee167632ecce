//! A person may keep a jurisdiction on their profile (L1): what their privacy requests that
//! state none are under. Sealed like every other personal field of the people table.
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
                    .add_column(col("jurisdiction_sealed").blob().null())
                    .to_owned(),
            )
            .await
    }
}
