//! Account-compromise incidents (S6), the notification outbox that confirms them to the
//! person, and a person's "re-authenticate before the next session" mark.
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
                    .table(table("incidents"))
                    .if_not_exists()
                    .col(col("id").uuid().not_null().primary_key())
                    .col(col("kind").string().not_null())
                    .col(col("person_id").uuid().not_null())
                    .col(col("status").string().not_null())
                    // The person's own words may name people: sealed.
                    .col(col("description_sealed").blob().null())
                    .col(col("sessions_revoked").integer().not_null())
                    .col(col("api_keys_revoked").integer().not_null())
                    .col(col("reported_at").timestamp_with_time_zone().not_null())
                    .col(col("resolved_at").timestamp_with_time_zone().null())
                    .col(col("resolved_by").string().null())
                    .col(col("key_version").integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(table("outbox"))
                    .if_not_exists()
                    .col(col("id").uuid().not_null().primary_key())
                    .col(col("kind").string().not_null())
                    .col(col("person_id").uuid().not_null())
                    .col(col("channel").string().not_null())
                    // Recipient and message: sealed until a delivery worker sends them.
                    .col(col("recipient_sealed").blob().null())
                    .col(col("message_sealed").blob().not_null())
                    .col(col("created_at").timestamp_with_time_zone().not_null())
                    .col(col("sent_at").timestamp_with_time_zone().null())
                    .col(col("key_version").integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(table("people"))
                    .add_column(
                        col("reauth_required_after")
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
