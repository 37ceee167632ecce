use sea_orm::entity::prelude::*;

/// A guardian's consent for a minor (A1): asked for by mail to the guardian (the address
/// sealed), confirmed once with a token kept only as its SHA-256 hash, before it lapses.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "guardian_consents")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub minor_person_id: Uuid,
    pub guardian_email_sealed: Vec<u8>,
    pub token_hash: String,
    pub requested_by: String,
    pub requested_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub confirmed_at: Option<DateTimeUtc>,
    pub guardian_person_id: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
