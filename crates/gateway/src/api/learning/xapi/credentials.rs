//! `/v1/lrs/credentials`: the institution's LRS credentials. Each is an API key of the
//! institution holding only LRS scopes (`hub_course::xapi::credentials`): shown once, kept
//! only as a hash, revocable, audited; listed here and under `/v1/api-keys`.

use crate::api::secret_text::SecretText;
use crate::api::{ApiTags, page_request};
use crate::auth::TenantCredential;
use crate::problem::ApiError;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use hub_course::xapi::credentials::{is_lrs_credential, scopes_for, xapi_names};
use hub_tenant::{ApiKeyInfo, NewApiKey};
use poem::http::StatusCode;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Object, OpenApi};
use std::sync::Arc;
use uuid::Uuid;

/// A new LRS credential.
#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct LrsCredentialCreate {
    /// What the credential is for (the content or player using it), 1–100 characters.
    pub name: String,
    /// xAPI scope names (xAPI-Communication 4.2): any of `statements/write`,
    /// `statements/read`, `all/read`, `all`.
    pub scopes: Vec<String>,
}

impl Example for LrsCredentialCreate {
    fn example() -> Self {
        Self {
            name: "cmi5 player".into(),
            scopes: vec!["statements/write".into(), "statements/read".into()],
        }
    }
}

/// An LRS credential, without its secret.
#[derive(Debug, Clone, Object)]
pub struct LrsCredentialView {
    pub id: Uuid,
    pub name: String,
    /// The HTTP Basic user name (`dxh_…`).
    pub key: String,
    /// The xAPI scopes it holds.
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
    #[oai(nullable)]
    pub last_used_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<ApiKeyInfo> for LrsCredentialView {
    fn from(k: ApiKeyInfo) -> Self {
        Self {
            id: k.id,
            name: k.name,
            key: format!("dxh_{}", k.id.simple()),
            scopes: xapi_names(&k.scopes)
                .into_iter()
                .map(str::to_string)
                .collect(),
            created_at: k.created_at,
            last_used_at: k.last_used_at,
            revoked_at: k.revoked_at,
        }
    }
}

/// A new LRS credential with its secret, shown this once.
#[derive(Debug, Clone, Object)]
pub struct LrsCredentialIssued {
    pub credential: LrsCredentialView,
    /// The HTTP Basic password. Stored only as a hash: keep it now.
    pub secret: SecretText,
}

/// One page of LRS credentials.
#[derive(Debug, Clone, Object)]
pub struct LrsCredentialPage {
    pub items: Vec<LrsCredentialView>,
    /// Pass as `cursor` to get the next page; `null` on the last page. A page may hold
    /// fewer items than asked for (the institution's other API keys are skipped).
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

#[derive(ApiResponse)]
pub enum LrsCredentialCreated {
    /// The credential, with its secret.
    #[oai(status = 201)]
    Created(Json<LrsCredentialIssued>),
}

#[derive(ApiResponse)]
pub enum LrsCredentialsListed {
    /// A page of credentials, oldest first.
    #[oai(status = 200)]
    Ok(Json<LrsCredentialPage>),
}

#[derive(ApiResponse)]
pub enum LrsCredentialRevoked {
    /// The credential, revoked.
    #[oai(status = 200)]
    Ok(Json<LrsCredentialView>),
}

#[derive(Default)]
pub struct LrsCredentialsApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Lrs")]
impl LrsCredentialsApi {
    /// Create an LRS credential
    ///
    /// Requires scope `tenant:admin`. The secret is returned once and stored only as a
    /// hash. An xAPI client sends the `key` and `secret` as HTTP Basic to `/xapi/…`.
    #[oai(
        path = "/lrs/credentials",
        method = "post",
        operation_id = "createLrsCredential"
    )]
    async fn create_lrs_credential(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        body: Json<LrsCredentialCreate>,
    ) -> Result<LrsCredentialCreated, ApiError> {
        auth.0.require(hub_tenant::Scope::TenantAdmin)?;
        let scopes = scopes_for(&body.0.scopes)?;
        let issued = state
            .tenancy
            .issue_api_key(
                &auth.0,
                NewApiKey {
                    name: body.0.name,
                    scopes: scopes.iter().map(|s| s.as_str().to_string()).collect(),
                },
            )
            .await?;
        let token = issued.token.expose().to_string();
        let prefix = format!("dxh_{}_", issued.info.id.simple());
        let secret = token.strip_prefix(&prefix).unwrap_or_default().to_string();
        Ok(LrsCredentialCreated::Created(Json(LrsCredentialIssued {
            credential: issued.info.into(),
            secret: SecretText::from(secret.as_str()),
        })))
    }

    /// List LRS credentials
    ///
    /// Requires scope `tenant:admin`. Revoked credentials are listed with `revoked_at`.
    #[oai(
        path = "/lrs/credentials",
        method = "get",
        operation_id = "listLrsCredentials"
    )]
    async fn list_lrs_credentials(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        /// Cursor from the previous page's `next_cursor`.
        cursor: Query<Option<String>>,
        /// Page size, 1–200 (default 50).
        limit: Query<Option<u64>>,
    ) -> Result<LrsCredentialsListed, ApiError> {
        let page = page_request(cursor.0.as_deref(), limit.0)?;
        let keys = state.tenancy.list_api_keys(&auth.0, &page).await?;
        Ok(LrsCredentialsListed::Ok(Json(LrsCredentialPage {
            items: keys
                .items
                .into_iter()
                .filter(|k| is_lrs_credential(&k.scopes))
                .map(Into::into)
                .collect(),
            next_cursor: keys.next_cursor,
        })))
    }

    /// Revoke an LRS credential
    ///
    /// Requires scope `tenant:admin`. Takes effect on the next request made with it (401).
    #[oai(
        path = "/lrs/credentials/:credential_id",
        method = "delete",
        operation_id = "revokeLrsCredential"
    )]
    async fn revoke_lrs_credential(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        credential_id: Path<Uuid>,
    ) -> Result<LrsCredentialRevoked, ApiError> {
        let id = credential_id.0;
        // Only an LRS credential is revoked here (other keys at /v1/api-keys).
        let mut page = crate::api::page_request(None, Some(200))?;
        let found = loop {
            let keys = state.tenancy.list_api_keys(&auth.0, &page).await?;
            if let Some(key) = keys.items.iter().find(|k| k.id == id) {
                break is_lrs_credential(&key.scopes);
            }
            match keys.next_cursor {
                Some(next) => {
                    page = crate::api::page_request(Some(&next), Some(200))?;
                }
                None => break false,
            }
        };
        if !found {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "lrs_credential_not_found",
                "no such LRS credential",
            ));
        }
        let key = state.tenancy.revoke_api_key(&auth.0, id).await?;
        Ok(LrsCredentialRevoked::Ok(Json(key.into())))
    }
}
