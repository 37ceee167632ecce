//! Indexes for the statement filters that name a column of `xapi_statements` itself:
//! `registration` and `verb`. Without them the planner had one way to answer a filtered
//! read, walking the `(stored, id)` order from the newest statement and testing each row
//! until it had a page, so a registration whose statements were old read the whole table
//! (`query_plans::lrs_filtered_reads_touch_only_what_they_answer` finds that class). With
//! them it can also fetch the matching rows and sort them; its statistics choose. `activity`
//! and `agent` are served by the index tables (`xapi_statement_activities`,
//! `xapi_statement_agents`). `registration` is partial: statements without one pay nothing.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // The same statements on both backends: both have partial indexes.
        let db = manager.get_connection();
        db.execute_unprepared(
            "CREATE INDEX IF NOT EXISTS xapi_statements_registration \
             ON xapi_statements (registration) WHERE registration IS NOT NULL",
        )
        .await?;
        db.execute_unprepared(
            "CREATE INDEX IF NOT EXISTS xapi_statements_verb ON xapi_statements (verb_id)",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP INDEX IF EXISTS xapi_statements_verb")
            .await?;
        db.execute_unprepared("DROP INDEX IF EXISTS xapi_statements_registration")
            .await?;
        Ok(())
    }
}
