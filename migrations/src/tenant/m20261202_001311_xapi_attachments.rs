//! The contents of statements' attachments (xAPI-Data 2.4.11, sent as parts of a
//! multipart/mixed request, Communication 1.5.2): one row per statement and SHA-2, the
//! content sealed under the tenant key (what a learner handed in is personal data, as the
//! statement is). A row lives and dies with its statement.
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
                    .table(table("xapi_attachments"))
                    .if_not_exists()
                    .col(col("id").uuid().not_null().primary_key())
                    .col(col("statement_id").uuid().not_null())
                    .col(col("sha2").string().not_null())
                    .col(col("content_type").string().not_null())
                    .col(col("length").big_integer().not_null())
                    .col(col("content_sealed").blob().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("xapi_attachments_by_statement")
                    .table(table("xapi_attachments"))
                    .col(Alias::new("statement_id"))
                    .col(Alias::new("sha2"))
                    .unique()
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(table("xapi_attachments"))
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
