//! The institution's audit trail (S2): admin actions, sign-ins and failed sign-ins, and every
//! read of another person's personal data: who, what, which subject, when, from where.
//!
//! Entries are written in the same transaction as the action they record, so an action that
//! rolls back leaves no entry and an entry never describes something that did not happen.
//! Each entry's hash covers its content and its predecessor's hash (SHA-256 over a canonical
//! text of the *plaintext* fields, so re-sealing the IP address under a new key does not
//! break the chain); changing or removing any entry breaks every later link, which
//! [`verify`] reports. The table also refuses UPDATE and DELETE by trigger.

use crate::entities::{audit_event, audit_head};
use crate::error::TenantError;
use crate::model::Scope;
use crate::scope::TenantScope;
use chrono::{DateTime, SubsecRound, Utc};
use hub_kernel::classification::{DataCategory, FieldClassification, Purpose, RetentionClass};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use sha2::{Digest, Sha256};
use uuid::Uuid;

pub const TABLE: &str = "audit_events";
const VERIFY_BATCH: u64 = 1000;

pub const PERSONAL_FIELDS: &[FieldClassification] = &[FieldClassification {
    table: TABLE,
    column: "ip_address",
    category: DataCategory::Technical,
    purpose: Purpose::Security,
    retention: RetentionClass::CategoryPeriod,
    identifying: true,
    blind_index: false,
    optional: true,
}];

/// Something worth recording. `subject` names whom or what it concerned (`person:<id>`).
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub action: &'static str,
    pub subject: Option<String>,
    /// Non-personal context as JSON (counts, role names, refusal codes).
    pub detail: serde_json::Value,
}

impl AuditEvent {
    pub fn new(action: &'static str) -> Self {
        Self {
            action,
            subject: None,
            detail: serde_json::Value::Object(Default::default()),
        }
    }

    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    pub fn person(self, person_id: Uuid) -> Self {
        self.subject(format!("person:{person_id}"))
    }

    pub fn detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = detail;
        self
    }
}

/// An entry as auditors read it.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub subject: Option<String>,
    pub detail: serde_json::Value,
    pub ip_address: Option<String>,
    pub hash: String,
}

#[derive(Debug, Clone)]
pub struct Verification {
    pub intact: bool,
    pub entries_checked: i64,
    /// The first entry whose content or link does not match.
    pub first_broken_seq: Option<i64>,
    pub head_seq: i64,
    pub head_hash: String,
}

#[allow(clippy::too_many_arguments)]
fn chain_hash(
    seq: i64,
    at: &DateTime<Utc>,
    actor: &str,
    action: &str,
    subject: Option<&str>,
    detail: &str,
    ip: Option<&str>,
    prev_hash: &str,
) -> String {
    let text = format!(
        "{seq}\n{}\n{actor}\n{action}\n{}\n{detail}\n{}\n{prev_hash}",
        at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        subject.unwrap_or(""),
        ip.unwrap_or(""),
    );
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Appends an entry in the scope's transaction (committed or rolled back with the action).
pub async fn record(scope: &TenantScope, event: AuditEvent) -> Result<(), TenantError> {
    let db = scope.db();
    // Taking the head's row lock first serialises writers of this tenant's chain.
    audit_head::Entity::update_many()
        .col_expr(
            audit_head::Column::Seq,
            Expr::col(audit_head::Column::Seq).add(1),
        )
        .filter(audit_head::Column::Id.eq(1))
        .exec(db)
        .await?;
    let head = audit_head::Entity::find_by_id(1)
        .one(db)
        .await?
        .ok_or_else(|| TenantError::Conflict("the audit trail has no head".into()))?;
    let seq = head.seq;
    // Stored with microsecond precision on every backend, so the hash can be recomputed.
    let at = Utc::now().trunc_subsecs(6);
    let actor = scope.actor_label();
    let detail = event.detail.to_string();
    let ip = scope.client_ip().map(str::to_string);
    let hash = chain_hash(
        seq,
        &at,
        &actor,
        event.action,
        event.subject.as_deref(),
        &detail,
        ip.as_deref(),
        &head.hash,
    );
    let row = audit_event::ActiveModel {
        seq: Set(seq),
        at: Set(at),
        actor: Set(actor),
        action: Set(event.action.to_string()),
        subject: Set(event.subject),
        detail: Set(detail),
        ip_address_sealed: Set(ip.as_deref().map(|ip| {
            scope
                .keys()
                .seal_str(TABLE, "ip_address", seq_row_id(seq), ip)
        })),
        prev_hash: Set(head.hash),
        hash: Set(hash.clone()),
    };
    audit_event::Entity::insert(row)
        .exec_without_returning(db)
        .await?;
    audit_head::Entity::update_many()
        .col_expr(audit_head::Column::Hash, Expr::value(hash))
        .filter(audit_head::Column::Id.eq(1))
        .exec(db)
        .await?;
    Ok(())
}

/// Sealing binds ciphertext to a row id; an entry's row id is derived from its sequence.
fn seq_row_id(seq: i64) -> Uuid {
    Uuid::from_u64_pair(0, seq as u64)
}

fn open(scope: &TenantScope, row: audit_event::Model) -> Result<AuditEntry, TenantError> {
    let ip = row
        .ip_address_sealed
        .as_deref()
        .map(|s| {
            scope
                .keys()
                .open_str(TABLE, "ip_address", seq_row_id(row.seq), s)
        })
        .transpose()?;
    Ok(AuditEntry {
        seq: row.seq,
        at: row.at,
        actor: row.actor,
        action: row.action,
        subject: row.subject,
        detail: serde_json::from_str(&row.detail).unwrap_or(serde_json::Value::Null),
        ip_address: ip,
        hash: row.hash,
    })
}

/// Records that a listing returned other people's personal data (S2), in the listing's own
/// transaction: how many entries and which ids (`ids_field` names them in the detail). An
/// empty listing disclosed nothing and records nothing.
pub async fn record_listing(
    scope: &TenantScope,
    action: &'static str,
    ids_field: &'static str,
    ids: impl IntoIterator<Item = Uuid>,
) -> Result<(), TenantError> {
    let ids: Vec<Uuid> = ids.into_iter().collect();
    if ids.is_empty() {
        return Ok(());
    }
    let mut detail = serde_json::Map::new();
    detail.insert("count".into(), ids.len().into());
    detail.insert(ids_field.into(), serde_json::json!(ids));
    record(
        scope,
        AuditEvent::new(action).detail(serde_json::Value::Object(detail)),
    )
    .await
}

/// Entries oldest first, in pages (the cursor is the last sequence number seen).
pub async fn list(
    scope: &TenantScope,
    after: Option<i64>,
    limit: u64,
    action: Option<&str>,
    subject: Option<&str>,
) -> Result<Vec<AuditEntry>, TenantError> {
    scope.require(Scope::AuditRead)?;
    let mut query = audit_event::Entity::find()
        .order_by_asc(audit_event::Column::Seq)
        .limit(limit);
    if let Some(after) = after {
        query = query.filter(audit_event::Column::Seq.gt(after));
    }
    if let Some(action) = action {
        query = query.filter(audit_event::Column::Action.eq(action));
    }
    if let Some(subject) = subject {
        query = query.filter(audit_event::Column::Subject.eq(subject));
    }
    query
        .all(scope.db())
        .await?
        .into_iter()
        .map(|r| open(scope, r))
        .collect()
}

/// Recomputes the whole chain from the first entry, in batches.
pub async fn verify(scope: &TenantScope) -> Result<Verification, TenantError> {
    scope.require(Scope::AuditRead)?;
    let head = audit_head::Entity::find_by_id(1)
        .one(scope.db())
        .await?
        .ok_or_else(|| TenantError::Conflict("the audit trail has no head".into()))?;
    let mut prev_hash = "0".repeat(64);
    let mut expected_seq = 1;
    let mut checked = 0;
    let mut broken = None;
    'batches: loop {
        let rows = audit_event::Entity::find()
            .filter(audit_event::Column::Seq.gte(expected_seq))
            .order_by_asc(audit_event::Column::Seq)
            .limit(VERIFY_BATCH)
            .all(scope.db())
            .await?;
        if rows.is_empty() {
            break;
        }
        for row in rows {
            let entry = open(scope, row.clone())?;
            let recomputed = chain_hash(
                row.seq,
                &row.at,
                &row.actor,
                &row.action,
                row.subject.as_deref(),
                &row.detail,
                entry.ip_address.as_deref(),
                &prev_hash,
            );
            checked += 1;
            if row.seq != expected_seq || row.prev_hash != prev_hash || row.hash != recomputed {
                broken = Some(std::cmp::min(expected_seq, row.seq));
                break 'batches;
            }
            prev_hash = row.hash;
            expected_seq += 1;
        }
    }
    // A removed tail shows as a head that points past the last entry (or at another hash).
    if broken.is_none() && (head.seq != expected_seq - 1 || head.hash != prev_hash) {
        broken = Some(expected_seq);
    }
    Ok(Verification {
        intact: broken.is_none(),
        entries_checked: checked,
        first_broken_seq: broken,
        head_seq: head.seq,
        head_hash: head.hash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_covers_every_field_and_the_predecessor() {
        let at = Utc::now().trunc_subsecs(6);
        let base = chain_hash(1, &at, "a", "x", Some("s"), "{}", Some("1.2.3.4"), "00");
        assert_eq!(
            base,
            chain_hash(1, &at, "a", "x", Some("s"), "{}", Some("1.2.3.4"), "00")
        );
        for other in [
            chain_hash(2, &at, "a", "x", Some("s"), "{}", Some("1.2.3.4"), "00"),
            chain_hash(1, &at, "b", "x", Some("s"), "{}", Some("1.2.3.4"), "00"),
            chain_hash(1, &at, "a", "y", Some("s"), "{}", Some("1.2.3.4"), "00"),
            chain_hash(1, &at, "a", "x", None, "{}", Some("1.2.3.4"), "00"),
            chain_hash(
                1,
                &at,
                "a",
                "x",
                Some("s"),
                "{\"n\":1}",
                Some("1.2.3.4"),
                "00",
            ),
            chain_hash(1, &at, "a", "x", Some("s"), "{}", None, "00"),
            chain_hash(1, &at, "a", "x", Some("s"), "{}", Some("1.2.3.4"), "01"),
        ] {
            assert_ne!(base, other);
        }
    }
}
