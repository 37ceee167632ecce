//! Adaptive quizzes (U3): a quiz may be marked `adaptive`, so a learner who has given
//! personalisation consent starts each attempt with the questions they missed before. Not
//! null, false by default: every existing quiz keeps its own order.
use crate::{col, table};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(table("quizzes"))
                    .add_column(col("adaptive").boolean().not_null().default(false))
                    .to_owned(),
            )
            .await
    }
}
