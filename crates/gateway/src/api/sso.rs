//! `/v1/sso/…`: the institution's SSO connections (for its admins) and the OpenID Connect
//! sign-in flow (public: a person is not signed in yet). The browser goes to `…/login`,
//! which redirects to the institution's IdP; the IdP sends it back to
//! `/v1/sso/oidc/callback`, which answers with a session. SAML 2.0 is in `saml.rs`.

use crate::api::ApiTags;
use crate::api::people::PersonView;
use crate::api::secret_text::SecretText;
use crate::auth::TenantCredential;
use crate::problem::ApiError;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use hub_identity::connections::{self, ConnectionKind, NewConnection, SsoConnection};
use hub_identity::sessions::ClientContext;
use hub_identity::signin::{self, Callback};
use poem::Request;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Object, OpenApi};
use std::collections::BTreeMap;
use std::sync::Arc;
use uuid::Uuid;

/// A new OpenID Connect connection to the institution's identity provider.
#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct SsoConnectionCreate {
    /// Shown to admins, 1–100 characters.
    pub name: String,
    /// The IdP's issuer URL (`https://…`; `http://` only on loopback). Discovery is read from
    /// `<issuer>/.well-known/openid-configuration`.
    pub issuer: String,
    pub client_id: String,
    /// Stored encrypted under the institution's key; never returned.
    pub client_secret: SecretText,
    /// Requested scopes; default `openid email profile`. Must include `openid`.
    pub scopes: Option<Vec<String>>,
    /// IdP group (the ID token's `groups` claim) → role of people in it.
    #[oai(default)]
    pub group_roles: BTreeMap<String, String>,
    /// Role of a person in no mapped group; default `learner`. Not a privileged role.
    pub default_role: Option<String>,
}

impl Example for SsoConnectionCreate {
    fn example() -> Self {
        Self {
            name: "Northfield Entra ID".into(),
            issuer: "https://login.northfield.example/v2.0".into(),
            client_id: "hub-northfield".into(),
            client_secret: "s3cret-from-the-idp".into(),
            scopes: Some(vec![
                "openid".into(),
                "email".into(),
                "profile".into(),
                "groups".into(),
            ]),
            group_roles: BTreeMap::from([("staff".into(), "instructor".into())]),
            default_role: Some("learner".into()),
        }
    }
}

/// An SSO connection, without its client secret.
#[derive(Debug, Clone, Object)]
pub struct SsoConnectionView {
    pub id: Uuid,
    /// `oidc` or `saml`.
    pub kind: String,
    pub name: String,
    /// OIDC: the issuer URL. SAML: the IdP's entity ID.
    pub issuer: String,
    /// How the IdP knows this service. OIDC: the client id. SAML: the SP entity ID.
    pub client_id: String,
    /// OIDC: the requested scopes. SAML: empty.
    pub scopes: Vec<String>,
    pub group_roles: BTreeMap<String, String>,
    pub default_role: String,
    pub enabled: bool,
    /// Where people of the institution start signing in through this connection.
    pub login_path: String,
    /// SAML only: this service's SP metadata for the IdP's admins to import.
    #[oai(nullable)]
    pub sp_metadata_path: Option<String>,
    /// SAML only: the attribute whose values are the person's groups.
    #[oai(nullable)]
    pub group_attribute: Option<String>,
    pub created_at: DateTime<Utc>,
}

pub(crate) fn connection_view(tenant_slug: &str, c: SsoConnection) -> SsoConnectionView {
    let kind = c.kind.as_str();
    SsoConnectionView {
        id: c.id,
        kind: kind.into(),
        login_path: format!("/v1/sso/{tenant_slug}/{kind}/{}/login", c.id),
        sp_metadata_path: (c.kind == ConnectionKind::Saml)
            .then(|| format!("/v1/sso/{tenant_slug}/saml/{}/metadata", c.id)),
        group_attribute: c.group_attribute,
        name: c.name,
        issuer: c.issuer,
        client_id: c.client_id,
        scopes: c.scopes,
        group_roles: c
            .group_roles
            .into_iter()
            .map(|(g, r)| (g, r.as_str().to_string()))
            .collect(),
        default_role: c.default_role.as_str().to_string(),
        enabled: c.enabled,
        created_at: c.created_at,
    }
}

#[derive(Debug, Clone, Object)]
pub struct SsoConnectionList {
    pub items: Vec<SsoConnectionView>,
}

/// A completed sign-in: the session token is shown this once.
#[derive(Debug, Clone, Object)]
pub struct SignInResult {
    /// `Authorization: Bearer <session_token>` on later requests.
    pub session_token: SecretText,
    pub session_id: Uuid,
    pub expires_at: DateTime<Utc>,
    pub tenant_slug: String,
    pub person: PersonView,
}

impl From<signin::SignedIn> for SignInResult {
    fn from(signed_in: signin::SignedIn) -> Self {
        Self {
            session_token: signed_in.session.token.into(),
            session_id: signed_in.session.id,
            expires_at: signed_in.session.expires_at,
            tenant_slug: signed_in.tenant_slug,
            person: signed_in.person.into(),
        }
    }
}

#[derive(ApiResponse)]
pub enum SsoConnectionCreated {
    #[oai(status = 201)]
    Created(Json<SsoConnectionView>, #[oai(header = "Location")] String),
}

#[derive(ApiResponse)]
pub enum SsoConnectionFound {
    #[oai(status = 200)]
    Ok(Json<SsoConnectionView>),
}

#[derive(ApiResponse)]
pub enum SsoConnectionsListed {
    #[oai(status = 200)]
    Ok(Json<SsoConnectionList>),
}

#[derive(ApiResponse)]
pub enum SsoConnectionDeleted {
    #[oai(status = 204)]
    NoContent,
}

#[derive(ApiResponse)]
pub enum SignInRedirect {
    /// To the identity provider's authorization endpoint.
    #[oai(status = 302)]
    Found(#[oai(header = "Location")] String),
}

#[derive(ApiResponse)]
pub enum SignedIn {
    #[oai(status = 200)]
    Ok(Json<SignInResult>),
}

pub fn client_context(req: &Request) -> ClientContext {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    ClientContext {
        ip_address: crate::auth::client_ip(req).unwrap_or_else(|| "unknown".into()),
        user_agent: header("user-agent"),
        device_id: header("x-device-id"),
    }
}

#[derive(Default)]
pub struct SsoApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Sso")]
impl SsoApi {
    /// Add an SSO connection
    ///
    /// Requires scope `tenant:admin`. Register `<public url>/v1/sso/oidc/callback` as the
    /// redirect URI at the IdP.
    #[oai(
        path = "/sso/connections",
        method = "post",
        operation_id = "createSsoConnection"
    )]
    async fn create_sso_connection(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        body: Json<SsoConnectionCreate>,
    ) -> Result<SsoConnectionCreated, ApiError> {
        let input = body.0;
        let new = NewConnection {
            name: input.name,
            issuer: input.issuer,
            client_id: input.client_id,
            client_secret: input.client_secret.into_secret(),
            scopes: input.scopes,
            group_roles: input.group_roles,
            default_role: input.default_role,
        };
        let scope = state.tenancy.scope(&auth.0).await?;
        let connection = connections::create(&scope, new).await?;
        scope.commit().await?;
        let location = format!("/v1/sso/connections/{}", connection.id);
        Ok(SsoConnectionCreated::Created(
            Json(connection_view(&auth.0.tenant_slug, connection)),
            location,
        ))
    }

    /// List SSO connections
    ///
    /// Requires scope `tenant:admin`.
    #[oai(
        path = "/sso/connections",
        method = "get",
        operation_id = "listSsoConnections"
    )]
    async fn list_sso_connections(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
    ) -> Result<SsoConnectionsListed, ApiError> {
        let found = state
            .tenancy
            .read(
                &auth.0,
                |scope| async move { connections::list(&scope).await },
            )
            .await?;
        Ok(SsoConnectionsListed::Ok(Json(SsoConnectionList {
            items: found
                .into_iter()
                .map(|c| connection_view(&auth.0.tenant_slug, c))
                .collect(),
        })))
    }

    /// Get an SSO connection
    ///
    /// Requires scope `tenant:admin`.
    #[oai(
        path = "/sso/connections/:connection_id",
        method = "get",
        operation_id = "getSsoConnection"
    )]
    async fn get_sso_connection(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        connection_id: Path<Uuid>,
    ) -> Result<SsoConnectionFound, ApiError> {
        let id = connection_id.0;
        let connection = state
            .tenancy
            .read(&auth.0, move |scope| async move {
                connections::get(&scope, id).await
            })
            .await?;
        Ok(SsoConnectionFound::Ok(Json(connection_view(
            &auth.0.tenant_slug,
            connection,
        ))))
    }

    /// Remove an SSO connection
    ///
    /// Requires scope `tenant:admin`. Sign-ins through it stop; existing sessions run out.
    #[oai(
        path = "/sso/connections/:connection_id",
        method = "delete",
        operation_id = "deleteSsoConnection"
    )]
    async fn delete_sso_connection(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        connection_id: Path<Uuid>,
    ) -> Result<SsoConnectionDeleted, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        connections::delete(&scope, connection_id.0).await?;
        scope.commit().await?;
        Ok(SsoConnectionDeleted::NoContent)
    }

    /// Start signing in
    ///
    /// Public. Redirects the browser to the institution's identity provider with a fresh
    /// `state`, `nonce` and PKCE challenge (valid ten minutes, usable once).
    #[oai(
        path = "/sso/:tenant_slug/oidc/:connection_id/login",
        method = "get",
        operation_id = "startSignIn"
    )]
    async fn start_sign_in(
        &self,
        state: Data<&Arc<AppState>>,
        tenant_slug: Path<String>,
        connection_id: Path<Uuid>,
        /// Make the IdP authenticate the person again even if it has a session for them
        /// (required after the person reported their account compromised).
        force_authentication: Query<Option<bool>>,
    ) -> Result<SignInRedirect, ApiError> {
        let url = state
            .identity
            .begin_sign_in(
                &tenant_slug.0,
                connection_id.0,
                force_authentication.0.unwrap_or(false),
            )
            .await?;
        Ok(SignInRedirect::Found(url))
    }

    /// Finish signing in
    ///
    /// Public; the identity provider redirects here. Verifies the flow's `state`, exchanges
    /// the code, verifies the ID token (signature against the IdP's keys, issuer, audience,
    /// expiry, nonce), provisions the person on first sign-in and opens a session. Every
    /// refusal is a 401 problem with its own code and creates neither person nor session.
    #[oai(
        path = "/sso/oidc/callback",
        method = "get",
        operation_id = "finishSignIn"
    )]
    async fn finish_sign_in(
        &self,
        state: Data<&Arc<AppState>>,
        req: &Request,
        /// From the identity provider.
        code: Query<Option<String>>,
        /// The flow this service started.
        #[oai(name = "state")]
        flow_state: Query<Option<String>>,
        /// An error the identity provider reports instead of a code.
        error: Query<Option<String>>,
        /// The identity provider's issuer (RFC 9207).
        iss: Query<Option<String>>,
    ) -> Result<SignedIn, ApiError> {
        let callback = Callback {
            state: flow_state.0,
            code: code.0.map(hub_kernel::Secret::new),
            error: error.0,
            iss: iss.0,
        };
        let signed_in = state
            .identity
            .complete_sign_in(callback, client_context(req))
            .await?;
        Ok(SignedIn::Ok(Json(SignInResult::from(signed_in))))
    }
}
