//! Reconciliation runs (D7): each comparison of the institution's ledger with its Stripe
//! account, scheduled or asked for, with its window, counts, outcome and the differences it
//! found; and the institution's reconciliation schedule (one row), whose conditional update
//! lets one replica claim each period. Ids, counts, kinds and amounts only: no personal data.
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
                    .table(table("billing_reconciliation_runs"))
                    .if_not_exists()
                    .col(col("id").uuid().not_null().primary_key())
                    .col(col("origin").string().not_null())
                    .col(col("status").string().not_null())
                    .col(col("since").timestamp_with_time_zone().not_null())
                    .col(col("started_at").timestamp_with_time_zone().not_null())
                    .col(col("finished_at").timestamp_with_time_zone().null())
                    .col(col("payments_checked").big_integer().not_null().default(0))
                    .col(col("refunds_checked").big_integer().not_null().default(0))
                    .col(
                        col("transactions_checked")
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .col(col("discrepancies").big_integer().not_null().default(0))
                    .col(col("error").string().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("billing_reconciliation_runs_by_origin")
                    .table(table("billing_reconciliation_runs"))
                    .col(Alias::new("origin"))
                    .col(Alias::new("status"))
                    .col(Alias::new("started_at"))
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(table("billing_reconciliation_discrepancies"))
                    .if_not_exists()
                    .col(col("id").uuid().not_null().primary_key())
                    .col(col("run_id").uuid().not_null())
                    .col(col("kind").string().not_null())
                    .col(col("stripe_object").string().not_null())
                    .col(col("payment_id").uuid().null())
                    .col(col("refund_id").uuid().null())
                    .col(col("ledger_amount").big_integer().null())
                    .col(col("stripe_amount").big_integer().null())
                    .col(col("currency").string().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("billing_reconciliation_discrepancies_by_run")
                    .table(table("billing_reconciliation_discrepancies"))
                    .col(Alias::new("run_id"))
                    .col(Alias::new("id"))
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(table("billing_reconciliation_schedule"))
                    .if_not_exists()
                    .col(col("id").integer().not_null().primary_key())
                    .col(col("next_due_at").timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in [
            "billing_reconciliation_schedule",
            "billing_reconciliation_discrepancies",
            "billing_reconciliation_runs",
        ] {
            manager
                .drop_table(Table::drop().table(table(name)).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
