//! Strict validation of xAPI 1.0.3 statements: the LRS's MUST rules of xAPI-Data (Part Two),
//! each refusal naming the field (a JSON path such as `actor.mbox` or `[2].verb.id`) and the
//! section of the specification whose rule it breaks. Validation is on the JSON value as
//! sent, so a `null`, a string where a number is required, an unknown key or a key in the
//! wrong case are all seen (xAPI-Data 2.2.s4.b1).
//!
//! Best effort where the specification allows it (2.2.s4.b6, b7): an IRI is a scheme and a
//! non-empty rest without white space; a language tag is RFC 5646's sequence of subtag
//! lengths.

use hub_kernel::FieldViolation;
use serde_json::{Map, Value};
use uuid::Uuid;

/// The verb of a voiding statement (xAPI-Data 2.3.2).
pub const VOIDED_VERB: &str = "http://adlnet.gov/expapi/verbs/voided";
/// The verb whose statement about a lesson's activity completes the lesson.
pub const COMPLETED_VERB: &str = "http://adlnet.gov/expapi/verbs/completed";

/// Collects violations while walking one statement (or a batch).
#[derive(Debug, Default)]
pub struct Report(Vec<FieldViolation>);

impl Report {
    pub fn new() -> Self {
        Self::default()
    }

    fn add(&mut self, field: &str, rule: &str, message: &str) {
        self.0.push(FieldViolation::new(
            field.trim_start_matches('.'),
            format!("{message} (xAPI 1.0.3, {rule})"),
        ));
    }

    pub fn into_violations(self) -> Vec<FieldViolation> {
        self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Refuses keys outside `allowed` (and keys that differ only in case, 2.2.s4.b1.b5) and
/// `null` values (2.2.s4.b1.b1). Returns the object when `value` is one.
fn object<'a>(
    report: &mut Report,
    path: &str,
    value: &'a Value,
    allowed: &[&str],
    rule: &str,
) -> Option<&'a Map<String, Value>> {
    let Some(map) = value.as_object() else {
        report.add(path, rule, "must be a JSON object");
        return None;
    };
    for (key, inner) in map {
        let field = join(path, key);
        if !allowed.contains(&key.as_str()) {
            report.add(
                &field,
                "Data 2.2.s4.b1.b7",
                "is not a property this object allows (keys are case sensitive)",
            );
        } else if inner.is_null() {
            report.add(&field, "Data 2.2.s4.b1.b1", "must not be null");
        }
    }
    Some(map)
}

fn present<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key).filter(|v| !v.is_null())
}

fn string<'a>(report: &mut Report, path: &str, value: &'a Value, rule: &str) -> Option<&'a str> {
    let text = value.as_str();
    if text.is_none() {
        report.add(path, rule, "must be a string");
    }
    text
}

/// An IRI (Data 4.3, 2.2.s4.b1.b8): a scheme, `:`, and a non-empty rest, no white space.
pub fn is_iri(text: &str) -> bool {
    let Some((scheme, rest)) = text.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        && !rest.is_empty()
        && !text.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn iri(report: &mut Report, path: &str, value: &Value, rule: &str) {
    if let Some(text) = string(report, path, value, rule)
        && !is_iri(text)
    {
        report.add(path, rule, "must be an IRI with a scheme");
    }
}

/// An RFC 5646 language tag, by its subtags' lengths (Data 2.2.s4.b2).
pub fn is_language_tag(tag: &str) -> bool {
    let subtags: Vec<&str> = tag.split('-').collect();
    let first = subtags[0];
    let first_ok =
        (first.len() >= 2 && first.len() <= 8 && first.chars().all(|c| c.is_ascii_alphabetic()))
            || first.eq_ignore_ascii_case("x")
            || first.eq_ignore_ascii_case("i");
    first_ok
        && subtags[1..]
            .iter()
            .all(|s| (1..=8).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric()))
}

fn language_map(report: &mut Report, path: &str, value: &Value) {
    let Some(map) = value.as_object() else {
        report.add(path, "Data 4.2", "must be a language map (an object)");
        return;
    };
    for (tag, text) in map {
        let field = join(path, tag);
        if !is_language_tag(tag) {
            report.add(
                &field,
                "Data 4.2, 2.2.s4.b2",
                "is not an RFC 5646 language tag",
            );
        }
        if !text.is_string() {
            report.add(&field, "Data 4.2", "must be a string");
        }
    }
}

fn extensions(report: &mut Report, path: &str, value: &Value) {
    let Some(map) = value.as_object() else {
        report.add(path, "Data 4.1", "must be an object keyed by IRIs");
        return;
    };
    for key in map.keys() {
        if !is_iri(key) {
            report.add(
                &join(path, key),
                "Data 4.1",
                "an extension key must be an IRI",
            );
        }
    }
}

/// A UUID in its canonical hyphenated form (Data 4.4).
pub fn parse_uuid(text: &str) -> Option<Uuid> {
    (text.len() == 36)
        .then(|| Uuid::try_parse(text).ok())
        .flatten()
}

fn uuid(report: &mut Report, path: &str, value: &Value, rule: &str) {
    if let Some(text) = string(report, path, value, rule)
        && parse_uuid(text).is_none()
    {
        report.add(path, rule, "must be a UUID (RFC 4122, hyphenated)");
    }
}

/// An ISO 8601 timestamp as RFC 3339 profiles it (Data 4.5); `-00:00` is refused.
pub fn parse_timestamp(text: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    if text.ends_with("-00:00") {
        return None;
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

fn timestamp(report: &mut Report, path: &str, value: &Value) {
    if let Some(text) = string(report, path, value, "Data 4.5")
        && parse_timestamp(text).is_none()
    {
        report.add(
            path,
            "Data 4.5",
            "must be an ISO 8601 timestamp with a time zone (not -00:00)",
        );
    }
}

/// An ISO 8601 duration (Data 4.6): `P`, then number-unit pairs, `T` before time units.
pub fn is_duration(text: &str) -> bool {
    let Some(rest) = text.strip_prefix('P') else {
        return false;
    };
    if rest.is_empty() {
        return false;
    }
    let (date, time) = match rest.split_once('T') {
        Some((_, "")) => return false,
        Some((d, t)) => (d, Some(t)),
        None => (rest, None),
    };
    let units_ok = |part: &str, units: &str| {
        let mut number = String::new();
        let mut last = None;
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' || c == ',' {
                number.push(c);
                continue;
            }
            let Some(position) = units.find(c) else {
                return false;
            };
            if number.is_empty() || last.is_some_and(|l| position <= l) {
                return false;
            }
            last = Some(position);
            number.clear();
        }
        number.is_empty()
    };
    units_ok(date, "YMWD") && time.is_none_or(|t| units_ok(t, "HMS"))
}

const AGENT_KEYS: &[&str] = &[
    "objectType",
    "name",
    "mbox",
    "mbox_sha1sum",
    "openid",
    "account",
];
const GROUP_KEYS: &[&str] = &[
    "objectType",
    "name",
    "mbox",
    "mbox_sha1sum",
    "openid",
    "account",
    "member",
];

/// How many Inverse Functional Identifiers an Agent or Group uses, checking each
/// (Data 2.4.2.3, 2.4.2.4).
fn ifis(report: &mut Report, path: &str, map: &Map<String, Value>) -> usize {
    let mut count = 0;
    if let Some(mbox) = present(map, "mbox") {
        count += 1;
        let field = join(path, "mbox");
        if let Some(text) = string(report, &field, mbox, "Data 2.4.2.3") {
            let address = text.strip_prefix("mailto:");
            if !address.is_some_and(|a| {
                a.split_once('@')
                    .is_some_and(|(l, d)| !l.is_empty() && !d.is_empty() && !a.contains(' '))
            }) {
                report.add(
                    &field,
                    "Data 2.4.2.3",
                    "must be a mailto IRI (`mailto:` and an email address)",
                );
            }
        }
    }
    if let Some(sum) = present(map, "mbox_sha1sum") {
        count += 1;
        let field = join(path, "mbox_sha1sum");
        if let Some(text) = string(report, &field, sum, "Data 2.4.2.3")
            && !(text.len() == 40 && text.chars().all(|c| c.is_ascii_hexdigit()))
        {
            report.add(
                &field,
                "Data 2.4.2.3",
                "must be a SHA1 hex digest (40 characters)",
            );
        }
    }
    if let Some(openid) = present(map, "openid") {
        count += 1;
        iri(report, &join(path, "openid"), openid, "Data 2.4.2.3");
    }
    if let Some(account) = present(map, "account") {
        count += 1;
        let field = join(path, "account");
        if let Some(account) = object(
            report,
            &field,
            account,
            &["homePage", "name"],
            "Data 2.4.2.4",
        ) {
            match present(account, "homePage") {
                Some(home) => iri(report, &join(&field, "homePage"), home, "Data 2.4.2.4"),
                None => report.add(&join(&field, "homePage"), "Data 2.4.2.4", "is required"),
            }
            match present(account, "name") {
                Some(name) => {
                    string(report, &join(&field, "name"), name, "Data 2.4.2.4");
                }
                None => report.add(&join(&field, "name"), "Data 2.4.2.4", "is required"),
            }
        }
    }
    count
}

/// An Agent (objectType `Agent` or absent where the context allows it) or a Group.
/// `object_type_required`: as the object of a statement, an Agent says so (Data 2.4.4.2).
fn agent_or_group(report: &mut Report, path: &str, value: &Value, object_type_required: bool) {
    let kind = value.get("objectType").and_then(Value::as_str);
    match kind {
        Some("Group") => group(report, path, value),
        Some("Agent") => agent(report, path, value),
        None if !object_type_required => agent(report, path, value),
        None => report.add(
            &join(path, "objectType"),
            "Data 2.4.4.2",
            "is required when the object is an Agent or Group",
        ),
        Some(_) => report.add(
            &join(path, "objectType"),
            "Data 2.4.2.1",
            "must be `Agent` or `Group`",
        ),
    }
}

fn name(report: &mut Report, path: &str, map: &Map<String, Value>) {
    if let Some(name) = present(map, "name") {
        string(report, &join(path, "name"), name, "Data 2.4.2.1");
    }
}

fn agent(report: &mut Report, path: &str, value: &Value) {
    let Some(map) = object(report, path, value, AGENT_KEYS, "Data 2.4.2.1") else {
        return;
    };
    name(report, path, map);
    if ifis(report, path, map) != 1 {
        report.add(
            path,
            "Data 2.4.2.1, 2.4.2.3",
            "an Agent must use exactly one Inverse Functional Identifier (mbox, mbox_sha1sum, openid or account)",
        );
    }
}

fn group(report: &mut Report, path: &str, value: &Value) {
    let Some(map) = object(report, path, value, GROUP_KEYS, "Data 2.4.2.2") else {
        return;
    };
    name(report, path, map);
    let identified = ifis(report, path, map);
    if identified > 1 {
        report.add(
            path,
            "Data 2.4.2.2",
            "a Group must use at most one Inverse Functional Identifier",
        );
    }
    match present(map, "member") {
        Some(Value::Array(members)) => {
            for (i, member) in members.iter().enumerate() {
                let field = format!("{}[{i}]", join(path, "member"));
                if member.get("objectType").and_then(Value::as_str) == Some("Group") {
                    report.add(
                        &field,
                        "Data 2.4.2.2",
                        "a Group's members are Agents, not Groups",
                    );
                } else {
                    agent(report, &field, member);
                }
            }
            if identified == 0 && members.is_empty() {
                report.add(
                    &join(path, "member"),
                    "Data 2.4.2.2",
                    "an anonymous Group must list at least one member",
                );
            }
        }
        Some(_) => report.add(
            &join(path, "member"),
            "Data 2.4.2.2",
            "must be an array of Agents",
        ),
        None if identified == 0 => report.add(
            &join(path, "member"),
            "Data 2.4.2.2",
            "an anonymous Group (no identifier) must list its members",
        ),
        None => {}
    }
}

fn verb(report: &mut Report, path: &str, value: &Value) {
    let Some(map) = object(report, path, value, &["id", "display"], "Data 2.4.3") else {
        return;
    };
    match present(map, "id") {
        Some(id) => iri(report, &join(path, "id"), id, "Data 2.4.3"),
        None => report.add(&join(path, "id"), "Data 2.4.3", "is required"),
    }
    if let Some(display) = present(map, "display") {
        language_map(report, &join(path, "display"), display);
    }
}

const INTERACTION_TYPES: &[&str] = &[
    "true-false",
    "choice",
    "fill-in",
    "long-fill-in",
    "matching",
    "performance",
    "sequencing",
    "likert",
    "numeric",
    "other",
];

fn interaction_components(report: &mut Report, path: &str, value: &Value) {
    let Some(items) = value.as_array() else {
        report.add(
            path,
            "Data 2.4.4.1",
            "must be an array of interaction components",
        );
        return;
    };
    let mut ids: Vec<&str> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let field = format!("{path}[{i}]");
        let Some(map) = object(report, &field, item, &["id", "description"], "Data 2.4.4.1") else {
            continue;
        };
        match present(map, "id").map(|id| (id, id.as_str())) {
            Some((_, Some(id))) if !id.is_empty() => {
                if ids.contains(&id) {
                    report.add(
                        &join(&field, "id"),
                        "Data 2.4.4.1",
                        "ids must be unique in the list",
                    );
                }
                ids.push(id);
            }
            _ => report.add(
                &join(&field, "id"),
                "Data 2.4.4.1",
                "a non-empty string is required",
            ),
        }
        if let Some(description) = present(map, "description") {
            language_map(report, &join(&field, "description"), description);
        }
    }
}

fn activity_definition(report: &mut Report, path: &str, value: &Value) {
    let keys = [
        "name",
        "description",
        "type",
        "moreInfo",
        "extensions",
        "interactionType",
        "correctResponsesPattern",
        "choices",
        "scale",
        "source",
        "target",
        "steps",
    ];
    let Some(map) = object(report, path, value, &keys, "Data 2.4.4.1") else {
        return;
    };
    for key in ["name", "description"] {
        if let Some(v) = present(map, key) {
            language_map(report, &join(path, key), v);
        }
    }
    for key in ["type", "moreInfo"] {
        if let Some(v) = present(map, key) {
            iri(report, &join(path, key), v, "Data 2.4.4.1");
        }
    }
    if let Some(v) = present(map, "extensions") {
        extensions(report, &join(path, "extensions"), v);
    }
    if let Some(v) = present(map, "interactionType") {
        let field = join(path, "interactionType");
        if let Some(text) = string(report, &field, v, "Data 2.4.4.1")
            && !INTERACTION_TYPES.contains(&text)
        {
            report.add(
                &field,
                "Data 2.4.4.1",
                "is not one of the interaction types",
            );
        }
    }
    if let Some(v) = present(map, "correctResponsesPattern") {
        let field = join(path, "correctResponsesPattern");
        if !v.as_array().is_some_and(|a| a.iter().all(Value::is_string)) {
            report.add(&field, "Data 2.4.4.1", "must be an array of strings");
        }
    }
    for key in ["choices", "scale", "source", "target", "steps"] {
        if let Some(v) = present(map, key) {
            interaction_components(report, &join(path, key), v);
        }
    }
}

fn activity(report: &mut Report, path: &str, value: &Value) {
    let Some(map) = object(
        report,
        path,
        value,
        &["objectType", "id", "definition"],
        "Data 2.4.4.1",
    ) else {
        return;
    };
    match present(map, "id") {
        Some(id) => iri(report, &join(path, "id"), id, "Data 2.4.4.1"),
        None => report.add(&join(path, "id"), "Data 2.4.4.1", "is required"),
    }
    if let Some(definition) = present(map, "definition") {
        activity_definition(report, &join(path, "definition"), definition);
    }
}

fn statement_ref(report: &mut Report, path: &str, value: &Value) {
    let Some(map) = object(report, path, value, &["objectType", "id"], "Data 2.4.4.3") else {
        return;
    };
    match present(map, "id") {
        Some(id) => uuid(report, &join(path, "id"), id, "Data 2.4.4.3"),
        None => report.add(&join(path, "id"), "Data 2.4.4.3", "is required"),
    }
}

/// What kind of object a statement has, for the rules that depend on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ObjectKind {
    Activity,
    Agent,
    StatementRef,
    SubStatement,
    Invalid,
}

fn statement_object(report: &mut Report, path: &str, value: &Value, nested: bool) -> ObjectKind {
    if !value.is_object() {
        report.add(path, "Data 2.4.4", "must be a JSON object");
        return ObjectKind::Invalid;
    }
    match value.get("objectType") {
        None => {
            activity(report, path, value);
            ObjectKind::Activity
        }
        Some(Value::String(kind)) => match kind.as_str() {
            "Activity" => {
                activity(report, path, value);
                ObjectKind::Activity
            }
            "Agent" | "Group" => {
                agent_or_group(report, path, value, true);
                ObjectKind::Agent
            }
            "StatementRef" => {
                statement_ref(report, path, value);
                ObjectKind::StatementRef
            }
            "SubStatement" if nested => {
                report.add(
                    &join(path, "objectType"),
                    "Data 2.4.4.3",
                    "a SubStatement must not contain a SubStatement",
                );
                ObjectKind::Invalid
            }
            "SubStatement" => {
                statement_body(report, path, value, true);
                ObjectKind::SubStatement
            }
            _ => {
                report.add(
                    &join(path, "objectType"),
                    "Data 2.4.4, 2.2.s4.b1.b6",
                    "must be Activity, Agent, Group, StatementRef or SubStatement",
                );
                ObjectKind::Invalid
            }
        },
        Some(_) => {
            report.add(&join(path, "objectType"), "Data 2.4.4", "must be a string");
            ObjectKind::Invalid
        }
    }
}

fn number(report: &mut Report, path: &str, value: &Value) -> Option<f64> {
    let n = value.as_f64();
    if n.is_none() {
        report.add(path, "Data 2.4.5.1, 2.2.s4.b1.b2", "must be a JSON number");
    }
    n
}

fn result(report: &mut Report, path: &str, value: &Value) {
    let keys = [
        "score",
        "success",
        "completion",
        "response",
        "duration",
        "extensions",
    ];
    let Some(map) = object(report, path, value, &keys, "Data 2.4.5") else {
        return;
    };
    if let Some(score) = present(map, "score") {
        let field = join(path, "score");
        if let Some(score) = object(
            report,
            &field,
            score,
            &["scaled", "raw", "min", "max"],
            "Data 2.4.5.1",
        ) {
            let get = |report: &mut Report, key: &str| {
                present(score, key).and_then(|v| number(report, &join(&field, key), v))
            };
            let scaled = get(report, "scaled");
            let raw = get(report, "raw");
            let min = get(report, "min");
            let max = get(report, "max");
            if scaled.is_some_and(|s| !(-1.0..=1.0).contains(&s)) {
                report.add(
                    &join(&field, "scaled"),
                    "Data 2.4.5.1",
                    "must be between -1 and 1",
                );
            }
            if let (Some(min), Some(max)) = (min, max)
                && min >= max
            {
                report.add(
                    &join(&field, "min"),
                    "Data 2.4.5.1",
                    "must be less than max",
                );
            }
            if let Some(raw) = raw {
                if min.is_some_and(|m| raw < m) {
                    report.add(
                        &join(&field, "raw"),
                        "Data 2.4.5.1",
                        "must not be less than min",
                    );
                }
                if max.is_some_and(|m| raw > m) {
                    report.add(
                        &join(&field, "raw"),
                        "Data 2.4.5.1",
                        "must not be greater than max",
                    );
                }
            }
        }
    }
    for key in ["success", "completion"] {
        if let Some(v) = present(map, key)
            && !v.is_boolean()
        {
            report.add(
                &join(path, key),
                "Data 2.4.5, 2.2.s4.b1.b3",
                "must be a JSON boolean",
            );
        }
    }
    if let Some(v) = present(map, "response") {
        string(report, &join(path, "response"), v, "Data 2.4.5");
    }
    if let Some(v) = present(map, "duration") {
        let field = join(path, "duration");
        if let Some(text) = string(report, &field, v, "Data 4.6")
            && !is_duration(text)
        {
            report.add(
                &field,
                "Data 4.6",
                "must be an ISO 8601 duration (e.g. PT1H30M)",
            );
        }
    }
    if let Some(v) = present(map, "extensions") {
        extensions(report, &join(path, "extensions"), v);
    }
}

fn context(report: &mut Report, path: &str, value: &Value, kind: ObjectKind) {
    let keys = [
        "registration",
        "instructor",
        "team",
        "contextActivities",
        "revision",
        "platform",
        "language",
        "statement",
        "extensions",
    ];
    let Some(map) = object_of(report, path, value, &keys) else {
        return;
    };
    if let Some(v) = present(map, "registration") {
        uuid(report, &join(path, "registration"), v, "Data 2.4.6");
    }
    if let Some(v) = present(map, "instructor") {
        agent_or_group(report, &join(path, "instructor"), v, false);
    }
    if let Some(v) = present(map, "team") {
        let field = join(path, "team");
        if v.get("objectType").and_then(Value::as_str) == Some("Group") {
            group(report, &field, v);
        } else {
            report.add(&field, "Data 2.4.6", "must be a Group (objectType `Group`)");
        }
    }
    if let Some(v) = present(map, "contextActivities") {
        let field = join(path, "contextActivities");
        if let Some(lists) = object(
            report,
            &field,
            v,
            &["parent", "grouping", "category", "other"],
            "Data 2.4.6.2",
        ) {
            for (key, list) in lists {
                let field = join(&field, key);
                match list {
                    Value::Array(items) => {
                        for (i, item) in items.iter().enumerate() {
                            activity(report, &format!("{field}[{i}]"), item);
                        }
                    }
                    Value::Object(_) => activity(report, &field, list),
                    Value::Null => {}
                    _ => report.add(
                        &field,
                        "Data 2.4.6.2",
                        "must be an Activity or an array of them",
                    ),
                }
            }
        }
    }
    for key in ["revision", "platform"] {
        if let Some(v) = present(map, key) {
            let field = join(path, key);
            string(report, &field, v, "Data 2.4.6");
            if kind != ObjectKind::Activity {
                report.add(
                    &field,
                    "Data 2.4.6",
                    "may be used only when the statement's object is an Activity",
                );
            }
        }
    }
    if let Some(v) = present(map, "language") {
        let field = join(path, "language");
        if let Some(text) = string(report, &field, v, "Data 2.4.6")
            && !is_language_tag(text)
        {
            report.add(&field, "Data 2.4.6", "must be an RFC 5646 language tag");
        }
    }
    if let Some(v) = present(map, "statement") {
        let field = join(path, "statement");
        if v.get("objectType").and_then(Value::as_str) == Some("StatementRef") {
            statement_ref(report, &field, v);
        } else {
            report.add(&field, "Data 2.4.6", "must be a StatementRef");
        }
    }
    if let Some(v) = present(map, "extensions") {
        extensions(report, &join(path, "extensions"), v);
    }
}

fn object_of<'a>(
    report: &mut Report,
    path: &str,
    value: &'a Value,
    keys: &[&str],
) -> Option<&'a Map<String, Value>> {
    object(report, path, value, keys, "Data 2.4.6")
}

fn attachments(report: &mut Report, path: &str, value: &Value) {
    let Some(items) = value.as_array() else {
        report.add(path, "Data 2.4.11", "must be an array of attachments");
        return;
    };
    let keys = [
        "usageType",
        "display",
        "description",
        "contentType",
        "length",
        "sha2",
        "fileUrl",
    ];
    for (i, item) in items.iter().enumerate() {
        let field = format!("{path}[{i}]");
        let Some(map) = object(report, &field, item, &keys, "Data 2.4.11") else {
            continue;
        };
        for key in ["usageType", "display", "contentType", "length", "sha2"] {
            if present(map, key).is_none() {
                report.add(&join(&field, key), "Data 2.4.11", "is required");
            }
        }
        if let Some(v) = present(map, "usageType") {
            iri(report, &join(&field, "usageType"), v, "Data 2.4.11");
        }
        for key in ["display", "description"] {
            if let Some(v) = present(map, key) {
                language_map(report, &join(&field, key), v);
            }
        }
        if let Some(v) = present(map, "contentType") {
            string(report, &join(&field, "contentType"), v, "Data 2.4.11");
        }
        if let Some(v) = present(map, "length")
            && v.as_u64().is_none()
        {
            report.add(
                &join(&field, "length"),
                "Data 2.4.11",
                "must be a non-negative integer",
            );
        }
        if let Some(v) = present(map, "sha2") {
            string(report, &join(&field, "sha2"), v, "Data 2.4.11");
        }
        // Without a fileUrl the content comes as a part of a multipart/mixed request: the
        // request's parts are matched with the attachments after these rules
        // ([`super::attachments::match_parts`]).
        if let Some(v) = present(map, "fileUrl") {
            iri(report, &join(&field, "fileUrl"), v, "Data 2.4.11");
        }
    }
}

const STATEMENT_KEYS: &[&str] = &[
    "id",
    "actor",
    "verb",
    "object",
    "result",
    "context",
    "timestamp",
    "stored",
    "authority",
    "version",
    "attachments",
];
const SUB_STATEMENT_KEYS: &[&str] = &[
    "objectType",
    "actor",
    "verb",
    "object",
    "result",
    "context",
    "timestamp",
    "attachments",
];

fn statement_body(report: &mut Report, path: &str, value: &Value, nested: bool) {
    let keys = if nested {
        SUB_STATEMENT_KEYS
    } else {
        STATEMENT_KEYS
    };
    let rule = if nested { "Data 2.4.4.3" } else { "Data 2.4" };
    let Some(map) = object(report, path, value, keys, rule) else {
        return;
    };
    for key in ["actor", "verb", "object"] {
        if present(map, key).is_none() {
            report.add(&join(path, key), "Data 2.2.s2.b3", "is required");
        }
    }
    if let Some(v) = present(map, "actor") {
        agent_or_group(report, &join(path, "actor"), v, false);
    }
    if let Some(v) = present(map, "verb") {
        verb(report, &join(path, "verb"), v);
    }
    let kind = present(map, "object")
        .map(|v| statement_object(report, &join(path, "object"), v, nested))
        .unwrap_or(ObjectKind::Invalid);
    if let Some(v) = present(map, "result") {
        result(report, &join(path, "result"), v);
    }
    if let Some(v) = present(map, "context") {
        context(report, &join(path, "context"), v, kind);
    }
    if let Some(v) = present(map, "timestamp") {
        timestamp(report, &join(path, "timestamp"), v);
    }
    if let Some(v) = present(map, "attachments") {
        attachments(report, &join(path, "attachments"), v);
    }
    if nested {
        return;
    }
    if let Some(v) = present(map, "id") {
        uuid(report, &join(path, "id"), v, "Data 2.4.1");
    }
    if let Some(v) = present(map, "stored") {
        timestamp(report, &join(path, "stored"), v);
    }
    if let Some(v) = present(map, "authority") {
        agent_or_group(report, &join(path, "authority"), v, false);
    }
    if let Some(v) = present(map, "version") {
        let field = join(path, "version");
        if let Some(text) = string(report, &field, v, "Data 2.4.10")
            && !is_supported_version(text)
        {
            report.add(&field, "Data 2.4.10", "must be a 1.0.x version");
        }
    }
    // Voiding (Data 2.3.2): the object is a StatementRef naming the voided statement.
    let voids = map
        .get("verb")
        .and_then(|v| v.get("id"))
        .and_then(Value::as_str)
        == Some(VOIDED_VERB);
    if voids && kind != ObjectKind::StatementRef && kind != ObjectKind::Invalid {
        report.add(
            &join(path, "object"),
            "Data 2.3.2.s2.b1",
            "a voiding statement's object must be a StatementRef",
        );
    }
}

/// Whether a statement's `version` (or a request's `X-Experience-API-Version`) is one this
/// LRS accepts: 1.0, or 1.0.x for a number x (Data 2.4.10, Communication 3.3).
pub fn is_supported_version(text: &str) -> bool {
    text == "1.0"
        || text
            .strip_prefix("1.0.")
            .is_some_and(|patch| !patch.is_empty() && patch.chars().all(|c| c.is_ascii_digit()))
}

/// Validates one statement; `path` prefixes every field named (`[3]` in a batch).
pub fn check_statement(report: &mut Report, path: &str, value: &Value) {
    statement_body(report, path, value, false);
}

/// Validates a JSON value given as the `agent` parameter (Communication 2.1.3: an Agent or
/// identified Group, as in a statement).
pub fn check_agent_parameter(report: &mut Report, field: &str, value: &Value) {
    agent_or_group(report, field, value, false);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(value: Value) -> Vec<String> {
        let mut report = Report::new();
        check_statement(&mut report, "", &value);
        report
            .into_violations()
            .into_iter()
            .map(|v| v.field)
            .collect()
    }

    fn good() -> Value {
        json!({
            "actor": {"mbox": "mailto:ada@example.org", "name": "Ada"},
            "verb": {"id": "http://adlnet.gov/expapi/verbs/completed", "display": {"en-US": "completed"}},
            "object": {"id": "http://example.org/course/1", "definition": {"name": {"en": "One"}}},
            "result": {"score": {"scaled": 0.5, "raw": 5, "min": 0, "max": 10}, "duration": "PT1H30M"},
            "context": {"registration": "6f3c1e2a-4b5d-4c7e-8f90-123456789abc", "platform": "web"},
            "timestamp": "2026-12-01T10:00:00Z"
        })
    }

    #[test]
    fn a_good_statement_passes() {
        assert!(fields(good()).is_empty(), "{:?}", fields(good()));
    }

    #[test]
    fn each_rule_names_its_field() {
        let cases: Vec<(Value, &str)> = vec![
            (json!({"actor": {"mbox": "ada@example.org"}}), "actor.mbox"),
            (
                json!({"actor": {"mbox": "mailto:a@b", "openid": "http://x"}}),
                "actor",
            ),
            (json!({"actor": {"name": "nobody"}}), "actor"),
            (json!({"verb": {"id": "completed"}}), "verb.id"),
            (
                json!({"verb": {"id": "http://v", "display": {"en_US": "x"}}}),
                "verb.display.en_US",
            ),
            (
                json!({"result": {"score": {"scaled": 1.5}}}),
                "result.score.scaled",
            ),
            (
                json!({"result": {"score": {"raw": 11, "min": 0, "max": 10}}}),
                "result.score.raw",
            ),
            (
                json!({"result": {"score": {"raw": "5"}}}),
                "result.score.raw",
            ),
            (json!({"result": {"success": "true"}}), "result.success"),
            (json!({"result": {"duration": "1 hour"}}), "result.duration"),
            (
                json!({"context": {"registration": "nope"}}),
                "context.registration",
            ),
            (json!({"timestamp": "yesterday"}), "timestamp"),
            (json!({"id": "not-a-uuid"}), "id"),
            (json!({"version": "2.0.0"}), "version"),
            (json!({"colour": "blue"}), "colour"),
            (json!({"Actor": {}}), "Actor"),
            (json!({"result": null}), "result"),
        ];
        for (change, field) in cases {
            let mut statement = good();
            for (key, value) in change.as_object().unwrap() {
                statement[key] = value.clone();
            }
            let got = fields(statement);
            assert!(got.iter().any(|f| f == field), "{field}: {got:?}");
        }
    }

    #[test]
    fn context_revision_needs_an_activity_object() {
        let mut statement = good();
        statement["object"] = json!({"objectType": "Agent", "mbox": "mailto:b@example.org"});
        statement["context"] = json!({"revision": "2"});
        assert_eq!(fields(statement), ["context.revision"]);
    }

    #[test]
    fn durations_and_tags() {
        for ok in ["PT1H30M", "P1D", "P3Y6M4DT12H30M5S", "PT0.5S", "P2W"] {
            assert!(is_duration(ok), "{ok}");
        }
        for bad in ["P", "PT", "1H", "PTM", "PM1"] {
            assert!(!is_duration(bad), "{bad}");
        }
        assert!(is_language_tag("en-US") && is_language_tag("zh-Hant-TW"));
        assert!(!is_language_tag("e") && !is_language_tag("en-toolongsubtag"));
    }
}
