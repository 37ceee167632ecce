use sea_orm::entity::prelude::*;

/// One country's digital-consent age in the institution's table (A1); `home` marks the
/// institution's own country, whose age applies to people whose jurisdiction names no
/// single country.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "digital_consent_ages")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub country: String,
    pub age: i32,
    pub home: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
