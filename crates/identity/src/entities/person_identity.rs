use sea_orm::entity::prelude::*;

/// An IdP subject linked to a person. `subject_index` is a blind index of `issuer` + `sub`;
/// `subject_sealed` the same value sealed (absent on links older than its column), so an
/// index-key rotation can index it again.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "person_identities")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub person_id: Uuid,
    pub connection_id: Uuid,
    pub subject_index: Vec<u8>,
    pub subject_sealed: Option<Vec<u8>>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
