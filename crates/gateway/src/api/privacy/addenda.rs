//! The institution's privacy addenda (A2): `/v1/privacy/addenda` (versions, drafted and
//! accepted by a tenant admin, read by a tenant admin or privacy officer), its acceptance
//! with an effective date, and the one in force (`/v1/privacy/addenda/current`).

use crate::api::ApiTags;
use crate::api::privacy_profile::ReportKindView;
use crate::auth::TenantCredential;
use crate::problem::ApiError;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use hub_privacy_addenda::addenda::{Addendum, AddendumStatus, Duties, NewAddendum, Subprocessor};
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use std::collections::BTreeMap;
use std::sync::Arc;

/// An outside service allowed to process the institution's data.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct SubprocessorView {
    /// 1–200 characters.
    pub name: String,
    /// What it does, 1–200 characters.
    pub service: String,
    /// Where it processes the data, 1–100 characters.
    pub location: String,
}

impl From<Subprocessor> for SubprocessorView {
    fn from(s: Subprocessor) -> Self {
        Self {
            name: s.name,
            service: s.service,
            location: s.location,
        }
    }
}

impl From<SubprocessorView> for Subprocessor {
    fn from(s: SubprocessorView) -> Self {
        Self {
            name: s.name,
            service: s.service,
            location: s.location,
        }
    }
}

/// The structured duties of an addendum; each omitted duty leaves the platform default.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct DutiesView {
    /// Days within which a data-subject request is answered: 1–30 (the default is 30).
    #[oai(nullable, default)]
    pub request_deadline_days: Option<u32>,
    /// Per data category (`identity`, `contact`, `learning`, `payment`, `technical`), the
    /// longest retention period the profile may set, 1–36,500 days.
    #[oai(default)]
    pub max_retention_days: BTreeMap<String, u32>,
    /// Report kinds the reporting profile must schedule.
    #[oai(default)]
    pub required_reports: Vec<ReportKindView>,
    /// Clusters the institution's data may live on (configured names); empty: any.
    #[oai(default)]
    pub allowed_clusters: Vec<String>,
    /// Hours within which a breach is notified: 1–72 (the default, GDPR Art. 33, is 72).
    #[oai(nullable, default)]
    pub breach_notification_hours: Option<u32>,
    /// Sub-processors the institution allows; at most 50. Recorded now (and listed in the
    /// record of processing), enforced when integrations arrive.
    #[oai(default)]
    pub allowed_subprocessors: Vec<SubprocessorView>,
}

impl From<Duties> for DutiesView {
    fn from(d: Duties) -> Self {
        Self {
            request_deadline_days: d.request_deadline_days,
            max_retention_days: d.max_retention_days,
            required_reports: d.required_reports.into_iter().map(Into::into).collect(),
            allowed_clusters: d.allowed_clusters,
            breach_notification_hours: d.breach_notification_hours,
            allowed_subprocessors: d
                .allowed_subprocessors
                .into_iter()
                .map(Into::into)
                .collect(),
        }
    }
}

impl From<DutiesView> for Duties {
    fn from(d: DutiesView) -> Self {
        Self {
            request_deadline_days: d.request_deadline_days,
            max_retention_days: d.max_retention_days,
            required_reports: d.required_reports.into_iter().map(Into::into).collect(),
            allowed_clusters: d.allowed_clusters,
            breach_notification_hours: d.breach_notification_hours,
            allowed_subprocessors: d
                .allowed_subprocessors
                .into_iter()
                .map(Into::into)
                .collect(),
        }
    }
}

/// A version to draft.
#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct AddendumInput {
    pub duties: DutiesView,
    /// What the addendum is and changes, 1–2000 characters.
    pub summary: String,
}

impl Example for AddendumInput {
    fn example() -> Self {
        Self {
            duties: DutiesView {
                request_deadline_days: Some(14),
                max_retention_days: [("technical".to_string(), 30)].into_iter().collect(),
                required_reports: vec![ReportKindView::PrivacyRequests],
                allowed_clusters: vec!["primary".into()],
                breach_notification_hours: Some(24),
                allowed_subprocessors: vec![SubprocessorView {
                    name: "Mail relay".into(),
                    service: "transactional email".into(),
                    location: "EU".into(),
                }],
            },
            summary: "Data processing addendum 2027: shorter deadlines, EU only.".into(),
        }
    }
}

/// Accept a drafted version.
#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct AddendumAcceptanceInput {
    /// When it takes effect: now when omitted; never in the past.
    #[oai(nullable, default)]
    pub effective_from: Option<DateTime<Utc>>,
}

impl Example for AddendumAcceptanceInput {
    fn example() -> Self {
        Self {
            effective_from: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum AddendumStatusView {
    Draft,
    Scheduled,
    InForce,
    Superseded,
}

impl From<AddendumStatus> for AddendumStatusView {
    fn from(s: AddendumStatus) -> Self {
        match s {
            AddendumStatus::Draft => Self::Draft,
            AddendumStatus::Scheduled => Self::Scheduled,
            AddendumStatus::InForce => Self::InForce,
            AddendumStatus::Superseded => Self::Superseded,
        }
    }
}

/// One version of the addendum. Its `status`: `draft`, `scheduled` (accepted, effective
/// later), `in_force` (the one) or `superseded`.
#[derive(Debug, Clone, Object)]
pub struct AddendumView {
    pub version: i32,
    pub duties: DutiesView,
    pub summary: String,
    pub status: AddendumStatusView,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    #[oai(nullable)]
    pub effective_from: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub accepted_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub accepted_by: Option<String>,
}

impl From<Addendum> for AddendumView {
    fn from(a: Addendum) -> Self {
        Self {
            version: a.version,
            duties: a.duties.into(),
            summary: a.summary,
            status: a.status.into(),
            created_at: a.created_at,
            created_by: a.created_by,
            effective_from: a.effective_from,
            accepted_at: a.accepted_at,
            accepted_by: a.accepted_by,
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct AddendumList {
    /// Every version, oldest first: the history.
    pub items: Vec<AddendumView>,
}

#[derive(ApiResponse)]
pub enum AddendumCreated {
    #[oai(status = 201)]
    Created(Json<AddendumView>),
}

#[derive(ApiResponse)]
pub enum AddendumFound {
    #[oai(status = 200)]
    Ok(Json<AddendumView>),
}

#[derive(ApiResponse)]
pub enum AddendaListed {
    #[oai(status = 200)]
    Ok(Json<AddendumList>),
}

#[derive(Default)]
pub struct AddendaApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Privacy")]
impl AddendaApi {
    /// Draft a privacy addendum version
    ///
    /// Requires scope `tenant:admin`. The next version of the institution's addendum, with
    /// its structured duties; a draft until accepted. Audited.
    #[oai(
        path = "/privacy/addenda",
        method = "post",
        operation_id = "draftPrivacyAddendum"
    )]
    async fn draft(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        body: Json<AddendumInput>,
    ) -> Result<AddendumCreated, ApiError> {
        let input = body.0;
        let new = NewAddendum {
            duties: input.duties.into(),
            summary: input.summary,
        };
        let scope = state.tenancy.scope(&auth.0).await?;
        let drafted = state.privacy.draft_addendum(&scope, new).await?;
        scope.commit().await?;
        Ok(AddendumCreated::Created(Json(drafted.into())))
    }

    /// Privacy addendum versions
    ///
    /// Requires scope `tenant:admin` or `privacy:manage`. Every version, oldest first, with
    /// its status now: the history.
    #[oai(
        path = "/privacy/addenda",
        method = "get",
        operation_id = "listPrivacyAddenda"
    )]
    async fn list(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
    ) -> Result<AddendaListed, ApiError> {
        let privacy = &state.privacy;
        let items = state
            .tenancy
            .read(&auth.0, move |scope| async move {
                privacy.addenda(&scope).await
            })
            .await?;
        Ok(AddendaListed::Ok(Json(AddendumList {
            items: items.into_iter().map(Into::into).collect(),
        })))
    }

    /// The privacy addendum in force
    ///
    /// Requires scope `tenant:admin` or `privacy:manage`. The one version in force now; 404
    /// `addendum_not_found` when none is (the platform defaults hold).
    #[oai(
        path = "/privacy/addenda/current",
        method = "get",
        operation_id = "getCurrentPrivacyAddendum"
    )]
    async fn current(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
    ) -> Result<AddendumFound, ApiError> {
        let privacy = &state.privacy;
        let found = state
            .tenancy
            .read(&auth.0, move |scope| async move {
                privacy.current_addendum(&scope).await
            })
            .await?;
        Ok(AddendumFound::Ok(Json(found.into())))
    }

    /// Accept a privacy addendum version
    ///
    /// Requires scope `tenant:admin`. The draft takes effect from `effective_from` (now when
    /// omitted); from then it is the one in force and the runtime enforces its duties.
    /// Refused (409 `addendum_duty_breached`, one violation per breach) when the institution
    /// already breaks them: a retention period above a maximum, a required report missing
    /// from the profile (change the profile first), or its data on a cluster not allowed. A
    /// version already accepted: 409. Audited.
    #[oai(
        path = "/privacy/addenda/:version/acceptance",
        method = "post",
        operation_id = "acceptPrivacyAddendum"
    )]
    async fn accept(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        /// The version number (a text that is not one names no version: 404).
        version: Path<String>,
        body: Json<AddendumAcceptanceInput>,
    ) -> Result<AddendumFound, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let accepted = state
            .privacy
            .accept_addendum(&scope, version.0.parse().ok(), body.0.effective_from)
            .await?;
        scope.commit().await?;
        Ok(AddendumFound::Ok(Json(accepted.into())))
    }
}
