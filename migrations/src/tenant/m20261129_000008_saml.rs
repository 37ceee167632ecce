//! SAML 2.0 connections live in `sso_connections` beside the OIDC ones (`kind = 'saml'`):
//! `issuer` holds the IdP's entity ID and `client_id` this service's SP entity ID. What OIDC
//! does not need is added here as nullable columns, one per statement (SQLite alters one
//! column at a time).
use crate::{col, table};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // The IdP's metadata as the admin gave it: signing certificate and SSO endpoint are
        // read from it at each sign-in, so there is one source of truth.
        manager
            .alter_table(
                Table::alter()
                    .table(table("sso_connections"))
                    .add_column(col("idp_metadata_xml").text().null())
                    .to_owned(),
            )
            .await?;
        // The SAML attribute whose values are the person's groups (OIDC uses `groups`).
        manager
            .alter_table(
                Table::alter()
                    .table(table("sso_connections"))
                    .add_column(col("group_attribute").string().null())
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
