//! The embedded default's files: `control.db`, and one database file per tenant with a
//! bounded cache of open per-tenant pools.

use crate::model::{SchemaName, TenantLocation};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tokio::sync::Mutex;
use uuid::Uuid;

const MAX_OPEN_TENANT_FILES: usize = 256;

/// The per-tenant database files under the data directory, and the pools open on them
/// (at most [`MAX_OPEN_TENANT_FILES`], the least recently used closed first).
pub(super) struct TenantFiles {
    data_dir: PathBuf,
    open: Mutex<HashMap<Uuid, (DatabaseConnection, Instant)>>,
}

impl TenantFiles {
    /// Creates the tenants' directory under `data_dir` and opens the control plane's file.
    pub(super) async fn open(data_dir: &Path) -> Result<(DatabaseConnection, Self), DbErr> {
        std::fs::create_dir_all(data_dir.join("tenants"))
            .map_err(|e| DbErr::Custom(format!("cannot create {}: {e}", data_dir.display())))?;
        let control = connect_sqlite(&data_dir.join("control.db")).await?;
        Ok((
            control,
            Self {
                data_dir: data_dir.to_path_buf(),
                open: Mutex::new(HashMap::new()),
            },
        ))
    }

    /// The pool on the tenant's file; `create` makes a missing file, otherwise it is an error.
    pub(super) async fn pool(
        &self,
        location: &TenantLocation,
        create: bool,
    ) -> Result<DatabaseConnection, DbErr> {
        let mut open = self.open.lock().await;
        if let Some((pool, used)) = open.get_mut(&location.tenant_id) {
            *used = Instant::now();
            return Ok(pool.clone());
        }
        let path = tenant_file(&self.data_dir, &location.schema);
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

    /// Closes the tenant's pool and deletes its file. Idempotent.
    pub(super) async fn remove(&self, location: &TenantLocation) -> Result<(), DbErr> {
        if let Some((pool, _)) = self.open.lock().await.remove(&location.tenant_id) {
            let _ = pool.close().await;
        }
        let path = tenant_file(&self.data_dir, &location.schema);
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
        Ok(())
    }

    pub(super) fn exists(&self, location: &TenantLocation) -> bool {
        tenant_file(&self.data_dir, &location.schema).exists()
    }
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
