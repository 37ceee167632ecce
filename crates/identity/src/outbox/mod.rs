//! The outbox: every message to a person (reset codes, security notices, confirmations) is
//! queued here by [`queue`], in the same transaction as the change it reports, with its
//! recipient, subject and text sealed under the tenant's key. Each message is indexed by a
//! control-plane deadline, so delivery asks one question across institutions ("what is
//! due?") instead of visiting every tenant; [`delivery`] sends what is due by SMTP (or, with
//! no SMTP configured, into a local mail directory), with retries and a status per message.
//! Also here: the institution's sender identity and the delivery status admins can list.
//!
//! Every message has a purpose: `essential` (all of today's writers) or `marketing`, which is
//! sent only while the consent gate ([`hub_tenant::consent_gate`], answered by the privacy
//! service) allows the person's data to be used for marketing, asked at the moment of
//! delivery: a message the gate refuses is not sent and ends `dead` with
//! `last_error = "no_marketing_consent: <reason>"` (dropped, not held for later: consent
//! given after a message was queued does not resurrect it). An in-app marketing message is
//! delivered by being written, so the gate is asked when it is queued.

pub mod delivery;

use crate::Identity;
use crate::entities::{message_sender, outbox};
use crate::error::IdentityError;
use chrono::{DateTime, SubsecRound, Utc};
use hub_kernel::classification::{DataCategory, FieldClassification, Purpose, RetentionClass};
use hub_kernel::problem::Violations;
use hub_tenant::audit::{self, AuditEvent};
use hub_tenant::consent_gate::ConsentPurpose;
use hub_tenant::{Scope, Tenancy, TenantScope};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use std::str::FromStr;
use uuid::Uuid;

pub(crate) const TABLE: &str = "outbox";
/// The control-plane deadline kind that indexes messages due for delivery.
pub const DEADLINE_KIND: &str = "outbox";

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
        column: "subject",
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

impl MessagePurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Essential => "essential",
            Self::Marketing => "marketing",
        }
    }
}

/// Where a message is in its delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    Queued,
    /// Claimed by one sender; if it dies, the claim lapses and the message is tried again.
    Sending,
    Sent,
    /// The last attempt failed; tried again at `next_attempt_at`.
    Failed,
    /// Given up after the last allowed attempt (or not allowed to be sent).
    Dead,
}

impl DeliveryState {
    pub const ALL: [Self; 5] = [
        Self::Queued,
        Self::Sending,
        Self::Sent,
        Self::Failed,
        Self::Dead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Dead => "dead",
        }
    }

    pub fn from_stored(text: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .unwrap_or(Self::Queued)
    }
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

/// Why the consent gate refuses a marketing message to this person now (`None`: allowed).
pub(crate) async fn consent_refusal(
    tenancy: &Tenancy,
    scope: &TenantScope,
    person_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<&'static str>, IdentityError> {
    let decision = tenancy
        .may_use(scope, person_id, ConsentPurpose::Marketing, now)
        .await
        .map_err(|e| IdentityError::Mail(format!("consent gate: {e}")))?;
    Ok((!decision.allowed).then_some(decision.reason))
}

/// Queues a message in the caller's unit of work and indexes it for delivery. The one way
/// anything writes to the outbox.
pub async fn queue(
    tenancy: &Tenancy,
    scope: &TenantScope,
    message: NewMessage<'_>,
) -> Result<Uuid, IdentityError> {
    queue_with(tenancy, scope, message, false).await
}

/// [`queue`], but the recipient's address is cleared from the outbox as soon as the message
/// is delivered or given up: for a message to an address the institution no longer keeps
/// anywhere else (the erasure receipt, sent after the person's record lost its email).
pub async fn queue_forgetting_recipient(
    tenancy: &Tenancy,
    scope: &TenantScope,
    message: NewMessage<'_>,
) -> Result<Uuid, IdentityError> {
    queue_with(tenancy, scope, message, true).await
}

async fn queue_with(
    tenancy: &Tenancy,
    scope: &TenantScope,
    message: NewMessage<'_>,
    forget_recipient: bool,
) -> Result<Uuid, IdentityError> {
    let id = Uuid::now_v7();
    let now = Utc::now().trunc_subsecs(6);
    let keys = scope.keys();
    // In-app messages are delivered by being written; email waits for the sender.
    let (channel, mut status, mut sent_at, next_attempt_at) = match message.email {
        Some(_) => ("email", DeliveryState::Queued, None, Some(now)),
        None => ("in_app", DeliveryState::Sent, Some(now), None),
    };
    let mut last_error = None;
    if message.email.is_none()
        && message.purpose == MessagePurpose::Marketing
        && let Some(reason) = consent_refusal(tenancy, scope, message.person_id, now).await?
    {
        (status, sent_at) = (DeliveryState::Dead, None);
        last_error = Some(format!("no_marketing_consent: {reason}"));
    }
    outbox::Entity::insert(outbox::ActiveModel {
        id: Set(id),
        kind: Set(message.kind.to_string()),
        person_id: Set(message.person_id),
        channel: Set(channel.into()),
        recipient_sealed: Set(message
            .email
            .map(|e| keys.seal_str(TABLE, "recipient", id, e))),
        subject_sealed: Set(Some(keys.seal_str(TABLE, "subject", id, message.subject))),
        message_sealed: Set(keys.seal_str(TABLE, "message", id, message.text)),
        created_at: Set(now),
        sent_at: Set(sent_at),
        key_version: Set(keys.active_version() as i32),
        purpose: Set(message.purpose.as_str().into()),
        status: Set(status.as_str().into()),
        attempts: Set(0),
        next_attempt_at: Set(next_attempt_at),
        last_error: Set(last_error),
        forget_recipient: Set(forget_recipient),
    })
    .exec_without_returning(scope.db())
    .await?;
    if let Some(due) = next_attempt_at {
        // Written before the tenant's commit: if that rolls back, the sender finds no
        // message and drops the orphaned deadline.
        tenancy
            .schedule_deadline(scope, DEADLINE_KIND, id, due)
            .await?;
    }
    tracing::info!(message_id = %id, kind = message.kind, channel, "message queued");
    Ok(id)
}

/// A message as the person it was sent to sees it.
pub struct PersonMessage {
    pub kind: String,
    pub text: String,
}

/// Every message to a person, oldest first (an in-app copy of what was sent).
pub async fn person_messages(
    scope: &TenantScope,
    person_id: Uuid,
) -> Result<Vec<PersonMessage>, IdentityError> {
    outbox::Entity::find()
        .filter(outbox::Column::PersonId.eq(person_id))
        // A marketing message the consent gate held back never reached the person.
        .filter(
            sea_orm::Condition::any()
                .add(outbox::Column::Purpose.eq(MessagePurpose::Essential.as_str()))
                .add(outbox::Column::Status.eq(DeliveryState::Sent.as_str())),
        )
        .order_by_asc(outbox::Column::CreatedAt)
        .all(scope.db())
        .await?
        .into_iter()
        .map(|r| {
            let text = scope
                .keys()
                .open_str(TABLE, "message", r.id, &r.message_sealed)?;
            Ok(PersonMessage { kind: r.kind, text })
        })
        .collect()
}

/// The delivery status of one message: no recipient, subject or text.
#[derive(Debug, Clone)]
pub struct DeliveryStatus {
    pub id: Uuid,
    pub kind: String,
    pub purpose: String,
    pub channel: String,
    pub status: DeliveryState,
    pub attempts: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// An SMTP reply code (`smtp_550`) or a transport failure (`connection_failed`).
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

/// The institution's messages and where each is in its delivery, newest first.
pub async fn deliveries(
    scope: &TenantScope,
    status: Option<DeliveryState>,
    limit: u64,
) -> Result<Vec<DeliveryStatus>, IdentityError> {
    scope.require(Scope::TenantAdmin)?;
    if !(1..=200).contains(&limit) {
        return Err(IdentityError::invalid("limit", "must be between 1 and 200"));
    }
    let mut query = outbox::Entity::find()
        .order_by_desc(outbox::Column::CreatedAt)
        .order_by_desc(outbox::Column::Id)
        .limit(limit);
    if let Some(status) = status {
        query = query.filter(outbox::Column::Status.eq(status.as_str()));
    }
    Ok(query
        .all(scope.db())
        .await?
        .into_iter()
        .map(|r| DeliveryStatus {
            id: r.id,
            kind: r.kind,
            purpose: r.purpose,
            channel: r.channel,
            status: DeliveryState::from_stored(&r.status),
            attempts: r.attempts,
            next_attempt_at: r.next_attempt_at,
            last_error: r.last_error,
            created_at: r.created_at,
            sent_at: r.sent_at,
        })
        .collect())
}

/// Who the institution's mail is from. Unset fields fall back to the platform's sender
/// address under the institution's name.
#[derive(Debug, Clone)]
pub struct SenderIdentity {
    pub from_name: Option<String>,
    pub from_address: Option<String>,
    pub reply_to: Option<String>,
    pub revision: i32,
    pub updated_at: DateTime<Utc>,
}

pub struct SenderUpdate {
    pub from_name: Option<String>,
    pub from_address: Option<String>,
    pub reply_to: Option<String>,
}

pub(crate) async fn load_sender(scope: &TenantScope) -> Result<SenderIdentity, IdentityError> {
    let row = message_sender::Entity::find_by_id(1)
        .one(scope.db())
        .await?
        .ok_or(IdentityError::NotFound("message sender"))?;
    Ok(SenderIdentity {
        from_name: row.from_name,
        from_address: row.from_address,
        reply_to: row.reply_to,
        revision: row.revision,
        updated_at: row.updated_at,
    })
}

fn domain_of(address: &str) -> String {
    address
        .rsplit_once('@')
        .map(|(_, d)| d.to_ascii_lowercase())
        .unwrap_or_default()
}

/// The sender's display name, in characters.
pub const DISPLAY_NAME_MAX: usize = 100;

/// A display name that cannot break out of its header: printable, 1–100 characters.
fn valid_display_name(name: &str) -> bool {
    let count = name.chars().count();
    (1..=DISPLAY_NAME_MAX).contains(&count)
        && !name.chars().any(char::is_control)
        && name.trim() == name
}

/// An address that can stand in a mail header as it is (no spaces or control characters).
pub fn valid_address(address: &str) -> bool {
    address.len() <= 254
        && !address.chars().any(|c| c.is_control() || c.is_whitespace())
        && lettre::Address::from_str(address).is_ok()
}

/// A message the person may refuse (news, offers), to one person.
pub struct MarketingMessage {
    pub person_id: Uuid,
    pub subject: String,
    pub text: String,
}

impl Identity {
    /// Queues a marketing message to one person (to their email, else in-app). Queued
    /// whatever the person's consent; the consent gate decides at delivery whether it goes.
    /// Requires `tenant:admin`; audited (kind and person, never the text).
    pub async fn queue_marketing_message(
        &self,
        scope: &TenantScope,
        message: MarketingMessage,
    ) -> Result<Uuid, IdentityError> {
        scope.require(Scope::TenantAdmin)?;
        let mut v = Violations::new();
        let subject_len = message.subject.chars().count();
        v.check(
            (1..=200).contains(&subject_len) && !message.subject.chars().any(char::is_control),
            "subject",
            "1-200 printable characters",
        );
        let text_len = message.text.chars().count();
        v.check(
            (1..=10_000).contains(&text_len),
            "text",
            "1-10000 characters",
        );
        v.finish().map_err(IdentityError::Invalid)?;
        let row = crate::entities::person::Entity::find_by_id(message.person_id)
            .one(scope.db())
            .await?
            .ok_or(IdentityError::NotFound("person"))?;
        let person = crate::people::store::open(scope, row)?;
        let email = person.email.as_ref().map(|e| e.expose().clone());
        let id = queue(
            &self.tenancy,
            scope,
            NewMessage {
                kind: "marketing",
                purpose: MessagePurpose::Marketing,
                person_id: message.person_id,
                email: email.as_deref(),
                subject: &message.subject,
                text: &message.text,
            },
        )
        .await?;
        audit::record(
            scope,
            AuditEvent::new("message.marketing_queued")
                .subject(format!("person:{}", message.person_id))
                .detail(serde_json::json!({ "message_id": id })),
        )
        .await?;
        Ok(id)
    }

    pub async fn message_sender(
        &self,
        scope: &TenantScope,
    ) -> Result<SenderIdentity, IdentityError> {
        scope.require(Scope::TenantAdmin)?;
        load_sender(scope).await
    }

    /// Sets the institution's sender identity. The From address must be on one of the
    /// institution's verified domains or the platform's own sending domain, so no institution
    /// can send as someone else; Reply-To may be any address.
    pub async fn set_message_sender(
        &self,
        scope: &TenantScope,
        update: SenderUpdate,
        // `None`: `If-Match: *`, any current revision.
        expected_revision: Option<i32>,
    ) -> Result<SenderIdentity, IdentityError> {
        scope.require(Scope::TenantAdmin)?;
        let mut v = Violations::new();
        if let Some(name) = &update.from_name {
            v.check(
                valid_display_name(name),
                "from_name",
                "1-100 printable characters, no leading or trailing spaces",
            );
        }
        if let Some(address) = &update.reply_to {
            v.check(
                valid_address(address),
                "reply_to",
                "an email address such as help@example.edu",
            );
        }
        if let Some(address) = &update.from_address {
            if !valid_address(address) {
                v.add(
                    "from_address",
                    "an email address such as courses@example.edu",
                );
            } else {
                let domain = domain_of(address);
                let platform = domain_of(self.mail.platform_from());
                let verified = self
                    .domain_claims(scope)
                    .await?
                    .into_iter()
                    .any(|c| c.verified_at.is_some() && c.domain == domain);
                v.check(
                    verified || domain == platform,
                    "from_address",
                    "must be on a verified domain of the institution or the platform's sending domain",
                );
            }
        }
        v.finish().map_err(IdentityError::Invalid)?;
        let mut update_row = message_sender::Entity::update_many()
            .col_expr(
                message_sender::Column::FromName,
                Expr::value(update.from_name.clone()),
            )
            .col_expr(
                message_sender::Column::FromAddress,
                Expr::value(update.from_address.clone()),
            )
            .col_expr(
                message_sender::Column::ReplyTo,
                Expr::value(update.reply_to.clone()),
            )
            .col_expr(
                message_sender::Column::Revision,
                Expr::col(message_sender::Column::Revision).add(1),
            )
            .col_expr(message_sender::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(message_sender::Column::Id.eq(1));
        if let Some(expected) = expected_revision {
            update_row = update_row.filter(message_sender::Column::Revision.eq(expected));
        }
        let updated = update_row.exec(scope.db()).await?;
        if updated.rows_affected == 0 {
            let current = load_sender(scope).await?;
            return Err(IdentityError::RevisionMismatch {
                current: current.revision,
            });
        }
        // Which fields are set, and the From domain; a Reply-To may be someone's mailbox.
        audit::record(
            scope,
            AuditEvent::new("message_sender.updated").detail(serde_json::json!({
                "from_name_set": update.from_name.is_some(),
                "from_domain": update.from_address.as_deref().map(domain_of),
                "reply_to_set": update.reply_to.is_some(),
            })),
        )
        .await?;
        load_sender(scope).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_cannot_inject_headers() {
        assert!(valid_display_name("North Registrar"));
        assert!(!valid_display_name("North\r\nBcc: victim@example.com"));
        assert!(!valid_display_name(""));
        assert!(valid_address("courses@north.edu"));
        assert!(!valid_address("courses@north.edu\r\nBcc: x@y.z"));
        assert!(!valid_address("not an address"));
    }

    #[test]
    fn stored_states_round_trip() {
        for state in DeliveryState::ALL {
            assert_eq!(DeliveryState::from_stored(state.as_str()), state);
        }
    }
}
