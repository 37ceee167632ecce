use sea_orm::entity::prelude::*;

/// An institution's SSO connection. The client secret is sealed under the tenant's key.
/// For `kind = "saml"`: `issuer` is the IdP's entity ID, `client_id` this service's SP
/// entity ID, and the sealed secret is empty.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sso_connections")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub kind: String,
    pub name: String,
    pub issuer: String,
    pub client_id: String,
    pub client_secret_sealed: Vec<u8>,
    pub scopes: String,
    #[sea_orm(column_type = "Text")]
    pub group_roles: String,
    pub default_role: String,
    pub enabled: bool,
    pub key_version: i32,
    pub revision: i32,
    /// SAML only: the IdP's metadata document.
    #[sea_orm(column_type = "Text", nullable)]
    pub idp_metadata_xml: Option<String>,
    /// SAML only: the attribute carrying the person's groups.
    pub group_attribute: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
