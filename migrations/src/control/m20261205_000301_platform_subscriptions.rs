//! The platform's own billing: institutions pay the platform for a subscription plan with
//! seats. Both tables are the platform's relation with an institution, so they live in the
//! control plane, beside the webhook inbox that routes their events:
//!
//! - `billing_subscriptions`: one row per institution, its customer on the platform's Stripe
//!   account (the routing key of an invoice event, which names only its customer), the
//!   subscription, the plan, the seats committed, used (measured from active enrollments)
//!   and billed (the subscription's quantity at Stripe), and when seat usage is measured
//!   next (the conditional UPDATE that claims a pass once across replicas);
//! - `billing_platform_invoices`: the platform's invoices to the institution, as Stripe last
//!   said (amounts in minor units, the seats billed, when paid and by which PaymentIntent).
//!
//! Neither holds personal data: the customer is the institution (its name), and the card
//! it pays with stays at Stripe. The inbox gains the event object's `customer`.
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
                    .table(table("billing_subscriptions"))
                    .if_not_exists()
                    .col(col("tenant_id").uuid().not_null().primary_key())
                    .col(col("stripe_customer").string().not_null().unique_key())
                    .col(col("stripe_subscription").string().null().unique_key())
                    .col(col("stripe_item").string().null())
                    .col(col("plan_code").string().null())
                    .col(col("stripe_price").string().null())
                    .col(col("status").string().not_null())
                    .col(col("seats_committed").integer().not_null().default(0))
                    .col(col("seats_used").integer().not_null().default(0))
                    .col(col("seats_billed").integer().not_null().default(0))
                    .col(
                        col("current_period_start")
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(col("current_period_end").timestamp_with_time_zone().null())
                    .col(
                        col("cancel_at_period_end")
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(col("usage_measured_at").timestamp_with_time_zone().null())
                    .col(col("next_usage_at").timestamp_with_time_zone().not_null())
                    .col(col("created_at").timestamp_with_time_zone().not_null())
                    .col(col("updated_at").timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(table("billing_platform_invoices"))
                    .if_not_exists()
                    .col(col("stripe_invoice").string().not_null().primary_key())
                    .col(col("tenant_id").uuid().not_null())
                    .col(col("stripe_subscription").string().null())
                    .col(col("number").string().null())
                    .col(col("status").string().not_null())
                    .col(col("currency").string().not_null())
                    .col(col("total").big_integer().not_null())
                    .col(col("amount_due").big_integer().not_null())
                    .col(col("amount_paid").big_integer().not_null())
                    .col(col("amount_remaining").big_integer().not_null())
                    .col(col("seats").integer().null())
                    .col(col("period_start").timestamp_with_time_zone().null())
                    .col(col("period_end").timestamp_with_time_zone().null())
                    .col(col("paid_at").timestamp_with_time_zone().null())
                    .col(col("stripe_payment_intent").string().null())
                    .col(col("stripe_created").big_integer().not_null())
                    .col(col("updated_at").timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("billing_platform_invoices_by_tenant")
                    .table(table("billing_platform_invoices"))
                    .col(Alias::new("tenant_id"))
                    .col(Alias::new("stripe_created"))
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(table("billing_webhook_events"))
                    .add_column(col("stripe_customer").string().null())
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
