//! `/v1/scim/v2/…`: SCIM 2.0 (RFC 7643/7644) Users and Groups for the institution's IdP to
//! push provisioning. Give the IdP an API key with only the `scim:provision` scope.
//!
//! Bodies are accepted as `application/scim+json` or `application/json`; answers are
//! `application/scim+json`. Errors under `/v1/scim/v2` are SCIM's own error schema (RFC 7644
//! §3.12: `urn:ietf:params:scim:api:messages:2.0:Error`, `status` as a string, `scimType`),
//! not problem+json: [`scim_error_of`] is the one mapping, used by [`ScimError`] (what the
//! operations declare) and by the gateway's error middleware for everything else on these
//! paths (unknown routes, a refused credential, a body that does not parse).
//!
//! [`discovery`] serves the documents a SCIM client starts from, [`users`] and [`groups`] the
//! resources, [`search`] the search at the root; this module holds what they share: the
//! `application/scim+json` payloads (a projected one for `attributes`/`excludedAttributes`),
//! the error mapping, ETags, paging, and the PatchOp and SearchRequest bodies.

mod discovery;
mod groups;
mod search;
mod users;

use crate::problem::{ApiError, Problem};
use chrono::{DateTime, Utc};
use hub_identity::scim::{PatchOperation, Projection};
use poem::http::StatusCode;
use poem::{IntoResponse, Response};
use poem_openapi::payload::Payload;
use poem_openapi::registry::{MetaSchemaRef, Registry};
use poem_openapi::types::{Example, ToJSON, Type};
use poem_openapi::{ApiResponse, Object};

use hub_identity::scim::discovery::BASE_PATH;

/// Every SCIM operation, in one API group for the app's composition.
pub type ScimApi = (
    discovery::ScimDiscoveryApi,
    users::ScimUsersApi,
    groups::ScimGroupsApi,
    search::ScimSearchApi,
);

pub const SCIM_CONTENT_TYPE: &str = "application/scim+json";
const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const SEARCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct ScimMeta {
    pub resource_type: String,
    pub created: DateTime<Utc>,
    pub last_modified: DateTime<Utc>,
    pub location: String,
    pub version: String,
}

/// A member of a group, or a group of a user.
#[derive(Debug, Clone, Object)]
pub struct ScimReference {
    /// The id of the user (in a group) or of the group (in a user).
    pub value: String,
    /// Where the user (in a group) or the group (in a user) is served.
    #[oai(rename = "$ref", skip_serializing_if_is_none)]
    pub reference: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub display: Option<String>,
}

/// One PATCH operation: `add`, `replace` or `remove`, an optional `path` and a `value`.
#[derive(Debug, Clone, Object)]
pub struct ScimPatchOperation {
    pub op: String,
    pub path: Option<String>,
    pub value: Option<serde_json::Value>,
}

/// RFC 7644 PatchOp.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct ScimPatch {
    pub schemas: Option<Vec<String>>,
    #[oai(rename = "Operations")]
    pub operations: Vec<ScimPatchOperation>,
}

impl Example for ScimPatch {
    fn example() -> Self {
        Self {
            schemas: Some(vec![PATCH_SCHEMA.into()]),
            operations: vec![ScimPatchOperation {
                op: "replace".into(),
                path: Some("active".into()),
                value: Some(serde_json::Value::Bool(false)),
            }],
        }
    }
}

/// A body served as `application/scim+json` (RFC 7644 §3.1).
#[derive(Debug)]
pub struct ScimJson<T>(pub T);

impl<T: Type + ToJSON + Send> Payload for ScimJson<T> {
    const CONTENT_TYPE: &'static str = SCIM_CONTENT_TYPE;

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

/// A resource or ListResponse served as `application/scim+json` with only the attributes the
/// request selected (`attributes`/`excludedAttributes`, [`Projection`]). Its schema is the
/// resource's, whose attributes are optional for that reason (only `id` and `schemas` are
/// always present).
#[derive(Debug)]
pub struct Projected<T>(pub T, pub Projection);

impl<T: Type + ToJSON + Send> Payload for Projected<T> {
    const CONTENT_TYPE: &'static str = SCIM_CONTENT_TYPE;

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Type + ToJSON + Send> IntoResponse for Projected<T> {
    fn into_response(self) -> Response {
        let mut body = self.0.to_json().unwrap_or_default();
        if body.get("Resources").is_some() {
            self.1.apply_to_list(&mut body);
        } else {
            self.1.apply(&mut body);
        }
        Response::builder()
            .content_type(SCIM_CONTENT_TYPE)
            .body(body.to_string())
    }
}

/// RFC 7644 §3.4.3 `POST /.search`: a query in the body instead of the URL.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", example, skip_serializing_if_is_none)]
pub struct ScimSearchRequest {
    pub schemas: Option<Vec<String>>,
    /// The attributes to return instead of the default set.
    pub attributes: Option<Vec<String>>,
    /// Attributes to leave out of the default set.
    pub excluded_attributes: Option<Vec<String>>,
    /// As the `filter` query parameter.
    pub filter: Option<String>,
    /// 1-based; default 1.
    pub start_index: Option<u64>,
    /// Default 100, at most the `maxResults` of `/ServiceProviderConfig`.
    pub count: Option<u64>,
}

impl Example for ScimSearchRequest {
    fn example() -> Self {
        Self {
            schemas: Some(vec![SEARCH_SCHEMA.into()]),
            attributes: None,
            excluded_attributes: Some(vec!["meta".into()]),
            filter: None,
            start_index: Some(1),
            count: Some(10),
        }
    }
}

/// `startIndex` and `count` as RFC 7644 §3.4.2.4 reads them: a start below 1 is 1, a count
/// above `maxResults` is `maxResults`.
pub(super) fn page_of(start_index: Option<u64>, count: Option<u64>) -> (u64, u64) {
    (
        start_index.unwrap_or(1).max(1),
        count.unwrap_or(100).min(hub_identity::scim::MAX_COUNT),
    )
}

impl<T: Type + ToJSON + Send> IntoResponse for ScimJson<T> {
    fn into_response(self) -> Response {
        let body = self.0.to_json().map(|v| v.to_string()).unwrap_or_default();
        Response::builder()
            .content_type(SCIM_CONTENT_TYPE)
            .body(body)
    }
}

/// RFC 7644 §3.12 error response.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct ScimErrorBody {
    pub schemas: Vec<String>,
    /// The HTTP status code, as a string.
    pub status: String,
    /// RFC 7644's error keyword (`invalidFilter`, `invalidValue`, `uniqueness`, …).
    #[oai(skip_serializing_if_is_none)]
    pub scim_type: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub detail: Option<String>,
}

/// The one mapping from this API's problems to SCIM errors. RFC 7644 answers every refused
/// value with 400 and a `scimType`, so a validation failure (422 elsewhere) is a 400
/// `invalidValue` here, and a body that does not parse is `invalidSyntax`.
pub fn scim_error_of(problem: &Problem) -> (StatusCode, ScimErrorBody) {
    let scim_type = match problem.code.as_str() {
        "scim_invalid_filter" => Some("invalidFilter"),
        "scim_invalid_path" => Some("invalidPath"),
        "scim_uniqueness" => Some("uniqueness"),
        "scim_invalid_value" | "validation_failed" | "invalid_text" | "invalid_input" => {
            Some("invalidValue")
        }
        "bad_request" | "invalid_json" => Some("invalidSyntax"),
        _ if problem.status == 422 => Some("invalidValue"),
        _ => None,
    };
    let status = if problem.status == 422 {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    };
    let detail = match (&problem.detail, &problem.errors) {
        (Some(detail), Some(errors)) => Some(format!(
            "{detail}: {}",
            errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; ")
        )),
        (detail, _) => detail.clone(),
    };
    (
        status,
        ScimErrorBody {
            schemas: vec![ERROR_SCHEMA.into()],
            status: status.as_u16().to_string(),
            scim_type: scim_type.map(str::to_string),
            detail,
        },
    )
}

/// Whether a request path is served by SCIM, so its errors take SCIM's schema.
pub fn is_scim_path(path: &str) -> bool {
    path == BASE_PATH || path.starts_with(&format!("{BASE_PATH}/"))
}

/// A problem as a SCIM error response; `headers` (e.g. `Retry-After`) are kept.
pub fn scim_error_response(problem: &Problem) -> Response {
    let (status, body) = scim_error_of(problem);
    let mut response = ScimJson(body).into_response();
    response.set_status(status);
    response
}

/// Every error a SCIM operation answers with, in SCIM's error schema. The finished spec
/// (`crate::spec::finish`) keeps on each operation only the statuses it can answer; a
/// validation failure is a 400 `invalidValue` here (RFC 7644 §3.12), never a 422.
#[derive(Debug, ApiResponse)]
pub enum ScimError {
    /// A refused filter, path, value or syntax; `scimType` says which.
    #[oai(status = 400)]
    BadRequest(ScimJson<ScimErrorBody>),
    /// The credential is missing, malformed, unknown or revoked.
    #[oai(status = 401)]
    Unauthorized(ScimJson<ScimErrorBody>),
    /// The credential lacks `scim:provision`, or the institution is suspended.
    #[oai(status = 403)]
    Forbidden(ScimJson<ScimErrorBody>),
    /// No such resource (a deleted user included).
    #[oai(status = 404)]
    NotFound(ScimJson<ScimErrorBody>),
    /// `userName` or `displayName` is taken (`scimType: uniqueness`).
    #[oai(status = 409)]
    Conflict(ScimJson<ScimErrorBody>),
    /// `If-Match` does not name the current `meta.version`.
    #[oai(status = 412)]
    PreconditionFailed(ScimJson<ScimErrorBody>),
    /// The request body is larger than the configured limit.
    #[oai(status = 413)]
    PayloadTooLarge(ScimJson<ScimErrorBody>),
    /// The request body is neither `application/scim+json` nor `application/json`.
    #[oai(status = 415)]
    UnsupportedMediaType(ScimJson<ScimErrorBody>),
    /// Too many requests; retry after the number of seconds in `Retry-After`.
    #[oai(status = 429)]
    TooManyRequests(
        ScimJson<ScimErrorBody>,
        /// Seconds to wait before retrying.
        #[oai(header = "Retry-After")]
        u64,
        /// Requests allowed per window in the budget that was exhausted (per API key or
        /// per client IP).
        #[oai(header = "RateLimit-Limit")]
        u64,
        /// Requests left in the current window: 0.
        #[oai(header = "RateLimit-Remaining")]
        u64,
        /// Seconds until the window resets.
        #[oai(header = "RateLimit-Reset")]
        u64,
    ),
    /// An unexpected fault.
    #[oai(status = 500)]
    Internal(ScimJson<ScimErrorBody>),
    /// A dependency is unavailable; retry after the number of seconds in `Retry-After`.
    #[oai(status = 503)]
    Unavailable(
        ScimJson<ScimErrorBody>,
        #[oai(header = "Retry-After")] Option<u64>,
    ),
}

impl From<ApiError> for ScimError {
    fn from(error: ApiError) -> Self {
        let (problem, limited, retry_after) = match error {
            ApiError::TooManyRequests(p, retry, limit, remaining, reset) => {
                (p.0, Some((retry, limit, remaining, reset)), None)
            }
            ApiError::Unavailable(p, retry) => (p.0, None, retry),
            ApiError::BadRequest(p)
            | ApiError::Unauthorized(p)
            | ApiError::Forbidden(p)
            | ApiError::NotFound(p)
            | ApiError::MethodNotAllowed(p)
            | ApiError::Conflict(p)
            | ApiError::PreconditionFailed(p)
            | ApiError::PayloadTooLarge(p)
            | ApiError::UnsupportedMediaType(p)
            | ApiError::Unprocessable(p)
            | ApiError::PreconditionRequired(p)
            | ApiError::Internal(p) => (p.0, None, None),
        };
        let (status, body) = scim_error_of(&problem);
        let body = ScimJson(body);
        match status.as_u16() {
            400 => Self::BadRequest(body),
            401 => Self::Unauthorized(body),
            403 => Self::Forbidden(body),
            404 => Self::NotFound(body),
            409 => Self::Conflict(body),
            412 => Self::PreconditionFailed(body),
            413 => Self::PayloadTooLarge(body),
            415 => Self::UnsupportedMediaType(body),
            429 => {
                let (retry, limit, remaining, reset) = limited.unwrap_or((1, 0, 0, 1));
                Self::TooManyRequests(body, retry, limit, remaining, reset)
            }
            503 => Self::Unavailable(
                body,
                retry_after.or(Some(crate::problem::RETRY_AFTER_UNAVAILABLE_SECS)),
            ),
            _ => Self::Internal(body),
        }
    }
}

impl From<hub_identity::IdentityError> for ScimError {
    fn from(e: hub_identity::IdentityError) -> Self {
        ApiError::from(e).into()
    }
}

impl From<sea_orm::DbErr> for ScimError {
    fn from(e: sea_orm::DbErr) -> Self {
        ApiError::from(e).into()
    }
}

impl From<hub_tenant::TenantError> for ScimError {
    fn from(e: hub_tenant::TenantError) -> Self {
        ApiError::from(e).into()
    }
}

/// `meta.version` and the `ETag` header: a weak tag of the revision.
pub(super) fn etag(revision: i32) -> String {
    format!("W/\"{revision}\"")
}

/// The revision an `If-Match` names (`W/"3"` or `"3"`); `*` or no header names none.
pub(super) fn expected_revision(if_match: Option<&str>) -> Result<Option<i32>, ScimError> {
    let Some(value) = if_match.map(str::trim) else {
        return Ok(None);
    };
    if value == "*" {
        return Ok(None);
    }
    value
        .trim_start_matches("W/")
        .trim_matches('"')
        .parse::<i32>()
        .map(Some)
        .map_err(|_| {
            ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                "revision_mismatch",
                "If-Match does not name a version of this resource",
            )
            .into()
        })
}

pub(super) fn not_modified(if_none_match: Option<&str>, version: &str) -> bool {
    if_none_match.is_some_and(|v| v.split(',').any(|t| t.trim() == version || t.trim() == "*"))
}

#[derive(ApiResponse)]
pub enum ScimDeleted {
    #[oai(status = 204)]
    NoContent,
}

pub(super) fn operations(patch: ScimPatch) -> Vec<PatchOperation> {
    patch
        .operations
        .into_iter()
        .map(|o| PatchOperation {
            op: o.op,
            path: o.path,
            value: o.value,
        })
        .collect()
}
