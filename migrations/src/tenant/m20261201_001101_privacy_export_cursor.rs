//! An export task commits page by page (R4): each page's part and where the next page starts
//! land in one short unit of work, so a long export no longer holds a tenant's write lock
//! (SQLite's is the whole file) for a whole source, and a run stopped between pages resumes
//! after the last committed one. `export_after` is the source's cursor for the next page
//! (null before the first); the task's `outcome` holds the records and parts written so far.
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
                    .table(table("privacy_request_tasks"))
                    .add_column(col("export_after").text().null())
                    .to_owned(),
            )
            .await
    }
}
