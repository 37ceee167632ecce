use sea_orm::entity::prelude::*;

/// Personal fields are ciphertext (`*_sealed`) under the tenant's key; `email_index` is the
/// keyed blind index used for equality lookups.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "contacts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub role: String,
    pub name_sealed: Vec<u8>,
    pub email_sealed: Vec<u8>,
    pub email_index: Vec<u8>,
    pub phone_sealed: Option<Vec<u8>>,
    pub key_version: i32,
    pub revision: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
