//! Export bundles at rest and on the wire (R4): an export request's task for a source writes
//! that source's records as sealed parts, one per page ([`PersonalDataSource::export_page`],
//! [`RequestSettings`](super::RequestSettings)'s page size), in `privacy_export_parts`; the
//! download ([`super::download`]) streams them back one part at a time, as one JSON bundle
//! (a manifest first, then one array per source) or as CSV for one source.
//!
//! Memory stays bounded by one part: writing holds one page of one source (read, sealed,
//! inserted, dropped before the next is read); reading holds the list of part ids, the CSV
//! column names of one source and one opened part, each part read in a unit of work of its
//! own (no long transaction spans the download).
//!
//! Nor does a long transaction span the writing: each page is a unit of work of its own
//! ([`Privacy::export_pages`]), its part committed with the task's progress (the records
//! and parts so far, the source's cursor for the next page), the last page with the task's
//! `done`. So the tenant's other writes go on between pages (on SQLite a unit of work holds
//! the file's one write lock), and a run stopped anywhere (a crash, a failed page, a replica
//! taking over after the lease) resumes after the last committed page: a page re-run
//! replaces any part at its place, so a bundle never holds a page twice.
//!
//! The parts are personal data of the subject: the request tables' source
//! ([`super::source::PrivacyRequestsSource`]) claims the table and deletes them when the
//! person is erased, and they are deleted [`KEEP_DAYS`] after the export completed (the
//! download link needs them no longer than that: a person who comes later asks for a new
//! export): by the `privacy.export_expiry` deadline, and refused (and deleted) by a link
//! asked for or used after that, whichever comes first.
//!
//! CSV ([`csv`]): one row per record, nested objects flattened to dotted column names,
//! arrays written as JSON text, RFC 4180 quoting, and a cell that a spreadsheet would take
//! for a formula (starting with `=`, `+`, `-`, `@`, tab or carriage return) prefixed by `'`.

use super::TaskStatus;
use super::entities::{part, request, task};
use crate::{Privacy, PrivacyError};
use chrono::{DateTime, Utc};
use hub_kernel::classification::{DataCategory, FieldClassification, Purpose, RetentionClass};
use hub_tenant::deadlines::DueDeadline;
use hub_tenant::personal_data::{DataSubject, PersonalDataSource, SourceError};
use hub_tenant::{ActiveTenant, Tenancy, TenantScope};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use std::collections::VecDeque;
use std::sync::Arc;
use uuid::Uuid;

pub const PARTS_TABLE: &str = "privacy_export_parts";
/// Records per part when configuration does not say (`privacy_export_page_size`).
pub const DEFAULT_PAGE_SIZE: u64 = 1000;
/// Days after an export completes that its parts are kept for download.
pub const KEEP_DAYS: i64 = 7;
/// The deadline kind that deletes an export's parts.
pub const EXPIRY_DEADLINE: &str = "privacy.export_expiry";

/// The sealed columns of the parts table: copies of the other sources' data, kept only to
/// be downloaded.
pub const PART_FIELDS: &[FieldClassification] = &[
    FieldClassification {
        table: PARTS_TABLE,
        column: "records",
        category: DataCategory::Identity,
        purpose: Purpose::ServiceDelivery,
        retention: RetentionClass::Ephemeral,
        identifying: true,
        blind_index: false,
        optional: false,
    },
    FieldClassification {
        table: PARTS_TABLE,
        column: "columns",
        category: DataCategory::Identity,
        purpose: Purpose::ServiceDelivery,
        retention: RetentionClass::Ephemeral,
        identifying: true,
        blind_index: false,
        optional: false,
    },
];

/// How far an export task has come: what its committed parts hold and where the next page
/// starts. Kept in the task's row (`outcome` and `export_after`), committed with each page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    pub records: u64,
    pub parts: u64,
    /// The source's cursor for the next page; `None` before the first.
    pub after: Option<String>,
}

impl Progress {
    /// The progress a pending export task's row records.
    pub(crate) fn of(row: &task::Model) -> Self {
        let counts: serde_json::Value = row
            .outcome
            .as_deref()
            .and_then(|o| serde_json::from_str(o).ok())
            .unwrap_or_default();
        let count = |name: &str| counts.get(name).and_then(serde_json::Value::as_u64);
        Self {
            records: count("records").unwrap_or(0),
            parts: count("parts").unwrap_or(0),
            after: row.export_after.clone(),
        }
    }

    /// The task's outcome: the records and parts written.
    pub fn outcome(&self) -> serde_json::Value {
        serde_json::json!({ "records": self.records, "parts": self.parts })
    }
}

/// One page written: the progress after it, and whether it was the source's last.
#[derive(Debug)]
pub struct PageWritten {
    pub progress: Progress,
    pub last: bool,
}

/// Writes the page of `source`'s export of `subject` that `progress` points at as one sealed
/// part (none for an empty page) of request `request_id`, in the caller's unit of work, which
/// commits it together with the progress returned. A part of this source at or past the
/// page's place (written by a run whose progress never committed: none with the progress
/// committed in the same unit of work, but a re-run page must not count twice) is replaced;
/// the first page also clears what an earlier run of the task left.
pub async fn write_page(
    scope: &TenantScope,
    request_id: Uuid,
    source: &dyn PersonalDataSource,
    subject: &DataSubject,
    progress: &Progress,
    page_size: u64,
    now: DateTime<Utc>,
) -> Result<PageWritten, SourceError> {
    part::Entity::delete_many()
        .filter(part::Column::RequestId.eq(request_id))
        .filter(part::Column::Source.eq(source.name()))
        .filter(part::Column::Seq.gte(i32::try_from(progress.parts)?))
        .exec(scope.db())
        .await?;
    let page = source
        .export_page(scope, subject, progress.after.as_deref(), page_size.max(1))
        .await?;
    let mut next = progress.clone();
    if !page.records.is_empty() {
        let id = Uuid::now_v7();
        let columns = csv::columns(&page.records);
        let keys = scope.keys();
        let records_sealed = keys.seal_str(
            PARTS_TABLE,
            "records",
            id,
            &serde_json::to_string(&page.records)?,
        );
        let columns_sealed = keys.seal_str(
            PARTS_TABLE,
            "columns",
            id,
            &serde_json::to_string(&columns)?,
        );
        part::Entity::insert(part::ActiveModel {
            id: Set(id),
            request_id: Set(request_id),
            source: Set(source.name().to_string()),
            seq: Set(i32::try_from(progress.parts)?),
            record_count: Set(i32::try_from(page.records.len())?),
            records_sealed: Set(records_sealed),
            columns_sealed: Set(columns_sealed),
            created_at: Set(now),
        })
        .exec_without_returning(scope.db())
        .await?;
        next.records += page.records.len() as u64;
        next.parts += 1;
    }
    match page.next {
        // A cursor that does not move would page forever: a source's mistake.
        Some(cursor) if progress.after.as_deref() == Some(cursor.as_str()) => {
            Err(format!("{} returned the same export cursor twice", source.name()).into())
        }
        Some(cursor) => {
            next.after = Some(cursor);
            Ok(PageWritten {
                progress: next,
                last: false,
            })
        }
        None => {
            next.after = None;
            Ok(PageWritten {
                progress: next,
                last: true,
            })
        }
    }
}

/// How an export task's pages ended.
pub(crate) enum Paged {
    /// The task is no longer pending: its last page committed it `done` (here or elsewhere).
    Done,
    /// The institution cannot be worked on now (suspended, gone).
    Later,
    /// Stopped between pages by a drill, as if the process had died.
    Abandoned,
    /// The source failed: that page rolled back, the pages before it stay committed.
    Failed(SourceError),
}

impl Privacy {
    /// Runs export task `task_id` of `row` (the `attempts` it had), one page per unit of
    /// work: the page's part, the task's progress (and on the last page its `done`) commit
    /// together, so no unit of work spans more than a page and a run stopped anywhere
    /// resumes after the last committed page, none counted twice.
    pub(crate) async fn export_pages(
        &self,
        due: &DueDeadline,
        row: &request::Model,
        task_id: Uuid,
        source: &dyn PersonalDataSource,
        subject: &DataSubject,
    ) -> Result<Paged, PrivacyError> {
        let page_size = self.requests.export_page_size();
        loop {
            let Some(scope) = self.tenancy.job_scope(due).await? else {
                return Ok(Paged::Later);
            };
            // The task as committed, locked for this page (on PostgreSQL; SQLite's unit of work
            // holds the write lock already): a second run of the task, should two replicas
            // ever overlap, waits and goes on from the progress this page commits.
            let Some(task) = task::Entity::find_by_id(task_id)
                .lock_exclusive()
                .one(scope.db())
                .await?
            else {
                return Ok(Paged::Done);
            };
            if task.status != TaskStatus::Pending.as_str() {
                return Ok(Paged::Done);
            }
            let now = self.now();
            let written = match write_page(
                &scope,
                row.id,
                source,
                subject,
                &Progress::of(&task),
                page_size,
                now,
            )
            .await
            {
                Ok(written) => written,
                Err(error) => return Ok(Paged::Failed(error)),
            };
            super::execution::mark_running(&scope, row, now).await?;
            let mut update = task::Entity::update_many()
                .col_expr(
                    task::Column::Outcome,
                    Expr::value(Some(written.progress.outcome().to_string())),
                )
                .col_expr(
                    task::Column::ExportAfter,
                    Expr::value(written.progress.after.clone()),
                )
                .col_expr(task::Column::UpdatedAt, Expr::value(now));
            if written.last {
                update = update
                    .col_expr(task::Column::Status, Expr::value(TaskStatus::Done.as_str()))
                    .col_expr(task::Column::Attempts, Expr::value(task.attempts + 1))
                    .col_expr(task::Column::Error, Expr::value(Option::<String>::None));
            }
            update
                .filter(task::Column::Id.eq(task.id))
                .filter(task::Column::Status.eq(TaskStatus::Pending.as_str()))
                .exec(scope.db())
                .await?;
            scope.commit().await?;
            if written.last {
                return Ok(Paged::Done);
            }
            if let Some(pause) = self
                .requests
                .export_pause
                .take_at(source.name(), written.progress.parts)
                && pause.hold().await
            {
                return Ok(Paged::Abandoned);
            }
        }
    }

    /// Drills: the next export that has committed `parts` parts of `source` waits between
    /// two pages (its units of work committed, none open) until told to go on or to stop as
    /// if its process had died ([`ExportPause`]). Once.
    pub fn pause_export_after(&self, source: &str, parts: u64) -> Arc<ExportPause> {
        let pause = Arc::new(ExportPause {
            source: source.to_string(),
            parts,
            reached: tokio::sync::Notify::new(),
            released: tokio::sync::Notify::new(),
            stop: std::sync::atomic::AtomicBool::new(false),
        });
        if let Ok(mut slot) = self.requests.export_pause.slot.lock() {
            *slot = Some(pause.clone());
        }
        pause
    }
}

/// Where a drill stops an export between pages ([`Privacy::pause_export_after`]).
#[derive(Default)]
pub(crate) struct PauseSlot {
    slot: std::sync::Mutex<Option<Arc<ExportPause>>>,
}

impl PauseSlot {
    /// The pause set for this source at this many parts, taken (it fires once).
    fn take_at(&self, source: &str, parts: u64) -> Option<Arc<ExportPause>> {
        let mut slot = self.slot.lock().ok()?;
        if slot
            .as_ref()
            .is_some_and(|p| p.source == source && p.parts == parts)
        {
            slot.take()
        } else {
            None
        }
    }
}

/// An export held between two pages by a drill.
pub struct ExportPause {
    source: String,
    parts: u64,
    reached: tokio::sync::Notify,
    released: tokio::sync::Notify,
    stop: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for ExportPause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ExportPause({} after {} parts)", self.source, self.parts)
    }
}

impl ExportPause {
    /// Waits until the export is held here.
    pub async fn reached(&self) {
        self.reached.notified().await;
    }

    /// Lets the export go on with its next page.
    pub fn resume(&self) {
        self.released.notify_one();
    }

    /// Stops the export's run here, as if its process had died: the request stays
    /// `in_progress`, its deadline leased, the task pending after its committed pages.
    pub fn stop(&self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.released.notify_one();
    }

    /// The export side: says it is held, waits to be released; whether to stop.
    async fn hold(&self) -> bool {
        self.reached.notify_one();
        self.released.notified().await;
        self.stop.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Deletes the parts of these requests; returns how many went.
pub async fn delete_parts(scope: &TenantScope, requests: &[Uuid]) -> Result<u64, sea_orm::DbErr> {
    if requests.is_empty() {
        return Ok(0);
    }
    Ok(part::Entity::delete_many()
        .filter(part::Column::RequestId.is_in(requests.iter().copied()))
        .exec(scope.db())
        .await?
        .rows_affected)
}

/// How a download is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// The whole bundle: `{"manifest": …, "sources": {"<name>": [records…], …}}`.
    Json,
    /// One source's records, a header row of their flattened columns first.
    Csv,
}

/// One step of a download.
enum Step {
    Text(String),
    /// A part's records inside a JSON array (`comma`: not the source's first part).
    JsonPart {
        id: Uuid,
        comma: bool,
    },
    CsvPart {
        id: Uuid,
    },
}

/// A download in progress: the next chunk is made when asked for ([`Self::next_chunk`]),
/// opening one part at a time in a unit of work of its own.
pub struct ExportStream {
    tenancy: Arc<Tenancy>,
    tenant: ActiveTenant,
    steps: VecDeque<Step>,
    /// The CSV columns of the source being written.
    columns: Vec<String>,
}

impl std::fmt::Debug for ExportStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ExportStream({} steps left)", self.steps.len())
    }
}

/// The parts of `request` (ids, sources, in order) of the given sources.
async fn parts_of(
    scope: &TenantScope,
    request: Uuid,
    source: &str,
) -> Result<Vec<Uuid>, PrivacyError> {
    Ok(part::Entity::find()
        .select_only()
        .column(part::Column::Id)
        .filter(part::Column::RequestId.eq(request))
        .filter(part::Column::Source.eq(source))
        .order_by_asc(part::Column::Seq)
        .into_tuple::<Uuid>()
        .all(scope.db())
        .await?)
}

fn open_part(scope: &TenantScope, row: &part::Model, column: &str) -> Result<String, PrivacyError> {
    let sealed = if column == "records" {
        &row.records_sealed
    } else {
        &row.columns_sealed
    };
    scope
        .keys()
        .open_str(PARTS_TABLE, column, row.id, sealed)
        .map_err(|e| PrivacyError::Registry(format!("an export part does not open: {e}")))
}

impl ExportStream {
    /// Plans the download of `request`'s bundle: the JSON bundle of `sources` (the manifest
    /// first), or the CSV of the one source named.
    pub(crate) async fn plan(
        scope: &TenantScope,
        tenancy: Arc<Tenancy>,
        tenant: ActiveTenant,
        request: Uuid,
        manifest: &serde_json::Value,
        sources: &[String],
        format: ExportFormat,
    ) -> Result<Self, PrivacyError> {
        let mut steps = VecDeque::new();
        let mut columns: Vec<String> = Vec::new();
        match format {
            ExportFormat::Json => {
                steps.push_back(Step::Text(format!(
                    "{{\"manifest\":{},\"sources\":{{",
                    serde_json::to_string(manifest)
                        .map_err(|e| PrivacyError::Registry(e.to_string()))?
                )));
                for (i, source) in sources.iter().enumerate() {
                    let name = serde_json::to_string(source)
                        .map_err(|e| PrivacyError::Registry(e.to_string()))?;
                    let comma = if i == 0 { "" } else { "," };
                    steps.push_back(Step::Text(format!("{comma}{name}:[")));
                    for (n, id) in parts_of(scope, request, source)
                        .await?
                        .into_iter()
                        .enumerate()
                    {
                        steps.push_back(Step::JsonPart { id, comma: n > 0 });
                    }
                    steps.push_back(Step::Text("]".into()));
                }
                steps.push_back(Step::Text("}}".into()));
            }
            ExportFormat::Csv => {
                for source in sources {
                    // The header is every column any part of the source has, in the order
                    // they first appear: only the (small) column lists are opened here.
                    let ids = parts_of(scope, request, source).await?;
                    for id in &ids {
                        let Some(row) = part::Entity::find_by_id(*id).one(scope.db()).await? else {
                            continue;
                        };
                        let names: Vec<String> =
                            serde_json::from_str(&open_part(scope, &row, "columns")?)
                                .map_err(|e| PrivacyError::Registry(e.to_string()))?;
                        for name in names {
                            if !columns.contains(&name) {
                                columns.push(name);
                            }
                        }
                    }
                    if !columns.is_empty() {
                        steps.push_back(Step::Text(csv::row(columns.iter().map(String::as_str))));
                    }
                    steps.extend(ids.into_iter().map(|id| Step::CsvPart { id }));
                }
            }
        }
        Ok(Self {
            tenancy,
            tenant,
            steps,
            columns,
        })
    }

    /// The next chunk of the download, `None` at its end.
    pub async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, PrivacyError> {
        let Some(step) = self.steps.pop_front() else {
            return Ok(None);
        };
        let (id, json) = match step {
            Step::Text(text) => return Ok(Some(text.into_bytes())),
            Step::JsonPart { id, comma } => (id, Some(comma)),
            Step::CsvPart { id } => (id, None),
        };
        let scope = self.tenancy.sign_in_scope(&self.tenant).await?;
        let row = part::Entity::find_by_id(id)
            .one(scope.db())
            .await?
            .ok_or(PrivacyError::NotFound("download link"))?;
        let text = open_part(&scope, &row, "records")?;
        drop(scope);
        Ok(Some(match json {
            Some(comma) => {
                // The sealed page is a compact JSON array: its inside goes as it is.
                let inner = text
                    .strip_prefix('[')
                    .and_then(|t| t.strip_suffix(']'))
                    .unwrap_or_default();
                let mut out = String::with_capacity(inner.len() + 1);
                if comma {
                    out.push(',');
                }
                out.push_str(inner);
                out.into_bytes()
            }
            None => {
                let records: Vec<serde_json::Value> = serde_json::from_str(&text)
                    .map_err(|e| PrivacyError::Registry(e.to_string()))?;
                drop(text);
                let mut out = String::new();
                for record in &records {
                    let cells: std::collections::HashMap<String, String> =
                        csv::flatten(record).into_iter().collect();
                    out.push_str(&csv::row(
                        self.columns
                            .iter()
                            .map(|c| cells.get(c).map_or("", String::as_str)),
                    ));
                }
                out.into_bytes()
            }
        }))
    }
}

/// Records as CSV: flattening, quoting, formula neutralising.
pub mod csv {
    /// A record's cells: nested objects as dotted names, arrays as JSON text, null as empty;
    /// a record that is not an object is one cell, `value`.
    pub fn flatten(record: &serde_json::Value) -> Vec<(String, String)> {
        let mut out = Vec::new();
        match record {
            serde_json::Value::Object(_) => walk(record, "", &mut out),
            other => out.push(("value".to_string(), scalar(other))),
        }
        out
    }

    fn walk(value: &serde_json::Value, prefix: &str, out: &mut Vec<(String, String)>) {
        match value {
            serde_json::Value::Object(map) if !map.is_empty() || prefix.is_empty() => {
                for (key, inner) in map {
                    let name = if prefix.is_empty() {
                        key.clone()
                    } else {
                        format!("{prefix}.{key}")
                    };
                    walk(inner, &name, out);
                }
            }
            other => out.push((prefix.to_string(), scalar(other))),
        }
    }

    fn scalar(value: &serde_json::Value) -> String {
        match value {
            serde_json::Value::Null => String::new(),
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }

    /// The columns of these records, in the order they first appear.
    pub fn columns(records: &[serde_json::Value]) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for record in records {
            for (name, _) in flatten(record) {
                if seen.insert(name.clone()) {
                    names.push(name);
                }
            }
        }
        names
    }

    /// Cells and lines as every CSV of the product writes them.
    pub use hub_kernel::csv::{cell, row};

    #[cfg(test)]
    mod tests {
        use super::*;
        use serde_json::json;

        #[test]
        fn nested_objects_flatten_to_dotted_names_and_arrays_to_json() {
            let cells = flatten(&json!({"a": 1, "b": {"c": "x", "d": null}, "e": [1, 2], "f": {}}));
            assert_eq!(
                cells,
                [
                    ("a".to_string(), "1".to_string()),
                    ("b.c".to_string(), "x".to_string()),
                    ("b.d".to_string(), String::new()),
                    ("e".to_string(), "[1,2]".to_string()),
                    ("f".to_string(), "{}".to_string()),
                ]
            );
        }

        #[test]
        fn cells_are_quoted_and_formulas_neutralised() {
            assert_eq!(cell("plain"), "plain");
            assert_eq!(cell("a,b"), "\"a,b\"");
            assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
            assert_eq!(cell("two\nlines"), "\"two\nlines\"");
            assert_eq!(cell("=SUM(A1)"), "'=SUM(A1)");
            assert_eq!(cell("+1"), "'+1");
            assert_eq!(cell("-2"), "'-2");
            assert_eq!(cell("@cmd"), "'@cmd");
            assert_eq!(cell("=a,b"), "\"'=a,b\"");
            assert_eq!(row(["a", "b"].into_iter()), "a,b\r\n");
        }
    }
}
