//! The xAPI 1.0.3 Learning Record Store (issue 11 part 4): what e-learning content (SCORM
//! wrappers, cmi5 players, authoring tools) reports learning through.
//!
//! - [`credentials`]: the LRS credentials a client authenticates with (HTTP Basic, the xAPI
//!   convention), which are institution API keys holding only LRS scopes, and how xAPI's
//!   scope names map to ours;
//! - [`validation`]: the statement rules of xAPI-Data (the MUSTs an LRS enforces);
//! - [`statements`]: the Statement Resource's store and queries;
//! - [`attachments`]: attachments' contents, matched with a multipart/mixed request's parts;
//! - [`signature`]: the checks on signed statements (Data 2.6);
//! - [`targets`]: the targets of StatementRefs stored before they were recorded;
//! - [`documents`]: the state, activity profile and agent profile resources;
//! - [`personal_data`]: statements as learning records (C3) of the people they are about.
//!
//! Statements are personal data: the statement JSON is sealed under the tenant key; the
//! actor's Inverse Functional Identifier is kept as a keyed blind index (`actor_index`),
//! and so is every agent a statement names (`xapi_statement_agents.agent_index`), for the
//! `agent` filter and for finding a person's statements by their email. An attachment's
//! content (a part of a multipart/mixed request, Communication 1.5.2) is sealed the same way
//! in `xapi_attachments`, one row per statement and SHA-2.

pub mod attachments;
pub mod credentials;
pub mod documents;
pub(crate) mod entity;
pub mod personal_data;
pub mod signature;
pub mod statements;
pub mod targets;
pub mod validation;

use hub_kernel::classification::{
    BlindIndexed, DataCategory, FieldClassification, Purpose, RetentionClass,
};
use hub_tenant::Scope;
use serde_json::Value;

/// The xAPI version this LRS speaks and answers in `X-Experience-API-Version`.
pub const VERSION: &str = "1.0.3";

/// Store statements (xAPI's `statements/write`).
pub const STATEMENTS_WRITE: Scope = Scope::named("xapi_statements:write");
/// Read every statement of the institution (xAPI's `statements/read`).
pub const STATEMENTS_READ: Scope = Scope::named("xapi_statements:read");

/// Read and write state documents (xAPI's `state`).
pub const STATE_WRITE: Scope = Scope::named("xapi_state:write");
/// Read and write activity and agent profiles (xAPI's `profile`), and read the activities
/// and agents resources.
pub const PROFILES_WRITE: Scope = Scope::named("xapi_profiles:write");

pub const STATEMENTS_TABLE: &str = "xapi_statements";
pub const DOCUMENTS_TABLE: &str = "xapi_documents";
pub const AGENTS_TABLE: &str = "xapi_statement_agents";
pub const ATTACHMENTS_TABLE: &str = "xapi_attachments";
pub(crate) const AGENT_FIELD: &str = "agent";

/// A statement is a learning record (C3) about its actor; the identifiers of the agents it
/// names and the contents of its attachments live and die with it.
pub const PERSONAL_FIELDS: &[FieldClassification] = &[
    FieldClassification {
        table: STATEMENTS_TABLE,
        column: "statement",
        category: DataCategory::Learning,
        purpose: Purpose::ServiceDelivery,
        retention: RetentionClass::CategoryPeriod,
        identifying: true,
        blind_index: false,
        optional: false,
    },
    FieldClassification {
        table: STATEMENTS_TABLE,
        column: "actor",
        category: DataCategory::Learning,
        purpose: Purpose::ServiceDelivery,
        retention: RetentionClass::CategoryPeriod,
        identifying: true,
        blind_index: true,
        optional: false,
    },
    FieldClassification {
        table: AGENTS_TABLE,
        column: AGENT_FIELD,
        category: DataCategory::Learning,
        purpose: Purpose::ServiceDelivery,
        retention: RetentionClass::CategoryPeriod,
        identifying: true,
        blind_index: true,
        optional: false,
    },
    FieldClassification {
        table: ATTACHMENTS_TABLE,
        column: "content",
        category: DataCategory::Learning,
        purpose: Purpose::ServiceDelivery,
        retention: RetentionClass::CategoryPeriod,
        identifying: true,
        blind_index: false,
        optional: false,
    },
    FieldClassification {
        table: DOCUMENTS_TABLE,
        column: "content",
        category: DataCategory::Learning,
        purpose: Purpose::ServiceDelivery,
        retention: RetentionClass::CategoryPeriod,
        identifying: true,
        blind_index: false,
        optional: false,
    },
    FieldClassification {
        table: DOCUMENTS_TABLE,
        column: AGENT_FIELD,
        category: DataCategory::Learning,
        purpose: Purpose::ServiceDelivery,
        retention: RetentionClass::CategoryPeriod,
        identifying: true,
        blind_index: true,
        optional: true,
    },
];

pub const BLIND_INDEXES: &[BlindIndexed] = &[
    BlindIndexed {
        table: STATEMENTS_TABLE,
        field: "actor",
        normalise: Some(normalise_ifi),
    },
    BlindIndexed {
        table: AGENTS_TABLE,
        field: AGENT_FIELD,
        normalise: Some(normalise_ifi),
    },
    BlindIndexed {
        table: DOCUMENTS_TABLE,
        field: AGENT_FIELD,
        normalise: Some(normalise_ifi),
    },
];

/// The form an agent's identifier is indexed in. A stored key is given back unchanged
/// except that an email's case is folded (`mailto:` + the address in lower case, the way
/// people's emails are compared); a bare email (how the privacy scan asks about a person)
/// becomes that `mailto:` key.
pub fn normalise_ifi(key: &str) -> String {
    match key.strip_prefix("mailto:") {
        Some(address) => format!("mailto:{}", address.trim().to_lowercase()),
        None if !key.contains(':') => format!("mailto:{}", key.trim().to_lowercase()),
        None => key.to_string(),
    }
}

/// The key an Agent or identified Group is indexed by, from its one Inverse Functional
/// Identifier (Data 2.4.2.3); an anonymous Group by its members' keys.
pub fn ifi_key(agent: &Value) -> Option<String> {
    if let Some(mbox) = agent.get("mbox").and_then(Value::as_str) {
        return Some(normalise_ifi(mbox));
    }
    if let Some(sum) = agent.get("mbox_sha1sum").and_then(Value::as_str) {
        return Some(format!("sha1:{}", sum.to_lowercase()));
    }
    if let Some(openid) = agent.get("openid").and_then(Value::as_str) {
        return Some(format!("openid:{openid}"));
    }
    if let Some(account) = agent.get("account") {
        let home = account.get("homePage").and_then(Value::as_str)?;
        let name = account.get("name").and_then(Value::as_str)?;
        return Some(format!("account:{home} {name}"));
    }
    let members = agent.get("member").and_then(Value::as_array)?;
    let mut keys: Vec<String> = members.iter().filter_map(ifi_key).collect();
    keys.sort();
    (!keys.is_empty()).then(|| format!("group:{}", keys.join(",")))
}

/// The Person object of an agent (xAPI-Communication 2.4): what this LRS knows of the
/// agent is what the request names, each property as an array.
pub fn person_of(agent: &str) -> Result<Value, crate::CourseError> {
    let refused = || {
        crate::CourseError::XapiInvalid(vec![hub_kernel::FieldViolation::new(
            "agent",
            "must be a JSON Agent (xAPI 1.0.3, Communication 2.4)",
        )])
    };
    let value: Value = serde_json::from_str(agent).map_err(|_| refused())?;
    let mut report = validation::Report::new();
    validation::check_agent_parameter(&mut report, "agent", &value);
    if !report.is_empty() || value.get("objectType").and_then(Value::as_str) == Some("Group") {
        return Err(refused());
    }
    let mut person = serde_json::Map::new();
    person.insert("objectType".into(), Value::String("Person".into()));
    for key in ["name", "mbox", "mbox_sha1sum", "openid", "account"] {
        if let Some(v) = value.get(key) {
            person.insert(key.into(), Value::Array(vec![v.clone()]));
        }
    }
    Ok(Value::Object(person))
}
