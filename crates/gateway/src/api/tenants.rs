//! `/v1/tenants`: the platform operator's view of institutions.

use crate::api::api_keys::{ApiKeyCreate, IssuedApiKeyView};
use crate::api::{ApiTags, etag, page_request, parse_if_match};
use crate::auth::OperatorKey;
use crate::problem::ApiError;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use hub_tenant::registry::DeletionRecord;
use hub_tenant::{NewApiKey, NewTenant, Tenant, TenantStatus};
use poem::http::StatusCode;
use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use std::sync::Arc;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum TenantStatusView {
    Active,
    Suspended,
    Offboarding,
}

impl From<TenantStatus> for TenantStatusView {
    fn from(s: TenantStatus) -> Self {
        match s {
            TenantStatus::Active => Self::Active,
            TenantStatus::Suspended => Self::Suspended,
            TenantStatus::Offboarding => Self::Offboarding,
        }
    }
}

/// A new institution.
#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct TenantCreate {
    /// Unique, URL-safe handle: 3–50 lower-case letters, digits and inner hyphens.
    pub slug: String,
    /// Display name, 1–200 characters.
    pub name: String,
    /// The database cluster to place the institution's schema on (see `hub` configuration
    /// `clusters`); omitted means the configured default cluster.
    #[oai(skip_serializing_if_is_none)]
    pub cluster: Option<String>,
}

impl Example for TenantCreate {
    fn example() -> Self {
        Self {
            slug: "northfield-university".into(),
            name: "Northfield University".into(),
            cluster: None,
        }
    }
}

/// Changes to an institution.
#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct TenantUpdate {
    pub name: String,
}

impl Example for TenantUpdate {
    fn example() -> Self {
        Self {
            name: "Northfield University of Technology".into(),
        }
    }
}

/// Why an institution is suspended, for the record.
#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct SuspendRequest {
    pub reason: String,
}

impl Example for SuspendRequest {
    fn example() -> Self {
        Self {
            reason: "invoice 2026-11 unpaid".into(),
        }
    }
}

/// Offboarding destroys the institution's keys and data. `confirm_slug` must repeat the
/// institution's slug.
#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct OffboardRequest {
    pub confirm_slug: String,
    pub reason: String,
}

impl Example for OffboardRequest {
    fn example() -> Self {
        Self {
            confirm_slug: "northfield-university".into(),
            reason: "contract ended".into(),
        }
    }
}

/// An institution.
#[derive(Debug, Clone, Object)]
pub struct TenantView {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub status: TenantStatusView,
    #[oai(nullable)]
    pub status_reason: Option<String>,
    /// The database cluster holding this institution's schema.
    pub cluster: String,
    /// The newest tenant migration applied to its schema.
    #[oai(nullable)]
    pub schema_version: Option<String>,
    pub revision: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Tenant> for TenantView {
    fn from(t: Tenant) -> Self {
        Self {
            id: t.id,
            slug: t.slug,
            name: t.name,
            status: t.status.into(),
            status_reason: t.status_reason,
            cluster: t.cluster,
            schema_version: t.schema_version,
            revision: t.revision,
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

/// A newly provisioned institution and its first admin API key (shown only now).
#[derive(Debug, Clone, Object)]
pub struct ProvisionedTenant {
    pub tenant: TenantView,
    pub admin_api_key: IssuedApiKeyView,
}

#[derive(Debug, Clone, Object)]
pub struct TenantPage {
    pub items: Vec<TenantView>,
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

/// What offboarding left behind: who, when, what.
#[derive(Debug, Clone, Object)]
pub struct DeletionRecordView {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub tenant_slug: String,
    pub requested_by: String,
    pub reason: String,
    /// Wrapped keys destroyed (crypto-shredding), before any data was dropped.
    pub keys_destroyed: i32,
    pub keys_destroyed_at: DateTime<Utc>,
    pub schema_dropped_at: DateTime<Utc>,
}

impl From<DeletionRecord> for DeletionRecordView {
    fn from(r: DeletionRecord) -> Self {
        Self {
            id: r.id,
            tenant_id: r.tenant_id,
            tenant_slug: r.tenant_slug,
            requested_by: r.requested_by,
            reason: r.reason,
            keys_destroyed: r.keys_destroyed,
            keys_destroyed_at: r.keys_destroyed_at,
            schema_dropped_at: r.schema_dropped_at,
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct DeletionRecordPage {
    pub items: Vec<DeletionRecordView>,
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

#[derive(ApiResponse)]
pub enum TenantProvisioned {
    /// Provisioned: schema, keys, default profile and the first admin key.
    #[oai(status = 201)]
    Created(Json<ProvisionedTenant>, #[oai(header = "Location")] String),
}

#[derive(ApiResponse)]
pub enum TenantFound {
    #[oai(status = 200)]
    Ok(Json<TenantView>, #[oai(header = "ETag")] String),
}

#[derive(ApiResponse)]
pub enum TenantListed {
    #[oai(status = 200)]
    Ok(Json<TenantPage>),
}

#[derive(ApiResponse)]
pub enum TenantOffboarded {
    /// Keys destroyed, schema dropped; the deletion record.
    #[oai(status = 200)]
    Ok(Json<DeletionRecordView>),
}

#[derive(ApiResponse)]
pub enum DeletionRecordsListed {
    #[oai(status = 200)]
    Ok(Json<DeletionRecordPage>),
}

#[derive(ApiResponse)]
pub enum TenantKeyIssued {
    /// The key; its token is shown only in this response.
    #[oai(status = 201)]
    Created(Json<IssuedApiKeyView>),
}

fn found(tenant: Tenant) -> TenantFound {
    let tag = etag(tenant.revision);
    TenantFound::Ok(Json(tenant.into()), tag)
}

#[derive(Default)]
pub struct TenantsApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Tenants")]
impl TenantsApi {
    /// Provision an institution
    ///
    /// Creates the institution's registry entry, its own database schema at the latest
    /// migration, its encryption keys, a default retention and reporting profile, and a
    /// first admin API key, all or nothing. Platform operators only.
    #[oai(path = "/tenants", method = "post", operation_id = "createTenant")]
    async fn create_tenant(
        &self,
        state: Data<&Arc<AppState>>,
        auth: OperatorKey,
        body: Json<TenantCreate>,
    ) -> Result<TenantProvisioned, ApiError> {
        let (tenant, key) = state
            .tenancy
            .create_tenant(
                &auth.0,
                NewTenant {
                    slug: body.0.slug,
                    name: body.0.name,
                    cluster: body.0.cluster,
                },
            )
            .await?;
        let location = format!("/v1/tenants/{}", tenant.id);
        Ok(TenantProvisioned::Created(
            Json(ProvisionedTenant {
                tenant: tenant.into(),
                admin_api_key: key.into(),
            }),
            location,
        ))
    }

    /// List institutions
    ///
    /// Oldest first, in pages. Platform operators only.
    #[oai(path = "/tenants", method = "get", operation_id = "listTenants")]
    async fn list_tenants(
        &self,
        state: Data<&Arc<AppState>>,
        auth: OperatorKey,
        /// Cursor from the previous page's `next_cursor`.
        cursor: Query<Option<String>>,
        /// Page size, 1–200 (default 50).
        limit: Query<Option<u64>>,
        /// Only institutions in this status.
        status: Query<Option<TenantStatusView>>,
    ) -> Result<TenantListed, ApiError> {
        let page = page_request(cursor.0.as_deref(), limit.0)?;
        let status = status.0.map(|s| match s {
            TenantStatusView::Active => TenantStatus::Active,
            TenantStatusView::Suspended => TenantStatus::Suspended,
            TenantStatusView::Offboarding => TenantStatus::Offboarding,
        });
        let tenants = state.tenancy.list_tenants(&auth.0, &page, status).await?;
        Ok(TenantListed::Ok(Json(TenantPage {
            items: tenants.items.into_iter().map(Into::into).collect(),
            next_cursor: tenants.next_cursor,
        })))
    }

    /// Get an institution
    ///
    /// Its registry entry: status, cluster and schema version. Platform operators only; the
    /// `ETag` is the revision to send back in `If-Match` when renaming it.
    #[oai(
        path = "/tenants/:tenant_id",
        method = "get",
        operation_id = "getTenant"
    )]
    async fn get_tenant(
        &self,
        state: Data<&Arc<AppState>>,
        auth: OperatorKey,
        tenant_id: Path<Uuid>,
    ) -> Result<TenantFound, ApiError> {
        Ok(found(state.tenancy.get_tenant(&auth.0, tenant_id.0).await?))
    }

    /// Rename an institution
    ///
    /// With `If-Match`, only if the institution is still at that revision.
    #[oai(
        path = "/tenants/:tenant_id",
        method = "patch",
        operation_id = "updateTenant"
    )]
    async fn update_tenant(
        &self,
        state: Data<&Arc<AppState>>,
        auth: OperatorKey,
        tenant_id: Path<Uuid>,
        /// Optional: the `ETag` of the revision this change is based on.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        body: Json<TenantUpdate>,
    ) -> Result<TenantFound, ApiError> {
        let expected = parse_if_match(if_match.0.as_deref())?;
        Ok(found(
            state
                .tenancy
                .rename_tenant(&auth.0, tenant_id.0, body.0.name, expected)
                .await?,
        ))
    }

    /// Suspend an institution
    ///
    /// Its credentials keep existing but every request with them gets 403 `tenant_suspended`
    /// until it is resumed. Data is untouched.
    #[oai(
        path = "/tenants/:tenant_id/suspend",
        method = "post",
        operation_id = "suspendTenant"
    )]
    async fn suspend_tenant(
        &self,
        state: Data<&Arc<AppState>>,
        auth: OperatorKey,
        tenant_id: Path<Uuid>,
        body: Json<SuspendRequest>,
    ) -> Result<TenantFound, ApiError> {
        let tenant = state
            .tenancy
            .set_tenant_status(
                &auth.0,
                tenant_id.0,
                TenantStatus::Suspended,
                Some(body.0.reason),
            )
            .await?;
        Ok(found(tenant))
    }

    /// Resume a suspended institution
    ///
    /// Its credentials work again from the next request and the suspension reason is
    /// cleared. Platform operators only.
    #[oai(
        path = "/tenants/:tenant_id/resume",
        method = "post",
        operation_id = "resumeTenant"
    )]
    async fn resume_tenant(
        &self,
        state: Data<&Arc<AppState>>,
        auth: OperatorKey,
        tenant_id: Path<Uuid>,
    ) -> Result<TenantFound, ApiError> {
        let tenant = state
            .tenancy
            .set_tenant_status(&auth.0, tenant_id.0, TenantStatus::Active, None)
            .await?;
        Ok(found(tenant))
    }

    /// Offboard an institution
    ///
    /// Destroys the institution's encryption keys first (crypto-shredding: whatever copy of
    /// its data survives anywhere is unreadable), then drops its schema, its API keys and its
    /// registry entry, and keeps a deletion record. Irreversible. If it fails midway the
    /// institution stays `offboarding` and repeating the call completes it.
    #[oai(
        path = "/tenants/:tenant_id/offboard",
        method = "post",
        operation_id = "offboardTenant"
    )]
    async fn offboard_tenant(
        &self,
        state: Data<&Arc<AppState>>,
        auth: OperatorKey,
        tenant_id: Path<Uuid>,
        body: Json<OffboardRequest>,
    ) -> Result<TenantOffboarded, ApiError> {
        let tenant = state.tenancy.get_tenant(&auth.0, tenant_id.0).await?;
        if tenant.slug != body.0.confirm_slug {
            return Err(ApiError::from_problem(
                crate::problem::Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "validation_failed",
                    "confirm_slug does not match the institution's slug",
                )
                .with_violations(vec![hub_kernel::FieldViolation::new(
                    "confirm_slug",
                    "must repeat the institution's slug",
                )]),
            ));
        }
        let record = state
            .tenancy
            .offboard_tenant(&auth.0, tenant_id.0, body.0.reason)
            .await?;
        Ok(TenantOffboarded::Ok(Json(record.into())))
    }

    /// Issue an API key for an institution
    ///
    /// For example a replacement admin key when the institution has lost its own.
    #[oai(
        path = "/tenants/:tenant_id/api-keys",
        method = "post",
        operation_id = "issueTenantCredential"
    )]
    async fn issue_tenant_api_key(
        &self,
        state: Data<&Arc<AppState>>,
        auth: OperatorKey,
        tenant_id: Path<Uuid>,
        body: Json<ApiKeyCreate>,
    ) -> Result<TenantKeyIssued, ApiError> {
        let key = state
            .tenancy
            .issue_key_for_tenant(
                &auth.0,
                tenant_id.0,
                NewApiKey {
                    name: body.0.name,
                    scopes: body.0.scopes,
                },
            )
            .await?;
        Ok(TenantKeyIssued::Created(Json(key.into())))
    }

    /// List deletion records
    ///
    /// The proof of every offboarding: who asked, why, when the keys were destroyed and when
    /// the data was dropped.
    #[oai(
        path = "/deletion-records",
        method = "get",
        operation_id = "listDeletionRecords"
    )]
    async fn list_deletion_records(
        &self,
        state: Data<&Arc<AppState>>,
        auth: OperatorKey,
        /// Cursor from the previous page's `next_cursor`.
        cursor: Query<Option<String>>,
        /// Page size, 1–200 (default 50).
        limit: Query<Option<u64>>,
    ) -> Result<DeletionRecordsListed, ApiError> {
        let page = page_request(cursor.0.as_deref(), limit.0)?;
        let records = state.tenancy.deletion_records(&auth.0, &page).await?;
        Ok(DeletionRecordsListed::Ok(Json(DeletionRecordPage {
            items: records.items.into_iter().map(Into::into).collect(),
            next_cursor: records.next_cursor,
        })))
    }
}
