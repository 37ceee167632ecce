//! Where to raise a privacy concern (L2): `/v1/privacy/contact` (anyone signed in to the
//! institution reads it; a privacy officer or the tenant admin sets it) and
//! `/v1/institutions/{tenant_slug}/privacy-contact` (anyone, no credential: a learner who cannot
//! sign in must find it). Concerns themselves are privacy requests of kind `concern`
//! (`requests.rs`).

use crate::api::privacy::requests::JurisdictionView;
use crate::api::{ApiTags, etag, require_if_match};
use crate::auth::TenantCredential;
use crate::problem::ApiError;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use hub_privacy_addenda::requests::Jurisdiction;
use hub_privacy_addenda::requests::concerns::{
    ConcernContacts, ConcernContactsUpdate, OwnRegulator, PrivacyContact, Regulator,
    RegulatorSource,
};
use poem::web::Data;
use poem_openapi::param::{Header, Path};
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use std::sync::Arc;

/// The institution's privacy contact: a name or role, an email, optionally a postal address
/// and a web page.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct PrivacyContactView {
    /// A name or a role, 1–200 characters ("Data Protection Officer").
    pub name: String,
    pub email: String,
    /// At most 500 characters; line breaks allowed.
    #[oai(skip_serializing_if_is_none)]
    pub postal_address: Option<String>,
    /// An http(s) URL.
    #[oai(skip_serializing_if_is_none)]
    pub url: Option<String>,
}

/// A regulator a person may complain to.
#[derive(Debug, Clone, Object)]
pub struct RegulatorView {
    pub name: String,
    pub url: String,
    #[oai(nullable)]
    pub email: Option<String>,
    #[oai(nullable)]
    pub postal_address: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum RegulatorSourceView {
    /// Named by the institution.
    Institution,
    /// The platform's table.
    BuiltIn,
    /// None is known for the jurisdiction.
    None,
}

/// One jurisdiction's regulator (`regulator` absent: none is known, see `note`).
#[derive(Debug, Clone, Object)]
pub struct RegulatorEntryView {
    pub jurisdiction: JurisdictionView,
    #[oai(skip_serializing_if_is_none)]
    pub regulator: Option<RegulatorView>,
    pub source: RegulatorSourceView,
    pub note: String,
}

/// Where to raise a concern about how the institution handles personal data. `contact` is
/// absent until the institution sets it; `default_jurisdiction` is used for a privacy
/// request or concern that names no jurisdiction.
#[derive(Debug, Clone, Object)]
pub struct ConcernContactsView {
    #[oai(skip_serializing_if_is_none)]
    pub contact: Option<PrivacyContactView>,
    pub default_jurisdiction: JurisdictionView,
    /// One per jurisdiction, the default's first: the institution's own regulator where it
    /// names one, else the built-in one (EU: the EDPB's list of national authorities; UK:
    /// the ICO; California: the CPPA), else none.
    pub regulators: Vec<RegulatorEntryView>,
    /// How to raise a concern with the institution.
    pub how_to_raise: String,
    /// 0 until first set.
    pub revision: i32,
    #[oai(nullable)]
    pub updated_at: Option<DateTime<Utc>>,
}

/// The institution's own regulator for one jurisdiction (an EU institution's lead
/// supervisory authority).
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct OwnRegulatorInput {
    pub jurisdiction: JurisdictionView,
    /// 1–200 characters.
    pub name: String,
    /// An http(s) URL.
    pub url: String,
    #[oai(skip_serializing_if_is_none)]
    pub email: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub postal_address: Option<String>,
}

/// The whole of it, replaced (`contact` omitted: no contact published).
#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct ConcernContactsInput {
    #[oai(skip_serializing_if_is_none)]
    pub contact: Option<PrivacyContactView>,
    pub default_jurisdiction: JurisdictionView,
    /// At most one per jurisdiction (default none).
    #[oai(default)]
    pub regulators: Vec<OwnRegulatorInput>,
}

impl Example for ConcernContactsInput {
    fn example() -> Self {
        Self {
            contact: Some(PrivacyContactView {
                name: "Data Protection Officer".into(),
                email: "privacy@northfield.example".into(),
                postal_address: Some("Northfield University\n1 College Road\nDublin".into()),
                url: Some("https://northfield.example/privacy".into()),
            }),
            default_jurisdiction: JurisdictionView::Eu,
            regulators: vec![OwnRegulatorInput {
                jurisdiction: JurisdictionView::Eu,
                name: "Data Protection Commission (Ireland)".into(),
                url: "https://www.dataprotection.ie/".into(),
                email: None,
                postal_address: None,
            }],
        }
    }
}

fn view(c: ConcernContacts) -> ConcernContactsView {
    ConcernContactsView {
        contact: c.contact.map(|c| PrivacyContactView {
            name: c.name,
            email: c.email,
            postal_address: c.postal_address,
            url: c.url,
        }),
        default_jurisdiction: c.default_jurisdiction.into(),
        regulators: c
            .regulators
            .into_iter()
            .map(|e| RegulatorEntryView {
                jurisdiction: e.jurisdiction.into(),
                regulator: e.regulator.map(|r| RegulatorView {
                    name: r.name,
                    url: r.url,
                    email: r.email,
                    postal_address: r.postal_address,
                }),
                source: match e.source {
                    RegulatorSource::Institution => RegulatorSourceView::Institution,
                    RegulatorSource::BuiltIn => RegulatorSourceView::BuiltIn,
                    RegulatorSource::None => RegulatorSourceView::None,
                },
                note: e.note,
            })
            .collect(),
        how_to_raise: "Signed in: POST /v1/me/privacy-requests with kind \"concern\" and your \
                       concern in details. Otherwise write to the privacy contact, who can \
                       raise it on your behalf."
            .into(),
        revision: c.revision,
        updated_at: c.updated_at,
    }
}

#[derive(ApiResponse)]
pub enum ContactsFound {
    /// `ETag`: the revision, for `If-Match` on the next change.
    #[oai(status = 200)]
    Ok(Json<ConcernContactsView>, #[oai(header = "ETag")] String),
}

fn found(c: ConcernContacts) -> ContactsFound {
    let tag = etag(c.revision);
    ContactsFound::Ok(Json(view(c)), tag)
}

#[derive(Default)]
pub struct ConcernsApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Privacy")]
impl ConcernsApi {
    /// Where to raise a privacy concern
    ///
    /// Any scope: any credential of the institution (any signed-in person, whatever their
    /// roles). The institution's privacy contact, its default jurisdiction and the regulator of
    /// every jurisdiction.
    #[oai(
        path = "/privacy/contact",
        method = "get",
        operation_id = "getPrivacyContact"
    )]
    async fn get(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
    ) -> Result<ContactsFound, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let contacts = state.privacy.concern_contacts(&scope).await?;
        scope.commit().await?;
        Ok(found(contacts))
    }

    /// Set where to raise a privacy concern
    ///
    /// Requires scope `privacy:manage` or `tenant:admin`, and `If-Match` with the `ETag` last
    /// read (`"0"` before anything is set; 412 when another change came first; `*`
    /// overwrites whatever is current). Replaces the privacy contact, the institution's own
    /// regulators (at most one per jurisdiction) and the default jurisdiction of requests
    /// that name none; audited.
    #[oai(
        path = "/privacy/contact",
        method = "put",
        operation_id = "setPrivacyContact"
    )]
    async fn set(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        /// The `ETag` of the revision this change is based on.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        body: Json<ConcernContactsInput>,
    ) -> Result<ContactsFound, ApiError> {
        let expected = require_if_match(if_match.0.as_deref())?;
        let scope = state.tenancy.scope(&auth.0).await?;
        let body = body.0;
        let update = ConcernContactsUpdate {
            contact: body.contact.map(|c| PrivacyContact {
                name: c.name,
                email: c.email,
                postal_address: c.postal_address,
                url: c.url,
            }),
            default_jurisdiction: Jurisdiction::from(body.default_jurisdiction),
            regulators: body
                .regulators
                .into_iter()
                .map(|r| OwnRegulator {
                    jurisdiction: Jurisdiction::from(r.jurisdiction).as_str().into(),
                    regulator: Regulator {
                        name: r.name,
                        url: r.url,
                        email: r.email,
                        postal_address: r.postal_address,
                    },
                })
                .collect(),
        };
        let set = state
            .privacy
            .set_concern_contacts(&scope, update, expected)
            .await?;
        scope.commit().await?;
        Ok(found(set))
    }

    /// Where to raise a privacy concern, published
    ///
    /// No credential: what the institution with this slug publishes, so a person who cannot
    /// sign in finds it. The same as `GET /v1/privacy/contact`.
    #[oai(
        path = "/institutions/:tenant_slug/privacy-contact",
        method = "get",
        operation_id = "getPublishedPrivacyContact"
    )]
    async fn published(
        &self,
        state: Data<&Arc<AppState>>,
        /// The institution's slug.
        tenant_slug: Path<String>,
    ) -> Result<ContactsFound, ApiError> {
        let scope = state.tenancy.public_scope(&tenant_slug.0).await?;
        let contacts = state.privacy.concern_contacts(&scope).await?;
        scope.commit().await?;
        Ok(found(contacts))
    }
}
