//! The outbox: every message to a person (reset codes, security notices, confirmations) is
//! queued here by [`queue`], in the same transaction as the change it reports, with its
//! recipient and text sealed under the tenant's key.
//!
//! Every message has a purpose: `essential` (all of today's writers) or `marketing`, which a
//! later consent check may refuse. Delivery (and the columns that keep the purpose, the
//! subject line and the delivery status) is built on this same function elsewhere; until it
//! lands, messages wait here unsent and the subject line is not kept.

use crate::entities::outbox;
use crate::error::IdentityError;
use chrono::{SubsecRound, Utc};
use hub_kernel::classification::{DataCategory, FieldClassification, Purpose, RetentionClass};
use hub_tenant::{Tenancy, TenantScope};
use sea_orm::{ActiveValue::Set, EntityTrait};
use uuid::Uuid;

pub(crate) const TABLE: &str = "outbox";

pub const PERSONAL_FIELDS: &[FieldClassification] = &[
    FieldClassification {
        table: TABLE,
        column: "recipient",
        category: DataCategory::Contact,
        purpose: Purpose::EssentialCommunication,
        retention: RetentionClass::Ephemeral,
        identifying: true,
        blind_index: false,
        optional: true,
    },
    FieldClassification {
        table: TABLE,
        column: "message",
        category: DataCategory::Contact,
        purpose: Purpose::EssentialCommunication,
        retention: RetentionClass::Ephemeral,
        identifying: true,
        blind_index: false,
        optional: false,
    },
];

/// Why a message is sent; a later consent check refuses marketing without consent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessagePurpose {
    /// Security notices, reset codes, confirmations of what the person asked for.
    Essential,
    /// Anything the person may refuse.
    Marketing,
}

/// A message to queue.
pub struct NewMessage<'a> {
    /// What the message is, e.g. `password_reset` (shown to admins and the person).
    pub kind: &'a str,
    pub purpose: MessagePurpose,
    pub person_id: Uuid,
    /// The person's email; `None`: shown in-app only (`/v1/me/messages`).
    pub email: Option<&'a str>,
    pub subject: &'a str,
    pub text: &'a str,
}

/// Queues a message in the caller's unit of work. The one way anything writes to the outbox.
pub async fn queue(
    _tenancy: &Tenancy,
    scope: &TenantScope,
    message: NewMessage<'_>,
) -> Result<Uuid, IdentityError> {
    let id = Uuid::now_v7();
    let keys = scope.keys();
    outbox::Entity::insert(outbox::ActiveModel {
        id: Set(id),
        kind: Set(message.kind.to_string()),
        person_id: Set(message.person_id),
        channel: Set(if message.email.is_some() {
            "email"
        } else {
            "in_app"
        }
        .into()),
        recipient_sealed: Set(message
            .email
            .map(|e| keys.seal_str(TABLE, "recipient", id, e))),
        message_sealed: Set(keys.seal_str(TABLE, "message", id, message.text)),
        created_at: Set(Utc::now().trunc_subsecs(6)),
        sent_at: Set(None),
        key_version: Set(keys.active_version() as i32),
    })
    .exec_without_returning(scope.db())
    .await?;
    Ok(id)
}
