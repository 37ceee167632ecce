use sea_orm::entity::prelude::*;

/// A person's password, only as an Argon2id PHC string, with lockout counters and, after a
/// reported compromise, the mark that it must be reset before it opens a session again.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "local_credentials")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub person_id: Uuid,
    pub password_hash: String,
    pub failed_attempts: i32,
    pub locked_until: Option<DateTimeUtc>,
    pub changed_at: DateTimeUtc,
    pub reset_required_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
