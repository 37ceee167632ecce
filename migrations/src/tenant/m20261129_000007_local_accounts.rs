//! Local (password) accounts where an institution allows them: the password only as an
//! Argon2id hash with lockout counters, single-use reset tokens (only their SHA-256 hash),
//! and the institution's sign-in settings (SSO only, or SSO plus local accounts).
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
                    .table(table("local_credentials"))
                    .if_not_exists()
                    .col(col("person_id").uuid().not_null().primary_key())
                    .col(col("password_hash").string().not_null())
                    .col(col("failed_attempts").integer().not_null())
                    .col(col("locked_until").timestamp_with_time_zone().null())
                    .col(col("changed_at").timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(table("password_resets"))
                    .if_not_exists()
                    .col(col("token_hash").string().not_null().primary_key())
                    .col(col("person_id").uuid().not_null())
                    .col(col("expires_at").timestamp_with_time_zone().not_null())
                    .col(col("used_at").timestamp_with_time_zone().null())
                    .col(col("created_at").timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(table("sign_in_settings"))
                    .if_not_exists()
                    .col(col("id").integer().not_null().primary_key())
                    .col(col("local_accounts").boolean().not_null())
                    .col(col("revision").integer().not_null())
                    .col(col("updated_at").timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        // SSO only until an admin allows local accounts.
        manager
            .get_connection()
            .execute_unprepared(
                "INSERT INTO sign_in_settings (id, local_accounts, revision, updated_at) \
                 VALUES (1, false, 1, CURRENT_TIMESTAMP)",
            )
            .await?;
        Ok(())
    }
}
