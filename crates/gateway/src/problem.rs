//! Every error leaves the gateway as `application/problem+json` (RFC 9457), with a stable
//! machine `code`. Domain errors arrive through [`DescribeProblem`] and are mapped here, once;
//! errors raised by the HTTP layer itself (unknown route, wrong method, oversized or
//! unparsable body) are rewritten into the same shape by [`ProblemResponses`].

use hub_kernel::{DescribeProblem, FieldViolation, ProblemKind};
use poem::http::{HeaderValue, StatusCode, header};
use poem::{Endpoint, IntoResponse, Middleware, Request, Response};
use poem_openapi::payload::Payload;
use poem_openapi::registry::{MetaSchemaRef, Registry};
use poem_openapi::types::{ToJSON, Type};
use poem_openapi::{ApiResponse, Object};

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// One invalid field.
#[derive(Debug, Clone, Object)]
pub struct ProblemField {
    /// The field, e.g. `title` or `retention.identity.period_days`.
    pub field: String,
    /// Why the value was refused.
    pub message: String,
}

/// An RFC 9457 problem details object.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct Problem {
    /// A URI reference naming the problem type; stable per `code`.
    #[oai(rename = "type")]
    pub kind: String,
    /// Short, human-readable summary of the problem type.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong in this occurrence.
    #[oai(skip_serializing_if_is_none)]
    pub detail: Option<String>,
    /// The request path this problem occurred on.
    #[oai(skip_serializing_if_is_none)]
    pub instance: Option<String>,
    /// Stable machine-readable code, e.g. `course_not_found`.
    pub code: String,
    /// The request id, also in the `X-Request-Id` header and the server logs.
    #[oai(skip_serializing_if_is_none)]
    pub request_id: Option<String>,
    /// Per-field details of a validation failure.
    #[oai(skip_serializing_if_is_none)]
    pub errors: Option<Vec<ProblemField>>,
}

impl poem_openapi::types::Example for Problem {
    fn example() -> Self {
        Problem {
            kind: problem_type("validation_failed"),
            title: "Unprocessable Content".into(),
            status: 422,
            detail: Some("the request has invalid fields".into()),
            instance: None,
            code: "validation_failed".into(),
            request_id: None,
            errors: Some(vec![ProblemField {
                field: "title".into(),
                message: "must not be empty".into(),
            }]),
        }
    }
}

pub fn problem_type(code: &str) -> String {
    format!("/docs/problems#{code}")
}

impl Problem {
    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Self {
        Self {
            kind: problem_type(code),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail: Some(detail.into()),
            instance: None,
            code: code.to_string(),
            request_id: None,
            errors: None,
        }
    }

    pub fn with_violations(mut self, violations: Vec<FieldViolation>) -> Self {
        if !violations.is_empty() {
            self.errors = Some(
                violations
                    .into_iter()
                    .map(|v| ProblemField {
                        field: v.field,
                        message: v.message,
                    })
                    .collect(),
            );
        }
        self
    }
}

/// A JSON payload served as `application/problem+json`.
#[derive(Debug, Clone)]
pub struct ProblemJson(pub Problem);

impl Payload for ProblemJson {
    const CONTENT_TYPE: &'static str = PROBLEM_CONTENT_TYPE;

    fn schema_ref() -> MetaSchemaRef {
        Problem::schema_ref()
    }

    fn register(registry: &mut Registry) {
        Problem::register(registry);
    }
}

impl IntoResponse for ProblemJson {
    fn into_response(self) -> Response {
        let body = self.0.to_json().map(|v| v.to_string()).unwrap_or_default();
        let status =
            StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Response::builder()
            .status(status)
            .content_type(PROBLEM_CONTENT_TYPE)
            .body(body)
    }
}

/// Every error status of the API. Each operation returns this type; the finished spec
/// (crate::spec) lists on each operation only the statuses it can answer with.
#[derive(Debug, ApiResponse)]
pub enum ApiError {
    /// The request could not be parsed: bad JSON, a wrong type, a missing parameter.
    #[oai(status = 400)]
    BadRequest(ProblemJson),
    /// The credential is missing, malformed, unknown or revoked.
    #[oai(status = 401)]
    Unauthorized(ProblemJson),
    /// The credential may not do this, or the institution is suspended.
    #[oai(status = 403)]
    Forbidden(ProblemJson),
    /// No such resource for this credential (another tenant's resources look the same).
    #[oai(status = 404)]
    NotFound(ProblemJson),
    /// The method is not allowed on this path.
    #[oai(status = 405)]
    MethodNotAllowed(ProblemJson),
    /// The request conflicts with the current state (duplicate, reused idempotency key).
    #[oai(status = 409)]
    Conflict(ProblemJson),
    /// `If-Match` did not match the current revision.
    #[oai(status = 412)]
    PreconditionFailed(ProblemJson),
    /// The request body is larger than the configured limit.
    #[oai(status = 413)]
    PayloadTooLarge(ProblemJson),
    /// The request body has an unsupported media type.
    #[oai(status = 415)]
    UnsupportedMediaType(ProblemJson),
    /// A field failed validation; `errors` lists each one.
    #[oai(status = 422)]
    Unprocessable(ProblemJson),
    /// This update needs an `If-Match` header with the revision read.
    #[oai(status = 428)]
    PreconditionRequired(ProblemJson),
    /// Too many requests; retry after the number of seconds in `Retry-After`.
    #[oai(status = 429)]
    TooManyRequests(
        ProblemJson,
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
    /// An unexpected fault; the request id identifies it in the logs.
    #[oai(status = 500)]
    Internal(ProblemJson),
    /// A dependency (the database, Redis, an identity provider) is unavailable for now;
    /// retry after the number of seconds in `Retry-After`.
    #[oai(status = 503)]
    Unavailable(ProblemJson, #[oai(header = "Retry-After")] Option<u64>),
}

impl ApiError {
    pub fn from_problem(problem: Problem) -> Self {
        let p = ProblemJson(problem);
        match p.0.status {
            400 => Self::BadRequest(p),
            401 => Self::Unauthorized(p),
            403 => Self::Forbidden(p),
            404 => Self::NotFound(p),
            405 => Self::MethodNotAllowed(p),
            409 => Self::Conflict(p),
            412 => Self::PreconditionFailed(p),
            413 => Self::PayloadTooLarge(p),
            415 => Self::UnsupportedMediaType(p),
            422 => Self::Unprocessable(p),
            428 => Self::PreconditionRequired(p),
            // A 429 raised elsewhere than the limiter (none is, today) names no budget.
            429 => Self::TooManyRequests(p, 1, 0, 0, 1),
            503 => Self::Unavailable(p, Some(RETRY_AFTER_UNAVAILABLE_SECS)),
            _ => Self::Internal(p),
        }
    }

    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Self {
        Self::from_problem(Problem::new(status, code, detail))
    }

    /// The limiter refused a request: `limit` is the exhausted budget per window.
    pub fn rate_limited(limit: u64, retry_after: u64) -> Self {
        Self::TooManyRequests(
            ProblemJson(Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("too many requests; retry after {retry_after} s"),
            )),
            retry_after,
            limit,
            0,
            retry_after,
        )
    }

    pub fn precondition_required() -> Self {
        Self::new(
            StatusCode::PRECONDITION_REQUIRED,
            "if_match_required",
            "send If-Match with the ETag of the revision you read",
        )
    }
}

fn status_of(kind: ProblemKind) -> StatusCode {
    match kind {
        ProblemKind::Validation => StatusCode::UNPROCESSABLE_ENTITY,
        ProblemKind::BadRequest => StatusCode::BAD_REQUEST,
        ProblemKind::Unauthenticated => StatusCode::UNAUTHORIZED,
        ProblemKind::Forbidden => StatusCode::FORBIDDEN,
        ProblemKind::NotFound => StatusCode::NOT_FOUND,
        ProblemKind::Conflict => StatusCode::CONFLICT,
        ProblemKind::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
        ProblemKind::PreconditionRequired => StatusCode::PRECONDITION_REQUIRED,
        ProblemKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ProblemKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ProblemKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// How long a client should wait before retrying an answer of 503. A database restart or a
/// pool replacing its dead connections takes well under a second; one second is the
/// smallest value `Retry-After` can say.
pub const RETRY_AFTER_UNAVAILABLE_SECS: u64 = 1;

/// The answer for storage being unreachable (the domain crates classify it through
/// `TenantError::storage_unavailable`): 503 with `Retry-After`, never 500. The database's
/// own message stays in the log: it names hosts and internals.
fn storage_unavailable<E: DescribeProblem>(error: &E) -> ApiError {
    tracing::warn!(error = %error, "storage unavailable");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        hub_tenant::TenantError::STORAGE_UNAVAILABLE,
        format!(
            "the database is unavailable for now; retry after {RETRY_AFTER_UNAVAILABLE_SECS} s"
        ),
    )
}

/// The one mapping from domain errors to HTTP. Internal details are logged, never sent.
pub fn from_domain<E: DescribeProblem>(error: &E) -> ApiError {
    if error.code() == hub_tenant::TenantError::STORAGE_UNAVAILABLE {
        return storage_unavailable(error);
    }
    let kind = error.kind();
    let status = status_of(kind);
    let detail = if kind == ProblemKind::Internal {
        tracing::error!(error = %error, code = error.code(), "internal error");
        "an unexpected error occurred; the request id identifies it in our logs".to_string()
    } else if error.code() == "value_not_storable" {
        // The database's own message names columns and encodings: logged, not sent.
        tracing::warn!(error = %error, "the database refused a value from the request");
        "a value in the request cannot be stored (not valid text, too long or out of range)"
            .to_string()
    } else {
        error.to_string()
    };
    ApiError::from_problem(
        Problem::new(status, error.code(), detail).with_violations(error.violations()),
    )
}

/// Every domain crate's error enum describes itself (`DescribeProblem`) and is mapped by
/// [`from_domain`]; this makes `?` do it. Invoked once, in [`crate::modules`], with every
/// crate's error type. (Not a blanket impl over `DescribeProblem`: coherence refuses it
/// beside `From<DbErr>`, which the kernel could one day describe.)
#[macro_export]
macro_rules! map_domain_errors {
    ($($error:ty),+ $(,)?) => {
        $(
            impl From<$error> for $crate::problem::ApiError {
                fn from(e: $error) -> Self {
                    $crate::problem::from_domain(&e)
                }
            }
        )+
    };
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(e: sea_orm::DbErr) -> Self {
        from_domain(&hub_tenant::TenantError::Database(e))
    }
}

/// Rewrites every error response that is not yet problem+json (404 for an unknown route, 405,
/// 413 from the size limit, 400 from a body that does not parse) and stamps the request id
/// and path into every problem.
pub struct ProblemResponses;

impl<E: Endpoint> Middleware<E> for ProblemResponses {
    type Output = ProblemResponsesEndpoint<E>;

    fn transform(&self, ep: E) -> Self::Output {
        ProblemResponsesEndpoint(ep)
    }
}

pub struct ProblemResponsesEndpoint<E>(E);

fn code_for_status(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "bad_request",
        401 => "unauthenticated",
        403 => "forbidden",
        404 => "route_not_found",
        405 => "method_not_allowed",
        406 => "not_acceptable",
        411 => "length_required",
        413 => "payload_too_large",
        415 => "unsupported_media_type",
        429 => "rate_limited",
        503 => "unavailable",
        _ if status.is_server_error() => "internal",
        _ => "request_failed",
    }
}

impl<E: Endpoint> Endpoint for ProblemResponsesEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Self::Output> {
        let path = req.uri().path().to_string();
        let request_id = req
            .data::<crate::middleware::RequestId>()
            .map(|r| r.0.clone());
        let response = match self.0.call(req).await {
            Ok(output) => output.into_response(),
            Err(error) => error.into_response(),
        };
        let status = response.status();
        if !(status.is_client_error() || status.is_server_error()) {
            return Ok(response);
        }
        let scim = crate::api::scim::is_scim_path(&path);
        let is_scim_error = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with(crate::api::scim::SCIM_CONTENT_TYPE));
        if scim && is_scim_error {
            return Ok(response);
        }
        let is_problem = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with(PROBLEM_CONTENT_TYPE));
        let (parts, body) = response.into_parts();
        let text = body.into_string().await.unwrap_or_default();
        let mut problem = if is_problem {
            serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| {
                    <Problem as poem_openapi::types::ParseFromJSON>::parse_from_json(Some(v)).ok()
                })
                .unwrap_or_else(|| Problem::new(status, code_for_status(status), text.clone()))
        } else {
            let detail = if status.is_server_error() {
                tracing::error!(status = status.as_u16(), body = %text, "HTTP layer error");
                "an unexpected error occurred; the request id identifies it in our logs".to_string()
            } else if text.trim().is_empty() {
                status.canonical_reason().unwrap_or("error").to_lowercase()
            } else {
                text
            };
            Problem::new(status, code_for_status(status), detail)
        };
        // A problem never echoes a card number (D4): the input guard refuses a path that holds
        // one, and its answer names the path.
        problem.instance = Some(hub_kernel::pan::redact(&path).into_owned());
        if let Some(detail) = &mut problem.detail
            && let std::borrow::Cow::Owned(redacted) = hub_kernel::pan::redact(detail)
        {
            *detail = redacted;
        }
        problem.request_id = request_id;
        // SCIM clients read SCIM's error schema: one mapping for every error on its paths.
        let (mut rebuilt, content_type) = if scim {
            (
                crate::api::scim::scim_error_response(&problem),
                crate::api::scim::SCIM_CONTENT_TYPE,
            )
        } else {
            (ProblemJson(problem).into_response(), PROBLEM_CONTENT_TYPE)
        };
        for (name, value) in parts.headers.iter() {
            if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
                rebuilt.headers_mut().insert(name.clone(), value.clone());
            }
        }
        rebuilt
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        // Every 503 says when to come back, also one the HTTP layer made itself.
        if status == StatusCode::SERVICE_UNAVAILABLE {
            rebuilt
                .headers_mut()
                .entry(header::RETRY_AFTER)
                .or_insert_with(|| HeaderValue::from(RETRY_AFTER_UNAVAILABLE_SECS));
        }
        Ok(rebuilt)
    }
}
