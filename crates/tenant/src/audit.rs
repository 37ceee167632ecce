//! The institution's audit trail (S2): admin actions, sign-ins and failed sign-ins, and every
//! read of another person's personal data: who, what, which subject, when, from where.
//!
//! Entries are written in the same transaction as the action they record, so an action that
//! rolls back leaves no entry and an entry never describes something that did not happen.
//! Each entry's hash covers its content and its predecessor's hash; changing or removing any
//! entry breaks every later link, which [`verify`] reports.
//!
//! The IP address is personal data and is sealed; the chain must not let a dump confirm a
//! guess of it (an unkeyed hash over the plaintext IP can be tested against all of IPv4 in
//! minutes). So each entry seals a random 128-bit salt together with the IP, and the chain
//! covers a hiding commitment, `ip_commitment = SHA-256(salt || ip)`, stored in clear: without
//! the salt (sealed) it says nothing about the IP, and with the tenant key [`verify`] opens the
//! IP and checks it against the commitment. Because the chain covers the commitment and not the
//! ciphertext, re-sealing the IP under a new key version (same salt and IP) and expiring it
//! at the end of its retention period ([`expire_ip_before`]: the ciphertext goes, the
//! commitment stays) both leave the chain verifiable. The table refuses UPDATE and DELETE by
//! trigger, except exactly those two changes of the sealed IP.
//!
//! The other chained fields hold nothing sealed: the actor is an id label (`person:<id>`,
//! `api-key:<id> (<name>)`), the subject an id, the detail ids, counts, role names, refusal
//! codes and institution settings; none is derived from a person's sealed data.
//!
//! Entries written before the commitment existed (`chain_version` 1) chained the plaintext IP;
//! they are verified by the rule they were written under, and an entry of version 1 after one
//! of version 2 is a break. Their hashes still let a dump test IP guesses for those entries.

use crate::entities::{audit_event, audit_head};
use crate::error::TenantError;
use crate::model::{Scope, TenantLocation};
use crate::scope::TenantScope;
use chrono::{DateTime, SubsecRound, Utc};
use hub_kernel::classification::{DataCategory, FieldClassification, Purpose, RetentionClass};
use hub_kernel::crypto::CryptoError;
use rand::RngCore;
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

/// Entries written before the IP commitment: the hash covered the plaintext IP.
const CHAIN_V1: i32 = 1;
/// The hash covers `ip_commitment`; the sealed value is the salt followed by the IP.
const CHAIN_V2: i32 = 2;
const SALT_LEN: usize = 16;

/// The content of an entry that its hash covers, whatever the version.
struct Chained<'a> {
    seq: i64,
    at: &'a DateTime<Utc>,
    actor: &'a str,
    action: &'a str,
    subject: Option<&'a str>,
    detail: &'a str,
    prev_hash: &'a str,
}

impl<'a> Chained<'a> {
    fn of(row: &'a audit_event::Model, prev_hash: &'a str) -> Self {
        Self {
            seq: row.seq,
            at: &row.at,
            actor: &row.actor,
            action: &row.action,
            subject: row.subject.as_deref(),
            detail: &row.detail,
            prev_hash,
        }
    }

    fn at_text(&self) -> String {
        self.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    }

    /// Version 1 (legacy): newline-joined text including the plaintext IP.
    fn hash_v1(&self, ip: Option<&str>) -> String {
        let text = format!(
            "{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}",
            self.seq,
            self.at_text(),
            self.actor,
            self.action,
            self.subject.unwrap_or(""),
            self.detail,
            ip.unwrap_or(""),
            self.prev_hash,
        );
        hex::encode(Sha256::digest(text.as_bytes()))
    }

    /// Version 2: every field length-prefixed (an absent one marked apart from an empty
    /// one), the IP only through its commitment. Computable from the stored row alone.
    fn hash_v2(&self, ip_commitment: Option<&str>) -> String {
        let mut hash = Sha256::new();
        hash.update(b"dxh-audit-v2");
        let seq = self.seq.to_string();
        let at = self.at_text();
        for part in [
            Some(seq.as_str()),
            Some(at.as_str()),
            Some(self.actor),
            Some(self.action),
            self.subject,
            Some(self.detail),
            ip_commitment,
            Some(self.prev_hash),
        ] {
            match part {
                None => hash.update([0u8]),
                Some(text) => {
                    hash.update([1u8]);
                    hash.update((text.len() as u64).to_be_bytes());
                    hash.update(text.as_bytes());
                }
            }
        }
        hex::encode(hash.finalize())
    }
}

/// The hiding commitment to an IP: binding through SHA-256, hiding through the sealed salt.
fn ip_commitment(salt: &[u8], ip: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(salt);
    hash.update(ip.as_bytes());
    hex::encode(hash.finalize())
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
    let (sealed, commitment) = match scope.client_ip() {
        Some(ip) => {
            let mut salt = [0u8; SALT_LEN];
            rand::rng().fill_bytes(&mut salt);
            let mut plaintext = salt.to_vec();
            plaintext.extend_from_slice(ip.as_bytes());
            let sealed = scope
                .keys()
                .seal(TABLE, "ip_address", seq_row_id(seq), &plaintext);
            (Some(sealed), Some(ip_commitment(&salt, ip)))
        }
        None => (None, None),
    };
    let hash = Chained {
        seq,
        at: &at,
        actor: &actor,
        action: event.action,
        subject: event.subject.as_deref(),
        detail: &detail,
        prev_hash: &head.hash,
    }
    .hash_v2(commitment.as_deref());
    let row = audit_event::ActiveModel {
        seq: Set(seq),
        at: Set(at),
        actor: Set(actor),
        action: Set(event.action.to_string()),
        subject: Set(event.subject),
        detail: Set(detail),
        ip_address_sealed: Set(sealed),
        ip_commitment: Set(commitment),
        chain_version: Set(CHAIN_V2),
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
pub fn seq_row_id(seq: i64) -> Uuid {
    Uuid::from_u64_pair(0, seq as u64)
}

/// The sealed IP opened: the IP and, from version 2 on, the salt of its commitment.
struct OpenedIp {
    salt: Option<Vec<u8>>,
    ip: String,
}

fn open_ip(scope: &TenantScope, row: &audit_event::Model) -> Result<Option<OpenedIp>, TenantError> {
    let Some(sealed) = row.ip_address_sealed.as_deref() else {
        return Ok(None);
    };
    let plain = scope
        .keys()
        .open(TABLE, "ip_address", seq_row_id(row.seq), sealed)?;
    let (salt, ip) = if row.chain_version >= CHAIN_V2 {
        if plain.len() < SALT_LEN {
            return Err(CryptoError::Malformed.into());
        }
        let (salt, ip) = plain.split_at(SALT_LEN);
        (Some(salt.to_vec()), ip.to_vec())
    } else {
        (None, plain)
    };
    let ip = String::from_utf8(ip).map_err(|_| TenantError::from(CryptoError::Malformed))?;
    Ok(Some(OpenedIp { salt, ip }))
}

fn open(scope: &TenantScope, row: audit_event::Model) -> Result<AuditEntry, TenantError> {
    let ip = open_ip(scope, &row)?.map(|o| o.ip);
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

/// Whether an entry matches its own hash and, where its IP is still sealed, the IP matches
/// the commitment the hash covers. `seen_v2`: an earlier entry was of version 2 already.
fn entry_is_intact(
    scope: &TenantScope,
    row: &audit_event::Model,
    prev_hash: &str,
    seen_v2: bool,
) -> bool {
    let Ok(opened) = open_ip(scope, row) else {
        return false;
    };
    let chained = Chained::of(row, prev_hash);
    match row.chain_version {
        CHAIN_V1 if !seen_v2 => row.hash == chained.hash_v1(opened.as_ref().map(|o| o.ip.as_str())),
        CHAIN_V2 => {
            let ip_matches = match (&opened, row.ip_commitment.as_deref()) {
                (
                    Some(OpenedIp {
                        salt: Some(salt),
                        ip,
                    }),
                    Some(commitment),
                ) => ip_commitment(salt, ip) == commitment,
                (Some(_), _) => false,
                // No IP recorded, or its ciphertext expired: the commitment (if any) stays.
                (None, _) => true,
            };
            ip_matches && row.hash == chained.hash_v2(row.ip_commitment.as_deref())
        }
        _ => false,
    }
}

/// Retention for the IP addresses of the trail: removes the sealed IP of every entry written
/// before `cutoff` and keeps its commitment, so the chain still verifies. Entries of chain
/// version 1 have no commitment, their hash needs the IP, and they keep it. Returns how many
/// IPs were removed.
pub async fn expire_ip_before(
    scope: &TenantScope,
    cutoff: DateTime<Utc>,
) -> Result<u64, TenantError> {
    scope.require(Scope::TenantAdmin)?;
    let result = audit_event::Entity::update_many()
        .col_expr(
            audit_event::Column::IpAddressSealed,
            Expr::value(sea_orm::Value::Bytes(None)),
        )
        .filter(audit_event::Column::At.lt(cutoff))
        .filter(audit_event::Column::IpAddressSealed.is_not_null())
        .filter(audit_event::Column::IpCommitment.is_not_null())
        .exec(scope.db())
        .await?;
    Ok(result.rows_affected)
}

impl crate::Tenancy {
    /// [`expire_ip_before`] for one tenant as a platform job (the retention sweeper's call).
    pub async fn expire_audit_ips_before(
        &self,
        location: &TenantLocation,
        cutoff: DateTime<Utc>,
    ) -> Result<u64, TenantError> {
        let scope = self.system_scope(location).await?;
        let expired = expire_ip_before(&scope, cutoff).await?;
        scope.commit().await?;
        Ok(expired)
    }
}

/// Entries oldest first, in pages (the cursor is the last sequence number seen). A page that
/// shows anyone's IP address is itself recorded (`audit.events.listed`).
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
    let entries: Vec<AuditEntry> = query
        .all(scope.db())
        .await?
        .into_iter()
        .map(|r| open(scope, r))
        .collect::<Result<_, _>>()?;
    // An entry's IP is personal data of whoever acted (C5): a page that shows any is a read
    // of other people's data, recorded like every other (S2), in this transaction.
    let disclosed: Vec<i64> = entries
        .iter()
        .filter(|e| e.ip_address.is_some())
        .map(|e| e.seq)
        .collect();
    if !disclosed.is_empty() {
        record(
            scope,
            AuditEvent::new("audit.events.listed").detail(serde_json::json!({
                "count": disclosed.len(),
                "seqs": disclosed,
            })),
        )
        .await?;
    }
    Ok(entries)
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
    let mut seen_v2 = false;
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
            checked += 1;
            if row.seq != expected_seq
                || row.prev_hash != prev_hash
                || !entry_is_intact(scope, &row, &prev_hash, seen_v2)
            {
                broken = Some(std::cmp::min(expected_seq, row.seq));
                break 'batches;
            }
            seen_v2 |= row.chain_version >= CHAIN_V2;
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

    fn chained<'a>(at: &'a DateTime<Utc>) -> Chained<'a> {
        Chained {
            seq: 1,
            at,
            actor: "a",
            action: "x",
            subject: Some("s"),
            detail: "{}",
            prev_hash: "00",
        }
    }

    #[test]
    fn the_hash_covers_every_field_and_the_predecessor() {
        let at = Utc::now().trunc_subsecs(6);
        let later = at + chrono::Duration::microseconds(1);
        let c = Some("c0");
        let base = chained(&at).hash_v2(c);
        assert_eq!(base, chained(&at).hash_v2(c));
        let variants = [
            Chained {
                seq: 2,
                ..chained(&at)
            }
            .hash_v2(c),
            chained(&later).hash_v2(c),
            Chained {
                actor: "b",
                ..chained(&at)
            }
            .hash_v2(c),
            Chained {
                action: "y",
                ..chained(&at)
            }
            .hash_v2(c),
            Chained {
                subject: None,
                ..chained(&at)
            }
            .hash_v2(c),
            Chained {
                subject: Some(""),
                ..chained(&at)
            }
            .hash_v2(c),
            Chained {
                detail: "{\"n\":1}",
                ..chained(&at)
            }
            .hash_v2(c),
            Chained {
                prev_hash: "01",
                ..chained(&at)
            }
            .hash_v2(c),
            chained(&at).hash_v2(None),
            chained(&at).hash_v2(Some("c1")),
            // Length prefixes: moving a character between fields changes the hash.
            Chained {
                actor: "ax",
                action: "",
                ..chained(&at)
            }
            .hash_v2(c),
        ];
        for (i, other) in variants.iter().enumerate() {
            assert_ne!(&base, other, "variant {i}");
        }
        // An absent subject differs from an empty one.
        assert_ne!(variants[4], variants[5]);
    }

    #[test]
    fn the_commitment_hides_the_ip_behind_its_salt_and_binds_it() {
        let ip = "192.0.2.7";
        let a = ip_commitment(&[1u8; SALT_LEN], ip);
        let b = ip_commitment(&[2u8; SALT_LEN], ip);
        assert_ne!(a, b, "two entries from one IP must not share a commitment");
        assert_ne!(a, hex::encode(Sha256::digest(ip.as_bytes())));
        assert_eq!(a, ip_commitment(&[1u8; SALT_LEN], ip));
        assert_ne!(a, ip_commitment(&[1u8; SALT_LEN], "192.0.2.8"));
    }

    #[test]
    fn legacy_entries_keep_their_rule() {
        let at = Utc::now().trunc_subsecs(6);
        let text = format!(
            "1\n{}\na\nx\ns\n{{}}\n1.2.3.4\n00",
            at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
        );
        assert_eq!(
            chained(&at).hash_v1(Some("1.2.3.4")),
            hex::encode(Sha256::digest(text.as_bytes()))
        );
    }
}
