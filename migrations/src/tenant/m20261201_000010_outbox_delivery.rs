//! Delivery of the outbox: each message's status (queued → sending → sent | failed → dead),
//! attempts, next attempt time and last error (an SMTP reply code, never an address), its
//! purpose (essential or marketing, for later consent checks) and a sealed subject line; and
//! the institution's sender identity (From name and address, Reply-To).
use crate::{col, table};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// One column per `ALTER` (SQLite accepts no more), each `NOT NULL` one with a default.
async fn add(manager: &SchemaManager<'_>, column: &mut ColumnDef) -> Result<(), DbErr> {
    manager
        .alter_table(
            Table::alter()
                .table(table("outbox"))
                .add_column(column)
                .to_owned(),
        )
        .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Every message written so far is essential (reset codes, security notices).
        add(
            manager,
            col("purpose").string().not_null().default("essential"),
        )
        .await?;
        add(manager, col("status").string().not_null().default("queued")).await?;
        add(manager, col("attempts").integer().not_null().default(0)).await?;
        add(
            manager,
            col("next_attempt_at").timestamp_with_time_zone().null(),
        )
        .await?;
        add(manager, col("last_error").string().null()).await?;
        add(manager, col("subject_sealed").blob().null()).await?;
        // In-app messages are delivered when written (shown at `/v1/me/messages`).
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE outbox SET status = 'sent', sent_at = created_at \
                 WHERE sent_at IS NULL AND channel <> 'email'",
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared("UPDATE outbox SET status = 'sent' WHERE sent_at IS NOT NULL")
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("outbox_due")
                    .table(table("outbox"))
                    .col(Alias::new("status"))
                    .col(Alias::new("next_attempt_at"))
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(table("message_sender"))
                    .if_not_exists()
                    .col(col("id").integer().not_null().primary_key())
                    // The institution's sending identity (role mailboxes, not a person's data);
                    // unset: the platform's sender under the institution's name.
                    .col(col("from_name").string().null())
                    .col(col("from_address").string().null())
                    .col(col("reply_to").string().null())
                    .col(col("revision").integer().not_null())
                    .col(col("updated_at").timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(
                "INSERT INTO message_sender (id, revision, updated_at) \
                 VALUES (1, 1, CURRENT_TIMESTAMP)",
            )
            .await?;
        Ok(())
    }
}
