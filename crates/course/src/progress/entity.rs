//! The `lesson_progress` table as sea-orm sees it.

use sea_orm::entity::prelude::*;

/// One person's progress in one lesson (unique per pair).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "lesson_progress")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub person_id: Uuid,
    pub course_id: Uuid,
    pub module_id: Uuid,
    pub lesson_id: Uuid,
    pub status: String,
    pub source: String,
    pub first_at: DateTimeUtc,
    pub last_at: DateTimeUtc,
    pub completed_at: Option<DateTimeUtc>,
    pub revision: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
