//! De-identified reports (C7, U2, U5, D3): `report_populations` holds, once per population
//! and period, the suppressed tables every report of that population shows (computed once,
//! so two reports or two requests never show the period's records counted twice and
//! differently); `report_runs` records each report produced, on request or on schedule
//! (unique per report and period, so a run happens once across replicas). Both hold
//! aggregates only: no person, no identifier, no count below the cell size.
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
                    .table(table("report_populations"))
                    .if_not_exists()
                    .col(col("population").string().not_null())
                    .col(col("period_start").timestamp_with_time_zone().not_null())
                    .col(col("period_end").timestamp_with_time_zone().not_null())
                    .col(col("min_cell_size").integer().not_null())
                    .col(col("tables").text().not_null())
                    .col(col("computed_at").timestamp_with_time_zone().not_null())
                    .primary_key(
                        Index::create()
                            .col(Alias::new("population"))
                            .col(Alias::new("period_start")),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(table("report_runs"))
                    .if_not_exists()
                    .col(col("id").uuid().not_null().primary_key())
                    .col(col("report_name").string().not_null())
                    .col(col("kind").string().not_null())
                    .col(col("population").string().not_null())
                    .col(col("cadence").string().not_null())
                    .col(col("format").string().not_null())
                    .col(col("fields").text().not_null())
                    .col(col("period_start").timestamp_with_time_zone().not_null())
                    .col(col("period_end").timestamp_with_time_zone().not_null())
                    .col(col("trigger").string().not_null())
                    .col(col("created_at").timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("report_runs_once")
                    .table(table("report_runs"))
                    .if_not_exists()
                    .unique()
                    .col(Alias::new("report_name"))
                    .col(Alias::new("period_start"))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in ["report_runs", "report_populations"] {
            manager
                .drop_table(Table::drop().table(table(name)).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
