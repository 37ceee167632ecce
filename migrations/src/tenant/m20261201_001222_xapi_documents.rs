//! The LRS's documents (xAPI-Communication 2.2–2.7): state (an activity and an agent, a
//! registration, a state id), activity profiles and agent profiles, one row each. The content
//! is sealed under the tenant key (what a learning tool keeps about a learner); the agent as
//! a keyed blind index (`agent_index`, re-indexable from `agent_sealed`); `etag` is the
//! SHA-256 of the content, for the resources' concurrency rules.
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
                    .table(table("xapi_documents"))
                    .if_not_exists()
                    .col(col("id").uuid().not_null().primary_key())
                    .col(col("kind").string().not_null())
                    .col(col("document_id").string().not_null())
                    .col(col("activity_id").string().null())
                    .col(col("agent_index").blob().null())
                    .col(col("agent_sealed").blob().null())
                    .col(col("registration").uuid().null())
                    .col(col("person_id").uuid().null())
                    .col(col("content_type").string().not_null())
                    .col(col("content_sealed").blob().not_null())
                    .col(col("etag").string().not_null())
                    .col(col("updated_at").timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("xapi_documents_by_key")
                    .table(table("xapi_documents"))
                    .col(Alias::new("kind"))
                    .col(Alias::new("document_id"))
                    .col(Alias::new("activity_id"))
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("xapi_documents_by_agent")
                    .table(table("xapi_documents"))
                    .col(Alias::new("agent_index"))
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }
}
