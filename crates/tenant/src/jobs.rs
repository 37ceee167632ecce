//! Background jobs with visible progress. Two so far, one per key a tenant rotates: after a
//! data-key rotation one re-seals the tenant's sealed values under the newest version,
//! across every column of the sealed-column registry ([`crate::reseal`]); after an index-key
//! rotation one re-indexes every blind index of the blind-index registry
//! ([`crate::reindex`]). Each then destroys the retired versions of its key.
//!
//! Progress lives in the control plane's jobs table. A job runs once across replicas: the
//! process running it holds a lease on its row ([`claim_lease`], one conditional UPDATE, the
//! same on PostgreSQL and SQLite), renewed with every batch and every second it waits, and
//! a process that loses its lease stops. A job whose process died stays `running` with a
//! lease that lapses; every process looks for such jobs at start and then periodically
//! ([`Tenancy::resume_jobs`]) and the one that takes the lapsed lease resumes it. The scan
//! skips values already on the active version, so resuming re-seals nothing twice and loses
//! nothing. Retired versions are destroyed
//! once no stored value references them and every replica's key cache has expired since
//! the rotation (until then another replica may still seal under the old version).

use crate::Tenancy;
use crate::entities::job;
use crate::error::TenantError;
use crate::keys::KeyPurpose;
use crate::model::{Scope, TenantLocation, TenantPrincipal};
use crate::{reindex, reseal};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use uuid::Uuid;

pub const KIND_REENCRYPT: &str = "key_rotation_reencrypt";
pub const KIND_REINDEX: &str = "index_key_rotation_reindex";

/// Which key a rotation job moves stored values off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JobKind {
    Reencrypt,
    Reindex,
}

impl JobKind {
    const ALL: [JobKind; 2] = [JobKind::Reencrypt, JobKind::Reindex];

    fn as_str(self) -> &'static str {
        match self {
            JobKind::Reencrypt => KIND_REENCRYPT,
            JobKind::Reindex => KIND_REINDEX,
        }
    }

    fn parse(kind: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == kind)
    }

    fn key(self) -> KeyPurpose {
        match self {
            JobKind::Reencrypt => KeyPurpose::Data,
            JobKind::Reindex => KeyPurpose::BlindIndex,
        }
    }

    fn audit_action(self) -> &'static str {
        match self {
            JobKind::Reencrypt => "encryption_keys.rotated",
            JobKind::Reindex => "blind_index_keys.rotated",
        }
    }
}
const STATE_RUNNING: &str = "running";
const STATE_SUCCEEDED: &str = "succeeded";
const STATE_FAILED: &str = "failed";
const BATCH: u64 = 200;
/// A running job not heard of for this long is taken to have died with its process.
const STALE_AFTER_SECS: i64 = 300;
/// How long a job's lease lasts unless renewed. Its holder renews it with every batch and
/// every second it waits, so only a holder that died (or hangs) lets it lapse.
const LEASE_SECS: i64 = 60;

/// How re-sealing jobs run: rows per batch, and (for kill drills) a number of batches after
/// which a job stops as if its process had died, leaving its row `running`.
pub(crate) struct ResealSettings {
    batch: AtomicU64,
    /// 0: never.
    stop_after_batches: AtomicU64,
    /// How many job runs the drill has stopped, so a drill knows when one has.
    abandoned: AtomicU64,
    /// How many jobs this process took over from a stopped one ([`Tenancy::resume_jobs`]).
    resumed: AtomicU64,
    /// This process, as the holder of the leases it takes.
    holder: Uuid,
}

impl Default for ResealSettings {
    fn default() -> Self {
        Self {
            batch: AtomicU64::new(BATCH),
            stop_after_batches: AtomicU64::new(0),
            abandoned: AtomicU64::new(0),
            resumed: AtomicU64::new(0),
            holder: Uuid::now_v7(),
        }
    }
}

/// How a job run ended without an error.
enum RunEnd {
    Finished,
    /// Stopped by the drill setting: recorded as nothing, like a crash.
    Abandoned,
    /// Another process holds the job's lease now (this one was too slow to renew it).
    LeaseLost,
}

/// Whether a lease is to be taken (free or lapsed) or renewed (held by this process).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lease {
    Take,
    Renew,
}

/// Takes or renews the lease on running job `id` for `holder`; returns whether it holds it
/// now. One conditional UPDATE: two processes taking the same lapsed lease at once cannot
/// both succeed (PostgreSQL re-checks the condition on the row the first one committed;
/// SQLite runs one writer at a time).
async fn claim_lease<C: ConnectionTrait>(
    control: &C,
    id: Uuid,
    holder: Uuid,
    lease: Lease,
) -> Result<bool, TenantError> {
    let now = Utc::now();
    let condition = match lease {
        Lease::Take => Condition::any()
            .add(job::Column::LeaseUntil.is_null())
            .add(job::Column::LeaseUntil.lt(now)),
        Lease::Renew => Condition::all().add(job::Column::LeaseHolder.eq(holder)),
    };
    let result = job::Entity::update_many()
        .col_expr(job::Column::LeaseHolder, Expr::value(Some(holder)))
        .col_expr(
            job::Column::LeaseUntil,
            Expr::value(Some(now + chrono::Duration::seconds(LEASE_SECS))),
        )
        .filter(job::Column::Id.eq(id))
        .filter(job::Column::State.eq(STATE_RUNNING))
        .filter(condition)
        .exec(control)
        .await?;
    Ok(result.rows_affected == 1)
}

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

/// A sealed store's failure, as a job records it.
fn store_error(name: &str, error: String) -> TenantError {
    TenantError::Io(std::io::Error::other(format!("{name}: {error}")))
}

impl Tenancy {
    /// Adds a data-key version and starts re-encrypting existing rows under it.
    pub async fn rotate_keys(
        self: &Arc<Self>,
        principal: &TenantPrincipal,
    ) -> Result<Rotation, TenantError> {
        self.rotate(principal, JobKind::Reencrypt).await
    }

    /// Adds a blind-index key version and starts re-indexing existing rows under it. Until
    /// the job ends, lookups match indexes under the old and the new version.
    pub async fn rotate_index_key(
        self: &Arc<Self>,
        principal: &TenantPrincipal,
    ) -> Result<Rotation, TenantError> {
        self.rotate(principal, JobKind::Reindex).await
    }

    /// Rows (re-indexable ones only, for `reindexable`) whose values are not yet under the
    /// active version of the key `kind` moves off.
    async fn count_stale(
        &self,
        scope: &crate::TenantScope,
        kind: JobKind,
        reindexable: bool,
    ) -> Result<u64, TenantError> {
        let keys = scope.keys();
        match kind {
            JobKind::Reencrypt => {
                let mut stale =
                    reseal::count_stale(scope, &self.sealed, keys.active_version()).await?;
                for store in self.sealed_stores() {
                    stale += store
                        .count_stale(scope.tenant_id(), keys.active_version())
                        .await
                        .map_err(|e| store_error(store.name(), e))?;
                }
                Ok(stale)
            }
            JobKind::Reindex => {
                reindex::count_stale(
                    scope,
                    &self.indexed,
                    keys.active_index_version(),
                    reindexable,
                )
                .await
            }
        }
    }

    async fn rotate(
        self: &Arc<Self>,
        principal: &TenantPrincipal,
        kind: JobKind,
    ) -> Result<Rotation, TenantError> {
        principal.require(Scope::TenantAdmin)?;
        let tenant = principal.tenant_id();
        let control = self.plane.control();
        let stale_before = Utc::now() - chrono::Duration::seconds(STALE_AFTER_SECS);
        // One rotation job of either kind at a time: a re-index reads the sealed values a
        // re-seal rewrites, under the key ring it holds.
        let running = job::Entity::find()
            .filter(job::Column::TenantId.eq(tenant))
            .filter(job::Column::Kind.is_in(JobKind::ALL.map(JobKind::as_str)))
            .filter(job::Column::State.eq(STATE_RUNNING))
            .filter(job::Column::UpdatedAt.gt(stale_before))
            .one(control)
            .await?;
        if running.is_some() {
            return Err(TenantError::RotationRunning);
        }
        let new_version = self.keys.rotate(tenant, kind.key()).await?;
        self.keys.forget(tenant);
        let scope = self.system_scope(&principal.location).await?;
        let total = self.count_stale(&scope, kind, true).await?;
        drop(scope);
        let now = Utc::now();
        let id = Uuid::now_v7();
        job::Entity::insert(job::ActiveModel {
            id: Set(id),
            tenant_id: Set(tenant),
            kind: Set(kind.as_str().to_string()),
            state: Set(STATE_RUNNING.to_string()),
            total: Set(total as i64),
            done: Set(0),
            error: Set(None),
            // Taken at creation: no other process can resume it while this one runs it.
            lease_holder: Set(Some(self.reseal.holder)),
            lease_until: Set(Some(now + chrono::Duration::seconds(LEASE_SECS))),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .exec_without_returning(control)
        .await?;
        let scope = self.scope(principal).await?;
        crate::audit::record(
            &scope,
            crate::audit::AuditEvent::new(kind.audit_action())
                .detail(serde_json::json!({ "new_version": new_version, "job_id": id })),
        )
        .await?;
        scope.commit().await?;
        self.spawn_job(principal.location.clone(), id, kind);
        let job = self.job_by_id(tenant, id).await?;
        Ok(Rotation { new_version, job })
    }

    /// Kill drills: re-seal `batch` rows at a time and stop every job after
    /// `stop_after_batches` batches that re-sealed something (0: never), as if the process
    /// had died: the progress stays recorded and the job stays `running`.
    pub fn set_reseal_drill(&self, batch: u64, stop_after_batches: u64) {
        self.reseal
            .batch
            .store(std::cmp::max(batch, 1), Ordering::Relaxed);
        self.reseal
            .stop_after_batches
            .store(stop_after_batches, Ordering::Relaxed);
    }

    /// How many job runs [`Self::set_reseal_drill`] has stopped in this process.
    pub fn jobs_stopped_by_drill(&self) -> u64 {
        self.reseal.abandoned.load(Ordering::Relaxed)
    }

    /// How many jobs this process has taken over from a stopped process since it started.
    pub fn jobs_resumed(&self) -> u64 {
        self.reseal.resumed.load(Ordering::Relaxed)
    }

    /// Shortens how long key rings are cached (see [`crate::keys::KeyStore::set_cache_ttl`]);
    /// a finished re-sealing job waits that long after the rotation before destroying the
    /// retired versions.
    pub fn set_key_cache_ttl(&self, ttl: std::time::Duration) {
        self.keys.set_cache_ttl(ttl);
    }

    /// Resumes every rotation job left `running` by a process that stopped: each whose
    /// lease this process takes (a lapsed one; a live lease means its holder still runs it).
    /// Returns how many this process resumed. Safe to call from every replica at any time.
    pub async fn resume_jobs(self: &Arc<Self>) -> Result<usize, TenantError> {
        let running = job::Entity::find()
            .filter(job::Column::Kind.is_in(JobKind::ALL.map(JobKind::as_str)))
            .filter(job::Column::State.eq(STATE_RUNNING))
            .all(self.plane.control())
            .await?;
        let mut resumed = 0;
        for row in running {
            let Some(kind) = JobKind::parse(&row.kind) else {
                continue;
            };
            if !claim_lease(
                self.plane.control(),
                row.id,
                self.reseal.holder,
                Lease::Take,
            )
            .await?
            {
                continue;
            }
            match self.tenant_location(row.tenant_id).await {
                Ok(location) => {
                    tracing::info!(job = %row.id, kind = row.kind, done = row.done, "resuming a key rotation job");
                    self.spawn_job(location, row.id, kind);
                    self.reseal.resumed.fetch_add(1, Ordering::Relaxed);
                    resumed += 1;
                }
                Err(e) => {
                    self.end_job(row.id, STATE_FAILED, Some(e.to_string()))
                        .await;
                }
            }
        }
        Ok(resumed)
    }

    fn spawn_job(self: &Arc<Self>, location: TenantLocation, id: Uuid, kind: JobKind) {
        let worker = self.clone();
        tokio::spawn(async move {
            let (state, error) = match worker.run_job(&location, id, kind).await {
                Ok(RunEnd::Finished) => (STATE_SUCCEEDED, None),
                Ok(RunEnd::Abandoned) => {
                    tracing::warn!(job = %id, "re-encryption job stopped by the kill drill");
                    worker.reseal.abandoned.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Ok(RunEnd::LeaseLost) => {
                    tracing::warn!(job = %id, "re-encryption job taken over by another process");
                    return;
                }
                Err(e) => (STATE_FAILED, Some(e.to_string())),
            };
            worker.end_job(id, state, error).await;
            tracing::info!(job = %id, state, "re-encryption job ended");
        });
    }

    async fn end_job(&self, id: Uuid, state: &str, error: Option<String>) {
        if let Err(e) = job::Entity::update_many()
            .col_expr(job::Column::State, Expr::value(state))
            .col_expr(job::Column::Error, Expr::value(error))
            .col_expr(job::Column::LeaseHolder, Expr::value(Option::<Uuid>::None))
            .col_expr(
                job::Column::LeaseUntil,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .col_expr(job::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(job::Column::Id.eq(id))
            .exec(self.plane.control())
            .await
        {
            tracing::error!(job = %id, error = %e, "could not record the end of a job");
        }
    }

    /// One pass over the tables `kind` works on: one batch of one table, then the next.
    async fn run_batch(
        &self,
        scope: &crate::TenantScope,
        kind: JobKind,
        table: usize,
        batch: u64,
    ) -> Result<Option<u64>, TenantError> {
        match kind {
            JobKind::Reencrypt => match reseal::by_table(&self.sealed).get(table) {
                Some(t) => reseal::reseal_batch(scope, t, batch).await.map(Some),
                None => Ok(None),
            },
            JobKind::Reindex => match reindex::by_table(&self.indexed, true).get(table) {
                Some(t) => reindex::reindex_batch(scope, t, batch).await.map(Some),
                None => Ok(None),
            },
        }
    }

    async fn run_job(
        &self,
        location: &TenantLocation,
        id: Uuid,
        kind: JobKind,
    ) -> Result<RunEnd, TenantError> {
        let tenant = location.tenant_id;
        let stop_after = self.reseal.stop_after_batches.load(Ordering::Relaxed);
        let mut batches = 0u64;
        // Move every value, wait out other replicas' caches, move what they wrote meanwhile,
        // and destroy the retired versions only when a final count finds nothing on them.
        loop {
            let mut table = 0;
            loop {
                if stop_after > 0 && batches >= stop_after {
                    return Ok(RunEnd::Abandoned);
                }
                let batch = self.reseal.batch.load(Ordering::Relaxed);
                let scope = self.system_scope(location).await?;
                let Some(count) = self.run_batch(&scope, kind, table, batch).await? else {
                    break;
                };
                scope.commit().await?;
                if count == 0 {
                    table += 1;
                    continue;
                }
                batches += 1;
                job::Entity::update_many()
                    .col_expr(
                        job::Column::Done,
                        Expr::col(job::Column::Done).add(count as i64),
                    )
                    .col_expr(job::Column::UpdatedAt, Expr::value(Utc::now()))
                    .filter(job::Column::Id.eq(id))
                    .exec(self.plane.control())
                    .await?;
                if !self.renew_lease(id).await? {
                    return Ok(RunEnd::LeaseLost);
                }
            }
            if kind == JobKind::Reencrypt {
                self.reseal_stores(tenant, id).await?;
            }
            let rotated_at = self.keys.rotated_at(tenant, kind.key()).await?;
            loop {
                let ttl = chrono::Duration::from_std(self.keys.cache_ttl())
                    .unwrap_or(chrono::Duration::MAX);
                let remaining = (rotated_at + ttl) - Utc::now();
                if remaining <= chrono::Duration::zero() {
                    break;
                }
                // Re-read the setting each second: a drill may shorten it meanwhile.
                let nap = remaining
                    .to_std()
                    .unwrap_or_default()
                    .min(std::time::Duration::from_secs(1));
                tokio::time::sleep(nap).await;
                if !self.renew_lease(id).await? {
                    return Ok(RunEnd::LeaseLost);
                }
            }
            // The ring may be stale from before the wait; read it again.
            self.keys.forget(tenant);
            let scope = self.system_scope(location).await?;
            let stale = self.count_stale(&scope, kind, true).await?;
            if stale > 0 {
                continue;
            }
            // Indexes whose value is not stored (an SSO link older than its sealed subject)
            // move only when the value is presented again; while any is left the retired
            // index key stays, so it is still found, and the next rotation's job destroys it.
            let unmovable = self.count_stale(&scope, kind, false).await?;
            drop(scope);
            if unmovable > 0 {
                tracing::info!(job = %id, rows = unmovable, "retired index-key versions kept: rows whose value is not stored still use them");
                return Ok(RunEnd::Finished);
            }
            let destroyed = self.keys.destroy_retired(tenant, kind.key()).await?;
            tracing::info!(job = %id, kind = kind.as_str(), destroyed, "retired key versions destroyed");
            return Ok(RunEnd::Finished);
        }
    }

    /// Re-seals the stores outside the tables ([`reseal::SealedStore`]) and counts them in
    /// the job's progress.
    async fn reseal_stores(&self, tenant: Uuid, id: Uuid) -> Result<(), TenantError> {
        let keys = self.key_ring(tenant).await?;
        for store in self.sealed_stores() {
            let count = store
                .reseal(&keys)
                .await
                .map_err(|e| store_error(store.name(), e))?;
            if count > 0 {
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
        Ok(())
    }

    async fn renew_lease(&self, id: Uuid) -> Result<bool, TenantError> {
        claim_lease(self.plane.control(), id, self.reseal.holder, Lease::Renew).await
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
