//! Reconciliation runs (D7): every comparison of an institution's ledger with its Stripe
//! account ([`crate::reconcile`]) is one row of `billing_reconciliation_runs` with its
//! window, counts, outcome and the differences it found (`billing_reconciliation_
//! discrepancies`), whether finance asked for it (`on_demand`, recorded in the request's
//! unit of work) or the periodic job made it (`scheduled`). Finance lists the runs and reads
//! one run's differences a page at a time. A run that found differences, and every run
//! finance asked for, writes a `billing.reconciled` audit entry. Ids, counts, kinds and
//! amounts only: no personal data.
//!
//! The scheduled job ([`JOB`], one of [`hub_tenant::deadlines::PERIODIC_JOBS`],
//! [`Billing::reconcile_due_tenants`]) runs in every replica, the course reminders' and
//! privacy alerts' mechanism:
//! - **once per period, once across replicas**: per institution with a connected account,
//!   one run per period is claimed by one conditional UPDATE of
//!   `billing_reconciliation_schedule` (`next_due_at <= now` → `now + every`), the same on
//!   PostgreSQL and SQLite: two replicas cannot both win it. The claim and the run's
//!   `running` row are committed before Stripe is asked, so Stripe's latency holds no lock;
//! - **overlapping windows**: a run compares from the start of the last scheduled run that
//!   succeeded minus [`OVERLAP_MINUTES`] (a charge Stripe recorded late, clocks apart), or,
//!   for the first, one period plus the overlap back;
//! - **failures** (Stripe down, storage): the run is recorded `failed` with the error, and
//!   the next period's run starts again from the last run that succeeded, so the failed
//!   window is covered then. A run whose process died stays `running` until the next
//!   claim, which marks it `failed` (`interrupted`).

use crate::error::BillingError;
use crate::reconcile::{Compared, compare};
use crate::{BILLING_READ, Billing};
use chrono::{DateTime, Duration, Utc};
use hub_kernel::page::{Page, PageRequest};
use hub_tenant::TenantScope;
use hub_tenant::audit::{self, AuditEvent};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

/// The platform job's name (the purpose of its units of work).
pub const JOB: &str = "billing.reconciliation";
/// How far a scheduled run's window reaches before the previous one's start.
pub const OVERLAP_MINUTES: i64 = 60;
const SCHEDULE_ROW: i32 = 1;

/// The tables as sea-orm sees them (tests seed a run where no Stripe runs).
pub mod entity {
    pub mod run {
        use sea_orm::entity::prelude::*;

        /// One reconciliation: its window (`since` up to `started_at`), counts and outcome.
        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "billing_reconciliation_runs")]
        pub struct Model {
            #[sea_orm(primary_key, auto_increment = false)]
            pub id: Uuid,
            pub origin: String,
            pub status: String,
            pub since: DateTimeUtc,
            pub started_at: DateTimeUtc,
            pub finished_at: Option<DateTimeUtc>,
            pub payments_checked: i64,
            pub refunds_checked: i64,
            pub transactions_checked: i64,
            pub discrepancies: i64,
            pub error: Option<String>,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }

    pub mod discrepancy {
        use sea_orm::entity::prelude::*;

        /// One difference a run found.
        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "billing_reconciliation_discrepancies")]
        pub struct Model {
            #[sea_orm(primary_key, auto_increment = false)]
            pub id: Uuid,
            pub run_id: Uuid,
            pub kind: String,
            pub stripe_object: String,
            pub payment_id: Option<Uuid>,
            pub refund_id: Option<Uuid>,
            pub ledger_amount: Option<i64>,
            pub stripe_amount: Option<i64>,
            pub currency: String,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }

    pub mod schedule {
        use sea_orm::entity::prelude::*;

        /// The institution's reconciliation: due when `next_due_at` has passed.
        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "billing_reconciliation_schedule")]
        pub struct Model {
            #[sea_orm(primary_key, auto_increment = false)]
            pub id: i32,
            pub next_due_at: DateTimeUtc,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }
}

use entity::{discrepancy, run, schedule};

/// Who made a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The periodic job.
    Scheduled,
    /// Finance (`POST /v1/billing/reconciliations`) or an operator (`hub billing reconcile`).
    OnDemand,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::OnDemand => "on_demand",
        }
    }
}

/// A run's outcome.
pub const RUN_STATUSES: &[&str] = &["running", "succeeded", "failed"];

/// One recorded run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconciliationRun {
    pub id: Uuid,
    /// `scheduled` or `on_demand`.
    pub origin: String,
    /// `running`, `succeeded` or `failed`.
    pub status: String,
    /// The window: Stripe's transactions and the ledger's records created at or after this,
    /// up to `started_at`.
    pub since: DateTime<Utc>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub payments_checked: i64,
    pub refunds_checked: i64,
    pub transactions_checked: i64,
    pub discrepancies: i64,
    /// Why a failed run failed (Stripe's or storage's error).
    pub error: Option<String>,
}

fn run_from_row(row: run::Model) -> ReconciliationRun {
    ReconciliationRun {
        id: row.id,
        origin: row.origin,
        status: row.status,
        since: row.since,
        started_at: row.started_at,
        finished_at: row.finished_at,
        payments_checked: row.payments_checked,
        refunds_checked: row.refunds_checked,
        transactions_checked: row.transactions_checked,
        discrepancies: row.discrepancies,
        error: row.error,
    }
}

/// One difference a run recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedDiscrepancy {
    pub id: Uuid,
    pub run_id: Uuid,
    pub kind: String,
    pub stripe_object: String,
    pub payment_id: Option<Uuid>,
    pub refund_id: Option<Uuid>,
    pub ledger_amount: Option<i64>,
    pub stripe_amount: Option<i64>,
    pub currency: String,
}

/// What one pass of the scheduled job did.
#[derive(Debug, Clone, Default)]
pub struct ScheduledReport {
    /// The runs this process claimed and made (failed ones included).
    pub runs: Vec<(Uuid, ReconciliationRun)>,
    /// Institutions whose pass could not even be recorded, with why (tried again next look).
    pub failed: Vec<(Uuid, String)>,
}

/// Records a run as started (`running`).
pub(crate) async fn start(
    scope: &TenantScope,
    origin: Origin,
    since: DateTime<Utc>,
    started_at: DateTime<Utc>,
) -> Result<Uuid, BillingError> {
    let id = Uuid::now_v7();
    run::Entity::insert(run::ActiveModel {
        id: Set(id),
        origin: Set(origin.as_str().into()),
        status: Set("running".into()),
        since: Set(since),
        started_at: Set(started_at),
        finished_at: Set(None),
        payments_checked: Set(0),
        refunds_checked: Set(0),
        transactions_checked: Set(0),
        discrepancies: Set(0),
        error: Set(None),
    })
    .exec_without_returning(scope.db())
    .await?;
    Ok(id)
}

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Records a run's outcome: its counts and differences, or its error. A run with
/// differences, and every run finance asked for, is audited.
pub(crate) async fn finish(
    scope: &TenantScope,
    id: Uuid,
    origin: Origin,
    since: DateTime<Utc>,
    outcome: Result<&Compared, &str>,
    finished_at: DateTime<Utc>,
) -> Result<(), BillingError> {
    let found = match outcome {
        Err(error) => {
            run::Entity::update_many()
                .col_expr(run::Column::Status, Expr::value("failed"))
                .col_expr(run::Column::Error, Expr::value(Some(error.to_string())))
                .col_expr(run::Column::FinishedAt, Expr::value(Some(finished_at)))
                .filter(run::Column::Id.eq(id))
                .exec(scope.db())
                .await?;
            return Ok(());
        }
        Ok(found) => found,
    };
    if !found.discrepancies.is_empty() {
        discrepancy::Entity::insert_many(found.discrepancies.iter().map(|d| {
            discrepancy::ActiveModel {
                id: Set(Uuid::now_v7()),
                run_id: Set(id),
                kind: Set(d.kind.into()),
                stripe_object: Set(d.stripe_object.clone()),
                payment_id: Set(d.payment_id),
                refund_id: Set(d.refund_id),
                ledger_amount: Set(d.ledger_amount),
                stripe_amount: Set(d.stripe_amount),
                currency: Set(d.currency.clone()),
            }
        }))
        .exec_without_returning(scope.db())
        .await?;
    }
    run::Entity::update_many()
        .col_expr(run::Column::Status, Expr::value("succeeded"))
        .col_expr(
            run::Column::PaymentsChecked,
            Expr::value(count(found.payments_checked)),
        )
        .col_expr(
            run::Column::RefundsChecked,
            Expr::value(count(found.refunds_checked)),
        )
        .col_expr(
            run::Column::TransactionsChecked,
            Expr::value(count(found.transactions_checked)),
        )
        .col_expr(
            run::Column::Discrepancies,
            Expr::value(count(found.discrepancies.len() as u64)),
        )
        .col_expr(run::Column::FinishedAt, Expr::value(Some(finished_at)))
        .filter(run::Column::Id.eq(id))
        .exec(scope.db())
        .await?;
    if origin == Origin::OnDemand || !found.discrepancies.is_empty() {
        let mut kinds = std::collections::BTreeMap::<&str, usize>::new();
        for d in &found.discrepancies {
            *kinds.entry(d.kind).or_default() += 1;
        }
        audit::record(
            scope,
            AuditEvent::new("billing.reconciled")
                .subject(format!("billing_reconciliation:{id}"))
                .detail(serde_json::json!({
                    "run_id": id,
                    "origin": origin.as_str(),
                    "since": since,
                    "transactions": found.transactions_checked,
                    "discrepancies": found.discrepancies.len(),
                    "kinds": kinds,
                })),
        )
        .await?;
    }
    Ok(())
}

/// Claims this period's run: one conditional UPDATE, won by one replica only.
async fn claimed(
    scope: &TenantScope,
    now: DateTime<Utc>,
    every: Duration,
) -> Result<bool, BillingError> {
    schedule::Entity::insert(schedule::ActiveModel {
        id: Set(SCHEDULE_ROW),
        next_due_at: Set(DateTime::<Utc>::UNIX_EPOCH),
    })
    .on_conflict(
        OnConflict::column(schedule::Column::Id)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(scope.db())
    .await?;
    let won = schedule::Entity::update_many()
        .col_expr(schedule::Column::NextDueAt, Expr::value(now + every))
        .filter(schedule::Column::Id.eq(SCHEDULE_ROW))
        .filter(schedule::Column::NextDueAt.lte(now))
        .exec(scope.db())
        .await?;
    Ok(won.rows_affected == 1)
}

/// Where a scheduled run's window starts (module doc: overlapping windows).
async fn window_start(
    scope: &TenantScope,
    now: DateTime<Utc>,
    every: Duration,
) -> Result<DateTime<Utc>, BillingError> {
    let last: Option<DateTime<Utc>> = run::Entity::find()
        .select_only()
        .column_as(run::Column::StartedAt.max(), "last")
        .filter(run::Column::Origin.eq(Origin::Scheduled.as_str()))
        .filter(run::Column::Status.eq("succeeded"))
        .into_tuple::<Option<DateTime<Utc>>>()
        .one(scope.db())
        .await?
        .flatten();
    let overlap = Duration::minutes(OVERLAP_MINUTES);
    Ok(last.unwrap_or(now - every) - overlap)
}

impl Billing {
    /// One pass of the scheduled reconciliation across institutions, as of `now`, for
    /// periods of `every` (every replica calls it periodically with the wall clock; each
    /// institution's period runs in one of them). An institution's failure is recorded in
    /// its run and reported, not fatal. Nothing to do when billing is switched off.
    pub async fn reconcile_due_tenants(
        &self,
        now: DateTime<Utc>,
        every: Duration,
    ) -> Result<ScheduledReport, BillingError> {
        let mut report = ScheduledReport::default();
        if self.stripe.is_none() {
            return Ok(report);
        }
        for tenant in self.tenancy.active_tenant_ids().await? {
            match self.reconcile_if_due(tenant, now, every).await {
                Ok(Some(run)) => report.runs.push((tenant, run)),
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(%tenant, %error, "scheduled reconciliation failed; retrying next look");
                    report.failed.push((tenant, error.to_string()));
                }
            }
        }
        Ok(report)
    }

    async fn reconcile_if_due(
        &self,
        tenant: Uuid,
        now: DateTime<Utc>,
        every: Duration,
    ) -> Result<Option<ReconciliationRun>, BillingError> {
        let stripe = self.stripe()?;
        let Some(scope) = self.tenancy.periodic_job_scope(tenant, JOB).await? else {
            return Ok(None);
        };
        let Some(account) = self.account_of(&scope).await? else {
            // No connected account: nothing to reconcile, and nothing claimed.
            scope.commit().await?;
            return Ok(None);
        };
        if !claimed(&scope, now, every).await? {
            // Another replica's (or not due): end the unit of work now (SQLite's write lock).
            scope.commit().await?;
            return Ok(None);
        }
        run::Entity::update_many()
            .col_expr(run::Column::Status, Expr::value("failed"))
            .col_expr(
                run::Column::Error,
                Expr::value(Some(
                    "interrupted: the process running it stopped".to_string(),
                )),
            )
            .col_expr(run::Column::FinishedAt, Expr::value(Some(now)))
            .filter(run::Column::Status.eq("running"))
            .filter(run::Column::StartedAt.lte(now - every))
            .exec(scope.db())
            .await?;
        let since = window_start(&scope, now, every).await?;
        let id = start(&scope, Origin::Scheduled, since, now).await?;
        scope.commit().await?;

        let clock = std::time::Instant::now();
        let elapsed = |clock: std::time::Instant| {
            now + Duration::from_std(clock.elapsed()).unwrap_or_default()
        };
        let Some(scope) = self.tenancy.periodic_job_scope(tenant, JOB).await? else {
            return Ok(None);
        };
        let outcome = compare(&scope, stripe, &account.stripe_account, since, &|_| {}).await;
        let scope = match outcome {
            Ok(found) => {
                finish(
                    &scope,
                    id,
                    Origin::Scheduled,
                    since,
                    Ok(&found),
                    elapsed(clock),
                )
                .await?;
                scope
            }
            Err(error) => {
                tracing::warn!(%tenant, run = %id, %error, "scheduled reconciliation failed; its window is covered by the next period's run");
                // The comparison's unit of work may be the one that failed: a fresh one.
                drop(scope);
                let Some(scope) = self.tenancy.periodic_job_scope(tenant, JOB).await? else {
                    return Ok(None);
                };
                let message = error.to_string();
                finish(
                    &scope,
                    id,
                    Origin::Scheduled,
                    since,
                    Err(&message),
                    elapsed(clock),
                )
                .await?;
                scope
            }
        };
        let recorded = run::Entity::find_by_id(id).one(scope.db()).await?;
        scope.commit().await?;
        Ok(recorded.map(run_from_row))
    }

    /// The institution's reconciliation runs, newest first.
    pub async fn reconciliation_runs(
        &self,
        scope: &TenantScope,
        page: &PageRequest,
    ) -> Result<Page<ReconciliationRun>, BillingError> {
        scope.require(BILLING_READ)?;
        let mut query = run::Entity::find()
            .order_by_desc(run::Column::Id)
            .limit(page.fetch_limit());
        if let Some(before) = page.after {
            query = query.filter(run::Column::Id.lt(before));
        }
        let rows = query.all(scope.db()).await?;
        Ok(Page::from_rows(rows, page, |r| r.id).map(run_from_row))
    }

    /// One run.
    pub async fn reconciliation_run(
        &self,
        scope: &TenantScope,
        id: Uuid,
    ) -> Result<ReconciliationRun, BillingError> {
        scope.require(BILLING_READ)?;
        run::Entity::find_by_id(id)
            .one(scope.db())
            .await?
            .map(run_from_row)
            .ok_or(BillingError::ReconciliationNotFound)
    }

    /// The differences one run found, in the order it found them (by kind, then object).
    pub async fn reconciliation_discrepancies(
        &self,
        scope: &TenantScope,
        run_id: Uuid,
        page: &PageRequest,
    ) -> Result<Page<RecordedDiscrepancy>, BillingError> {
        scope.require(BILLING_READ)?;
        self.reconciliation_run(scope, run_id).await?;
        let mut query = discrepancy::Entity::find()
            .filter(discrepancy::Column::RunId.eq(run_id))
            .order_by_asc(discrepancy::Column::Id)
            .limit(page.fetch_limit());
        if let Some(after) = page.after {
            query = query.filter(discrepancy::Column::Id.gt(after));
        }
        let rows = query.all(scope.db()).await?;
        Ok(
            Page::from_rows(rows, page, |r| r.id).map(|row| RecordedDiscrepancy {
                id: row.id,
                run_id: row.run_id,
                kind: row.kind,
                stripe_object: row.stripe_object,
                payment_id: row.payment_id,
                refund_id: row.refund_id,
                ledger_amount: row.ledger_amount,
                stripe_amount: row.stripe_amount,
                currency: row.currency,
            }),
        )
    }
}
