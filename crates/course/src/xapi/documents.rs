//! The Document Resources (xAPI-Communication 2.2): state (2.3), activity profiles (2.7) and
//! agent profiles (2.6). A document is any content with its content type, sealed under the
//! tenant key; its `ETag` is the SHA-256 of the content.
//!
//! Concurrency (Communication 3.1): `If-Match` must name the current ETag and
//! `If-None-Match: *` that there is none (412 otherwise); a PUT replacing an existing
//! profile without either header is a 409. The state resource is not held to that last rule
//! (content players write their state without ETags), its conditional headers are honoured.
//! POST merges a JSON object into a stored JSON object (top-level properties, Communication
//! 2.2: "JSON Procedure with Requirements"); any other POST onto an existing document is a
//! 400.

use super::entity::document;
use super::validation::{is_iri, parse_timestamp, parse_uuid};
use super::{AGENT_FIELD, DOCUMENTS_TABLE, PROFILES_WRITE, STATE_WRITE, ifi_key};
use crate::CourseError;
use chrono::{DateTime, SubsecRound, Utc};
use hub_kernel::FieldViolation;
use hub_tenant::audit::{self, AuditEvent};
use hub_tenant::{Tenancy, TenantScope};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, TryInsertResult,
};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use uuid::Uuid;

/// The longest document this LRS keeps.
pub const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;
const MAX_DOCUMENT_ID: usize = 255;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentKind {
    State,
    ActivityProfile,
    AgentProfile,
}

impl DocumentKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::State => "state",
            Self::ActivityProfile => "activity_profile",
            Self::AgentProfile => "agent_profile",
        }
    }

    fn id_parameter(self) -> &'static str {
        match self {
            Self::State => "stateId",
            _ => "profileId",
        }
    }

    fn section(self) -> &'static str {
        match self {
            Self::State => "Communication 2.3",
            Self::ActivityProfile => "Communication 2.7",
            Self::AgentProfile => "Communication 2.6",
        }
    }
}

/// Which document(s) a request names, as sent.
#[derive(Debug, Clone, Default)]
pub struct DocumentParameters {
    pub activity_id: Option<String>,
    pub agent: Option<String>,
    pub registration: Option<String>,
    pub document_id: Option<String>,
}

/// Which document(s) a request names, checked.
#[derive(Debug, Clone)]
pub struct DocumentKey {
    kind: DocumentKind,
    activity_id: Option<String>,
    agent: Option<String>,
    registration: Option<Uuid>,
    document_id: Option<String>,
}

fn bad(field: &str, message: &str, section: &str) -> FieldViolation {
    FieldViolation::new(field, format!("{message} (xAPI 1.0.3, {section})"))
}

impl DocumentParameters {
    /// Checks the parameters `kind` takes; `single`: the document id is required.
    pub fn parse(self, kind: DocumentKind, single: bool) -> Result<DocumentKey, CourseError> {
        let section = kind.section();
        let mut violations = Vec::new();
        let wants_activity = kind != DocumentKind::AgentProfile;
        let wants_agent = kind != DocumentKind::ActivityProfile;
        match &self.activity_id {
            Some(id) if wants_activity && !is_iri(id) => {
                violations.push(bad("activityId", "must be an IRI", section))
            }
            None if wants_activity => violations.push(bad("activityId", "is required", section)),
            Some(_) if !wants_activity => violations.push(bad(
                "activityId",
                "is not a parameter of this resource",
                section,
            )),
            _ => {}
        }
        let agent = match &self.agent {
            Some(text) if wants_agent => {
                let key = serde_json::from_str::<Value>(text)
                    .ok()
                    .filter(|v| {
                        let mut report = super::validation::Report::new();
                        super::validation::check_agent_parameter(&mut report, "agent", v);
                        report.is_empty()
                    })
                    .and_then(|v| ifi_key(&v));
                if key.is_none() {
                    violations.push(bad("agent", "must be a JSON Agent", section));
                }
                key
            }
            None if wants_agent => {
                violations.push(bad("agent", "is required", section));
                None
            }
            Some(_) => {
                violations.push(bad("agent", "is not a parameter of this resource", section));
                None
            }
            None => None,
        };
        let registration = match &self.registration {
            Some(text) if kind == DocumentKind::State => {
                let id = parse_uuid(text);
                if id.is_none() {
                    violations.push(bad("registration", "must be a UUID", section));
                }
                id
            }
            Some(_) => {
                violations.push(bad(
                    "registration",
                    "is not a parameter of this resource",
                    section,
                ));
                None
            }
            None => None,
        };
        let id_field = kind.id_parameter();
        match &self.document_id {
            Some(id) if id.is_empty() || id.len() > MAX_DOCUMENT_ID => {
                violations.push(bad(id_field, "must be 1 to 255 bytes", section))
            }
            None if single => violations.push(bad(id_field, "is required", section)),
            _ => {}
        }
        if !violations.is_empty() {
            return Err(CourseError::XapiInvalid(violations));
        }
        Ok(DocumentKey {
            kind,
            activity_id: self.activity_id.filter(|_| wants_activity),
            agent,
            registration,
            document_id: self.document_id,
        })
    }
}

/// A stored document.
#[derive(Debug, Clone)]
pub struct Document {
    pub content_type: String,
    pub content: Vec<u8>,
    pub etag: String,
    pub updated_at: DateTime<Utc>,
}

/// The `If-Match` / `If-None-Match` headers of a write.
#[derive(Debug, Clone, Default)]
pub struct Conditions {
    pub if_match: Option<String>,
    pub if_none_match: Option<String>,
}

fn scope_of(kind: DocumentKind) -> hub_tenant::Scope {
    match kind {
        DocumentKind::State => STATE_WRITE,
        _ => PROFILES_WRITE,
    }
}

fn etag_of(content: &[u8]) -> String {
    format!("\"{}\"", hex::encode(Sha256::digest(content)))
}

fn tags_match(header: &str, etag: &str) -> bool {
    header
        .split(',')
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t == etag)
}

fn matching(scope: &TenantScope, key: &DocumentKey) -> Condition {
    let mut condition = Condition::all().add(document::Column::Kind.eq(key.kind.as_str()));
    condition = match &key.activity_id {
        Some(id) => condition.add(document::Column::ActivityId.eq(id.as_str())),
        None => condition.add(document::Column::ActivityId.is_null()),
    };
    condition = match &key.agent {
        Some(agent) => condition.add(
            document::Column::AgentIndex.is_in(scope.keys().blind_index_candidates(
                DOCUMENTS_TABLE,
                AGENT_FIELD,
                agent,
            )),
        ),
        None => condition.add(document::Column::AgentIndex.is_null()),
    };
    if key.kind == DocumentKind::State {
        condition = match key.registration {
            Some(registration) => condition.add(document::Column::Registration.eq(registration)),
            None => condition.add(document::Column::Registration.is_null()),
        };
    }
    if let Some(id) = &key.document_id {
        condition = condition.add(document::Column::DocumentId.eq(id.as_str()));
    }
    condition
}

async fn current(
    scope: &TenantScope,
    key: &DocumentKey,
) -> Result<Option<document::Model>, CourseError> {
    Ok(document::Entity::find()
        .filter(matching(scope, key))
        .one(scope.db())
        .await?)
}

fn open(scope: &TenantScope, row: &document::Model) -> Result<Vec<u8>, CourseError> {
    scope
        .keys()
        .open(DOCUMENTS_TABLE, "content", row.id, &row.content_sealed)
        .map_err(|e| CourseError::Sealing(e.to_string()))
}

fn check_conditions(
    conditions: &Conditions,
    existing: Option<&document::Model>,
) -> Result<(), CourseError> {
    if let Some(if_match) = &conditions.if_match
        && !existing.is_some_and(|row| tags_match(if_match, &row.etag))
    {
        return Err(CourseError::XapiPrecondition(
            "If-Match does not name the document's current ETag (xAPI 1.0.3, Communication 3.1)",
        ));
    }
    if let Some(if_none_match) = &conditions.if_none_match
        && let Some(row) = existing
        && tags_match(if_none_match, &row.etag)
    {
        return Err(CourseError::XapiPrecondition(
            "If-None-Match: the document exists (xAPI 1.0.3, Communication 3.1)",
        ));
    }
    Ok(())
}

fn is_json(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
}

/// Stores a document: `merge` is a POST (JSON objects merged), otherwise a PUT (replaced).
/// Answers the new ETag.
///
/// One row per key (a unique index): two concurrent first writes both find no document, and
/// the one whose insert loses (it waits for the winner to commit, then inserts nothing) runs
/// again against the winner's row, so its conditions and the profile rule (409) are checked
/// against what is stored, as if it had come second. SQLite's single writer never races.
pub async fn write(
    tenancy: &Tenancy,
    scope: &TenantScope,
    key: &DocumentKey,
    content_type: &str,
    content: Vec<u8>,
    conditions: &Conditions,
    merge: bool,
) -> Result<String, CourseError> {
    scope.require(scope_of(key.kind))?;
    let first = write_once(
        tenancy,
        scope,
        key,
        content_type,
        content.clone(),
        conditions,
        merge,
    )
    .await?;
    match first {
        Some(etag) => Ok(etag),
        None => write_once(
            tenancy,
            scope,
            key,
            content_type,
            content,
            conditions,
            merge,
        )
        .await?
        .ok_or(CourseError::XapiDocumentConflict),
    }
}

/// One attempt of [`write`]: `None` when the document was absent and another write
/// inserted it first.
async fn write_once(
    tenancy: &Tenancy,
    scope: &TenantScope,
    key: &DocumentKey,
    content_type: &str,
    content: Vec<u8>,
    conditions: &Conditions,
    merge: bool,
) -> Result<Option<String>, CourseError> {
    if content.len() > MAX_DOCUMENT_BYTES {
        return Err(CourseError::XapiInvalid(vec![bad(
            "body",
            "a document is at most 1 MiB",
            "Communication 2.2",
        )]));
    }
    let existing = current(scope, key).await?;
    check_conditions(conditions, existing.as_ref())?;
    if !merge
        && key.kind != DocumentKind::State
        && existing.is_some()
        && conditions.if_match.is_none()
        && conditions.if_none_match.is_none()
    {
        return Err(CourseError::XapiDocumentConflict);
    }
    let (content_type, content) = match (&existing, merge) {
        (Some(row), true) => {
            let stored = open(scope, row)?;
            let refused = || {
                CourseError::XapiInvalid(vec![bad(
                    "body",
                    "a POST merges a JSON object into a stored JSON object only",
                    "Communication 2.2",
                )])
            };
            if !is_json(content_type) || !is_json(&row.content_type) {
                return Err(refused());
            }
            let mut old: Value = serde_json::from_slice(&stored).map_err(|_| refused())?;
            let new: Value = serde_json::from_slice(&content).map_err(|_| refused())?;
            let (Some(old_map), Some(new_map)) = (old.as_object_mut(), new.as_object()) else {
                return Err(refused());
            };
            for (k, v) in new_map {
                old_map.insert(k.clone(), v.clone());
            }
            ("application/json".to_string(), old.to_string().into_bytes())
        }
        (None, true) if is_json(content_type) => {
            let parsed: Option<Value> = serde_json::from_slice(&content).ok();
            if !parsed.as_ref().is_some_and(Value::is_object) {
                return Err(CourseError::XapiInvalid(vec![bad(
                    "body",
                    "a JSON document sent by POST must be an object",
                    "Communication 2.2",
                )]));
            }
            (content_type.to_string(), content)
        }
        _ => (content_type.to_string(), content),
    };
    let etag = etag_of(&content);
    let now = Utc::now().trunc_subsecs(3);
    let keys = scope.keys();
    match existing {
        Some(row) => {
            document::Entity::update_many()
                .col_expr(document::Column::ContentType, Expr::value(content_type))
                .col_expr(
                    document::Column::ContentSealed,
                    Expr::value(keys.seal(DOCUMENTS_TABLE, "content", row.id, &content)),
                )
                .col_expr(document::Column::Etag, Expr::value(etag.clone()))
                .col_expr(document::Column::UpdatedAt, Expr::value(now))
                .filter(document::Column::Id.eq(row.id))
                .exec(scope.db())
                .await?;
        }
        None => {
            let id = Uuid::now_v7();
            let person_id = match key.agent.as_deref().and_then(|a| a.strip_prefix("mailto:")) {
                Some(email) => {
                    let emails: HashSet<String> = [email.to_string()].into();
                    tenancy
                        .people_by_email(scope, &emails)
                        .await?
                        .get(email)
                        .copied()
                }
                None => None,
            };
            let inserted = document::Entity::insert(document::ActiveModel {
                id: Set(id),
                kind: Set(key.kind.as_str().to_string()),
                document_id: Set(key.document_id.clone().unwrap_or_default()),
                activity_id: Set(key.activity_id.clone()),
                agent_index: Set(key
                    .agent
                    .as_deref()
                    .map(|a| keys.blind_index(DOCUMENTS_TABLE, AGENT_FIELD, a))),
                agent_sealed: Set(key
                    .agent
                    .as_deref()
                    .map(|a| keys.seal_str(DOCUMENTS_TABLE, AGENT_FIELD, id, a))),
                registration: Set(key.registration),
                person_id: Set(person_id),
                content_type: Set(content_type),
                content_sealed: Set(keys.seal(DOCUMENTS_TABLE, "content", id, &content)),
                etag: Set(etag.clone()),
                updated_at: Set(now),
            })
            // No target: the conflict is on the key's unique index (an expression index).
            .on_conflict(OnConflict::new().do_nothing().to_owned())
            .try_insert()
            .exec_without_returning(scope.db())
            .await?;
            if !matches!(inserted, TryInsertResult::Inserted(n) if n > 0) {
                return Ok(None);
            }
        }
    }
    Ok(Some(etag))
}

/// One document.
pub async fn get(scope: &TenantScope, key: &DocumentKey) -> Result<Document, CourseError> {
    scope.require(scope_of(key.kind))?;
    let row = current(scope, key)
        .await?
        .ok_or(CourseError::DocumentNotFound)?;
    // A state or agent profile is about an agent: reading it is a read of that person's
    // data (S2). An activity profile is about the activity.
    if key.kind != DocumentKind::ActivityProfile {
        let mut event = AuditEvent::new("xapi_document.read")
            .detail(serde_json::json!({"kind": key.kind.as_str()}));
        if let Some(person) = row.person_id {
            event = event.person(person);
        }
        audit::record(scope, event).await?;
    }
    Ok(Document {
        content: open(scope, &row)?,
        content_type: row.content_type,
        etag: row.etag,
        updated_at: row.updated_at,
    })
}

/// The ids of the documents a key names (without a document id), changed after `since`.
pub async fn ids(
    scope: &TenantScope,
    key: &DocumentKey,
    since: Option<&str>,
) -> Result<Vec<String>, CourseError> {
    scope.require(scope_of(key.kind))?;
    let mut select = document::Entity::find()
        .filter(matching(scope, key))
        .order_by_asc(document::Column::DocumentId);
    if let Some(since) = since {
        let since = parse_timestamp(since).ok_or_else(|| {
            CourseError::XapiInvalid(vec![bad(
                "since",
                "must be an ISO 8601 timestamp",
                key.kind.section(),
            )])
        })?;
        select = select.filter(document::Column::UpdatedAt.gt(since));
    }
    let rows = select.all(scope.db()).await?;
    if key.kind != DocumentKind::ActivityProfile && !rows.is_empty() {
        let mut event = AuditEvent::new("xapi_document.ids_read")
            .detail(serde_json::json!({"kind": key.kind.as_str(), "count": rows.len()}));
        if let Some(person) = rows.iter().find_map(|r| r.person_id) {
            event = event.person(person);
        }
        audit::record(scope, event).await?;
    }
    Ok(rows.into_iter().map(|row| row.document_id).collect())
}

/// Deletes one document, or (state without a `stateId`) every state the key names.
pub async fn delete(
    scope: &TenantScope,
    key: &DocumentKey,
    conditions: &Conditions,
) -> Result<u64, CourseError> {
    scope.require(scope_of(key.kind))?;
    if key.document_id.is_some() {
        let existing = current(scope, key).await?;
        check_conditions(conditions, existing.as_ref())?;
    }
    Ok(document::Entity::delete_many()
        .filter(matching(scope, key))
        .exec(scope.db())
        .await?
        .rows_affected)
}
