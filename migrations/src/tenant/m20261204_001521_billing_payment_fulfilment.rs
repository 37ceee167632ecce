//! What became of a payment's enrollment (D4), for finance to read beside its status:
//! `pending` until Stripe's confirmed success is processed, then `enrolled`, or `refused`
//! (the course could no longer take the learner: the payment was refunded in full
//! automatically; `fulfilment_reason` says why, `seats_exhausted` say), or later
//! `withdrawn` (a full refund ended the enrollment it made). Codes only, no learning record.
//! Payments fulfilled before this column existed are `enrolled`.
use crate::{col, table};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column a statement: SQLite alters one at a time.
        manager
            .alter_table(
                Table::alter()
                    .table(table("billing_payments"))
                    .add_column(col("fulfilment").string().not_null().default("pending"))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(table("billing_payments"))
                    .add_column(col("fulfilment_reason").string().null())
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE billing_payments SET fulfilment = 'enrolled' WHERE fulfilled_at IS NOT NULL",
            )
            .await?;
        Ok(())
    }
}
