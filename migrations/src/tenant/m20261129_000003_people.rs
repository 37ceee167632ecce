//! People of the institution (learners, instructors, admins, finance, auditors, guardians),
//! the SSO identities linked to them, and the institution's SSO connections.
//! Names, usernames, emails, phones and birth dates identify people: only ciphertext and
//! blind indexes are stored.
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
                    .table(table("people"))
                    .if_not_exists()
                    .col(col("id").uuid().not_null().primary_key())
                    .col(col("name_sealed").blob().not_null())
                    .col(col("username_sealed").blob().null())
                    .col(col("username_index").blob().null())
                    .col(col("email_sealed").blob().null())
                    .col(col("email_index").blob().null())
                    .col(col("phone_sealed").blob().null())
                    .col(col("birth_date_sealed").blob().null())
                    // Space-separated role names; checked in the domain.
                    .col(col("roles").string().not_null())
                    .col(col("status").string().not_null())
                    .col(col("source").string().not_null())
                    .col(col("key_version").integer().not_null())
                    .col(col("revision").integer().not_null())
                    .col(col("last_sign_in_at").timestamp_with_time_zone().null())
                    .col(col("created_at").timestamp_with_time_zone().not_null())
                    .col(col("updated_at").timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        for (name, column) in [
            ("people_by_email_index", "email_index"),
            ("people_by_username_index", "username_index"),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(table("people"))
                        .col(Alias::new(column))
                        .if_not_exists()
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(table("sso_connections"))
                    .if_not_exists()
                    .col(col("id").uuid().not_null().primary_key())
                    .col(col("kind").string().not_null())
                    .col(col("name").string().not_null())
                    .col(col("issuer").string().not_null())
                    .col(col("client_id").string().not_null())
                    .col(col("client_secret_sealed").blob().not_null())
                    .col(col("scopes").string().not_null())
                    // JSON object: IdP group name → role name.
                    .col(col("group_roles").text().not_null())
                    .col(col("default_role").string().not_null())
                    .col(col("enabled").boolean().not_null())
                    .col(col("key_version").integer().not_null())
                    .col(col("revision").integer().not_null())
                    .col(col("created_at").timestamp_with_time_zone().not_null())
                    .col(col("updated_at").timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        // The (connection, subject) pair an IdP asserts; the subject is a blind index so the
        // IdP's identifier for a person is not stored in the clear either.
        manager
            .create_table(
                Table::create()
                    .table(table("person_identities"))
                    .if_not_exists()
                    .col(col("id").uuid().not_null().primary_key())
                    .col(col("person_id").uuid().not_null())
                    .col(col("connection_id").uuid().not_null())
                    .col(col("subject_index").blob().not_null())
                    .col(col("created_at").timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("person_identities_by_subject")
                    .table(table("person_identities"))
                    .col(Alias::new("connection_id"))
                    .col(Alias::new("subject_index"))
                    .unique()
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
