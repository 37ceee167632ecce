//! Courses, idempotency records and the retention and reporting profile with its history.
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
                    .table(table("courses"))
                    .if_not_exists()
                    .col(col("id").uuid().not_null().primary_key())
                    .col(col("code").string().not_null().unique_key())
                    .col(col("title").string().not_null())
                    .col(col("description").text().not_null())
                    .col(col("status").string().not_null())
                    .col(col("tags").text().not_null())
                    .col(col("minimum_age").integer().null())
                    .col(col("revision").integer().not_null())
                    .col(col("created_at").timestamp_with_time_zone().not_null())
                    .col(col("updated_at").timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(table("idempotency_keys"))
                    .if_not_exists()
                    .col(col("key").string().not_null().primary_key())
                    .col(col("operation").string().not_null())
                    .col(col("request_hash").string().not_null())
                    .col(col("resource_id").uuid().not_null())
                    .col(col("created_at").timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(table("privacy_profile"))
                    .if_not_exists()
                    .col(col("id").integer().not_null().primary_key())
                    .col(col("profile").text().not_null())
                    .col(col("revision").integer().not_null())
                    .col(col("updated_by").string().not_null())
                    .col(col("updated_at").timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(table("privacy_profile_history"))
                    .if_not_exists()
                    .col(col("revision").integer().not_null().primary_key())
                    .col(col("profile").text().not_null())
                    .col(col("changes").text().not_null())
                    .col(col("changed_by").string().not_null())
                    .col(col("changed_at").timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
