//! Legal holds (a privacy officer keeps a person's or a category's data past its retention
//! period, with a reason and an end) and the retention sweeper's proof of work: one row per
//! run (the profile revision, the clock it ran at, per source and category what it did) and
//! the tenant's sweep schedule (when the next scheduled run is due; replicas claim it with
//! one conditional UPDATE, so each due period is run once).
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
                    .table(table("legal_holds"))
                    .if_not_exists()
                    .col(col("id").uuid().not_null().primary_key())
                    // None: every person of the institution.
                    .col(col("person_id").uuid().null())
                    // A JSON array of data categories; empty: every category.
                    .col(col("categories").text().not_null())
                    .col(col("reason").text().not_null())
                    .col(col("ends_at").timestamp_with_time_zone().not_null())
                    .col(col("set_by").string().not_null())
                    .col(col("set_at").timestamp_with_time_zone().not_null())
                    .col(col("released_at").timestamp_with_time_zone().null())
                    .col(col("released_by").string().null())
                    .col(col("release_reason").text().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("legal_holds_by_person")
                    .table(table("legal_holds"))
                    .col(Alias::new("person_id"))
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(table("retention_runs"))
                    .if_not_exists()
                    .col(col("id").uuid().not_null().primary_key())
                    // schedule, request, command_line
                    .col(col("trigger").string().not_null())
                    .col(col("state").string().not_null())
                    // 1 while the run is unfinished, else NULL: unique, so a tenant has at
                    // most one unfinished run whatever the backend.
                    .col(col("active").integer().null())
                    .col(col("profile_revision").integer().not_null())
                    // The clock the run applies the profile at.
                    .col(col("as_of").timestamp_with_time_zone().not_null())
                    .col(col("started_at").timestamp_with_time_zone().not_null())
                    .col(col("finished_at").timestamp_with_time_zone().null())
                    .col(col("lease_holder").uuid().null())
                    .col(col("lease_until").timestamp_with_time_zone().null())
                    // JSON: every step (source, category), its cutoff and outcome once done.
                    .col(col("steps").text().not_null())
                    .col(col("error").text().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("retention_runs_one_active")
                    .table(table("retention_runs"))
                    .col(Alias::new("active"))
                    .unique()
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(table("retention_schedule"))
                    .if_not_exists()
                    .col(col("id").integer().not_null().primary_key())
                    .col(col("next_due_at").timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
