//! Signing a person in through their institution's identity provider.
//!
//! OpenID Connect: `begin` starts a flow: a random `state` (which flow), `nonce` (which token)
//! and PKCE verifier (which client) are kept server-side for ten minutes, and the browser goes
//! to the IdP. `complete` consumes the state exactly once, exchanges the code and verifies the
//! ID token. SAML 2.0 (`saml.rs`) verifies a posted assertion instead. Both then hand an
//! [`AssertedIdentity`] to the same steps here: find or create the person (just-in-time
//! provisioning with group → role mapping), pass the reauthentication rule
//! (`reauthentication.rs`) and open a session. Any refusal happens before a person or session
//! is written.

use crate::Identity;
use crate::connections::{self, ConnectionKind, SsoConnection};
use crate::error::{IdentityError, Refusal};
use crate::oidc::IdTokenClaims;
use crate::people::{self, Person, PersonSource, PersonalData};
use crate::reauthentication::{self, Proof};
use crate::roles::Role;
use crate::sessions::{ClientContext, IssuedSession, SessionsToEnd};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hub_kernel::{Pii, Secret};
use hub_tenant::audit::{self, AuditEvent};
use hub_tenant::{ActiveTenant, TenantScope};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::time::Duration;
use uuid::Uuid;

const FLOW_TTL: Duration = Duration::from_secs(600);

#[derive(Serialize, Deserialize)]
struct PendingFlow {
    tenant_id: Uuid,
    connection_id: Uuid,
    nonce: String,
    code_verifier: Secret,
    redirect_uri: String,
    /// What an IdP's `auth_time` is compared with after a reported compromise.
    started_at: DateTime<Utc>,
}

/// What the IdP sent back to the callback.
#[derive(Debug, Clone, Default)]
pub struct Callback {
    pub state: Option<String>,
    pub code: Option<Secret>,
    pub error: Option<String>,
    /// RFC 9207: the IdP names itself, which defeats mix-up attacks across IdPs.
    pub iss: Option<String>,
}

pub struct SignedIn {
    pub session: IssuedSession,
    pub person: Person,
    pub tenant_slug: String,
}

/// Who the IdP says signed in, whatever the protocol said it in: the input of just-in-time
/// provisioning.
pub(crate) struct AssertedIdentity {
    /// Unique per connection: the IdP's identifier qualified by the IdP's own name.
    pub subject: String,
    /// An email the IdP vouches for; only such an email links to an existing person.
    pub verified_email: Option<String>,
    pub display_name: Option<String>,
    pub username: Option<String>,
    pub groups: Vec<String>,
    /// When the person last authenticated at the IdP (Unix seconds), if it said.
    pub authenticated_at: Option<i64>,
}

pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn flow_key(state: &str) -> String {
    // The state is hashed so the store's keys do not hold the bearer value itself.
    format!(
        "hub:sso-flow:{}",
        hex::encode(Sha256::digest(state.as_bytes()))
    )
}

/// The subject an IdP asserts, qualified by issuer: `sub` is unique only per issuer.
pub(crate) fn qualified_subject(issuer: &str, subject: &str) -> String {
    format!("{issuer}\n{subject}")
}

fn asserted_by_oidc(claims: &IdTokenClaims) -> AssertedIdentity {
    AssertedIdentity {
        subject: qualified_subject(&claims.iss, &claims.sub),
        verified_email: claims
            .email
            .clone()
            .filter(|_| claims.email_verified == Some(true)),
        display_name: display_name(claims),
        username: claims.preferred_username.clone(),
        groups: claims.groups(),
        authenticated_at: claims.auth_time,
    }
}

fn roles_from_groups(connection: &SsoConnection, groups: &[String]) -> Vec<Role> {
    let mut roles: Vec<Role> = groups
        .iter()
        .filter_map(|g| connection.group_roles.get(g).copied())
        .collect();
    if roles.is_empty() {
        roles.push(connection.default_role);
    }
    roles.sort();
    roles.dedup();
    roles
}

fn display_name(claims: &IdTokenClaims) -> Option<String> {
    let joined = match (&claims.given_name, &claims.family_name) {
        (Some(g), Some(f)) => Some(format!("{g} {f}")),
        _ => None,
    };
    claims
        .name
        .clone()
        .or(joined)
        .or_else(|| claims.preferred_username.clone())
        .or_else(|| claims.email.clone())
        .filter(|n| !n.trim().is_empty())
}

impl Identity {
    /// The IdP URL to send the browser to.
    /// `force_authentication` asks the IdP to authenticate the person again even if it has
    /// a session for them (`prompt=login`, `max_age=0`): needed after a reported compromise.
    pub async fn begin_sign_in(
        &self,
        tenant_slug: &str,
        connection_id: Uuid,
        force_authentication: bool,
    ) -> Result<String, IdentityError> {
        let tenant = self
            .tenancy
            .active_tenant_by_slug(tenant_slug)
            .await
            .map_err(|e| match e {
                hub_tenant::TenantError::NotFound(_) => IdentityError::NotFound("sso connection"),
                other => other.into(),
            })?;
        let scope = self.tenancy.sign_in_scope(&tenant).await?;
        let (connection, _) = connections::load(&scope, connection_id).await?;
        scope.commit().await?;
        if !connection.enabled || connection.kind != ConnectionKind::Oidc {
            return Err(IdentityError::NotFound("sso connection"));
        }
        let discovery = self.oidc.discover(&connection.issuer).await?;
        let state = random_token();
        let nonce = random_token();
        let code_verifier = random_token();
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(code_verifier.as_bytes()));
        let flow = PendingFlow {
            tenant_id: tenant.location.tenant_id,
            connection_id,
            nonce: nonce.clone(),
            code_verifier: Secret::new(code_verifier),
            redirect_uri: self.callback_url.clone(),
            started_at: Utc::now(),
        };
        let text =
            serde_json::to_string(&flow).map_err(|e| IdentityError::SessionStore(e.to_string()))?;
        self.ephemeral
            .put(&flow_key(&state), &text, FLOW_TTL)
            .await?;
        let mut url = url::Url::parse(&discovery.authorization_endpoint)
            .map_err(|e| IdentityError::IdpUnavailable(format!("authorization endpoint: {e}")))?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &connection.client_id)
            .append_pair("redirect_uri", &self.callback_url)
            .append_pair("scope", &connection.scopes.join(" "))
            .append_pair("state", &state)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        if force_authentication {
            url.query_pairs_mut()
                .append_pair("prompt", "login")
                .append_pair("max_age", "0");
        }
        Ok(url.into())
    }

    /// Finishes a sign-in at the callback.
    pub async fn complete_sign_in(
        &self,
        callback: Callback,
        context: ClientContext,
    ) -> Result<SignedIn, IdentityError> {
        let state = callback
            .state
            .filter(|s| !s.is_empty() && s.len() <= 200)
            .ok_or_else(|| {
                IdentityError::refused(Refusal::State, "the callback carries no state")
            })?;
        // Consumed before anything else: a state works once, whatever happens next.
        let flow = self
            .ephemeral
            .take(&flow_key(&state))
            .await?
            .and_then(|text| serde_json::from_str::<PendingFlow>(&text).ok())
            .ok_or_else(|| {
                IdentityError::refused(
                    Refusal::State,
                    "unknown, expired or already used state; start the sign-in again",
                )
            })?;
        if let Some(error) = callback.error {
            let error: String = error
                .chars()
                .filter(|c| c.is_ascii_graphic())
                .take(64)
                .collect();
            return Err(IdentityError::refused(
                Refusal::IdpDenied,
                format!("the identity provider did not sign the person in ({error})"),
            ));
        }
        let tenant = self.tenancy.active_tenant(flow.tenant_id).await?;
        let ip = Some(context.ip_address.clone());
        let outcome = self
            .finish(&tenant, &flow, callback.code, callback.iss, context)
            .await;
        self.audit_refusal(&tenant, flow.connection_id, ip, outcome)
            .await
    }

    /// Failed sign-ins are audited too, in the institution the flow named.
    pub(crate) async fn audit_refusal(
        &self,
        tenant: &ActiveTenant,
        connection_id: Uuid,
        ip: Option<String>,
        outcome: Result<SignedIn, IdentityError>,
    ) -> Result<SignedIn, IdentityError> {
        if let Err(IdentityError::SignInRefused { reason, .. }) = &outcome {
            let mut scope = self.tenancy.sign_in_scope(tenant).await?;
            scope.set_client_ip(ip);
            audit::record(
                &scope,
                AuditEvent::new("sign_in.failed")
                    .subject(format!("sso-connection:{connection_id}"))
                    .detail(serde_json::json!({ "code": reason.code() })),
            )
            .await?;
            scope.commit().await?;
        }
        outcome
    }

    async fn finish(
        &self,
        tenant: &ActiveTenant,
        flow: &PendingFlow,
        code: Option<Secret>,
        iss: Option<String>,
        context: ClientContext,
    ) -> Result<SignedIn, IdentityError> {
        let code = code
            .filter(|c| !c.is_empty() && c.expose().len() <= 2048)
            .ok_or_else(|| {
                IdentityError::refused(Refusal::CodeExchange, "the callback carries no code")
            })?;
        let mut scope = self.tenancy.sign_in_scope(tenant).await?;
        scope.set_client_ip(Some(context.ip_address.clone()));
        let (connection, secret) = connections::load(&scope, flow.connection_id).await?;
        if !connection.enabled || connection.kind != ConnectionKind::Oidc {
            return Err(IdentityError::NotFound("sso connection"));
        }
        if iss.as_ref().is_some_and(|iss| *iss != connection.issuer) {
            return Err(IdentityError::refused(
                Refusal::Claims,
                "the callback comes from another identity provider than this sign-in's",
            ));
        }
        let discovery = self.oidc.discover(&connection.issuer).await?;
        let id_token = self
            .oidc
            .exchange_code(
                &discovery,
                &connection.client_id,
                secret.expose(),
                code.expose(),
                &flow.redirect_uri,
                flow.code_verifier.expose(),
            )
            .await?;
        let claims = self
            .oidc
            .verify_id_token(
                &discovery,
                &connection.client_id,
                id_token.expose(),
                &flow.nonce,
            )
            .await?;
        self.open_session(
            tenant,
            scope,
            &connection,
            &asserted_by_oidc(&claims),
            flow.started_at,
            context,
        )
        .await
    }

    /// The steps after the IdP's word was verified, whatever the protocol: provision the
    /// person, check they may sign in (the reauthentication rule included), audit, open the
    /// session, commit. `flow_started_at`: when this service began the flow the answer
    /// belongs to.
    pub(crate) async fn open_session(
        &self,
        tenant: &ActiveTenant,
        scope: TenantScope,
        connection: &SsoConnection,
        asserted: &AssertedIdentity,
        flow_started_at: DateTime<Utc>,
        context: ClientContext,
    ) -> Result<SignedIn, IdentityError> {
        let mut ending = SessionsToEnd::default();
        let person = self
            .provision(&scope, connection, asserted, &mut ending)
            .await?;
        let authenticated = reauthentication::check(
            &scope,
            &person,
            Proof::Idp {
                connection_id: connection.id,
                flow_started_at,
                authenticated_at: asserted.authenticated_at,
            },
        )
        .await?;
        let Some(scopes) = people::session_scopes(&person) else {
            return Err(IdentityError::refused(
                Refusal::Deactivated,
                "this person's account is deactivated; contact the institution's admins",
            ));
        };
        audit::record(
            &scope,
            AuditEvent::new("sign_in.succeeded")
                .person(person.id)
                .detail(serde_json::json!({ "connection_id": connection.id })),
        )
        .await?;
        // The IdP changed the person's roles: their older sessions end before the new one
        // opens (ending them early is the safe side: a failed commit only asks for a new
        // sign-in).
        self.sessions
            .end_before(tenant.location.tenant_id, ending)
            .await?;
        let session = self
            .sessions
            .open(&scope, &authenticated, &scopes, context)
            .await?;
        if let Err(e) = scope.commit().await {
            let _ = self
                .sessions
                .revoke(tenant.location.tenant_id, person.id, session.id)
                .await;
            return Err(e.into());
        }
        Ok(SignedIn {
            session,
            person,
            tenant_slug: tenant.slug.clone(),
        })
    }

    /// Finds the person the IdP asserted, linking or creating them on first sign-in.
    async fn provision(
        &self,
        scope: &TenantScope,
        connection: &SsoConnection,
        asserted: &AssertedIdentity,
        ending: &mut SessionsToEnd,
    ) -> Result<Person, IdentityError> {
        let subject = &asserted.subject;
        let verified_email = asserted.verified_email.as_deref();
        let idp_roles = roles_from_groups(connection, &asserted.groups);
        if let Some(person) = people::find_by_subject(scope, connection.id, subject).await? {
            // The IdP manages the roles of people it created; admins manage the rest.
            let roles = if person.source == PersonSource::Sso {
                idp_roles
            } else {
                person.roles.clone()
            };
            let email = verified_email.or(person.email.as_ref().map(|e| e.expose().as_str()));
            return people::record_sign_in(scope, &person, email, &roles, ending).await;
        }
        // An admin may have created the person already: link by verified email only.
        if let Some(email) = verified_email
            && let Some(person) = people::find_by_email(scope, email).await?
        {
            people::link_subject(scope, person.id, connection.id, subject).await?;
            let roles = person.roles.clone();
            return people::record_sign_in(scope, &person, Some(email), &roles, ending).await;
        }
        let name = asserted
            .display_name
            .clone()
            .or_else(|| asserted.username.clone())
            .or_else(|| asserted.verified_email.clone())
            .filter(|n| !n.trim().is_empty())
            .ok_or_else(|| {
                IdentityError::refused(
                    Refusal::Identity,
                    "the identity provider sent no name, username or email for this person",
                )
            })?;
        let data = PersonalData {
            name: Pii::new(name.chars().take(200).collect()),
            username: asserted.username.clone().map(Pii::new),
            email: verified_email.map(|e| Pii::new(e.to_string())),
            phone: None,
            birth_date: None,
            country: None,
        };
        let roles: Vec<String> = idp_roles.iter().map(|r| r.as_str().to_string()).collect();
        let person = people::insert(scope, &data, &roles, PersonSource::Sso)
            .await
            .map_err(|e| match e {
                IdentityError::Invalid(_) | IdentityError::Conflict(_) => IdentityError::refused(
                    Refusal::Identity,
                    format!("the identity provider's attributes cannot make a person here: {e}"),
                ),
                other => other,
            })?;
        people::link_subject(scope, person.id, connection.id, subject).await?;
        people::record_sign_in(scope, &person, verified_email, &idp_roles, ending).await
    }
}
