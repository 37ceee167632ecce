//! Learners' records of a course: lesson progress (one row per person and lesson), quiz
//! attempts (numbered per quiz and person, unique, so two starts cannot take one number; the
//! answers sealed: short-text answers are free text), instructors' grade changes (who, old,
//! new, why: the reason sealed), and course completions (one per person and course; a
//! `certificate_issued_at` still null is the certificate issuer's to-do).
use crate::{col, table};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn index(name: &str, on: &str, columns: &[&str], unique: bool) -> IndexCreateStatement {
    let mut index = Index::create();
    index.name(name).table(table(on)).if_not_exists();
    for column in columns {
        index.col(Alias::new(*column));
    }
    if unique {
        index.unique();
    }
    index.to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(table("lesson_progress"))
                    .if_not_exists()
                    .col(col("id").uuid().not_null().primary_key())
                    .col(col("person_id").uuid().not_null())
                    .col(col("course_id").uuid().not_null())
                    .col(col("module_id").uuid().not_null())
                    .col(col("lesson_id").uuid().not_null())
                    .col(col("status").string().not_null())
                    .col(col("source").string().not_null())
                    .col(col("first_at").timestamp_with_time_zone().not_null())
                    .col(col("last_at").timestamp_with_time_zone().not_null())
                    .col(col("completed_at").timestamp_with_time_zone().null())
                    .col(col("revision").integer().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(table("lesson_progress"), Alias::new("lesson_id"))
                            .to(table("course_lessons"), Alias::new("id"))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "lesson_progress_person_lesson",
                "lesson_progress",
                &["person_id", "lesson_id"],
                true,
            ))
            .await?;
        manager
            .create_index(index(
                "lesson_progress_person_course",
                "lesson_progress",
                &["person_id", "course_id"],
                false,
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(table("quiz_attempts"))
                    .if_not_exists()
                    .col(col("id").uuid().not_null().primary_key())
                    .col(col("quiz_id").uuid().not_null())
                    .col(col("course_id").uuid().not_null())
                    .col(col("person_id").uuid().not_null())
                    .col(col("number").integer().not_null())
                    .col(col("started_at").timestamp_with_time_zone().not_null())
                    .col(col("deadline_at").timestamp_with_time_zone().null())
                    .col(col("submitted_at").timestamp_with_time_zone().null())
                    .col(col("auto_score").integer().null())
                    .col(col("score").integer().null())
                    .col(col("max_score").integer().null())
                    .col(col("passed").boolean().null())
                    .col(col("per_question").text().null())
                    .col(col("answers_sealed").blob().null())
                    .col(col("revision").integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "quiz_attempts_quiz_person_number",
                "quiz_attempts",
                &["quiz_id", "person_id", "number"],
                true,
            ))
            .await?;
        manager
            .create_index(index(
                "quiz_attempts_by_person",
                "quiz_attempts",
                &["person_id", "course_id"],
                false,
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(table("attempt_grade_changes"))
                    .if_not_exists()
                    .col(col("id").uuid().not_null().primary_key())
                    .col(col("attempt_id").uuid().not_null())
                    .col(col("person_id").uuid().not_null())
                    .col(col("changed_by").string().not_null())
                    .col(col("old_score").integer().not_null())
                    .col(col("new_score").integer().not_null())
                    .col(col("reason_sealed").blob().not_null())
                    .col(col("at").timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "attempt_grade_changes_by_attempt",
                "attempt_grade_changes",
                &["attempt_id"],
                false,
            ))
            .await?;
        manager
            .create_index(index(
                "attempt_grade_changes_by_person",
                "attempt_grade_changes",
                &["person_id"],
                false,
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(table("course_completions"))
                    .if_not_exists()
                    .col(col("id").uuid().not_null().primary_key())
                    .col(col("person_id").uuid().not_null())
                    .col(col("course_id").uuid().not_null())
                    .col(col("enrollment_id").uuid().not_null())
                    .col(col("completed_at").timestamp_with_time_zone().not_null())
                    .col(col("rule_snapshot").text().not_null())
                    .col(col("source").string().not_null())
                    .col(
                        col("certificate_issued_at")
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "course_completions_person_course",
                "course_completions",
                &["person_id", "course_id"],
                true,
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in [
            "course_completions",
            "attempt_grade_changes",
            "quiz_attempts",
            "lesson_progress",
        ] {
            manager
                .drop_table(Table::drop().table(table(name)).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
