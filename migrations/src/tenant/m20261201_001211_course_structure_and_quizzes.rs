//! A course's content: its modules and their lessons (ordered by a dense `position`), the
//! rule that says when a learner has completed it, and its quizzes (settings and questions
//! with their answer keys, as JSON text). Course content, not personal data: nothing here
//! names a person. Each row belongs to its course (a module's lessons to their module) by an
//! inline foreign key that deletes it with its parent.
use crate::{col, table};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn belongs_to(from: &str, column: &str, parent: &str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(table(from), Alias::new(column))
        .to(table(parent), Alias::new("id"))
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

fn index(name: &str, on: &str, column: &str) -> IndexCreateStatement {
    Index::create()
        .name(name)
        .table(table(on))
        .col(Alias::new(column))
        .if_not_exists()
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(table("course_modules"))
                    .if_not_exists()
                    .col(col("id").uuid().not_null().primary_key())
                    .col(col("course_id").uuid().not_null())
                    .col(col("position").integer().not_null())
                    .col(col("title").string().not_null())
                    .col(col("description").text().not_null())
                    .col(col("revision").integer().not_null())
                    .col(col("created_at").timestamp_with_time_zone().not_null())
                    .col(col("updated_at").timestamp_with_time_zone().not_null())
                    .foreign_key(&mut belongs_to("course_modules", "course_id", "courses"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "course_modules_by_course",
                "course_modules",
                "course_id",
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(table("course_lessons"))
                    .if_not_exists()
                    .col(col("id").uuid().not_null().primary_key())
                    .col(col("module_id").uuid().not_null())
                    .col(col("course_id").uuid().not_null())
                    .col(col("position").integer().not_null())
                    .col(col("title").string().not_null())
                    .col(col("description").text().not_null())
                    // Unique in the institution; NULL (no content reference) many times.
                    .col(col("activity_id").string().null().unique_key())
                    .col(col("required").boolean().not_null().default(true))
                    .col(col("revision").integer().not_null())
                    .col(col("created_at").timestamp_with_time_zone().not_null())
                    .col(col("updated_at").timestamp_with_time_zone().not_null())
                    .foreign_key(&mut belongs_to(
                        "course_lessons",
                        "module_id",
                        "course_modules",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "course_lessons_by_module",
                "course_lessons",
                "module_id",
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(table("quizzes"))
                    .if_not_exists()
                    .col(col("id").uuid().not_null().primary_key())
                    .col(col("course_id").uuid().not_null())
                    .col(col("title").string().not_null())
                    .col(col("description").text().not_null())
                    .col(col("max_attempts").integer().null())
                    .col(col("time_limit_seconds").integer().null())
                    .col(col("due_at").timestamp_with_time_zone().null())
                    .col(col("passing_score").integer().not_null())
                    .col(col("kept_score").string().not_null())
                    .col(col("questions").text().not_null())
                    .col(col("revision").integer().not_null())
                    .col(col("created_at").timestamp_with_time_zone().not_null())
                    .col(col("updated_at").timestamp_with_time_zone().not_null())
                    .foreign_key(&mut belongs_to("quizzes", "course_id", "courses"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("quizzes_by_course", "quizzes", "course_id"))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(table("course_completion_rules"))
                    .if_not_exists()
                    .col(col("course_id").uuid().not_null().primary_key())
                    .col(col("required_lessons").string().not_null())
                    .col(col("passing_quizzes").text().not_null())
                    .col(col("revision").integer().not_null())
                    .col(col("updated_at").timestamp_with_time_zone().not_null())
                    .foreign_key(&mut belongs_to(
                        "course_completion_rules",
                        "course_id",
                        "courses",
                    ))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in [
            "course_completion_rules",
            "quizzes",
            "course_lessons",
            "course_modules",
        ] {
            manager
                .drop_table(Table::drop().table(table(name)).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
