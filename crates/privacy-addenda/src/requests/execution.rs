//! Running an approved request: one task per registered personal-data source, in the
//! sources' order ([`hub_tenant::Tenancy::personal_data_sources`]), each with its own status.
//!
//! - Each task runs in its own unit of work: the source's change and the task's `done` land
//!   together or not at all, so a process killed mid-task leaves the task `pending` (never
//!   half-done and recorded as done), and every source's operation is idempotent anyway.
//!   An export's task is the exception: it runs a unit of work per page, each committing
//!   the page's part with the task's progress ([`super::export`]), so it holds no lock for a
//!   whole source and a run killed mid-task resumes after its last committed page.
//! - The run is driven by a control-plane deadline (`privacy.request_run`, one per request):
//!   whichever replica finds it due takes it for [`LEASE_MINUTES`] (moving it ahead) and
//!   runs the pending tasks; a process that dies leaves the deadline to come due again after
//!   the lease, and any replica resumes the request from its first pending task.
//! - A failed task stays `failed` (the request `error`) until a privacy officer retries that
//!   task alone (`POST …/tasks/{source}/retry`); the others are never run again.
//! - A source switched off (configuration `privacy_switched_off_sources`) is `skipped`, and
//!   reported as such in the result and the receipt: not an error.
//! - An erasure starts only when no other request about its subject is approved or running
//!   ([`RunEnd::Waiting`]): that one would write about the person (its completion message)
//!   after the erasure's sources ran.
//! - An erasure completes only if the [`completeness_scan`] finds nothing of the subject;
//!   then the subject gets a receipt and the request drops its subject reference.

use super::entities::{request, task};
use super::export::Paged;
use super::{
    PrivacyRequest, RequestKind, RequestStatus, TABLE, TaskStatus, open_subject, tasks_of,
};
use crate::{PRIVACY_MANAGE, Privacy, PrivacyError};
use chrono::{DateTime, Duration, Utc};
use hub_kernel::classification::{FieldClassification, Purpose};
use hub_tenant::TenantScope;
use hub_tenant::audit::{self, AuditEvent};
use hub_tenant::deadlines::DueDeadline;
use hub_tenant::personal_data::{DataSubject, PersonalDataSource, SourceError};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use uuid::Uuid;

/// The deadline kind that drives request execution.
pub const RUN_DEADLINE: &str = "privacy.request_run";
/// How long a replica holds a request it runs before another may take it over.
pub const LEASE_MINUTES: i64 = 5;
/// Requests taken per sweep.
const BATCH: u64 = 20;

/// What the completeness scan found of a subject after an erasure.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub source: String,
    pub records: u64,
}

/// The completeness scan of an erasure, in two parts that do not trust each other:
/// - every source that ran (`kept` ones, skipped or answering that the erasure does not
///   apply to what they hold, are reported as kept, not scanned) is asked whether
///   it still holds anything of the subject: its `summary` is 0, or no more than the records
///   its erasure anonymised (kept on purpose, with no personal field left: `anonymised`);
///   the sessions source's summary is the Redis part (live sessions of the person);
/// - the live schema of the tenant is read column by column
///   ([`hub_tenant::subject_scan::scan_for_subject`]): no person-reference column may hold
///   the subject's id and no blind index the index of their emails, except in the tables of a
///   skipped source (reported as kept). A hit is named `table.column`, so a table no source
///   claims is found too.
///
/// The request completes only if this finds nothing.
pub async fn completeness_scan(
    scope: &TenantScope,
    subject: &DataSubject,
    sources: &[Arc<dyn PersonalDataSource>],
    kept: &[String],
    anonymised: &BTreeMap<String, u64>,
) -> Result<Vec<Finding>, PrivacyError> {
    let mut findings = Vec::new();
    for source in sources {
        if kept.iter().any(|s| s == source.name()) {
            continue;
        }
        let summary = source
            .summary(scope, subject)
            .await
            .map_err(|e| PrivacyError::source_failed(source.name(), &e))?;
        let kept = anonymised.get(source.name()).copied().unwrap_or(0);
        if summary.records > kept {
            findings.push(Finding {
                source: source.name().to_string(),
                records: summary.records - kept,
            });
        }
    }
    let kept_tables: Vec<&str> = sources
        .iter()
        .filter(|s| kept.iter().any(|k| k == s.name()))
        .flat_map(|s| s.tables().iter().copied())
        .collect();
    for hit in hub_tenant::subject_scan::scan_for_subject(scope, subject).await? {
        if kept_tables.contains(&hit.table.as_str()) {
            continue;
        }
        // Attributed to the source that claims the table, so its task is the one marked.
        let owner = sources
            .iter()
            .find(|s| s.tables().contains(&hit.table.as_str()))
            .map_or_else(
                || format!("{}.{}", hit.table, hit.column),
                |s| s.name().to_string(),
            );
        findings.push(Finding {
            source: owner,
            records: hit.rows,
        });
    }
    Ok(findings)
}

/// Why a legal hold keeps this source's data of the person, if one does: an active hold
/// (theirs or everyone's) naming a category the source's fields hold, or every category.
fn held_by(holds: &[crate::holds::LegalHold], source: &dyn PersonalDataSource) -> Option<String> {
    let categories: Vec<_> = source.fields().iter().map(|f| f.category).collect();
    holds
        .iter()
        .filter(|h| h.categories.is_empty() || h.categories.iter().any(|c| categories.contains(c)))
        .max_by_key(|h| h.ends_at)
        .map(|h| {
            format!(
                "kept under a legal hold until {}",
                h.ends_at.format("%Y-%m-%d")
            )
        })
}

/// How one run of a request's deadline ended.
enum RunEnd {
    /// Nothing more to run now (complete, error, or not runnable): the deadline goes.
    Settled,
    /// Not ours to run yet (an approval not yet committed, a suspended tenant).
    Later,
    /// Stopped by the kill drill: the deadline stays leased, as after a crash.
    Abandoned,
    /// An erasure whose subject has another request running: that one finishes first (it
    /// would otherwise write about the person, a completion message, after the erasure's
    /// sources ran, and the completeness scan would find it).
    Waiting,
}

/// How often, and how many times, a pass looks again at an erasure that is [`RunEnd::Waiting`]
/// before leaving it to a later pass.
const WAIT_STEP: std::time::Duration = std::time::Duration::from_millis(200);
const WAIT_ROUNDS: u32 = 50;

/// Whether another request about the same subject is approved or running (an erasure waits
/// for it).
async fn other_request_running(
    scope: &TenantScope,
    row: &request::Model,
) -> Result<bool, PrivacyError> {
    use sea_orm::PaginatorTrait;
    let running =
        request::Entity::find()
            .filter(request::Column::SubjectIndex.eq(row.subject_index.clone()))
            .filter(request::Column::Id.ne(row.id))
            .filter(request::Column::Status.is_in(
                [RequestStatus::Approved, RequestStatus::InProgress].map(RequestStatus::as_str),
            ))
            .count(scope.db())
            .await?;
    Ok(running > 0)
}

fn json_text(value: &impl Serialize) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

impl Privacy {
    /// Creates the tasks of an approved request and schedules its run.
    pub(crate) async fn plan_tasks(
        &self,
        scope: &TenantScope,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<(), PrivacyError> {
        let sources = self.tenancy.personal_data_sources()?;
        for (position, source) in sources.iter().enumerate() {
            task::Entity::insert(task::ActiveModel {
                id: Set(Uuid::now_v7()),
                request_id: Set(id),
                source: Set(source.name().to_string()),
                position: Set(position as i32),
                status: Set(TaskStatus::Pending.as_str().into()),
                attempts: Set(0),
                outcome: Set(None),
                error: Set(None),
                updated_at: Set(now),
                export_after: Set(None),
            })
            .exec_without_returning(scope.db())
            .await?;
        }
        self.tenancy
            .schedule_deadline(scope, RUN_DEADLINE, id, Utc::now())
            .await?;
        Ok(())
    }

    /// Re-runs one failed task of a request (never the others). Requires `privacy:manage`.
    pub async fn retry_task(
        &self,
        scope: &TenantScope,
        id: Uuid,
        source: &str,
    ) -> Result<PrivacyRequest, PrivacyError> {
        scope.require(PRIVACY_MANAGE)?;
        let row = self.row(scope, id).await?;
        let found = task::Entity::find()
            .filter(task::Column::RequestId.eq(id))
            .filter(task::Column::Source.eq(source))
            .one(scope.db())
            .await?
            .ok_or(PrivacyError::NotFound("task"))?;
        if found.status != TaskStatus::Failed.as_str() {
            return Err(PrivacyError::Conflict {
                code: "task_not_failed",
                message: format!("the {source} task is {}, not failed", found.status),
            });
        }
        let now = self.now();
        task::Entity::update_many()
            .col_expr(
                task::Column::Status,
                Expr::value(TaskStatus::Pending.as_str()),
            )
            .col_expr(task::Column::UpdatedAt, Expr::value(now))
            .filter(task::Column::Id.eq(found.id))
            .exec(scope.db())
            .await?;
        request::Entity::update_many()
            .col_expr(
                request::Column::Status,
                Expr::value(RequestStatus::InProgress.as_str()),
            )
            .col_expr(request::Column::UpdatedAt, Expr::value(now))
            .filter(request::Column::Id.eq(row.id))
            .exec(scope.db())
            .await?;
        self.tenancy
            .reschedule_deadline(scope.tenant_id(), RUN_DEADLINE, id, Utc::now())
            .await?;
        audit::record(
            scope,
            AuditEvent::new("privacy_request.task_retried")
                .subject(format!("privacy_request:{id}"))
                .detail(serde_json::json!({ "source": source })),
        )
        .await?;
        self.load(scope, id).await
    }

    /// Runs what is due across institutions: up to a batch of requests, each to its end (or
    /// its first failed task). Every replica calls it periodically; the gateway also calls
    /// it right after an approval or a retry commits. Returns how many requests it ran.
    pub async fn run_due_requests(&self) -> Result<usize, PrivacyError> {
        // The sweep also deletes the bundles of exports past their keeping time.
        if let Err(error) = self.expire_export_parts().await {
            tracing::warn!(%error, "expiring export bundles failed; the next sweep retries");
        }
        let due = self.tenancy.due_deadlines(RUN_DEADLINE, BATCH).await?;
        let mut ran = 0;
        for deadline in due {
            // Taken for the lease: another replica leaves it alone meanwhile, and takes it
            // over if this process dies.
            self.tenancy
                .reschedule_deadline(
                    deadline.tenant_id,
                    RUN_DEADLINE,
                    deadline.subject_id,
                    Utc::now() + Duration::minutes(LEASE_MINUTES),
                )
                .await?;
            let mut outcome = self.run_request(&deadline).await;
            let mut rounds = 0;
            while matches!(outcome, Ok(RunEnd::Waiting)) && rounds < WAIT_ROUNDS {
                tokio::time::sleep(WAIT_STEP).await;
                rounds += 1;
                outcome = self.run_request(&deadline).await;
            }
            match outcome {
                Ok(RunEnd::Waiting) => {
                    self.tenancy
                        .reschedule_deadline(
                            deadline.tenant_id,
                            RUN_DEADLINE,
                            deadline.subject_id,
                            Utc::now() + Duration::seconds(10),
                        )
                        .await?;
                }
                Ok(RunEnd::Settled) => {
                    self.tenancy
                        .clear_deadline(deadline.tenant_id, RUN_DEADLINE, deadline.subject_id)
                        .await?;
                    ran += 1;
                }
                Ok(RunEnd::Later) => {
                    self.tenancy
                        .reschedule_deadline(
                            deadline.tenant_id,
                            RUN_DEADLINE,
                            deadline.subject_id,
                            Utc::now() + Duration::minutes(1),
                        )
                        .await?;
                }
                Ok(RunEnd::Abandoned) => {
                    tracing::warn!(request = %deadline.subject_id, "a privacy request run stopped by the kill drill");
                    self.requests
                        .stopped_by_drill
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                Err(error) => {
                    // Left for the lease to lapse: retried then, by whichever replica.
                    tracing::warn!(request = %deadline.subject_id, %error, "a privacy request run failed; retrying after the lease");
                }
            }
        }
        Ok(ran)
    }

    async fn run_request(&self, due: &DueDeadline) -> Result<RunEnd, PrivacyError> {
        let sources = self.tenancy.personal_data_sources()?;
        let stop_after = self
            .requests
            .stop_after_tasks
            .load(std::sync::atomic::Ordering::Relaxed);
        let mut ran = 0u64;
        loop {
            if stop_after > 0 && ran >= stop_after {
                return Ok(RunEnd::Abandoned);
            }
            ran += 1;
            let Some(scope) = self.tenancy.job_scope(due).await? else {
                return Ok(RunEnd::Later);
            };
            let Some(row) = request::Entity::find_by_id(due.subject_id)
                .one(scope.db())
                .await?
            else {
                return Ok(RunEnd::Settled);
            };
            let status = RequestStatus::parse(&row.status).unwrap_or(RequestStatus::Error);
            match status {
                RequestStatus::Approved | RequestStatus::InProgress => {}
                // An approval whose unit of work has not committed yet.
                RequestStatus::PendingApproval
                    if Utc::now() - row.updated_at < Duration::minutes(1) =>
                {
                    return Ok(RunEnd::Later);
                }
                _ => return Ok(RunEnd::Settled),
            }
            if row.kind == RequestKind::Erasure.as_str()
                && other_request_running(&scope, &row).await?
            {
                return Ok(RunEnd::Waiting);
            }
            let tasks = tasks_of(&scope, row.id).await?;
            let Some(next) = tasks
                .iter()
                .find(|t| t.status == TaskStatus::Pending.as_str())
                .cloned()
            else {
                self.finish(&scope, &row, &tasks, &sources).await?;
                scope.commit().await?;
                return Ok(RunEnd::Settled);
            };
            let kind = RequestKind::parse(&row.kind).unwrap_or(RequestKind::Access);
            let subject = open_subject(&scope, &row)?
                .ok_or_else(|| PrivacyError::Registry("a running request has no subject".into()))?;
            let source = sources.iter().find(|s| s.name() == next.source);
            let now = self.now();
            // A legal hold on the person (or on everyone) keeps what it covers: an erasure
            // leaves a source holding a held category alone and says why.
            let held = match (kind, source, subject.person_id()) {
                (RequestKind::Erasure, Some(s), Some(person)) => held_by(
                    &crate::holds::on_person(&scope, person, now).await?,
                    s.as_ref(),
                ),
                _ => None,
            };
            // An export's task runs a page per unit of work of its own (none held open here).
            if kind == RequestKind::Export
                && let Some(s) = source
                && !self.requests.switched_off(s.name())
                && !self.requests.failing(s.name())
            {
                drop(scope);
                match self
                    .export_pages(due, &row, next.id, s.as_ref(), &subject)
                    .await?
                {
                    Paged::Done => {}
                    Paged::Later => return Ok(RunEnd::Later),
                    Paged::Abandoned => return Ok(RunEnd::Abandoned),
                    Paged::Failed(error) => {
                        if !self.task_failed(due, &row, &next, &error, now).await? {
                            return Ok(RunEnd::Later);
                        }
                    }
                }
                continue;
            }
            let result: Result<(TaskStatus, serde_json::Value), SourceError> = match source {
                None => Ok((
                    TaskStatus::Skipped,
                    serde_json::json!({ "reason": "the source is no longer registered" }),
                )),
                Some(_) if held.is_some() => {
                    Ok((TaskStatus::Skipped, serde_json::json!({ "reason": held })))
                }
                Some(s) if self.requests.switched_off(s.name()) => Ok((
                    TaskStatus::Skipped,
                    serde_json::json!({
                        "reason": "switched off by configuration (privacy_switched_off_sources)"
                    }),
                )),
                Some(s) if self.requests.failing(s.name()) => Err(format!(
                    "{} is unreachable (drill: privacy_drill_failing_sources)",
                    s.name()
                )
                .into()),
                Some(s) => run_task(&scope, s.as_ref(), &row, kind, &subject)
                    .await
                    .map(|v| (TaskStatus::Done, v)),
            };
            match result {
                Ok((task_status, outcome)) => {
                    mark_running(&scope, &row, now).await?;
                    task::Entity::update_many()
                        .col_expr(task::Column::Status, Expr::value(task_status.as_str()))
                        .col_expr(task::Column::Attempts, Expr::value(next.attempts + 1))
                        .col_expr(
                            task::Column::Outcome,
                            Expr::value(Some(json_text(&outcome))),
                        )
                        .col_expr(task::Column::Error, Expr::value(Option::<String>::None))
                        .col_expr(task::Column::UpdatedAt, Expr::value(now))
                        .filter(task::Column::Id.eq(next.id))
                        .filter(task::Column::Status.eq(TaskStatus::Pending.as_str()))
                        .exec(scope.db())
                        .await?;
                    scope.commit().await?;
                }
                Err(error) => {
                    // The source's work is rolled back with its unit of work; the failure is
                    // recorded in a fresh one.
                    drop(scope);
                    if !self.task_failed(due, &row, &next, &error, now).await? {
                        return Ok(RunEnd::Later);
                    }
                }
            }
        }
    }

    /// Records that `task` failed, in a unit of work of its own; `false` when the institution
    /// cannot be worked on now.
    async fn task_failed(
        &self,
        due: &DueDeadline,
        row: &request::Model,
        task: &task::Model,
        error: &SourceError,
        now: DateTime<Utc>,
    ) -> Result<bool, PrivacyError> {
        let Some(scope) = self.tenancy.job_scope(due).await? else {
            return Ok(false);
        };
        tracing::warn!(request = %row.id, source = task.source, %error, "a privacy request task failed");
        mark_running(&scope, row, now).await?;
        task::Entity::update_many()
            .col_expr(
                task::Column::Status,
                Expr::value(TaskStatus::Failed.as_str()),
            )
            .col_expr(task::Column::Attempts, Expr::value(task.attempts + 1))
            .col_expr(task::Column::Error, Expr::value(Some(error.to_string())))
            .col_expr(task::Column::UpdatedAt, Expr::value(now))
            .filter(task::Column::Id.eq(task.id))
            .exec(scope.db())
            .await?;
        audit::record(
            &scope,
            AuditEvent::new("privacy_request.task_failed")
                .subject(format!("privacy_request:{}", row.id))
                .detail(serde_json::json!({ "source": task.source })),
        )
        .await?;
        scope.commit().await?;
        Ok(true)
    }

    /// Every task has run: the request's end.
    async fn finish(
        &self,
        scope: &TenantScope,
        row: &request::Model,
        tasks: &[task::Model],
        sources: &[Arc<dyn PersonalDataSource>],
    ) -> Result<(), PrivacyError> {
        let now = self.now();
        let kind = RequestKind::parse(&row.kind).unwrap_or(RequestKind::Access);
        let failed: Vec<&str> = tasks
            .iter()
            .filter(|t| t.status == TaskStatus::Failed.as_str())
            .map(|t| t.source.as_str())
            .collect();
        if !failed.is_empty() {
            return set_status(scope, row.id, RequestStatus::Error, now, None).await;
        }
        let Some(subject) = open_subject(scope, row)? else {
            return set_status(scope, row.id, RequestStatus::Error, now, None).await;
        };
        let person = subject.person_id();
        let skipped: Vec<String> = tasks
            .iter()
            .filter(|t| t.status == TaskStatus::Skipped.as_str())
            .map(|t| t.source.clone())
            .collect();
        let outcome_of = |name: &str| -> serde_json::Value {
            tasks
                .iter()
                .find(|t| t.source == name)
                .and_then(|t| t.outcome.as_deref())
                .and_then(|o| serde_json::from_str(o).ok())
                .unwrap_or(serde_json::Value::Null)
        };
        let status_of = |name: &str| -> String {
            tasks
                .iter()
                .find(|t| t.source == name)
                .map(|t| t.status.clone())
                .unwrap_or_else(|| TaskStatus::Skipped.as_str().into())
        };
        match kind {
            RequestKind::Access => {
                let scan = hub_tenant::subject_scan::scan_for_subject(scope, &subject).await?;
                let summary: Vec<serde_json::Value> = sources
                    .iter()
                    .map(|s| {
                        let mut entry =
                            access_entry(s.as_ref(), &status_of(s.name()), outcome_of(s.name()));
                        add_schema_scan(&mut entry, s.as_ref(), &scan);
                        entry
                    })
                    .collect();
                let result = serde_json::json!({
                    "request_id": row.id,
                    "generated_at": now,
                    "sources": summary,
                    "schema_scan": schema_scan_section(sources, &scan),
                });
                self.store_result(scope, row.id, &result).await?;
            }
            RequestKind::Export => {
                // The records are in the parts the tasks wrote; the result is the bundle's
                // manifest (what the download streams first).
                let manifest: Vec<serde_json::Value> = sources
                    .iter()
                    .filter(|s| status_of(s.name()) == TaskStatus::Done.as_str())
                    .map(|s| manifest_entry(s.as_ref(), outcome_of(s.name())))
                    .collect();
                let result = serde_json::json!({
                    "request_id": row.id,
                    "generated_at": now,
                    "format": "application/json",
                    "formats": ["application/json", "text/csv"],
                    "available_until": now + Duration::days(super::export::KEEP_DAYS),
                    "skipped": skipped,
                    "sources": manifest,
                });
                self.store_result(scope, row.id, &result).await?;
                // On the requests' clock, as `completed_at` and `available_until` are.
                self.tenancy
                    .schedule_deadline(
                        scope,
                        super::export::EXPIRY_DEADLINE,
                        row.id,
                        now + Duration::days(super::export::KEEP_DAYS),
                    )
                    .await?;
            }
            RequestKind::Erasure => {
                let anonymised: BTreeMap<String, u64> = tasks
                    .iter()
                    .filter_map(|t| {
                        let outcome: serde_json::Value =
                            serde_json::from_str(t.outcome.as_deref()?).ok()?;
                        let records = outcome.get("anonymised")?.get("records")?.as_u64()?;
                        Some((t.source.clone(), records))
                    })
                    .collect();
                // What a source said it keeps (an active legal hold is itself kept while it
                // lasts: `not_applicable` with its reason) is reported as kept, not found.
                let kept: Vec<String> = tasks
                    .iter()
                    .filter(|t| {
                        t.status == TaskStatus::Skipped.as_str()
                            || outcome_of(&t.source).get("not_applicable").is_some()
                    })
                    .map(|t| t.source.clone())
                    .collect();
                let findings =
                    completeness_scan(scope, &subject, sources, &kept, &anonymised).await?;
                if !findings.is_empty() {
                    for finding in &findings {
                        task::Entity::update_many()
                            .col_expr(
                                task::Column::Status,
                                Expr::value(TaskStatus::Failed.as_str()),
                            )
                            .col_expr(
                                task::Column::Error,
                                Expr::value(Some(format!(
                                    "completeness scan: {} records of the subject remain",
                                    finding.records
                                ))),
                            )
                            .filter(task::Column::RequestId.eq(row.id))
                            .filter(task::Column::Source.eq(finding.source.clone()))
                            .exec(scope.db())
                            .await?;
                    }
                    audit::record(
                        scope,
                        AuditEvent::new("privacy_request.completeness_scan_failed")
                            .subject(format!("privacy_request:{}", row.id))
                            .detail(serde_json::json!({ "findings": findings })),
                    )
                    .await?;
                    return set_status(scope, row.id, RequestStatus::Error, now, None).await;
                }
                let entries: Vec<serde_json::Value> = sources
                    .iter()
                    .map(|s| receipt_entry(s.name(), &status_of(s.name()), outcome_of(s.name())))
                    .collect();
                let receipt = self
                    .receipt(scope, row.id, subject_reference(scope, row), now, entries)
                    .await?;
                // To the address sealed in the request when it was made: the people source
                // has cleared the person's own by now. The outbox forgets it once the
                // receipt is delivered, and the request's seal is dropped just below.
                if let Some(person) = person {
                    self.messages
                        .send_to_address(
                            scope,
                            person,
                            hub_tenant::personal_data::emails_of(&subject).first(),
                            hub_tenant::personal_data::EssentialMessage {
                                kind: "privacy.erasure_receipt",
                                subject: "Your data was erased".into(),
                                body: format!(
                                    "Your erasure request ({}) is complete. Your receipt, signed \
                                     by the institution, follows; keep it to prove the \
                                     erasure:\n{}",
                                    row.id,
                                    json_text(&receipt)
                                ),
                            },
                        )
                        .await
                        .map_err(|e| PrivacyError::source_failed("messages", &e))?;
                }
                // No identity beyond the receipt: the subject reference, what the person
                // wrote and who submitted it (when it was the person) are dropped.
                let submitted_by = match person {
                    Some(p) if row.submitted_by == super::person_label(p) => {
                        super::source::SUBMITTED_BY_SUBJECT.to_string()
                    }
                    _ => row.submitted_by.clone(),
                };
                request::Entity::update_many()
                    .col_expr(
                        request::Column::SubjectSealed,
                        Expr::value(Option::<Vec<u8>>::None),
                    )
                    .col_expr(
                        request::Column::DetailsSealed,
                        Expr::value(Option::<Vec<u8>>::None),
                    )
                    .col_expr(
                        request::Column::CodeHash,
                        Expr::value(Option::<String>::None),
                    )
                    .col_expr(request::Column::SubmittedBy, Expr::value(submitted_by))
                    .col_expr(
                        request::Column::Receipt,
                        Expr::value(Some(json_text(&receipt))),
                    )
                    .filter(request::Column::Id.eq(row.id))
                    .exec(scope.db())
                    .await?;
            }
            RequestKind::Restriction
            | RequestKind::Rectification
            | RequestKind::Objection
            | RequestKind::Concern => {}
        }
        if kind != RequestKind::Erasure
            && let Some(person) = person
        {
            self.tell(
                scope,
                person,
                "privacy.request_complete",
                "Your privacy request is complete",
                format!("Your {} request ({}) is complete.", kind.as_str(), row.id),
            )
            .await?;
        }
        set_status(scope, row.id, RequestStatus::Complete, now, Some(now)).await?;
        audit::record(
            scope,
            AuditEvent::new("privacy_request.completed")
                .subject(format!("privacy_request:{}", row.id))
                .detail(serde_json::json!({ "kind": kind.as_str(), "skipped": skipped })),
        )
        .await?;
        Ok(())
    }

    async fn store_result(
        &self,
        scope: &TenantScope,
        id: Uuid,
        result: &serde_json::Value,
    ) -> Result<(), PrivacyError> {
        let sealed = scope
            .keys()
            .seal_str(TABLE, "result", id, &json_text(result));
        request::Entity::update_many()
            .col_expr(request::Column::ResultSealed, Expr::value(Some(sealed)))
            .filter(request::Column::Id.eq(id))
            .exec(scope.db())
            .await?;
        Ok(())
    }
}

/// The pseudonymous subject reference a receipt names: the blind index of the person id,
/// hex (the person can show the receipt is theirs; nobody can read the id back from it).
fn subject_reference(_scope: &TenantScope, row: &request::Model) -> String {
    hex::encode(&row.subject_index)
}

pub(super) async fn mark_running(
    scope: &TenantScope,
    row: &request::Model,
    now: DateTime<Utc>,
) -> Result<(), PrivacyError> {
    if row.status != RequestStatus::InProgress.as_str() {
        set_status(scope, row.id, RequestStatus::InProgress, now, None).await?;
    }
    Ok(())
}

async fn set_status(
    scope: &TenantScope,
    id: Uuid,
    status: RequestStatus,
    now: DateTime<Utc>,
    completed_at: Option<DateTime<Utc>>,
) -> Result<(), PrivacyError> {
    request::Entity::update_many()
        .col_expr(request::Column::Status, Expr::value(status.as_str()))
        .col_expr(request::Column::CompletedAt, Expr::value(completed_at))
        .col_expr(request::Column::UpdatedAt, Expr::value(now))
        .filter(request::Column::Id.eq(id))
        .exec(scope.db())
        .await?;
    Ok(())
}

/// One source's work for one request kind, in the task's unit of work (an export's task
/// writes its parts a page per unit of work instead: [`super::export`]).
async fn run_task(
    scope: &TenantScope,
    source: &dyn PersonalDataSource,
    row: &request::Model,
    kind: RequestKind,
    subject: &DataSubject,
) -> Result<serde_json::Value, SourceError> {
    Ok(match kind {
        RequestKind::Access => {
            let summary = source.summary(scope, subject).await?;
            serde_json::json!({ "records": summary.records })
        }
        // Run a page per unit of work by [`Privacy::export_pages`], never here.
        RequestKind::Export => {
            return Err(format!("{}: an export task runs by pages", source.name()).into());
        }
        RequestKind::Erasure => serde_json::to_value(source.erase(scope, subject).await?)?,
        RequestKind::Restriction => serde_json::to_value(
            source
                .restrict(scope, subject, !row.lift_restriction)
                .await?,
        )?,
        RequestKind::Rectification | RequestKind::Objection | RequestKind::Concern => {
            serde_json::Value::Null
        }
    })
}

/// One source in the access summary (R1): what it holds, why, how long, who receives it,
/// and how many records of the person.
fn access_entry(
    source: &dyn PersonalDataSource,
    status: &str,
    outcome: serde_json::Value,
) -> serde_json::Value {
    let fields = source.fields();
    let mut categories: Vec<String> = Vec::new();
    let mut purposes: Vec<String> = Vec::new();
    let mut retention: Vec<String> = Vec::new();
    for f in &fields {
        for (list, value) in [
            (&mut categories, serde_json::to_value(f.category)),
            (&mut purposes, serde_json::to_value(f.purpose)),
            (&mut retention, serde_json::to_value(f.retention)),
        ] {
            if let Ok(serde_json::Value::String(text)) = value
                && !list.contains(&text)
            {
                list.push(text);
            }
        }
    }
    let mut entry = serde_json::json!({
        "source": source.name(),
        "status": status,
        "records": outcome.get("records").cloned().unwrap_or(serde_json::Value::Null),
        "categories": categories,
        "purposes": purposes,
        "retention": retention,
        "recipients": source.recipients(),
        "skipped_reason": (status == TaskStatus::Skipped.as_str())
            .then(|| outcome.get("reason").cloned())
            .flatten(),
    });
    mark_legal_obligation(&mut entry, &fields);
    entry
}

/// Every column where the live-schema scan ([`hub_tenant::subject_scan::scan_for_subject`])
/// finds the subject (R1): the counts the platform read itself rather than took from the
/// sources' word, each with the source that declares its table, and the tables no source
/// declares (`unclaimed`: never expected, the coverage test forbids them; shown if found).
fn schema_scan_section(
    sources: &[Arc<dyn PersonalDataSource>],
    scan: &[hub_tenant::subject_scan::Finding],
) -> serde_json::Value {
    let owner = |table: &str| {
        sources
            .iter()
            .find(|s| s.tables().contains(&table))
            .map(|s| s.name())
    };
    let found: Vec<serde_json::Value> = scan
        .iter()
        .map(|f| {
            serde_json::json!({
                "table": f.table,
                "column": f.column,
                "rows": f.rows,
                "source": owner(&f.table),
            })
        })
        .collect();
    let unclaimed: Vec<serde_json::Value> = scan
        .iter()
        .filter(|f| owner(&f.table).is_none())
        .map(|f| serde_json::json!({ "table": f.table, "column": f.column, "rows": f.rows }))
        .collect();
    serde_json::json!({ "found": found, "unclaimed": unclaimed })
}

/// Adds to a source's access entry what the live-schema scan found in its declared tables:
/// per table the most rows any one column names the subject in (a row naming them in two
/// columns counts once), their sum, and whether the source's own count agrees, that is
/// covers at least what the scan found (`null` for a source with no table, such as the
/// sessions in Redis, or whose task did not count). A source may count more than the scan
/// sees (rows found by their own id or by a sealed reference the scan cannot read), never
/// less.
fn add_schema_scan(
    entry: &mut serde_json::Value,
    source: &dyn PersonalDataSource,
    scan: &[hub_tenant::subject_scan::Finding],
) {
    let mut tables: BTreeMap<&str, u64> = BTreeMap::new();
    for f in scan
        .iter()
        .filter(|f| source.tables().contains(&f.table.as_str()))
    {
        let rows = tables.entry(f.table.as_str()).or_default();
        *rows = (*rows).max(f.rows);
    }
    let rows: u64 = tables.values().sum();
    let records = entry.get("records").and_then(serde_json::Value::as_u64);
    let agrees = match records {
        Some(records) if !source.tables().is_empty() => serde_json::Value::from(records >= rows),
        _ => serde_json::Value::Null,
    };
    if let serde_json::Value::Object(map) = entry {
        map.insert(
            "schema_scan".into(),
            serde_json::json!({
                "tables": tables
                    .iter()
                    .map(|(table, rows)| serde_json::json!({ "table": table, "rows": rows }))
                    .collect::<Vec<_>>(),
                "rows": rows,
                "agrees": agrees,
            }),
        );
    }
}

/// What a source's entry says of the data the law makes the institution keep (C9).
pub const LEGAL_OBLIGATION_NOTE: &str = "kept because a law requires it (C9): consent does not govern it, and an erasure request keeps what the law still requires, saying so in its receipt";

/// Adds to a source's entry (access summary, export manifest) whether it holds data kept
/// for a legal obligation (C9), which fields, and the note saying what that means.
fn mark_legal_obligation(entry: &mut serde_json::Value, fields: &[FieldClassification]) {
    let legal: Vec<serde_json::Value> = fields
        .iter()
        .filter(|f| f.purpose == Purpose::LegalObligation)
        .map(
            |f| serde_json::json!({ "table": f.table, "column": f.column, "category": f.category }),
        )
        .collect();
    if let serde_json::Value::Object(map) = entry {
        map.insert("legal_obligation".into(), (!legal.is_empty()).into());
        map.insert(
            "legal_obligation_note".into(),
            if legal.is_empty() {
                serde_json::Value::Null
            } else {
                LEGAL_OBLIGATION_NOTE.into()
            },
        );
        map.insert("legal_obligation_fields".into(), legal.into());
    }
}

/// One source in an export's manifest (R4): how many records its parts hold, and what the
/// access summary says of it (categories, purposes, retention, legal obligation).
fn manifest_entry(
    source: &dyn PersonalDataSource,
    outcome: serde_json::Value,
) -> serde_json::Value {
    let mut entry = access_entry(source, TaskStatus::Done.as_str(), outcome.clone());
    if let serde_json::Value::Object(map) = &mut entry {
        map.remove("status");
        map.remove("skipped_reason");
        map.insert(
            "parts".into(),
            outcome.get("parts").cloned().unwrap_or(0.into()),
        );
    }
    entry
}

/// One source in an erasure receipt: what was erased or anonymised, or kept and why.
fn receipt_entry(name: &str, status: &str, outcome: serde_json::Value) -> serde_json::Value {
    let (action, records, reason) = match (status, &outcome) {
        (s, o) if s == TaskStatus::Skipped.as_str() => (
            "kept",
            None,
            o.get("reason").and_then(|r| r.as_str()).map(str::to_string),
        ),
        (_, serde_json::Value::Object(map)) => match map.iter().next() {
            Some((action, detail)) => (
                match action.as_str() {
                    "deleted" => "deleted",
                    "anonymised" => "anonymised",
                    _ => "kept",
                },
                detail.get("records").and_then(|r| r.as_u64()),
                detail
                    .get("reason")
                    .and_then(|r| r.as_str())
                    .map(str::to_string),
            ),
            None => ("kept", None, None),
        },
        _ => ("kept", None, None),
    };
    serde_json::json!({ "source": name, "action": action, "records": records, "reason": reason })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipt_entries_say_what_was_erased_anonymised_or_kept_and_why() {
        let deleted = receipt_entry(
            "contacts",
            "done",
            serde_json::json!({"deleted": {"records": 2}}),
        );
        assert_eq!(deleted["action"], "deleted");
        assert_eq!(deleted["records"], 2);
        let anonymised = receipt_entry(
            "people",
            "done",
            serde_json::json!({"anonymised": {"records": 1}}),
        );
        assert_eq!(anonymised["action"], "anonymised");
        let kept = receipt_entry(
            "audit",
            "done",
            serde_json::json!({"not_applicable": {"reason": "security evidence"}}),
        );
        assert_eq!(kept["action"], "kept");
        assert_eq!(kept["reason"], "security evidence");
        let skipped = receipt_entry(
            "sessions",
            "skipped",
            serde_json::json!({"reason": "switched off"}),
        );
        assert_eq!(skipped["action"], "kept");
        assert_eq!(skipped["reason"], "switched off");
    }
}
