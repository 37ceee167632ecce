//! The security schemes. The tenant comes only from the credential: an API key or a session
//! is bound to one institution, and no header or parameter can point a request at another one.

use crate::client_ip::ClientIp;
use crate::limiter::Decision;
use crate::problem::ApiError;
use crate::state::AppState;
use hub_tenant::{OperatorPrincipal, Principal, TenantPrincipal};
use poem::Request;
use poem::http::StatusCode;
use poem_openapi::SecurityScheme;
use poem_openapi::auth::Bearer;
use std::sync::Arc;

/// An institution's API key (`dxh_…`) or a signed-in person's session token (`dxs_…`), sent
/// as `Authorization: Bearer <token>`. A key's scopes, or the scopes of the person's roles,
/// decide which operations it may call; each operation names the scope it needs.
#[derive(SecurityScheme)]
#[oai(
    ty = "bearer",
    bearer_format = "dxh_<key id>_<secret> (API key) or dxs_<session id>_<secret> (session)",
    checker = "check_tenant_credential"
)]
pub struct TenantCredential(pub TenantPrincipal);

/// A platform operator's key (`dxo_…`), created with `hub operator-key create`. Manages
/// institutions; cannot read any institution's data.
#[derive(SecurityScheme)]
#[oai(
    ty = "bearer",
    bearer_format = "dxo_<key id>_<secret>",
    checker = "check_operator_key"
)]
pub struct OperatorKey(pub OperatorPrincipal);

fn state_of(req: &Request) -> poem::Result<&Arc<AppState>> {
    req.data::<Arc<AppState>>().ok_or_else(|| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "application state missing",
        )
        .into()
    })
}

/// The client's address, as [`crate::client_ip`] decided it for this request (behind a
/// trusted proxy: from its forwarding headers).
pub fn client_ip(req: &Request) -> Option<String> {
    ClientIp::of(req).map(|ip| ip.to_string())
}

async fn check_tenant_credential(req: &Request, bearer: Bearer) -> poem::Result<TenantPrincipal> {
    let state = state_of(req)?;
    if bearer.token.starts_with("dxs_") {
        let mut principal = state
            .identity
            .authenticate_session(&bearer.token)
            .await
            .map_err(ApiError::from)?;
        principal.client_ip = client_ip(req);
        let bucket = principal.actor.rate_bucket();
        if let Decision::Deny { retry_after_secs } = state
            .limiter
            .check(&bucket, state.config.rate_limit_per_key)
            .await
        {
            return Err(
                ApiError::rate_limited(state.config.rate_limit_per_key, retry_after_secs).into(),
            );
        }
        record_gpc_signal(state, req, &principal).await;
        return Ok(principal);
    }
    match state.tenancy.authenticate(&bearer.token).await.map_err(ApiError::from)? {
        Principal::Tenant(mut principal) => {
            principal.client_ip = client_ip(req);
            let bucket = principal.actor.rate_bucket();
            if let Decision::Deny { retry_after_secs } = state.limiter.check(&bucket, state.config.rate_limit_per_key).await {
                return Err(ApiError::rate_limited(state.config.rate_limit_per_key, retry_after_secs).into());
            }
            Ok(principal)
        }
        Principal::Operator(_) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "tenant_credential_required",
            "operator keys manage institutions but cannot act inside one; use the institution's API key",
        )
        .into()),
    }
}

/// `Sec-GPC: 1` on any request of a signed-in person: recorded in their consent ledger as an
/// opt-out of sale/sharing-type purposes (once: later requests find it recorded). A failure
/// to record is logged and does not fail the request (the signal comes again with the next).
async fn record_gpc_signal(state: &AppState, req: &Request, principal: &TenantPrincipal) {
    let signal = req.headers().get("sec-gpc").and_then(|v| v.to_str().ok());
    if !crate::api::privacy::consent::gpc_signal(signal) {
        return;
    }
    let recorded = async {
        let scope = state.tenancy.scope(principal).await?;
        let written = state.privacy.record_gpc(&scope).await?;
        scope.commit().await?;
        Ok::<usize, hub_privacy_addenda::PrivacyError>(written)
    }
    .await;
    if let Err(error) = recorded {
        tracing::warn!(%error, "could not record a GPC signal");
    }
}

async fn check_operator_key(req: &Request, bearer: Bearer) -> poem::Result<OperatorPrincipal> {
    let state = state_of(req)?;
    match state
        .tenancy
        .authenticate(&bearer.token)
        .await
        .map_err(ApiError::from)?
    {
        Principal::Operator(operator) => {
            let bucket = operator.actor.rate_bucket();
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
            Ok(operator)
        }
        Principal::Tenant(_) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "operator_only",
            "this operation needs a platform-operator credential",
        )
        .into()),
    }
}
