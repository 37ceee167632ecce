//! A job runs once across replicas: the process running it holds a lease on its row (who,
//! and until when), renewed as it makes progress; a lease that lapsed (its holder died) can
//! be taken by another process, which resumes the job.
use crate::{col, table};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per ALTER: SQLite takes no more.
        manager
            .alter_table(
                Table::alter()
                    .table(table("jobs"))
                    .add_column(col("lease_holder").uuid().null())
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(table("jobs"))
                    .add_column(col("lease_until").timestamp_with_time_zone().null())
                    .to_owned(),
            )
            .await
    }
}
