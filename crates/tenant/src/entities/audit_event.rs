use sea_orm::entity::prelude::*;

/// One entry of the tenant's hash-chained audit trail.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub seq: i64,
    pub at: DateTimeUtc,
    pub actor: String,
    pub action: String,
    pub subject: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub detail: String,
    /// Salt and IP, sealed together (chain version 2); the IP alone in version 1.
    pub ip_address_sealed: Option<Vec<u8>>,
    /// `SHA-256(salt || ip)` in hex: what the chain covers in place of the IP (version 2).
    pub ip_commitment: Option<String>,
    pub chain_version: i32,
    /// `SHA-256(salt || text)` in hex of the actor, subject and detail (version 3): what the
    /// chain covers in place of their text.
    pub actor_commitment: Option<String>,
    pub subject_commitment: Option<String>,
    pub detail_commitment: Option<String>,
    /// The salts of those commitments; removed when the field is pseudonymised.
    pub actor_salt: Option<Vec<u8>>,
    pub subject_salt: Option<Vec<u8>>,
    pub detail_salt: Option<Vec<u8>>,
    pub prev_hash: String,
    pub hash: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
