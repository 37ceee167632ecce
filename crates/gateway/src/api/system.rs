//! Health, readiness, and "who am I" for a credential.

use crate::api::ApiTags;
use crate::auth::TenantCredential;
use crate::problem::ApiError;
use crate::state::AppState;
use hub_tenant::Actor;
use poem::http::StatusCode;
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use std::sync::Arc;
use uuid::Uuid;

#[derive(Debug, Clone, Object)]
pub struct Health {
    /// `ok`.
    pub status: String,
}

#[derive(Debug, Clone, Object)]
pub struct Readiness {
    /// `ok` when every dependency answers.
    pub status: String,
    /// `postgres` or `sqlite`.
    pub database_backend: String,
    /// `redis` or `in_process`.
    pub cache_backend: String,
}

/// The institution and permissions behind the calling credential.
#[derive(Debug, Clone, Object)]
pub struct CallerView {
    pub tenant_id: Uuid,
    pub tenant_slug: String,
    /// `api_key` or `session`.
    pub credential: String,
    /// The API key, when the caller uses one.
    #[oai(nullable)]
    pub api_key_id: Option<Uuid>,
    #[oai(nullable)]
    pub api_key_name: Option<String>,
    /// The signed-in person, when the caller is one.
    #[oai(nullable)]
    pub person_id: Option<Uuid>,
    #[oai(nullable)]
    pub session_id: Option<Uuid>,
    pub scopes: Vec<String>,
}

#[derive(ApiResponse)]
pub enum HealthAnswer {
    /// The process is up.
    #[oai(status = 200)]
    Ok(Json<Health>),
}

#[derive(ApiResponse)]
pub enum ReadyAnswer {
    /// The database and the cache answer.
    #[oai(status = 200)]
    Ok(Json<Readiness>),
}

#[derive(ApiResponse)]
pub enum CallerAnswer {
    #[oai(status = 200)]
    Ok(Json<CallerView>),
}

#[derive(Default)]
pub struct SystemApi;

#[OpenApi(tag = "ApiTags::System")]
impl SystemApi {
    /// Liveness
    ///
    /// 200 while the process serves HTTP; checks no dependency.
    // Never fails itself, but the per-IP rate limit applies here too (429), so the error
    // answers are listed as on every other operation.
    #[oai(path = "/healthz", method = "get", operation_id = "getHealth")]
    async fn healthz(&self) -> Result<HealthAnswer, ApiError> {
        Ok(HealthAnswer::Ok(Json(Health {
            status: "ok".into(),
        })))
    }

    /// Readiness
    ///
    /// 200 when the database and Redis answer; 503 with `Retry-After` and the failing
    /// dependency named in `code` (`database_unavailable`, `cache_unavailable`) otherwise, so
    /// a load balancer stops routing here until the dependency is back.
    #[oai(path = "/readyz", method = "get", operation_id = "getReadiness")]
    async fn readyz(&self, state: Data<&Arc<AppState>>) -> Result<ReadyAnswer, ApiError> {
        let plane = state.tenancy.plane();
        if let Err(e) = plane.ping().await {
            tracing::warn!(error = %e, "readiness: database unavailable");
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "database_unavailable",
                "the database does not answer",
            ));
        }
        if let Err(e) = state.limiter.ping().await {
            tracing::warn!(error = %e, "readiness: redis unavailable");
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "cache_unavailable",
                "Redis does not answer",
            ));
        }
        let cache = if state.limiter.redis().is_some() {
            "redis"
        } else {
            "in_process"
        };
        Ok(ReadyAnswer::Ok(Json(Readiness {
            status: "ok".into(),
            database_backend: plane.backend_name().into(),
            cache_backend: cache.into(),
        })))
    }

    /// Who am I
    ///
    /// The institution, credential and scopes behind the calling API key or session. Any
    /// scope.
    #[oai(path = "/v1/me", method = "get", operation_id = "getCaller")]
    async fn get_caller(&self, auth: TenantCredential) -> Result<CallerAnswer, ApiError> {
        let p = auth.0;
        let tenant_id = p.tenant_id();
        let scopes = p.scopes.iter().map(|s| s.as_str().to_string()).collect();
        let view = match p.actor {
            Actor::ApiKey { key_id, key_name } => CallerView {
                tenant_id,
                tenant_slug: p.tenant_slug,
                credential: "api_key".into(),
                api_key_id: Some(key_id),
                api_key_name: Some(key_name),
                person_id: None,
                session_id: None,
                scopes,
            },
            Actor::Person {
                person_id,
                session_id,
            } => CallerView {
                tenant_id,
                tenant_slug: p.tenant_slug,
                credential: "session".into(),
                api_key_id: None,
                api_key_name: None,
                person_id: Some(person_id),
                session_id: Some(session_id),
                scopes,
            },
        };
        Ok(CallerAnswer::Ok(Json(view)))
    }
}
