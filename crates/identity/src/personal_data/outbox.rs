//! The outbox: messages to the person (recipient, subject and text sealed). Exported opened
//! from their seals, except the text of a password-reset message, whose code could still
//! open the account: the export says a code was sent, not which. Erasure deletes the
//! messages (a delivery deadline left in the control plane finds no message and is
//! dropped). A restriction leaves them: only essential messages are queued (security
//! notices, reset codes, the answers to the person's own requests), which a restricted
//! person must still receive, and a deactivated person asks for no reset code. Expiry
//! deletes messages older than the cutoff whose delivery is over (sent or given up), at most
//! `EXPIRE_BATCH` a call; a message still queued or being retried is never dropped, whatever
//! its age (it goes once delivered or given up), nor a message to a person a legal hold
//! keeps.

use super::{NOT_A_PERSON, audit_erased, person_of};
use crate::entities::outbox;
use crate::outbox::{DeliveryState, PERSONAL_FIELDS, TABLE};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hub_kernel::classification::{DataCategory, FieldClassification};
use hub_tenant::personal_data::{
    DataSubject, EXPIRE_BATCH, ExportPage, Outcome, PersonalDataSource, SourceError, Summary,
};
use hub_tenant::{Scope, TenantScope};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

/// What an exported reset message reads as instead of its code.
const RESET_CODE_WITHHELD: &str = "A password reset code was sent (the code is not repeated here).";

/// One message as exported, opened from its seals (a reset message's code withheld).
fn exported_message(
    scope: &TenantScope,
    m: &outbox::Model,
) -> Result<serde_json::Value, SourceError> {
    let keys = scope.keys();
    let recipient = m
        .recipient_sealed
        .as_deref()
        .map(|s| keys.open_str(TABLE, "recipient", m.id, s))
        .transpose()?;
    let subject = m
        .subject_sealed
        .as_deref()
        .map(|s| keys.open_str(TABLE, "subject", m.id, s))
        .transpose()?;
    let text = if m.kind == "password_reset" {
        RESET_CODE_WITHHELD.to_string()
    } else {
        keys.open_str(TABLE, "message", m.id, &m.message_sealed)?
    };
    Ok(serde_json::json!({
        "id": m.id,
        "kind": m.kind,
        "purpose": m.purpose,
        "channel": m.channel,
        "status": m.status,
        "recipient": recipient,
        "subject": subject,
        "text": text,
        "created_at": m.created_at,
        "sent_at": m.sent_at,
    }))
}

pub struct OutboxSource;

#[async_trait]
impl PersonalDataSource for OutboxSource {
    fn name(&self) -> &'static str {
        "outbox"
    }

    fn fields(&self) -> Vec<FieldClassification> {
        PERSONAL_FIELDS.to_vec()
    }

    fn tables(&self) -> &'static [&'static str] {
        &[TABLE]
    }

    fn recipients(&self) -> &'static [&'static str] {
        &["the mail relay (SMTP) that delivers email messages"]
    }

    async fn summary(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Summary, SourceError> {
        let Some(id) = person_of(scope, subject, Scope::PeopleRead)? else {
            return Ok(Summary { records: 0 });
        };
        let records = outbox::Entity::find()
            .filter(outbox::Column::PersonId.eq(id))
            .count(scope.db())
            .await?;
        Ok(Summary { records })
    }

    async fn export(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Vec<serde_json::Value>, SourceError> {
        let Some(id) = person_of(scope, subject, Scope::PeopleRead)? else {
            return Ok(Vec::new());
        };
        outbox::Entity::find()
            .filter(outbox::Column::PersonId.eq(id))
            .order_by_asc(outbox::Column::CreatedAt)
            .all(scope.db())
            .await?
            .iter()
            .map(|m| exported_message(scope, m))
            .collect()
    }

    /// Keyset-paged by message id (UUID v7: the order the messages were queued; the cursor
    /// is the last id given): every notice, code and answer to the person adds a message,
    /// so the outbox is read a page at a time.
    async fn export_page(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
        after: Option<&str>,
        limit: u64,
    ) -> Result<ExportPage, SourceError> {
        let Some(id) = person_of(scope, subject, Scope::PeopleRead)? else {
            return Ok(ExportPage::default());
        };
        let limit = limit.max(1);
        let mut query = outbox::Entity::find().filter(outbox::Column::PersonId.eq(id));
        if let Some(cursor) = after {
            let last: Uuid = cursor
                .parse()
                .map_err(|_| format!("not an outbox export cursor: {cursor}"))?;
            query = query.filter(outbox::Column::Id.gt(last));
        }
        let rows = query
            .order_by_asc(outbox::Column::Id)
            .limit(limit)
            .all(scope.db())
            .await?;
        let next = rows
            .last()
            .filter(|_| rows.len() as u64 >= limit)
            .map(|m| m.id.to_string());
        let records = rows
            .iter()
            .map(|m| exported_message(scope, m))
            .collect::<Result<_, _>>()?;
        Ok(ExportPage { records, next })
    }

    async fn erase(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Outcome, SourceError> {
        let Some(id) = person_of(scope, subject, Scope::PeopleWrite)? else {
            return Ok(NOT_A_PERSON);
        };
        let records = outbox::Entity::delete_many()
            .filter(outbox::Column::PersonId.eq(id))
            .exec(scope.db())
            .await?
            .rows_affected;
        audit_erased(scope, "messages.erased", id, records).await?;
        Ok(Outcome::Deleted { records })
    }

    async fn expire(
        &self,
        scope: &TenantScope,
        category: DataCategory,
        cutoff: DateTime<Utc>,
        keep: &[Uuid],
    ) -> Result<Outcome, SourceError> {
        scope.require(Scope::PeopleWrite)?;
        if category != DataCategory::Contact {
            return Ok(Outcome::NotApplicable {
                reason: "the outbox holds only contact data",
            });
        }
        let batch: Vec<Uuid> = outbox::Entity::find()
            .select_only()
            .column(outbox::Column::Id)
            .filter(outbox::Column::CreatedAt.lt(cutoff))
            .filter(
                outbox::Column::Status
                    .is_in([DeliveryState::Sent.as_str(), DeliveryState::Dead.as_str()]),
            )
            .filter(outbox::Column::PersonId.is_not_in(keep.iter().copied()))
            .order_by_asc(outbox::Column::CreatedAt)
            .limit(EXPIRE_BATCH)
            .into_tuple()
            .all(scope.db())
            .await?;
        if batch.is_empty() {
            return Ok(Outcome::Deleted { records: 0 });
        }
        let done = outbox::Entity::delete_many()
            .filter(outbox::Column::Id.is_in(batch))
            .exec(scope.db())
            .await?;
        Ok(Outcome::Deleted {
            records: done.rows_affected,
        })
    }

    async fn restrict(
        &self,
        scope: &TenantScope,
        _subject: &DataSubject,
        _restricted: bool,
    ) -> Result<Outcome, SourceError> {
        scope.require(Scope::PeopleWrite)?;
        Ok(Outcome::NotApplicable {
            reason: "only essential messages are queued (security notices, the answers to the \
                     person's own requests), which a restricted person must still receive",
        })
    }
}
