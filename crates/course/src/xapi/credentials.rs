//! LRS credentials: what an institution gives a piece of e-learning content to report with.
//! A credential is an API key of the institution holding only LRS scopes (so it is shown
//! once, stored as a hash, scoped, revocable and audited like every key); the client sends
//! it as HTTP Basic (xAPI-Communication 4.0): the key's id as the user name, its secret as
//! the password.
//!
//! Clients ask for xAPI's scope names (Communication 4.2); [`scopes_for`] maps them to ours.

use super::{PROFILES_WRITE, STATE_WRITE, STATEMENTS_READ, STATEMENTS_WRITE};
use crate::CourseError;
use hub_kernel::FieldViolation;
use hub_tenant::Scope;

/// The xAPI scope names a credential can be given.
pub const XAPI_SCOPES: &[&str] = &[
    "statements/write",
    "statements/read",
    "state",
    "profile",
    "all/read",
    "all",
];

/// Our scopes for xAPI scope names; an unknown or not yet served one is refused by name.
pub fn scopes_for(names: &[String]) -> Result<Vec<Scope>, CourseError> {
    let mut scopes = Vec::new();
    let mut violations = Vec::new();
    if names.is_empty() {
        violations.push(FieldViolation::new(
            "scopes",
            "at least one scope is required",
        ));
    }
    for (i, name) in names.iter().enumerate() {
        let granted: &[Scope] = match name.as_str() {
            "statements/write" => &[STATEMENTS_WRITE],
            "statements/read" | "all/read" => &[STATEMENTS_READ],
            "state" => &[STATE_WRITE],
            "profile" => &[PROFILES_WRITE],
            "all" => &[
                STATEMENTS_READ,
                STATEMENTS_WRITE,
                STATE_WRITE,
                PROFILES_WRITE,
            ],
            _ => {
                violations.push(FieldViolation::new(
                    format!("scopes[{i}]"),
                    format!(
                        "not a scope this LRS grants; one of {}",
                        XAPI_SCOPES.join(", ")
                    ),
                ));
                &[]
            }
        };
        scopes.extend_from_slice(granted);
    }
    if !violations.is_empty() {
        return Err(CourseError::Invalid(violations));
    }
    scopes.sort();
    scopes.dedup();
    Ok(scopes)
}

/// Whether an API key's scopes make it an LRS credential (only LRS scopes).
pub fn is_lrs_credential(scopes: &[Scope]) -> bool {
    !scopes.is_empty() && scopes.iter().all(|s| s.as_str().starts_with("xapi_"))
}

/// The xAPI scope names a credential's scopes stand for.
pub fn xapi_names(scopes: &[Scope]) -> Vec<&'static str> {
    let all = [
        STATEMENTS_READ,
        STATEMENTS_WRITE,
        STATE_WRITE,
        PROFILES_WRITE,
    ];
    if all.iter().all(|s| scopes.contains(s)) {
        return vec!["all"];
    }
    [
        (STATEMENTS_WRITE, "statements/write"),
        (STATEMENTS_READ, "statements/read"),
        (STATE_WRITE, "state"),
        (PROFILES_WRITE, "profile"),
    ]
    .into_iter()
    .filter(|(scope, _)| scopes.contains(scope))
    .map(|(_, name)| name)
    .collect()
}
