//! Payouts (D7): money Stripe sends from the institution's connected account to its bank,
//! as Stripe last reported it (from `payout.*` webhook events, the payout fetched again).
//! Stripe ids, amounts in minor units, statuses and dates only: no personal data (the bank
//! account is not kept).
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
                    .table(table("billing_payouts"))
                    .if_not_exists()
                    .col(col("id").uuid().not_null().primary_key())
                    .col(col("stripe_payout").string().not_null().unique_key())
                    .col(col("amount").big_integer().not_null())
                    .col(col("currency").string().not_null())
                    .col(col("status").string().not_null())
                    .col(col("arrival_date").timestamp_with_time_zone().not_null())
                    .col(col("automatic").boolean().not_null())
                    .col(col("failure_code").string().null())
                    .col(col("stripe_created").timestamp_with_time_zone().not_null())
                    .col(col("updated_at").timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("billing_payouts_by_arrival")
                    .table(table("billing_payouts"))
                    .col(Alias::new("arrival_date"))
                    .col(Alias::new("id"))
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(table("billing_payouts"))
                    .if_exists()
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
