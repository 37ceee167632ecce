//! The `certificates` table as sea-orm sees it.

use sea_orm::entity::prelude::*;

/// One certificate per course completion. `credential_sealed` is the signed VC-JWT (it names
/// the learner); `revoked_by` is an audit label (`person:<id>`), pseudonymised on erasure.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "certificates")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub person_id: Uuid,
    pub course_id: Uuid,
    pub completion_id: Uuid,
    pub verification_id: String,
    pub kid: String,
    pub issued_at: DateTimeUtc,
    pub credential_sealed: Vec<u8>,
    pub revoked_at: Option<DateTimeUtc>,
    pub revoked_by: Option<String>,
    pub revocation_reason_sealed: Option<Vec<u8>>,
    pub share_course: bool,
    pub share_issued_at: bool,
    pub share_learner: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
