//! `/v1/sso/…` for SAML 2.0: admins add a connection from their IdP's metadata; the IdP's
//! admins import this service's SP metadata; people start at `…/saml/{id}/login`, which
//! redirects to the IdP, and the IdP posts its signed answer to the one assertion consumer
//! service, `/v1/sso/saml/acs`, which answers with a session like the OIDC callback.

use crate::api::ApiTags;
use crate::api::sso::{
    SignInRedirect, SignInResult, SignedIn, SsoConnectionCreated, client_context, connection_view,
};
use crate::auth::TenantCredential;
use crate::problem::ApiError;
use crate::state::AppState;
use hub_identity::saml::{AcsPost, NewSamlConnection};
use poem::Request;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Form, Json, Payload};
use poem_openapi::registry::{MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Object, OpenApi};
use std::collections::BTreeMap;
use std::sync::Arc;
use uuid::Uuid;

/// A real self-signed certificate (RSA 2048, valid until 2056) so the example is importable
/// as is; it signs nothing.
const EXAMPLE_IDP_CERTIFICATE: &str = concat!(
    "MIIDJTCCAg2gAwIBAgIULnxyTu3vpdZWhGKzPA177bsrJAwwDQYJKoZIhvcNAQELBQAwITEfMB0G",
    "A1UEAwwWaWRwLm5vcnRoZmllbGQuZXhhbXBsZTAgFw0yNjExMjkxNDE1MTNaGA8yMDU2MTEyMTE0",
    "MTUxM1owITEfMB0GA1UEAwwWaWRwLm5vcnRoZmllbGQuZXhhbXBsZTCCASIwDQYJKoZIhvcNAQEB",
    "BQADggEPADCCAQoCggEBAK4054Q5mMpJBWxYrxJuK40BuYRsAzqXwuN02CIx+PuvNyJNXymoErkO",
    "rulj5HN5OumCJ1efIsrZSf6NrPPl7yPRXRBBYevnT4QyulrsZOfGy29kn3MmwnYWr3EXin40lyFR",
    "GVitPTNJ0iR1w407vDFqW7IWzrqKu8JpuenhitVfy7aMyfUy+1gIOY+IH2DAD3k2rN8rmC92fmHS",
    "j28xXwsQtXBg7AbfOw/ls2EAo1BGy1D5xoTjmkYve2UBHczjQ/60TCRuTaSLQO4ixyBzH0U5aFZX",
    "cIHcLFCXgRFJXpUBXR7zZC5MTyaU1JCOGfXqRN6W/Zw1y9Fb1vhckKEVOa0CAwEAAaNTMFEwHQYD",
    "VR0OBBYEFOLuR63fCawOrsmFtmId7ZfM+ljyMB8GA1UdIwQYMBaAFOLuR63fCawOrsmFtmId7ZfM",
    "+ljyMA8GA1UdEwEB/wQFMAMBAf8wDQYJKoZIhvcNAQELBQADggEBACr7mez142DC6NYQmztXHEhu",
    "biL+0qZpbYLDVJU54Ozs8JBa77Wen6AABI6dmL2JMUBCho6BvIyb7NC7OSqoPWVTGguW9/WD2ETF",
    "YZitAJYn02HhfWg3cVZWEHbXHUbMW+tafGTGlMOVkebbS1T2GqvuEQfyv7sQpsW+87YipfFhG8HF",
    "J4WmQlLi9mNfuoFjJxYjjb5Vc+PYPS2iL2TyiHEhrknFaIF97ViLI+1wPiFg0YMdqm7oQb0+XsRE",
    "VhygC2fXsOSQXzKrkMFpZuBEjB3mtbmp5FmXITXG9ohDUUIkJIo3v8EMF/GewB//3zpICn1KTw5i",
    "YcmrfnSlcw8533Y=",
);

/// A new SAML 2.0 connection to the institution's identity provider.
#[derive(Debug, Clone, Object)]
// Absent optional fields are left out of the example: they are not nullable.
#[oai(example, deny_unknown_fields, skip_serializing_if_is_none)]
pub struct SamlConnectionCreate {
    /// Shown to admins, 1–100 characters.
    pub name: String,
    /// The IdP's metadata document: one `EntityDescriptor` with an `IDPSSODescriptor` that
    /// has an HTTP-Redirect `SingleSignOnService` (`https://`; `http://` only on loopback)
    /// and a signing certificate (RSA ≥ 2048 bits or EC). At most 128 KiB, no DOCTYPE.
    pub idp_metadata_xml: String,
    /// The entity ID the IdP knows this service by. Default: this connection's SP metadata
    /// URL, `<public url>/v1/sso/<tenant_slug>/saml/<connection_id>/metadata`.
    pub sp_entity_id: Option<String>,
    /// The attribute whose values are the person's groups; default `groups`.
    pub group_attribute: Option<String>,
    /// IdP group (values of `group_attribute`) → role of people in it.
    #[oai(default)]
    pub group_roles: BTreeMap<String, String>,
    /// Role of a person in no mapped group; default `learner`. Not a privileged role.
    pub default_role: Option<String>,
}

impl Example for SamlConnectionCreate {
    fn example() -> Self {
        let metadata = format!(
            concat!(
                r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" "#,
                r#"xmlns:ds="http://www.w3.org/2000/09/xmldsig#" "#,
                r#"entityID="https://idp.northfield.example/saml/metadata">"#,
                r#"<md:IDPSSODescriptor WantAuthnRequestsSigned="false" "#,
                r#"protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">"#,
                r#"<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data>"#,
                r#"<ds:X509Certificate>{}</ds:X509Certificate>"#,
                r#"</ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"#,
                r#"<md:SingleSignOnService "#,
                r#"Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" "#,
                r#"Location="https://idp.northfield.example/saml/sso"/>"#,
                r#"</md:IDPSSODescriptor></md:EntityDescriptor>"#
            ),
            EXAMPLE_IDP_CERTIFICATE
        );
        Self {
            name: "Northfield Shibboleth".into(),
            idp_metadata_xml: metadata,
            sp_entity_id: None,
            group_attribute: Some("groups".into()),
            group_roles: BTreeMap::from([("staff".into(), "instructor".into())]),
            default_role: Some("learner".into()),
        }
    }
}

/// What the identity provider posts to the assertion consumer service (HTTP-POST binding).
#[derive(Debug, Clone, Object, serde::Deserialize)]
pub struct SamlAcsForm {
    /// The base64 `samlp:Response`, signed by the IdP.
    #[oai(rename = "SAMLResponse")]
    #[serde(rename = "SAMLResponse")]
    pub saml_response: Option<String>,
    /// The opaque value this service sent with the request; names the sign-in flow.
    #[oai(rename = "RelayState")]
    #[serde(rename = "RelayState")]
    pub relay_state: Option<String>,
}

/// A SAML metadata document (`application/samlmetadata+xml`).
pub struct SamlMetadataXml(pub String);

impl Payload for SamlMetadataXml {
    const CONTENT_TYPE: &'static str = "application/samlmetadata+xml";

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema::new("string")))
    }

    fn register(_registry: &mut Registry) {}
}

impl poem::IntoResponse for SamlMetadataXml {
    fn into_response(self) -> poem::Response {
        poem::Response::builder()
            .content_type(Self::CONTENT_TYPE)
            .body(self.0)
    }
}

#[derive(ApiResponse)]
pub enum SamlMetadataFound {
    /// The SP metadata: entity ID and assertion consumer service (HTTP-POST).
    #[oai(status = 200)]
    Ok(SamlMetadataXml),
}

#[derive(Default)]
pub struct SamlApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Sso")]
impl SamlApi {
    /// Add a SAML 2.0 SSO connection
    ///
    /// Requires scope `tenant:admin`. The IdP metadata is checked before it is stored (entity
    /// ID, HTTP-Redirect SSO endpoint, signing certificate); each problem is a field error.
    /// Then import the connection's SP metadata (`sp_metadata_path`) at the IdP. The
    /// connection is listed, read and removed with the other SSO connections.
    #[oai(
        path = "/sso/saml-connections",
        method = "post",
        operation_id = "createSamlConnection"
    )]
    async fn create_saml_connection(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        body: Json<SamlConnectionCreate>,
    ) -> Result<SsoConnectionCreated, ApiError> {
        let input = body.0;
        let new = NewSamlConnection {
            name: input.name,
            idp_metadata_xml: input.idp_metadata_xml,
            sp_entity_id: input.sp_entity_id,
            group_attribute: input.group_attribute,
            group_roles: input.group_roles,
            default_role: input.default_role,
        };
        let scope = state.tenancy.scope(&auth.0).await?;
        let connection = state
            .identity
            .create_saml_connection(&scope, &auth.0.tenant_slug, new)
            .await?;
        scope.commit().await?;
        let location = format!("/v1/sso/connections/{}", connection.id);
        Ok(SsoConnectionCreated::Created(
            Json(connection_view(&auth.0.tenant_slug, connection)),
            location,
        ))
    }

    /// Get the SAML service provider metadata
    ///
    /// Public: the IdP's admins import it. Names this connection's SP entity ID and the
    /// assertion consumer service URL (HTTP-POST binding).
    #[oai(
        path = "/sso/:tenant_slug/saml/:connection_id/metadata",
        method = "get",
        operation_id = "getSamlServiceProviderMetadata"
    )]
    async fn get_saml_metadata(
        &self,
        state: Data<&Arc<AppState>>,
        tenant_slug: Path<String>,
        connection_id: Path<Uuid>,
    ) -> Result<SamlMetadataFound, ApiError> {
        let xml = state
            .identity
            .saml_sp_metadata(&tenant_slug.0, connection_id.0)
            .await?;
        Ok(SamlMetadataFound::Ok(SamlMetadataXml(xml)))
    }

    /// Start signing in through SAML
    ///
    /// Public. Redirects the browser to the institution's SAML identity provider with a fresh
    /// AuthnRequest (HTTP-Redirect binding); the request and its RelayState are valid ten
    /// minutes and usable once.
    #[oai(
        path = "/sso/:tenant_slug/saml/:connection_id/login",
        method = "get",
        operation_id = "startSamlSignIn"
    )]
    async fn start_saml_sign_in(
        &self,
        state: Data<&Arc<AppState>>,
        tenant_slug: Path<String>,
        connection_id: Path<Uuid>,
        /// Make the IdP authenticate the person again (`ForceAuthn`), required after the
        /// person reported their account compromised.
        force_authentication: Query<Option<bool>>,
    ) -> Result<SignInRedirect, ApiError> {
        let url = state
            .identity
            .begin_saml_sign_in(
                &tenant_slug.0,
                connection_id.0,
                force_authentication.0.unwrap_or(false),
            )
            .await?;
        Ok(SignInRedirect::Found(url))
    }

    /// Finish signing in through SAML
    ///
    /// Public; the identity provider's auto-submitted form posts here. Verifies the flow's
    /// RelayState, the XML signature against the IdP metadata's certificate, destination,
    /// recipient, audience, time window and InResponseTo; refuses DOCTYPEs, oversized and
    /// replayed responses; provisions the person on first sign-in and opens a session. Every
    /// refusal is a 401 problem with its own code and creates neither person nor session.
    #[oai(
        path = "/sso/saml/acs",
        method = "post",
        operation_id = "finishSamlSignIn"
    )]
    async fn finish_saml_sign_in(
        &self,
        state: Data<&Arc<AppState>>,
        req: &Request,
        form: Form<SamlAcsForm>,
    ) -> Result<SignedIn, ApiError> {
        let post = AcsPost {
            saml_response: form.0.saml_response,
            relay_state: form.0.relay_state,
        };
        let signed_in = state
            .identity
            .complete_saml_sign_in(post, client_context(req))
            .await?;
        Ok(SignedIn::Ok(Json(SignInResult::from(signed_in))))
    }
}
