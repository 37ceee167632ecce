//! The Statement Resource's store (xAPI-Communication 2.1): storing a batch all-or-nothing,
//! fetching one statement (or a voided one), and querying with the resource's filters in
//! stable keyset pages (`more`).
//!
//! A batch is validated whole before anything is written, then written with one multi-row
//! insert per table in the caller's transaction (the ingest path the bench measures). A
//! statement id already stored is compared with the one sent (Data 2.3.1.s9: ignoring what
//! the LRS assigns): the same statement is a no-op, a different one a 409.
//!
//! A multipart/mixed request's attachment parts are matched with the attachments declared
//! and stored with the statements, in the same transaction ([`attachments`]); a signed
//! statement is checked before anything is written ([`super::signature`]). A query's
//! filters other than time and sequence also select the statements that target (by a
//! StatementRef object) a statement they select, recursively (`targeting`).
//!
//! A stored `completed` statement on a lesson's activity about a linked person completes the
//! lesson for them in the same transaction ([`complete_lessons`]).
//!
//! A statement about a person of the institution (its actor's `mbox` is a person's email)
//! links to them (`person_id`). Identity finds the people, through the tenant crate's port
//! ([`hub_tenant::people_lookup::PeopleByEmail`]), in the same transaction.

use super::attachments::{self, AttachmentPart};
use super::entity::{activity, agent, attachment, statement};
use super::validation::{self, COMPLETED_VERB, Report, VOIDED_VERB, parse_timestamp, parse_uuid};
use super::{
    AGENT_FIELD, AGENTS_TABLE, STATEMENTS_READ, STATEMENTS_TABLE, STATEMENTS_WRITE, ifi_key,
};
use crate::CourseError;
use crate::progress::ProgressSource;
use crate::structure::entity::lesson;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use hub_kernel::FieldViolation;
use hub_tenant::audit::{self, AuditEvent};
use hub_tenant::{Actor, Tenancy, TenantScope};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// The most statements one query answers (`limit=0` asks for this many, Communication
/// 2.1.3), and the most one request may store.
pub const MAX_LIMIT: u64 = 500;
pub const MAX_BATCH: usize = 500;
/// Where the authority the LRS sets names the credential that stored a statement.
pub const AUTHORITY_HOME_PAGE: &str = "urn:dexsoftlex:lrs-credential";
/// The version the LRS writes on a statement sent without one (Data 2.4.10).
pub const STORED_VERSION: &str = "1.0.0";

/// Rows are inserted in chunks of this many (SQLite's bound-parameter limit).
const INSERT_CHUNK: usize = 400;

fn invalid(field: &str, message: impl Into<String>) -> CourseError {
    CourseError::XapiInvalid(vec![FieldViolation::new(field, message)])
}

/// The authority the LRS records (Data 2.4.9): the credential (an API key of the
/// institution) the statement came with, as an Agent with an account.
fn authority_of(scope: &TenantScope) -> Result<(Uuid, Value), CourseError> {
    match scope.actor() {
        Some(Actor::ApiKey { key_id, key_name }) => Ok((
            *key_id,
            json!({
                "objectType": "Agent",
                "name": key_name,
                "account": {"homePage": AUTHORITY_HOME_PAGE, "name": key_id.to_string()},
            }),
        )),
        _ => Err(CourseError::XapiForbidden(
            "statements are stored with an LRS credential (Communication 4.0)",
        )),
    }
}

/// The agents a statement names, each with whether it is the actor or object (`direct`).
fn agents_of(statement: &Value, out: &mut Vec<(String, bool)>, within_sub: bool) {
    let push_agent = |agent: &Value, direct: bool, out: &mut Vec<(String, bool)>| {
        if let Some(key) = ifi_key(agent) {
            out.push((key, direct));
        }
        if let Some(members) = agent.get("member").and_then(Value::as_array) {
            for member in members {
                if let Some(key) = ifi_key(member) {
                    out.push((key, false));
                }
            }
        }
    };
    if let Some(actor) = statement.get("actor") {
        push_agent(actor, !within_sub, out);
    }
    if let Some(object) = statement.get("object") {
        match object.get("objectType").and_then(Value::as_str) {
            Some("Agent" | "Group") => push_agent(object, !within_sub, out),
            Some("SubStatement") if !within_sub => agents_of(object, out, true),
            _ => {}
        }
    }
    if let Some(context) = statement.get("context") {
        for key in ["instructor", "team"] {
            if let Some(agent) = context.get(key) {
                push_agent(agent, false, out);
            }
        }
    }
}

/// The activities a statement names, each with whether it is the object (`direct`).
fn activities_of(statement: &Value, out: &mut Vec<(String, bool)>, within_sub: bool) {
    if let Some(object) = statement.get("object") {
        match object.get("objectType").and_then(Value::as_str) {
            None | Some("Activity") => {
                if let Some(id) = object.get("id").and_then(Value::as_str) {
                    out.push((id.to_string(), !within_sub));
                }
            }
            Some("SubStatement") if !within_sub => activities_of(object, out, true),
            _ => {}
        }
    }
    if let Some(lists) = statement
        .get("context")
        .and_then(|c| c.get("contextActivities"))
        .and_then(Value::as_object)
    {
        for list in lists.values() {
            let items = match list {
                Value::Array(items) => items.iter().collect::<Vec<_>>(),
                other => vec![other],
            };
            for item in items {
                if let Some(id) = item.get("id").and_then(Value::as_str) {
                    out.push((id.to_string(), false));
                }
            }
        }
    }
}

/// What two statements with one id are compared on (Data 2.3.1.s9): without what the LRS
/// assigns (`stored`, `authority`, `version`), and without a `timestamp` the sender left to
/// the LRS; a timestamp is compared as the instant it names.
fn comparable(statement: &Value, keep_timestamp: bool) -> Value {
    let mut copy = statement.clone();
    if let Some(map) = copy.as_object_mut() {
        map.remove("stored");
        map.remove("authority");
        map.remove("version");
        let instant = map
            .get("timestamp")
            .and_then(Value::as_str)
            .and_then(parse_timestamp);
        if keep_timestamp && let Some(instant) = instant {
            map.insert("timestamp".into(), json!(instant.timestamp_micros()));
        } else {
            map.remove("timestamp");
        }
    }
    copy
}

fn same_statement(sent: &Value, timed: bool, stored: &Value) -> bool {
    comparable(sent, timed) == comparable(stored, timed)
}

/// The statement a statement's StatementRef object targets, if its object is one.
pub(crate) fn statement_target(statement: &serde_json::Map<String, Value>) -> Option<Uuid> {
    let object = statement.get("object")?;
    if object.get("objectType").and_then(Value::as_str) != Some("StatementRef") {
        return None;
    }
    object
        .get("id")
        .and_then(Value::as_str)
        .and_then(parse_uuid)
}

pub(crate) fn open_statement(
    scope: &TenantScope,
    row: &statement::Model,
) -> Result<Value, CourseError> {
    let text = scope
        .keys()
        .open_str(STATEMENTS_TABLE, "statement", row.id, &row.statement_sealed)
        .map_err(|e| CourseError::Sealing(e.to_string()))?;
    serde_json::from_str(&text).map_err(|e| CourseError::Sealing(e.to_string()))
}

/// One statement ready to be written.
struct Prepared {
    id: Uuid,
    statement: Value,
    actor_key: String,
    verb_id: String,
    activity_id: Option<String>,
    registration: Option<Uuid>,
    voids: Option<Uuid>,
    /// The statement a StatementRef object targets.
    target: Option<Uuid>,
    timestamp: DateTime<Utc>,
    /// Whether the sender gave a timestamp (one the LRS set is not compared).
    timed: bool,
}

/// Stores statements (a PUT's one, a POST's one or array), all or none. `statement_id` is a
/// PUT's `statementId`; `parts` the attachment parts of a multipart/mixed request (`None`:
/// an application/json one), matched with the attachments the statements declare and kept
/// with the statements stored ([`attachments`]); signed statements are checked first
/// ([`super::signature`]). Answers the ids in the order sent.
pub async fn store(
    tenancy: &Tenancy,
    signer: &dyn crate::certificates::CertificateSigner,
    scope: &TenantScope,
    sent: Vec<Value>,
    statement_id: Option<Uuid>,
    batch: bool,
    parts: Option<Vec<AttachmentPart>>,
) -> Result<Vec<Uuid>, CourseError> {
    scope.require(STATEMENTS_WRITE)?;
    let (credential_id, authority) = authority_of(scope)?;
    if sent.len() > MAX_BATCH {
        return Err(invalid(
            "",
            format!("at most {MAX_BATCH} statements per request"),
        ));
    }
    if batch && sent.is_empty() {
        return Err(invalid("", "the batch holds no statement"));
    }
    let mut report = Report::new();
    for (i, statement) in sent.iter().enumerate() {
        let path = if batch {
            format!("[{i}]")
        } else {
            String::new()
        };
        validation::check_statement(&mut report, &path, statement);
    }
    if !report.is_empty() {
        return Err(CourseError::XapiInvalid(report.into_violations()));
    }
    let paths: Vec<String> = (0..sent.len())
        .map(|i| {
            if batch {
                format!("[{i}]")
            } else {
                String::new()
            }
        })
        .collect();
    let contents = attachments::match_parts(&sent, &paths, parts)?;
    super::signature::check_signatures(&sent, &paths, &contents)?;
    // Milliseconds, as `stored` is written in the statement, so `since`/`until` given a
    // statement's `stored` compare with exactly that instant.
    let now = Utc::now().trunc_subsecs(3);
    let stored_text = now.to_rfc3339_opts(SecondsFormat::Millis, true);
    let mut prepared = Vec::with_capacity(sent.len());
    let mut seen = HashSet::new();
    for (i, mut statement) in sent.into_iter().enumerate() {
        let path = |field: &str| {
            if batch {
                format!("[{i}].{field}")
            } else {
                field.to_string()
            }
        };
        let given = statement
            .get("id")
            .and_then(Value::as_str)
            .and_then(parse_uuid);
        let id = match (given, statement_id) {
            (Some(given), Some(param)) if given != param => {
                return Err(invalid(
                    &path("id"),
                    "differs from the statementId parameter (xAPI 1.0.3, Communication 2.1.1)",
                ));
            }
            (Some(given), _) => given,
            (None, Some(param)) => param,
            (None, None) => Uuid::new_v4(),
        };
        if !seen.insert(id) {
            return Err(invalid(
                &path("id"),
                "two statements of the batch have this id (xAPI 1.0.3, Communication 2.1.2)",
            ));
        }
        let map = statement
            .as_object_mut()
            .ok_or_else(|| invalid("", "a statement is a JSON object"))?;
        map.insert("id".into(), json!(id.to_string()));
        let timestamp = map
            .get("timestamp")
            .and_then(Value::as_str)
            .and_then(parse_timestamp)
            .unwrap_or(now);
        let timed = map.contains_key("timestamp");
        if !timed {
            map.insert("timestamp".into(), json!(stored_text));
        }
        map.insert("stored".into(), json!(stored_text));
        map.insert("authority".into(), authority.clone());
        if !map.contains_key("version") {
            map.insert("version".into(), json!(STORED_VERSION));
        }
        let actor_key = map
            .get("actor")
            .and_then(ifi_key)
            .ok_or_else(|| invalid(&path("actor"), "has no identifier"))?;
        let verb_id = map["verb"]["id"].as_str().unwrap_or_default().to_string();
        let object = &map["object"];
        let object_type = object.get("objectType").and_then(Value::as_str);
        let activity_id = match object_type {
            None | Some("Activity") => object.get("id").and_then(Value::as_str).map(str::to_string),
            _ => None,
        };
        let target = statement_target(map);
        let voids = if verb_id == VOIDED_VERB { target } else { None };
        let registration = map
            .get("context")
            .and_then(|c| c.get("registration"))
            .and_then(Value::as_str)
            .and_then(parse_uuid);
        prepared.push(Prepared {
            id,
            statement,
            actor_key,
            verb_id,
            activity_id,
            registration,
            voids,
            target,
            timestamp,
            timed,
        });
    }

    // Ids already stored: the same statement again is a no-op, another one a conflict.
    let ids: Vec<Uuid> = prepared.iter().map(|p| p.id).collect();
    let mut existing = HashSet::new();
    for chunk in ids.chunks(INSERT_CHUNK) {
        for row in statement::Entity::find()
            .filter(statement::Column::Id.is_in(chunk.iter().copied()))
            .all(scope.db())
            .await?
        {
            let stored = open_statement(scope, &row)?;
            let sent = prepared.iter().find(|p| p.id == row.id);
            if sent.is_some_and(|p| !same_statement(&p.statement, p.timed, &stored)) {
                return Err(CourseError::XapiConflict(row.id));
            }
            existing.insert(row.id);
        }
    }
    let fresh: Vec<&Prepared> = prepared
        .iter()
        .filter(|p| !existing.contains(&p.id))
        .collect();

    // Voiding (Data 2.3.2): a voiding statement cannot itself be voided.
    let targets: Vec<Uuid> = fresh.iter().filter_map(|p| p.voids).collect();
    if !targets.is_empty() {
        let voiding_targets = statement::Entity::find()
            .filter(statement::Column::Id.is_in(targets.iter().copied()))
            .filter(statement::Column::Voids.is_not_null())
            .all(scope.db())
            .await?;
        let in_batch_voiding: HashSet<Uuid> = fresh
            .iter()
            .filter(|p| p.voids.is_some())
            .map(|p| p.id)
            .collect();
        for (i, p) in prepared.iter().enumerate() {
            if let Some(target) = p.voids
                && (voiding_targets.iter().any(|r| r.id == target)
                    || in_batch_voiding.contains(&target))
            {
                let field = if batch {
                    format!("[{i}].object.id")
                } else {
                    "object.id".into()
                };
                return Err(invalid(
                    &field,
                    "names a voiding statement, which cannot be voided (xAPI 1.0.3, Data 2.3.2)",
                ));
            }
        }
    }
    // A statement whose voiding statement arrived first is stored voided.
    let fresh_ids: Vec<Uuid> = fresh.iter().map(|p| p.id).collect();
    let mut voided_already: HashSet<Uuid> = HashSet::new();
    for chunk in fresh_ids.chunks(INSERT_CHUNK) {
        for row in statement::Entity::find()
            .filter(statement::Column::Voids.is_in(chunk.iter().copied()))
            .all(scope.db())
            .await?
        {
            if let Some(target) = row.voids {
                voided_already.insert(target);
            }
        }
    }
    voided_already.extend(targets.iter().copied());

    let emails: HashSet<String> = fresh
        .iter()
        .filter_map(|p| p.actor_key.strip_prefix("mailto:").map(str::to_string))
        .collect();
    let people = tenancy.people_by_email(scope, &emails).await?;

    let keys = scope.keys();
    let mut statement_rows = Vec::with_capacity(fresh.len());
    let mut agent_rows = Vec::new();
    let mut activity_rows = Vec::new();
    let mut attachment_rows = Vec::new();
    for p in &fresh {
        attachments::rows_for(scope, p.id, &p.statement, &contents, &mut attachment_rows);
        let person_id = p
            .actor_key
            .strip_prefix("mailto:")
            .and_then(|email| people.get(email).copied());
        let text = p.statement.to_string();
        statement_rows.push(statement::ActiveModel {
            id: Set(p.id),
            statement_sealed: Set(keys.seal_str(STATEMENTS_TABLE, "statement", p.id, &text)),
            actor_index: Set(keys.blind_index(STATEMENTS_TABLE, "actor", &p.actor_key)),
            actor_sealed: Set(keys.seal_str(STATEMENTS_TABLE, "actor", p.id, &p.actor_key)),
            person_id: Set(person_id),
            verb_id: Set(p.verb_id.clone()),
            activity_id: Set(p.activity_id.clone()),
            registration: Set(p.registration),
            voids: Set(p.voids),
            voided: Set(p.voids.is_none() && voided_already.contains(&p.id)),
            restricted: Set(false),
            credential_id: Set(credential_id),
            statement_timestamp: Set(p.timestamp),
            stored: Set(now),
            target_statement_id: Set(p.target),
            targets_pending: Set(false),
        });
        let mut agents = Vec::new();
        agents_of(&p.statement, &mut agents, false);
        agents.sort();
        agents.dedup();
        for (key, direct) in agents {
            let row_id = Uuid::now_v7();
            agent_rows.push(agent::ActiveModel {
                id: Set(row_id),
                statement_id: Set(p.id),
                agent_index: Set(keys.blind_index(AGENTS_TABLE, AGENT_FIELD, &key)),
                agent_sealed: Set(keys.seal_str(AGENTS_TABLE, AGENT_FIELD, row_id, &key)),
                direct: Set(direct),
            });
        }
        let mut activities = Vec::new();
        activities_of(&p.statement, &mut activities, false);
        activities.sort();
        activities.dedup();
        for (position, (activity_id, direct)) in activities.into_iter().enumerate() {
            activity_rows.push(activity::ActiveModel {
                statement_id: Set(p.id),
                position: Set(position as i32),
                activity_id: Set(activity_id),
                direct: Set(direct),
            });
        }
    }
    for chunk in chunked(statement_rows) {
        statement::Entity::insert_many(chunk)
            .exec_without_returning(scope.db())
            .await?;
    }
    for chunk in chunked(agent_rows) {
        agent::Entity::insert_many(chunk)
            .exec_without_returning(scope.db())
            .await?;
    }
    for chunk in chunked(activity_rows) {
        activity::Entity::insert_many(chunk)
            .exec_without_returning(scope.db())
            .await?;
    }
    for chunk in chunked(attachment_rows) {
        attachment::Entity::insert_many(chunk)
            .exec_without_returning(scope.db())
            .await?;
    }
    if !targets.is_empty() {
        statement::Entity::update_many()
            .col_expr(statement::Column::Voided, Expr::value(true))
            .filter(statement::Column::Id.is_in(targets))
            .filter(statement::Column::Voids.is_null())
            .exec(scope.db())
            .await?;
    }
    let completions: Vec<(Uuid, &str)> = fresh
        .iter()
        .filter(|p| p.verb_id == COMPLETED_VERB && !voided_already.contains(&p.id))
        .filter_map(|p| {
            let person = p
                .actor_key
                .strip_prefix("mailto:")
                .and_then(|email| people.get(email).copied())?;
            Some((person, p.activity_id.as_deref()?))
        })
        .collect();
    complete_lessons(tenancy, scope, signer, &completions).await?;
    Ok(ids)
}

/// Statements drive progress (issue 11): a `completed` statement whose object is a lesson's
/// activity, about a person of the institution, completes that lesson for them
/// ([`crate::progress::record_lesson_completed`], source `xapi`), in the transaction that
/// stores the statement. The statement is stored whatever the person's enrollment: the LRS
/// must accept every valid statement (Communication 2.1), and progress needs an active,
/// unrestricted enrollment in a course the person may see (A1: a minor's statement about a
/// lesson of a restricted or over-age course is stored and moves nothing), so a statement
/// about someone not (or no longer) learning the course moves nothing.
///
/// Only `completed`: `passed` says a learner met a mastery score, which cmi5 keeps apart from
/// completing the content (its `moveOn` names `Passed` and `Completed` separately). A voiding statement does not un-complete: a
/// lesson's `completed` is final here as it is when the learner marks it (the course's
/// completion and badge may already rest on it), and Data 2.3.2 leaves rolling back what a
/// voided statement changed to the LRS (MAY); the voided statement leaves the LRS's queries.
async fn complete_lessons(
    tenancy: &Tenancy,
    scope: &TenantScope,
    signer: &dyn crate::certificates::CertificateSigner,
    completions: &[(Uuid, &str)],
) -> Result<(), CourseError> {
    if completions.is_empty() {
        return Ok(());
    }
    let activity_ids: HashSet<&str> = completions.iter().map(|(_, a)| *a).collect();
    let lessons: HashMap<String, Uuid> = lesson::Entity::find()
        .filter(lesson::Column::ActivityId.is_in(activity_ids))
        .all(scope.db())
        .await?
        .into_iter()
        .filter_map(|row| Some((row.activity_id?, row.id)))
        .collect();
    for (person, activity_id) in completions {
        let Some(lesson_id) = lessons.get(*activity_id) else {
            continue;
        };
        match crate::progress::record_lesson_completed(
            tenancy,
            scope,
            signer,
            *person,
            *lesson_id,
            ProgressSource::Xapi,
        )
        .await
        {
            // A course hidden from the person (A1) moves nothing, as no enrollment does.
            Ok(_)
            | Err(
                CourseError::NotEnrolled | CourseError::LearnerRestricted | CourseError::NotFound,
            ) => {}
            Err(other) => return Err(other),
        }
    }
    Ok(())
}

fn chunked<T>(rows: Vec<T>) -> Vec<Vec<T>> {
    let mut chunks = Vec::new();
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        chunks.push(rows.by_ref().take(INSERT_CHUNK).collect());
    }
    chunks
}

/// How statements are answered (Communication 2.1.3 `format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Agents, verbs and activities by their identifiers only.
    Ids,
    /// As stored.
    #[default]
    Exact,
    /// As stored, with every language map reduced to the one language the request's
    /// `Accept-Language` prefers (this LRS keeps no other definition of an activity than
    /// the statement's own).
    Canonical,
}

/// The language ranges of an `Accept-Language` header (RFC 9110 12.5.4), best first; a
/// range with `q=0` is left out (not acceptable).
pub fn language_ranges(header: Option<&str>) -> Vec<String> {
    let mut ranges: Vec<(u32, usize, String)> = Vec::new();
    for (position, item) in header.unwrap_or_default().split(',').enumerate() {
        let mut parts = item.split(';');
        let range = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        if range.is_empty() {
            continue;
        }
        let mut weight = 1000;
        for parameter in parts {
            if let Some(q) = parameter.trim().strip_prefix("q=") {
                weight = q
                    .trim()
                    .parse::<f64>()
                    .map(|q| (q.clamp(0.0, 1.0) * 1000.0).round() as u32)
                    .unwrap_or(0);
            }
        }
        if weight > 0 {
            ranges.push((weight, position, range));
        }
    }
    // Best weight first; among equals, the order sent.
    ranges.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    ranges.into_iter().map(|(_, _, range)| range).collect()
}

/// The key of `map` the ranges prefer (RFC 4647 3.3.1 basic filtering: a range matches a
/// tag equal to it or starting with it and a `-`; `*` matches any), else its first key, so
/// a map keeps one language whatever was asked (Communication 2.1.3: "only one language
/// within each of these maps").
fn preferred_language<'a>(
    map: &'a serde_json::Map<String, Value>,
    ranges: &[String],
) -> Option<&'a str> {
    for range in ranges {
        let found = map.keys().find(|tag| {
            let tag = tag.to_ascii_lowercase();
            range == "*"
                || tag == *range
                || tag
                    .strip_prefix(range.as_str())
                    .is_some_and(|rest| rest.starts_with('-'))
        });
        if let Some(tag) = found {
            return Some(tag);
        }
    }
    map.keys().next().map(String::as_str)
}

fn reduce_language_map(value: Option<&mut Value>, ranges: &[String]) {
    if let Some(Value::Object(map)) = value
        && let Some(keep) = preferred_language(map, ranges).map(str::to_string)
    {
        map.retain(|tag, _| *tag == keep);
    }
}

fn canonical_activity(activity: &mut Value, ranges: &[String]) {
    let Some(definition) = activity.get_mut("definition") else {
        return;
    };
    reduce_language_map(definition.get_mut("name"), ranges);
    reduce_language_map(definition.get_mut("description"), ranges);
    for list in ["choices", "scale", "source", "target", "steps"] {
        if let Some(Value::Array(components)) = definition.get_mut(list) {
            for component in components {
                reduce_language_map(component.get_mut("description"), ranges);
            }
        }
    }
}

/// The canonical format (Communication 2.1.3): every language map of the statement (verb
/// display, activity names and descriptions, interaction components, attachments), the
/// SubStatement's too, reduced to one language by the ranges.
pub fn canonical_format(statement: &mut Value, ranges: &[String]) {
    if let Some(verb) = statement.get_mut("verb") {
        reduce_language_map(verb.get_mut("display"), ranges);
    }
    if let Some(object) = statement.get_mut("object") {
        match object.get("objectType").and_then(Value::as_str) {
            None | Some("Activity") => canonical_activity(object, ranges),
            Some("SubStatement") => canonical_format(object, ranges),
            _ => {}
        }
    }
    if let Some(lists) = statement
        .get_mut("context")
        .and_then(|c| c.get_mut("contextActivities"))
        .and_then(Value::as_object_mut)
    {
        for list in lists.values_mut() {
            match list {
                Value::Array(items) => items.iter_mut().for_each(|a| canonical_activity(a, ranges)),
                other => canonical_activity(other, ranges),
            }
        }
    }
    if let Some(Value::Array(attachments)) = statement.get_mut("attachments") {
        for attachment in attachments {
            reduce_language_map(attachment.get_mut("display"), ranges);
            reduce_language_map(attachment.get_mut("description"), ranges);
        }
    }
}

fn formatted(statement: &mut Value, format: Format, ranges: &[String]) {
    match format {
        Format::Ids => ids_format(statement),
        Format::Canonical => canonical_format(statement, ranges),
        Format::Exact => {}
    }
}

impl Format {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "ids" => Some(Self::Ids),
            "exact" => Some(Self::Exact),
            "canonical" => Some(Self::Canonical),
            _ => None,
        }
    }
}

fn agent_ids_only(agent: &Value) -> Value {
    let mut out = serde_json::Map::new();
    if let Some(map) = agent.as_object() {
        for key in ["objectType", "mbox", "mbox_sha1sum", "openid", "account"] {
            if let Some(v) = map.get(key) {
                out.insert(key.into(), v.clone());
            }
        }
        if let Some(members) = map.get("member").and_then(Value::as_array) {
            out.insert(
                "member".into(),
                Value::Array(members.iter().map(agent_ids_only).collect()),
            );
        }
    }
    Value::Object(out)
}

fn ids_format(statement: &mut Value) {
    let Some(map) = statement.as_object_mut() else {
        return;
    };
    for key in ["actor", "authority"] {
        if let Some(agent) = map.get(key) {
            let slim = agent_ids_only(agent);
            map.insert(key.into(), slim);
        }
    }
    if let Some(verb) = map.get_mut("verb")
        && let Some(verb) = verb.as_object_mut()
    {
        verb.remove("display");
    }
    if let Some(object) = map.get_mut("object") {
        match object.get("objectType").and_then(Value::as_str) {
            Some("Agent" | "Group") => *object = agent_ids_only(object),
            Some("SubStatement") => ids_format(object),
            None | Some("Activity") => {
                if let Some(object) = object.as_object_mut() {
                    object.remove("definition");
                }
            }
            _ => {}
        }
    }
}

/// The filters of a statement query (Communication 2.1.3), as parsed from the request.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct StatementQuery {
    /// The agent's Inverse Functional Identifier key ([`ifi_key`]).
    pub agent: Option<String>,
    pub verb: Option<String>,
    pub activity: Option<String>,
    pub registration: Option<Uuid>,
    pub related_activities: bool,
    pub related_agents: bool,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub limit: u64,
    pub format: Format,
    pub ascending: bool,
    /// Where the previous page ended: its last statement's `stored` and id.
    pub after: Option<(DateTime<Utc>, Uuid)>,
}

/// The filter parameters as sent, before they are checked.
#[derive(Debug, Clone, Default)]
pub struct QueryParameters {
    pub agent: Option<String>,
    pub verb: Option<String>,
    pub activity: Option<String>,
    pub registration: Option<String>,
    pub related_activities: Option<bool>,
    pub related_agents: Option<bool>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub limit: Option<u64>,
    pub format: Option<String>,
    pub ascending: Option<bool>,
}

impl QueryParameters {
    /// Checks each parameter as the same value in a statement would be (Data 2.2.s4.b4).
    pub fn parse(self) -> Result<StatementQuery, CourseError> {
        let mut violations = Vec::new();
        let mut bad = |field: &str, message: &str| {
            violations.push(FieldViolation::new(
                field,
                format!("{message} (xAPI 1.0.3, Communication 2.1.3)"),
            ))
        };
        let agent = match &self.agent {
            None => None,
            Some(text) => match serde_json::from_str::<Value>(text) {
                Ok(value) => {
                    let mut report = Report::new();
                    validation::check_agent_parameter(&mut report, "agent", &value);
                    if report.is_empty() {
                        ifi_key(&value)
                    } else {
                        bad("agent", "must be a JSON Agent or identified Group");
                        None
                    }
                }
                Err(_) => {
                    bad("agent", "must be a JSON Agent or identified Group");
                    None
                }
            },
        };
        if let Some(verb) = &self.verb
            && !validation::is_iri(verb)
        {
            bad("verb", "must be an IRI");
        }
        if let Some(activity) = &self.activity
            && !validation::is_iri(activity)
        {
            bad("activity", "must be an IRI");
        }
        let registration = self.registration.as_deref().map(parse_uuid);
        if registration == Some(None) {
            bad("registration", "must be a UUID");
        }
        let since = self.since.as_deref().map(parse_timestamp);
        if since == Some(None) {
            bad("since", "must be an ISO 8601 timestamp");
        }
        let until = self.until.as_deref().map(parse_timestamp);
        if until == Some(None) {
            bad("until", "must be an ISO 8601 timestamp");
        }
        let format = match self.format.as_deref() {
            None => Some(Format::Exact),
            Some(text) => Format::parse(text),
        };
        if format.is_none() {
            bad("format", "must be ids, exact or canonical");
        }
        let limit = match self.limit {
            None | Some(0) => MAX_LIMIT,
            Some(n) => std::cmp::min(n, MAX_LIMIT),
        };
        if !violations.is_empty() {
            return Err(CourseError::XapiInvalid(violations));
        }
        Ok(StatementQuery {
            agent,
            verb: self.verb,
            activity: self.activity,
            registration: registration.flatten(),
            related_activities: self.related_activities.unwrap_or(false),
            related_agents: self.related_agents.unwrap_or(false),
            since: since.flatten(),
            until: until.flatten(),
            limit,
            format: format.unwrap_or_default(),
            ascending: self.ascending.unwrap_or(false),
            after: None,
        })
    }
}

/// One page of a query: the statements, and the query of the next page when there is one.
#[derive(Debug, Clone)]
pub struct StatementPage {
    pub statements: Vec<Value>,
    pub more: Option<StatementQuery>,
}

/// The filters of a query that are not about time or sequence (Communication 2.1.3): the
/// ones a statement also meets through the statement it targets. `None` without any.
fn content_filters(scope: &TenantScope, query: &StatementQuery) -> Option<Condition> {
    let mut direct = Condition::all();
    let mut filtered = false;
    if let Some(key) = &query.agent {
        let candidates = scope
            .keys()
            .blind_index_candidates(AGENTS_TABLE, AGENT_FIELD, key);
        let mut naming = Query::select()
            .column(agent::Column::StatementId)
            .from(agent::Entity)
            .and_where(agent::Column::AgentIndex.is_in(candidates))
            .to_owned();
        if !query.related_agents {
            naming.and_where(agent::Column::Direct.eq(true));
        }
        filtered = true;
        direct = direct.add(statement::Column::Id.in_subquery(naming));
    }
    if let Some(verb) = &query.verb {
        filtered = true;
        direct = direct.add(statement::Column::VerbId.eq(verb.as_str()));
    }
    if let Some(activity_id) = &query.activity {
        // Through the indexed activity rows even for the object alone (`direct`): the
        // statements' own `activity_id` has no index, and filtering on it walked the whole
        // `stored` order for an activity whose statements were old.
        let mut naming = Query::select()
            .column(activity::Column::StatementId)
            .from(activity::Entity)
            .and_where(activity::Column::ActivityId.eq(activity_id.as_str()))
            .to_owned();
        if !query.related_activities {
            naming.and_where(activity::Column::Direct.eq(true));
        }
        filtered = true;
        direct = direct.add(statement::Column::Id.in_subquery(naming));
    }
    if let Some(registration) = query.registration {
        filtered = true;
        direct = direct.add(statement::Column::Registration.eq(registration));
    }
    filtered.then_some(direct)
}

/// The statements meeting `direct` through a StatementRef (Communication 2.1.3, "Filter
/// Conditions for StatementRefs"): those targeting a statement that meets it, and so on
/// recursively (a targets b targets c, c matches: a matches). A targeted statement counts
/// even voided (2.1.4.s1.b2); a restricted one does not. When nothing targets anything
/// (the usual case) this is one look at an empty partial index.
async fn targeting(scope: &TenantScope, direct: Condition) -> Result<Vec<Uuid>, CourseError> {
    let any: Option<Uuid> = statement::Entity::find()
        .select_only()
        .column(statement::Column::TargetStatementId)
        .filter(statement::Column::TargetStatementId.is_not_null())
        .limit(1)
        .into_tuple()
        .one(scope.db())
        .await?
        .flatten();
    if any.is_none() {
        return Ok(Vec::new());
    }
    let targeted = Query::select()
        .column(statement::Column::TargetStatementId)
        .from(statement::Entity)
        .and_where(statement::Column::TargetStatementId.is_not_null())
        .to_owned();
    let mut frontier: Vec<Uuid> = statement::Entity::find()
        .select_only()
        .column(statement::Column::Id)
        .filter(direct)
        .filter(statement::Column::Restricted.eq(false))
        .filter(statement::Column::Id.in_subquery(targeted))
        .into_tuple()
        .all(scope.db())
        .await?;
    let mut seen: HashSet<Uuid> = frontier.iter().copied().collect();
    let mut matched = Vec::new();
    while !frontier.is_empty() {
        let mut next = Vec::new();
        for chunk in frontier.chunks(INSERT_CHUNK) {
            let rows: Vec<Uuid> = statement::Entity::find()
                .select_only()
                .column(statement::Column::Id)
                .filter(statement::Column::TargetStatementId.is_in(chunk.iter().copied()))
                .filter(statement::Column::Restricted.eq(false))
                .into_tuple()
                .all(scope.db())
                .await?;
            for id in rows {
                if seen.insert(id) {
                    next.push(id);
                    matched.push(id);
                }
            }
        }
        frontier = next;
    }
    Ok(matched)
}

/// Answers a query; voided and restricted statements are left out (Data 2.3.2, R3). A
/// statement meets the filters other than time and sequence through the statement it
/// targets too (`targeting`).
/// `languages` are the request's `Accept-Language` ranges ([`language_ranges`]), for the
/// canonical format.
pub async fn query(
    scope: &TenantScope,
    query: &StatementQuery,
    languages: &[String],
) -> Result<StatementPage, CourseError> {
    scope.require(STATEMENTS_READ)?;
    let mut select = statement::Entity::find()
        .filter(statement::Column::Voided.eq(false))
        .filter(statement::Column::Restricted.eq(false));
    if let Some(direct) = content_filters(scope, query) {
        let through_refs = targeting(scope, direct.clone()).await?;
        select = if through_refs.is_empty() {
            select.filter(direct)
        } else {
            select.filter(
                Condition::any()
                    .add(direct)
                    .add(statement::Column::Id.is_in(through_refs)),
            )
        };
    }
    if let Some(since) = query.since {
        select = select.filter(statement::Column::Stored.gt(since));
    }
    if let Some(until) = query.until {
        select = select.filter(statement::Column::Stored.lte(until));
    }
    if let Some((stored, id)) = query.after {
        let beyond = if query.ascending {
            Condition::any()
                .add(statement::Column::Stored.gt(stored))
                .add(
                    Condition::all()
                        .add(statement::Column::Stored.eq(stored))
                        .add(statement::Column::Id.gt(id)),
                )
        } else {
            Condition::any()
                .add(statement::Column::Stored.lt(stored))
                .add(
                    Condition::all()
                        .add(statement::Column::Stored.eq(stored))
                        .add(statement::Column::Id.lt(id)),
                )
        };
        select = select.filter(beyond);
    }
    select = if query.ascending {
        select
            .order_by_asc(statement::Column::Stored)
            .order_by_asc(statement::Column::Id)
    } else {
        select
            .order_by_desc(statement::Column::Stored)
            .order_by_desc(statement::Column::Id)
    };
    let mut rows = select.limit(query.limit + 1).all(scope.db()).await?;
    let more = if rows.len() as u64 > query.limit {
        rows.truncate(query.limit as usize);
        rows.last().map(|last| StatementQuery {
            after: Some((last.stored, last.id)),
            ..query.clone()
        })
    } else {
        None
    };
    let mut statements = Vec::with_capacity(rows.len());
    for row in &rows {
        let mut statement = open_statement(scope, row)?;
        formatted(&mut statement, query.format, languages);
        statements.push(statement);
    }
    audit_read(scope, &rows).await?;
    Ok(StatementPage { statements, more })
}

/// A client's read of statements is a read of the people they are about (S2): one audit
/// entry per answer, naming the people the statements are linked to (none for agents the
/// institution does not know; the entry still counts what was read).
async fn audit_read(scope: &TenantScope, rows: &[statement::Model]) -> Result<(), CourseError> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut people: Vec<Uuid> = rows.iter().filter_map(|r| r.person_id).collect();
    people.sort_unstable();
    people.dedup();
    audit::record(
        scope,
        AuditEvent::new("xapi_statements.read")
            .detail(serde_json::json!({"count": rows.len(), "person_ids": people})),
    )
    .await?;
    Ok(())
}

/// One statement by id: `voided` asks for a voided one (`voidedStatementId`), otherwise a
/// voided statement is not found (Communication 2.1.3).
pub async fn get(
    scope: &TenantScope,
    id: Uuid,
    voided: bool,
    format: Format,
    languages: &[String],
) -> Result<(Value, DateTime<Utc>), CourseError> {
    scope.require(STATEMENTS_READ)?;
    let row = statement::Entity::find_by_id(id)
        .filter(statement::Column::Restricted.eq(false))
        .one(scope.db())
        .await?
        .filter(|row| row.voided == voided)
        .ok_or(CourseError::StatementNotFound)?;
    let mut statement = open_statement(scope, &row)?;
    formatted(&mut statement, format, languages);
    audit_read(scope, std::slice::from_ref(&row)).await?;
    Ok((statement, row.stored))
}

/// The Activity object for `/xapi/activities` (Communication 2.5): the object of the latest
/// statement about it that gave a definition, else only its id.
pub async fn activity(scope: &TenantScope, id: &str) -> Result<Value, CourseError> {
    scope.require(super::PROFILES_WRITE)?;
    if !validation::is_iri(id) {
        return Err(invalid(
            "activityId",
            "must be an IRI (xAPI 1.0.3, Communication 2.5)",
        ));
    }
    let rows = statement::Entity::find()
        .filter(statement::Column::ActivityId.eq(id))
        .filter(statement::Column::Restricted.eq(false))
        .order_by_desc(statement::Column::Stored)
        .limit(20)
        .all(scope.db())
        .await?;
    for row in &rows {
        let statement = open_statement(scope, row)?;
        if let Some(definition) = statement["object"].get("definition") {
            return Ok(json!({"objectType": "Activity", "id": id, "definition": definition}));
        }
    }
    Ok(json!({"objectType": "Activity", "id": id}))
}

/// The `more` token of a next page: the query sealed under the tenant key, so it names no
/// agent in a URL and another tenant's token opens nothing.
pub fn encode_more(scope: &TenantScope, query: &StatementQuery) -> String {
    let text = serde_json::to_string(query).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(
        scope
            .keys()
            .seal_str("xapi_more", "query", Uuid::nil(), &text),
    )
}

pub fn decode_more(scope: &TenantScope, token: &str) -> Result<StatementQuery, CourseError> {
    let refused = || {
        invalid(
            "more",
            "is not a more token this LRS gave (xAPI 1.0.3, Communication 2.1.3)",
        )
    };
    let sealed = URL_SAFE_NO_PAD.decode(token).map_err(|_| refused())?;
    let text = scope
        .keys()
        .open_str("xapi_more", "query", Uuid::nil(), &sealed)
        .map_err(|_| refused())?;
    serde_json::from_str(&text).map_err(|_| refused())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparison_ignores_what_the_lrs_assigns() {
        let sent = json!({"id": "x", "actor": {"mbox": "mailto:a@b"}, "timestamp": "2026-12-01T10:00:00+01:00"});
        let stored = json!({"id": "x", "actor": {"mbox": "mailto:a@b"}, "timestamp": "2026-12-01T09:00:00.000Z",
            "stored": "2026-12-01T09:00:01Z", "authority": {}, "version": "1.0.0"});
        assert!(same_statement(&sent, true, &stored));
        let other = json!({"id": "x", "actor": {"mbox": "mailto:c@b"}, "timestamp": "2026-12-01T10:00:00+01:00"});
        assert!(!same_statement(&other, true, &stored));
        let untimed = json!({"id": "x", "actor": {"mbox": "mailto:a@b"}});
        assert!(same_statement(&untimed, false, &stored));
    }
}
