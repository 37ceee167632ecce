//! Billing's control-plane tables. Stripe delivers every webhook event to one endpoint of the
//! platform, before anyone knows which institution it is for, so its inbox lives here:
//! `billing_webhook_events` holds one row per Stripe event id (the dedupe key: Stripe delivers
//! at least once), with what routes and orders it (connected account, object type and id,
//! Stripe's `created`) and where it is in processing. It keeps no payload: processing
//! re-fetches the object from Stripe (its current state, so reordered deliveries converge),
//! and a payload may carry a customer's email. `billing_accounts` says which institution
//! each Stripe connected account belongs to (the routing key of a Connect event).
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
                    .table(table("billing_accounts"))
                    .if_not_exists()
                    .col(col("tenant_id").uuid().not_null().primary_key())
                    .col(col("stripe_account").string().not_null().unique_key())
                    .col(col("created_at").timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(table("billing_webhook_events"))
                    .if_not_exists()
                    .col(col("event_id").string().not_null().primary_key())
                    .col(col("event_type").string().not_null())
                    .col(col("stripe_account").string().null())
                    .col(col("object_type").string().not_null())
                    .col(col("object_id").string().not_null())
                    // The institution the object's metadata names (`hub_tenant`), as sent.
                    .col(col("metadata_tenant").string().null())
                    .col(col("livemode").boolean().not_null())
                    .col(col("stripe_created").big_integer().not_null())
                    .col(col("received_at").timestamp_with_time_zone().not_null())
                    .col(col("tenant_id").uuid().null())
                    .col(col("state").string().not_null())
                    .col(col("attempts").integer().not_null().default(0))
                    .col(col("next_attempt_at").timestamp_with_time_zone().not_null())
                    .col(col("lease_until").timestamp_with_time_zone().null())
                    .col(col("last_error").string().null())
                    .col(col("finished_at").timestamp_with_time_zone().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("billing_webhook_events_due")
                    .table(table("billing_webhook_events"))
                    .col(Alias::new("state"))
                    .col(Alias::new("next_attempt_at"))
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("billing_webhook_events_by_tenant")
                    .table(table("billing_webhook_events"))
                    .col(Alias::new("tenant_id"))
                    .col(Alias::new("stripe_created"))
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
