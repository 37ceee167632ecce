//! A person may keep their own country (ISO 3166-1 alpha-2, A1): what their age of digital
//! consent follows before their jurisdiction's country. Sealed like every other personal
//! field of the people table.
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
                    .add_column(col("country_sealed").blob().null())
                    .to_owned(),
            )
            .await
    }
}
