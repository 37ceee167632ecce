use sea_orm::entity::prelude::*;

/// A wrapped tenant key. The table lives in the key store's own database (see
/// [`crate::keys`]); the control plane keeps an empty table of the same shape, where an older
/// version stored the keys until `hub migrate` moved them.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tenant_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub purpose: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub version: i32,
    pub wrapped_key: Vec<u8>,
    pub kek_id: String,
    pub state: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
