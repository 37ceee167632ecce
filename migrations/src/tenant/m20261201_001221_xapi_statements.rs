//! The xAPI Learning Record Store's statements (issue 11 part 4): one row per statement,
//! the statement itself sealed under the tenant key (it identifies a person), with the
//! columns the Statement Resource's filters query: verb, object activity, registration,
//! times, the voided flag, and the actor's Inverse Functional Identifier as a keyed blind
//! index (`actor_index`, re-indexable from `actor_sealed`). Every agent and activity a
//! statement names is a row of an index table, for the `agent`/`activity` filters and their
//! `related_*` forms (`direct`: the actor or object; otherwise anywhere in the statement).
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
                    .table(table("xapi_statements"))
                    .if_not_exists()
                    .col(col("id").uuid().not_null().primary_key())
                    .col(col("statement_sealed").blob().not_null())
                    .col(col("actor_index").blob().not_null())
                    .col(col("actor_sealed").blob().not_null())
                    .col(col("person_id").uuid().null())
                    .col(col("verb_id").string().not_null())
                    .col(col("activity_id").string().null())
                    .col(col("registration").uuid().null())
                    .col(col("voids").uuid().null())
                    .col(col("voided").boolean().not_null().default(false))
                    .col(col("restricted").boolean().not_null().default(false))
                    .col(col("credential_id").uuid().not_null())
                    .col(
                        col("statement_timestamp")
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(col("stored").timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("xapi_statements_by_stored")
                    .table(table("xapi_statements"))
                    .col(Alias::new("stored"))
                    .col(Alias::new("id"))
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("xapi_statements_by_actor")
                    .table(table("xapi_statements"))
                    .col(Alias::new("actor_index"))
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(table("xapi_statement_agents"))
                    .if_not_exists()
                    .col(col("id").uuid().not_null().primary_key())
                    .col(col("statement_id").uuid().not_null())
                    .col(col("agent_index").blob().not_null())
                    .col(col("agent_sealed").blob().not_null())
                    .col(col("direct").boolean().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("xapi_statement_agents_by_agent")
                    .table(table("xapi_statement_agents"))
                    .col(Alias::new("agent_index"))
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(table("xapi_statement_activities"))
                    .if_not_exists()
                    .col(col("statement_id").uuid().not_null())
                    .col(col("position").integer().not_null())
                    .col(col("activity_id").string().not_null())
                    .col(col("direct").boolean().not_null())
                    .primary_key(
                        Index::create()
                            .col(Alias::new("statement_id"))
                            .col(Alias::new("position")),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("xapi_statement_activities_by_activity")
                    .table(table("xapi_statement_activities"))
                    .col(Alias::new("activity_id"))
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("xapi_statement_agents_by_statement")
                    .table(table("xapi_statement_agents"))
                    .col(Alias::new("statement_id"))
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }
}
