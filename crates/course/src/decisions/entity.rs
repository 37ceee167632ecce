//! The `automated_decisions` table as sea-orm sees it.

use sea_orm::entity::prelude::*;

/// One adverse outcome a rule produced about a learner, and its human review. `kind`,
/// `rule` and `state` are the model's names; `inputs_sealed` is the JSON of what the rule
/// read; `statement_sealed` the learner's contest; `review_note_sealed` the reviewer's why;
/// `reviewed_by` an audit label (`person:<id>`), pseudonymised on erasure.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "automated_decisions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub person_id: Uuid,
    pub course_id: Uuid,
    pub quiz_id: Option<Uuid>,
    pub kind: String,
    pub rule: String,
    pub explanation: String,
    pub inputs_sealed: Vec<u8>,
    pub state: String,
    pub review_due_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
    pub contested_at: Option<DateTimeUtc>,
    pub statement_sealed: Option<Vec<u8>>,
    pub reviewed_at: Option<DateTimeUtc>,
    pub reviewed_by: Option<String>,
    pub review_note_sealed: Option<Vec<u8>>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
