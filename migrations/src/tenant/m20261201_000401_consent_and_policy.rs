//! Consent and policy versions (issue 10 §3): the per-person consent ledger (append-only),
//! processing restrictions (R3's freeze, which the consent gate honours), the institution's
//! published policy and notice versions, and people's acceptances of them.
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
                    .table(table("consent_records"))
                    .if_not_exists()
                    .col(col("id").uuid().not_null().primary_key())
                    .col(col("person_id").uuid().not_null())
                    .col(col("purpose").string().not_null())
                    .col(col("granted").boolean().not_null())
                    .col(col("policy_version").integer().null())
                    .col(col("source").string().not_null())
                    .col(col("gpc_signal").boolean().not_null().default(false))
                    .col(col("recorded_at").timestamp_with_time_zone().not_null())
                    .col(col("recorded_by").string().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("consent_records_by_person")
                    .table(table("consent_records"))
                    .col(Alias::new("person_id"))
                    .col(Alias::new("purpose"))
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(table("processing_restrictions"))
                    .if_not_exists()
                    .col(col("person_id").uuid().not_null().primary_key())
                    .col(col("restricted_at").timestamp_with_time_zone().not_null())
                    .col(col("restricted_by").string().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(table("policy_versions"))
                    .if_not_exists()
                    .col(col("version").integer().not_null().primary_key())
                    .col(col("purposes").text().not_null())
                    .col(col("notices").text().not_null())
                    .col(col("summary").text().not_null())
                    .col(col("published_at").timestamp_with_time_zone().not_null())
                    .col(col("published_by").string().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(table("policy_acceptances"))
                    .if_not_exists()
                    .col(col("id").uuid().not_null().primary_key())
                    .col(col("person_id").uuid().not_null())
                    .col(col("version").integer().not_null())
                    .col(col("accepted_at").timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("policy_acceptances_by_person")
                    .table(table("policy_acceptances"))
                    .col(Alias::new("person_id"))
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
