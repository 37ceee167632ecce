//! The SAML 2.0 protocol as this service provider speaks it: the bindings and name formats,
//! IdP metadata checks (entity ID, an HTTP-Redirect SSO endpoint, at least one strong signing
//! certificate: without one, the verifying library would accept unsigned responses), the
//! refusal of malformed or DOCTYPE-carrying XML before any XML library with entity support
//! sees it, the verifying `ServiceProvider` (RSA-SHA256 or ECDSA-SHA256 against the metadata
//! certificate only), what samael leaves to the caller (an audience restriction and an expiry
//! must be present), samael's errors as refusal codes, and the identity a verified assertion
//! asserts (NameID and the common attribute names). The sign-in flow is in `saml.rs`.
//!
//! libxmlsec1 (under `samael`) prints verification failures to stderr: that noise on a
//! refused response is expected.

use crate::connections::SsoConnection;
use crate::error::{IdentityError, Refusal};
use crate::signin::{AssertedIdentity, qualified_subject};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use hub_kernel::problem::Violations;
use quick_xml::events::Event;
use samael::crypto::AllowedSignatureAlgorithm;
use samael::metadata::{EntityDescriptor, IndexedEndpoint, SpSsoDescriptor};
use samael::schema::Assertion;
use samael::service_provider::{Error as SamlError, ServiceProvider, ServiceProviderBuilder};
use samael::traits::ToXml;
use std::str::FromStr;
use std::time::Duration;

/// IdP metadata with one entity is a few KiB; aggregates of a whole federation are not
/// accepted here.
pub(super) const MAX_METADATA_BYTES: usize = 128 * 1024;
/// A signed response with a handful of attributes is under 20 KiB of base64.
pub const MAX_RESPONSE_BASE64_BYTES: usize = 256 * 1024;
/// How long after its IssueInstant a response is still accepted (plus the clock skew).
pub(super) const MAX_ISSUE_DELAY: Duration = Duration::from_secs(180);

pub(super) const HTTP_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
pub(super) const HTTP_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
pub(super) const PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
pub(super) const NAMEID_EMAIL: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";
pub(super) const NAMEID_TRANSIENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient";

// Attribute names as the common IdPs send them: basic names, LDAP OIDs (SAML2 profile of
// eduPerson / X.500) and the claim URIs of ADFS and Entra ID.
pub(super) const EMAIL_ATTRIBUTES: &[&str] = &[
    "email",
    "mail",
    "emailAddress",
    "urn:oid:0.9.2342.19200300.100.1.3",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
];
pub(super) const NAME_ATTRIBUTES: &[&str] = &[
    "name",
    "displayName",
    "urn:oid:2.16.840.1.113730.3.1.241",
    "http://schemas.microsoft.com/identity/claims/displayname",
];
pub(super) const GIVEN_NAME_ATTRIBUTES: &[&str] = &[
    "givenName",
    "urn:oid:2.5.4.42",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
];
pub(super) const SURNAME_ATTRIBUTES: &[&str] = &[
    "sn",
    "surname",
    "urn:oid:2.5.4.4",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname",
];
pub(super) const USERNAME_ATTRIBUTES: &[&str] =
    &["uid", "username", "urn:oid:0.9.2342.19200300.100.1.1"];
pub(super) const DEFAULT_GROUP_ATTRIBUTE: &str = "groups";

/// What the metadata says, once checked.
pub(super) struct IdpMetadata {
    pub(super) entity_id: String,
}

/// How many SAML envelopes a document holds, by local name whatever the prefix: counting
/// too many is a refusal, never a miss.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Envelopes {
    pub(super) responses: usize,
    pub(super) assertions: usize,
}

/// Refuses DTDs outright (entity expansion, external entities) and anything quick-xml does
/// not find well-formed, before libxml2 (which samael runs in recovery mode) sees it.
pub(super) fn refuse_doctype_and_malformed(xml: &str) -> Result<Envelopes, String> {
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
pub(super) fn acceptable_endpoint(location: &str) -> bool {
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

pub(super) fn sso_redirect_location(idp: &EntityDescriptor) -> Option<String> {
    idp.idp_sso_descriptors
        .iter()
        .flatten()
        .flat_map(|d| &d.single_sign_on_services)
        .find(|s| s.binding == HTTP_REDIRECT)
        .map(|s| s.location.clone())
}

/// A service provider that only ever verifies: no key of its own, strict algorithms.
pub(super) fn service_provider(
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
pub(super) fn signing_certificates(sp: &ServiceProvider) -> Result<usize, String> {
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

pub(super) fn check_metadata(xml: &str) -> Result<(EntityDescriptor, IdpMetadata), String> {
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

pub(super) fn check_sp_entity_id(v: &mut Violations, id: &str) {
    v.check(
        (1..=500).contains(&id.len())
            && !id.chars().any(|c| c.is_control() || c.is_whitespace())
            && url::Url::parse(id).is_ok(),
        "sp_entity_id",
        "must be a URI of 1–500 characters without spaces",
    );
}

pub(super) fn attribute_values(assertion: &Assertion, names: &[&str]) -> Vec<String> {
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

pub(super) fn first_value(assertion: &Assertion, names: &[&str]) -> Option<String> {
    attribute_values(assertion, names).into_iter().next()
}

/// The identity a verified assertion asserts.
pub(super) fn asserted_by_saml(
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
pub(super) fn refusal_of(error: &SamlError) -> IdentityError {
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
pub(super) fn check_assertion_bounds(
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

/// This service's SP metadata for one connection: HTTP-POST to the ACS, signed assertions
/// wanted, persistent or email NameIDs.
pub(super) fn sp_metadata_document(
    sp_entity_id: &str,
    acs_url: &str,
) -> Result<String, IdentityError> {
    EntityDescriptor {
        entity_id: Some(sp_entity_id.to_string()),
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
                location: acs_url.to_string(),
                response_location: None,
                index: 0,
                is_default: Some(true),
            }],
            ..SpSsoDescriptor::default()
        }]),
        ..EntityDescriptor::default()
    }
    .to_string()
    .map_err(|e| IdentityError::Conflict(format!("SP metadata: {e}")))
}

/// The XML of a posted SAMLResponse: bounded, base64, UTF-8, no DOCTYPE, well-formed, one
/// response holding at most one assertion.
pub(super) fn decoded_response(saml_response: Option<String>) -> Result<String, IdentityError> {
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
    Ok(xml)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connections::ConnectionKind;
    use std::collections::BTreeMap;
    use uuid::Uuid;

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
