use sea_orm::entity::prelude::*;

/// One erasure a restored data backup must not undo. The table lives in the key store's own
/// database (see [`crate::tombstones`]), never in the data database.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tombstones")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub kind: String,
    pub tenant_id: Uuid,
    pub subject: String,
    pub detail: String,
    pub recorded_at: DateTimeUtc,
    pub completed_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
