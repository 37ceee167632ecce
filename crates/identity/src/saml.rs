//! Signing a person in through their institution's SAML 2.0 identity provider: this service
//! is the service provider (SP), SP-initiated, HTTP-Redirect binding to the IdP and HTTP-POST
//! binding back to one assertion consumer service (ACS) shared by every institution.
//!
//! An admin adds a connection with the IdP's metadata; it is refused unless it names an
//! entity ID, an HTTP-Redirect SSO endpoint and at least one signing certificate (without
//! one, the verifying library would accept unsigned responses). `begin` builds an
//! AuthnRequest with a 128-bit random ID, keeps the pending flow server-side for ten minutes
//! keyed by an opaque random RelayState, and sends the browser to the IdP. `complete` at the
//! ACS consumes the flow once, then refuses anything oversized, malformed or carrying a
//! DOCTYPE before any XML library with entity support sees it; verifies the signature on the
//! response or the assertion against the metadata certificate only (RSA-SHA256 or
//! ECDSA-SHA256), and only what the signature covers is read afterwards (XML signature
//! wrapping); checks destination, recipient, audience, issuer, time window with bounded skew,
//! and that the response answers this flow's request; remembers the assertion ID until it
//! expires so it cannot be used twice. Then the same provisioning as OIDC (signin.rs) runs,
//! and the same reauthentication rule: after a reported compromise the assertion's
//! `AuthnInstant` must fall in a flow begun after the report (a login URL with
//! `force_authentication=true` sends `ForceAuthn="true"`).
//!
//! libxmlsec1 (under `samael`) prints verification failures to stderr: that noise on a
//! refused response is expected.

use crate::Identity;
use crate::connections::{
    self, ConnectionKind, SsoConnection, StoredConnection, check_role_mapping,
};
use crate::error::{IdentityError, Refusal};
use crate::sessions::ClientContext;
use crate::signin::{AssertedIdentity, SignedIn, qualified_subject, random_token};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use hub_kernel::Secret;
use hub_kernel::problem::Violations;
use hub_tenant::{ActiveTenant, Scope, TenantScope};
use quick_xml::events::Event;
use rand::RngCore;
use samael::crypto::AllowedSignatureAlgorithm;
use samael::metadata::{EntityDescriptor, IndexedEndpoint, SpSsoDescriptor};
use samael::schema::{Assertion, Response};
use samael::service_provider::{Error as SamlError, ServiceProvider, ServiceProviderBuilder};
use samael::traits::ToXml;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;
use uuid::Uuid;

const FLOW_TTL: Duration = Duration::from_secs(600);
/// IdP metadata with one entity is a few KiB; aggregates of a whole federation are not
/// accepted here.
const MAX_METADATA_BYTES: usize = 128 * 1024;
/// A signed response with a handful of attributes is under 20 KiB of base64.
pub const MAX_RESPONSE_BASE64_BYTES: usize = 256 * 1024;
/// How long after its IssueInstant a response is still accepted (plus the clock skew).
const MAX_ISSUE_DELAY: Duration = Duration::from_secs(180);
/// Upper bound on how long a consumed assertion ID is remembered.
const MAX_REPLAY_MEMORY: Duration = Duration::from_secs(24 * 3600);

const HTTP_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
const HTTP_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
const PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const NAMEID_EMAIL: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";
const NAMEID_TRANSIENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient";

// Attribute names as the common IdPs send them: basic names, LDAP OIDs (SAML2 profile of
// eduPerson / X.500) and the claim URIs of ADFS and Entra ID.
const EMAIL_ATTRIBUTES: &[&str] = &[
    "email",
    "mail",
    "emailAddress",
    "urn:oid:0.9.2342.19200300.100.1.3",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
];
const NAME_ATTRIBUTES: &[&str] = &[
    "name",
    "displayName",
    "urn:oid:2.16.840.1.113730.3.1.241",
    "http://schemas.microsoft.com/identity/claims/displayname",
];
const GIVEN_NAME_ATTRIBUTES: &[&str] = &[
    "givenName",
    "urn:oid:2.5.4.42",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
];
const SURNAME_ATTRIBUTES: &[&str] = &[
    "sn",
    "surname",
    "urn:oid:2.5.4.4",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname",
];
const USERNAME_ATTRIBUTES: &[&str] = &["uid", "username", "urn:oid:0.9.2342.19200300.100.1.1"];
const DEFAULT_GROUP_ATTRIBUTE: &str = "groups";

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

/// What the metadata says, once checked.
struct IdpMetadata {
    entity_id: String,
}

#[derive(Serialize, Deserialize)]
struct PendingSamlFlow {
    tenant_id: Uuid,
    connection_id: Uuid,
    request_id: String,
    /// What the assertion's `AuthnInstant` is compared with after a reported compromise.
    started_at: DateTime<Utc>,
}

/// What the IdP posted to the ACS.
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

/// How many SAML envelopes a document holds, by local name whatever the prefix: counting
/// too many is a refusal, never a miss.
#[derive(Debug, Default, PartialEq, Eq)]
struct Envelopes {
    responses: usize,
    assertions: usize,
}

/// Refuses DTDs outright (entity expansion, external entities) and anything quick-xml does
/// not find well-formed, before libxml2 (which samael runs in recovery mode) sees it.
fn refuse_doctype_and_malformed(xml: &str) -> Result<Envelopes, String> {
    let mut reader = quick_xml::Reader::from_str(xml);
    reader.config_mut().check_end_names = true;
    let mut depth = 0usize;
    let mut roots = 0usize;
    let mut envelopes = Envelopes::default();
    loop {
        let element = match reader.read_event() {
            Ok(Event::DocType(_)) => return Err("a DOCTYPE is not allowed".into()),
            Ok(Event::Start(e)) => {
                if depth == 0 {
                    roots += 1;
                }
                depth += 1;
                e
            }
            Ok(Event::Empty(e)) => {
                if depth == 0 {
                    roots += 1;
                }
                e
            }
            Ok(Event::End(_)) => {
                depth = depth.saturating_sub(1);
                continue;
            }
            Ok(Event::Eof) => break,
            Ok(_) => continue,
            Err(e) => return Err(format!("malformed XML: {e}")),
        };
        match element.local_name().as_ref() {
            b"Response" => envelopes.responses += 1,
            b"Assertion" | b"EncryptedAssertion" => envelopes.assertions += 1,
            _ => {}
        }
    }
    if roots != 1 || depth != 0 {
        return Err("malformed XML: not exactly one complete root element".into());
    }
    Ok(envelopes)
}

/// `https`, or `http` on a loopback address only (an IdP on the same host, as in tests).
fn acceptable_endpoint(location: &str) -> bool {
    match url::Url::parse(location) {
        Ok(u) => {
            let loopback = matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
            (u.scheme() == "https" || (u.scheme() == "http" && loopback))
                && u.username().is_empty()
                && location.len() <= 1000
        }
        Err(_) => false,
    }
}

fn sso_redirect_location(idp: &EntityDescriptor) -> Option<String> {
    idp.idp_sso_descriptors
        .iter()
        .flatten()
        .flat_map(|d| &d.single_sign_on_services)
        .find(|s| s.binding == HTTP_REDIRECT)
        .map(|s| s.location.clone())
}

/// A service provider that only ever verifies: no key of its own, strict algorithms.
fn service_provider(
    idp: EntityDescriptor,
    sp_entity_id: &str,
    acs_url: &str,
    clock_skew: Duration,
) -> Result<ServiceProvider, String> {
    let skew = chrono::Duration::from_std(clock_skew).map_err(|e| e.to_string())?;
    let delay = chrono::Duration::from_std(MAX_ISSUE_DELAY).map_err(|e| e.to_string())?;
    ServiceProviderBuilder::default()
        .entity_id(sp_entity_id.to_string())
        .acs_url(acs_url.to_string())
        .idp_metadata(idp)
        // Without a list, any algorithm xmlsec knows is accepted, SHA-1 included.
        .allowed_signature_algorithms(vec![
            AllowedSignatureAlgorithm::RsaSha256,
            AllowedSignatureAlgorithm::EcdsaSha256,
        ])
        .max_clock_skew(skew)
        .max_issue_delay(delay + skew)
        .build()
        .map_err(|e| e.to_string())
}

/// The signing certificates the metadata names; none is an error, never "skip the check".
fn signing_certificates(sp: &ServiceProvider) -> Result<usize, String> {
    let certs = sp
        .idp_signing_certs()
        .map_err(|e| format!("a signing certificate does not parse: {e}"))?
        .unwrap_or_default();
    if certs.is_empty() {
        return Err("names no signing certificate (KeyDescriptor use=\"signing\")".into());
    }
    for cert in &certs {
        let parsed = openssl::x509::X509::from_der(cert.der_data())
            .map_err(|_| "a signing certificate is not a DER X.509 certificate".to_string())?;
        let key = parsed
            .public_key()
            .map_err(|_| "a signing certificate has no usable public key".to_string())?;
        let strong = match key.id() {
            openssl::pkey::Id::RSA => key.bits() >= 2048,
            openssl::pkey::Id::EC => key.bits() >= 256,
            _ => false,
        };
        if !strong {
            return Err("a signing certificate's key is not RSA ≥ 2048 bits or EC P-256+".into());
        }
    }
    Ok(certs.len())
}

fn check_metadata(xml: &str) -> Result<(EntityDescriptor, IdpMetadata), String> {
    if xml.len() > MAX_METADATA_BYTES {
        return Err(format!("must be at most {} KiB", MAX_METADATA_BYTES / 1024));
    }
    refuse_doctype_and_malformed(xml)?;
    let idp = EntityDescriptor::from_str(xml)
        .map_err(|e| format!("is not one SAML EntityDescriptor: {e}"))?;
    let entity_id = idp
        .entity_id
        .clone()
        .filter(|e| !e.trim().is_empty() && e.len() <= 500)
        .ok_or("names no entityID (1–500 characters)")?;
    if idp.idp_sso_descriptors.as_ref().is_none_or(Vec::is_empty) {
        return Err("has no IDPSSODescriptor".into());
    }
    let sso = sso_redirect_location(&idp)
        .ok_or("has no SingleSignOnService with the HTTP-Redirect binding")?;
    if !acceptable_endpoint(&sso) {
        return Err("its SSO endpoint must be https (http only on a loopback address)".into());
    }
    let probe = service_provider(idp.clone(), "urn:probe", "https://probe.invalid/acs", {
        Duration::ZERO
    })?;
    signing_certificates(&probe)?;
    Ok((idp, IdpMetadata { entity_id }))
}

fn check_sp_entity_id(v: &mut Violations, id: &str) {
    v.check(
        (1..=500).contains(&id.len())
            && !id.chars().any(|c| c.is_control() || c.is_whitespace())
            && url::Url::parse(id).is_ok(),
        "sp_entity_id",
        "must be a URI of 1–500 characters without spaces",
    );
}

fn attribute_values(assertion: &Assertion, names: &[&str]) -> Vec<String> {
    assertion
        .attribute_statements
        .iter()
        .flatten()
        .flat_map(|statement| &statement.attributes)
        .filter(|a| {
            names
                .iter()
                .any(|n| a.name.as_deref() == Some(*n) || a.friendly_name.as_deref() == Some(*n))
        })
        .flat_map(|a| &a.values)
        .filter_map(|v| v.value.as_deref())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .collect()
}

fn first_value(assertion: &Assertion, names: &[&str]) -> Option<String> {
    attribute_values(assertion, names).into_iter().next()
}

/// The identity a verified assertion asserts.
fn asserted_by_saml(
    connection: &SsoConnection,
    assertion: &Assertion,
) -> Result<AssertedIdentity, IdentityError> {
    let name_id = assertion
        .subject
        .as_ref()
        .and_then(|s| s.name_id.as_ref())
        .filter(|n| !n.value.trim().is_empty() && n.value.len() <= 500)
        .ok_or_else(|| {
            IdentityError::refused(Refusal::Identity, "the assertion names no subject (NameID)")
        })?;
    if name_id.format.as_deref() == Some(NAMEID_TRANSIENT) {
        return Err(IdentityError::refused(
            Refusal::Identity,
            "a transient NameID changes at every sign-in; configure the IdP to send a \
             persistent or email NameID",
        ));
    }
    let name_id_email =
        (name_id.format.as_deref() == Some(NAMEID_EMAIL)).then(|| name_id.value.trim().to_string());
    // SAML has no `email_verified`: the institution's IdP is the authority over its own
    // directory, and the admin chose to trust it by adding its metadata.
    let email = first_value(assertion, EMAIL_ATTRIBUTES)
        .or(name_id_email)
        .filter(|e| e.contains('@') && e.len() <= 320);
    let joined = match (
        first_value(assertion, GIVEN_NAME_ATTRIBUTES),
        first_value(assertion, SURNAME_ATTRIBUTES),
    ) {
        (Some(g), Some(f)) => Some(format!("{g} {f}")),
        _ => None,
    };
    let group_attribute = connection
        .group_attribute
        .as_deref()
        .unwrap_or(DEFAULT_GROUP_ATTRIBUTE);
    Ok(AssertedIdentity {
        subject: qualified_subject(&connection.issuer, name_id.value.trim()),
        verified_email: email,
        display_name: first_value(assertion, NAME_ATTRIBUTES).or(joined),
        username: first_value(assertion, USERNAME_ATTRIBUTES),
        groups: attribute_values(assertion, &[group_attribute]),
        authenticated_at: assertion
            .authn_statements
            .iter()
            .flatten()
            .filter_map(|s| s.authn_instant)
            .map(|t| t.timestamp())
            .max(),
    })
}

/// Why samael refused, as one of our refusal codes.
fn refusal_of(error: &SamlError) -> IdentityError {
    let (reason, detail) = match error {
        SamlError::FailedToValidateSignature
        | SamlError::CryptoXmlError(_)
        | SamlError::CryptoProviderError(_)
        | SamlError::UnsupportedKey => (
            Refusal::SamlSignature,
            "the response's signature does not verify against the identity provider's \
             certificate (or covers no assertion)"
                .to_string(),
        ),
        SamlError::ResponseInResponseToInvalid { .. }
        | SamlError::AssertionInResponseToInvalid { .. } => (
            Refusal::SamlUnsolicited,
            "the response does not answer this sign-in's request (InResponseTo)".to_string(),
        ),
        SamlError::ResponseBadStatusCode { code } => (
            Refusal::IdpDenied,
            format!(
                "the identity provider did not sign the person in ({})",
                code.rsplit(':').next().unwrap_or("error")
            ),
        ),
        SamlError::DestinationValidationError { .. }
        | SamlError::AssertionRecipientMismatch { .. }
        | SamlError::AssertionConditionAudienceRestrictionFailed { .. }
        | SamlError::AssertionExpired { .. }
        | SamlError::ResponseExpired { .. }
        | SamlError::AssertionConditionExpired { .. }
        | SamlError::AssertionConditionExpiredBefore { .. }
        | SamlError::AssertionSubjectConfirmationExpired { .. }
        | SamlError::AssertionSubjectConfirmationExpiredBefore { .. }
        | SamlError::AssertionBearerSubjectConfirmationMissing
        | SamlError::AssertionSubjectConfirmationMissing
        | SamlError::AssertionIssuerMismatch { .. }
        | SamlError::ResponseIssuerMismatch { .. } => (
            Refusal::SamlConditions,
            format!("the assertion is not for this sign-in: {error}"),
        ),
        SamlError::EncryptedAssertionsNotYetSupported
        | SamlError::MissingPrivateKeySP
        | SamlError::MissingEncryptedKeyInfo
        | SamlError::MissingEncryptedValueInfo
        | SamlError::EncryptedAssertionKeyMethodUnsupported { .. }
        | SamlError::EncryptedAssertionValueMethodUnsupported { .. }
        | SamlError::EncryptedAssertionInvalid
        | SamlError::FailedToDecryptAssertion => (
            Refusal::SamlResponseInvalid,
            "encrypted assertions are not supported; configure the IdP to sign, not encrypt"
                .to_string(),
        ),
        _ => (
            Refusal::SamlResponseInvalid,
            format!("the response is not a usable SAML response: {error}"),
        ),
    };
    IdentityError::refused(reason, detail)
}

/// What samael's validation leaves to the caller: an audience restriction and an expiry
/// must be there at all (samael checks them only when present).
fn check_assertion_bounds(
    assertion: &Assertion,
    sp_entity_id: &str,
) -> Result<DateTime<Utc>, IdentityError> {
    let conditions = |detail: &str| IdentityError::refused(Refusal::SamlConditions, detail);
    let c = assertion
        .conditions
        .as_ref()
        .ok_or_else(|| conditions("the assertion carries no Conditions"))?;
    let for_us = c
        .audience_restrictions
        .iter()
        .flatten()
        .any(|r| r.audience.iter().any(|a| a == sp_entity_id));
    if !for_us {
        return Err(conditions(
            "the assertion is not restricted to this service's entity ID (Audience)",
        ));
    }
    c.not_on_or_after
        .ok_or_else(|| conditions("the assertion has no NotOnOrAfter"))
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
            !name.is_empty() && name.chars().count() <= 100,
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
            (1..=200).contains(&group_attribute.len())
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
        let descriptor = EntityDescriptor {
            entity_id: Some(connection.client_id.clone()),
            sp_sso_descriptors: Some(vec![SpSsoDescriptor {
                protocol_support_enumeration: Some(PROTOCOL.into()),
                authn_requests_signed: Some(false),
                want_assertions_signed: Some(true),
                name_id_formats: Some(vec![
                    "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent".into(),
                    NAMEID_EMAIL.into(),
                ]),
                assertion_consumer_services: vec![IndexedEndpoint {
                    binding: HTTP_POST.into(),
                    location: self.saml_acs_url.clone(),
                    response_location: None,
                    index: 0,
                    is_default: Some(true),
                }],
                ..SpSsoDescriptor::default()
            }]),
            ..EntityDescriptor::default()
        };
        descriptor
            .to_string()
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
        let invalid = |detail: String| IdentityError::refused(Refusal::SamlResponseInvalid, detail);
        let encoded = saml_response
            .filter(|r| !r.trim().is_empty())
            .ok_or_else(|| invalid("the post carries no SAMLResponse".into()))?;
        if encoded.len() > MAX_RESPONSE_BASE64_BYTES {
            return Err(invalid(format!(
                "the SAMLResponse is larger than {} KiB",
                MAX_RESPONSE_BASE64_BYTES / 1024
            )));
        }
        // Some IdPs wrap the base64 in lines.
        let compact: String = encoded.split_ascii_whitespace().collect();
        let bytes = STANDARD
            .decode(compact.as_bytes())
            .map_err(|_| invalid("the SAMLResponse is not base64".into()))?;
        let xml = String::from_utf8(bytes)
            .map_err(|_| invalid("the SAMLResponse is not UTF-8 XML".into()))?;
        let envelopes = refuse_doctype_and_malformed(&xml)
            .map_err(|why| invalid(format!("the SAMLResponse: {why}")))?;
        // The Web SSO profile answers one request with one response carrying one assertion.
        // More is how signature-wrapping attacks hide an unsigned twin next to a signed
        // original; samael reads only the signed one, but such a message is refused whole.
        if envelopes.responses > 1 || envelopes.assertions > 1 {
            return Err(invalid(
                "the SAMLResponse holds more than one response or assertion (signature wrapping?)"
                    .into(),
            ));
        }

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doctype_and_malformed_xml_are_refused_before_parsing() {
        assert!(refuse_doctype_and_malformed("<a><b/></a>").is_ok());
        assert_eq!(
            refuse_doctype_and_malformed(
                "<p:Response><Assertion/><x:Assertion></x:Assertion></p:Response>"
            ),
            Ok(Envelopes {
                responses: 1,
                assertions: 2
            })
        );
        for bad in [
            "<!DOCTYPE a [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><a>&x;</a>",
            "<a><b></a>",
            "<a/><b/>",
            "",
            "<a>",
        ] {
            assert!(refuse_doctype_and_malformed(bad).is_err(), "{bad}");
        }
    }

    fn connection(group_attribute: &str) -> SsoConnection {
        SsoConnection {
            id: Uuid::now_v7(),
            kind: ConnectionKind::Saml,
            name: "IdP".into(),
            issuer: "https://idp.example/metadata".into(),
            client_id: "https://hub.example/sp".into(),
            scopes: Vec::new(),
            group_roles: BTreeMap::new(),
            default_role: crate::Role::Learner,
            group_attribute: Some(group_attribute.into()),
            enabled: true,
            created_at: Utc::now(),
        }
    }

    fn assertion(name_id_format: &str, attributes: &str) -> Assertion {
        let xml = format!(
            r#"<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_a" Version="2.0" IssueInstant="2026-11-29T10:00:00Z"><saml:Issuer>https://idp.example/metadata</saml:Issuer><saml:Subject><saml:NameID Format="{name_id_format}">ada@uni.example</saml:NameID></saml:Subject><saml:AuthnStatement AuthnInstant="2026-11-29T09:59:00Z"/><saml:AttributeStatement>{attributes}</saml:AttributeStatement></saml:Assertion>"#
        );
        Assertion::from_str(&xml).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_asserted_identity_comes_from_name_id_and_common_attribute_names() {
        let attributes = concat!(
            r#"<saml:Attribute Name="urn:oid:2.5.4.42"><saml:AttributeValue>Ada</saml:AttributeValue></saml:Attribute>"#,
            r#"<saml:Attribute Name="x" FriendlyName="sn"><saml:AttributeValue>Lovelace</saml:AttributeValue></saml:Attribute>"#,
            r#"<saml:Attribute Name="memberOf"><saml:AttributeValue>staff</saml:AttributeValue><saml:AttributeValue> </saml:AttributeValue><saml:AttributeValue>maths</saml:AttributeValue></saml:Attribute>"#,
        );
        let asserted = asserted_by_saml(
            &connection("memberOf"),
            &assertion(NAMEID_EMAIL, attributes),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            asserted.subject,
            "https://idp.example/metadata\nada@uni.example"
        );
        assert_eq!(asserted.verified_email.as_deref(), Some("ada@uni.example"));
        assert_eq!(asserted.display_name.as_deref(), Some("Ada Lovelace"));
        assert_eq!(asserted.groups, ["staff", "maths"]);
        assert!(asserted.authenticated_at.is_some());
    }

    #[test]
    fn an_assertion_authenticated_before_the_report_is_not_fresh() {
        let asserted = asserted_by_saml(&connection("groups"), &assertion(NAMEID_EMAIL, ""))
            .unwrap_or_else(|e| panic!("{e}"));
        // AuthnInstant 09:59:00; the report at 10:00, the forced flow at 10:01.
        let at = |text: &str| text.parse::<DateTime<Utc>>().unwrap();
        assert!(!crate::reauthentication::authenticated_after(
            at("2026-11-29T10:00:00Z"),
            at("2026-11-29T10:01:00Z"),
            asserted.authenticated_at,
        ));
        // The same AuthnInstant is fresh for a report before it, in a flow it belongs to.
        assert!(crate::reauthentication::authenticated_after(
            at("2026-11-29T09:58:00Z"),
            at("2026-11-29T09:58:59Z"),
            asserted.authenticated_at,
        ));
    }

    #[test]
    fn a_transient_name_id_cannot_identify_a_person() {
        let refused = asserted_by_saml(&connection("groups"), &assertion(NAMEID_TRANSIENT, ""));
        assert!(matches!(
            refused,
            Err(IdentityError::SignInRefused {
                reason: Refusal::Identity,
                ..
            })
        ));
    }

    #[test]
    fn metadata_without_a_signing_certificate_is_refused() {
        let xml = r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://idp.example/metadata"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>"#;
        let why = check_metadata(xml).err().unwrap_or_default();
        assert!(why.contains("signing certificate"), "{why}");
    }
}
