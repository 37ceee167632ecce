//! Signing a person in through their institution's SAML 2.0 identity provider: this service
//! is the service provider (SP), SP-initiated, HTTP-Redirect binding to the IdP and HTTP-POST
//! binding back to one assertion consumer service (ACS) shared by every institution. This
//! module is the flow (connections, pending flows, replay memory, sign-in); the XML,
//! signatures and metadata are in `protocol`.
//!
//! An admin adds a connection with the IdP's metadata, refused field by field when unusable.
//! `begin` builds an AuthnRequest with a 128-bit random ID, keeps the pending flow server-side
//! for ten minutes keyed by an opaque random RelayState, and sends the browser to the IdP.
//! `complete` at the ACS consumes the flow once, refuses anything oversized, malformed or
//! carrying a DOCTYPE, has the response verified (`protocol`; only what the signature covers
//! is read afterwards: XML signature wrapping), checks destination, recipient, audience,
//! issuer, time window with bounded skew, and that the response answers this flow's request;
//! it remembers the assertion ID until it expires so it cannot be used twice. Then the same
//! provisioning as OIDC (signin.rs) runs, and the same reauthentication rule: after a reported
//! compromise the assertion's `AuthnInstant` must fall in a flow begun after the report (a
//! login URL with `force_authentication=true` sends `ForceAuthn="true"`).

mod protocol;

pub use protocol::MAX_RESPONSE_BASE64_BYTES;

use crate::Identity;
use crate::connections::{
    self, ConnectionKind, SsoConnection, StoredConnection, check_role_mapping,
};
use crate::error::{IdentityError, Refusal};
use crate::sessions::ClientContext;
use crate::signin::{SignedIn, random_token};
use chrono::{DateTime, Utc};
use hub_kernel::Secret;
use hub_kernel::problem::Violations;
use hub_tenant::{ActiveTenant, Scope, TenantScope};
use protocol::{
    DEFAULT_GROUP_ATTRIBUTE, asserted_by_saml, check_assertion_bounds, check_metadata,
    check_sp_entity_id, decoded_response, refusal_of, service_provider, signing_certificates,
    sp_metadata_document, sso_redirect_location,
};
use rand::RngCore;
use samael::metadata::EntityDescriptor;
use samael::schema::Response;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;
use uuid::Uuid;

/// The name of the attribute holding a person's groups.
pub const GROUP_ATTRIBUTE_MAX: usize = 200;

const FLOW_TTL: Duration = Duration::from_secs(600);
/// Upper bound on how long a consumed assertion ID is remembered.
const MAX_REPLAY_MEMORY: Duration = Duration::from_secs(24 * 3600);

/// A new SAML connection, as an admin describes it.
#[derive(Debug, Clone)]
pub struct NewSamlConnection {
    pub name: String,
    /// The IdP's metadata document (one `EntityDescriptor`).
    pub idp_metadata_xml: String,
    /// How the IdP knows this service; by default the connection's SP metadata URL.
    pub sp_entity_id: Option<String>,
    /// The attribute whose values are the person's groups; default `groups`.
    pub group_attribute: Option<String>,
    pub group_roles: BTreeMap<String, String>,
    pub default_role: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct PendingSamlFlow {
    tenant_id: Uuid,
    connection_id: Uuid,
    request_id: String,
    /// What the assertion's `AuthnInstant` is compared with after a reported compromise.
    started_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default)]
pub struct AcsPost {
    pub saml_response: Option<String>,
    pub relay_state: Option<String>,
}

fn hashed(prefix: &str, value: &str) -> String {
    // Hashed so the store's keys do not hold the bearer value (or IdP identifiers) itself.
    format!("{prefix}:{}", hex::encode(Sha256::digest(value.as_bytes())))
}

fn flow_key(relay_state: &str) -> String {
    hashed("hub:saml-flow", relay_state)
}

fn used_flow_key(relay_state: &str) -> String {
    hashed("hub:saml-flow-used", relay_state)
}

impl Identity {
    fn saml_sp_entity_id_default(&self, tenant_slug: &str, connection_id: Uuid) -> String {
        format!(
            "{}/v1/sso/{tenant_slug}/saml/{connection_id}/metadata",
            self.public_url
        )
    }

    /// Adds a SAML connection from the IdP's metadata, refused field by field when the
    /// metadata is unusable.
    pub async fn create_saml_connection(
        &self,
        scope: &TenantScope,
        tenant_slug: &str,
        input: NewSamlConnection,
    ) -> Result<SsoConnection, IdentityError> {
        scope.require(Scope::TenantAdmin)?;
        let mut v = Violations::new();
        let name = input.name.trim();
        v.check(
            !name.is_empty() && name.chars().count() <= connections::NAME_MAX,
            "name",
            "must be 1–100 characters",
        );
        let metadata = match check_metadata(&input.idp_metadata_xml) {
            Ok((_, metadata)) => Some(metadata),
            Err(why) => {
                v.add("idp_metadata_xml", format!("the IdP metadata {why}"));
                None
            }
        };
        if let Some(id) = &input.sp_entity_id {
            check_sp_entity_id(&mut v, id);
        }
        let group_attribute = input
            .group_attribute
            .clone()
            .unwrap_or_else(|| DEFAULT_GROUP_ATTRIBUTE.into());
        v.check(
            (1..=GROUP_ATTRIBUTE_MAX).contains(&group_attribute.chars().count())
                && !group_attribute.chars().any(char::is_control),
            "group_attribute",
            "must be 1–200 characters",
        );
        let (group_roles, default_role) =
            check_role_mapping(&mut v, &input.group_roles, input.default_role.as_deref());
        v.finish().map_err(IdentityError::Invalid)?;
        let Some(metadata) = metadata else {
            return Err(IdentityError::invalid("idp_metadata_xml", "is unusable"));
        };
        let id = Uuid::now_v7();
        let sp_entity_id = input
            .sp_entity_id
            .unwrap_or_else(|| self.saml_sp_entity_id_default(tenant_slug, id));
        connections::insert(
            scope,
            StoredConnection {
                id,
                kind: ConnectionKind::Saml,
                name: name.to_string(),
                issuer: metadata.entity_id,
                client_id: sp_entity_id,
                // SAML has no client secret; sealing the empty string keeps one row shape.
                client_secret: Secret::default(),
                scopes: Vec::new(),
                group_roles,
                default_role,
                idp_metadata_xml: Some(input.idp_metadata_xml),
                group_attribute: Some(group_attribute),
            },
        )
        .await?;
        connections::get(scope, id).await
    }

    /// A SAML connection named by a public URL: unknown institution, unknown connection,
    /// another kind and a disabled connection all look the same.
    async fn public_saml_connection(
        &self,
        tenant_slug: &str,
        connection_id: Uuid,
    ) -> Result<(ActiveTenant, SsoConnection, String), IdentityError> {
        let tenant = self
            .tenancy
            .active_tenant_by_slug(tenant_slug)
            .await
            .map_err(|e| match e {
                hub_tenant::TenantError::NotFound(_) => IdentityError::NotFound("sso connection"),
                other => other.into(),
            })?;
        let scope = self.tenancy.sign_in_scope(&tenant).await?;
        let (connection, metadata) = connections::load_saml(&scope, connection_id).await?;
        scope.commit().await?;
        if !connection.enabled {
            return Err(IdentityError::NotFound("sso connection"));
        }
        Ok((tenant, connection, metadata))
    }

    /// This service's SP metadata for one connection, for the IdP's admins to import.
    pub async fn saml_sp_metadata(
        &self,
        tenant_slug: &str,
        connection_id: Uuid,
    ) -> Result<String, IdentityError> {
        let (_, connection, _) = self
            .public_saml_connection(tenant_slug, connection_id)
            .await?;
        sp_metadata_document(&connection.client_id, &self.saml_acs_url)
            .map_err(|e| IdentityError::Conflict(format!("SP metadata: {e}")))
    }

    /// The IdP URL to send the browser to (HTTP-Redirect binding).
    /// `force_authentication` sets `ForceAuthn`: the IdP must authenticate the person again.
    pub async fn begin_saml_sign_in(
        &self,
        tenant_slug: &str,
        connection_id: Uuid,
        force_authentication: bool,
    ) -> Result<String, IdentityError> {
        let (tenant, connection, metadata) = self
            .public_saml_connection(tenant_slug, connection_id)
            .await?;
        let unusable = |e: String| IdentityError::IdpUnavailable(format!("IdP metadata: {e}"));
        let idp = EntityDescriptor::from_str(&metadata).map_err(|e| unusable(e.to_string()))?;
        let sso = sso_redirect_location(&idp)
            .ok_or_else(|| unusable("no HTTP-Redirect SSO endpoint".into()))?;
        let sp = service_provider(
            idp,
            &connection.client_id,
            &self.saml_acs_url,
            self.clock_skew,
        )
        .map_err(unusable)?;
        let mut request = sp
            .make_authentication_request(&sso)
            .map_err(|e| unusable(e.to_string()))?;
        // samael's own IDs carry 32 random bits; the request ID is what binds the answer to
        // this flow, so it gets 128 (an XML ID must not start with a digit).
        let mut bytes = [0u8; 16];
        rand::rng().fill_bytes(&mut bytes);
        request.id = format!("_{}", hex::encode(bytes));
        request.force_authn = Some(force_authentication);
        let relay_state = random_token();
        let flow = PendingSamlFlow {
            tenant_id: tenant.location.tenant_id,
            connection_id,
            request_id: request.id.clone(),
            started_at: Utc::now(),
        };
        let text =
            serde_json::to_string(&flow).map_err(|e| IdentityError::SessionStore(e.to_string()))?;
        let url = request
            .redirect(&relay_state)
            .map_err(|e| unusable(e.to_string()))?
            .ok_or_else(|| unusable("no SSO destination".into()))?;
        self.ephemeral
            .put(&flow_key(&relay_state), &text, FLOW_TTL)
            .await?;
        Ok(url.into())
    }

    /// Finishes a SAML sign-in at the ACS.
    pub async fn complete_saml_sign_in(
        &self,
        post: AcsPost,
        context: ClientContext,
    ) -> Result<SignedIn, IdentityError> {
        let relay_state = post
            .relay_state
            .filter(|s| !s.is_empty() && s.len() <= 200)
            .ok_or_else(|| {
                IdentityError::refused(
                    Refusal::State,
                    "the response carries no RelayState: only sign-ins started here are accepted",
                )
            })?;
        // Consumed before anything else: a flow works once, whatever happens next.
        let Some(flow) = self
            .ephemeral
            .take(&flow_key(&relay_state))
            .await?
            .and_then(|text| serde_json::from_str::<PendingSamlFlow>(&text).ok())
        else {
            if self
                .ephemeral
                .get(&used_flow_key(&relay_state))
                .await?
                .is_some()
            {
                return Err(IdentityError::refused(
                    Refusal::SamlReplayed,
                    "this sign-in's response was already used; start the sign-in again",
                ));
            }
            return Err(IdentityError::refused(
                Refusal::State,
                "unknown or expired RelayState; start the sign-in again",
            ));
        };
        self.ephemeral
            .put(&used_flow_key(&relay_state), "1", FLOW_TTL)
            .await?;
        let tenant = self.tenancy.active_tenant(flow.tenant_id).await?;
        let ip = Some(context.ip_address.clone());
        let outcome = self
            .finish_saml(&tenant, &flow, post.saml_response, context)
            .await;
        self.audit_refusal(&tenant, flow.connection_id, ip, outcome)
            .await
    }

    async fn finish_saml(
        &self,
        tenant: &ActiveTenant,
        flow: &PendingSamlFlow,
        saml_response: Option<String>,
        context: ClientContext,
    ) -> Result<SignedIn, IdentityError> {
        let xml = decoded_response(saml_response)?;
        let invalid = |detail: String| IdentityError::refused(Refusal::SamlResponseInvalid, detail);
        let mut scope = self.tenancy.sign_in_scope(tenant).await?;
        scope.set_client_ip(Some(context.ip_address.clone()));
        let (connection, metadata) = connections::load_saml(&scope, flow.connection_id).await?;
        if !connection.enabled {
            return Err(IdentityError::NotFound("sso connection"));
        }
        // Metadata is checked at creation; checked again here because verifying against
        // metadata without a certificate would silently verify nothing.
        let (idp, _) = check_metadata(&metadata).map_err(|why| {
            IdentityError::IdpUnavailable(format!("the stored IdP metadata {why}"))
        })?;
        let sp = service_provider(
            idp,
            &connection.client_id,
            &self.saml_acs_url,
            self.clock_skew,
        )
        .map_err(|e| IdentityError::IdpUnavailable(format!("IdP metadata: {e}")))?;
        signing_certificates(&sp)
            .map_err(|e| IdentityError::IdpUnavailable(format!("IdP metadata {e}")))?;
        if let Ok(unverified) = Response::from_str(&xml) {
            // Only to word the refusal: nothing read here is trusted.
            let signed = unverified.signature.is_some()
                || unverified
                    .assertion
                    .as_ref()
                    .is_some_and(|a| a.signature.is_some());
            if !signed {
                return Err(IdentityError::refused(
                    Refusal::SamlSignature,
                    "the response is not signed; the identity provider must sign the response \
                     or the assertion",
                ));
            }
        }
        let request_id = flow.request_id.clone();
        let sp_entity_id = connection.client_id.clone();
        // libxml2 and xmlsec are synchronous C code: off the async workers.
        let assertion = tokio::task::spawn_blocking(move || {
            sp.parse_xml_response(&xml, Some(&[request_id.as_str()]))
                .map_err(|e| refusal_of(&e))
        })
        .await
        .map_err(|e| invalid(format!("verification did not finish: {e}")))??;
        let not_on_or_after = check_assertion_bounds(&assertion, &sp_entity_id)?;
        let remember = (not_on_or_after - Utc::now())
            .to_std()
            .unwrap_or_default()
            .saturating_add(self.clock_skew)
            .clamp(Duration::from_secs(60), MAX_REPLAY_MEMORY);
        let assertion_key = hashed(
            "hub:saml-assertion",
            &format!("{}\n{}", connection.issuer, assertion.id),
        );
        if !self
            .ephemeral
            .put_once(&assertion_key, "1", remember)
            .await?
        {
            return Err(IdentityError::refused(
                Refusal::SamlReplayed,
                "this assertion was already used to sign in",
            ));
        }
        let asserted = asserted_by_saml(&connection, &assertion)?;
        self.open_session(
            tenant,
            scope,
            &connection,
            &asserted,
            flow.started_at,
            context,
        )
        .await
    }
}
