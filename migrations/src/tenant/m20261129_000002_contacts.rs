//! The institution's named contacts (data-protection officer, billing, technical, admin).
//! Names, emails and phones are personal data: only ciphertext and a blind index are stored.
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
                    .table(table("contacts"))
                    .if_not_exists()
                    .col(col("id").uuid().not_null().primary_key())
                    .col(col("role").string().not_null())
                    .col(col("name_sealed").blob().not_null())
                    .col(col("email_sealed").blob().not_null())
                    .col(col("email_index").blob().not_null())
                    .col(col("phone_sealed").blob().null())
                    .col(col("key_version").integer().not_null())
                    .col(col("revision").integer().not_null())
                    .col(col("created_at").timestamp_with_time_zone().not_null())
                    .col(col("updated_at").timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("contacts_by_email_index")
                    .table(table("contacts"))
                    .col(Alias::new("email_index"))
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
