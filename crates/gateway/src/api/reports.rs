//! `/v1/reports/runs`: the de-identified reports of the institution's profile (C7, U2, U5,
//! D3): producing one for a period that is over, listing runs, reading a run and its
//! content (CSV or JSON, as the profile's report says).

use crate::api::ApiTags;
use crate::api::privacy_profile::{ReportCadenceView, ReportFormatView, ReportKindView};
use crate::auth::TenantCredential;
use crate::problem::ApiError;
use crate::state::AppState;
use chrono::{DateTime, NaiveDate, Utc};
use hub_kernel::page::PageRequest;
use hub_tenant::reports::runs::{self, ReportContent, ReportRun, Trigger};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Json, PlainText};
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, ResponseContent};
use std::sync::Arc;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum ReportTriggerView {
    Request,
    Schedule,
}

/// A report to produce for one period.
#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct ReportRunRequest {
    /// The name of one of the profile's reports.
    #[oai(validator(min_length = 1, max_length = 100))]
    pub report: String,
    /// The first day of the period (UTC), as the report's cadence starts one: any day
    /// (daily), a Monday (weekly), the first of a month (monthly), of January, April, July
    /// or October (quarterly), of January (yearly). The period must be over.
    pub period_start: NaiveDate,
}

impl Example for ReportRunRequest {
    fn example() -> Self {
        Self {
            report: "Retention actions".into(),
            period_start: NaiveDate::from_ymd_opt(2026, 11, 1).unwrap_or_default(),
        }
    }
}

/// One report produced for one period.
#[derive(Debug, Clone, Object)]
pub struct ReportRunView {
    pub id: Uuid,
    pub report: String,
    pub kind: ReportKindView,
    pub cadence: ReportCadenceView,
    pub format: ReportFormatView,
    /// The fields the report names (empty: every table of its population).
    pub fields: Vec<String>,
    pub period_start: DateTime<Utc>,
    /// Exclusive.
    pub period_end: DateTime<Utc>,
    pub trigger: ReportTriggerView,
    pub created_at: DateTime<Utc>,
}

impl From<ReportRun> for ReportRunView {
    fn from(r: ReportRun) -> Self {
        Self {
            id: r.id,
            report: r.report_name,
            kind: r.kind.into(),
            cadence: r.cadence.into(),
            format: r.format.into(),
            fields: r.fields,
            period_start: r.period_start,
            period_end: r.period_end,
            trigger: if r.trigger == "schedule" {
                ReportTriggerView::Schedule
            } else {
                ReportTriggerView::Request
            },
            created_at: r.created_at,
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct ReportRunPage {
    /// Newest first.
    pub items: Vec<ReportRunView>,
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

/// One table of a report: its population broken down by `breakdown` (rows) against the
/// values of `class_field` (columns). `null` is a suppressed value.
#[derive(Debug, Clone, Object)]
pub struct ReportTableView {
    pub breakdown: String,
    pub class_field: String,
    pub rows: Vec<String>,
    pub columns: Vec<String>,
    pub cells: Vec<Vec<Option<u64>>>,
    pub row_totals: Vec<Option<u64>>,
    pub column_totals: Vec<Option<u64>>,
    #[oai(nullable)]
    pub total: Option<u64>,
}

/// A run's content as JSON.
#[derive(Debug, Clone, Object)]
pub struct ReportContentView {
    pub report: String,
    pub kind: ReportKindView,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    /// Counts from 1 to this minus 1 are suppressed, with as many others as keep them so.
    pub min_cell_size: u32,
    /// How many values are suppressed.
    pub suppressed: u64,
    pub tables: Vec<ReportTableView>,
}

impl From<ReportContent> for ReportContentView {
    fn from(c: ReportContent) -> Self {
        Self {
            suppressed: c.suppressed() as u64,
            report: c.run.report_name,
            kind: c.run.kind.into(),
            period_start: c.run.period_start,
            period_end: c.run.period_end,
            min_cell_size: c.min_cell_size,
            tables: c
                .tables
                .into_iter()
                .map(|t| ReportTableView {
                    breakdown: t.breakdown,
                    class_field: t.class_field,
                    rows: t.rows,
                    columns: t.columns,
                    cells: t.cells,
                    row_totals: t.row_totals,
                    column_totals: t.column_totals,
                    total: t.total,
                })
                .collect(),
        }
    }
}

#[derive(ApiResponse)]
pub enum RunProduced {
    /// Produced now.
    #[oai(status = 201)]
    Created(Json<ReportRunView>, #[oai(header = "Location")] String),
    /// Already produced for this period: a period is reported once.
    #[oai(status = 200)]
    Existing(Json<ReportRunView>, #[oai(header = "Location")] String),
}

#[derive(ApiResponse)]
pub enum RunFound {
    #[oai(status = 200)]
    Ok(Json<ReportRunView>),
}

#[derive(ApiResponse)]
pub enum RunsListed {
    #[oai(status = 200)]
    Ok(Json<ReportRunPage>),
}

#[derive(ResponseContent)]
pub enum ContentBody {
    Json(Json<ReportContentView>),
    /// One block per table: a header line (the breakdown, each column, `total`), a line
    /// per row, a `total` line; a blank line between tables; `suppressed` for a hidden
    /// value.
    #[oai(content_type = "text/csv")]
    Csv(PlainText<String>),
}

#[derive(ApiResponse)]
pub enum ContentFound {
    /// In the report's format.
    #[oai(status = 200)]
    Ok(ContentBody),
}

fn location(id: Uuid) -> String {
    format!("/v1/reports/runs/{id}")
}

#[derive(Default)]
pub struct ReportsApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Reports")]
impl ReportsApi {
    /// Produce a report for a period
    ///
    /// Requires scope `reports:run`. Produces the profile's report `report` for the period
    /// of its cadence starting on `period_start`, which must be over. Its content holds
    /// counts only, with every count below the profile's `min_cell_size` suppressed and as
    /// many others as keep those from being worked out. A period is reported once: asked
    /// again, the same run answers (200), and every report of the same records over the
    /// period shows the same counts. A period overlapping one already reported for the same
    /// records (a quarter after its months) is refused (409), as is a kind whose producer is
    /// not installed. Audited.
    #[oai(path = "/reports/runs", method = "post", operation_id = "runReport")]
    async fn run_report(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        body: Json<ReportRunRequest>,
    ) -> Result<RunProduced, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let (run, created) = runs::run(
            &scope,
            &body.0.report,
            body.0.period_start,
            Trigger::Request,
            Utc::now(),
        )
        .await?;
        scope
            .commit()
            .await
            .map_err(hub_tenant::TenantError::from)?;
        let at = location(run.id);
        Ok(if created {
            RunProduced::Created(Json(run.into()), at)
        } else {
            RunProduced::Existing(Json(run.into()), at)
        })
    }

    /// List report runs
    ///
    /// Requires scope `reports:read`. Newest first, optionally of one report.
    #[oai(
        path = "/reports/runs",
        method = "get",
        operation_id = "listReportRuns"
    )]
    async fn list_runs(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        /// Only the runs of the report of this name.
        #[oai(validator(min_length = 1, max_length = 100))]
        report: Query<Option<String>>,
        /// From a previous page's `next_cursor`.
        cursor: Query<Option<String>>,
        /// Page size, 1–200 (default 50).
        limit: Query<Option<u64>>,
    ) -> Result<RunsListed, ApiError> {
        let page = PageRequest::parse(cursor.0.as_deref(), limit.0)
            .map_err(hub_tenant::TenantError::from)?;
        let report = report.0;
        let page = &page;
        let found = state
            .tenancy
            .read(&auth.0, move |scope| {
                let report = report.clone();
                async move { runs::list(&scope, report.as_deref(), page).await }
            })
            .await?;
        Ok(RunsListed::Ok(Json(ReportRunPage {
            next_cursor: found.next_cursor,
            items: found.items.into_iter().map(Into::into).collect(),
        })))
    }

    /// Get a report run
    ///
    /// Requires scope `reports:read`.
    #[oai(
        path = "/reports/runs/:report_run_id",
        method = "get",
        operation_id = "getReportRun"
    )]
    async fn get_run(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        report_run_id: Path<Uuid>,
    ) -> Result<RunFound, ApiError> {
        let id = report_run_id.0;
        let run = state
            .tenancy
            .read(
                &auth.0,
                move |scope| async move { runs::get(&scope, id).await },
            )
            .await?;
        Ok(RunFound::Ok(Json(run.into())))
    }

    /// Get a report run's content
    ///
    /// Requires scope `reports:read`. In the report's format: JSON (`application/json`) or
    /// CSV (`text/csv`). Counts only; `null` (JSON) or `suppressed` (CSV) is a hidden value.
    #[oai(
        path = "/reports/runs/:report_run_id/content",
        method = "get",
        operation_id = "getReportRunContent"
    )]
    async fn get_content(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        report_run_id: Path<Uuid>,
    ) -> Result<ContentFound, ApiError> {
        let id = report_run_id.0;
        let content = state
            .tenancy
            .read(&auth.0, move |scope| async move {
                runs::content(&scope, id).await
            })
            .await?;
        Ok(ContentFound::Ok(match content.run.format {
            hub_tenant::profile::ReportFormat::Csv => ContentBody::Csv(PlainText(content.to_csv())),
            hub_tenant::profile::ReportFormat::Json => ContentBody::Json(Json(content.into())),
        }))
    }
}
