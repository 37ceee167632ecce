//! Course reminders (C2): one row per reminder sent (unique on enrollment, kind and what it
//! is about), so each is sent once; and the institution's reminder schedule (one row), whose
//! conditional update lets one replica claim each pass.
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
                    .table(table("course_reminders"))
                    .if_not_exists()
                    .col(col("id").uuid().not_null().primary_key())
                    .col(col("enrollment_id").uuid().not_null())
                    .col(col("person_id").uuid().not_null())
                    .col(col("course_id").uuid().not_null())
                    .col(col("kind").string().not_null())
                    .col(col("subject_id").uuid().not_null())
                    .col(col("sent_at").timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("course_reminders_once")
                    .table(table("course_reminders"))
                    .if_not_exists()
                    .unique()
                    .col(Alias::new("enrollment_id"))
                    .col(Alias::new("kind"))
                    .col(Alias::new("subject_id"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("course_reminders_person")
                    .table(table("course_reminders"))
                    .if_not_exists()
                    .col(Alias::new("person_id"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(table("course_reminder_schedule"))
                    .if_not_exists()
                    .col(col("id").integer().not_null().primary_key())
                    .col(col("next_due_at").timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in ["course_reminder_schedule", "course_reminders"] {
            manager
                .drop_table(Table::drop().table(table(name)).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
