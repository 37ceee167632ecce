//! The `course_completions` table as sea-orm sees it.

use sea_orm::entity::prelude::*;

/// A person's completion of a course (unique per pair). `rule_snapshot` is the rule as it
/// was met (JSON); `source` says what completed it (`learner`, `xapi`, `quiz_attempt`,
/// `grade_change`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "course_completions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub person_id: Uuid,
    pub course_id: Uuid,
    pub enrollment_id: Uuid,
    pub completed_at: DateTimeUtc,
    pub rule_snapshot: String,
    pub source: String,
    pub certificate_issued_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
