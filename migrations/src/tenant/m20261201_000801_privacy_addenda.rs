//! Privacy addenda (A2): per institution, versioned, structured duties (JSON text), each
//! version a draft until a tenant admin accepts it with an effective date; the history is
//! every version. Who drafted and who accepted are actor labels (a person, pseudonymised when
//! that person is erased).
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
                    .table(table("privacy_addenda"))
                    .if_not_exists()
                    .col(col("version").integer().not_null().primary_key())
                    .col(col("duties").text().not_null())
                    .col(col("summary").text().not_null())
                    .col(col("status").string().not_null())
                    .col(col("created_at").timestamp_with_time_zone().not_null())
                    .col(col("created_by").string().not_null())
                    .col(col("effective_from").timestamp_with_time_zone().null())
                    .col(col("accepted_at").timestamp_with_time_zone().null())
                    .col(col("accepted_by").string().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(table("privacy_addenda")).to_owned())
            .await
    }
}
