use sea_orm::entity::prelude::*;

/// A message to a person; recipient, subject and text sealed under the tenant's key. The
/// delivery columns (status, attempts, next attempt, last error) hold no personal data.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "outbox")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub kind: String,
    pub person_id: Uuid,
    pub channel: String,
    pub recipient_sealed: Option<Vec<u8>>,
    pub message_sealed: Vec<u8>,
    pub created_at: DateTimeUtc,
    pub sent_at: Option<DateTimeUtc>,
    pub key_version: i32,
    /// `essential` or `marketing`.
    pub purpose: String,
    /// `queued`, `sending`, `sent`, `failed` (will be retried) or `dead`.
    pub status: String,
    pub attempts: i32,
    /// When the message may next be tried; for `sending`, when the sender's claim lapses.
    pub next_attempt_at: Option<DateTimeUtc>,
    pub last_error: Option<String>,
    pub subject_sealed: Option<Vec<u8>>,
    /// The recipient is cleared once the message is delivered or given up (an erasure
    /// receipt: its address is kept nowhere else).
    pub forget_recipient: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
