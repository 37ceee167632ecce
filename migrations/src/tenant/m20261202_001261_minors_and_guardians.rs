//! Minors and guardians (A1): the institution's table of digital-consent ages by country
//! (no row: the default, 16), guardian consents (the guardian's email sealed, the
//! single-use confirmation token kept only as its hash, when it lapses, when and by whom it
//! was confirmed), and a course's restricted-content flag (hidden from minors).
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
                    .table(table("digital_consent_ages"))
                    .if_not_exists()
                    .col(col("country").string().not_null().primary_key())
                    .col(col("age").integer().not_null())
                    .col(col("home").boolean().not_null().default(false))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(table("guardian_consents"))
                    .if_not_exists()
                    .col(col("id").uuid().not_null().primary_key())
                    .col(col("minor_person_id").uuid().not_null())
                    .col(col("guardian_email_sealed").blob().not_null())
                    .col(col("token_hash").string().not_null())
                    .col(col("requested_by").string().not_null())
                    .col(col("requested_at").timestamp_with_time_zone().not_null())
                    .col(col("expires_at").timestamp_with_time_zone().not_null())
                    .col(col("confirmed_at").timestamp_with_time_zone().null())
                    .col(col("guardian_person_id").uuid().null())
                    .to_owned(),
            )
            .await?;
        for (name, column, unique) in [
            ("guardian_consents_token", "token_hash", true),
            ("guardian_consents_minor", "minor_person_id", false),
            ("guardian_consents_guardian", "guardian_person_id", false),
        ] {
            let mut index = Index::create();
            index
                .name(name)
                .table(table("guardian_consents"))
                .if_not_exists()
                .col(Alias::new(column));
            if unique {
                index.unique();
            }
            manager.create_index(index.to_owned()).await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(table("courses"))
                    .add_column(
                        col("restricted_content")
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .to_owned(),
            )
            .await
    }
}
