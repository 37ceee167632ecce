//! Deadlines inside tenants that the platform acts on when they pass (an access review's
//! end, an outbox message's next delivery attempt). Kept in the control plane so a periodic
//! sweep asks one indexed question ("what is due?") instead of visiting thousands of tenant
//! schemas.
//!
//! A due deadline is also the only way a job outside this crate gets a unit of work on a
//! tenant ([`Tenancy::job_scope`]): the scope is for that deadline's tenant and names the
//! deadline's kind as its purpose, so no caller can open a platform scope on a tenant of its
//! choosing.

use crate::Tenancy;
use crate::entities::deadline;
use crate::error::TenantError;
use crate::model::TenantLocation;
use crate::scope::TenantScope;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

/// A deadline that has passed, as read from the control plane. Only this crate makes one
/// (`non_exhaustive`), so holding one proves the deadline is due for that tenant.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DueDeadline {
    pub tenant_id: Uuid,
    pub kind: String,
    pub subject_id: Uuid,
    pub due_at: DateTime<Utc>,
}

impl Tenancy {
    pub async fn schedule_deadline(
        &self,
        scope: &TenantScope,
        kind: &str,
        subject_id: Uuid,
        due_at: DateTime<Utc>,
    ) -> Result<(), TenantError> {
        deadline::Entity::insert(deadline::ActiveModel {
            id: Set(Uuid::now_v7()),
            tenant_id: Set(scope.tenant_id()),
            kind: Set(kind.to_string()),
            subject_id: Set(subject_id),
            due_at: Set(due_at),
        })
        .exec_without_returning(self.plane().control())
        .await?;
        Ok(())
    }

    /// Up to `limit` deadlines due by now, oldest first.
    pub async fn due_deadlines(
        &self,
        kind: &str,
        limit: u64,
    ) -> Result<Vec<DueDeadline>, TenantError> {
        self.deadlines_due_by(kind, Utc::now(), limit).await
    }

    /// Up to `limit` deadlines of `kind` due by `at`, oldest first: for a kind scheduled on a
    /// clock of its own (the privacy requests' clock, which drills set ahead), read by the
    /// same clock. Never earlier than now: what is due now is due whatever the clock says.
    pub async fn deadlines_due_by(
        &self,
        kind: &str,
        at: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<DueDeadline>, TenantError> {
        Ok(deadline::Entity::find()
            .filter(deadline::Column::Kind.eq(kind))
            .filter(deadline::Column::DueAt.lte(at.max(Utc::now())))
            .order_by_asc(deadline::Column::DueAt)
            .limit(limit)
            .all(self.plane().control())
            .await?
            .into_iter()
            .map(|d| DueDeadline {
                tenant_id: d.tenant_id,
                kind: d.kind,
                subject_id: d.subject_id,
                due_at: d.due_at,
            })
            .collect())
    }

    /// Moves a pending deadline (a delivery to retry later); schedules it if it was gone.
    pub async fn reschedule_deadline(
        &self,
        tenant_id: Uuid,
        kind: &str,
        subject_id: Uuid,
        due_at: DateTime<Utc>,
    ) -> Result<(), TenantError> {
        let moved = deadline::Entity::update_many()
            .col_expr(deadline::Column::DueAt, Expr::value(due_at))
            .filter(deadline::Column::TenantId.eq(tenant_id))
            .filter(deadline::Column::Kind.eq(kind))
            .filter(deadline::Column::SubjectId.eq(subject_id))
            .exec(self.plane().control())
            .await?;
        if moved.rows_affected == 0 {
            deadline::Entity::insert(deadline::ActiveModel {
                id: Set(Uuid::now_v7()),
                tenant_id: Set(tenant_id),
                kind: Set(kind.to_string()),
                subject_id: Set(subject_id),
                due_at: Set(due_at),
            })
            .exec_without_returning(self.plane().control())
            .await?;
        }
        Ok(())
    }

    pub async fn clear_deadline(
        &self,
        tenant_id: Uuid,
        kind: &str,
        subject_id: Uuid,
    ) -> Result<(), TenantError> {
        deadline::Entity::delete_many()
            .filter(deadline::Column::TenantId.eq(tenant_id))
            .filter(deadline::Column::Kind.eq(kind))
            .filter(deadline::Column::SubjectId.eq(subject_id))
            .exec(self.plane().control())
            .await?;
        Ok(())
    }

    /// The unit of work of the job a due deadline calls for (an access review's expiry, a
    /// message's delivery): on the deadline's tenant only, naming the deadline's kind as its
    /// purpose. `None` when the tenant is gone or suspended: its deadlines wait.
    pub async fn job_scope(
        &self,
        deadline: &DueDeadline,
    ) -> Result<Option<TenantScope>, TenantError> {
        let tenant = match self.active_tenant(deadline.tenant_id).await {
            Ok(t) => t,
            Err(TenantError::NotFound(_) | TenantError::Suspended) => return Ok(None),
            Err(e) => return Err(e),
        };
        let location: TenantLocation = tenant.location;
        let scope = self.system_scope(&location).await?;
        Ok(Some(scope.for_job(&deadline.kind)))
    }
}

/// The platform's periodic jobs that visit every institution in turn (no deadline per
/// tenant): each names its purpose, as a deadline's kind names a due job's.
pub const PERIODIC_JOBS: &[&str] = &[
    "retention.sweep",
    "privacy.request_alerts",
    "course.reminders",
    "xapi.statement_targets",
    "billing.webhook_events",
    "billing.reconciliation",
    "billing.seat_usage",
    crate::reports::runs::JOB,
];

impl Tenancy {
    /// Every active institution's id, oldest first: what a periodic job visits.
    pub async fn active_tenant_ids(&self) -> Result<Vec<Uuid>, TenantError> {
        use crate::entities::tenant;
        Ok(tenant::Entity::find()
            .filter(tenant::Column::Status.eq(crate::model::TenantStatus::Active.as_str()))
            .order_by_asc(tenant::Column::Id)
            .all(self.plane().control())
            .await?
            .into_iter()
            .map(|t| t.id)
            .collect())
    }

    /// The unit of work of a periodic platform job (one of [`PERIODIC_JOBS`], the retention
    /// sweeper) on one institution, naming the job as its purpose. `None` when the tenant is
    /// gone or suspended (it is visited again once active). A purpose not in the list is
    /// refused, so the door stays one the platform's own jobs name.
    pub async fn periodic_job_scope(
        &self,
        tenant_id: Uuid,
        purpose: &'static str,
    ) -> Result<Option<TenantScope>, TenantError> {
        if !PERIODIC_JOBS.contains(&purpose) {
            return Err(TenantError::Conflict(format!(
                "{purpose} is not a periodic platform job"
            )));
        }
        let tenant = match self.active_tenant(tenant_id).await {
            Ok(t) => t,
            Err(TenantError::NotFound(_) | TenantError::Suspended) => return Ok(None),
            Err(e) => return Err(e),
        };
        let scope = self.system_scope(&tenant.location).await?;
        Ok(Some(scope.for_job(purpose)))
    }
}
