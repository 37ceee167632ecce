//! Errors as clients see them: a kind (which becomes an HTTP status at the gateway), a stable
//! machine code and a human detail. Each domain crate has its own error enum and implements
//! [`DescribeProblem`] once; the gateway maps every such error the same way.

use serde::Serialize;

/// What went wrong, in the terms a client can act on. The gateway owns the status mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    /// The request is malformed or a value is invalid (400/422).
    Validation,
    /// A protocol that prescribes 400 for bad input (SCIM's `invalidFilter`, …).
    BadRequest,
    /// The credential is missing or wrong (401).
    Unauthenticated,
    /// The credential is valid but may not do this (403).
    Forbidden,
    /// The resource does not exist for this caller (404). Foreign resources look the same.
    NotFound,
    /// The request conflicts with the current state (409).
    Conflict,
    /// An `If-Match` precondition did not hold (412).
    PreconditionFailed,
    /// A required precondition header is missing (428).
    PreconditionRequired,
    /// Too many requests (429).
    RateLimited,
    /// A dependency is unavailable (503); the client may retry.
    Unavailable,
    /// A fault on our side (500). Its detail never reaches the client.
    Internal,
}

/// One invalid field, reported back so a form can show it next to the input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldViolation {
    /// JSON pointer-ish path of the field, e.g. `title` or `retention.identity.period_days`.
    pub field: String,
    /// Why the value was refused.
    pub message: String,
}

impl FieldViolation {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Implemented by every crate's error type: the single bridge to problem+json.
pub trait DescribeProblem: std::error::Error {
    fn kind(&self) -> ProblemKind;
    /// Stable, documented machine code such as `course.not_found`.
    fn code(&self) -> &'static str;
    /// Per-field details for validation errors.
    fn violations(&self) -> Vec<FieldViolation> {
        Vec::new()
    }
}

/// Collects field violations and turns them into one error at the end of a validation pass.
#[derive(Debug, Default)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldViolation::new(field, message));
    }
    pub fn check(&mut self, ok: bool, field: &str, message: &str) {
        if !ok {
            self.add(field, message);
        }
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// `Ok(())` when nothing was collected, otherwise the violations.
    pub fn finish(self) -> Result<(), Vec<FieldViolation>> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self.0)
        }
    }
}
