//! Deadlines the platform must act on inside a tenant (an access review's end), indexed in
//! the control plane so one sweep finds the due ones without visiting every tenant schema.
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
                    .table(table("deadlines"))
                    .if_not_exists()
                    .col(col("id").uuid().not_null().primary_key())
                    .col(col("tenant_id").uuid().not_null())
                    .col(col("kind").string().not_null())
                    .col(col("subject_id").uuid().not_null())
                    .col(col("due_at").timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("deadlines_by_due_at")
                    .table(table("deadlines"))
                    .col(Alias::new("due_at"))
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
