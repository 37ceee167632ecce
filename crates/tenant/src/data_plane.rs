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
//!
//! The parts live apart: `config` (what the operator configures), `lanes` (how a
//! cluster's connections are split), `postgres` (connections and pinned transactions),
//! `sqlite` (the per-tenant file cache) and `txn` (a tenant's unit of work).

mod config;
mod lanes;
mod postgres;
mod sqlite;
mod txn;

pub use config::{CONTROL_SCHEMA, PRIMARY_CLUSTER, StorageConfig, is_valid_cluster_name};
pub(crate) use txn::{Access, TenantTxn};

use crate::model::TenantLocation;
use hub_migrations::{ControlPlaneMigrator, MigratorTrait};
use lanes::{LaneShape, LaneTicket, Lanes};
use postgres::{begin_pinned, connect_postgres, pin_search_path, ping_pool};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, Statement,
    TransactionTrait,
};
use sqlite::TenantFiles;
use std::collections::HashMap;

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
        tenants: TenantFiles,
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
                let (control, tenants) = TenantFiles::open(data_dir).await?;
                Backend::Sqlite { control, tenants }
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
        let Backend::Sqlite { tenants, .. } = &self.backend else {
            return Err(DbErr::Custom("not an embedded data plane".into()));
        };
        tenants.pool(location, create).await
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
            Backend::Sqlite { tenants, .. } => tenants.remove(location).await?,
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
            Backend::Sqlite { tenants, .. } => Ok(tenants.exists(location)),
        }
    }
}
