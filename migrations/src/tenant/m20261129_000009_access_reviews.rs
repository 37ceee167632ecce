//! Access recertification (S2): review campaigns over privileged grants; each grant is
//! confirmed or revoked by a reviewer before the deadline, or expires.
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
                    .table(table("access_reviews"))
                    .if_not_exists()
                    .col(col("id").uuid().not_null().primary_key())
                    .col(col("name").string().not_null())
                    .col(col("status").string().not_null())
                    .col(col("deadline").timestamp_with_time_zone().not_null())
                    .col(col("created_by").string().not_null())
                    .col(col("created_at").timestamp_with_time_zone().not_null())
                    .col(col("closed_at").timestamp_with_time_zone().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(table("access_review_items"))
                    .if_not_exists()
                    .col(col("id").uuid().not_null().primary_key())
                    .col(col("review_id").uuid().not_null())
                    .col(col("person_id").uuid().not_null())
                    .col(col("role").string().not_null())
                    .col(col("decision").string().null())
                    .col(col("decided_by").string().null())
                    .col(col("decided_at").timestamp_with_time_zone().null())
                    .col(col("last_sign_in_at").timestamp_with_time_zone().null())
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
