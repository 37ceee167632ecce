//! `/v1/api-keys`: the institution's own API keys. Tokens are shown once; only a hash is kept.

use crate::api::secret_text::SecretText;
use crate::api::{ApiTags, page_request};
use crate::auth::TenantCredential;
use crate::problem::ApiError;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use hub_tenant::{ApiKeyInfo, IssuedKey, NewApiKey, Scope};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Object, OpenApi};
use std::sync::Arc;
use uuid::Uuid;

/// A new API key.
#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct ApiKeyCreate {
    /// What the key is for, 1–100 characters.
    pub name: String,
    /// Any of `courses:read`, `courses:write`, `contacts:read`, `contacts:write`,
    /// `tenant:admin`.
    pub scopes: Vec<String>,
}

impl Example for ApiKeyCreate {
    fn example() -> Self {
        Self {
            name: "catalog sync".into(),
            scopes: vec!["courses:read".into(), "courses:write".into()],
        }
    }
}

/// An API key, without its secret.
#[derive(Debug, Clone, Object)]
pub struct ApiKeyView {
    pub id: Uuid,
    pub name: String,
    pub scopes: Vec<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    /// Updated at most once a minute.
    #[oai(nullable)]
    pub last_used_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<ApiKeyInfo> for ApiKeyView {
    fn from(k: ApiKeyInfo) -> Self {
        Self {
            id: k.id,
            name: k.name,
            scopes: k
                .scopes
                .into_iter()
                .map(|s: Scope| s.as_str().to_string())
                .collect(),
            created_by: k.created_by,
            created_at: k.created_at,
            last_used_at: k.last_used_at,
            revoked_at: k.revoked_at,
        }
    }
}

/// A newly issued key. `token` is shown only in this response; store it now.
#[derive(Debug, Clone, Object)]
pub struct IssuedApiKeyView {
    pub id: Uuid,
    pub name: String,
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
    /// Send as `Authorization: Bearer <token>`.
    pub token: SecretText,
}

impl From<IssuedKey> for IssuedApiKeyView {
    fn from(k: IssuedKey) -> Self {
        let view = ApiKeyView::from(k.info);
        Self {
            id: view.id,
            name: view.name,
            scopes: view.scopes,
            created_at: view.created_at,
            token: k.token.into(),
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct ApiKeyPage {
    pub items: Vec<ApiKeyView>,
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

#[derive(ApiResponse)]
pub enum ApiKeyIssued {
    /// The key; its token is shown only in this response.
    #[oai(status = 201)]
    Created(Json<IssuedApiKeyView>),
}

#[derive(ApiResponse)]
pub enum ApiKeysListed {
    #[oai(status = 200)]
    Ok(Json<ApiKeyPage>),
}

#[derive(ApiResponse)]
pub enum ApiKeyRevoked {
    /// The key is revoked; requests with it now get 401.
    #[oai(status = 200)]
    Ok(Json<ApiKeyView>),
}

#[derive(Default)]
pub struct ApiKeysApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::ApiKeys")]
impl ApiKeysApi {
    /// Create an API key
    ///
    /// Requires scope `tenant:admin`. The token is returned once and stored only as a hash.
    #[oai(path = "/api-keys", method = "post", operation_id = "createApiKey")]
    async fn create_api_key(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        body: Json<ApiKeyCreate>,
    ) -> Result<ApiKeyIssued, ApiError> {
        let key = state
            .tenancy
            .issue_api_key(
                &auth.0,
                NewApiKey {
                    name: body.0.name,
                    scopes: body.0.scopes,
                },
            )
            .await?;
        Ok(ApiKeyIssued::Created(Json(key.into())))
    }

    /// List API keys
    ///
    /// Requires scope `tenant:admin`. Revoked keys are listed with `revoked_at`.
    #[oai(path = "/api-keys", method = "get", operation_id = "listApiKeys")]
    async fn list_api_keys(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        /// Cursor from the previous page's `next_cursor`.
        cursor: Query<Option<String>>,
        /// Page size, 1–200 (default 50).
        limit: Query<Option<u64>>,
    ) -> Result<ApiKeysListed, ApiError> {
        let page = page_request(cursor.0.as_deref(), limit.0)?;
        let keys = state.tenancy.list_api_keys(&auth.0, &page).await?;
        Ok(ApiKeysListed::Ok(Json(ApiKeyPage {
            items: keys.items.into_iter().map(Into::into).collect(),
            next_cursor: keys.next_cursor,
        })))
    }

    /// Revoke an API key
    ///
    /// Requires scope `tenant:admin`. Takes effect on the next request made with the key.
    #[oai(
        path = "/api-keys/:key_id",
        method = "delete",
        operation_id = "revokeApiKey"
    )]
    async fn revoke_api_key(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        key_id: Path<Uuid>,
    ) -> Result<ApiKeyRevoked, ApiError> {
        let key = state.tenancy.revoke_api_key(&auth.0, key_id.0).await?;
        Ok(ApiKeyRevoked::Ok(Json(key.into())))
    }
}
