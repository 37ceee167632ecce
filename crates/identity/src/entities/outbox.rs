use sea_orm::entity::prelude::*;

/// A message waiting for delivery; recipient and text sealed under the tenant's key.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "outbox")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub kind: String,
    pub person_id: Uuid,
    pub channel: String,
    pub recipient_sealed: Option<Vec<u8>>,
    pub message_sealed: Vec<u8>,
    pub created_at: DateTimeUtc,
    pub sent_at: Option<DateTimeUtc>,
    pub key_version: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
