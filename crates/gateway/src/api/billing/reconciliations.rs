//! Finance's reconciliations with Stripe (`billing:read`): one asked for now, and the record
//! of every run, scheduled or asked for, newest first, one run, and one run's differences
//! in cursor pages. The rules (what a run
//! is, when one is scheduled) are hub_billing::reconciliation_runs'.

use crate::api::{ApiTags, page_request};
use crate::auth::TenantCredential;
use crate::problem::ApiError;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use hub_billing::reconciliation_runs::{ReconciliationRun, RecordedDiscrepancy};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Object, OpenApi};
use std::sync::Arc;
use uuid::Uuid;

/// One reconciliation of the ledger with Stripe, as recorded.
#[derive(Debug, Clone, Object)]
pub struct ReconciliationRunView {
    pub id: Uuid,
    /// `scheduled` (the periodic job) or `on_demand` (finance's request, or `hub billing
    /// reconcile`).
    pub origin: String,
    /// `running`, `succeeded` or `failed` (then `error` says why; a scheduled run's window
    /// is covered again by the next period's run).
    pub status: String,
    /// The window: Stripe's balance transactions and the ledger's records created at or
    /// after this, up to `started_at`.
    pub since: DateTime<Utc>,
    pub started_at: DateTime<Utc>,
    #[oai(nullable)]
    pub finished_at: Option<DateTime<Utc>>,
    pub payments_checked: i64,
    pub refunds_checked: i64,
    pub transactions_checked: i64,
    /// How many differences it found (listed by `listReconciliationDiscrepancies`).
    pub discrepancies: i64,
    /// Why it failed (Stripe unavailable, say).
    #[oai(nullable)]
    pub error: Option<String>,
}

impl From<ReconciliationRun> for ReconciliationRunView {
    fn from(r: ReconciliationRun) -> Self {
        Self {
            id: r.id,
            origin: r.origin,
            status: r.status,
            since: r.since,
            started_at: r.started_at,
            finished_at: r.finished_at,
            payments_checked: r.payments_checked,
            refunds_checked: r.refunds_checked,
            transactions_checked: r.transactions_checked,
            discrepancies: r.discrepancies,
            error: r.error,
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct ReconciliationRunPage {
    pub items: Vec<ReconciliationRunView>,
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

/// One difference a run found.
#[derive(Debug, Clone, Object)]
pub struct RecordedDiscrepancyView {
    pub id: Uuid,
    pub run_id: Uuid,
    /// `missing_at_stripe`, `unknown_at_stripe`, `amount_mismatch` or `status_mismatch`
    /// (as in `reconcileWithStripe`).
    pub kind: String,
    /// The charge or refund (`ch_…`, `re_…`) it is about.
    pub stripe_object: String,
    #[oai(nullable)]
    pub payment_id: Option<Uuid>,
    #[oai(nullable)]
    pub refund_id: Option<Uuid>,
    /// Minor units; refunds negative, as Stripe counts them.
    #[oai(nullable)]
    pub ledger_amount: Option<i64>,
    #[oai(nullable)]
    pub stripe_amount: Option<i64>,
    pub currency: String,
}

impl From<RecordedDiscrepancy> for RecordedDiscrepancyView {
    fn from(d: RecordedDiscrepancy) -> Self {
        Self {
            id: d.id,
            run_id: d.run_id,
            kind: d.kind,
            stripe_object: d.stripe_object,
            payment_id: d.payment_id,
            refund_id: d.refund_id,
            ledger_amount: d.ledger_amount,
            stripe_amount: d.stripe_amount,
            currency: d.currency,
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct RecordedDiscrepancyPage {
    pub items: Vec<RecordedDiscrepancyView>,
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

#[derive(ApiResponse)]
pub enum RunsListed {
    #[oai(status = 200)]
    Ok(Json<ReconciliationRunPage>),
}

#[derive(ApiResponse)]
pub enum RunFound {
    #[oai(status = 200)]
    Ok(Json<ReconciliationRunView>),
}

#[derive(ApiResponse)]
pub enum DiscrepanciesListed {
    #[oai(status = 200)]
    Ok(Json<RecordedDiscrepancyPage>),
}

/// The period to reconcile.
#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct ReconciliationCreate {
    /// Stripe's balance transactions and the ledger's records created at or after this.
    pub since: DateTime<Utc>,
}

impl Example for ReconciliationCreate {
    fn example() -> Self {
        Self {
            since: DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z")
                .map(|d| d.with_timezone(&Utc))
                .unwrap_or_default(),
        }
    }
}

/// One difference between the ledger and Stripe.
#[derive(Debug, Clone, Object)]
pub struct DiscrepancyView {
    /// `missing_at_stripe` (the ledger holds money taken or refunded that Stripe has no
    /// balance transaction for), `unknown_at_stripe` (Stripe moved money for a charge or
    /// refund the ledger does not know), `amount_mismatch`, or `status_mismatch` (Stripe
    /// took money for a payment the ledger does not hold as taken).
    pub kind: String,
    /// The charge or refund (`ch_…`, `re_…`) it is about.
    pub stripe_object: String,
    #[oai(nullable)]
    pub payment_id: Option<Uuid>,
    #[oai(nullable)]
    pub refund_id: Option<Uuid>,
    /// Minor units; refunds negative, as Stripe counts them.
    #[oai(nullable)]
    pub ledger_amount: Option<i64>,
    #[oai(nullable)]
    pub stripe_amount: Option<i64>,
    pub currency: String,
}

#[derive(Debug, Clone, Object)]
pub struct ReconciliationView {
    /// The run it is recorded as (`getReconciliationRun`, `listReconciliationRuns`).
    pub id: Uuid,
    pub since: DateTime<Utc>,
    pub payments_checked: u64,
    pub refunds_checked: u64,
    pub transactions_checked: u64,
    /// Empty: the ledger and Stripe agree for the period.
    pub discrepancies: Vec<DiscrepancyView>,
}

impl From<hub_billing::reconcile::Reconciliation> for ReconciliationView {
    fn from(r: hub_billing::reconcile::Reconciliation) -> Self {
        Self {
            id: r.id,
            since: r.since,
            payments_checked: r.payments_checked,
            refunds_checked: r.refunds_checked,
            transactions_checked: r.transactions_checked,
            discrepancies: r
                .discrepancies
                .into_iter()
                .map(|d| DiscrepancyView {
                    kind: d.kind.to_string(),
                    stripe_object: d.stripe_object,
                    payment_id: d.payment_id,
                    refund_id: d.refund_id,
                    ledger_amount: d.ledger_amount,
                    stripe_amount: d.stripe_amount,
                    currency: d.currency,
                })
                .collect(),
        }
    }
}

#[derive(ApiResponse)]
pub enum Reconciled {
    #[oai(status = 200)]
    Ok(Json<ReconciliationView>),
}

#[derive(Default)]
pub struct ReconciliationsApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Billing")]
impl ReconciliationsApi {
    /// Reconcile with Stripe
    ///
    /// Requires scope `billing:read`. Compares the ledger's payments and refunds with the
    /// balance transactions of the institution's Stripe account since `since` and lists
    /// every difference; changes nothing but the record of the run (`listReconciliationRuns`,
    /// the same record the scheduled runs make). 409 `no_connected_account`, 503
    /// `stripe_unavailable` (then nothing is recorded: ask again). The same runs from the
    /// command line: `hub billing reconcile`.
    #[oai(
        path = "/billing/reconciliations",
        method = "post",
        operation_id = "reconcileWithStripe"
    )]
    async fn reconcile(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        body: Json<ReconciliationCreate>,
    ) -> Result<Reconciled, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let done = state
            .billing
            .reconcile(&scope, body.0.since, &|_| {})
            .await?;
        scope.commit().await?;
        Ok(Reconciled::Ok(Json(done.into())))
    }

    /// Reconciliation runs
    ///
    /// Requires scope `billing:read`. Every reconciliation with Stripe, scheduled (once per
    /// period, setting `billing_reconcile_every_secs`) or asked for, newest first, with its
    /// window, counts and outcome.
    #[oai(
        path = "/billing/reconciliations",
        method = "get",
        operation_id = "listReconciliationRuns"
    )]
    async fn runs(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        /// Cursor from the previous page's `next_cursor`.
        cursor: Query<Option<String>>,
        /// Page size, 1–200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u64>>,
    ) -> Result<RunsListed, ApiError> {
        let page = page_request(cursor.0.as_deref(), limit.0)?;
        let page = &page;
        let billing = &state.billing;
        let runs = state
            .tenancy
            .read(&auth.0, move |scope| async move {
                billing.reconciliation_runs(&scope, page).await
            })
            .await?;
        Ok(RunsListed::Ok(Json(ReconciliationRunPage {
            items: runs.items.into_iter().map(Into::into).collect(),
            next_cursor: runs.next_cursor,
        })))
    }

    /// One reconciliation run
    ///
    /// Requires scope `billing:read`. 404 `reconciliation_not_found`.
    #[oai(
        path = "/billing/reconciliations/:reconciliation_id",
        method = "get",
        operation_id = "getReconciliationRun"
    )]
    async fn run(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        reconciliation_id: Path<Uuid>,
    ) -> Result<RunFound, ApiError> {
        let billing = &state.billing;
        let id = reconciliation_id.0;
        let run = state
            .tenancy
            .read(&auth.0, move |scope| async move {
                billing.reconciliation_run(&scope, id).await
            })
            .await?;
        Ok(RunFound::Ok(Json(run.into())))
    }

    /// A reconciliation run's differences
    ///
    /// Requires scope `billing:read`. The differences the run found, by kind then Stripe
    /// object, in cursor pages. 404 `reconciliation_not_found`.
    #[oai(
        path = "/billing/reconciliations/:reconciliation_id/discrepancies",
        method = "get",
        operation_id = "listReconciliationDiscrepancies"
    )]
    async fn discrepancies(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        reconciliation_id: Path<Uuid>,
        /// Cursor from the previous page's `next_cursor`.
        cursor: Query<Option<String>>,
        /// Page size, 1–200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u64>>,
    ) -> Result<DiscrepanciesListed, ApiError> {
        let page = page_request(cursor.0.as_deref(), limit.0)?;
        let page = &page;
        let billing = &state.billing;
        let id = reconciliation_id.0;
        let found = state
            .tenancy
            .read(&auth.0, move |scope| async move {
                billing.reconciliation_discrepancies(&scope, id, page).await
            })
            .await?;
        Ok(DiscrepanciesListed::Ok(Json(RecordedDiscrepancyPage {
            items: found.items.into_iter().map(Into::into).collect(),
            next_cursor: found.next_cursor,
        })))
    }
}
