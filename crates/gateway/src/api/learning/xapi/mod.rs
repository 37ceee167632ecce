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

mod about;
mod credentials;
mod documents;
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

/// Stamps `X-Experience-API-Version` on every answer under `/xapi/`, errors included.
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
        let mut response = match self.0.call(req).await {
            Ok(output) => output.into_response(),
            Err(error) => error.into_response(),
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
