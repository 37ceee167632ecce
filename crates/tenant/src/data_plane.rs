//! Where data rests: the storage topology behind every tenant scope.
//!
//! - **PostgreSQL** (production): one shared pool per cluster. Control-plane tables live in
//!   the `hub_control` schema, pinned as every pooled connection's default `search_path`. A
//!   tenant unit of work is a transaction that starts with `SET LOCAL search_path` to that
//!   tenant's schema; the setting dies with the transaction, so a returned connection is
//!   always back on `hub_control` and never points at a tenant (see STACK.md on the leak).
//!   One set of connections serves any number of tenants; a pool per tenant would not reach
//!   10,000. The connections are split into *lanes* (small pools), and a tenant's units of
//!   work run on one of two lanes chosen from its id (two choices: the less busy one). A
//!   PostgreSQL backend keeps catalog and plan caches for every schema it has touched and
//!   frees nothing while it lives; with lanes each backend touches about 2/lanes of the
//!   tenants instead of all of them, which bounds its memory and keeps its caches hot (see
//!   BENCHMARKS.md for the before/after).
//!   Tenant schemas can be spread over several clusters: the registry records each tenant's
//!   cluster (`tenants.cluster`), configuration maps cluster names to URLs, and a scope opens
//!   its transaction on the tenant's cluster. The control plane stays on `primary`.
//! - **SQLite** (embedded default): `control.db` plus one database file per tenant under the
//!   data directory, with a bounded cache of open per-tenant pools.

use crate::TenantError;
use crate::model::{SchemaName, TenantLocation};
use hub_migrations::{ControlPlaneMigrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, Statement, TransactionTrait,
};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;
use uuid::Uuid;

pub const CONTROL_SCHEMA: &str = "hub_control";
/// The cluster every tenant lives on until a directory of clusters is configured.
pub const PRIMARY_CLUSTER: &str = "primary";
const MAX_OPEN_TENANT_FILES: usize = 256;

#[derive(Debug, Clone)]
pub enum StorageConfig {
    Postgres {
        /// The primary cluster: control plane, and tenants placed on `primary`.
        url: String,
        /// Connections per cluster for tenant work, split evenly over the lanes.
        max_connections: u32,
        /// How many lanes (small pools) each cluster's connections are split into.
        lanes: u32,
        /// Further clusters by name, for tenant schemas only.
        clusters: Vec<(String, String)>,
        /// Where new tenants go unless the operator names a cluster.
        default_cluster: String,
    },
    Sqlite {
        data_dir: PathBuf,
    },
}

/// A valid cluster name: short, lower-case, usable in logs and configuration keys.
pub fn is_valid_cluster_name(name: &str) -> bool {
    (1..=40).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

pub struct DataPlane {
    backend: Backend,
}

enum Backend {
    Postgres {
        /// The control plane's own pool, on the primary cluster.
        control: DatabaseConnection,
        /// Every cluster's lanes by name, `primary` included.
        clusters: HashMap<String, Lanes>,
        default_cluster: String,
    },
    Sqlite {
        control: DatabaseConnection,
        data_dir: PathBuf,
        tenants: Mutex<HashMap<Uuid, (DatabaseConnection, Instant)>>,
    },
}

impl DataPlane {
    /// Connects and brings the control plane to the latest migration.
    pub async fn connect(config: &StorageConfig) -> Result<Self, DbErr> {
        let backend = match config {
            StorageConfig::Postgres {
                url,
                max_connections,
                lanes,
                clusters: extra,
                default_cluster,
            } => {
                let shape = LaneShape::new(*max_connections, *lanes);
                let control =
                    connect_postgres(url, LaneShape::control_connections(*max_connections), 1)
                        .await?;
                control
                    .execute_unprepared(&format!("CREATE SCHEMA IF NOT EXISTS {CONTROL_SCHEMA}"))
                    .await?;
                let mut clusters = HashMap::from([(
                    PRIMARY_CLUSTER.to_string(),
                    Lanes::connect(url, shape).await?,
                )]);
                for (name, url) in extra {
                    if !is_valid_cluster_name(name) || clusters.contains_key(name) {
                        return Err(DbErr::Custom(format!(
                            "cluster name `{name}` is invalid or repeated"
                        )));
                    }
                    clusters.insert(name.clone(), Lanes::connect(url, shape).await?);
                }
                if !clusters.contains_key(default_cluster) {
                    return Err(DbErr::Custom(format!(
                        "default cluster `{default_cluster}` is not configured"
                    )));
                }
                Backend::Postgres {
                    control,
                    clusters,
                    default_cluster: default_cluster.clone(),
                }
            }
            StorageConfig::Sqlite { data_dir } => {
                std::fs::create_dir_all(data_dir.join("tenants")).map_err(|e| {
                    DbErr::Custom(format!("cannot create {}: {e}", data_dir.display()))
                })?;
                let control = connect_sqlite(&data_dir.join("control.db")).await?;
                Backend::Sqlite {
                    control,
                    data_dir: data_dir.clone(),
                    tenants: Mutex::new(HashMap::new()),
                }
            }
        };
        let plane = Self { backend };
        ControlPlaneMigrator::up(plane.control(), None).await?;
        Ok(plane)
    }

    /// The control-plane connection: registry, credentials. Never tenant tables. Only this
    /// crate holds it; others reach their rows through [`crate::TenantControlRows`].
    pub(crate) fn control(&self) -> &DatabaseConnection {
        match &self.backend {
            Backend::Postgres { control, .. } | Backend::Sqlite { control, .. } => control,
        }
    }

    pub fn backend_name(&self) -> &'static str {
        match &self.backend {
            Backend::Postgres { .. } => "postgres",
            Backend::Sqlite { .. } => "sqlite",
        }
    }

    /// Every cluster answers (the control plane's first). A pooled connection the server
    /// ended is not an outage: such a failure is asked again once on a live connection, so
    /// readiness reports the database, not the pool's leftovers.
    pub async fn ping(&self) -> Result<(), DbErr> {
        ping_pool(self.control()).await?;
        if let Backend::Postgres { clusters, .. } = &self.backend {
            for (name, lanes) in clusters {
                ping_pool(lanes.any())
                    .await
                    .map_err(|e| DbErr::Custom(format!("cluster `{name}`: {e}")))?;
            }
        }
        Ok(())
    }

    /// Names of the clusters tenants can be placed on.
    pub fn cluster_names(&self) -> Vec<String> {
        match &self.backend {
            Backend::Postgres { clusters, .. } => {
                let mut names: Vec<String> = clusters.keys().cloned().collect();
                names.sort();
                names
            }
            Backend::Sqlite { .. } => vec![PRIMARY_CLUSTER.to_string()],
        }
    }

    /// The cluster new tenants are placed on unless the operator names one.
    pub fn default_cluster(&self) -> &str {
        match &self.backend {
            Backend::Postgres {
                default_cluster, ..
            } => default_cluster,
            Backend::Sqlite { .. } => PRIMARY_CLUSTER,
        }
    }

    /// The lanes of the cluster a tenant lives on.
    fn cluster_lanes(&self, location: &TenantLocation) -> Result<&Lanes, DbErr> {
        match &self.backend {
            Backend::Postgres { clusters, .. } => {
                clusters.get(&location.cluster).ok_or_else(|| {
                    DbErr::Custom(format!(
                        "tenant {} lives on cluster `{}`, which this gateway has no configuration for",
                        location.tenant_id, location.cluster
                    ))
                })
            }
            Backend::Sqlite { .. } => Err(DbErr::Custom("not a PostgreSQL data plane".into())),
        }
    }

    /// Opens a transaction whose every statement runs against the tenant's tables only.
    pub(crate) async fn begin_tenant(
        &self,
        location: &TenantLocation,
        access: Access,
    ) -> Result<TenantTxn, DbErr> {
        match &self.backend {
            Backend::Postgres { .. } => {
                let (pool, ticket) = self.cluster_lanes(location)?.for_tenant(location.tenant_id);
                let txn = begin_pinned(pool, &location.schema, access).await?;
                Ok(TenantTxn::new(txn, ticket).ended_by_drop(access == Access::ReadOnly))
            }
            Backend::Sqlite { .. } => {
                // Read-only is enforced by PostgreSQL only; every API test runs on both, so a
                // write slipped into a read scope fails there.
                let pool = self.sqlite_tenant_pool(location, false).await?;
                // A unit of work that may write takes the write lock at BEGIN (IMMEDIATE), so
                // it waits for another writer (busy timeout) instead of failing when it reads
                // first and a concurrent commit (a request, the mail sender) makes its
                // snapshot stale (SQLITE_BUSY_SNAPSHOT, which no timeout retries).
                let txn = match access {
                    Access::ReadOnly => pool.begin().await?,
                    Access::ReadWrite => {
                        pool.begin_with_options(sea_orm::TransactionOptions {
                            sqlite_transaction_mode: Some(
                                sea_orm::SqliteTransactionMode::Immediate,
                            ),
                            ..Default::default()
                        })
                        .await?
                    }
                };
                Ok(TenantTxn::new(txn, LaneTicket::none()))
            }
        }
    }

    async fn sqlite_tenant_pool(
        &self,
        location: &TenantLocation,
        create: bool,
    ) -> Result<DatabaseConnection, DbErr> {
        let Backend::Sqlite {
            data_dir, tenants, ..
        } = &self.backend
        else {
            return Err(DbErr::Custom("not an embedded data plane".into()));
        };
        let mut open = tenants.lock().await;
        if let Some((pool, used)) = open.get_mut(&location.tenant_id) {
            *used = Instant::now();
            return Ok(pool.clone());
        }
        let path = tenant_file(data_dir, &location.schema);
        if !create && !path.exists() {
            return Err(DbErr::Custom(format!(
                "tenant storage {} is missing",
                location.schema.as_str()
            )));
        }
        if open.len() >= MAX_OPEN_TENANT_FILES {
            let oldest = open
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(id, _)| *id);
            if let Some((pool, _)) = oldest.and_then(|id| open.remove(&id)) {
                let _ = pool.close().await;
            }
        }
        let pool = connect_sqlite(&path).await?;
        open.insert(location.tenant_id, (pool.clone(), Instant::now()));
        Ok(pool)
    }

    /// Creates the tenant's schema (or file) and returns a transaction pinned to it, in which
    /// the caller runs the tenant migrations. When the tenant lives on the primary cluster
    /// the same transaction also takes the registry rows, so provisioning commits or
    /// vanishes as one; elsewhere the caller undoes the schema if registration fails.
    pub(crate) async fn begin_provisioning(
        &self,
        location: &TenantLocation,
    ) -> Result<TenantTxn, DbErr> {
        match &self.backend {
            Backend::Postgres { .. } => {
                let (pool, ticket) = self.cluster_lanes(location)?.for_tenant(location.tenant_id);
                let txn = pool.begin().await?;
                txn.execute_unprepared(&format!("CREATE SCHEMA {}", location.schema.quoted()))
                    .await?;
                pin_search_path(&txn, &location.schema, Access::ReadWrite).await?;
                Ok(TenantTxn::new(txn, ticket))
            }
            Backend::Sqlite { .. } => {
                let pool = self.sqlite_tenant_pool(location, true).await?;
                Ok(TenantTxn::new(pool.begin().await?, LaneTicket::none()))
            }
        }
    }

    /// Points a provisioning transaction back at the control plane (PostgreSQL only; on
    /// SQLite the control plane is another file and the caller uses [`Self::control`]).
    pub(crate) async fn return_to_control(&self, txn: &DatabaseTransaction) -> Result<(), DbErr> {
        if let Backend::Postgres { .. } = &self.backend {
            txn.execute_unprepared(&format!("SET LOCAL search_path TO {CONTROL_SCHEMA}"))
                .await?;
        }
        Ok(())
    }

    pub(crate) fn provisioning_is_one_transaction(&self, location: &TenantLocation) -> bool {
        matches!(self.backend, Backend::Postgres { .. }) && location.cluster == PRIMARY_CLUSTER
    }

    /// Drops the tenant's schema or deletes its file. Idempotent.
    pub(crate) async fn drop_tenant_storage(&self, location: &TenantLocation) -> Result<(), DbErr> {
        match &self.backend {
            Backend::Postgres { .. } => {
                self.cluster_lanes(location)?
                    .any()
                    .execute_unprepared(&format!(
                        "DROP SCHEMA IF EXISTS {} CASCADE",
                        location.schema.quoted()
                    ))
                    .await?;
            }
            Backend::Sqlite {
                data_dir, tenants, ..
            } => {
                if let Some((pool, _)) = tenants.lock().await.remove(&location.tenant_id) {
                    let _ = pool.close().await;
                }
                let path = tenant_file(data_dir, &location.schema);
                for suffix in ["", "-wal", "-shm"] {
                    let file = PathBuf::from(format!("{}{suffix}", path.display()));
                    match std::fs::remove_file(&file) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => {
                            return Err(DbErr::Custom(format!("cannot delete tenant file: {e}")));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether the tenant's schema or file exists (used by tests and offboarding checks).
    pub async fn tenant_storage_exists(&self, location: &TenantLocation) -> Result<bool, DbErr> {
        match &self.backend {
            Backend::Postgres { .. } => {
                let row = self
                    .cluster_lanes(location)?
                    .any()
                    .query_one_raw(Statement::from_sql_and_values(
                        DbBackend::Postgres,
                        "SELECT count(*)::bigint AS n FROM pg_namespace WHERE nspname = $1",
                        [location.schema.as_str().into()],
                    ))
                    .await?;
                let n: i64 = row.map(|r| r.try_get("", "n")).transpose()?.unwrap_or(0);
                Ok(n > 0)
            }
            Backend::Sqlite { data_dir, .. } => {
                Ok(tenant_file(data_dir, &location.schema).exists())
            }
        }
    }
}

/// How one cluster's connections are split.
#[derive(Debug, Clone, Copy)]
struct LaneShape {
    lanes: u32,
    per_lane: u32,
}

impl LaneShape {
    /// At least two connections per lane, so a tenant's two lanes hold four.
    fn new(max_connections: u32, lanes: u32) -> Self {
        let lanes = lanes.clamp(1, (max_connections / 2).max(1));
        Self {
            lanes,
            per_lane: (max_connections / lanes).max(1),
        }
    }

    /// The control plane's own pool: registry, keys and credentials are read once and cached,
    /// so it needs a few connections, not a lane's worth.
    fn control_connections(max_connections: u32) -> u32 {
        (max_connections / 8).clamp(2, 8)
    }
}

/// One cluster's tenant connections, as `lanes` small pools.
struct Lanes {
    lanes: Vec<Lane>,
    per_lane: usize,
    /// Where the search for a lane with a free connection starts, rotating.
    next: AtomicUsize,
}

struct Lane {
    pool: DatabaseConnection,
    /// Units of work holding or waiting for one of this lane's connections.
    load: Arc<AtomicUsize>,
}

impl Lanes {
    /// Lazy: a lane opens connections when first used, so an idle gateway holds few.
    async fn connect(url: &str, shape: LaneShape) -> Result<Self, DbErr> {
        let mut lanes = Vec::with_capacity(shape.lanes as usize);
        for _ in 0..shape.lanes {
            let mut options = postgres_options(url, shape.per_lane, 0);
            options.connect_lazy(true);
            lanes.push(Lane {
                pool: Database::connect(options).await?,
                load: Arc::new(AtomicUsize::new(0)),
            });
        }
        Ok(Self {
            lanes,
            per_lane: shape.per_lane as usize,
            next: AtomicUsize::new(0),
        })
    }

    fn any(&self) -> &DatabaseConnection {
        &self.lanes[0].pool
    }

    /// The less loaded of the tenant's two lanes (power of two choices), so each lane serves
    /// about 2/lanes of the tenants. When both would make it wait, the work moves to the
    /// least loaded lane if that one has a free connection or a queue shorter by at least a
    /// lane's connections: a busy tenant borrows idle capacity and no queue grows long behind
    /// one hot tenant, while under even load work stays on its own lanes and their caches.
    fn for_tenant(&self, tenant: Uuid) -> (&DatabaseConnection, LaneTicket) {
        let (first, second) = lane_pair(tenant, self.lanes.len());
        let load = |i: usize| self.lanes[i].load.load(Ordering::Relaxed);
        let (first_load, second_load) = (load(first), load(second));
        let (mut pick, own_load) = if second_load < first_load {
            (second, second_load)
        } else {
            (first, first_load)
        };
        if own_load >= self.per_lane {
            let n = self.lanes.len();
            let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
            let (least, least_load) = (0..n)
                .map(|k| (start + k) % n)
                .map(|i| (i, load(i)))
                .min_by_key(|&(_, l)| l)
                .unwrap_or((pick, own_load));
            if least_load < self.per_lane || least_load + self.per_lane <= own_load {
                pick = least;
            }
        }
        let lane = &self.lanes[pick];
        lane.load.fetch_add(1, Ordering::Relaxed);
        (&lane.pool, LaneTicket(Some(lane.load.clone())))
    }
}

/// A unit of work's place in its lane, given back when the transaction ends.
pub(crate) struct LaneTicket(Option<Arc<AtomicUsize>>);

impl LaneTicket {
    fn none() -> Self {
        Self(None)
    }
}

impl Drop for LaneTicket {
    fn drop(&mut self) {
        if let Some(load) = &self.0 {
            load.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// What a unit of work may do to the tenant's tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    ReadWrite,
    /// A `READ ONLY` transaction: PostgreSQL refuses any write in it, and it ends without a
    /// round trip of its own (see [`TenantTxn::commit`]).
    ReadOnly,
}

/// A tenant's transaction together with its lane ticket, so the lane counts it until it ends.
pub(crate) struct TenantTxn {
    txn: DatabaseTransaction,
    _ticket: LaneTicket,
    end_by_drop: bool,
}

impl TenantTxn {
    fn new(txn: DatabaseTransaction, ticket: LaneTicket) -> Self {
        Self {
            txn,
            _ticket: ticket,
            end_by_drop: false,
        }
    }

    fn ended_by_drop(mut self, yes: bool) -> Self {
        self.end_by_drop = yes;
        self
    }

    pub(crate) fn db(&self) -> &DatabaseTransaction {
        &self.txn
    }

    /// Ends the unit of work. A read-only PostgreSQL transaction has nothing to commit, so
    /// it is dropped instead: sea-orm queues its ROLLBACK, and the pool sends it together with
    /// the liveness check it runs on every returned connection, in a background task. The
    /// caller answers without waiting a round trip for it.
    pub(crate) async fn commit(self) -> Result<(), DbErr> {
        if self.end_by_drop {
            drop(self);
            return Ok(());
        }
        self.txn.commit().await
    }
}

/// Two distinct lanes for a tenant (one when there is one lane), fixed by its id.
fn lane_pair(tenant: Uuid, lanes: usize) -> (usize, usize) {
    if lanes <= 1 {
        return (0, 0);
    }
    let bits = tenant.as_u128();
    // Mix both halves so that ids differing in any bits spread over the lanes.
    let h = ((bits as u64) ^ ((bits >> 64) as u64)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let first = ((h >> 32) % lanes as u64) as usize;
    let step = 1 + ((h & 0xFFFF_FFFF) % (lanes as u64 - 1)) as usize;
    (first, (first + step) % lanes)
}

fn postgres_options(url: &str, max_connections: u32, min_connections: u32) -> ConnectOptions {
    let mut options = ConnectOptions::new(url.to_string());
    options
        .max_connections(max_connections)
        .min_connections(min_connections)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        // sqlx pings a connection on every checkout by default: a round trip in front of
        // every request. It already pings each connection when it comes back to the pool, so
        // only one that has sat idle long enough for a server or firewall to drop it is
        // checked again before use.
        .test_before_acquire_if_idle_for(Duration::from_secs(30))
        // Bounds each backend's catalog cache, which grows with every tenant schema a
        // connection touches.
        .max_lifetime(Duration::from_secs(30 * 60))
        .sqlx_logging(false)
        // Outside a tenant scope the path names only the control schema (absent on the other
        // clusters), so an unscoped tenant query fails instead of finding some tenant's table.
        .set_schema_search_path(CONTROL_SCHEMA);
    options
}

async fn connect_postgres(
    url: &str,
    max_connections: u32,
    min_connections: u32,
) -> Result<DatabaseConnection, DbErr> {
    Database::connect(postgres_options(url, max_connections, min_connections)).await
}

/// Opens a transaction on `pool` pinned to the tenant's schema.
///
/// A pooled connection the server has ended (restart, failover, `pg_terminate_backend`)
/// fails here, at BEGIN or the search path, before any of the caller's statements: opening
/// the unit of work again cannot repeat a write, so this holds for read and write scopes
/// alike. It is opened again once, after the dead idle connections are closed, on one that
/// has just answered or a new one; a second failure is the database being down, and the
/// caller answers 503. Work that fails later, inside the unit of work, is not repeated here:
/// a write may have reached the database.
async fn begin_pinned(
    pool: &DatabaseConnection,
    schema: &SchemaName,
    access: Access,
) -> Result<DatabaseTransaction, DbErr> {
    match begin_pinned_once(pool, schema, access).await {
        Err(e) if TenantError::connection_lost(&e) => {
            tracing::warn!(error = %e, "a pooled connection was dead; opening the unit of work again");
            discard_dead_idle_connections(pool).await;
            begin_pinned_once(pool, schema, access).await
        }
        other => other,
    }
}

async fn begin_pinned_once(
    pool: &DatabaseConnection,
    schema: &SchemaName,
    access: Access,
) -> Result<DatabaseTransaction, DbErr> {
    let txn = pool.begin().await?;
    pin_search_path(&txn, schema, access).await?;
    Ok(txn)
}

async fn ping_pool(pool: &DatabaseConnection) -> Result<(), DbErr> {
    match pool.execute_unprepared("SELECT 1").await {
        Err(e) if TenantError::connection_lost(&e) => {
            discard_dead_idle_connections(pool).await;
            pool.execute_unprepared("SELECT 1").await.map(|_| ())
        }
        other => other.map(|_| ()),
    }
}

/// After one pooled connection turned out dead, its idle siblings were most likely ended by
/// the same event (a server restart ends them all): checks each idle connection once and
/// closes the dead ones, so the next checkout gets a live connection or opens a new one.
/// PostgreSQL only (SQLite files do not go away under a pool).
async fn discard_dead_idle_connections(pool: &DatabaseConnection) {
    use sea_orm::sqlx::Connection;
    if pool.get_database_backend() != DbBackend::Postgres {
        return;
    }
    let pg = pool.get_postgres_connection_pool();
    // Held until the sweep ends, so each idle connection is checked once, not taken again.
    let mut live = Vec::new();
    for _ in 0..pg.num_idle() {
        let Some(mut conn) = pg.try_acquire() else {
            break;
        };
        if conn.ping().await.is_ok() {
            live.push(conn);
        } else {
            conn.close_on_drop();
        }
    }
}

async fn pin_search_path(
    txn: &DatabaseTransaction,
    schema: &SchemaName,
    access: Access,
) -> Result<(), DbErr> {
    // SET LOCAL: scoped to this transaction, so the pooled connection cannot keep it. Both
    // settings go in one simple-query message: one round trip.
    let path = format!("SET LOCAL search_path TO {}", schema.quoted());
    let sql = match access {
        Access::ReadWrite => path,
        Access::ReadOnly => format!("SET TRANSACTION READ ONLY; {path}"),
    };
    txn.execute_unprepared(&sql).await.map(|_| ())
}

fn tenant_file(data_dir: &Path, schema: &SchemaName) -> PathBuf {
    data_dir
        .join("tenants")
        .join(format!("{}.db", schema.as_str()))
}

async fn connect_sqlite(path: &Path) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(format!("sqlite://{}?mode=rwc", path.display()));
    options
        .max_connections(4)
        .min_connections(0)
        .sqlx_logging(false);
    let pool = Database::connect(options).await?;
    // WAL lets readers proceed while one writer commits; busy_timeout waits for that writer.
    pool.execute_unprepared("PRAGMA journal_mode=WAL").await?;
    pool.execute_unprepared("PRAGMA busy_timeout=5000").await?;
    Ok(pool)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test PostgreSQL, or `None` when a test outside CI may skip (see
    /// `hub_kernel::testing`).
    fn test_database_url() -> Option<String> {
        hub_kernel::testing::required_service("HUB_TEST_DATABASE_URL", "PostgreSQL")
    }

    /// Ends every backend of `pids` from another connection, as a restart would.
    async fn terminate(admin: &DatabaseConnection, pids: &[i32]) {
        for pid in pids {
            admin
                .execute_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT pg_terminate_backend($1)",
                    [(*pid).into()],
                ))
                .await
                .expect("terminate");
        }
        // The backends exit on their own time: wait until they are gone (bounded).
        for _ in 0..500 {
            let left = admin
                .query_one_raw(Statement::from_string(
                    DbBackend::Postgres,
                    format!(
                        "SELECT count(*)::bigint AS n FROM pg_stat_activity WHERE pid IN ({})",
                        pids.iter()
                            .map(i32::to_string)
                            .collect::<Vec<_>>()
                            .join(",")
                    ),
                ))
                .await
                .expect("pg_stat_activity")
                .expect("a row")
                .try_get::<i64>("", "n")
                .expect("a count");
            if left == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("backends {pids:?} did not exit");
    }

    /// Waits until the pool holds `n` idle connections (they come back in the background).
    async fn until_idle(pool: &DatabaseConnection, n: usize) {
        let pg = pool.get_postgres_connection_pool();
        for _ in 0..500 {
            if pg.num_idle() == n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{} idle connections, not {n}", pg.num_idle());
    }

    async fn backend_pid(txn: &DatabaseTransaction) -> i32 {
        txn.query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT pg_backend_pid() AS pid",
        ))
        .await
        .expect("pid")
        .expect("a row")
        .try_get("", "pid")
        .expect("an int")
    }

    /// Every idle connection of a lane ended by the server (as by a restart): the next unit
    /// of work still opens, on a live connection, for a read and for a write scope; and the
    /// error a dead connection gives is classified as storage unavailable and lost.
    #[tokio::test]
    async fn a_unit_of_work_opens_on_a_live_connection_after_the_server_ended_the_pooled_ones() {
        let Some(url) = test_database_url() else {
            return;
        };
        let admin = Database::connect(postgres_options(&url, 1, 0))
            .await
            .expect("PostgreSQL answers");
        let schema = SchemaName::for_tenant(Uuid::now_v7());
        admin
            .execute_unprepared(&format!("CREATE SCHEMA {}", schema.quoted()))
            .await
            .expect("test schema");
        let pool = Database::connect(postgres_options(&url, 2, 0))
            .await
            .expect("PostgreSQL answers");
        for access in [Access::ReadOnly, Access::ReadWrite] {
            // Two connections in the pool, both idle once these two units of work end.
            let (a, b) = (
                begin_pinned(&pool, &schema, access).await.expect("first"),
                begin_pinned(&pool, &schema, access).await.expect("second"),
            );
            let pids = [backend_pid(&a).await, backend_pid(&b).await];
            a.commit().await.expect("end");
            b.commit().await.expect("end");
            until_idle(&pool, 2).await;
            terminate(&admin, &pids).await;

            // Without the retry and the sweep, both idle connections would fail in turn.
            let txn = begin_pinned(&pool, &schema, access)
                .await
                .expect("opens on a live connection");
            assert!(!pids.contains(&backend_pid(&txn).await), "a new backend");
            txn.commit().await.expect("end");
        }

        // The raw shape of the failure: a statement on a connection the server ended.
        let one = Database::connect(postgres_options(&url, 1, 0))
            .await
            .expect("PostgreSQL answers");
        let txn = one.begin().await.expect("begin");
        let pid = backend_pid(&txn).await;
        terminate(&admin, &[pid]).await;
        let error = txn
            .execute_unprepared("SELECT 1")
            .await
            .expect_err("the backend is gone");
        assert!(TenantError::storage_unavailable(&error), "{error:?}");
        assert!(TenantError::connection_lost(&error), "{error:?}");
        drop(txn);

        admin
            .execute_unprepared(&format!("DROP SCHEMA {} CASCADE", schema.quoted()))
            .await
            .expect("cleanup");
    }

    #[test]
    fn a_tenant_gets_two_distinct_lanes_and_tenants_spread_evenly() {
        let lanes = 8;
        let mut per_lane = vec![0usize; lanes];
        for _ in 0..8_000 {
            let (a, b) = lane_pair(Uuid::new_v4(), lanes);
            assert_ne!(a, b);
            assert!(a < lanes && b < lanes);
            per_lane[a] += 1;
            per_lane[b] += 1;
        }
        // Each lane serves about 2/8 of 8,000 tenants (2,000); allow for chance.
        for count in per_lane {
            assert!((1_700..2_300).contains(&count), "lane load {count}");
        }
        let tenant = Uuid::new_v4();
        assert_eq!(
            lane_pair(tenant, lanes),
            lane_pair(tenant, lanes),
            "fixed per tenant"
        );
        assert_eq!(lane_pair(tenant, 1), (0, 0));
    }

    /// A tenant's work goes to the less loaded of its two lanes, and leaves them only for a
    /// free connection or a queue shorter by a lane's worth.
    #[tokio::test]
    async fn work_goes_to_the_less_loaded_of_two_lanes_and_leaves_them_only_to_avoid_a_long_wait() {
        // Lazy pools: nothing connects, only the choice is under test.
        let lanes = Lanes::connect("postgres://nobody@127.0.0.1:1/none", LaneShape::new(8, 4))
            .await
            .expect("lazy pools");
        assert_eq!((lanes.lanes.len(), lanes.per_lane), (4, 2));
        let tenant = Uuid::new_v4();
        let (a, b) = lane_pair(tenant, 4);
        let lane_of = |ticket: &LaneTicket| {
            let load = ticket.0.as_ref().expect("a lane");
            lanes
                .lanes
                .iter()
                .position(|l| Arc::ptr_eq(&l.load, load))
                .expect("one of the lanes")
        };
        let mut held = Vec::new();
        for expected in [a, b, a, b] {
            let (_, ticket) = lanes.for_tenant(tenant);
            assert_eq!(lane_of(&ticket), expected);
            held.push(ticket);
        }
        // Both of its lanes now hold two units of work, their connection count.
        let (_, borrowed) = lanes.for_tenant(tenant);
        let other = lane_of(&borrowed);
        assert!(other != a && other != b, "borrowed a free lane");
        held.push(borrowed);
        // Fill every lane to its connection count: all work waits now, and an even wait
        // keeps the tenant on its own lanes.
        for (i, lane) in lanes.lanes.iter().enumerate() {
            while lane.load.load(Ordering::Relaxed) < 2 {
                lane.load.fetch_add(1, Ordering::Relaxed);
                held.push(LaneTicket(Some(lanes.lanes[i].load.clone())));
            }
        }
        let (_, waiting) = lanes.for_tenant(tenant);
        assert!([a, b].contains(&lane_of(&waiting)), "stays on its lanes");
        held.push(waiting);
        // Its lanes' queues grow a lane's worth longer than the shortest: the work moves.
        // (own lanes 3 and 2 after the wait above; four more bring both to 4 = 2 + 2)
        for _ in 0..3 {
            let (_, ticket) = lanes.for_tenant(tenant);
            assert!(
                [a, b].contains(&lane_of(&ticket)),
                "still within a lane's worth"
            );
            held.push(ticket);
        }
        let (_, moved) = lanes.for_tenant(tenant);
        assert!(![a, b].contains(&lane_of(&moved)), "moved off a long queue");
        held.push(moved);
        held.clear();
        for lane in &lanes.lanes {
            assert_eq!(lane.load.load(Ordering::Relaxed), 0, "tickets given back");
        }
        let (_, ticket) = lanes.for_tenant(tenant);
        assert_eq!(
            lane_of(&ticket),
            a,
            "back on its own lanes once they are free"
        );
    }

    #[test]
    fn lane_shape_keeps_two_connections_per_lane() {
        let shape = LaneShape::new(32, 16);
        assert_eq!((shape.lanes, shape.per_lane), (16, 2));
        let shape = LaneShape::new(32, 8);
        assert_eq!((shape.lanes, shape.per_lane), (8, 4));
        let shape = LaneShape::new(8, 8);
        assert_eq!((shape.lanes, shape.per_lane), (4, 2));
        let shape = LaneShape::new(1, 8);
        assert_eq!((shape.lanes, shape.per_lane), (1, 1));
        assert_eq!(LaneShape::control_connections(32), 4);
        assert_eq!(LaneShape::control_connections(8), 2);
    }

    /// A read scope refuses writes, and ending it without a COMMIT leaves the connection
    /// clean for the next tenant: out of any transaction, the search path back to the control
    /// schema. One connection in the pool, so the second unit of work gets the same one.
    #[tokio::test]
    async fn promise_d1_a_read_scope_refuses_writes_and_leaves_no_tenant_path_behind() {
        let Some(url) = test_database_url() else {
            return;
        };
        let pool = Database::connect(postgres_options(&url, 1, 0))
            .await
            .expect("PostgreSQL answers");
        let schema = SchemaName::for_tenant(Uuid::now_v7());
        pool.execute_unprepared(&format!(
            "CREATE SCHEMA {0}; CREATE TABLE {0}.item (id int PRIMARY KEY); \
             INSERT INTO {0}.item VALUES (1)",
            schema.quoted()
        ))
        .await
        .expect("test schema");

        let txn = pool.begin().await.expect("begin");
        pin_search_path(&txn, &schema, Access::ReadOnly)
            .await
            .expect("pin");
        let read = txn
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                "SELECT count(*) AS n FROM item",
            ))
            .await
            .expect("a read scope reads")
            .expect("a row");
        assert_eq!(read.try_get::<i64>("", "n").unwrap(), 1);
        let write = txn.execute_unprepared("INSERT INTO item VALUES (2)").await;
        let refused = write
            .expect_err("a read scope must refuse writes")
            .to_string();
        assert!(refused.contains("read-only transaction"), "{refused}");
        TenantTxn::new(txn, LaneTicket::none())
            .ended_by_drop(true)
            .commit()
            .await
            .expect("ending a read scope");

        let next = pool.begin().await.expect("the connection came back");
        let state = next
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                "SELECT current_setting('transaction_read_only') AS ro, \
                 current_setting('search_path') AS path",
            ))
            .await
            .expect("state")
            .expect("a row");
        assert_eq!(state.try_get::<String>("", "ro").unwrap(), "off");
        assert_eq!(state.try_get::<String>("", "path").unwrap(), CONTROL_SCHEMA);
        next.commit().await.expect("commit");
        pool.execute_unprepared(&format!("DROP SCHEMA {} CASCADE", schema.quoted()))
            .await
            .expect("cleanup");
    }
}
