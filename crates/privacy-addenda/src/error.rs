//! The privacy domain's one error type.

use hub_kernel::{DescribeProblem, FieldViolation, ProblemKind};
use hub_tenant::TenantError;
use hub_tenant::personal_data::SourceError;
use sea_orm::DbErr;

#[derive(Debug, thiserror::Error)]
pub enum PrivacyError {
    #[error("the request has invalid fields")]
    Invalid(Vec<FieldViolation>),
    /// A personal-data source failed (its own error, by name).
    #[error("personal-data source {source_name} failed: {message}")]
    Source {
        source_name: &'static str,
        message: String,
    },
    /// The registered sources cannot be composed (a registration mistake).
    #[error("personal-data sources are misregistered: {0}")]
    Registry(String),
    /// `essential` processing is not the person's choice.
    #[error("{field}: essential processing is not consentable")]
    NotConsentable { field: String },
    /// The operation (a `/me` one, a consent of one's own) needs a signed-in person, not an
    /// API key: only a person has requests, consents and downloads of their own.
    #[error("this operation needs a signed-in person, not an API key")]
    PersonOnly,
    /// A service used before its notice was accepted (A3).
    #[error("accept the notice of {service} (policy version {version}) before using it")]
    NoticeNotAccepted { service: String, version: i32 },
    /// A person, request or task that does not exist in this tenant (another tenant's looks
    /// the same).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The request conflicts with a request's state (a second erasure, a decided request).
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// A verification code that is wrong, expired or used up.
    #[error("{message}")]
    CodeRefused {
        code: &'static str,
        message: &'static str,
    },
    /// A change based on a revision that is no longer current.
    #[error("changed since it was read (current revision {current})")]
    RevisionMismatch { current: i32 },
    /// Nobody decides a request about themselves.
    #[error("a request about the caller cannot be decided by them")]
    OwnRequest,
    #[error(transparent)]
    Tenant(#[from] TenantError),
    #[error("storage error: {0}")]
    Database(#[from] DbErr),
}

impl PrivacyError {
    /// A refused verification code whose attempt is recorded (the caller commits it).
    pub fn code_counts(&self) -> bool {
        matches!(
            self,
            Self::CodeRefused {
                code: "verification_code_invalid",
                ..
            }
        )
    }

    pub fn source_failed(source_name: &'static str, error: &SourceError) -> Self {
        Self::Source {
            source_name,
            message: error.to_string(),
        }
    }
}

impl DescribeProblem for PrivacyError {
    fn kind(&self) -> ProblemKind {
        match self {
            Self::Invalid(_) | Self::NotConsentable { .. } => ProblemKind::Validation,
            Self::PersonOnly | Self::NoticeNotAccepted { .. } => ProblemKind::Forbidden,
            Self::Source { .. } | Self::Registry(_) => ProblemKind::Internal,
            Self::NotFound(_) => ProblemKind::NotFound,
            Self::Conflict { .. } => ProblemKind::Conflict,
            Self::CodeRefused { .. } => ProblemKind::Validation,
            Self::OwnRequest => ProblemKind::Forbidden,
            Self::RevisionMismatch { .. } => ProblemKind::PreconditionFailed,
            Self::Tenant(e) => e.kind(),
            Self::Database(e) if TenantError::refused_client_data(e) => ProblemKind::Validation,
            Self::Database(e) if TenantError::storage_unavailable(e) => ProblemKind::Unavailable,
            Self::Database(_) => ProblemKind::Internal,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "validation_failed",
            Self::NotConsentable { .. } => "purpose_not_consentable",
            Self::PersonOnly => "person_credential_required",
            Self::NoticeNotAccepted { .. } => "notice_not_accepted",
            Self::Source { .. } => "personal_data_source_failed",
            Self::Registry(_) => "internal",
            Self::NotFound("person") => "person_not_found",
            Self::NotFound("service notice") => "service_notice_not_found",
            Self::NotFound("privacy request") => "privacy_request_not_found",
            Self::NotFound("task") => "privacy_request_task_not_found",
            Self::NotFound("download link") => "download_link_not_found",
            Self::NotFound("privacy addendum") => "addendum_not_found",
            Self::NotFound(_) => "not_found",
            Self::Conflict { code, .. } | Self::CodeRefused { code, .. } => code,
            Self::OwnRequest => "own_request_decision",
            Self::RevisionMismatch { .. } => "revision_mismatch",
            Self::Tenant(e) => e.code(),
            Self::Database(e) if TenantError::refused_client_data(e) => "value_not_storable",
            Self::Database(e) if TenantError::storage_unavailable(e) => {
                TenantError::STORAGE_UNAVAILABLE
            }
            Self::Database(_) => "internal",
        }
    }

    fn violations(&self) -> Vec<FieldViolation> {
        match self {
            Self::Invalid(v) => v.clone(),
            Self::NotConsentable { field } => vec![FieldViolation::new(
                field.clone(),
                "essential processing is not consentable: it is always on and not the person's choice",
            )],
            Self::Tenant(e) => e.violations(),
            _ => Vec::new(),
        }
    }
}
