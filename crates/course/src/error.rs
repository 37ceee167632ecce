//! The catalog's one error type.

use hub_kernel::{DescribeProblem, FieldViolation, ProblemKind};
use hub_tenant::TenantError;
use sea_orm::DbErr;

#[derive(Debug, thiserror::Error)]
pub enum CourseError {
    #[error("the request has invalid fields")]
    Invalid(Vec<FieldViolation>),
    #[error("no such course")]
    NotFound,
    #[error("a course with code `{0}` already exists")]
    CodeTaken(String),
    #[error("the course changed since it was read (current revision {current})")]
    RevisionMismatch { current: i32 },
    #[error(transparent)]
    Tenant(#[from] TenantError),
    /// A statement or parameter breaks a rule of xAPI 1.0.3 (400, as the LRS answers).
    #[error("the request breaks a rule of xAPI 1.0.3")]
    XapiInvalid(Vec<FieldViolation>),
    #[error("statement {0} is already stored with different content")]
    XapiConflict(uuid::Uuid),
    #[error("{0}")]
    XapiForbidden(&'static str),
    #[error("no such statement")]
    StatementNotFound,
    #[error("a sealed value cannot be opened: {0}")]
    Sealing(String),
    #[error("{0}")]
    XapiPrecondition(&'static str),
    #[error("the document exists: send If-Match or If-None-Match (xAPI 1.0.3, Communication 3.1)")]
    XapiDocumentConflict,
    #[error("no such document")]
    DocumentNotFound,
    #[error("storage error: {0}")]
    Database(#[from] DbErr),
}

impl DescribeProblem for CourseError {
    fn kind(&self) -> ProblemKind {
        match self {
            Self::Invalid(_) => ProblemKind::Validation,
            Self::NotFound => ProblemKind::NotFound,
            Self::CodeTaken(_) => ProblemKind::Conflict,
            Self::RevisionMismatch { .. } => ProblemKind::PreconditionFailed,
            Self::Tenant(e) => e.kind(),
            Self::XapiInvalid(_) => ProblemKind::BadRequest,
            Self::XapiConflict(_) => ProblemKind::Conflict,
            Self::XapiForbidden(_) => ProblemKind::Forbidden,
            Self::StatementNotFound => ProblemKind::NotFound,
            Self::Sealing(_) => ProblemKind::Internal,
            Self::XapiPrecondition(_) => ProblemKind::PreconditionFailed,
            Self::XapiDocumentConflict => ProblemKind::Conflict,
            Self::DocumentNotFound => ProblemKind::NotFound,
            Self::Database(e) if TenantError::refused_client_data(e) => ProblemKind::Validation,
            Self::Database(e) if TenantError::storage_unavailable(e) => ProblemKind::Unavailable,
            Self::Database(_) => ProblemKind::Internal,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "validation_failed",
            Self::NotFound => "course_not_found",
            Self::CodeTaken(_) => "course_code_taken",
            Self::RevisionMismatch { .. } => "revision_mismatch",
            Self::Tenant(e) => e.code(),
            Self::XapiInvalid(_) => "xapi_invalid",
            Self::XapiConflict(_) => "xapi_statement_conflict",
            Self::XapiForbidden(_) => "xapi_credential_required",
            Self::StatementNotFound => "xapi_statement_not_found",
            Self::Sealing(_) => "internal",
            Self::XapiPrecondition(_) => "xapi_precondition_failed",
            Self::XapiDocumentConflict => "xapi_document_exists",
            Self::DocumentNotFound => "xapi_document_not_found",
            Self::Database(e) if TenantError::refused_client_data(e) => "value_not_storable",
            Self::Database(e) if TenantError::storage_unavailable(e) => {
                TenantError::STORAGE_UNAVAILABLE
            }
            Self::Database(_) => "internal",
        }
    }

    fn violations(&self) -> Vec<FieldViolation> {
        match self {
            Self::Invalid(v) | Self::XapiInvalid(v) => v.clone(),
            Self::Tenant(e) => e.violations(),
            _ => Vec::new(),
        }
    }
}
