//! Background jobs with visible progress. The one job so far re-encrypts a tenant's personal
//! data under its newest key version after a rotation.

use crate::Tenancy;
use crate::contacts;
use crate::entities::job;
use crate::error::TenantError;
use crate::model::{Scope, TenantLocation, TenantPrincipal};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, TransactionTrait};
use std::sync::Arc;
use uuid::Uuid;

pub const KIND_REENCRYPT: &str = "key_rotation_reencrypt";
const STATE_RUNNING: &str = "running";
const STATE_SUCCEEDED: &str = "succeeded";
const STATE_FAILED: &str = "failed";
const BATCH: u64 = 200;
/// A running job not heard of for this long is taken to have died with its process.
const STALE_AFTER_SECS: i64 = 300;

#[derive(Debug, Clone)]
pub struct JobInfo {
    pub id: Uuid,
    pub kind: String,
    pub state: String,
    pub total: i64,
    pub done: i64,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<job::Model> for JobInfo {
    fn from(j: job::Model) -> Self {
        Self {
            id: j.id,
            kind: j.kind,
            state: j.state,
            total: j.total,
            done: j.done,
            error: j.error,
            created_at: j.created_at,
            updated_at: j.updated_at,
        }
    }
}

/// The outcome of a rotation request: the new version and the job re-sealing old data.
#[derive(Debug, Clone)]
pub struct Rotation {
    pub new_version: i32,
    pub job: JobInfo,
}

impl Tenancy {
    /// Adds a data-key version and starts re-encrypting existing rows under it.
    pub async fn rotate_keys(
        self: &Arc<Self>,
        principal: &TenantPrincipal,
    ) -> Result<Rotation, TenantError> {
        principal.require(Scope::TenantAdmin)?;
        let tenant = principal.tenant_id();
        let control = self.plane.control();
        let stale_before = Utc::now() - chrono::Duration::seconds(STALE_AFTER_SECS);
        let running = job::Entity::find()
            .filter(job::Column::TenantId.eq(tenant))
            .filter(job::Column::Kind.eq(KIND_REENCRYPT))
            .filter(job::Column::State.eq(STATE_RUNNING))
            .filter(job::Column::UpdatedAt.gt(stale_before))
            .one(control)
            .await?;
        if running.is_some() {
            return Err(TenantError::RotationRunning);
        }
        let txn = control.begin().await?;
        let new_version = self.keys.rotate(&txn, tenant).await?;
        txn.commit().await?;
        self.keys.forget(tenant);
        let scope = self.system_scope(&principal.location).await?;
        let total = contacts::count_below_version(&scope, new_version).await?;
        drop(scope);
        let now = Utc::now();
        let id = Uuid::now_v7();
        job::Entity::insert(job::ActiveModel {
            id: Set(id),
            tenant_id: Set(tenant),
            kind: Set(KIND_REENCRYPT.to_string()),
            state: Set(STATE_RUNNING.to_string()),
            total: Set(total as i64),
            done: Set(0),
            error: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .exec_without_returning(control)
        .await?;
        let scope = self.scope(principal).await?;
        crate::audit::record(
            &scope,
            crate::audit::AuditEvent::new("encryption_keys.rotated")
                .detail(serde_json::json!({ "new_version": new_version, "job_id": id })),
        )
        .await?;
        scope.commit().await?;
        let worker = self.clone();
        let location = principal.location.clone();
        tokio::spawn(async move {
            let outcome = worker.run_reencryption(&location, id).await;
            let (state, error) = match &outcome {
                Ok(()) => (STATE_SUCCEEDED, None),
                Err(e) => (STATE_FAILED, Some(e.to_string())),
            };
            if let Err(e) = job::Entity::update_many()
                .col_expr(job::Column::State, Expr::value(state))
                .col_expr(job::Column::Error, Expr::value(error))
                .col_expr(job::Column::UpdatedAt, Expr::value(Utc::now()))
                .filter(job::Column::Id.eq(id))
                .exec(worker.plane.control())
                .await
            {
                tracing::error!(job = %id, error = %e, "could not record the end of a job");
            }
            tracing::info!(job = %id, state, "re-encryption job ended");
        });
        let job = self.job_by_id(tenant, id).await?;
        Ok(Rotation { new_version, job })
    }

    async fn run_reencryption(
        &self,
        location: &TenantLocation,
        id: Uuid,
    ) -> Result<(), TenantError> {
        loop {
            let scope = self.system_scope(location).await?;
            let count = contacts::reseal_batch(&scope, BATCH).await?;
            scope.commit().await?;
            if count == 0 {
                return Ok(());
            }
            job::Entity::update_many()
                .col_expr(
                    job::Column::Done,
                    Expr::col(job::Column::Done).add(count as i64),
                )
                .col_expr(job::Column::UpdatedAt, Expr::value(Utc::now()))
                .filter(job::Column::Id.eq(id))
                .exec(self.plane.control())
                .await?;
        }
    }

    pub async fn job(&self, principal: &TenantPrincipal, id: Uuid) -> Result<JobInfo, TenantError> {
        principal.require(Scope::TenantAdmin)?;
        self.job_by_id(principal.tenant_id(), id).await
    }

    async fn job_by_id(&self, tenant: Uuid, id: Uuid) -> Result<JobInfo, TenantError> {
        job::Entity::find_by_id(id)
            .filter(job::Column::TenantId.eq(tenant))
            .one(self.plane.control())
            .await?
            .map(JobInfo::from)
            .ok_or(TenantError::NotFound("job"))
    }
}
