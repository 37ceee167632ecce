//! `/v1/sso/domains` and `/v1/sso/discovery`: home-realm discovery. Institutions claim and
//! verify email domains; a person's email then routes them to their institution's sign-in.

use crate::api::ApiTags;
use crate::auth::TenantCredential;
use crate::problem::ApiError;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use hub_identity::domains::DomainClaim;
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Object, OpenApi};
use std::sync::Arc;
use uuid::Uuid;

#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct DomainClaimCreate {
    /// The email domain, e.g. `northfield.example`.
    pub domain: String,
}

impl Example for DomainClaimCreate {
    fn example() -> Self {
        Self {
            domain: "northfield.example".into(),
        }
    }
}

/// A claimed domain and the TXT record that proves it.
#[derive(Debug, Clone, Object)]
pub struct DomainClaimView {
    pub id: Uuid,
    pub domain: String,
    /// Publish a TXT record at this name…
    pub record_name: String,
    /// …with this value, then ask for verification.
    pub record_value: String,
    /// `pending` or `verified`.
    pub status: String,
    #[oai(nullable)]
    pub verified_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<DomainClaim> for DomainClaimView {
    fn from(c: DomainClaim) -> Self {
        Self {
            id: c.id,
            status: if c.verified_at.is_some() {
                "verified"
            } else {
                "pending"
            }
            .into(),
            domain: c.domain,
            record_name: c.record_name,
            record_value: c.record_value,
            verified_at: c.verified_at,
            created_at: c.created_at,
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct DomainClaimList {
    pub items: Vec<DomainClaimView>,
}

#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct DiscoveryRequest {
    pub email: String,
}

impl Example for DiscoveryRequest {
    fn example() -> Self {
        Self {
            email: "ada@northfield.example".into(),
        }
    }
}

/// Where this person signs in.
#[derive(Debug, Clone, Object)]
pub struct DiscoveryResult {
    pub tenant_slug: String,
    /// Sign-in URLs (paths) of the institution's enabled connections, first is the default.
    pub login_paths: Vec<String>,
}

#[derive(ApiResponse)]
pub enum ClaimCreated {
    #[oai(status = 201)]
    Created(Json<DomainClaimView>, #[oai(header = "Location")] String),
}

#[derive(ApiResponse)]
pub enum ClaimFound {
    #[oai(status = 200)]
    Ok(Json<DomainClaimView>),
}

#[derive(ApiResponse)]
pub enum ClaimsListed {
    #[oai(status = 200)]
    Ok(Json<DomainClaimList>),
}

#[derive(ApiResponse)]
pub enum ClaimDeleted {
    #[oai(status = 204)]
    NoContent,
}

#[derive(ApiResponse)]
pub enum Discovered {
    #[oai(status = 200)]
    Ok(Json<DiscoveryResult>),
}

#[derive(Default)]
pub struct DomainsApi;

#[OpenApi(prefix_path = "/v1/sso", tag = "ApiTags::Sso")]
impl DomainsApi {
    /// Claim an email domain
    ///
    /// Requires scope `tenant:admin`. The claim routes nobody until verified.
    #[oai(path = "/domains", method = "post", operation_id = "claimSsoDomain")]
    async fn claim_sso_domain(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        body: Json<DomainClaimCreate>,
    ) -> Result<ClaimCreated, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let claim = state.identity.claim_domain(&scope, &body.0.domain).await?;
        scope.commit().await?;
        let location = format!("/v1/sso/domains/{}", claim.id);
        Ok(ClaimCreated::Created(Json(claim.into()), location))
    }

    /// List claimed domains
    ///
    /// Requires scope `tenant:admin`.
    #[oai(path = "/domains", method = "get", operation_id = "listSsoDomains")]
    async fn list_sso_domains(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
    ) -> Result<ClaimsListed, ApiError> {
        let identity = &state.identity;
        let claims = state
            .tenancy
            .read(&auth.0, move |scope| async move {
                identity.domain_claims(&scope).await
            })
            .await?;
        Ok(ClaimsListed::Ok(Json(DomainClaimList {
            items: claims.into_iter().map(Into::into).collect(),
        })))
    }

    /// Get a claimed domain
    ///
    /// Requires scope `tenant:admin`.
    #[oai(
        path = "/domains/:domain_id",
        method = "get",
        operation_id = "getSsoDomain"
    )]
    async fn get_sso_domain(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        domain_id: Path<Uuid>,
    ) -> Result<ClaimFound, ApiError> {
        let (identity, id) = (&state.identity, domain_id.0);
        let claim = state
            .tenancy
            .read(&auth.0, move |scope| async move {
                identity.domain_claim(&scope, id).await
            })
            .await?;
        Ok(ClaimFound::Ok(Json(claim.into())))
    }

    /// Verify a claimed domain
    ///
    /// Requires scope `tenant:admin`. Looks up the TXT record now; 409
    /// `domain_verification_failed` says what was expected if it is not there yet.
    #[oai(
        path = "/domains/:domain_id/verification",
        method = "post",
        operation_id = "verifySsoDomain"
    )]
    async fn verify_sso_domain(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        domain_id: Path<Uuid>,
    ) -> Result<ClaimFound, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let claim = state.identity.verify_domain(&scope, domain_id.0).await?;
        scope.commit().await?;
        Ok(ClaimFound::Ok(Json(claim.into())))
    }

    /// Release a claimed domain
    ///
    /// Requires scope `tenant:admin`.
    #[oai(
        path = "/domains/:domain_id",
        method = "delete",
        operation_id = "releaseSsoDomain"
    )]
    async fn release_sso_domain(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        domain_id: Path<Uuid>,
    ) -> Result<ClaimDeleted, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        state
            .identity
            .delete_domain_claim(&scope, domain_id.0)
            .await?;
        scope.commit().await?;
        Ok(ClaimDeleted::NoContent)
    }

    /// Find where to sign in
    ///
    /// Public. Home-realm discovery: the institution that verified the email's domain and
    /// its sign-in paths; 404 `sso_domain_not_found` when no institution has verified it.
    #[oai(path = "/discovery", method = "post", operation_id = "discoverSignIn")]
    async fn discover_sign_in(
        &self,
        state: Data<&Arc<AppState>>,
        body: Json<DiscoveryRequest>,
    ) -> Result<Discovered, ApiError> {
        let found = state.identity.discover(&body.0.email).await?;
        Ok(Discovered::Ok(Json(DiscoveryResult {
            login_paths: found
                .connections
                .iter()
                .map(|(id, kind)| {
                    format!("/v1/sso/{}/{}/{id}/login", found.tenant_slug, kind.as_str())
                })
                .collect(),
            tenant_slug: found.tenant_slug,
        })))
    }
}
