//! A course's certificate deadline (U7): a completion recorded after it earns no
//! certificate by itself; a `certificate_denied` decision waits for a reviewer instead.
//! Nullable: a course without one issues every completion's certificate.
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
                    .table(table("courses"))
                    .add_column(
                        col("certificate_deadline")
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .to_owned(),
            )
            .await
    }
}
