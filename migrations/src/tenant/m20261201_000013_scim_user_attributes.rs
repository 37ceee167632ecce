//! What SCIM carries about a user beyond the person record (RFC 7643 §3.1, §4.1.2): the IdP's
//! own id for them (`externalId`, identifying, so sealed like every other identifying field)
//! and whether the email and phone number it sent were marked `primary`. And a group's
//! `externalId` (the IdP's id for a group; no one's personal data). Plain `CREATE TABLE` and
//! `ADD COLUMN`: works on SQLite and PostgreSQL.
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
                    .table(table("scim_users"))
                    .if_not_exists()
                    .col(col("person_id").uuid().not_null().primary_key())
                    .col(col("external_id_sealed").blob().null())
                    .col(col("email_primary").boolean().null())
                    .col(col("phone_primary").boolean().null())
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(table("scim_groups"))
                    .add_column(col("external_id").string().null())
                    .to_owned(),
            )
            .await
    }
}
