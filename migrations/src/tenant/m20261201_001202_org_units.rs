//! Organisational units of the institution (a tree: faculties, departments, teams) and each
//! person's unit (their affiliation, a learning record).
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
                    .table(table("org_units"))
                    .if_not_exists()
                    .col(col("id").uuid().not_null().primary_key())
                    .col(col("code").string().not_null().unique_key())
                    .col(col("name").string().not_null())
                    .col(col("parent_id").uuid().null())
                    .col(col("revision").integer().not_null())
                    .col(col("created_at").timestamp_with_time_zone().not_null())
                    .col(col("updated_at").timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(table("learner_affiliations"))
                    .if_not_exists()
                    .col(col("person_id").uuid().not_null().primary_key())
                    .col(col("org_unit_id").uuid().not_null())
                    .col(col("assigned_by").string().not_null())
                    .col(col("updated_at").timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("learner_affiliations_by_unit")
                    .table(table("learner_affiliations"))
                    .col(Alias::new("org_unit_id"))
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
