//! Policy and notice versions (U8, A3): `/v1/privacy/policy-versions` (published by a
//! privacy officer, read by anyone of the institution), `/v1/me/policy-acceptances` (a
//! person's acceptance) and `/v1/me/services/{service}/access` (whether the person may use a
//! service with its own notice: 403 `notice_not_accepted` until they accept it).

use crate::api::ApiTags;
use crate::api::privacy::consent::ConsentPurposeView;
use crate::auth::TenantCredential;
use crate::problem::ApiError;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use hub_privacy_addenda::policy::{
    Acceptance, NewPolicyVersion, Notice, NoticeAccess, PolicyVersion, Published,
};
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Object, OpenApi};
use std::sync::Arc;
use uuid::Uuid;

/// A service's notice: what it does with data.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct NoticeInput {
    /// 1–64 characters: lowercase letters, digits, underscores (`peer_forums`).
    pub service: String,
    /// 1–10000 characters.
    pub text: String,
}

/// A version to publish.
#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct PolicyVersionInput {
    /// The purposes the institution uses data for under this version.
    pub purposes: Vec<ConsentPurposeView>,
    /// A notice per service; at most 50.
    #[oai(default)]
    pub notices: Vec<NoticeInput>,
    /// What changed, 1–2000 characters.
    pub summary: String,
}

impl Example for PolicyVersionInput {
    fn example() -> Self {
        Self {
            purposes: vec![ConsentPurposeView::Analytics, ConsentPurposeView::Marketing],
            notices: vec![NoticeInput {
                service: "peer_forums".into(),
                text: "Posts in peer forums are visible to your course mates.".into(),
            }],
            summary: "Adds marketing messages and the peer forums notice.".into(),
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct NoticeView {
    pub service: String,
    pub text: String,
}

impl From<Notice> for NoticeView {
    fn from(n: Notice) -> Self {
        Self {
            service: n.service,
            text: n.text,
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct PolicyVersionView {
    pub version: i32,
    pub purposes: Vec<ConsentPurposeView>,
    pub notices: Vec<NoticeView>,
    pub summary: String,
    pub published_at: DateTime<Utc>,
}

impl From<PolicyVersion> for PolicyVersionView {
    fn from(v: PolicyVersion) -> Self {
        Self {
            version: v.version,
            purposes: v.purposes.into_iter().map(Into::into).collect(),
            notices: v.notices.into_iter().map(Into::into).collect(),
            summary: v.summary,
            published_at: v.published_at,
        }
    }
}

/// A version just published.
#[derive(Debug, Clone, Object)]
pub struct PublishedPolicyVersion {
    pub version: PolicyVersionView,
    /// Purposes the previous version did not list: blocked for each person until they
    /// accept.
    pub added_purposes: Vec<ConsentPurposeView>,
    /// Services whose notice is new or changed.
    pub changed_notices: Vec<String>,
    /// People sent an essential message about it.
    pub notified: u64,
}

impl From<Published> for PublishedPolicyVersion {
    fn from(p: Published) -> Self {
        Self {
            version: p.version.into(),
            added_purposes: p.added_purposes.into_iter().map(Into::into).collect(),
            changed_notices: p.changed_notices,
            notified: p.notified,
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct PolicyVersionList {
    /// Oldest first; the last is current.
    pub items: Vec<PolicyVersionView>,
}

/// Accept a published version (and every notice in it).
#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct AcceptanceInput {
    pub version: i32,
}

impl Example for AcceptanceInput {
    fn example() -> Self {
        Self { version: 2 }
    }
}

#[derive(Debug, Clone, Object)]
pub struct AcceptanceView {
    pub id: Uuid,
    pub version: i32,
    pub accepted_at: DateTime<Utc>,
}

impl From<Acceptance> for AcceptanceView {
    fn from(a: Acceptance) -> Self {
        Self {
            id: a.id,
            version: a.version,
            accepted_at: a.accepted_at,
        }
    }
}

/// The person may use the service.
#[derive(Debug, Clone, Object)]
pub struct ServiceAccessView {
    pub service: String,
    pub allowed: bool,
    /// The version whose notice of the service the person accepted.
    pub notice_version: i32,
    pub accepted_version: i32,
}

impl From<NoticeAccess> for ServiceAccessView {
    fn from(a: NoticeAccess) -> Self {
        Self {
            service: a.service,
            allowed: true,
            notice_version: a.notice_version,
            accepted_version: a.accepted_version,
        }
    }
}

#[derive(ApiResponse)]
pub enum PolicyVersionPublished {
    #[oai(status = 201)]
    Created(Json<PublishedPolicyVersion>),
}

#[derive(ApiResponse)]
pub enum PolicyVersionsListed {
    #[oai(status = 200)]
    Ok(Json<PolicyVersionList>),
}

#[derive(ApiResponse)]
pub enum PolicyAccepted {
    #[oai(status = 201)]
    Created(Json<AcceptanceView>),
}

#[derive(ApiResponse)]
pub enum ServiceAccess {
    #[oai(status = 200)]
    Ok(Json<ServiceAccessView>),
}

#[derive(Default)]
pub struct PolicyApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Privacy")]
impl PolicyApi {
    /// Publish a policy version
    ///
    /// Requires scope `privacy:manage`. The next version, with its purposes and a notice
    /// per service. A purpose the previous version did not list is blocked for every person
    /// until they accept this version (U8); every active person is sent an essential
    /// message when it adds a purpose or a new or changed notice. Audited.
    #[oai(
        path = "/privacy/policy-versions",
        method = "post",
        operation_id = "publishPolicyVersion"
    )]
    async fn publish(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        body: Json<PolicyVersionInput>,
    ) -> Result<PolicyVersionPublished, ApiError> {
        let input = body.0;
        let new = NewPolicyVersion {
            purposes: input.purposes.into_iter().map(Into::into).collect(),
            notices: input
                .notices
                .into_iter()
                .map(|n| Notice {
                    service: n.service,
                    text: n.text,
                })
                .collect(),
            summary: input.summary,
        };
        let scope = state.tenancy.scope(&auth.0).await?;
        let published = state.privacy.publish_policy_version(&scope, new).await?;
        scope.commit().await?;
        Ok(PolicyVersionPublished::Created(Json(published.into())))
    }

    /// Policy versions
    ///
    /// Any scope: every credential of the institution (people read the policy they
    /// accept). Oldest first; the last is current.
    #[oai(
        path = "/privacy/policy-versions",
        method = "get",
        operation_id = "listPolicyVersions"
    )]
    async fn list(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
    ) -> Result<PolicyVersionsListed, ApiError> {
        let privacy = &state.privacy;
        let versions = state
            .tenancy
            .read(&auth.0, move |scope| async move {
                privacy.policy_versions(&scope).await
            })
            .await?;
        Ok(PolicyVersionsListed::Ok(Json(PolicyVersionList {
            items: versions.into_iter().map(Into::into).collect(),
        })))
    }

    /// Accept a policy version
    ///
    /// Any signed-in person (U8, U9). Records the acceptance of a published version and
    /// every notice in it; purposes and services it introduced become usable (with consent,
    /// for purposes). An unknown version is refused (422). Audited.
    #[oai(
        path = "/me/policy-acceptances",
        method = "post",
        operation_id = "acceptPolicyVersion"
    )]
    async fn accept(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        body: Json<AcceptanceInput>,
    ) -> Result<PolicyAccepted, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let accepted = state.privacy.accept_policy(&scope, body.0.version).await?;
        scope.commit().await?;
        Ok(PolicyAccepted::Created(Json(accepted.into())))
    }

    /// May I use this service?
    ///
    /// Any signed-in person (A3). 200 once I accepted the policy version carrying the
    /// service's current notice; 403 `notice_not_accepted` before; 404 when the current
    /// policy has no notice for it. A service's front end asks this before it opens.
    #[oai(
        path = "/me/services/:service/access",
        method = "get",
        operation_id = "getMyServiceAccess"
    )]
    async fn service_access(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        service: Path<String>,
    ) -> Result<ServiceAccess, ApiError> {
        let privacy = &state.privacy;
        let service = service.0;
        let access = state
            .tenancy
            .read(&auth.0, move |scope| {
                let service = service.clone();
                async move { privacy.my_service_access(&scope, &service).await }
            })
            .await?;
        Ok(ServiceAccess::Ok(Json(access.into())))
    }
}
