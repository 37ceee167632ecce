//! Retention enforced (S4, D3): the sweeper applies an institution's retention profile
//! ([`hub_tenant::profile`]) through the personal-data contract. Per category of the profile
//! the cutoff is the run's clock minus the category's period; every registered source that
//! holds the category (its [`PersonalDataSource::fields`]) expires what is older, sparing
//! the people a legal hold keeps ([`crate::holds::people_held`]). A category under a hold on
//! the whole institution is skipped, and the run says so.
//!
//! **Proof.** Every run is a row of `retention_runs`: what started it, the profile revision,
//! the clock it applied the profile at (`as_of`), when it started and finished, and per
//! source and category its cutoff and outcome (deleted / anonymised counts, not applicable
//! with the source's reason, skipped by a hold, how many held people were spared).
//!
//! **One run per tenant at a time, once per due period, in every replica.** A tenant has at
//! most one unfinished run: the row's `active` column is 1 until it finishes and is unique,
//! on PostgreSQL and SQLite alike. The process running it holds a lease on it, renewed at
//! every step; a run whose process died keeps its row with a lease that lapses, and the next
//! process to visit the tenant takes the lease and resumes it at its first unfinished step.
//! A scheduled run is started only by the process that claims the tenant's due period: one
//! conditional UPDATE of `retention_schedule` (`next_due_at <= now` → `now + every`), which
//! two replicas cannot both win (PostgreSQL re-checks the condition on the row the first one
//! committed; SQLite has one writer, and in one process an in-memory guard keeps a second
//! visit of the same tenant from even trying).
//!
//! **Exactly once, idempotent.** Each step runs in one transaction with the update of the
//! run row that marks it done: a step either happened and is recorded, or neither. The
//! sources' `expire` only touches what is still there, so a second run expires nothing.
//!
//! **Paced.** The contract's `expire` touches at most `EXPIRE_BATCH` rows per call in the
//! large families; the sweeper runs each call in its own short transaction, calls again while
//! a call answered a full batch (the step's count adds up, committed with each batch), and
//! pauses between calls (`retention_batch_pause_ms`), so a sweep never holds a tenant's
//! tables for long and serving traffic goes first.
//!
//! The profile's action per category (delete or anonymise) is recorded with each step; what
//! a source does is its own rule (a row other records need is anonymised even where the
//! profile says delete), and its outcome says which.

pub(crate) mod entity;

use crate::holds;
use crate::{PRIVACY_MANAGE, Privacy, PrivacyError};
use chrono::{DateTime, SubsecRound, Utc};
use entity::{run, schedule};
use hub_kernel::classification::DataCategory;
use hub_tenant::personal_data::{EXPIRE_BATCH, Outcome, PersonalDataSource};
use hub_tenant::profile::RetentionAction;
use hub_tenant::{Scope, TenantError, TenantScope};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use uuid::Uuid;

/// The platform job's name (the purpose of its units of work).
pub const JOB: &str = "retention.sweep";
pub const STATE_RUNNING: &str = "running";
pub const STATE_SUCCEEDED: &str = "succeeded";
pub const STATE_FAILED: &str = "failed";
/// The most runs one listing returns.
pub const LIST_MAX: u64 = 100;
const SCHEDULE_ROW: i32 = 1;

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The periodic sweep of a serving process.
    Schedule,
    /// `POST /v1/privacy/retention-runs`.
    Request,
    /// `hub retention run`.
    CommandLine,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Schedule => "schedule",
            Self::Request => "request",
            Self::CommandLine => "command_line",
        }
    }
}

/// How the sweeper runs in this process.
#[derive(Debug, Clone)]
pub struct RetentionSettings {
    /// How often a tenant's scheduled run is due.
    pub every: Duration,
    /// The pause between two steps of a run.
    pub pause: Duration,
    /// Added to the wall clock to make a run's `as_of` (drills and tests age the data this
    /// way instead of waiting; 0 in production).
    pub clock_offset: chrono::Duration,
    /// How long a run's lease lasts unless renewed (at every step).
    pub lease: chrono::Duration,
    /// Drill: a run stops after this many steps as if its process had died, leaving its row
    /// unfinished with its lease (0: never).
    pub stop_after_steps: u64,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        Self {
            every: Duration::from_secs(3600),
            pause: Duration::from_millis(100),
            clock_offset: chrono::Duration::zero(),
            lease: chrono::Duration::seconds(60),
            stop_after_steps: 0,
        }
    }
}

/// The sweeper's state in this process: who it is as a lease holder, which tenants it is
/// running now, and its settings.
pub(crate) struct Runner {
    holder: Uuid,
    running: Mutex<HashSet<Uuid>>,
    settings: RwLock<RetentionSettings>,
}

impl Default for Runner {
    fn default() -> Self {
        Self {
            holder: Uuid::now_v7(),
            running: Mutex::new(HashSet::new()),
            settings: RwLock::new(RetentionSettings::default()),
        }
    }
}

/// Marks a tenant as being run by this process until dropped.
struct RunningGuard<'a> {
    runner: &'a Runner,
    tenant: Uuid,
}

impl Drop for RunningGuard<'_> {
    fn drop(&mut self) {
        if let Ok(mut running) = self.runner.running.lock() {
            running.remove(&self.tenant);
        }
    }
}

impl Runner {
    fn enter(&self, tenant: Uuid) -> Option<RunningGuard<'_>> {
        let inserted = self.running.lock().ok()?.insert(tenant);
        // The guard is made only once the lock is released (its drop takes it).
        inserted.then(|| RunningGuard {
            runner: self,
            tenant,
        })
    }

    fn settings(&self) -> RetentionSettings {
        self.settings.read().map(|s| s.clone()).unwrap_or_default()
    }
}

/// One step of a run: one source and one category.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub source: String,
    pub category: String,
    pub period_days: u32,
    /// The profile's action for the category.
    pub action: String,
    /// Data of the category older than this expires.
    pub cutoff: DateTime<Utc>,
    pub done: bool,
    /// `deleted`, `anonymised`, `not_applicable`, `skipped_by_hold`; `None` until done.
    pub outcome: Option<String>,
    /// Records deleted or anonymised.
    pub records: u64,
    /// People a legal hold spared.
    pub held_people: u64,
    /// Why nothing applied (the source's reason, or the hold).
    pub reason: Option<String>,
}

/// One run of the sweeper on one tenant: its proof record.
#[derive(Debug, Clone, Serialize)]
pub struct RetentionRun {
    pub id: Uuid,
    pub trigger: String,
    pub state: String,
    pub profile_revision: i32,
    pub as_of: DateTime<Utc>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub steps: Vec<Step>,
    pub error: Option<String>,
}

impl RetentionRun {
    pub fn steps_done(&self) -> usize {
        self.steps.iter().filter(|s| s.done).count()
    }

    /// Records deleted or anonymised so far.
    pub fn records_expired(&self) -> u64 {
        self.steps.iter().map(|s| s.records).sum()
    }

    fn next_step(&self) -> Option<usize> {
        self.steps.iter().position(|s| !s.done)
    }
}

fn from_row(row: run::Model) -> RetentionRun {
    RetentionRun {
        id: row.id,
        trigger: row.trigger,
        state: row.state,
        profile_revision: row.profile_revision,
        as_of: row.as_of,
        started_at: row.started_at,
        finished_at: row.finished_at,
        steps: serde_json::from_str(&row.steps).unwrap_or_default(),
        error: row.error,
    }
}

/// How an attempt to start a run on a tenant went.
#[derive(Debug, Clone)]
pub enum Start {
    /// A new run, to carry on with [`Privacy::continue_retention_run`].
    Started(RetentionRun),
    /// An unfinished run whose process died: this process holds its lease now.
    Resumed(RetentionRun),
    /// Another run of the tenant is under way (its id).
    Busy(Uuid),
    /// A scheduled run is not due yet (another replica ran this period).
    NotDue,
    /// The tenant is gone or suspended.
    Unavailable,
}

/// What one pass over every tenant did.
#[derive(Debug, Clone, Default)]
pub struct SweepReport {
    pub runs: Vec<(Uuid, RetentionRun)>,
    pub failed: Vec<(Uuid, String)>,
}

fn action_name(action: RetentionAction) -> &'static str {
    match action {
        RetentionAction::Delete => "delete",
        RetentionAction::Anonymise => "anonymise",
    }
}

/// The steps of a run at `as_of` under `profile`: per category of the profile, every
/// source expiring the category ([`PersonalDataSource::expiring_categories`]).
fn plan(
    profile: &hub_tenant::profile::PrivacyProfile,
    sources: &[Arc<dyn PersonalDataSource>],
    as_of: DateTime<Utc>,
) -> Vec<Step> {
    let mut steps = Vec::new();
    for category in DataCategory::ALL {
        let Some(rule) = profile.retention.get(category.as_str()) else {
            continue;
        };
        let cutoff = as_of - chrono::Duration::days(i64::from(rule.period_days));
        for source in sources {
            if source.expiring_categories().contains(&category) {
                steps.push(Step {
                    source: source.name().to_string(),
                    category: category.as_str().to_string(),
                    period_days: rule.period_days,
                    action: action_name(rule.action).to_string(),
                    cutoff,
                    done: false,
                    outcome: None,
                    records: 0,
                    held_people: 0,
                    reason: None,
                });
            }
        }
    }
    steps
}

/// Who may read runs and start one: a privacy officer or the institution's admin.
fn require_retention(scope: &TenantScope) -> Result<(), PrivacyError> {
    scope
        .require(PRIVACY_MANAGE)
        .or_else(|_| scope.require(Scope::TenantAdmin))
        .map_err(PrivacyError::from)
}

fn lease_condition(holder: Uuid) -> Condition {
    Condition::all()
        .add(run::Column::LeaseHolder.eq(holder))
        .add(run::Column::State.eq(STATE_RUNNING))
}

impl Privacy {
    /// Sets how the sweeper runs in this process (at start, from the configuration).
    pub fn configure_retention(&self, settings: RetentionSettings) {
        if let Ok(mut current) = self.retention.settings.write() {
            *current = settings;
        }
    }

    async fn job_scope(&self, tenant: Uuid) -> Result<Option<TenantScope>, PrivacyError> {
        Ok(self.tenancy.periodic_job_scope(tenant, JOB).await?)
    }

    /// Checks the caller may start a run (`privacy:manage` or `tenant:admin`): the run itself
    /// is the platform's job and works in units of work of its own.
    pub fn authorize_retention_run(&self, scope: &TenantScope) -> Result<(), PrivacyError> {
        require_retention(scope)
    }

    /// Starts a run on `tenant` (or resumes one whose process died), recording who asked in
    /// the tenant's audit trail. A scheduled start happens only once per due period across
    /// every replica.
    pub async fn start_retention_run(
        &self,
        tenant: Uuid,
        trigger: Trigger,
        requested_by: Option<String>,
    ) -> Result<Start, PrivacyError> {
        let Some(_guard) = self.retention.enter(tenant) else {
            return Ok(Start::Busy(Uuid::nil()));
        };
        self.start_entered(tenant, trigger, requested_by).await
    }

    async fn start_entered(
        &self,
        tenant: Uuid,
        trigger: Trigger,
        requested_by: Option<String>,
    ) -> Result<Start, PrivacyError> {
        let settings = self.retention.settings();
        let holder = self.retention.holder;
        let Some(scope) = self.job_scope(tenant).await? else {
            return Ok(Start::Unavailable);
        };
        // Whole microseconds: what both backends store, so the cutoffs recorded in the steps
        // are exactly `as_of` minus each period.
        let now = Utc::now().trunc_subsecs(6);
        let lease_until = now + settings.lease;
        if let Some(active) = run::Entity::find()
            .filter(run::Column::Active.eq(1))
            .one(scope.db())
            .await?
        {
            let lapsed = active.lease_until.is_none_or(|until| until < now);
            if !lapsed {
                scope.commit().await?;
                return Ok(Start::Busy(active.id));
            }
            let taken = run::Entity::update_many()
                .col_expr(run::Column::LeaseHolder, Expr::value(Some(holder)))
                .col_expr(run::Column::LeaseUntil, Expr::value(Some(lease_until)))
                .filter(run::Column::Id.eq(active.id))
                .filter(run::Column::Active.eq(1))
                .filter(
                    Condition::any()
                        .add(run::Column::LeaseUntil.is_null())
                        .add(run::Column::LeaseUntil.lt(now)),
                )
                .exec(scope.db())
                .await?;
            if taken.rows_affected != 1 {
                scope.commit().await?;
                return Ok(Start::Busy(active.id));
            }
            hub_tenant::audit::record(
                &scope,
                hub_tenant::audit::AuditEvent::new("retention.run_resumed")
                    .subject(format!("retention-run:{}", active.id)),
            )
            .await?;
            scope.commit().await?;
            let mut resumed = from_row(active);
            resumed.state = STATE_RUNNING.into();
            return Ok(Start::Resumed(resumed));
        }
        if trigger == Trigger::Schedule {
            schedule::Entity::insert(schedule::ActiveModel {
                id: Set(SCHEDULE_ROW),
                next_due_at: Set(DateTime::<Utc>::UNIX_EPOCH),
            })
            .on_conflict_do_nothing()
            .exec_without_returning(scope.db())
            .await?;
            let every = chrono::Duration::from_std(settings.every)
                .unwrap_or_else(|_| chrono::Duration::hours(1));
            let claimed = schedule::Entity::update_many()
                .col_expr(schedule::Column::NextDueAt, Expr::value(now + every))
                .filter(schedule::Column::Id.eq(SCHEDULE_ROW))
                .filter(schedule::Column::NextDueAt.lte(now))
                .exec(scope.db())
                .await?;
            if claimed.rows_affected != 1 {
                // Ends the unit of work now (on SQLite it holds the write lock).
                scope.commit().await?;
                return Ok(Start::NotDue);
            }
        }
        let profile = hub_tenant::profile::get(&scope).await?;
        let sources = self.tenancy.personal_data_sources()?;
        let as_of = now + settings.clock_offset;
        let steps = plan(&profile.profile, &sources, as_of);
        let row = run::Model {
            id: Uuid::now_v7(),
            trigger: trigger.as_str().to_string(),
            state: STATE_RUNNING.to_string(),
            active: Some(1),
            profile_revision: profile.revision,
            as_of,
            started_at: now,
            finished_at: None,
            lease_holder: Some(holder),
            lease_until: Some(lease_until),
            steps: serde_json::to_string(&steps).unwrap_or_else(|_| "[]".into()),
            error: None,
        };
        let inserted = run::Entity::insert(run::ActiveModel {
            id: Set(row.id),
            trigger: Set(row.trigger.clone()),
            state: Set(row.state.clone()),
            active: Set(row.active),
            profile_revision: Set(row.profile_revision),
            as_of: Set(row.as_of),
            started_at: Set(row.started_at),
            finished_at: Set(None),
            lease_holder: Set(row.lease_holder),
            lease_until: Set(row.lease_until),
            steps: Set(row.steps.clone()),
            error: Set(None),
        })
        .exec_without_returning(scope.db())
        .await;
        if let Err(error) = inserted {
            // Another process started one between the look and the insert.
            if matches!(
                error.sql_err(),
                Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
            ) {
                return Ok(Start::Busy(Uuid::nil()));
            }
            return Err(error.into());
        }
        hub_tenant::audit::record(
            &scope,
            hub_tenant::audit::AuditEvent::new("retention.run_started")
                .subject(format!("retention-run:{}", row.id))
                .detail(serde_json::json!({
                    "trigger": row.trigger,
                    "requested_by": requested_by,
                    "profile_revision": row.profile_revision,
                    "as_of": row.as_of,
                })),
        )
        .await?;
        scope.commit().await?;
        Ok(Start::Started(from_row(row)))
    }

    /// Carries a started or resumed run on to its end, step by step, calling `on_step` after
    /// each. Stops early (returning the run as it stands) when this process lost the run's
    /// lease, or at the drill's `stop_after_steps`.
    pub async fn continue_retention_run(
        &self,
        tenant: Uuid,
        run_id: Uuid,
        mut on_step: impl FnMut(&RetentionRun, &Step) + Send,
    ) -> Result<RetentionRun, PrivacyError> {
        let Some(_guard) = self.retention.enter(tenant) else {
            return Err(TenantError::Conflict("this process is already running it".into()).into());
        };
        let settings = self.retention.settings();
        let holder = self.retention.holder;
        let sources = self.tenancy.personal_data_sources()?;
        let mut steps_this_process = 0u64;
        loop {
            let Some(scope) = self.job_scope(tenant).await? else {
                return Err(TenantError::NotFound("tenant").into());
            };
            let row = run::Entity::find_by_id(run_id)
                .one(scope.db())
                .await?
                .ok_or(TenantError::NotFound("retention run"))?;
            let mut current = from_row(row.clone());
            if row.state != STATE_RUNNING || row.lease_holder != Some(holder) {
                scope.commit().await?;
                return Ok(current);
            }
            if settings.stop_after_steps > 0 && steps_this_process >= settings.stop_after_steps {
                // As if the process had died here: the row stays unfinished with its lease.
                scope.commit().await?;
                return Ok(current);
            }
            let now = Utc::now();
            let Some(index) = current.next_step() else {
                let done = run::Entity::update_many()
                    .col_expr(run::Column::State, Expr::value(STATE_SUCCEEDED))
                    .col_expr(run::Column::Active, Expr::value(Option::<i32>::None))
                    .col_expr(run::Column::FinishedAt, Expr::value(Some(now)))
                    .col_expr(
                        run::Column::LeaseUntil,
                        Expr::value(Option::<DateTime<Utc>>::None),
                    )
                    .filter(run::Column::Id.eq(run_id))
                    .filter(lease_condition(holder))
                    .exec(scope.db())
                    .await?;
                if done.rows_affected == 1 {
                    hub_tenant::audit::record(
                        &scope,
                        hub_tenant::audit::AuditEvent::new("retention.run_finished")
                            .subject(format!("retention-run:{run_id}"))
                            .detail(serde_json::json!({
                                "records": current.records_expired(),
                                "steps": current.steps.len(),
                            })),
                    )
                    .await?;
                    current.state = STATE_SUCCEEDED.into();
                    current.finished_at = Some(now);
                }
                scope.commit().await?;
                return Ok(current);
            };
            let outcome = self
                .run_step(&scope, &sources, &current.steps[index], current.as_of)
                .await;
            let step = &mut current.steps[index];
            match outcome {
                Ok((outcome, records, held, reason)) => {
                    // A full batch: the step is done once a call expires less than one, each
                    // batch committed with the count it adds (see `EXPIRE_BATCH`).
                    step.done = records < EXPIRE_BATCH;
                    step.outcome = Some(outcome.to_string());
                    step.records += records;
                    step.held_people = held;
                    step.reason = reason;
                }
                Err(error) => {
                    drop(scope);
                    self.fail_run(tenant, run_id, holder, &error).await?;
                    return Err(error);
                }
            }
            let recorded = run::Entity::update_many()
                .col_expr(
                    run::Column::Steps,
                    Expr::value(serde_json::to_string(&current.steps).unwrap_or_default()),
                )
                .col_expr(
                    run::Column::LeaseUntil,
                    Expr::value(Some(now + settings.lease)),
                )
                .filter(run::Column::Id.eq(run_id))
                .filter(lease_condition(holder))
                .exec(scope.db())
                .await?;
            if recorded.rows_affected != 1 {
                // The lease went to another process: what this step did is undone with it.
                return Ok(current);
            }
            scope.commit().await?;
            steps_this_process += 1;
            on_step(&current, &current.steps[index]);
            tokio::time::sleep(settings.pause).await;
        }
    }

    /// One step, in `scope`: the holds, then the source's expire.
    async fn run_step(
        &self,
        scope: &TenantScope,
        sources: &[Arc<dyn PersonalDataSource>],
        step: &Step,
        as_of: DateTime<Utc>,
    ) -> Result<(&'static str, u64, u64, Option<String>), PrivacyError> {
        let Some(category) = DataCategory::parse(&step.category) else {
            return Ok(("not_applicable", 0, 0, Some("not a data category".into())));
        };
        let Some(source) = sources.iter().find(|s| s.name() == step.source) else {
            return Ok((
                "not_applicable",
                0,
                0,
                Some("the source is no longer registered".into()),
            ));
        };
        let held = holds::people_held(scope, category, as_of).await?;
        if held.everyone {
            return Ok((
                "skipped_by_hold",
                0,
                0,
                Some("a legal hold on the whole institution keeps this category".into()),
            ));
        }
        let outcome = source
            .expire(scope, category, step.cutoff, &held.people)
            .await
            .map_err(|e| PrivacyError::source_failed(source.name(), &e))?;
        let people = held.people.len() as u64;
        Ok(match outcome {
            Outcome::Deleted { records } => ("deleted", records, people, None),
            Outcome::Anonymised { records } => ("anonymised", records, people, None),
            Outcome::Restricted { records, .. } => ("restricted", records, people, None),
            Outcome::NotApplicable { reason } => ("not_applicable", 0, people, Some(reason.into())),
        })
    }

    async fn fail_run(
        &self,
        tenant: Uuid,
        run_id: Uuid,
        holder: Uuid,
        error: &PrivacyError,
    ) -> Result<(), PrivacyError> {
        let Some(scope) = self.job_scope(tenant).await? else {
            return Ok(());
        };
        run::Entity::update_many()
            .col_expr(run::Column::State, Expr::value(STATE_FAILED))
            .col_expr(run::Column::Active, Expr::value(Option::<i32>::None))
            .col_expr(run::Column::FinishedAt, Expr::value(Some(Utc::now())))
            .col_expr(run::Column::Error, Expr::value(Some(error.to_string())))
            .filter(run::Column::Id.eq(run_id))
            .filter(lease_condition(holder))
            .exec(scope.db())
            .await?;
        scope.commit().await?;
        Ok(())
    }

    /// Starts (or resumes) a run on `tenant` and carries it to its end.
    pub async fn run_retention(
        &self,
        tenant: Uuid,
        trigger: Trigger,
        requested_by: Option<String>,
        on_step: impl FnMut(&RetentionRun, &Step) + Send,
    ) -> Result<Start, PrivacyError> {
        let start = self
            .start_retention_run(tenant, trigger, requested_by)
            .await?;
        match start {
            Start::Started(run) => Ok(Start::Started(
                self.continue_retention_run(tenant, run.id, on_step).await?,
            )),
            Start::Resumed(run) => Ok(Start::Resumed(
                self.continue_retention_run(tenant, run.id, on_step).await?,
            )),
            other => Ok(other),
        }
    }

    /// One pass of the schedule: visits every active tenant and runs those whose period is
    /// due (or whose run's process died). A tenant's failure is reported, not fatal.
    pub async fn sweep_due_tenants(&self) -> Result<SweepReport, PrivacyError> {
        let mut report = SweepReport::default();
        for tenant in self.tenancy.active_tenant_ids().await? {
            match self
                .run_retention(tenant, Trigger::Schedule, None, |_, _| {})
                .await
            {
                Ok(Start::Started(run) | Start::Resumed(run)) => report.runs.push((tenant, run)),
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%tenant, %error, "retention run failed");
                    report.failed.push((tenant, error.to_string()));
                }
            }
        }
        Ok(report)
    }

    /// Runs of the institution, newest first. Requires `privacy:manage` or `tenant:admin`.
    pub async fn retention_runs(
        &self,
        scope: &TenantScope,
        limit: u64,
    ) -> Result<Vec<RetentionRun>, PrivacyError> {
        require_retention(scope)?;
        Ok(run::Entity::find()
            .order_by_desc(run::Column::StartedAt)
            .order_by_desc(run::Column::Id)
            .limit(limit.min(LIST_MAX))
            .all(scope.db())
            .await?
            .into_iter()
            .map(from_row)
            .collect())
    }

    /// One run. Requires `privacy:manage` or `tenant:admin`.
    pub async fn retention_run(
        &self,
        scope: &TenantScope,
        id: Uuid,
    ) -> Result<RetentionRun, PrivacyError> {
        require_retention(scope)?;
        run::Entity::find_by_id(id)
            .one(scope.db())
            .await?
            .map(from_row)
            .ok_or(PrivacyError::Tenant(TenantError::NotFound("retention run")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hub_kernel::classification::{FieldClassification, Purpose, RetentionClass};
    use hub_tenant::personal_data::{DataSubject, SourceError, Summary};

    /// A source holding one field of `category`.
    struct Holding(&'static str, DataCategory);

    #[async_trait::async_trait]
    impl PersonalDataSource for Holding {
        fn name(&self) -> &'static str {
            self.0
        }
        fn fields(&self) -> Vec<FieldClassification> {
            vec![FieldClassification {
                table: "t",
                column: "c",
                category: self.1,
                purpose: Purpose::ServiceDelivery,
                retention: RetentionClass::CategoryPeriod,
                identifying: false,
                blind_index: false,
                optional: true,
            }]
        }
        fn tables(&self) -> &'static [&'static str] {
            &["t"]
        }
        async fn summary(&self, _: &TenantScope, _: &DataSubject) -> Result<Summary, SourceError> {
            Ok(Summary { records: 0 })
        }
        async fn export(
            &self,
            _: &TenantScope,
            _: &DataSubject,
        ) -> Result<Vec<serde_json::Value>, SourceError> {
            Ok(Vec::new())
        }
        async fn erase(&self, _: &TenantScope, _: &DataSubject) -> Result<Outcome, SourceError> {
            Ok(Outcome::Deleted { records: 0 })
        }
        async fn expire(
            &self,
            _: &TenantScope,
            _: DataCategory,
            _: DateTime<Utc>,
            _: &[Uuid],
        ) -> Result<Outcome, SourceError> {
            Ok(Outcome::Deleted { records: 0 })
        }
        async fn restrict(
            &self,
            _: &TenantScope,
            _: &DataSubject,
            _: bool,
        ) -> Result<Outcome, SourceError> {
            Ok(Outcome::Deleted { records: 0 })
        }
    }

    #[test]
    fn promise_s4_a_run_plans_each_category_for_the_sources_holding_it() {
        let profile = hub_tenant::profile::PrivacyProfile::default();
        let sources: Vec<Arc<dyn PersonalDataSource>> = vec![
            Arc::new(Holding("mail", DataCategory::Contact)),
            Arc::new(Holding("trail", DataCategory::Technical)),
            Arc::new(Holding("grades", DataCategory::Learning)),
        ];
        let as_of = DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::days(20_000);
        let steps = plan(&profile, &sources, as_of);
        let named: Vec<(&str, &str)> = steps
            .iter()
            .map(|s| (s.source.as_str(), s.category.as_str()))
            .collect();
        // In the order of the categories, each with only the sources that hold it.
        assert_eq!(
            named,
            [
                ("mail", "contact"),
                ("grades", "learning"),
                ("trail", "technical")
            ]
        );
        for step in &steps {
            let rule = &profile.retention[&step.category];
            assert_eq!(step.period_days, rule.period_days);
            assert_eq!(
                as_of - step.cutoff,
                chrono::Duration::days(i64::from(rule.period_days))
            );
            assert!(!step.done && step.outcome.is_none());
        }
        assert_eq!(steps[1].action, "anonymise");
        assert_eq!(steps[2].action, "delete");
    }
}
