//! Automated decisions (U7): an adverse outcome a rule produced about a learner (a course
//! failed, a certificate denied, an enrollment refused) kept with its rule, its inputs
//! (sealed: scores and attempts), its review state and deadline, the learner's contest
//! statement and the reviewer's note (both sealed), and who reviewed it.
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
                    .table(table("automated_decisions"))
                    .if_not_exists()
                    .col(col("id").uuid().not_null().primary_key())
                    .col(col("person_id").uuid().not_null())
                    .col(col("course_id").uuid().not_null())
                    .col(col("quiz_id").uuid().null())
                    .col(col("kind").string().not_null())
                    .col(col("rule").string().not_null())
                    .col(col("explanation").text().not_null())
                    .col(col("inputs_sealed").blob().not_null())
                    .col(col("state").string().not_null())
                    .col(col("review_due_at").timestamp_with_time_zone().not_null())
                    .col(col("created_at").timestamp_with_time_zone().not_null())
                    .col(col("contested_at").timestamp_with_time_zone().null())
                    .col(col("statement_sealed").blob().null())
                    .col(col("reviewed_at").timestamp_with_time_zone().null())
                    .col(col("reviewed_by").string().null())
                    .col(col("review_note_sealed").blob().null())
                    .to_owned(),
            )
            .await?;
        for (name, columns) in [
            ("automated_decisions_person", &["person_id"][..]),
            ("automated_decisions_course", &["course_id", "id"][..]),
        ] {
            let mut index = Index::create();
            index
                .name(name)
                .table(table("automated_decisions"))
                .if_not_exists();
            for column in columns {
                index.col(Alias::new(*column));
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(table("automated_decisions"))
                    .if_exists()
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
