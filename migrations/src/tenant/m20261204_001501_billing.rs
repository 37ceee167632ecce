//! Billing inside an institution: what its courses cost, which Stripe customer each buyer
//! is (sealed: the id names a person to anyone with Stripe access), payments, refunds and
//! disputes as Stripe last reported them. Only Stripe ids, amounts in minor units, statuses,
//! card brand, last four digits and expiry (sealed) are kept (D4, C4): never a card number, never a
//! learning record (T3: the billing tables hold no progress, score or statement).
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
                    .table(table("billing_course_prices"))
                    .if_not_exists()
                    .col(col("course_id").uuid().not_null().primary_key())
                    .col(col("amount").big_integer().not_null())
                    .col(col("currency").string().not_null())
                    .col(col("updated_at").timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(table("billing_customers"))
                    .if_not_exists()
                    .col(col("person_id").uuid().not_null().primary_key())
                    .col(col("stripe_customer_sealed").blob().not_null())
                    .col(col("created_at").timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(table("billing_payments"))
                    .if_not_exists()
                    .col(col("id").uuid().not_null().primary_key())
                    .col(col("person_id").uuid().not_null())
                    .col(col("course_id").uuid().null())
                    .col(col("description").string().not_null())
                    .col(col("amount").big_integer().not_null())
                    .col(col("currency").string().not_null())
                    .col(col("status").string().not_null())
                    .col(col("amount_refunded").big_integer().not_null().default(0))
                    .col(
                        col("stripe_payment_intent")
                            .string()
                            .not_null()
                            .unique_key(),
                    )
                    .col(col("stripe_charge").string().null())
                    // Brand, last four digits and expiry as Stripe reported them, sealed.
                    .col(col("card_sealed").blob().null())
                    .col(col("enrollment_id").uuid().null())
                    .col(col("fulfilled_at").timestamp_with_time_zone().null())
                    .col(col("pseudonymised_at").timestamp_with_time_zone().null())
                    .col(col("created_at").timestamp_with_time_zone().not_null())
                    .col(col("updated_at").timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        for (name, column) in [
            ("billing_payments_by_created", "created_at"),
            ("billing_payments_by_person", "person_id"),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(table("billing_payments"))
                        .col(Alias::new(column))
                        .col(Alias::new("id"))
                        .if_not_exists()
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(table("billing_refunds"))
                    .if_not_exists()
                    .col(col("id").uuid().not_null().primary_key())
                    .col(col("payment_id").uuid().not_null())
                    .col(col("stripe_refund").string().null().unique_key())
                    .col(col("amount").big_integer().not_null())
                    .col(col("currency").string().not_null())
                    .col(col("status").string().not_null())
                    .col(col("reason").string().not_null())
                    .col(col("requested_by").uuid().null())
                    .col(col("created_at").timestamp_with_time_zone().not_null())
                    .col(col("updated_at").timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("billing_refunds_by_payment")
                    .table(table("billing_refunds"))
                    .col(Alias::new("payment_id"))
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(table("billing_disputes"))
                    .if_not_exists()
                    .col(col("id").uuid().not_null().primary_key())
                    .col(col("stripe_dispute").string().not_null().unique_key())
                    .col(col("payment_id").uuid().null())
                    .col(col("stripe_charge").string().null())
                    .col(col("amount").big_integer().not_null())
                    .col(col("currency").string().not_null())
                    .col(col("status").string().not_null())
                    .col(col("reason").string().not_null())
                    .col(col("evidence_due_at").timestamp_with_time_zone().null())
                    .col(col("created_at").timestamp_with_time_zone().not_null())
                    .col(col("updated_at").timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
