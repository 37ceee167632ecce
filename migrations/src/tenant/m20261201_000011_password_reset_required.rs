//! A reported compromise (S6) forces a password reset: the local credential remembers when,
//! and a password set afterwards (a new row) carries no such mark.
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
                    .table(table("local_credentials"))
                    .add_column(col("reset_required_at").timestamp_with_time_zone().null())
                    .to_owned(),
            )
            .await
    }
}
