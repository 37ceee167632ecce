//! The identity crate's one error type and its problem description.

use hub_kernel::{DescribeProblem, FieldViolation, ProblemKind};
use hub_tenant::TenantError;
use sea_orm::DbErr;

/// Why a sign-in was refused. Each reason has its own stable code so an integrator (and a
/// test) can tell them apart; none of them creates a person or a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Unknown, expired or already used `state`: not a flow this service started.
    State,
    /// The IdP answered the authorization request with an error (e.g. access denied).
    IdpDenied,
    /// The token endpoint refused the code.
    CodeExchange,
    /// The ID token's signature, algorithm or key id does not verify against the IdP's keys.
    Signature,
    /// Issuer, audience, expiry or issued-at out of bounds.
    Claims,
    /// The nonce in the ID token is not the one this flow sent.
    Nonce,
    /// The IdP asserted no usable identity (no subject, unverified email where one is needed).
    Identity,
    /// The person exists but is deactivated.
    Deactivated,
    /// After a reported compromise the IdP must authenticate the person afresh.
    Reauthentication,
    /// Unknown login or wrong password (the same answer for both).
    Credentials,
    /// Too many wrong passwords in a row.
    Locked,
    /// The right password, but a reported compromise requires it to be reset first.
    PasswordResetRequired,
    /// The institution allows SSO only.
    LocalAccountsDisabled,
    /// A password-reset code that is unknown, used or expired.
    ResetToken,
    /// A guardian-consent code that is unknown, used or expired (A1).
    GuardianToken,
    /// SAML: oversized, not base64, malformed XML, a DOCTYPE, or not a usable response.
    SamlResponseInvalid,
    /// SAML: unsigned, or no signature verifies against the IdP metadata's certificate.
    SamlSignature,
    /// SAML: destination, recipient, audience, issuer or time window out of bounds.
    SamlConditions,
    /// SAML: the response answers no request of this flow (InResponseTo), or none at all.
    SamlUnsolicited,
    /// SAML: the response or assertion was already used for a sign-in.
    SamlReplayed,
}

impl Refusal {
    pub fn code(self) -> &'static str {
        match self {
            Self::State => "sso_state_invalid",
            Self::IdpDenied => "sso_idp_denied",
            Self::CodeExchange => "sso_code_rejected",
            Self::Signature => "sso_token_signature_invalid",
            Self::Claims => "sso_token_claims_invalid",
            Self::Nonce => "sso_nonce_mismatch",
            Self::Identity => "sso_identity_unusable",
            Self::Deactivated => "person_deactivated",
            Self::Reauthentication => "reauthentication_required",
            Self::Credentials => "invalid_credentials",
            Self::Locked => "account_locked",
            Self::PasswordResetRequired => "password_reset_required",
            Self::LocalAccountsDisabled => "local_accounts_disabled",
            Self::ResetToken => "reset_token_invalid",
            Self::GuardianToken => "guardian_token_invalid",
            Self::SamlResponseInvalid => "saml_response_invalid",
            Self::SamlSignature => "saml_signature_invalid",
            Self::SamlConditions => "saml_conditions_invalid",
            Self::SamlUnsolicited => "saml_response_unsolicited",
            Self::SamlReplayed => "saml_replayed",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("the request has invalid fields")]
    Invalid(Vec<FieldViolation>),
    #[error("no such {0}")]
    NotFound(&'static str),
    #[error("sign-in refused: {detail}")]
    SignInRefused { reason: Refusal, detail: String },
    #[error("the session is missing, expired, revoked or unknown")]
    Unauthenticated,
    #[error("this operation needs a signed-in person, not an API key")]
    PersonOnly,
    #[error("nobody reviews their own access; another reviewer must decide this grant")]
    SelfReview,
    #[error("{0}")]
    DomainNotVerified(String),
    #[error("the resource changed since it was read (current revision {current})")]
    RevisionMismatch { current: i32 },
    #[error("{0}")]
    Conflict(String),
    /// Processing of the person's data is restricted (R3): nobody but a privacy officer, by
    /// lifting the restriction, reactivates them, grants them a role or changes their record.
    #[error(
        "processing of this person's data is restricted: they cannot be reactivated, granted a \
         role or changed until a privacy officer lifts the restriction through a restriction request"
    )]
    PersonRestricted,
    /// A SCIM request the protocol calls invalid; `scim_type` is RFC 7644's `scimType`.
    #[error("{detail}")]
    ScimInvalid {
        scim_type: &'static str,
        detail: String,
    },
    #[error("the identity provider could not be reached or answered garbage: {0}")]
    IdpUnavailable(String),
    #[error("the session store is unavailable: {0}")]
    SessionStore(String),
    /// The mail transport could not be set up (bad SMTP settings, unwritable mail directory).
    #[error("mail delivery: {0}")]
    Mail(String),
    #[error(transparent)]
    Tenant(#[from] TenantError),
    #[error("storage error: {0}")]
    Database(#[from] DbErr),
    #[error("key error: {0}")]
    Crypto(#[from] hub_kernel::crypto::CryptoError),
}

impl IdentityError {
    pub fn invalid(field: &str, message: &str) -> Self {
        Self::Invalid(vec![FieldViolation::new(field, message)])
    }

    pub fn refused(reason: Refusal, detail: impl Into<String>) -> Self {
        Self::SignInRefused {
            reason,
            detail: detail.into(),
        }
    }
}

impl From<redis::RedisError> for IdentityError {
    fn from(e: redis::RedisError) -> Self {
        Self::SessionStore(e.to_string())
    }
}

impl DescribeProblem for IdentityError {
    fn kind(&self) -> ProblemKind {
        match self {
            Self::Invalid(_) => ProblemKind::Validation,
            Self::NotFound(_) => ProblemKind::NotFound,
            Self::SignInRefused {
                reason: Refusal::LocalAccountsDisabled,
                ..
            } => ProblemKind::Forbidden,
            Self::SignInRefused { .. } | Self::Unauthenticated => ProblemKind::Unauthenticated,
            Self::PersonOnly | Self::SelfReview => ProblemKind::Forbidden,
            Self::DomainNotVerified(_) => ProblemKind::Conflict,
            Self::RevisionMismatch { .. } => ProblemKind::PreconditionFailed,
            Self::Conflict(_) | Self::PersonRestricted => ProblemKind::Conflict,
            Self::ScimInvalid { scim_type, .. } if *scim_type == "uniqueness" => {
                ProblemKind::Conflict
            }
            Self::ScimInvalid { .. } => ProblemKind::BadRequest,
            Self::IdpUnavailable(_) | Self::SessionStore(_) => ProblemKind::Unavailable,
            Self::Tenant(e) => e.kind(),
            Self::Database(e) if TenantError::refused_client_data(e) => ProblemKind::Validation,
            Self::Database(e) if TenantError::storage_unavailable(e) => ProblemKind::Unavailable,
            Self::Database(_) | Self::Crypto(_) | Self::Mail(_) => ProblemKind::Internal,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "validation_failed",
            Self::NotFound("person") => "person_not_found",
            Self::NotFound("sso connection") => "sso_connection_not_found",
            Self::NotFound("session") => "session_not_found",
            Self::NotFound("incident") => "incident_not_found",
            Self::NotFound("group") => "group_not_found",
            Self::NotFound("sso domain") => "sso_domain_not_found",
            Self::NotFound("access review") => "access_review_not_found",
            Self::NotFound("review item") => "review_item_not_found",
            Self::NotFound("sign-in settings") => "sign_in_settings_not_found",
            Self::NotFound("message sender") => "message_sender_not_found",
            Self::NotFound(_) => "not_found",
            Self::SignInRefused { reason, .. } => reason.code(),
            Self::Unauthenticated => "unauthenticated",
            Self::PersonOnly => "person_credential_required",
            Self::SelfReview => "self_review_forbidden",
            Self::DomainNotVerified(_) => "domain_verification_failed",
            Self::RevisionMismatch { .. } => "revision_mismatch",
            Self::Conflict(_) => "conflict",
            Self::PersonRestricted => "person_restricted",
            Self::ScimInvalid { scim_type, .. } => match *scim_type {
                "invalidFilter" => "scim_invalid_filter",
                "invalidPath" => "scim_invalid_path",
                "uniqueness" => "scim_uniqueness",
                _ => "scim_invalid_value",
            },
            Self::IdpUnavailable(_) => "sso_idp_unavailable",
            Self::SessionStore(_) => "session_store_unavailable",
            Self::Tenant(e) => e.code(),
            Self::Database(e) if TenantError::refused_client_data(e) => "value_not_storable",
            Self::Database(e) if TenantError::storage_unavailable(e) => {
                TenantError::STORAGE_UNAVAILABLE
            }
            Self::Database(_) | Self::Crypto(_) | Self::Mail(_) => "internal",
        }
    }

    fn violations(&self) -> Vec<FieldViolation> {
        match self {
            Self::Invalid(v) => v.clone(),
            Self::Tenant(e) => e.violations(),
            _ => Vec::new(),
        }
    }
}
