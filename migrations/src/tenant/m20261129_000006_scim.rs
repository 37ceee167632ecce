//! SCIM 2.0 groups pushed by the institution's IdP, and their members. A group named after a
//! role (`instructor`, `tenant_admin`, …) grants that role to its members.
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
                    .table(table("scim_groups"))
                    .if_not_exists()
                    .col(col("id").uuid().not_null().primary_key())
                    .col(col("display_name").string().not_null().unique_key())
                    .col(col("revision").integer().not_null())
                    .col(col("created_at").timestamp_with_time_zone().not_null())
                    .col(col("updated_at").timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(table("scim_group_members"))
                    .if_not_exists()
                    .col(col("group_id").uuid().not_null())
                    .col(col("person_id").uuid().not_null())
                    .primary_key(
                        Index::create()
                            .col(Alias::new("group_id"))
                            .col(Alias::new("person_id")),
                    )
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
