//! StatementRefs stored before `m20261202_001312_xapi_statement_targets` recorded the
//! statement they target only inside the sealed statement (that migration filled in the
//! voiding ones, from `voids`). Which rows may be such a StatementRef is known without the
//! key: no activity object, no voided target, no target yet. They are marked
//! `targets_pending`; the learning crate's periodic job (`xapi.statement_targets`) opens
//! each with the institution's key, records its target and clears the mark. A migration
//! cannot: it holds no tenant key.
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
                    .add_column(col("targets_pending").boolean().not_null().default(false))
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        db.execute_unprepared(
            "UPDATE xapi_statements SET targets_pending = TRUE \
             WHERE activity_id IS NULL AND voids IS NULL AND target_statement_id IS NULL",
        )
        .await?;
        db.execute_unprepared(
            "CREATE INDEX IF NOT EXISTS xapi_statements_targets_pending \
             ON xapi_statements (id) WHERE targets_pending",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP INDEX IF EXISTS xapi_statements_targets_pending")
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(table("xapi_statements"))
                    .drop_column(Alias::new("targets_pending"))
                    .to_owned(),
            )
            .await
    }
}
