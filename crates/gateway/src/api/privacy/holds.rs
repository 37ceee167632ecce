//! `/v1/privacy/legal-holds`: a privacy officer keeps a person's or a category's data past
//! its retention period (and through an erasure), with a reason and an end date.

use super::data_map::CategoryView;
use crate::api::ApiTags;
use crate::auth::TenantCredential;
use crate::problem::ApiError;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use hub_kernel::classification::DataCategory;
use hub_privacy_addenda::holds::{LegalHold, NewHold};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Object, OpenApi};
use std::sync::Arc;
use uuid::Uuid;

fn category_name(c: CategoryView) -> &'static str {
    match c {
        CategoryView::Identity => DataCategory::Identity.as_str(),
        CategoryView::Contact => DataCategory::Contact.as_str(),
        CategoryView::Learning => DataCategory::Learning.as_str(),
        CategoryView::Payment => DataCategory::Payment.as_str(),
        CategoryView::Technical => DataCategory::Technical.as_str(),
    }
}

#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct LegalHoldCreate {
    /// The person whose data is kept; absent: every person of the institution.
    pub person_id: Option<Uuid>,
    /// The data categories kept; absent or empty: every category.
    pub categories: Option<Vec<CategoryView>>,
    /// Why (the legal matter); names no one: the person is `person_id`.
    pub reason: String,
    /// When the hold ends by itself (in the future).
    pub ends_at: DateTime<Utc>,
}

impl Example for LegalHoldCreate {
    fn example() -> Self {
        Self {
            person_id: Some(Uuid::nil()),
            categories: Some(vec![CategoryView::Learning]),
            reason: "Grade appeal before the tribunal, case 2026-114".into(),
            ends_at: DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::days(21_000),
        }
    }
}

#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct LegalHoldRelease {
    /// Why the hold ends early.
    pub reason: String,
}

impl Example for LegalHoldRelease {
    fn example() -> Self {
        Self {
            reason: "The appeal was withdrawn".into(),
        }
    }
}

/// One legal hold.
#[derive(Debug, Clone, Object)]
pub struct LegalHoldView {
    pub id: Uuid,
    /// The person whose data is kept; null: every person.
    #[oai(nullable)]
    pub person_id: Option<Uuid>,
    /// The categories kept; empty: every category.
    pub categories: Vec<CategoryView>,
    pub reason: String,
    pub ends_at: DateTime<Utc>,
    /// Whether it keeps data now (neither ended nor released).
    pub active: bool,
    pub set_by: String,
    pub set_at: DateTime<Utc>,
    #[oai(nullable)]
    pub released_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub released_by: Option<String>,
    #[oai(nullable)]
    pub release_reason: Option<String>,
}

impl From<LegalHold> for LegalHoldView {
    fn from(h: LegalHold) -> Self {
        Self {
            id: h.id,
            person_id: h.person_id,
            categories: h.categories.iter().map(|c| (*c).into()).collect(),
            active: h.active_at(Utc::now()),
            reason: h.reason,
            ends_at: h.ends_at,
            set_by: h.set_by,
            set_at: h.set_at,
            released_at: h.released_at,
            released_by: h.released_by,
            release_reason: h.release_reason,
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct LegalHoldList {
    /// Newest first.
    pub items: Vec<LegalHoldView>,
}

#[derive(ApiResponse)]
pub enum HoldCreated {
    #[oai(status = 201)]
    Created(Json<LegalHoldView>, #[oai(header = "Location")] String),
}

#[derive(ApiResponse)]
pub enum HoldFound {
    #[oai(status = 200)]
    Ok(Json<LegalHoldView>),
}

#[derive(ApiResponse)]
pub enum HoldsListed {
    #[oai(status = 200)]
    Ok(Json<LegalHoldList>),
}

#[derive(Default)]
pub struct LegalHoldsApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Privacy")]
impl LegalHoldsApi {
    /// Set a legal hold
    ///
    /// Requires scope `privacy:manage`. Keeps a person's data (or the whole institution's),
    /// of some categories or all, past its retention period and through an erasure, until
    /// `ends_at` or an early release. Audited.
    #[oai(
        path = "/privacy/legal-holds",
        method = "post",
        operation_id = "createLegalHold"
    )]
    async fn create_legal_hold(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        body: Json<LegalHoldCreate>,
    ) -> Result<HoldCreated, ApiError> {
        let body = body.0;
        let scope = state.tenancy.scope(&auth.0).await?;
        let hold = state
            .privacy
            .set_legal_hold(
                &scope,
                NewHold {
                    person_id: body.person_id,
                    categories: body
                        .categories
                        .unwrap_or_default()
                        .into_iter()
                        .map(|c| category_name(c).to_string())
                        .collect(),
                    reason: body.reason,
                    ends_at: body.ends_at,
                },
            )
            .await?;
        scope.commit().await?;
        let location = format!("/v1/privacy/legal-holds/{}", hold.id);
        Ok(HoldCreated::Created(Json(hold.into()), location))
    }

    /// List legal holds
    ///
    /// Requires scope `privacy:manage`. Newest first (at most 500); `active=true` lists only
    /// those keeping data now.
    #[oai(
        path = "/privacy/legal-holds",
        method = "get",
        operation_id = "listLegalHolds"
    )]
    async fn list_legal_holds(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        active: Query<Option<bool>>,
    ) -> Result<HoldsListed, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let holds = state
            .privacy
            .legal_holds(&scope, active.0.unwrap_or(false))
            .await?;
        scope.commit().await?;
        Ok(HoldsListed::Ok(Json(LegalHoldList {
            items: holds.into_iter().map(Into::into).collect(),
        })))
    }

    /// Get a legal hold
    ///
    /// Requires scope `privacy:manage`.
    #[oai(
        path = "/privacy/legal-holds/:hold_id",
        method = "get",
        operation_id = "getLegalHold"
    )]
    async fn get_legal_hold(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        hold_id: Path<Uuid>,
    ) -> Result<HoldFound, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let hold = state.privacy.legal_hold(&scope, hold_id.0).await?;
        scope.commit().await?;
        Ok(HoldFound::Ok(Json(hold.into())))
    }

    /// Release a legal hold early
    ///
    /// Requires scope `privacy:manage`. Ends an active hold before its end date, with a
    /// reason; retention and erasure reach what it kept from then on. Audited. A hold that
    /// already ended is a conflict.
    #[oai(
        path = "/privacy/legal-holds/:hold_id/release",
        method = "post",
        operation_id = "releaseLegalHold"
    )]
    async fn release_legal_hold(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        hold_id: Path<Uuid>,
        body: Json<LegalHoldRelease>,
    ) -> Result<HoldFound, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let hold = state
            .privacy
            .release_legal_hold(&scope, hold_id.0, body.0.reason)
            .await?;
        scope.commit().await?;
        Ok(HoldFound::Ok(Json(hold.into())))
    }
}
