//! Data-subject requests (issue 10, item 2): one row per request, with its clock, its
//! identity verification (a code stored only as a hash) and its decision; one task row per
//! personal-data source the request runs on, each with its own status and attempts. The
//! subject is stored only sealed (`subject_sealed`) with a blind index to find the person's
//! requests; completion clears the sealed reference and keeps the index (a pseudonym).
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
                    .table(table("privacy_requests"))
                    .if_not_exists()
                    .col(col("id").uuid().not_null().primary_key())
                    .col(col("kind").string().not_null())
                    .col(col("status").string().not_null())
                    .col(col("lift_restriction").boolean().not_null())
                    .col(col("jurisdiction").string().not_null())
                    .col(col("subject_sealed").blob().null())
                    .col(col("subject_index").blob().not_null())
                    .col(col("details_sealed").blob().null())
                    .col(col("submitted_by").string().not_null())
                    .col(col("on_behalf").boolean().not_null())
                    .col(col("received_at").timestamp_with_time_zone().not_null())
                    .col(col("due_at").timestamp_with_time_zone().not_null())
                    .col(col("verified_at").timestamp_with_time_zone().null())
                    .col(col("code_hash").string().null())
                    .col(col("code_expires_at").timestamp_with_time_zone().null())
                    .col(col("code_attempts").integer().not_null())
                    .col(col("extended_days").integer().not_null())
                    .col(col("extension_reason").text().null())
                    .col(col("decided_by").string().null())
                    .col(col("decided_at").timestamp_with_time_zone().null())
                    .col(col("decision_reason").text().null())
                    .col(col("completed_at").timestamp_with_time_zone().null())
                    .col(col("result_sealed").blob().null())
                    .col(col("download_hash").string().null())
                    .col(col("download_expires_at").timestamp_with_time_zone().null())
                    .col(col("receipt").text().null())
                    .col(col("created_at").timestamp_with_time_zone().not_null())
                    .col(col("updated_at").timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("privacy_requests_by_subject_index")
                    .table(table("privacy_requests"))
                    .col(Alias::new("subject_index"))
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(table("privacy_request_tasks"))
                    .if_not_exists()
                    .col(col("id").uuid().not_null().primary_key())
                    .col(col("request_id").uuid().not_null())
                    .col(col("source").string().not_null())
                    .col(col("position").integer().not_null())
                    .col(col("status").string().not_null())
                    .col(col("attempts").integer().not_null())
                    .col(col("outcome").text().null())
                    .col(col("error").text().null())
                    .col(col("updated_at").timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("privacy_request_tasks_by_request_source")
                    .table(table("privacy_request_tasks"))
                    .col(Alias::new("request_id"))
                    .col(Alias::new("source"))
                    .unique()
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
