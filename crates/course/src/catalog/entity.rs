use sea_orm::entity::prelude::*;

/// Tags are a JSON array of validated slugs (no quotes or LIKE wildcards), which keeps the
/// table portable between PostgreSQL and SQLite and lets a tag filter match `"tag"`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "courses")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub code: String,
    pub title: String,
    pub description: String,
    pub status: String,
    pub tags: String,
    pub minimum_age: Option<i32>,
    pub restricted_content: bool,
    pub seat_limit: Option<i32>,
    pub certificate_deadline: Option<DateTimeUtc>,
    pub revision: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
