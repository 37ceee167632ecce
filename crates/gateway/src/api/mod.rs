//! The public API, one module per resource. Handlers are thin: extract, authorise, call the
//! domain service inside the caller's tenant scope, map the result.
//!
//! Optional fields of a response are sent as `null`, not left out, so each carries
//! `#[oai(nullable)]`: without it the spec says "string" and generated clients (and
//! schemathesis) reject the `null` they receive.

// `ApiError` is the error answer itself, returned from handlers as poem-openapi wants; the
// helpers below feed handlers' `?`, so boxing it would only add an allocation per error.
#![allow(clippy::result_large_err)]

pub mod api_keys;
pub mod audit;
pub mod billing;
pub mod contacts;
pub mod described;
pub mod domains;
pub mod incidents;
pub mod keys;
pub mod learning;
pub mod me;
pub mod messaging;
pub mod minors;
pub mod passwords;
pub mod people;
pub mod privacy;
pub mod privacy_profile;
pub mod reports;
pub mod reviews;
pub mod saml;
pub mod scim;
pub mod secret_text;
pub mod sso;
pub mod system;
pub mod tenants;

use crate::problem::ApiError;
use hub_kernel::page::PageRequest;
use poem::http::StatusCode;
use poem_openapi::Tags;

#[derive(Tags)]
pub enum ApiTags {
    /// Platform operators: provision, suspend and offboard institutions.
    Tenants,
    /// The institution's course catalog.
    Courses,
    /// Enrollments in courses: learners' own, a course's learners, their states and
    /// history, instructors and SCIM groups mapped to courses.
    Enrollments,
    /// Certificates of course completion (Open Badges 3.0 credentials), their sharing,
    /// public verification and revocation.
    Certificates,
    /// Automated decisions about learners (a course failed by a rule): what the learner
    /// sees and contests, and the review queue where a person confirms or overturns them.
    Decisions,
    /// Organisational units of the institution and people's affiliation with them.
    OrgUnits,
    /// The institution's named contacts (data-protection officer, billing, …).
    Contacts,
    /// API keys of the institution.
    ApiKeys,
    /// The institution's encryption, blind-index and signing keys, their rotation, and the
    /// signing keys it publishes.
    EncryptionKeys,
    /// Retention and reporting profile.
    PrivacyProfile,
    /// De-identified reports of the profile: runs per period and their content.
    Reports,
    /// People of the institution: learners, instructors, admins, finance, auditors.
    People,
    /// Enterprise single sign-on: connections to the institution's identity provider and
    /// the sign-in flow.
    Sso,
    /// A signed-in person's own record and sessions.
    Me,
    /// The institution's hash-chained audit trail.
    Audit,
    /// Account-compromise reports and the incidents they open.
    Incidents,
    /// SCIM 2.0 push provisioning of users and groups by the institution's IdP.
    Scim,
    /// Local password accounts, where the institution allows them.
    LocalAccounts,
    /// Minors (A1): the institution's digital-consent ages by country, and guardians'
    /// consent for learners under them.
    Minors,
    /// Access recertification: periodic review of privileged grants.
    AccessReviews,
    /// Who the institution's mail is from, and the delivery status of its messages.
    Messaging,
    /// Privacy: what the institution holds about people and why, data-subject requests,
    /// consent, retention and addenda.
    Privacy,
    /// Health, readiness and the caller's own identity.
    System,
    /// The xAPI 1.0.3 Learning Record Store (`/xapi/`) and its credentials.
    Lrs,
    /// Billing: course purchases paid through the institution's Stripe account, finance's
    /// history, totals, exports, refunds and disputes, Stripe's webhook endpoint.
    Billing,
}

/// `ETag` of a revision. Strong, quoted, as RFC 9110 wants.
pub fn etag(revision: i32) -> String {
    format!("\"{revision}\"")
}

/// What an `If-Match` header asks for (RFC 9110 §13.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfMatch {
    /// No header: the change is unconditional (where the operation allows that).
    Absent,
    /// `*`: any current representation, i.e. the resource exists, whatever its revision.
    Any,
    /// A revision the client read (`"3"` or `W/"3"`).
    Revision(i32),
}

impl IfMatch {
    /// The revision the domain must find, `None` when any current one will do.
    pub fn expected_revision(self) -> Option<i32> {
        match self {
            Self::Revision(revision) => Some(revision),
            Self::Absent | Self::Any => None,
        }
    }
}

/// The one parser of `If-Match`: `*`, or an entity tag naming a revision. Anything else
/// cannot match a current revision: 412.
pub fn if_match(value: Option<&str>) -> Result<IfMatch, ApiError> {
    let Some(value) = value else {
        return Ok(IfMatch::Absent);
    };
    let value = value.trim();
    if value == "*" {
        return Ok(IfMatch::Any);
    }
    value
        .trim_start_matches("W/")
        .trim_matches('"')
        .parse::<i32>()
        .map(IfMatch::Revision)
        .map_err(|_| {
            ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                "revision_mismatch",
                "If-Match does not name a revision of this resource; send the ETag you read",
            )
        })
}

/// `If-Match` where it is optional: the revision to find, `None` for no header or `*`.
pub fn parse_if_match(value: Option<&str>) -> Result<Option<i32>, ApiError> {
    Ok(if_match(value)?.expected_revision())
}

/// `If-Match` where it is mandatory (updates must not lose writes): 428 without it; `*`
/// (any current revision, a deliberate overwrite) gives `None`.
pub fn require_if_match(value: Option<&str>) -> Result<Option<i32>, ApiError> {
    match if_match(value)? {
        IfMatch::Absent => Err(ApiError::precondition_required()),
        other => Ok(other.expected_revision()),
    }
}

pub fn page_request(cursor: Option<&str>, limit: Option<u64>) -> Result<PageRequest, ApiError> {
    PageRequest::parse(cursor, limit).map_err(|e| ApiError::from(hub_tenant::TenantError::from(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_forms() {
        assert_eq!(parse_if_match(Some("\"3\"")).unwrap(), Some(3));
        assert_eq!(parse_if_match(Some("W/\"4\"")).unwrap(), Some(4));
        assert_eq!(parse_if_match(None).unwrap(), None);
        assert_eq!(parse_if_match(Some("*")).unwrap(), None);
        assert!(parse_if_match(Some("\"abc\"")).is_err());
        assert!(require_if_match(None).is_err());
        // RFC 9110 §13.1.1: `*` matches any current representation.
        assert_eq!(require_if_match(Some("*")).unwrap(), None);
        assert_eq!(require_if_match(Some("\"5\"")).unwrap(), Some(5));
    }
}
