//! The xAPI 1.0.3 Learning Record Store under `/xapi/` (xAPI-Communication 2.0), and the
//! institution's LRS credentials under `/v1/lrs/credentials`.
//!
//! LRS clients authenticate with HTTP Basic ([`LrsCredential`]): an LRS credential's key as
//! the user name and its secret as the password; the institution comes from the credential.
//! Every request but `/xapi/about` names the xAPI version it speaks in
//! `X-Experience-API-Version` (400 when it is missing or not 1.0.x, Communication 3.3), and
//! every answer under `/xapi/` carries the version this LRS speaks ([`XapiVersionHeader`]).
//! The specification fixes no error format, so errors are this API's problem+json, 400 for
//! a statement breaking a rule, each violation naming the field and the rule's section.
//! A query parameter a resource does not declare is refused too (400, naming it): the
//! specification's resources take only the parameters it lists (Communication 2.0). The
//! alternate request syntax (Communication 1.3) is rewritten into the request it stands for
//! first ([`alternate`]). Statements with attachments come and go as multipart/mixed
//! (Communication 1.5.2, `multipart`).

mod about;
mod alternate;
mod credentials;
mod documents;
mod multipart;
mod statements;

use crate::auth::client_ip;
use crate::limiter::Decision;
use crate::problem::ApiError;
use crate::state::AppState;
use hub_tenant::{Principal, TenantPrincipal};
use poem::http::{HeaderValue, StatusCode};
use poem::{Endpoint, IntoResponse, Middleware, Request, Response};
use poem_openapi::SecurityScheme;
use poem_openapi::auth::Basic;
use std::sync::Arc;

/// Every operation of the LRS and its credentials, one API group.
pub type XapiApi = (
    credentials::LrsCredentialsApi,
    statements::StatementsApi,
    documents::DocumentsApi,
    about::AboutApi,
);

/// The header every LRS request and answer carries (Communication 3.3).
pub const VERSION_HEADER: &str = "X-Experience-API-Version";

/// An LRS credential of the institution, sent as HTTP Basic (xAPI-Communication 4.0): the
/// credential's `key` (`dxh_…`) as the user name, its `secret` as the password. Created by
/// the institution's admin at `/v1/lrs/credentials`.
#[derive(SecurityScheme)]
#[oai(ty = "basic", checker = "check_lrs_credential")]
pub struct LrsCredential(pub TenantPrincipal);

async fn check_lrs_credential(req: &Request, basic: Basic) -> poem::Result<TenantPrincipal> {
    let state = req.data::<Arc<AppState>>().ok_or_else(|| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "application state missing",
        )
    })?;
    let refused = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "an LRS credential is required (HTTP Basic: the key as user name, the secret as password)",
        )
    };
    if !basic.username.starts_with("dxh_") || basic.password.is_empty() {
        return Err(refused().into());
    }
    let token = format!("{}_{}", basic.username, basic.password);
    match state.tenancy.authenticate(&token).await {
        Ok(Principal::Tenant(mut principal)) => {
            principal.client_ip = client_ip(req);
            let bucket = principal.actor.rate_bucket();
            if let Decision::Deny { retry_after_secs } = state
                .limiter
                .check(&bucket, state.config.rate_limit_per_key)
                .await
            {
                return Err(ApiError::rate_limited(
                    state.config.rate_limit_per_key,
                    retry_after_secs,
                )
                .into());
            }
            Ok(principal)
        }
        Ok(Principal::Operator(_)) => Err(refused().into()),
        Err(error) => Err(ApiError::from(error).into()),
    }
}

/// The request's `X-Experience-API-Version`, refused unless it is 1.0.x.
pub(super) fn check_version(version: &str) -> Result<(), ApiError> {
    if hub_course::xapi::validation::is_supported_version(version.trim()) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "xapi_version_unsupported",
            "X-Experience-API-Version must be 1.0.x (xAPI 1.0.3, Communication 3.3)",
        ))
    }
}

/// Whether a path is the LRS's.
pub fn is_xapi_path(path: &str) -> bool {
    path == "/xapi" || path.starts_with("/xapi/")
}

/// The query parameters an LRS resource declares for a method (Communication 2.1–2.7), or
/// `None` when this LRS serves no such resource and method (the router answers).
pub fn declared_parameters(path: &str, method: &str) -> Option<&'static [&'static str]> {
    let method = if method == "HEAD" { "GET" } else { method };
    let declared: &'static [&'static str] = match (path, method) {
        ("/xapi/statements", "PUT") => &["statementId"],
        ("/xapi/statements", "POST") => &[],
        ("/xapi/statements", "GET") => &[
            "statementId",
            "voidedStatementId",
            "agent",
            "verb",
            "activity",
            "registration",
            "related_activities",
            "related_agents",
            "since",
            "until",
            "limit",
            "format",
            "attachments",
            "ascending",
            "more",
        ],
        ("/xapi/activities/state", "GET") => {
            &["activityId", "agent", "registration", "stateId", "since"]
        }
        ("/xapi/activities/state", "PUT" | "POST" | "DELETE") => {
            &["activityId", "agent", "registration", "stateId"]
        }
        ("/xapi/activities/profile", "GET") => &["activityId", "profileId", "since"],
        ("/xapi/activities/profile", "PUT" | "POST" | "DELETE") => &["activityId", "profileId"],
        ("/xapi/agents/profile", "GET") => &["agent", "profileId", "since"],
        ("/xapi/agents/profile", "PUT" | "POST" | "DELETE") => &["agent", "profileId"],
        ("/xapi/activities", "GET") => &["activityId"],
        ("/xapi/agents", "GET") => &["agent"],
        ("/xapi/about", "GET") => &[],
        _ => return None,
    };
    Some(declared)
}

/// The first query parameter of the request its resource does not declare.
fn undeclared_parameter(req: &Request) -> Option<String> {
    let declared = declared_parameters(req.uri().path(), req.method().as_str())?;
    alternate::pairs(req.uri().query().unwrap_or_default())
        .into_iter()
        .map(|(name, _)| name)
        .find(|name| !declared.contains(&name.as_str()))
}

/// Stamps `X-Experience-API-Version` on every answer under `/xapi/`, errors included, and
/// refuses a query parameter the resource does not declare (400, nothing done).
pub struct XapiVersionHeader;

impl<E: Endpoint> Middleware<E> for XapiVersionHeader {
    type Output = XapiVersionHeaderEndpoint<E>;

    fn transform(&self, ep: E) -> Self::Output {
        XapiVersionHeaderEndpoint(ep)
    }
}

pub struct XapiVersionHeaderEndpoint<E>(E);

impl<E: Endpoint> Endpoint for XapiVersionHeaderEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Self::Output> {
        let xapi = is_xapi_path(req.uri().path());
        let req = if xapi && alternate::is_alternate(&req) {
            alternate::rewrite(req).await
        } else {
            Ok(req)
        };
        let req = req.and_then(
            |req| match xapi.then(|| undeclared_parameter(&req)).flatten() {
                Some(name) => Err(ApiError::from(hub_course::CourseError::XapiInvalid(vec![
                    hub_kernel::FieldViolation::new(
                        &name,
                        "is not a parameter of this resource (xAPI 1.0.3, Communication 2.0)",
                    ),
                ]))),
                None => Ok(req),
            },
        );
        let mut response = match req {
            Err(error) => error.into_response(),
            Ok(req) => match self.0.call(req).await {
                Ok(output) => output.into_response(),
                Err(error) => error.into_response(),
            },
        };
        if xapi {
            response.headers_mut().insert(
                VERSION_HEADER,
                HeaderValue::from_static(hub_course::xapi::VERSION),
            );
        }
        Ok(response)
    }
}
