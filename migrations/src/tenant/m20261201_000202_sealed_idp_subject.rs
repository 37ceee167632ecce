//! The IdP subject behind each SSO link is kept sealed beside its blind index, so that when
//! the blind-index key rotates the link can be re-indexed like every other blind index
//! (issue 9, item 7). Links made before this migration have no sealed subject: each gains it
//! (and moves to the new index key) at its person's next sign-in through that connection.
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
                    .table(table("person_identities"))
                    .add_column(col("subject_sealed").blob().null())
                    .to_owned(),
            )
            .await
    }
}
