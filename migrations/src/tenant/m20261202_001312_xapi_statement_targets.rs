//! The statement a statement targets (its object is a StatementRef, Data 2.4.4.3), for the
//! filter conditions for StatementRefs (Communication 2.1.3): a statement targeting one that
//! matches a filter matches it too. Partial: statements about activities pay nothing.
//! Voiding statements are the StatementRefs stored before this column: they are filled in
//! from `voids`; other StatementRefs stored before it sit in the sealed statement only and
//! are not followed.
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
                    .table(table("xapi_statements"))
                    .add_column(col("target_statement_id").uuid().null())
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        db.execute_unprepared(
            "UPDATE xapi_statements SET target_statement_id = voids \
             WHERE voids IS NOT NULL AND target_statement_id IS NULL",
        )
        .await?;
        db.execute_unprepared(
            "CREATE INDEX IF NOT EXISTS xapi_statements_target \
             ON xapi_statements (target_statement_id) WHERE target_statement_id IS NOT NULL",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP INDEX IF EXISTS xapi_statements_target")
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(table("xapi_statements"))
                    .drop_column(Alias::new("target_statement_id"))
                    .to_owned(),
            )
            .await
    }
}
