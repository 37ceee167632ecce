//! Where to raise a concern (L2) and request alerts (R6):
//! - `privacy_contact`: one row, the institution's published privacy contact (a role
//!   mailbox, not a person's record: published to anyone by the institution's slug), its own
//!   regulators per jurisdiction (a JSON array) and the default jurisdiction of requests that
//!   name none;
//! - `privacy_request_alerts`: one row per request and clock state (`due_soon`, `overdue`)
//!   whose alert was sent, so an alert is never sent twice;
//! - `privacy_alert_schedule`: when the next alert sweep of the tenant is due (replicas
//!   claim it with one conditional UPDATE, as the retention schedule).
//!
//! The outbox gains `forget_recipient`: the address of such a message is cleared once it is
//! delivered or given up (an erasure receipt, sent to an address nothing else keeps).
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
                    .table(table("privacy_contact"))
                    .if_not_exists()
                    .col(col("id").integer().not_null().primary_key())
                    .col(col("contact_name").text().null())
                    .col(col("contact_email").text().null())
                    .col(col("postal_address").text().null())
                    .col(col("url").text().null())
                    // A JSON array of {jurisdiction, name, url, email, postal_address}.
                    .col(col("regulators").text().not_null())
                    .col(col("default_jurisdiction").string().not_null())
                    .col(col("revision").integer().not_null())
                    .col(col("updated_at").timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(table("privacy_request_alerts"))
                    .if_not_exists()
                    .col(col("request_id").uuid().not_null())
                    .col(col("state").string().not_null())
                    .col(col("sent_at").timestamp_with_time_zone().not_null())
                    .col(col("recipients").integer().not_null())
                    .primary_key(
                        Index::create()
                            .col(Alias::new("request_id"))
                            .col(Alias::new("state")),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(table("privacy_alert_schedule"))
                    .if_not_exists()
                    .col(col("id").integer().not_null().primary_key())
                    .col(col("next_due_at").timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(table("outbox"))
                    .add_column(col("forget_recipient").boolean().not_null().default(false))
                    .to_owned(),
            )
            .await
    }
}
