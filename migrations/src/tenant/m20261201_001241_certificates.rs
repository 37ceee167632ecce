//! Certificates: one per course completion (unique), the signed credential (a VC-JWT naming
//! the learner: sealed), an unguessable verification id, the learner's share settings, and
//! revocation (when, by whom, why: the reason sealed).
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
                    .table(table("certificates"))
                    .if_not_exists()
                    .col(col("id").uuid().not_null().primary_key())
                    .col(col("person_id").uuid().not_null())
                    .col(col("course_id").uuid().not_null())
                    .col(col("completion_id").uuid().not_null())
                    .col(col("verification_id").string().not_null())
                    .col(col("kid").string().not_null())
                    .col(col("issued_at").timestamp_with_time_zone().not_null())
                    .col(col("credential_sealed").blob().not_null())
                    .col(col("revoked_at").timestamp_with_time_zone().null())
                    .col(col("revoked_by").string().null())
                    .col(col("revocation_reason_sealed").blob().null())
                    .col(col("share_course").boolean().not_null().default(true))
                    .col(col("share_issued_at").boolean().not_null().default(true))
                    .col(col("share_learner").boolean().not_null().default(false))
                    .to_owned(),
            )
            .await?;
        for (name, columns) in [
            ("certificates_completion", &["completion_id"][..]),
            ("certificates_verification", &["verification_id"][..]),
        ] {
            let mut index = Index::create();
            index
                .name(name)
                .table(table("certificates"))
                .if_not_exists()
                .unique();
            for column in columns {
                index.col(Alias::new(*column));
            }
            manager.create_index(index.to_owned()).await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("certificates_person")
                    .table(table("certificates"))
                    .if_not_exists()
                    .col(Alias::new("person_id"))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(table("certificates"))
                    .if_exists()
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
