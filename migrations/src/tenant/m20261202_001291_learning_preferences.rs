//! A learner's stated learning preferences (U3): the catalogue topics (course tags) they
//! want recommendations about, one row per person, sealed (a person's interests are theirs;
//! associated data names the person's row). Covered by the learning-preferences source.
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
                    .table(table("learning_preferences"))
                    .if_not_exists()
                    .col(col("person_id").uuid().not_null().primary_key())
                    .col(col("topics_sealed").blob().not_null())
                    .col(col("updated_at").timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(table("learning_preferences"))
                    .if_exists()
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
