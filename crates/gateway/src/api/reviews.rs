//! `/v1/access-reviews`: access recertification (S2) for the institution's admins.

use crate::api::ApiTags;
use crate::auth::TenantCredential;
use crate::problem::ApiError;
use crate::state::AppState;
use chrono::{DateTime, Duration, Utc};
use hub_identity::reviews::Review;
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use std::sync::Arc;
use uuid::Uuid;

#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct AccessReviewCreate {
    pub name: String,
    /// How long reviewers have, in seconds from now (at most 90 days); grants not confirmed
    /// by the resulting `deadline` expire.
    pub duration_seconds: u64,
}

impl Example for AccessReviewCreate {
    fn example() -> Self {
        Self {
            name: "Quarterly privileged access review".into(),
            duration_seconds: 14 * 24 * 3600,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum GrantDecision {
    Confirm,
    Revoke,
}

#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct GrantDecisionInput {
    /// The review item (grant) decided.
    pub item_id: Uuid,
    pub decision: GrantDecision,
}

impl Example for GrantDecisionInput {
    fn example() -> Self {
        Self {
            item_id: Uuid::nil(),
            decision: GrantDecision::Confirm,
        }
    }
}

/// One privileged grant under review.
#[derive(Debug, Clone, Object)]
pub struct ReviewItemView {
    pub id: Uuid,
    pub person_id: Uuid,
    pub role: String,
    /// `confirmed`, `revoked`, `expired`, or `null` while pending.
    #[oai(nullable)]
    pub decision: Option<String>,
    #[oai(nullable)]
    pub decided_by: Option<String>,
    #[oai(nullable)]
    pub decided_at: Option<DateTime<Utc>>,
    /// The grant's last use: the person's last sign-in when the review started.
    #[oai(nullable)]
    pub last_sign_in_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Object)]
pub struct AccessReviewView {
    pub id: Uuid,
    pub name: String,
    /// `open` or `closed`.
    pub status: String,
    pub deadline: DateTime<Utc>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    #[oai(nullable)]
    pub closed_at: Option<DateTime<Utc>>,
    pub pending: u32,
    pub items: Vec<ReviewItemView>,
}

impl From<Review> for AccessReviewView {
    fn from(r: Review) -> Self {
        Self {
            id: r.id,
            name: r.name,
            status: if r.open { "open" } else { "closed" }.into(),
            deadline: r.deadline,
            created_by: r.created_by,
            created_at: r.created_at,
            closed_at: r.closed_at,
            pending: r.items.iter().filter(|i| i.decision.is_none()).count() as u32,
            items: r
                .items
                .into_iter()
                .map(|i| ReviewItemView {
                    id: i.id,
                    person_id: i.person_id,
                    role: i.role.as_str().into(),
                    decision: i.decision.map(|d| d.as_str().into()),
                    decided_by: i.decided_by,
                    decided_at: i.decided_at,
                    last_sign_in_at: i.last_sign_in_at,
                })
                .collect(),
        }
    }
}

#[derive(ApiResponse)]
pub enum ReviewCreated {
    #[oai(status = 201)]
    Created(Json<AccessReviewView>, #[oai(header = "Location")] String),
}

#[derive(ApiResponse)]
pub enum ReviewFound {
    #[oai(status = 200)]
    Ok(Json<AccessReviewView>),
}

#[derive(Default)]
pub struct ReviewsApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::AccessReviews")]
impl ReviewsApi {
    /// Start an access review
    ///
    /// Requires scope `people:write`. Every current privileged grant (`tenant_admin`,
    /// `finance`, `auditor`) must be confirmed by a reviewer before the deadline; grants not
    /// confirmed then expire automatically and the person's sessions end.
    #[oai(
        path = "/access-reviews",
        method = "post",
        operation_id = "startAccessReview"
    )]
    async fn start_access_review(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        body: Json<AccessReviewCreate>,
    ) -> Result<ReviewCreated, ApiError> {
        // Clamped only so the addition cannot overflow; the domain refuses anything over
        // 90 days (or zero) with a field error.
        const CENTURY_SECS: u64 = 100 * 365 * 24 * 3600;
        let seconds = body.0.duration_seconds.min(CENTURY_SECS) as i64;
        let deadline = Utc::now() + Duration::seconds(seconds);
        let scope = state.tenancy.scope(&auth.0).await?;
        let review = state
            .identity
            .start_access_review(&scope, &body.0.name, deadline)
            .await?;
        scope.commit().await?;
        let location = format!("/v1/access-reviews/{}", review.id);
        Ok(ReviewCreated::Created(Json(review.into()), location))
    }

    /// Get an access review
    ///
    /// Requires scope `people:write`. The report: each grant, its decision and the person's
    /// last sign-in.
    #[oai(
        path = "/access-reviews/:review_id",
        method = "get",
        operation_id = "getAccessReview"
    )]
    async fn get_access_review(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        review_id: Path<Uuid>,
    ) -> Result<ReviewFound, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let outcome = state.identity.access_review(&scope, review_id.0).await?;
        let review = state.identity.commit(scope, outcome).await?;
        Ok(ReviewFound::Ok(Json(review.into())))
    }

    /// Decide a grant
    ///
    /// Requires scope `people:write`. Confirm or revoke one grant of an open review; a
    /// revoked role is removed at once and the person's sessions end. Nobody decides their
    /// own grant.
    #[oai(
        path = "/access-reviews/:review_id/decisions",
        method = "post",
        operation_id = "decideAccessGrant"
    )]
    async fn decide_access_grant(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        review_id: Path<Uuid>,
        body: Json<GrantDecisionInput>,
    ) -> Result<ReviewFound, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let outcome = state
            .identity
            .decide_grant(
                &scope,
                review_id.0,
                body.0.item_id,
                body.0.decision == GrantDecision::Confirm,
            )
            .await?;
        let review = state.identity.commit(scope, outcome).await?;
        Ok(ReviewFound::Ok(Json(review.into())))
    }
}
