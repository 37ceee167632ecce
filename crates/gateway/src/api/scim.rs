//! `/v1/scim/v2/…`: SCIM 2.0 (RFC 7643/7644) Users and Groups for the institution's IdP to
//! push provisioning. Give the IdP an API key with only the `scim:provision` scope.
//!
//! Bodies are accepted as `application/scim+json` or `application/json`; answers are
//! `application/scim+json`. Errors under `/v1/scim/v2` are SCIM's own error schema (RFC 7644
//! §3.12: `urn:ietf:params:scim:api:messages:2.0:Error`, `status` as a string, `scimType`),
//! not problem+json: [`scim_error_of`] is the one mapping, used by [`ScimError`] (what the
//! operations declare) and by the gateway's error middleware for everything else on these
//! paths (unknown routes, a refused credential, a body that does not parse).

use crate::api::ApiTags;
use crate::auth::TenantCredential;
use crate::problem::{ApiError, Problem};
use crate::state::AppState;
use chrono::{DateTime, Utc};
use hub_identity::people::{Person, PersonStatus};
use hub_identity::scim::{self, PatchOperation, ScimGroup, ScimUser};
use poem::http::StatusCode;
use poem::web::Data;
use poem::{IntoResponse, Response};
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::{Json, Payload};
use poem_openapi::registry::{MetaSchemaRef, Registry};
use poem_openapi::types::{Example, ToJSON, Type};
use poem_openapi::{ApiResponse, Object, OpenApi};
use std::sync::Arc;
use uuid::Uuid;

use hub_identity::scim::discovery::{self, BASE_PATH, GROUP_SCHEMA, USER_SCHEMA};

pub const SCIM_CONTENT_TYPE: &str = "application/scim+json";
const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct ScimName {
    #[oai(skip_serializing_if_is_none)]
    pub formatted: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub given_name: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub family_name: Option<String>,
}

/// One value of a multi-valued attribute (`emails`, `phoneNumbers`).
#[derive(Debug, Clone, Object)]
pub struct ScimMultiValue {
    pub value: String,
    #[oai(rename = "type", skip_serializing_if_is_none)]
    pub kind: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub primary: Option<bool>,
}

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

/// A user as SCIM shows it.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct ScimUserResource {
    pub schemas: Vec<String>,
    pub id: Uuid,
    pub user_name: String,
    /// The person's one stored name (`name` is accepted on input and folded into it).
    pub display_name: String,
    pub emails: Vec<ScimMultiValue>,
    pub phone_numbers: Vec<ScimMultiValue>,
    pub active: bool,
    pub groups: Vec<ScimReference>,
    pub meta: ScimMeta,
}

/// A user the IdP creates (POST) or replaces (PUT). Unknown attributes (extensions) are
/// ignored; `name.givenName`/`familyName` are joined into the one stored name.
#[derive(Debug, Clone, Object)]
// Absent optional fields are left out of the example: they are not nullable.
#[oai(rename_all = "camelCase", example, skip_serializing_if_is_none)]
pub struct ScimUserCreate {
    pub schemas: Option<Vec<String>>,
    /// Unique in the institution; the person's username.
    pub user_name: String,
    pub name: Option<ScimName>,
    pub display_name: Option<String>,
    pub emails: Option<Vec<ScimMultiValue>>,
    pub phone_numbers: Option<Vec<ScimMultiValue>>,
    /// Default true.
    pub active: Option<bool>,
    /// The IdP's own id for the user; accepted, not stored.
    pub external_id: Option<String>,
}

impl Example for ScimUserCreate {
    fn example() -> Self {
        Self {
            schemas: Some(vec![USER_SCHEMA.into()]),
            user_name: "ada.lovelace@northfield.example".into(),
            name: Some(ScimName {
                formatted: None,
                given_name: Some("Ada".into()),
                family_name: Some("Lovelace".into()),
            }),
            display_name: None,
            emails: Some(vec![ScimMultiValue {
                value: "ada.lovelace@northfield.example".into(),
                kind: Some("work".into()),
                primary: Some(true),
            }]),
            phone_numbers: None,
            active: Some(true),
            external_id: Some("00u1abcd".into()),
        }
    }
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

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct ScimUserList {
    pub schemas: Vec<String>,
    pub total_results: u64,
    pub start_index: u64,
    pub items_per_page: u64,
    #[oai(rename = "Resources")]
    pub resources: Vec<ScimUserResource>,
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct ScimGroupResource {
    pub schemas: Vec<String>,
    pub id: Uuid,
    pub display_name: String,
    pub members: Vec<ScimReference>,
    pub meta: ScimMeta,
}

/// A group the IdP creates. A `displayName` that is a role name grants that role.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct ScimGroupCreate {
    pub schemas: Option<Vec<String>>,
    pub display_name: String,
    #[oai(default)]
    pub members: Vec<serde_json::Value>,
}

impl Example for ScimGroupCreate {
    fn example() -> Self {
        Self {
            schemas: Some(vec![GROUP_SCHEMA.into()]),
            display_name: "instructor".into(),
            members: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct ScimGroupList {
    pub schemas: Vec<String>,
    pub total_results: u64,
    pub start_index: u64,
    pub items_per_page: u64,
    #[oai(rename = "Resources")]
    pub resources: Vec<ScimGroupResource>,
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
fn etag(revision: i32) -> String {
    format!("W/\"{revision}\"")
}

/// The revision an `If-Match` names (`W/"3"` or `"3"`); `*` or no header names none.
fn expected_revision(if_match: Option<&str>) -> Result<Option<i32>, ScimError> {
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

fn not_modified(if_none_match: Option<&str>, version: &str) -> bool {
    if_none_match.is_some_and(|v| v.split(',').any(|t| t.trim() == version || t.trim() == "*"))
}

#[derive(ApiResponse)]
pub enum ScimUserCreated {
    #[oai(status = 201)]
    Created(
        ScimJson<ScimUserResource>,
        #[oai(header = "Location")] String,
        #[oai(header = "ETag")] String,
    ),
}

// An answer is built once and moved to the wire; boxing the resource would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(ApiResponse)]
pub enum ScimUserFound {
    #[oai(status = 200)]
    Ok(ScimJson<ScimUserResource>, #[oai(header = "ETag")] String),
    /// `If-None-Match` names the current version.
    #[oai(status = 304)]
    NotModified(#[oai(header = "ETag")] String),
}

impl ScimUserFound {
    fn of(resource: ScimUserResource, if_none_match: Option<&str>) -> Self {
        let version = resource.meta.version.clone();
        if not_modified(if_none_match, &version) {
            Self::NotModified(version)
        } else {
            Self::Ok(ScimJson(resource), version)
        }
    }
}

#[derive(ApiResponse)]
pub enum ScimUsersListed {
    #[oai(status = 200)]
    Ok(ScimJson<ScimUserList>),
}

#[derive(ApiResponse)]
pub enum ScimGroupCreated {
    #[oai(status = 201)]
    Created(
        ScimJson<ScimGroupResource>,
        #[oai(header = "Location")] String,
        #[oai(header = "ETag")] String,
    ),
}

#[derive(ApiResponse)]
pub enum ScimGroupFound {
    #[oai(status = 200)]
    Ok(ScimJson<ScimGroupResource>, #[oai(header = "ETag")] String),
    /// `If-None-Match` names the current version.
    #[oai(status = 304)]
    NotModified(#[oai(header = "ETag")] String),
}

impl ScimGroupFound {
    fn of(resource: ScimGroupResource, if_none_match: Option<&str>) -> Self {
        let version = resource.meta.version.clone();
        if not_modified(if_none_match, &version) {
            Self::NotModified(version)
        } else {
            Self::Ok(ScimJson(resource), version)
        }
    }
}

#[derive(ApiResponse)]
pub enum ScimGroupsListed {
    #[oai(status = 200)]
    Ok(ScimJson<ScimGroupList>),
}

#[derive(ApiResponse)]
pub enum ScimDeleted {
    #[oai(status = 204)]
    NoContent,
}

/// A discovery document or list (RFC 7644 §4), as JSON.
#[derive(ApiResponse)]
pub enum ScimDiscovery {
    #[oai(status = 200)]
    Ok(ScimJson<serde_json::Value>),
}

fn discovery_list(resources: Vec<serde_json::Value>) -> ScimDiscovery {
    ScimDiscovery::Ok(ScimJson(serde_json::json!({
        "schemas": [LIST_SCHEMA],
        "totalResults": resources.len(),
        "startIndex": 1,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })))
}

fn user_resource(person: Person, groups: Vec<(Uuid, String)>) -> ScimUserResource {
    let user = ScimUser::of(&person);
    ScimUserResource {
        schemas: vec![USER_SCHEMA.into()],
        id: person.id,
        user_name: user.user_name,
        display_name: person.name.expose().clone(),
        emails: user
            .email
            .map(|value| ScimMultiValue {
                value,
                kind: None,
                primary: Some(true),
            })
            .into_iter()
            .collect(),
        phone_numbers: user
            .phone
            .map(|value| ScimMultiValue {
                value,
                kind: None,
                primary: Some(true),
            })
            .into_iter()
            .collect(),
        active: person.status == PersonStatus::Active,
        groups: groups
            .into_iter()
            .map(|(id, name)| ScimReference {
                value: id.to_string(),
                reference: Some(format!("{BASE_PATH}/Groups/{id}")),
                display: Some(name),
            })
            .collect(),
        meta: ScimMeta {
            resource_type: "User".into(),
            created: person.created_at,
            last_modified: person.updated_at,
            location: format!("{BASE_PATH}/Users/{}", person.id),
            version: etag(person.revision),
        },
    }
}

fn group_resource(group: ScimGroup) -> ScimGroupResource {
    ScimGroupResource {
        schemas: vec![GROUP_SCHEMA.into()],
        id: group.id,
        display_name: group.display_name,
        members: group
            .members
            .into_iter()
            .map(|m| ScimReference {
                value: m.to_string(),
                reference: Some(format!("{BASE_PATH}/Users/{m}")),
                display: None,
            })
            .collect(),
        meta: ScimMeta {
            resource_type: "Group".into(),
            created: group.created_at,
            last_modified: group.updated_at,
            location: format!("{BASE_PATH}/Groups/{}", group.id),
            version: etag(group.revision),
        },
    }
}

fn operations(patch: ScimPatch) -> Vec<PatchOperation> {
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

fn first(values: Option<Vec<ScimMultiValue>>) -> Option<String> {
    let values = values?;
    values
        .iter()
        .find(|v| v.primary == Some(true))
        .or(values.first())
        .map(|v| v.value.clone())
}

async fn end_sessions(state: &AppState, tenant_id: Uuid, people: &[Uuid]) -> Result<(), ApiError> {
    for person in people {
        state
            .identity
            .sessions
            .revoke_all(tenant_id, *person)
            .await?;
    }
    Ok(())
}

fn scim_user(input: ScimUserCreate) -> (ScimUser, Option<bool>) {
    let name = input.name.unwrap_or(ScimName {
        formatted: None,
        given_name: None,
        family_name: None,
    });
    let user = ScimUser {
        user_name: input.user_name,
        formatted_name: name.formatted,
        given_name: name.given_name,
        family_name: name.family_name,
        display_name: input.display_name,
        email: first(input.emails),
        phone: first(input.phone_numbers),
        active: input.active.unwrap_or(true),
    };
    (user, input.active)
}

#[derive(Default)]
pub struct ScimApi;

#[OpenApi(prefix_path = "/v1/scim/v2", tag = "ApiTags::Scim")]
impl ScimApi {
    /// SCIM: service provider configuration
    ///
    /// Requires scope `scim:provision`. RFC 7644 §4: what this service supports (filter
    /// with its `maxResults`, PATCH, ETags) and does not (bulk, sort, changePassword).
    #[oai(
        path = "/ServiceProviderConfig",
        method = "get",
        operation_id = "scimServiceProviderConfig"
    )]
    async fn scim_service_provider_config(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
    ) -> Result<ScimDiscovery, ScimError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let config = discovery::service_provider_config(&scope)?;
        scope.commit().await?;
        Ok(ScimDiscovery::Ok(ScimJson(config)))
    }

    /// SCIM: list resource types
    ///
    /// Requires scope `scim:provision`. `User` and `Group`.
    #[oai(
        path = "/ResourceTypes",
        method = "get",
        operation_id = "scimListResourceTypes"
    )]
    async fn scim_list_resource_types(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
    ) -> Result<ScimDiscovery, ScimError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let types = discovery::resource_types(&scope)?;
        scope.commit().await?;
        Ok(discovery_list(types))
    }

    /// SCIM: get a resource type
    ///
    /// Requires scope `scim:provision`.
    #[oai(
        path = "/ResourceTypes/:name",
        method = "get",
        operation_id = "scimGetResourceType"
    )]
    async fn scim_get_resource_type(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        name: Path<String>,
    ) -> Result<ScimDiscovery, ScimError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let found = discovery::find(discovery::resource_types(&scope)?, &name.0, "resource type")?;
        scope.commit().await?;
        Ok(ScimDiscovery::Ok(ScimJson(found)))
    }

    /// SCIM: list schemas
    ///
    /// Requires scope `scim:provision`. The User and Group schemas, with exactly the
    /// attributes this service stores.
    #[oai(path = "/Schemas", method = "get", operation_id = "scimListSchemas")]
    async fn scim_list_schemas(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
    ) -> Result<ScimDiscovery, ScimError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let schemas = discovery::schemas(&scope)?;
        scope.commit().await?;
        Ok(discovery_list(schemas))
    }

    /// SCIM: get a schema
    ///
    /// Requires scope `scim:provision`. By its URN.
    #[oai(path = "/Schemas/:urn", method = "get", operation_id = "scimGetSchema")]
    async fn scim_get_schema(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        urn: Path<String>,
    ) -> Result<ScimDiscovery, ScimError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let found = discovery::find(discovery::schemas(&scope)?, &urn.0, "schema")?;
        scope.commit().await?;
        Ok(ScimDiscovery::Ok(ScimJson(found)))
    }

    /// SCIM: create a user
    ///
    /// Requires scope `scim:provision`. `userName` must be unique in the institution.
    #[oai(path = "/Users", method = "post", operation_id = "scimCreateUser")]
    async fn scim_create_user(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        body: Json<ScimUserCreate>,
    ) -> Result<ScimUserCreated, ScimError> {
        let (user, _) = scim_user(body.0);
        let scope = state.tenancy.scope(&auth.0).await?;
        let person = scim::create_user(&scope, user).await?;
        scope.commit().await?;
        let resource = user_resource(person, Vec::new());
        let (location, version) = (
            resource.meta.location.clone(),
            resource.meta.version.clone(),
        );
        Ok(ScimUserCreated::Created(
            ScimJson(resource),
            location,
            version,
        ))
    }

    /// SCIM: list users
    ///
    /// Requires scope `scim:provision`. `filter` supports `userName eq "…"`; `startIndex`
    /// is 1-based; `count` at most 200. Deleted users are not listed.
    ///
    /// Returns other people's personal data: every call is recorded in the audit trail.
    #[oai(path = "/Users", method = "get", operation_id = "scimListUsers")]
    async fn scim_list_users(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        filter: Query<Option<String>>,
        #[oai(name = "startIndex")] start_index: Query<Option<u64>>,
        count: Query<Option<u64>>,
    ) -> Result<ScimUsersListed, ScimError> {
        let start = start_index.0.unwrap_or(1).max(1);
        let count = count.0.unwrap_or(100).min(scim::MAX_COUNT);
        let scope = state.tenancy.scope(&auth.0).await?;
        let (total, found) = scim::list_users(&scope, filter.0.as_deref(), start, count).await?;
        let mut resources = Vec::new();
        for person in found {
            let groups = scim::groups_of(&scope, person.id).await?;
            resources.push(user_resource(person, groups));
        }
        scope.commit().await?;
        Ok(ScimUsersListed::Ok(ScimJson(ScimUserList {
            schemas: vec![LIST_SCHEMA.into()],
            total_results: total,
            start_index: start,
            items_per_page: resources.len() as u64,
            resources,
        })))
    }

    /// SCIM: get a user
    ///
    /// Requires scope `scim:provision`. A deleted user is 404. With `If-None-Match` naming
    /// the current `meta.version`, 304.
    ///
    /// Returns other people's personal data: every call is recorded in the audit trail.
    #[oai(path = "/Users/:user_id", method = "get", operation_id = "scimGetUser")]
    async fn scim_get_user(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        user_id: Path<Uuid>,
        #[oai(name = "If-None-Match")] if_none_match: Header<Option<String>>,
    ) -> Result<ScimUserFound, ScimError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let person = scim::get_user(&scope, user_id.0).await?;
        let groups = scim::groups_of(&scope, person.id).await?;
        scope.commit().await?;
        Ok(ScimUserFound::of(
            user_resource(person, groups),
            if_none_match.0.as_deref(),
        ))
    }

    /// SCIM: replace a user
    ///
    /// Requires scope `scim:provision`. RFC 7644 §3.5.1: every writable attribute is
    /// replaced; one left out is cleared (`active` left out keeps its value). `If-Match`
    /// with a `meta.version` refuses the change (412) if the user changed since. `active:
    /// false` deactivates the person and ends their sessions at once.
    #[oai(
        path = "/Users/:user_id",
        method = "put",
        operation_id = "scimReplaceUser"
    )]
    async fn scim_replace_user(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        user_id: Path<Uuid>,
        #[oai(name = "If-Match")] if_match: Header<Option<String>>,
        body: Json<ScimUserCreate>,
    ) -> Result<ScimUserFound, ScimError> {
        let expected = expected_revision(if_match.0.as_deref())?;
        let (user, active) = scim_user(body.0);
        let scope = state.tenancy.scope(&auth.0).await?;
        let change = scim::replace_user(&scope, user_id.0, user, active, expected).await?;
        let groups = scim::groups_of(&scope, change.person.id).await?;
        scope.commit().await?;
        if change.end_sessions {
            end_sessions(&state, auth.0.tenant_id(), &[change.person.id]).await?;
        }
        Ok(ScimUserFound::of(
            user_resource(change.person, groups),
            None,
        ))
    }

    /// SCIM: change a user
    ///
    /// Requires scope `scim:provision`. PatchOp with `add`/`replace`/`remove` on `active`,
    /// `userName`, `displayName`, `name`, `name.*`, `emails`, `phoneNumbers`. `If-Match`
    /// with a `meta.version` refuses the change (412) if the user changed since. `active:
    /// false` deactivates the person and ends their sessions at once.
    #[oai(
        path = "/Users/:user_id",
        method = "patch",
        operation_id = "scimPatchUser"
    )]
    async fn scim_patch_user(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        user_id: Path<Uuid>,
        #[oai(name = "If-Match")] if_match: Header<Option<String>>,
        body: Json<ScimPatch>,
    ) -> Result<ScimUserFound, ScimError> {
        let expected = expected_revision(if_match.0.as_deref())?;
        let ops = operations(body.0);
        let scope = state.tenancy.scope(&auth.0).await?;
        let change = scim::patch_user(&scope, user_id.0, &ops, expected).await?;
        let groups = scim::groups_of(&scope, change.person.id).await?;
        scope.commit().await?;
        if change.end_sessions {
            end_sessions(&state, auth.0.tenant_id(), &[change.person.id]).await?;
        }
        Ok(ScimUserFound::of(
            user_resource(change.person, groups),
            None,
        ))
    }

    /// SCIM: delete a user
    ///
    /// Requires scope `scim:provision`. Deprovisions the person: deactivated, removed from
    /// every group (their roles fall back to learner), their sessions ended; SCIM answers
    /// 404 for them afterwards. The person record stays for the audit trail.
    #[oai(
        path = "/Users/:user_id",
        method = "delete",
        operation_id = "scimDeleteUser"
    )]
    async fn scim_delete_user(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        user_id: Path<Uuid>,
        #[oai(name = "If-Match")] if_match: Header<Option<String>>,
    ) -> Result<ScimDeleted, ScimError> {
        let expected = expected_revision(if_match.0.as_deref())?;
        let scope = state.tenancy.scope(&auth.0).await?;
        let change = scim::delete_user(&scope, user_id.0, expected).await?;
        scope.commit().await?;
        if change.end_sessions {
            end_sessions(&state, auth.0.tenant_id(), &[change.person.id]).await?;
        }
        Ok(ScimDeleted::NoContent)
    }

    /// SCIM: create a group
    ///
    /// Requires scope `scim:provision`. A `displayName` that is a role name (`instructor`,
    /// `tenant_admin`, …) grants that role to members provisioned through SCIM.
    #[oai(path = "/Groups", method = "post", operation_id = "scimCreateGroup")]
    async fn scim_create_group(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        body: Json<ScimGroupCreate>,
    ) -> Result<ScimGroupCreated, ScimError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let change = scim::create_group(&scope, &body.0.display_name, &body.0.members).await?;
        scope.commit().await?;
        end_sessions(&state, auth.0.tenant_id(), &change.roles_changed_for).await?;
        let resource = group_resource(change.group);
        let (location, version) = (
            resource.meta.location.clone(),
            resource.meta.version.clone(),
        );
        Ok(ScimGroupCreated::Created(
            ScimJson(resource),
            location,
            version,
        ))
    }

    /// SCIM: list groups
    ///
    /// Requires scope `scim:provision`. `filter` supports `displayName eq "…"`.
    #[oai(path = "/Groups", method = "get", operation_id = "scimListGroups")]
    async fn scim_list_groups(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        filter: Query<Option<String>>,
        #[oai(name = "startIndex")] start_index: Query<Option<u64>>,
        count: Query<Option<u64>>,
    ) -> Result<ScimGroupsListed, ScimError> {
        let start = start_index.0.unwrap_or(1).max(1);
        let count = count.0.unwrap_or(100).min(scim::MAX_COUNT);
        let scope = state.tenancy.scope(&auth.0).await?;
        let (total, groups) = scim::list_groups(&scope, filter.0.as_deref(), start, count).await?;
        scope.commit().await?;
        let resources: Vec<ScimGroupResource> = groups.into_iter().map(group_resource).collect();
        Ok(ScimGroupsListed::Ok(ScimJson(ScimGroupList {
            schemas: vec![LIST_SCHEMA.into()],
            total_results: total,
            start_index: start,
            items_per_page: resources.len() as u64,
            resources,
        })))
    }

    /// SCIM: get a group
    ///
    /// Requires scope `scim:provision`. With `If-None-Match` naming the current
    /// `meta.version`, 304.
    #[oai(
        path = "/Groups/:group_id",
        method = "get",
        operation_id = "scimGetGroup"
    )]
    async fn scim_get_group(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        group_id: Path<Uuid>,
        #[oai(name = "If-None-Match")] if_none_match: Header<Option<String>>,
    ) -> Result<ScimGroupFound, ScimError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let group = scim::get_group(&scope, group_id.0).await?;
        scope.commit().await?;
        Ok(ScimGroupFound::of(
            group_resource(group),
            if_none_match.0.as_deref(),
        ))
    }

    /// SCIM: change a group
    ///
    /// Requires scope `scim:provision`. `add`/`replace`/`remove` on `members` (or
    /// `members[value eq "<id>"]`) and `replace` on `displayName`. People whose roles change
    /// have their sessions ended.
    #[oai(
        path = "/Groups/:group_id",
        method = "patch",
        operation_id = "scimPatchGroup"
    )]
    async fn scim_patch_group(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        group_id: Path<Uuid>,
        body: Json<ScimPatch>,
    ) -> Result<ScimGroupFound, ScimError> {
        let ops = operations(body.0);
        let scope = state.tenancy.scope(&auth.0).await?;
        let change = scim::patch_group(&scope, group_id.0, &ops).await?;
        scope.commit().await?;
        end_sessions(&state, auth.0.tenant_id(), &change.roles_changed_for).await?;
        Ok(ScimGroupFound::of(group_resource(change.group), None))
    }

    /// SCIM: delete a group
    ///
    /// Requires scope `scim:provision`. Its members lose the role it granted.
    #[oai(
        path = "/Groups/:group_id",
        method = "delete",
        operation_id = "scimDeleteGroup"
    )]
    async fn scim_delete_group(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        group_id: Path<Uuid>,
    ) -> Result<ScimDeleted, ScimError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let changed = scim::delete_group(&scope, group_id.0).await?;
        scope.commit().await?;
        end_sessions(&state, auth.0.tenant_id(), &changed).await?;
        Ok(ScimDeleted::NoContent)
    }
}
