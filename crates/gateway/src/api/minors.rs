//! Minors (A1): the institution's table of digital-consent ages, an admin's (or the
//! minor's own) request for a guardian's consent, and the guardian's public confirmation.
//! The rules are identity's ([`hub_identity::minors`]); these handlers extract and map.

use crate::api::ApiTags;
use crate::api::secret_text::SecretText;
use crate::auth::TenantCredential;
use crate::problem::ApiError;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use hub_identity::minors::{self, ConsentAge};
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Object, OpenApi};
use std::sync::Arc;
use uuid::Uuid;

/// One country's age of digital consent.
#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct DigitalConsentAge {
    /// ISO 3166-1 alpha-2 code, upper case (`DE`).
    pub country: String,
    /// People younger than this are minors (13 to 21: the lowest age GDPR Art. 8 and COPPA
    /// allow, up to the highest age of majority in force).
    pub age: u32,
    /// The institution's own country: its age applies to people who keep no country of
    /// their own and whose jurisdiction names no single country (`eu`, `other`, none). At
    /// most one.
    #[oai(default)]
    pub home: bool,
}

impl Example for DigitalConsentAge {
    fn example() -> Self {
        Self {
            country: "DE".into(),
            age: 16,
            home: true,
        }
    }
}

/// The institution's table. A country with no row has the default age, 16.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct DigitalConsentAges {
    pub ages: Vec<DigitalConsentAge>,
    /// The age of a country with no row.
    pub default_age: u32,
}

/// The whole table, replacing the one in force (at most 249 countries, each once).
#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct DigitalConsentAgesUpdate {
    pub ages: Vec<DigitalConsentAge>,
}

impl Example for DigitalConsentAgesUpdate {
    fn example() -> Self {
        Self {
            ages: vec![DigitalConsentAge::example()],
        }
    }
}

impl Example for DigitalConsentAges {
    fn example() -> Self {
        Self {
            ages: vec![DigitalConsentAge::example()],
            default_age: minors::DEFAULT_DIGITAL_CONSENT_AGE,
        }
    }
}

/// Whom to ask for consent.
#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct GuardianConsentCreate {
    /// The guardian's email: the single-use code is mailed there (kept sealed).
    pub guardian_email: String,
}

impl Example for GuardianConsentCreate {
    fn example() -> Self {
        Self {
            guardian_email: "parent@example.org".into(),
        }
    }
}

/// A guardian's consent asked for.
#[derive(Debug, Clone, Object)]
pub struct GuardianConsentView {
    pub id: Uuid,
    pub minor_person_id: Uuid,
    /// Until when the mailed code confirms.
    pub expires_at: DateTime<Utc>,
}

/// The guardian's confirmation.
#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct GuardianConsentConfirmation {
    /// The institution's slug.
    pub tenant: String,
    /// The code from the message.
    pub token: SecretText,
}

impl Example for GuardianConsentConfirmation {
    fn example() -> Self {
        Self {
            tenant: "northfield".into(),
            token: "code-from-the-message".into(),
        }
    }
}

#[derive(ApiResponse)]
pub enum AgesFound {
    #[oai(status = 200)]
    Ok(Json<DigitalConsentAges>),
}

#[derive(ApiResponse)]
pub enum ConsentRequested {
    #[oai(status = 201)]
    Created(Json<GuardianConsentView>),
}

#[derive(ApiResponse)]
pub enum Confirmed {
    #[oai(status = 204)]
    NoContent,
}

fn ages_found(ages: Vec<ConsentAge>) -> AgesFound {
    AgesFound::Ok(Json(DigitalConsentAges {
        ages: ages
            .into_iter()
            .map(|a| DigitalConsentAge {
                country: a.country,
                age: a.age,
                home: a.home,
            })
            .collect(),
        default_age: minors::DEFAULT_DIGITAL_CONSENT_AGE,
    }))
}

#[derive(Default)]
pub struct MinorsApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Minors")]
impl MinorsApi {
    /// Digital-consent ages
    ///
    /// Requires scope `people:read`.
    #[oai(
        path = "/digital-consent-ages",
        method = "get",
        operation_id = "getDigitalConsentAges"
    )]
    async fn get_ages(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
    ) -> Result<AgesFound, ApiError> {
        let ages = state
            .tenancy
            .read(&auth.0, |scope| async move {
                minors::consent_ages(&scope).await
            })
            .await?;
        Ok(ages_found(ages))
    }

    /// Replace the digital-consent ages
    ///
    /// Requires scope `people:write`. Replaces the whole table; audited. Who is a minor
    /// follows at once (their consent and what they see in the catalogue).
    #[oai(
        path = "/digital-consent-ages",
        method = "put",
        operation_id = "replaceDigitalConsentAges"
    )]
    async fn replace_ages(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        body: Json<DigitalConsentAgesUpdate>,
    ) -> Result<AgesFound, ApiError> {
        let ages = body
            .0
            .ages
            .into_iter()
            .map(|a| ConsentAge {
                country: a.country,
                age: a.age,
                home: a.home,
            })
            .collect();
        let scope = state.tenancy.scope(&auth.0).await?;
        let stored = minors::replace_consent_ages(&scope, ages).await?;
        scope.commit().await?;
        Ok(ages_found(stored))
    }

    /// Ask a guardian to consent for a minor
    ///
    /// Requires scope `people:write`, except for the minor themselves, who may ask for
    /// their own guardian. Mails the guardian a single-use code
    /// valid 7 days; until a guardian confirms, nothing beyond essential processing uses
    /// the minor's data. 409 when the person is not a minor.
    #[oai(
        path = "/people/:person_id/guardian-consents",
        method = "post",
        operation_id = "requestGuardianConsent"
    )]
    async fn request_consent(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        person_id: Path<Uuid>,
        body: Json<GuardianConsentCreate>,
    ) -> Result<ConsentRequested, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let asked = minors::request_guardian_consent(
            &state.tenancy,
            &scope,
            person_id.0,
            &body.0.guardian_email,
        )
        .await?;
        scope.commit().await?;
        Ok(ConsentRequested::Created(Json(GuardianConsentView {
            id: asked.id,
            minor_person_id: asked.minor_person_id,
            expires_at: asked.expires_at,
        })))
    }

    /// Confirm a guardian's consent
    ///
    /// Public. With the code from the message, once, before it lapses; an unknown, used or
    /// expired code is refused (401 `guardian_token_invalid`) and changes nothing. The
    /// guardian becomes a person of the institution with the `guardian` role, linked to the
    /// minor: the person with their address (granted the role if they lack it), or a new
    /// one with that address (`source: guardian_consent`), who gets in by a password reset
    /// to that address where local accounts are allowed, else through the institution's
    /// SSO. Once signed in they read the minor's progress.
    #[oai(
        path = "/guardian-consents/confirmations",
        method = "post",
        operation_id = "confirmGuardianConsent"
    )]
    async fn confirm_consent(
        &self,
        state: Data<&Arc<AppState>>,
        body: Json<GuardianConsentConfirmation>,
    ) -> Result<Confirmed, ApiError> {
        minors::confirm_for_institution(&state.identity, &body.0.tenant, body.0.token.expose())
            .await?;
        Ok(Confirmed::NoContent)
    }
}
