//! `/v1/privacy/retention-runs`: the retention sweeper's proof records, and running it now.

use super::data_map::CategoryView;
use crate::api::ApiTags;
use crate::api::privacy_profile::RetentionActionView;
use crate::auth::TenantCredential;
use crate::problem::ApiError;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use hub_kernel::classification::DataCategory;
use hub_privacy_addenda::retention::{RetentionRun, Start, Step, Trigger};
use hub_tenant::TenantError;
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use std::sync::Arc;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum StepOutcomeView {
    Deleted,
    Anonymised,
    Restricted,
    NotApplicable,
    SkippedByHold,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum RunStateView {
    Running,
    Succeeded,
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum RunTriggerView {
    Schedule,
    Request,
    CommandLine,
}

/// What one source did to one category. `action` is the profile's action for the category
/// (`outcome` says what the source did, and is left out until the step is done).
#[derive(Debug, Clone, Object)]
pub struct RetentionStepView {
    /// The personal-data source (as the data map names it).
    pub source: String,
    pub category: CategoryView,
    /// The profile's period for the category.
    pub period_days: u32,
    // The profile's action for the category (the outcome says what the source did); not a
    // doc comment: a described enum field becomes an `allOf` generated clients cannot take.
    pub action: RetentionActionView,
    /// Data of the category older than this expires.
    pub cutoff: DateTime<Utc>,
    pub done: bool,
    // Left out until done (a nullable enum is an `allOf` generated clients cannot take).
    #[oai(skip_serializing_if_is_none)]
    pub outcome: Option<StepOutcomeView>,
    /// Records deleted or anonymised.
    pub records: u64,
    /// People a legal hold spared.
    pub held_people: u64,
    /// Why nothing applied (the source's reason, or the hold).
    #[oai(nullable)]
    pub reason: Option<String>,
}

impl From<Step> for RetentionStepView {
    fn from(s: Step) -> Self {
        let category = DataCategory::parse(&s.category).unwrap_or(DataCategory::Technical);
        Self {
            source: s.source,
            category: category.into(),
            period_days: s.period_days,
            action: if s.action == "anonymise" {
                RetentionActionView::Anonymise
            } else {
                RetentionActionView::Delete
            },
            cutoff: s.cutoff,
            done: s.done,
            outcome: s.outcome.as_deref().map(|o| match o {
                "deleted" => StepOutcomeView::Deleted,
                "anonymised" => StepOutcomeView::Anonymised,
                "restricted" => StepOutcomeView::Restricted,
                "skipped_by_hold" => StepOutcomeView::SkippedByHold,
                _ => StepOutcomeView::NotApplicable,
            }),
            records: s.records,
            held_people: s.held_people,
            reason: s.reason,
        }
    }
}

/// One run of the retention sweeper on the institution: its proof record.
#[derive(Debug, Clone, Object)]
pub struct RetentionRunView {
    pub id: Uuid,
    pub trigger: RunTriggerView,
    pub state: RunStateView,
    /// The revision of the retention profile applied.
    pub profile_revision: i32,
    /// The clock the profile was applied at (cutoffs are this minus each period).
    pub as_of: DateTime<Utc>,
    pub started_at: DateTime<Utc>,
    #[oai(nullable)]
    pub finished_at: Option<DateTime<Utc>>,
    pub steps_total: u64,
    pub steps_done: u64,
    /// Records deleted or anonymised so far.
    pub records_expired: u64,
    pub steps: Vec<RetentionStepView>,
    #[oai(nullable)]
    pub error: Option<String>,
}

impl From<RetentionRun> for RetentionRunView {
    fn from(r: RetentionRun) -> Self {
        Self {
            id: r.id,
            trigger: match r.trigger.as_str() {
                "schedule" => RunTriggerView::Schedule,
                "command_line" => RunTriggerView::CommandLine,
                _ => RunTriggerView::Request,
            },
            state: match r.state.as_str() {
                "succeeded" => RunStateView::Succeeded,
                "failed" => RunStateView::Failed,
                _ => RunStateView::Running,
            },
            profile_revision: r.profile_revision,
            as_of: r.as_of,
            started_at: r.started_at,
            finished_at: r.finished_at,
            steps_total: r.steps.len() as u64,
            steps_done: r.steps_done() as u64,
            records_expired: r.records_expired(),
            steps: r.steps.into_iter().map(Into::into).collect(),
            error: r.error,
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct RetentionRunList {
    /// Newest first (at most 100).
    pub items: Vec<RetentionRunView>,
}

#[derive(ApiResponse)]
pub enum RunAccepted {
    /// The run started (or a run whose process died resumed); follow it at `Location`.
    #[oai(status = 202)]
    Accepted(Json<RetentionRunView>, #[oai(header = "Location")] String),
}

#[derive(ApiResponse)]
pub enum RunFound {
    #[oai(status = 200)]
    Ok(Json<RetentionRunView>),
}

#[derive(ApiResponse)]
pub enum RunsListed {
    #[oai(status = 200)]
    Ok(Json<RetentionRunList>),
}

#[derive(Default)]
pub struct RetentionApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Privacy")]
impl RetentionApi {
    /// Run the retention sweeper now
    ///
    /// Requires scope `privacy:manage` or `tenant:admin`. Applies the institution's retention
    /// profile now (as the schedule does): per category, every source expires what is older
    /// than the period, except what a legal hold keeps. Answers at once with the run, which
    /// goes on in the background; its record shows the progress. A run already under way is
    /// a conflict.
    #[oai(
        path = "/privacy/retention-runs",
        method = "post",
        operation_id = "startRetentionRun"
    )]
    async fn start_retention_run(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
    ) -> Result<RunAccepted, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        state.privacy.authorize_retention_run(&scope)?;
        let requested_by = scope.actor_label();
        let tenant = scope.tenant_id();
        scope.commit().await?;
        let run = match state
            .privacy
            .start_retention_run(tenant, Trigger::Request, Some(requested_by))
            .await?
        {
            Start::Started(run) | Start::Resumed(run) => run,
            Start::Busy(_) | Start::NotDue => {
                return Err(TenantError::Conflict(
                    "a retention run of the institution is under way".into(),
                )
                .into());
            }
            Start::Unavailable => return Err(TenantError::Suspended.into()),
        };
        let background = state.0.clone();
        let id = run.id;
        tokio::spawn(async move {
            if let Err(error) = background
                .privacy
                .continue_retention_run(tenant, id, |_, _| {})
                .await
            {
                tracing::warn!(%tenant, run = %id, %error, "retention run failed");
            }
        });
        let location = format!("/v1/privacy/retention-runs/{id}");
        Ok(RunAccepted::Accepted(Json(run.into()), location))
    }

    /// List retention runs
    ///
    /// Requires scope `privacy:manage` or `tenant:admin`. The sweeper's proof records, newest
    /// first: under which profile revision and clock each ran, and per source and category
    /// what it deleted or anonymised, and what a legal hold kept.
    #[oai(
        path = "/privacy/retention-runs",
        method = "get",
        operation_id = "listRetentionRuns"
    )]
    async fn list_retention_runs(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
    ) -> Result<RunsListed, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let runs = state
            .privacy
            .retention_runs(&scope, hub_privacy_addenda::retention::LIST_MAX)
            .await?;
        scope.commit().await?;
        Ok(RunsListed::Ok(Json(RetentionRunList {
            items: runs.into_iter().map(Into::into).collect(),
        })))
    }

    /// Get a retention run
    ///
    /// Requires scope `privacy:manage` or `tenant:admin`. One run's proof record, with its
    /// progress while it runs.
    #[oai(
        path = "/privacy/retention-runs/:run_id",
        method = "get",
        operation_id = "getRetentionRun"
    )]
    async fn get_retention_run(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        run_id: Path<Uuid>,
    ) -> Result<RunFound, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let run = state.privacy.retention_run(&scope, run_id.0).await?;
        scope.commit().await?;
        Ok(RunFound::Ok(Json(run.into())))
    }
}
