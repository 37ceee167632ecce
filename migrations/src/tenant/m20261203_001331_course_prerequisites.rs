//! A course's prerequisites (U7): other courses of the same institution a learner completes
//! first. A learner's own enrollment without them is not refused by the rule alone: an
//! `enrollment_refused` decision waits for a reviewer. `position` keeps the order the
//! course was given them in. Not personal data: course ids only.
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
                    .table(table("course_prerequisites"))
                    .if_not_exists()
                    .col(col("course_id").uuid().not_null())
                    .col(col("prerequisite_course_id").uuid().not_null())
                    .col(col("position").integer().not_null())
                    .primary_key(
                        Index::create()
                            .col(Alias::new("course_id"))
                            .col(Alias::new("prerequisite_course_id")),
                    )
                    .to_owned(),
            )
            .await?;
        // The reverse look-up: which courses name this one (a course deleted, the cycle
        // check walking the graph).
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("course_prerequisites_by_prerequisite")
                    .table(table("course_prerequisites"))
                    .col(Alias::new("prerequisite_course_id"))
                    .to_owned(),
            )
            .await
    }
}
