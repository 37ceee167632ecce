//! Consent (C6, U9, R5): `/v1/me/consents` (the person's own ledger), a privacy officer's
//! read and import (`/v1/privacy/people/{id}/consents`), the processing restriction
//! (`/v1/privacy/people/{id}/restriction`), the cookie categories for the front end, and
//! `/.well-known/gpc.json`. A `Sec-GPC: 1` header on any request of a signed-in person is
//! recorded by the credential check ([`crate::auth`]), once per change.

use crate::api::ApiTags;
use crate::api::described::Described;
use crate::api::privacy::data_map::CategoryView;
use crate::auth::TenantCredential;
use crate::problem::ApiError;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use hub_privacy_addenda::consent::{
    ConsentChoice, ConsentPurpose, ConsentRecord, ConsentSource, ConsentView, CookieCategory,
    Decision, LegalObligationField, PurposeState,
};
use poem::web::Data;
use poem_openapi::param::{Header, Path};
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use std::sync::Arc;
use uuid::Uuid;

/// What a person's data is used for. `essential` is always on and not consentable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum ConsentPurposeView {
    Essential,
    Analytics,
    Personalisation,
    Marketing,
    Integrations,
}

impl From<ConsentPurpose> for ConsentPurposeView {
    fn from(p: ConsentPurpose) -> Self {
        match p {
            ConsentPurpose::Essential => Self::Essential,
            ConsentPurpose::Analytics => Self::Analytics,
            ConsentPurpose::Personalisation => Self::Personalisation,
            ConsentPurpose::Marketing => Self::Marketing,
            ConsentPurpose::Integrations => Self::Integrations,
        }
    }
}

impl From<ConsentPurposeView> for ConsentPurpose {
    fn from(p: ConsentPurposeView) -> Self {
        match p {
            ConsentPurposeView::Essential => Self::Essential,
            ConsentPurposeView::Analytics => Self::Analytics,
            ConsentPurposeView::Personalisation => Self::Personalisation,
            ConsentPurposeView::Marketing => Self::Marketing,
            ConsentPurposeView::Integrations => Self::Integrations,
        }
    }
}

/// Through what a record was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum ConsentSourceView {
    Api,
    CookieBanner,
    Gpc,
    Import,
    /// An objection request of the person (`request_id` names it).
    Objection,
}

impl From<ConsentSource> for ConsentSourceView {
    fn from(s: ConsentSource) -> Self {
        match s {
            ConsentSource::Api => Self::Api,
            ConsentSource::CookieBanner => Self::CookieBanner,
            ConsentSource::Gpc => Self::Gpc,
            ConsentSource::Import => Self::Import,
            ConsentSource::Objection => Self::Objection,
        }
    }
}

/// Where a person's own choice comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum OwnConsentSource {
    /// The account page (any purpose but essential).
    Api,
    /// The cookie banner (analytics and personalisation only).
    CookieBanner,
}

/// One record of the ledger.
#[derive(Debug, Clone, Object)]
pub struct ConsentRecordView {
    pub id: Uuid,
    pub purpose: ConsentPurposeView,
    pub granted: bool,
    /// The policy version current when it was recorded.
    #[oai(nullable)]
    pub policy_version: Option<i32>,
    pub source: ConsentSourceView,
    /// The request carried `Sec-GPC: 1`.
    pub gpc_signal: bool,
    pub recorded_at: DateTime<Utc>,
    pub recorded_by: String,
    /// The objection request it was recorded for (source `objection`).
    #[oai(nullable)]
    pub request_id: Option<Uuid>,
}

impl From<ConsentRecord> for ConsentRecordView {
    fn from(r: ConsentRecord) -> Self {
        Self {
            id: r.id,
            purpose: r.purpose.into(),
            granted: r.granted,
            policy_version: r.policy_version,
            source: r.source.into(),
            gpc_signal: r.gpc_signal,
            recorded_at: r.recorded_at,
            recorded_by: r.recorded_by,
            request_id: r.request_id,
        }
    }
}

/// What the consent gate answers now.
#[derive(Debug, Clone, Object)]
pub struct DecisionView {
    pub allowed: bool,
    /// `essential`, `consent_granted`, `no_consent`, `consent_withdrawn`, `restricted`,
    /// `policy_not_accepted` or `not_in_policy`.
    pub reason: String,
}

impl From<Decision> for DecisionView {
    fn from(d: Decision) -> Self {
        Self {
            allowed: d.allowed,
            reason: d.reason.into(),
        }
    }
}

/// One purpose: the person's choice and what the gate answers.
#[derive(Debug, Clone, Object)]
pub struct PurposeStateView {
    pub purpose: ConsentPurposeView,
    pub consentable: bool,
    pub granted: bool,
    #[oai(nullable)]
    pub latest: Option<Described<ConsentRecordView>>,
    pub decision: DecisionView,
}

impl From<PurposeState> for PurposeStateView {
    fn from(p: PurposeState) -> Self {
        Self {
            purpose: p.purpose.into(),
            consentable: p.consentable,
            granted: p.granted,
            latest: p.latest.map(|r| Described(r.into())),
            decision: p.decision.into(),
        }
    }
}

/// Data kept because the law requires it (C9), whatever consent says.
#[derive(Debug, Clone, Object)]
pub struct LegalObligationView {
    pub source: String,
    pub table: String,
    pub column: String,
    pub category: CategoryView,
    /// Always `true`: kept for a legal obligation.
    pub legal_obligation: bool,
}

impl From<LegalObligationField> for LegalObligationView {
    fn from(f: LegalObligationField) -> Self {
        Self {
            source: f.source.into(),
            table: f.table.into(),
            column: f.column.into(),
            category: f.category.into(),
            legal_obligation: true,
        }
    }
}

/// A person's consent: every purpose, the policy they accepted, the full history.
#[derive(Debug, Clone, Object)]
pub struct ConsentLedger {
    pub person_id: Uuid,
    /// Processing is frozen (R3): every purpose but essential is refused.
    pub restricted: bool,
    #[oai(nullable)]
    pub current_policy_version: Option<i32>,
    #[oai(nullable)]
    pub accepted_policy_version: Option<i32>,
    pub purposes: Vec<PurposeStateView>,
    /// Every record, oldest first.
    pub history: Vec<ConsentRecordView>,
    /// Data kept for a legal obligation, which consent does not govern.
    pub legal_obligation: Vec<LegalObligationView>,
}

impl From<ConsentView> for ConsentLedger {
    fn from(v: ConsentView) -> Self {
        Self {
            person_id: v.person_id,
            restricted: v.restricted,
            current_policy_version: v.current_policy_version,
            accepted_policy_version: v.accepted_policy_version,
            purposes: v.purposes.into_iter().map(Into::into).collect(),
            history: v.history.into_iter().map(Into::into).collect(),
            legal_obligation: v.legal_obligation.into_iter().map(Into::into).collect(),
        }
    }
}

/// Grant (`true`) or withdraw (`false`) one purpose.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct ConsentChoiceInput {
    pub purpose: ConsentPurposeView,
    pub granted: bool,
}

/// The person's choices. `source`: `api` (default) or `cookie_banner`.
#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct ConsentUpdate {
    /// 1–16 choices, each purpose at most once; `essential` is refused (422).
    pub choices: Vec<ConsentChoiceInput>,
    // `api` (default) or `cookie_banner`. Described on the struct: a described enum field
    // becomes an `allOf` that generated clients cannot take.
    #[oai(skip_serializing_if_is_none)]
    pub source: Option<OwnConsentSource>,
}

impl Example for ConsentUpdate {
    fn example() -> Self {
        Self {
            choices: vec![
                ConsentChoiceInput {
                    purpose: ConsentPurposeView::Analytics,
                    granted: true,
                },
                ConsentChoiceInput {
                    purpose: ConsentPurposeView::Marketing,
                    granted: false,
                },
            ],
            source: Some(OwnConsentSource::Api),
        }
    }
}

/// One imported choice, with when it was made in the earlier system.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct ImportedChoice {
    pub purpose: ConsentPurposeView,
    pub granted: bool,
    /// Not in the future.
    pub recorded_at: DateTime<Utc>,
}

/// Choices imported from an earlier system.
#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct ConsentImport {
    pub choices: Vec<ImportedChoice>,
}

impl Example for ConsentImport {
    fn example() -> Self {
        Self {
            choices: vec![ImportedChoice {
                purpose: ConsentPurposeView::Marketing,
                granted: true,
                recorded_at: DateTime::<Utc>::from_timestamp(1_764_547_200, 0).unwrap_or_default(),
            }],
        }
    }
}

/// Freeze or resume processing.
#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct RestrictionInput {
    pub restricted: bool,
}

impl Example for RestrictionInput {
    fn example() -> Self {
        Self { restricted: true }
    }
}

#[derive(Debug, Clone, Object)]
pub struct RestrictionView {
    pub person_id: Uuid,
    pub restricted: bool,
}

#[derive(Debug, Clone, Object)]
pub struct CookieCategoryView {
    pub purpose: ConsentPurposeView,
    /// A cookie of this category may be set only after the person's recorded consent.
    pub consent_required: bool,
    pub description: String,
}

impl From<CookieCategory> for CookieCategoryView {
    fn from(c: CookieCategory) -> Self {
        Self {
            purpose: c.purpose.into(),
            consent_required: c.consent_required,
            description: c.description.into(),
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct CookieCategories {
    pub items: Vec<CookieCategoryView>,
    /// How to record the banner's choice.
    pub record_with: String,
}

#[derive(ApiResponse)]
pub enum LedgerFound {
    #[oai(status = 200)]
    Ok(Json<ConsentLedger>),
}

#[derive(ApiResponse)]
pub enum RestrictionSet {
    #[oai(status = 200)]
    Ok(Json<RestrictionView>),
}

#[derive(ApiResponse)]
pub enum CookieCategoriesFound {
    #[oai(status = 200)]
    Ok(Json<CookieCategories>),
}

/// Whether a request carries a Global Privacy Control signal (`Sec-GPC: 1`).
pub fn gpc_signal(value: Option<&str>) -> bool {
    value.is_some_and(|v| v.trim() == "1")
}

#[derive(Default)]
pub struct ConsentApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Privacy")]
impl ConsentApi {
    /// My consent
    ///
    /// Any signed-in person (U9). Every purpose with my choice and what the consent gate
    /// answers now, the policy version I accepted, the full history of my records, and the
    /// data kept for a legal obligation (which consent does not govern). Not for API keys.
    #[oai(path = "/me/consents", method = "get", operation_id = "getMyConsents")]
    async fn get_my_consents(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
    ) -> Result<LedgerFound, ApiError> {
        let privacy = &state.privacy;
        let view = state
            .tenancy
            .read(&auth.0, move |scope| async move {
                privacy.my_consents(&scope).await
            })
            .await?;
        Ok(LedgerFound::Ok(Json(view.into())))
    }

    /// Change my consent
    ///
    /// Any signed-in person (U9, R5). Grants or withdraws purposes; a withdrawal takes
    /// effect at once (every processor asks the gate when it would use the data).
    /// `essential` is not consentable (422 `purpose_not_consentable`). With
    /// `source: cookie_banner`, only analytics and personalisation. A grant made with
    /// `Sec-GPC: 1` stands against later signals. Audited.
    #[oai(
        path = "/me/consents",
        method = "put",
        operation_id = "updateMyConsents"
    )]
    async fn update_my_consents(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        /// Global Privacy Control.
        #[oai(name = "Sec-GPC")]
        sec_gpc: Header<Option<String>>,
        body: Json<ConsentUpdate>,
    ) -> Result<LedgerFound, ApiError> {
        let choices: Vec<ConsentChoice> = body
            .0
            .choices
            .iter()
            .map(|c| ConsentChoice {
                purpose: c.purpose.into(),
                granted: c.granted,
                recorded_at: None,
            })
            .collect();
        let source = match body.0.source {
            Some(OwnConsentSource::CookieBanner) => ConsentSource::CookieBanner,
            _ => ConsentSource::Api,
        };
        let scope = state.tenancy.scope(&auth.0).await?;
        let view = state
            .privacy
            .record_my_consents(&scope, &choices, source, gpc_signal(sec_gpc.0.as_deref()))
            .await?;
        scope.commit().await?;
        Ok(LedgerFound::Ok(Json(view.into())))
    }

    /// A person's consent
    ///
    /// Requires scope `privacy:manage`. The same view the person has of their own.
    #[oai(
        path = "/privacy/people/:person_id/consents",
        method = "get",
        operation_id = "getPersonConsents"
    )]
    async fn get_person_consents(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        person_id: Path<Uuid>,
    ) -> Result<LedgerFound, ApiError> {
        let privacy = &state.privacy;
        let person = person_id.0;
        let view = state
            .tenancy
            .read(&auth.0, move |scope| async move {
                privacy.consents_of(&scope, person).await
            })
            .await?;
        Ok(LedgerFound::Ok(Json(view.into())))
    }

    /// Import a person's consent
    ///
    /// Requires scope `privacy:manage`. Appends records with source `import`, each with the
    /// time the person made the choice in the earlier system. Audited.
    #[oai(
        path = "/privacy/people/:person_id/consents",
        method = "post",
        operation_id = "importPersonConsents"
    )]
    async fn import_person_consents(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        person_id: Path<Uuid>,
        body: Json<ConsentImport>,
    ) -> Result<LedgerFound, ApiError> {
        let choices: Vec<ConsentChoice> = body
            .0
            .choices
            .iter()
            .map(|c| ConsentChoice {
                purpose: c.purpose.into(),
                granted: c.granted,
                recorded_at: Some(c.recorded_at),
            })
            .collect();
        let scope = state.tenancy.scope(&auth.0).await?;
        let view = state
            .privacy
            .import_consents(&scope, person_id.0, &choices)
            .await?;
        scope.commit().await?;
        Ok(LedgerFound::Ok(Json(view.into())))
    }

    /// Freeze or resume a person's processing
    ///
    /// Requires scope `privacy:manage`. While frozen (R3) the consent gate refuses every
    /// purpose but essential, whatever the person granted. Audited.
    #[oai(
        path = "/privacy/people/:person_id/restriction",
        method = "put",
        operation_id = "setProcessingRestriction"
    )]
    async fn set_restriction(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        person_id: Path<Uuid>,
        body: Json<RestrictionInput>,
    ) -> Result<RestrictionSet, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let restricted = state
            .privacy
            .set_restricted(&scope, person_id.0, body.0.restricted)
            .await?;
        scope.commit().await?;
        Ok(RestrictionSet::Ok(Json(RestrictionView {
            person_id: person_id.0,
            restricted,
        })))
    }

    /// Cookie categories
    ///
    /// Public. Essential cookies (always on) apart from analytics and personalisation, which
    /// need the person's recorded consent; the banner records the choice with
    /// `PUT /v1/me/consents` and `source: cookie_banner`.
    #[oai(
        path = "/privacy/cookie-categories",
        method = "get",
        operation_id = "listCookieCategories"
    )]
    async fn cookie_categories(&self) -> Result<CookieCategoriesFound, ApiError> {
        Ok(CookieCategoriesFound::Ok(Json(CookieCategories {
            items: hub_privacy_addenda::consent::cookie_categories()
                .into_iter()
                .map(Into::into)
                .collect(),
            record_with: "PUT /v1/me/consents with source cookie_banner".into(),
        })))
    }
}

/// `/.well-known/gpc.json` (the GPC specification's support resource).
#[derive(Debug, Clone, Object)]
pub struct GpcSupport {
    /// The platform honours GPC signals.
    pub gpc: bool,
    /// When this support statement last changed (`YYYY-MM-DD`).
    #[oai(rename = "lastUpdate")]
    pub last_update: String,
}

#[derive(ApiResponse)]
pub enum GpcSupportFound {
    #[oai(status = 200)]
    Ok(Json<GpcSupport>),
}

/// When GPC support last changed (this file's rule: `Sec-GPC: 1` opts out of marketing and
/// integrations).
pub const GPC_LAST_UPDATE: &str = "2026-12-01";

#[derive(Default)]
pub struct GpcApi;

#[OpenApi(tag = "ApiTags::Privacy")]
impl GpcApi {
    /// Global Privacy Control support
    ///
    /// Public. `Sec-GPC: 1` on a signed-in person's request opts them out of marketing and
    /// integrations (recorded in their consent ledger with source `gpc`).
    #[oai(
        path = "/.well-known/gpc.json",
        method = "get",
        operation_id = "getGpcSupport"
    )]
    async fn gpc(&self) -> Result<GpcSupportFound, ApiError> {
        Ok(GpcSupportFound::Ok(Json(GpcSupport {
            gpc: true,
            last_update: GPC_LAST_UPDATE.into(),
        })))
    }
}
