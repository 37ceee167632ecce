use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "privacy_profile_history")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub revision: i32,
    pub profile: String,
    /// JSON array of human-readable changes against the previous revision.
    pub changes: String,
    pub changed_by: String,
    pub changed_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
