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
//! codes and institution settings; none is derived from a person's sealed data. They do name
//! people, though, and the trail outlives a person's erasure (it is security evidence), so
//! erasure pseudonymises them ([`AuditSource`]): every `person:<id>` and every bare `<id>` of
//! the person in the actor, subject and detail is replaced by one fresh random pseudonym per
//! erasure (`pseudonym:<uuid>`, the mapping kept nowhere). For the chain to survive that, an
//! entry of `chain_version` 3 chains a hiding commitment to each of the three fields
//! (`SHA-256(salt || text)`, a random salt per field stored beside it) instead of their text;
//! [`verify`] checks each text against its commitment while its salt is there, and
//! pseudonymising a field replaces the text and removes the salt in the same update (the
//! trigger allows exactly that), after which the chained commitment says nothing about what
//! the field held. A pseudonymised field is therefore no longer vouched for by the chain: the
//! trail shows which entries were pseudonymised (their salt is gone), not what they said. A
//! field goes as a whole: a listing's detail naming several people is no longer vouched for
//! once one of them is erased (the others' ids in it stay readable).
//!
//! Entries written before the commitment existed (`chain_version` 1) chained the plaintext IP;
//! they are verified by the rule they were written under, and an entry of an older version
//! after one of a newer is a break. Their hashes still let a dump test IP guesses for those
//! entries. Entries of versions 1 and 2 chain the actor, subject and detail text itself: they
//! cannot be pseudonymised without re-chaining the trail (which would rewrite every later
//! hash, what the chain exists to expose), so erasure leaves them as written, exports them
//! marked so, and the completeness scan ([`crate::subject_scan`]) still finds the person in
//! them.

use crate::entities::{audit_event, audit_head};
use crate::error::TenantError;
use crate::model::{Scope, TenantLocation};
use crate::personal_data::{
    DataSubject, EXPIRE_BATCH, ExportPage, Outcome, PersonalDataSource, SourceError, Summary,
    pseudonym_label,
};
use crate::scope::TenantScope;
use chrono::{DateTime, SubsecRound, Utc};
use hub_kernel::classification::{DataCategory, FieldClassification, Purpose, RetentionClass};
use hub_kernel::crypto::CryptoError;
use rand::RngCore;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
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
/// The hash covers commitments to the actor, subject and detail too, so an erased person's
/// references can be pseudonymised.
const CHAIN_V3: i32 = 3;
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

    /// Version 3: like version 2, with the actor, subject and detail only through their
    /// commitments (the texts in `self` are not read).
    fn hash_v3(&self, ip_commitment: Option<&str>, fields: &FieldCommitments<'_>) -> String {
        let mut hash = Sha256::new();
        hash.update(b"dxh-audit-v3");
        let seq = self.seq.to_string();
        let at = self.at_text();
        for part in [
            Some(seq.as_str()),
            Some(at.as_str()),
            Some(fields.actor),
            Some(self.action),
            fields.subject,
            Some(fields.detail),
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

/// What a version-3 hash covers in place of the actor, subject and detail.
struct FieldCommitments<'a> {
    actor: &'a str,
    subject: Option<&'a str>,
    detail: &'a str,
}

/// The hiding commitment to an IP: binding through SHA-256, hiding through the sealed salt.
fn ip_commitment(salt: &[u8], ip: &str) -> String {
    commitment(salt, ip)
}

/// `SHA-256(salt || text)` in hex: binding through SHA-256, hiding while the salt is unknown.
fn commitment(salt: &[u8], text: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(salt);
    hash.update(text.as_bytes());
    hex::encode(hash.finalize())
}

fn new_salt() -> Vec<u8> {
    let mut salt = [0u8; SALT_LEN];
    rand::rng().fill_bytes(&mut salt);
    salt.to_vec()
}

/// Whether a version-3 field matches its commitment: while its salt is there the text must
/// match; once pseudonymised (salt removed) the chained commitment stands alone.
fn field_is_intact(text: Option<&str>, salt: Option<&[u8]>, commitment_hex: Option<&str>) -> bool {
    match (text, salt, commitment_hex) {
        (Some(text), Some(salt), Some(expected)) => commitment(salt, text) == expected,
        (_, None, Some(_)) => true,
        (None, None, None) => true,
        _ => false,
    }
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
    let (sealed, ip_commit) = match scope.client_ip() {
        Some(ip) => {
            let salt = new_salt();
            let mut plaintext = salt.clone();
            plaintext.extend_from_slice(ip.as_bytes());
            let sealed = scope
                .keys()
                .seal(TABLE, "ip_address", seq_row_id(seq), &plaintext);
            (Some(sealed), Some(ip_commitment(&salt, ip)))
        }
        None => (None, None),
    };
    let (actor_salt, detail_salt) = (new_salt(), new_salt());
    let subject_salt = event.subject.as_ref().map(|_| new_salt());
    let actor_commitment = commitment(&actor_salt, &actor);
    let detail_commitment = commitment(&detail_salt, &detail);
    let subject_commitment = event
        .subject
        .as_deref()
        .zip(subject_salt.as_deref())
        .map(|(subject, salt)| commitment(salt, subject));
    let hash = Chained {
        seq,
        at: &at,
        actor: &actor,
        action: event.action,
        subject: event.subject.as_deref(),
        detail: &detail,
        prev_hash: &head.hash,
    }
    .hash_v3(
        ip_commit.as_deref(),
        &FieldCommitments {
            actor: &actor_commitment,
            subject: subject_commitment.as_deref(),
            detail: &detail_commitment,
        },
    );
    let row = audit_event::ActiveModel {
        seq: Set(seq),
        at: Set(at),
        actor: Set(actor),
        action: Set(event.action.to_string()),
        subject: Set(event.subject),
        detail: Set(detail),
        ip_address_sealed: Set(sealed),
        ip_commitment: Set(ip_commit),
        chain_version: Set(CHAIN_V3),
        actor_commitment: Set(Some(actor_commitment)),
        subject_commitment: Set(subject_commitment),
        detail_commitment: Set(Some(detail_commitment)),
        actor_salt: Set(Some(actor_salt)),
        subject_salt: Set(subject_salt),
        detail_salt: Set(Some(detail_salt)),
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
/// the commitment the hash covers (and, from version 3, each field still holding its salt
/// matches its commitment). `newest_seen`: the highest chain version of an earlier entry (an
/// entry older than that is a break).
fn entry_is_intact(
    scope: &TenantScope,
    row: &audit_event::Model,
    prev_hash: &str,
    newest_seen: i32,
) -> bool {
    if row.chain_version < newest_seen {
        return false;
    }
    let Ok(opened) = open_ip(scope, row) else {
        return false;
    };
    let chained = Chained::of(row, prev_hash);
    match row.chain_version {
        CHAIN_V1 => row.hash == chained.hash_v1(opened.as_ref().map(|o| o.ip.as_str())),
        CHAIN_V2 | CHAIN_V3 => {
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
            if row.chain_version == CHAIN_V2 {
                return ip_matches && row.hash == chained.hash_v2(row.ip_commitment.as_deref());
            }
            let fields_match = field_is_intact(
                Some(&row.actor),
                row.actor_salt.as_deref(),
                row.actor_commitment.as_deref(),
            ) && field_is_intact(
                row.subject.as_deref(),
                row.subject_salt.as_deref(),
                row.subject_commitment.as_deref(),
            ) && field_is_intact(
                Some(&row.detail),
                row.detail_salt.as_deref(),
                row.detail_commitment.as_deref(),
            );
            let (Some(actor), Some(detail)) = (
                row.actor_commitment.as_deref(),
                row.detail_commitment.as_deref(),
            ) else {
                return false;
            };
            ip_matches
                && fields_match
                && row.hash
                    == chained.hash_v3(
                        row.ip_commitment.as_deref(),
                        &FieldCommitments {
                            actor,
                            subject: row.subject_commitment.as_deref(),
                            detail,
                        },
                    )
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
    let mut expired = 0;
    loop {
        let batch = expire_ips(scope, cutoff, &[]).await?;
        expired += batch;
        if batch < EXPIRE_BATCH {
            return Ok(expired);
        }
    }
}

/// One batch of [`expire_ip_before`] (at most [`EXPIRE_BATCH`] entries, oldest first), except
/// the IPs of entries whose actor is one of `keep` (a legal hold keeps that person's data).
async fn expire_ips(
    scope: &TenantScope,
    cutoff: DateTime<Utc>,
    keep: &[Uuid],
) -> Result<u64, TenantError> {
    scope.require(Scope::TenantAdmin)?;
    let kept: Vec<String> = keep.iter().map(|p| person_label(*p)).collect();
    let batch: Vec<i64> = audit_event::Entity::find()
        .select_only()
        .column(audit_event::Column::Seq)
        .filter(audit_event::Column::At.lt(cutoff))
        .filter(audit_event::Column::IpAddressSealed.is_not_null())
        .filter(audit_event::Column::IpCommitment.is_not_null())
        .filter(audit_event::Column::Actor.is_not_in(kept))
        .order_by_asc(audit_event::Column::Seq)
        .limit(EXPIRE_BATCH)
        .into_tuple()
        .all(scope.db())
        .await?;
    if batch.is_empty() {
        return Ok(0);
    }
    let result = audit_event::Entity::update_many()
        .col_expr(
            audit_event::Column::IpAddressSealed,
            Expr::value(sea_orm::Value::Bytes(None)),
        )
        .filter(audit_event::Column::Seq.is_in(batch))
        .exec(scope.db())
        .await?;
    Ok(result.rows_affected)
}

impl crate::Tenancy {
    /// [`expire_ip_before`] for one tenant as a platform job, one transaction per batch.
    pub async fn expire_audit_ips_before(
        &self,
        location: &TenantLocation,
        cutoff: DateTime<Utc>,
    ) -> Result<u64, TenantError> {
        let mut expired = 0;
        loop {
            let scope = self.system_scope(location).await?;
            let batch = expire_ips(&scope, cutoff, &[]).await?;
            scope.commit().await?;
            expired += batch;
            if batch < EXPIRE_BATCH {
                return Ok(expired);
            }
        }
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
    let mut newest_seen = CHAIN_V1;
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
                || !entry_is_intact(scope, &row, &prev_hash, newest_seen)
            {
                broken = Some(std::cmp::min(expected_seq, row.seq));
                break 'batches;
            }
            newest_seen = std::cmp::max(newest_seen, row.chain_version);
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

/// How a person is named as actor or subject (`person:<id>`).
pub fn person_label(person: Uuid) -> String {
    format!("person:{person}")
}

/// What an entry's export says about why it is kept.
const KEPT_PSEUDONYMISED: &str = "pseudonymised on erasure: security evidence";
const KEPT_AS_WRITTEN: &str = "kept as written: an entry of chain version 1 or 2 chains its text and cannot be pseudonymised without re-chaining the trail";

/// The entries naming `person` as actor or subject, or holding their id in the detail.
fn naming(person: Uuid) -> Condition {
    let label = person_label(person);
    Condition::any()
        .add(audit_event::Column::Actor.eq(label.as_str()))
        .add(audit_event::Column::Subject.eq(label.as_str()))
        .add(audit_event::Column::Detail.contains(person.to_string()))
}

/// Every entry [`naming`] `person`, in chain order.
async fn entries_naming(
    scope: &TenantScope,
    person: Uuid,
) -> Result<Vec<audit_event::Model>, TenantError> {
    Ok(audit_event::Entity::find()
        .filter(naming(person))
        .order_by_asc(audit_event::Column::Seq)
        .all(scope.db())
        .await?)
}

/// One entry as the export of `person` shows it (`label`: their [`person_label`]).
fn exported_entry(
    scope: &TenantScope,
    row: audit_event::Model,
    label: &str,
) -> Result<serde_json::Value, TenantError> {
    let version = row.chain_version;
    let entry = open(scope, row)?;
    // An entry of the person's that names another person (Ada decided Grace's grant) is
    // hers to see, but not whom it named: an export carries only the subject's own data.
    // The IP is the data of whoever acted: the person's own only where they did.
    let ip = (entry.actor == label).then_some(entry.ip_address);
    Ok(serde_json::json!({
        "seq": entry.seq,
        "at": entry.at,
        "actor": others_masked(&entry.actor, label),
        "action": entry.action,
        "subject": entry.subject.as_deref().map(|s| others_masked(s, label)),
        "detail": entry.detail,
        "ip_address": ip.flatten(),
        "kept": if version >= CHAIN_V3 { KEPT_PSEUDONYMISED } else { KEPT_AS_WRITTEN },
    }))
}

/// `text` with every reference to `person` replaced: `person:<id>` by the pseudonym's label,
/// any other occurrence of the id by the pseudonym's id. The rule [`pseudonymise_person`]'s
/// SQL applies, stated in Rust for its unit test.
#[cfg(test)]
fn pseudonymised(text: &str, person: Uuid, pseudonym: Uuid) -> String {
    text.replace(&person_label(person), &pseudonym_label(pseudonym))
        .replace(&person.to_string(), &pseudonym.to_string())
}

/// Replaces every reference to `person` in the version-3 entries naming them by `pseudonym`,
/// removing the salt of each field changed (so its chained commitment confirms nothing).
/// Returns the entries pseudonymised and the older entries left as written.
///
/// One set-based UPDATE per field (`REPLACE` on both backends, the same rewrite as
/// [`pseudonymised`]: the label first, then any other occurrence of the id), so a person
/// named in 100,000 entries costs three statements, not 100,000 round trips. The
/// append-only trigger allows it row by row: each field is unchanged or loses its salt.
async fn pseudonymise_person(
    scope: &TenantScope,
    person: Uuid,
    pseudonym: Uuid,
) -> Result<(u64, u64), TenantError> {
    use sea_orm::PaginatorTrait;
    use sea_orm::sea_query::Func;
    let id = person.to_string();
    let current = audit_event::Column::ChainVersion.gte(CHAIN_V3);
    let legacy = audit_event::Entity::find()
        .filter(naming(person))
        .filter(audit_event::Column::ChainVersion.lt(CHAIN_V3))
        .count(scope.db())
        .await?;
    let mentioning = Condition::any()
        .add(audit_event::Column::Actor.contains(id.as_str()))
        .add(audit_event::Column::Subject.contains(id.as_str()))
        .add(audit_event::Column::Detail.contains(id.as_str()));
    let done = audit_event::Entity::find()
        .filter(mentioning)
        .filter(current.clone())
        .count(scope.db())
        .await?;
    if done == 0 {
        return Ok((0, legacy));
    }
    let (label, replacement) = (person_label(person), pseudonym_label(pseudonym));
    for (text, salt) in [
        (audit_event::Column::Actor, audit_event::Column::ActorSalt),
        (
            audit_event::Column::Subject,
            audit_event::Column::SubjectSalt,
        ),
        (audit_event::Column::Detail, audit_event::Column::DetailSalt),
    ] {
        let rewritten = Func::cust("REPLACE").args([
            Func::cust("REPLACE")
                .args([
                    Expr::col(text),
                    Expr::val(label.as_str()),
                    Expr::val(replacement.as_str()),
                ])
                .into(),
            Expr::val(id.as_str()),
            Expr::val(pseudonym.to_string()),
        ]);
        audit_event::Entity::update_many()
            .col_expr(text, rewritten.into())
            .col_expr(salt, Expr::value(sea_orm::Value::Bytes(None)))
            .filter(text.contains(id.as_str()))
            .filter(current.clone())
            .exec(scope.db())
            .await?;
    }
    Ok((done, legacy))
}

/// The audit trail as a personal-data source. It is security evidence: erasure pseudonymises
/// the person's references (actor, subject, ids in the detail) and deletes nothing, and the
/// chain still verifies; entries of chain versions 1 and 2 cannot be pseudonymised (see the
/// module docs) and stay as written. Only the IP addresses (technical data) expire by age; a
/// restriction does not apply (every action is recorded whoever it concerns, and the trail
/// is not processed further). It runs after every other source, whose erasures record
/// entries naming the person.
pub struct AuditSource;

#[async_trait::async_trait]
impl PersonalDataSource for AuditSource {
    fn name(&self) -> &'static str {
        "audit_events"
    }

    fn fields(&self) -> Vec<FieldClassification> {
        PERSONAL_FIELDS.to_vec()
    }

    fn tables(&self) -> &'static [&'static str] {
        &[TABLE]
    }

    fn runs_after(&self) -> &'static [&'static str] {
        &[crate::personal_data::AFTER_ALL]
    }

    async fn summary(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Summary, SourceError> {
        scope.require(Scope::AuditRead)?;
        let Some(person) = subject.person_id() else {
            return Ok(Summary { records: 0 });
        };
        use sea_orm::PaginatorTrait;
        let records = audit_event::Entity::find()
            .filter(naming(person))
            .count(scope.db())
            .await?;
        Ok(Summary { records })
    }

    async fn export(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Vec<serde_json::Value>, SourceError> {
        scope.require(Scope::AuditRead)?;
        let Some(person) = subject.person_id() else {
            return Ok(Vec::new());
        };
        let label = person_label(person);
        let mut exported = Vec::new();
        for row in entries_naming(scope, person).await? {
            exported.push(exported_entry(scope, row, &label)?);
        }
        Ok(exported)
    }

    /// Keyset-paged by the chain's `seq` (the cursor is the last `seq` given): a person's
    /// trail grows with every action, so it is read a page at a time.
    async fn export_page(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
        after: Option<&str>,
        limit: u64,
    ) -> Result<ExportPage, SourceError> {
        scope.require(Scope::AuditRead)?;
        let Some(person) = subject.person_id() else {
            return Ok(ExportPage::default());
        };
        let after: i64 = match after {
            Some(cursor) => cursor
                .parse()
                .map_err(|_| format!("not an audit export cursor: {cursor}"))?,
            None => 0,
        };
        let limit = Ord::max(limit, 1);
        let rows = audit_event::Entity::find()
            .filter(naming(person))
            .filter(audit_event::Column::Seq.gt(after))
            .order_by_asc(audit_event::Column::Seq)
            .limit(limit)
            .all(scope.db())
            .await?;
        let full = rows.len() as u64 >= limit;
        let last = rows.last().map(|r| r.seq);
        let label = person_label(person);
        let mut records = Vec::with_capacity(rows.len());
        for row in rows {
            records.push(exported_entry(scope, row, &label)?);
        }
        Ok(ExportPage {
            records,
            next: last.filter(|_| full).map(|seq| seq.to_string()),
        })
    }

    async fn erase(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Outcome, SourceError> {
        scope.require(Scope::TenantAdmin)?;
        let Some(person) = subject.person_id() else {
            return Ok(Outcome::NotApplicable {
                reason: "the audit trail names only people",
            });
        };
        let (done, legacy) = pseudonymise_person(scope, person, Uuid::new_v4()).await?;
        if legacy > 0 {
            tracing::warn!(
                tenant = %scope.tenant_id(),
                entries = legacy,
                "audit entries of chain version 1 or 2 name an erased person and stay as written"
            );
        }
        if done > 0 || legacy > 0 {
            record(
                scope,
                AuditEvent::new("audit.entries_pseudonymised").detail(serde_json::json!({
                    "entries": done,
                    "entries_kept_as_written": legacy,
                })),
            )
            .await?;
        }
        Ok(Outcome::Anonymised { records: done })
    }

    async fn expire(
        &self,
        scope: &TenantScope,
        category: DataCategory,
        cutoff: DateTime<Utc>,
        keep: &[Uuid],
    ) -> Result<Outcome, SourceError> {
        match category {
            DataCategory::Technical => Ok(Outcome::Anonymised {
                records: expire_ips(scope, cutoff, keep).await?,
            }),
            DataCategory::Identity => Ok(Outcome::NotApplicable {
                reason: "the audit trail is security evidence: a person's references in it are pseudonymised when the person is erased, not by age",
            }),
            _ => Ok(Outcome::NotApplicable {
                reason: "the audit trail holds IP addresses (technical data) and references to people, nothing of this category",
            }),
        }
    }

    async fn restrict(
        &self,
        _scope: &TenantScope,
        _subject: &DataSubject,
        _restricted: bool,
    ) -> Result<Outcome, SourceError> {
        Ok(Outcome::NotApplicable {
            reason: "the audit trail is security evidence: every action is recorded whoever it concerns, and entries are not processed further",
        })
    }
}

/// `reference` as the export of `own` shows it: another person's reference becomes
/// "another person"; the subject's own, keys and non-person subjects stay.
fn others_masked(reference: &str, own: &str) -> String {
    if reference.starts_with("person:") && reference != own {
        "another person".to_string()
    } else {
        reference.to_string()
    }
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
    fn version_3_chains_commitments_not_the_references() {
        let at = Utc::now().trunc_subsecs(6);
        let fields = FieldCommitments {
            actor: "ca",
            subject: Some("cs"),
            detail: "cd",
        };
        let base = chained(&at).hash_v3(None, &fields);
        // The texts are not chained: a pseudonymised actor leaves the hash as it was.
        let renamed = Chained {
            actor: "pseudonym:x",
            subject: Some("pseudonym:x"),
            detail: "{\"n\":2}",
            ..chained(&at)
        };
        assert_eq!(base, renamed.hash_v3(None, &fields));
        // Their commitments are.
        for other in [
            FieldCommitments {
                actor: "cx",
                ..fields
            },
            FieldCommitments {
                subject: None,
                ..fields
            },
            FieldCommitments {
                detail: "cx",
                ..fields
            },
        ] {
            assert_ne!(base, chained(&at).hash_v3(None, &other));
        }
        assert_ne!(base, chained(&at).hash_v2(None));
    }

    #[test]
    fn a_field_matches_its_commitment_while_its_salt_is_there() {
        let salt = [3u8; SALT_LEN];
        let c = commitment(&salt, "person:a");
        assert!(field_is_intact(Some("person:a"), Some(&salt), Some(&c)));
        assert!(!field_is_intact(Some("person:b"), Some(&salt), Some(&c)));
        // Pseudonymised: the salt is gone, the commitment stands alone.
        assert!(field_is_intact(Some("pseudonym:p"), None, Some(&c)));
        assert!(field_is_intact(None, None, None));
        assert!(!field_is_intact(Some("x"), None, None));
        assert!(!field_is_intact(Some("x"), Some(&salt), None));
        let id = Uuid::now_v7();
        let pseudo = Uuid::new_v4();
        let detail = format!("{{\"person_ids\":[\"{id}\"]}}");
        assert_eq!(
            pseudonymised(&detail, id, pseudo),
            format!("{{\"person_ids\":[\"{pseudo}\"]}}")
        );
        assert_eq!(
            pseudonymised(&person_label(id), id, pseudo),
            pseudonym_label(pseudo)
        );
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
