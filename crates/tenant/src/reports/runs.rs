//! Report runs: producing one of the profile's reports for one period, on request
//! ([`run`]) or on its cadence ([`crate::Tenancy::run_scheduled_reports`]), storing it, and
//! reading runs and their content back.
//!
//! What keeps a run de-identified beyond its own tables (C7):
//! - A period is a whole day, week, month, quarter or year that is over
//!   ([`crate::reports::period`]): no window of the caller's choosing, none still growing.
//! - A population is counted once per period ([`report_population`]): every report of it and
//!   every later request for the period show those tables, so nothing a later erasure or
//!   correction changes can be seen by comparing two runs.
//! - Periods of one population never overlap unless they are the same period: a run for a
//!   quarter after its months were reported (or the reverse) is refused, and the profile
//!   gives the reports of one population one cadence. Linked populations (certificates
//!   within completions, [`ReportProducer::within`]) are counted and suppressed together
//!   and held to the same rule as one.
//! - Content holds no identifier: labels of courses, units and classes, and counts.

use crate::TenantScope;
use crate::entities::{report_population, report_run};
use crate::error::TenantError;
use crate::model::Scope;
use crate::profile::{self, ReportCadence, ReportFormat, ReportKind, ScheduledReport};
use crate::reports::disclosure::{Population, PublishedTable, publish_linked};
use crate::reports::period::{Period, alignment};
use crate::reports::producer::{ReportProducer, linked_group, producer_for};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use hub_kernel::page::{Page, PageRequest};
use hub_kernel::problem::FieldViolation;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

/// Read runs and their content.
pub const REPORTS_READ: Scope = Scope::named("reports:read");
/// Produce a run on request.
pub const REPORTS_RUN: Scope = Scope::named("reports:run");

/// Why a run was produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Request,
    Schedule,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Self::Request => "request",
            Self::Schedule => "schedule",
        }
    }
}

/// One report produced for one period.
#[derive(Debug, Clone)]
pub struct ReportRun {
    pub id: Uuid,
    pub report_name: String,
    pub kind: ReportKind,
    pub cadence: ReportCadence,
    pub format: ReportFormat,
    pub fields: Vec<String>,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub trigger: String,
    pub created_at: DateTime<Utc>,
}

/// A run's content: the tables it shows, suppressed, with what they were suppressed with.
#[derive(Debug, Clone)]
pub struct ReportContent {
    pub run: ReportRun,
    pub min_cell_size: u32,
    pub tables: Vec<PublishedTable>,
}

impl ReportContent {
    pub fn suppressed(&self) -> usize {
        self.tables.iter().map(PublishedTable::suppressed).sum()
    }

    /// The content in the report's format: its bytes and media type.
    pub fn render(&self) -> (Vec<u8>, &'static str) {
        match self.run.format {
            ReportFormat::Json => (
                serde_json::to_vec_pretty(&self.to_json()).unwrap_or_default(),
                "application/json",
            ),
            ReportFormat::Csv => (self.to_csv().into_bytes(), "text/csv; charset=utf-8"),
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "report": self.run.report_name,
            "kind": self.run.kind.as_str(),
            "period": { "start": self.run.period_start, "end": self.run.period_end },
            "min_cell_size": self.min_cell_size,
            "suppressed": self.suppressed(),
            "note": "null is a suppressed value: a count from 1 to min_cell_size − 1, or another count hidden so that it cannot be worked out from the rest",
            "tables": self.tables,
        })
    }

    /// One block per table: a header line, one line per row with its total, then the
    /// totals; a blank line between tables. A suppressed value is the word `suppressed`.
    pub fn to_csv(&self) -> String {
        fn cell(v: Option<u64>) -> String {
            v.map_or_else(|| "suppressed".to_string(), |n| n.to_string())
        }
        use hub_kernel::csv::cell as field;
        let mut out = String::new();
        for (i, table) in self.tables.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            let mut header = vec![field(&table.breakdown)];
            header.extend(table.columns.iter().map(|c| field(c)));
            header.push("total".into());
            out.push_str(&header.join(","));
            out.push('\n');
            for (r, label) in table.rows.iter().enumerate() {
                let mut line = vec![field(label)];
                line.extend(table.cells[r].iter().map(|v| cell(*v)));
                line.push(cell(table.row_totals[r]));
                out.push_str(&line.join(","));
                out.push('\n');
            }
            let mut totals = vec!["total".to_string()];
            totals.extend(table.column_totals.iter().map(|v| cell(*v)));
            totals.push(cell(table.total));
            out.push_str(&totals.join(","));
            out.push('\n');
        }
        out
    }
}

/// The tables a report shows of its population's: every one when it names no field; with
/// a dimension, that dimension's table (against the classes when the class field is named
/// too, else its totals alone); with the class field alone, the class totals.
fn view(
    tables: &[PublishedTable],
    producer: &dyn ReportProducer,
    fields: &[String],
) -> Vec<PublishedTable> {
    if fields.is_empty() {
        return tables.to_vec();
    }
    let with_classes = fields.iter().any(|f| f == producer.class_field());
    let dimension = fields
        .iter()
        .find(|f| producer.dimensions().contains(&f.as_str()));
    let Some(table) = (match dimension {
        Some(d) => tables.iter().find(|t| &t.breakdown == d),
        None => tables.first(),
    }) else {
        return Vec::new();
    };
    match (dimension, with_classes) {
        (Some(_), true) => vec![table.clone()],
        // A dimension's totals alone: one column, the records counted.
        (Some(_), false) => vec![PublishedTable {
            breakdown: table.breakdown.clone(),
            class_field: "records".into(),
            rows: table.rows.clone(),
            columns: vec!["records".into()],
            cells: table.row_totals.iter().map(|v| vec![*v]).collect(),
            row_totals: table.row_totals.clone(),
            column_totals: vec![table.total],
            total: table.total,
        }],
        // The class totals alone: one row.
        (None, _) => vec![PublishedTable {
            breakdown: "all".into(),
            class_field: table.class_field.clone(),
            rows: vec!["all".into()],
            columns: table.columns.clone(),
            cells: vec![table.column_totals.clone()],
            row_totals: vec![table.total],
            column_totals: table.column_totals.clone(),
            total: table.total,
        }],
    }
}

fn from_row(row: report_run::Model) -> Result<ReportRun, TenantError> {
    let unreadable =
        |what: &str| TenantError::Conflict(format!("stored report run has an unknown {what}"));
    Ok(ReportRun {
        id: row.id,
        kind: ReportKind::parse(&row.kind).ok_or_else(|| unreadable("kind"))?,
        cadence: ReportCadence::parse(&row.cadence).ok_or_else(|| unreadable("cadence"))?,
        format: ReportFormat::parse(&row.format).ok_or_else(|| unreadable("format"))?,
        fields: serde_json::from_str(&row.fields).unwrap_or_default(),
        report_name: row.report_name,
        period_start: row.period_start,
        period_end: row.period_end,
        trigger: row.trigger,
        created_at: row.created_at,
    })
}

fn invalid(field: &str, message: impl Into<String>) -> TenantError {
    TenantError::Invalid(vec![FieldViolation::new(field, message)])
}

/// Produces the profile's report `name` for the period of its cadence starting on
/// `period_start`, or answers the run already produced for it (`false`: nothing new).
/// Requires `reports:run` (a platform job's scope has every scope).
pub async fn run(
    scope: &TenantScope,
    name: &str,
    period_start: NaiveDate,
    trigger: Trigger,
    now: DateTime<Utc>,
) -> Result<(ReportRun, bool), TenantError> {
    scope.require(REPORTS_RUN)?;
    let profile = profile::current(scope).await?.profile;
    let Some(report) = profile.reports.iter().find(|r| r.name == name.trim()) else {
        return Err(TenantError::NotFound("report"));
    };
    let Some(period) = Period::starting(report.cadence, period_start) else {
        return Err(invalid(
            "period_start",
            format!(
                "`{}` is reported {}: a period starts on {}",
                report.name,
                report.cadence.as_str(),
                alignment(report.cadence)
            ),
        ));
    };
    // Nothing this platform records is older than 1970; an earlier start is a mistake (and
    // outside what every backend can store).
    if period.start.year() < 1970 {
        return Err(invalid("period_start", "must be 1970-01-01 or later"));
    }
    if !period.is_over(now) {
        return Err(invalid(
            "period_start",
            format!(
                "the period ends at {}; a period is reported once it is over",
                period.end.to_rfc3339()
            ),
        ));
    }
    if let Some(done) = find_run(scope, &report.name, period.start).await? {
        return Ok((done, false));
    }
    let Some(producer) = producer_for(report.kind) else {
        return Err(TenantError::Conflict(format!(
            "no producer of {} reports is installed yet",
            report.kind.as_str()
        )));
    };
    let population = producer.population();
    let group = linked_group(population);
    let group_names: Vec<&str> = group.iter().map(|p| p.population()).collect();
    if let Some(other) = report_population::Entity::find()
        .filter(report_population::Column::Population.is_in(group_names.iter().copied()))
        .filter(
            sea_orm::Condition::any()
                .add(report_population::Column::PeriodStart.ne(period.start))
                .add(report_population::Column::PeriodEnd.ne(period.end)),
        )
        .filter(report_population::Column::PeriodStart.lt(period.end))
        .filter(report_population::Column::PeriodEnd.gt(period.start))
        .one(scope.db())
        .await?
    {
        let records = if other.population == population {
            format!("the records of this period ({population}) were")
        } else {
            format!(
                "records linked with these ({} and {population}) were",
                other.population
            )
        };
        return Err(TenantError::Conflict(format!(
            "{records} already reported for {} to {}; periods of one population, or of linked ones, never overlap, so that one cannot be subtracted from another",
            other.period_start.to_rfc3339(),
            other.period_end.to_rfc3339()
        )));
    }
    counted(scope, &group, &period, profile.min_cell_size, now).await?;
    let id = Uuid::now_v7();
    let inserted = report_run::Entity::insert(report_run::ActiveModel {
        id: Set(id),
        report_name: Set(report.name.clone()),
        kind: Set(report.kind.as_str().into()),
        population: Set(population.into()),
        cadence: Set(report.cadence.as_str().into()),
        format: Set(report.format.as_str().into()),
        fields: Set(serde_json::to_string(&report.fields).unwrap_or_else(|_| "[]".into())),
        period_start: Set(period.start),
        period_end: Set(period.end),
        trigger: Set(trigger.as_str().into()),
        created_at: Set(now),
    })
    .on_conflict(
        OnConflict::columns([
            report_run::Column::ReportName,
            report_run::Column::PeriodStart,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(scope.db())
    .await?;
    let done = find_run(scope, &report.name, period.start)
        .await?
        .ok_or(TenantError::NotFound("report run"))?;
    if inserted == 1 {
        crate::audit::record(
            scope,
            crate::audit::AuditEvent::new("report.run")
                .subject(format!("report-run:{id}"))
                .detail(serde_json::json!({
                    "report": report.name,
                    "kind": report.kind.as_str(),
                    "period_start": period.start,
                    "trigger": trigger.as_str(),
                })),
        )
        .await?;
    }
    Ok((done, inserted == 1))
}

/// The population's tables for the period (`group[0]`'s, with the populations linked with
/// it): counted and suppressed by the first run that needs them, read back by every later
/// one (another replica may have stored them first). Linked populations are suppressed
/// together: the tables of one already stored stay as they were, and the others are
/// suppressed so that, with them, no hidden count of either is bounded.
async fn counted(
    scope: &TenantScope,
    group: &[Box<dyn ReportProducer>],
    period: &Period,
    min_cell_size: u32,
    now: DateTime<Utc>,
) -> Result<(), TenantError> {
    let names: Vec<&str> = group.iter().map(|p| p.population()).collect();
    let stored: Vec<report_population::Model> = report_population::Entity::find()
        .filter(report_population::Column::Population.is_in(names.iter().copied()))
        .filter(report_population::Column::PeriodStart.eq(period.start))
        .all(scope.db())
        .await?;
    let already: Vec<Option<Vec<PublishedTable>>> = names
        .iter()
        .map(|name| {
            stored
                .iter()
                .find(|s| s.population == *name)
                .and_then(|s| serde_json::from_str(&s.tables).ok())
        })
        .collect();
    if already.first().is_some_and(Option::is_some) {
        return Ok(());
    }
    let mut counts = Vec::with_capacity(group.len());
    for producer in group {
        counts.push(producer.count(scope, period).await?);
    }
    let links: Vec<(usize, usize)> = group
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            let of = names.iter().position(|n| Some(*n) == p.within())?;
            Some((i, of))
        })
        .collect();
    let populations: Vec<&Population> = counts.iter().collect();
    let published = publish_linked(&populations, &links, &already, min_cell_size);
    for ((name, tables), before) in names.iter().zip(published).zip(&already) {
        if before.is_some() {
            continue;
        }
        report_population::Entity::insert(report_population::ActiveModel {
            population: Set((*name).into()),
            period_start: Set(period.start),
            period_end: Set(period.end),
            min_cell_size: Set(i32::try_from(min_cell_size).unwrap_or(i32::MAX)),
            tables: Set(serde_json::to_string(&tables).unwrap_or_else(|_| "[]".into())),
            computed_at: Set(now),
        })
        .on_conflict(
            OnConflict::columns([
                report_population::Column::Population,
                report_population::Column::PeriodStart,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(scope.db())
        .await?;
    }
    Ok(())
}

async fn find_run(
    scope: &TenantScope,
    name: &str,
    start: DateTime<Utc>,
) -> Result<Option<ReportRun>, TenantError> {
    report_run::Entity::find()
        .filter(report_run::Column::ReportName.eq(name))
        .filter(report_run::Column::PeriodStart.eq(start))
        .one(scope.db())
        .await?
        .map(from_row)
        .transpose()
}

/// Runs, newest first, optionally of one report. Requires `reports:read`.
pub async fn list(
    scope: &TenantScope,
    report: Option<&str>,
    page: &PageRequest,
) -> Result<Page<ReportRun>, TenantError> {
    scope.require(REPORTS_READ)?;
    let mut query = report_run::Entity::find()
        .order_by_desc(report_run::Column::Id)
        .limit(page.fetch_limit());
    if let Some(name) = report {
        query = query.filter(report_run::Column::ReportName.eq(name));
    }
    if let Some(after) = page.after {
        query = query.filter(report_run::Column::Id.lt(after));
    }
    let rows = query.all(scope.db()).await?;
    Page::from_rows(rows, page, |r| r.id).try_map(from_row)
}

/// One run. Requires `reports:read`.
pub async fn get(scope: &TenantScope, id: Uuid) -> Result<ReportRun, TenantError> {
    scope.require(REPORTS_READ)?;
    report_run::Entity::find_by_id(id)
        .one(scope.db())
        .await?
        .map(from_row)
        .transpose()?
        .ok_or(TenantError::NotFound("report run"))
}

/// One run's content. Requires `reports:read`.
pub async fn content(scope: &TenantScope, id: Uuid) -> Result<ReportContent, TenantError> {
    scope.require(REPORTS_READ)?;
    let row = report_run::Entity::find_by_id(id)
        .one(scope.db())
        .await?
        .ok_or(TenantError::NotFound("report run"))?;
    let population_key = (row.population.clone(), row.period_start);
    let run = from_row(row)?;
    let population = report_population::Entity::find_by_id(population_key)
        .one(scope.db())
        .await?
        .ok_or(TenantError::NotFound("report run"))?;
    let tables: Vec<PublishedTable> = serde_json::from_str(&population.tables)
        .map_err(|e| TenantError::Conflict(format!("stored report tables are unreadable: {e}")))?;
    let tables = match producer_for(run.kind) {
        Some(producer) => view(&tables, producer.as_ref(), &run.fields),
        None => tables,
    };
    Ok(ReportContent {
        min_cell_size: u32::try_from(population.min_cell_size).unwrap_or(0),
        run,
        tables,
    })
}

/// The reports of a profile due at `now`: each one's latest period that is over.
pub(crate) fn due(reports: &[ScheduledReport], now: DateTime<Utc>) -> Vec<(String, NaiveDate)> {
    reports
        .iter()
        .filter(|r| producer_for(r.kind).is_some())
        .map(|r| {
            (
                r.name.clone(),
                Period::last_closed(r.cadence, now).start.date_naive(),
            )
        })
        .collect()
}

/// The periodic job's name (one of [`crate::deadlines::PERIODIC_JOBS`]).
pub const JOB: &str = "reports.schedule";

impl crate::Tenancy {
    /// One pass of the schedule: for every active institution, each report of its profile
    /// whose latest period that is over has no run yet is produced. Every replica makes the
    /// pass; a report and period is produced once (the run's unique key, the population's
    /// primary key), and one report's failure is logged without stopping the others.
    /// Answers how many runs this pass produced.
    pub async fn run_scheduled_reports(&self, now: DateTime<Utc>) -> Result<usize, TenantError> {
        let mut produced = 0;
        for tenant in self.active_tenant_ids().await? {
            let Some(scope) = self.periodic_job_scope(tenant, JOB).await? else {
                continue;
            };
            let reports = profile::current(&scope).await?.profile.reports;
            drop(scope);
            for (name, start) in due(&reports, now) {
                let Some(scope) = self.periodic_job_scope(tenant, JOB).await? else {
                    break;
                };
                let done = match run(&scope, &name, start, Trigger::Schedule, now).await {
                    Ok((_, created)) => scope
                        .commit()
                        .await
                        .map(|()| created)
                        .map_err(TenantError::from),
                    Err(error) => Err(error),
                };
                match done {
                    Ok(true) => produced += 1,
                    Ok(false) => {}
                    Err(error) => {
                        tracing::warn!(%tenant, report = %name, %error, "scheduled report failed");
                    }
                }
            }
        }
        Ok(produced)
    }
}
