//! Alerts for requests due soon or overdue (R6, L1): the listings
//! (`GET /v1/privacy-requests?clock=…`) are what an officer's dashboard polls; this job also
//! tells them, so a request nobody looks at is not missed.
//!
//! A periodic platform job ([`JOB`], one of [`hub_tenant::deadlines::PERIODIC_JOBS`]) that
//! every replica runs (`Privacy::send_request_alerts`), visiting every active institution:
//! - **once across replicas**: per institution, one pass per [`EVERY_MINUTES`] is claimed by
//!   one conditional UPDATE of `privacy_alert_schedule` (`next_due_at <= now` → `now +
//!   every`), the retention schedule's mechanism: two replicas cannot both win it;
//! - **never twice**: an alert is one row of `privacy_request_alerts` per request and state
//!   (`due_soon`, `overdue`), inserted (on conflict nothing) in the same unit of work as the
//!   messages it reports, so a state is told once or, if the unit of work fails, not at all
//!   and again next pass;
//! - **to whom**: every privacy officer, or the tenant admins when there is none
//!   ([`hub_tenant::personal_data::SubjectDirectory::privacy_officers`], identity knows
//!   roles), one essential message each, naming the request's id, kind and due date only
//!   (nothing of the person it is about). With nobody to tell, nothing is recorded and the
//!   next pass tries again.
//!
//! The clock is [`Privacy::now`] (drills move it).

use super::entities::{alert, alert_schedule, request};
use super::{RequestStatus, clock};
use crate::{Privacy, PrivacyError};
use chrono::{DateTime, Duration, Utc};
use hub_tenant::personal_data::EssentialMessage;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

/// The platform job's name (the purpose of its units of work).
pub const JOB: &str = "privacy.request_alerts";
/// How often an institution's requests are looked at.
pub const EVERY_MINUTES: i64 = 60;
/// Requests alerted about per institution and pass (the rest next pass).
const BATCH: u64 = 500;
const SCHEDULE_ROW: i32 = 1;

/// A request's clock state an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertState {
    DueSoon,
    Overdue,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DueSoon => "due_soon",
            Self::Overdue => "overdue",
        }
    }
}

/// What one pass did.
#[derive(Debug, Clone, Default)]
pub struct AlertReport {
    /// Institutions whose pass this process claimed.
    pub tenants: usize,
    /// Alerts recorded (one per request and state).
    pub alerts: usize,
    /// Messages queued (one per alert and officer).
    pub messages: usize,
    /// Institutions whose pass failed, with why (tried again next pass).
    pub failed: Vec<(Uuid, String)>,
}

fn message(state: AlertState, id: Uuid, kind: &str, due_at: DateTime<Utc>) -> EssentialMessage {
    let due = due_at.format("%Y-%m-%d %H:%M UTC");
    match state {
        AlertState::DueSoon => EssentialMessage {
            kind: "privacy.request_due_soon",
            subject: "A privacy request is due soon".into(),
            body: format!(
                "Privacy request {id} ({kind}) is due on {due}, within {} days: \
                 GET /v1/privacy-requests/{id}",
                clock::DUE_SOON_DAYS
            ),
        },
        AlertState::Overdue => EssentialMessage {
            kind: "privacy.request_overdue",
            subject: "A privacy request is overdue".into(),
            body: format!(
                "Privacy request {id} ({kind}) is overdue: it was due on {due}. \
                 GET /v1/privacy-requests/{id}"
            ),
        },
    }
}

impl Privacy {
    /// One pass of the alert job across institutions (every replica calls it periodically;
    /// each institution's pass runs in one of them). An institution's failure is reported,
    /// not fatal.
    pub async fn send_request_alerts(&self) -> Result<AlertReport, PrivacyError> {
        let mut report = AlertReport::default();
        for tenant in self.tenancy.active_tenant_ids().await? {
            match self.alert_tenant(tenant, &mut report).await {
                Ok(()) => {}
                Err(error) => {
                    tracing::warn!(%tenant, %error, "privacy request alerts failed; retrying next pass");
                    report.failed.push((tenant, error.to_string()));
                }
            }
        }
        Ok(report)
    }

    async fn alert_tenant(
        &self,
        tenant: Uuid,
        report: &mut AlertReport,
    ) -> Result<(), PrivacyError> {
        let Some(scope) = self.tenancy.periodic_job_scope(tenant, JOB).await? else {
            return Ok(());
        };
        let now = self.now();
        alert_schedule::Entity::insert(alert_schedule::ActiveModel {
            id: Set(SCHEDULE_ROW),
            next_due_at: Set(DateTime::<Utc>::UNIX_EPOCH),
        })
        .on_conflict(
            OnConflict::column(alert_schedule::Column::Id)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(scope.db())
        .await?;
        let claimed = alert_schedule::Entity::update_many()
            .col_expr(
                alert_schedule::Column::NextDueAt,
                Expr::value(now + Duration::minutes(EVERY_MINUTES)),
            )
            .filter(alert_schedule::Column::Id.eq(SCHEDULE_ROW))
            .filter(alert_schedule::Column::NextDueAt.lte(now))
            .exec(scope.db())
            .await?;
        if claimed.rows_affected != 1 {
            // Another replica's (or not due): end the unit of work now (SQLite's write lock).
            scope.commit().await?;
            return Ok(());
        }
        report.tenants += 1;
        // Running clocks only: a request waiting for verification is paused, not due.
        let rows = request::Entity::find()
            .filter(
                request::Column::Status.is_not_in(
                    [
                        RequestStatus::IdentityUnverified,
                        RequestStatus::Denied,
                        RequestStatus::Complete,
                    ]
                    .map(RequestStatus::as_str),
                ),
            )
            .filter(request::Column::DueAt.lt(now + Duration::days(clock::DUE_SOON_DAYS)))
            .order_by_asc(request::Column::DueAt)
            .limit(BATCH)
            .all(scope.db())
            .await?;
        if rows.is_empty() {
            scope.commit().await?;
            return Ok(());
        }
        let officers = self
            .directory
            .privacy_officers(&scope)
            .await
            .map_err(|e| PrivacyError::source_failed("directory", &e))?;
        if officers.is_empty() {
            tracing::warn!(%tenant, requests = rows.len(), "privacy requests are due but the institution has no privacy officer or admin to alert");
            scope.commit().await?;
            return Ok(());
        }
        let mut alerted = Vec::new();
        for row in rows {
            let state = if row.due_at < now {
                AlertState::Overdue
            } else {
                AlertState::DueSoon
            };
            let recorded = alert::Entity::insert(alert::ActiveModel {
                request_id: Set(row.id),
                state: Set(state.as_str().into()),
                sent_at: Set(now),
                recipients: Set(officers.len() as i32),
            })
            .on_conflict(
                OnConflict::columns([alert::Column::RequestId, alert::Column::State])
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(scope.db())
            .await?;
            if recorded == 0 {
                continue;
            }
            for officer in &officers {
                self.messages
                    .send(
                        &scope,
                        *officer,
                        message(state, row.id, &row.kind, row.due_at),
                    )
                    .await
                    .map_err(|e| PrivacyError::source_failed("messages", &e))?;
                report.messages += 1;
            }
            report.alerts += 1;
            alerted.push(serde_json::json!({ "request_id": row.id, "state": state.as_str() }));
        }
        if !alerted.is_empty() {
            hub_tenant::audit::record(
                &scope,
                hub_tenant::audit::AuditEvent::new("privacy_request.alerts_sent")
                    .detail(serde_json::json!({ "alerts": alerted, "officers": officers.len() })),
            )
            .await?;
        }
        scope.commit().await?;
        Ok(())
    }
}
