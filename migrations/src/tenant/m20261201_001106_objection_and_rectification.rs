//! Objection and rectification requests do what they ask (R5, R2):
//! - `privacy_requests.purposes`: the purposes an objection names (space-separated, as the
//!   consent ledger spells them; not personal: which processing is objected to);
//! - `privacy_requests.corrections_sealed`: a rectification's corrections (a JSON array of
//!   `{field, value}`), sealed under the tenant key like `details_sealed`;
//! - `consent_records.request_id`: the objection request a withdrawal was recorded for.
use crate::{col, table};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one at a time.
        manager
            .alter_table(
                Table::alter()
                    .table(table("privacy_requests"))
                    .add_column(col("purposes").text().null())
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(table("privacy_requests"))
                    .add_column(col("corrections_sealed").blob().null())
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(table("consent_records"))
                    .add_column(col("request_id").uuid().null())
                    .to_owned(),
            )
            .await
    }
}
