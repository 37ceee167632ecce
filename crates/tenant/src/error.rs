//! The tenant crate's one error type and its problem description.

use hub_kernel::crypto::CryptoError;
use hub_kernel::page::PageError;
use hub_kernel::{DescribeProblem, FieldViolation, ProblemKind};
use sea_orm::DbErr;

#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    #[error("the request has invalid fields")]
    Invalid(Vec<FieldViolation>),
    #[error("{0}")]
    BadPage(#[from] PageError),
    #[error("no such {0}")]
    NotFound(&'static str),
    #[error("a tenant with slug `{0}` already exists")]
    SlugTaken(String),
    #[error("the credential is missing, malformed, revoked or unknown")]
    Unauthenticated,
    #[error("this institution is suspended; contact the platform operator")]
    Suspended,
    #[error("this institution is being offboarded")]
    Offboarding,
    #[error("the credential lacks the `{0}` scope")]
    MissingScope(&'static str),
    #[error("this operation needs a platform-operator credential")]
    OperatorOnly,
    #[error("the resource changed since it was read (current revision {current})")]
    RevisionMismatch { current: i32 },
    #[error("the Idempotency-Key was already used with a different request")]
    IdempotencyKeyReused,
    #[error("{0}")]
    Conflict(String),
    #[error("a key rotation is already running for this institution")]
    RotationRunning,
    #[error("storage error: {0}")]
    Database(#[from] DbErr),
    #[error("key error: {0}")]
    Crypto(#[from] CryptoError),
    #[error("storage error: {0}")]
    Io(#[from] std::io::Error),
}

impl TenantError {
    pub fn invalid(field: &str, message: &str) -> Self {
        Self::Invalid(vec![FieldViolation::new(field, message)])
    }
}

impl DescribeProblem for TenantError {
    fn kind(&self) -> ProblemKind {
        match self {
            Self::Invalid(_) | Self::BadPage(_) => ProblemKind::Validation,
            Self::NotFound(_) => ProblemKind::NotFound,
            Self::SlugTaken(_)
            | Self::IdempotencyKeyReused
            | Self::Conflict(_)
            | Self::RotationRunning
            | Self::Offboarding => ProblemKind::Conflict,
            Self::Unauthenticated => ProblemKind::Unauthenticated,
            Self::Suspended | Self::MissingScope(_) | Self::OperatorOnly => ProblemKind::Forbidden,
            Self::RevisionMismatch { .. } => ProblemKind::PreconditionFailed,
            Self::Database(_) | Self::Crypto(_) | Self::Io(_) => ProblemKind::Internal,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "validation_failed",
            Self::BadPage(PageError::BadCursor) => "invalid_cursor",
            Self::BadPage(PageError::BadLimit) => "invalid_limit",
            Self::NotFound("tenant") => "tenant_not_found",
            Self::NotFound("api key") => "api_key_not_found",
            Self::NotFound("contact") => "contact_not_found",
            Self::NotFound("job") => "job_not_found",
            Self::NotFound(_) => "not_found",
            Self::SlugTaken(_) => "tenant_slug_taken",
            Self::Unauthenticated => "unauthenticated",
            Self::Suspended => "tenant_suspended",
            Self::Offboarding => "tenant_offboarding",
            Self::MissingScope(_) => "insufficient_scope",
            Self::OperatorOnly => "operator_only",
            Self::RevisionMismatch { .. } => "revision_mismatch",
            Self::IdempotencyKeyReused => "idempotency_key_reused",
            Self::Conflict(_) => "conflict",
            Self::RotationRunning => "key_rotation_running",
            Self::Database(_) | Self::Crypto(_) | Self::Io(_) => "internal",
        }
    }

    fn violations(&self) -> Vec<FieldViolation> {
        match self {
            Self::Invalid(v) => v.clone(),
            _ => Vec::new(),
        }
    }
}
