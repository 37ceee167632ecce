//! The generic re-sealer: finds and re-seals every sealed value of a tenant that is not under
//! the active data-key version, for any column of the sealed-column registry
//! ([`hub_kernel::classification::SealedColumn`], built from the crates' declarations), so a
//! new sealed column is re-sealed on rotation without new code here.
//!
//! A value's key version is read from its ciphertext header (bytes 2–5, big endian, see
//! `hub_kernel::crypto`), in SQL, so the scan needs no per-table version column and a value
//! already on the active version is skipped: re-running a batch is harmless, which is what
//! lets a job that died resume from the beginning of its scan.
//!
//! The SQL is portable: `substr` on a binary value takes bytes on PostgreSQL (`bytea`) and
//! SQLite (BLOB) alike; only the placeholder syntax differs.

use crate::error::TenantError;
use crate::scope::TenantScope;
use hub_kernel::classification::{RowKey, SealedColumn, SealedTable};
use hub_kernel::crypto::TenantKeyRing;
use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};
use uuid::Uuid;

/// A store outside the tenant's tables that keeps values sealed under the tenant's data key
/// (the session store's session contexts). Key rotation re-seals it after the tables, and
/// a retired version is destroyed only when it too holds nothing under that version. The
/// crate owning the store implements this and registers it once at start
/// (`Tenancy::register_sealed_store`).
#[async_trait::async_trait]
pub trait SealedStore: Send + Sync {
    /// A name for logs.
    fn name(&self) -> &'static str;
    /// Re-seals every value of the ring's tenant not under its active version; returns how
    /// many it re-sealed. The ring still holds the retired versions.
    async fn reseal(&self, keys: &TenantKeyRing) -> Result<u64, String>;
    /// How many of the tenant's values are not under `version`.
    async fn count_stale(&self, tenant: Uuid, version: u32) -> Result<u64, String>;
}

/// The sealed columns of one table, as the re-sealer works on them.
pub(crate) struct TableColumns<'a> {
    pub table: SealedTable,
    pub columns: Vec<&'a SealedColumn>,
}

/// Groups the registry by table, in registry order.
pub(crate) fn by_table(registry: &[SealedColumn]) -> Vec<TableColumns<'_>> {
    let mut tables: Vec<TableColumns<'_>> = Vec::new();
    for column in registry {
        match tables
            .iter_mut()
            .find(|t| t.table.table == column.table.table)
        {
            Some(t) => t.columns.push(column),
            None => tables.push(TableColumns {
                table: column.table,
                columns: vec![column],
            }),
        }
    }
    tables
}

fn placeholder(backend: DbBackend, n: usize) -> String {
    match backend {
        DbBackend::Postgres => format!("${n}"),
        _ => "?".to_string(),
    }
}

fn version_bytes(version: u32) -> Value {
    Value::Bytes(Some(version.to_be_bytes().to_vec()))
}

fn row_key_column(table: &SealedTable) -> &'static str {
    match table.row_key {
        RowKey::Uuid(column) | RowKey::Sequence(column) => column,
    }
}

/// `(c1 not on v) OR (c2 not on v) …`, every column compared with placeholder 1.
fn stale_condition(backend: DbBackend, t: &TableColumns<'_>) -> String {
    let version = placeholder(backend, 1);
    t.columns
        .iter()
        .map(|c| {
            let stored = c.stored();
            format!("({stored} IS NOT NULL AND substr({stored}, 2, 4) <> {version})")
        })
        .collect::<Vec<_>>()
        .join(" OR ")
}

/// Rows of the registry's tables holding at least one value not under `version`.
pub(crate) async fn count_stale(
    scope: &TenantScope,
    registry: &[SealedColumn],
    version: u32,
) -> Result<u64, TenantError> {
    let db = scope.db();
    let backend = db.get_database_backend();
    let mut total = 0u64;
    for t in by_table(registry) {
        let sql = format!(
            "SELECT COUNT(*) AS n FROM {} WHERE {}",
            t.table.table,
            stale_condition(backend, &t)
        );
        let row = db
            .query_one_raw(Statement::from_sql_and_values(
                backend,
                sql,
                [version_bytes(version)],
            ))
            .await?;
        let n: i64 = match row {
            Some(row) => row.try_get("", "n")?,
            None => 0,
        };
        total += n as u64;
    }
    Ok(total)
}

/// Re-seals up to `batch` rows of one table that hold a value not under the active version;
/// returns how many rows it re-sealed (0: the table is done).
pub(crate) async fn reseal_batch(
    scope: &TenantScope,
    t: &TableColumns<'_>,
    batch: u64,
) -> Result<u64, TenantError> {
    let db = scope.db();
    let backend = db.get_database_backend();
    let keys = scope.keys();
    let active = keys.active_version();
    let key_column = row_key_column(&t.table);
    let stored: Vec<String> = t.columns.iter().map(|c| c.stored()).collect();
    let select = format!(
        "SELECT {key_column}, {} FROM {} WHERE {} ORDER BY {key_column} LIMIT {batch}",
        stored.join(", "),
        t.table.table,
        stale_condition(backend, t)
    );
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            select,
            [version_bytes(active)],
        ))
        .await?;
    let count = rows.len() as u64;
    for row in rows {
        let (key_value, aad_row) = match t.table.row_key {
            RowKey::Uuid(column) => {
                let id: Uuid = row.try_get("", column)?;
                (Value::Uuid(Some(id)), id)
            }
            RowKey::Sequence(column) => {
                let seq: i64 = row.try_get("", column)?;
                (Value::BigInt(Some(seq)), Uuid::from_u64_pair(0, seq as u64))
            }
        };
        let mut sets = Vec::new();
        let mut values = Vec::new();
        for (column, stored) in t.columns.iter().zip(&stored) {
            let Some(sealed) = row.try_get::<Option<Vec<u8>>>("", stored)? else {
                continue;
            };
            if hub_kernel::crypto::sealed_key_version(&sealed)? == active {
                continue;
            }
            let plain = zeroize::Zeroizing::new(keys.open(
                t.table.table,
                column.field,
                aad_row,
                &sealed,
            )?);
            values.push(Value::Bytes(Some(keys.seal(
                t.table.table,
                column.field,
                aad_row,
                &plain,
            ))));
            sets.push(format!("{stored} = {}", placeholder(backend, values.len())));
        }
        if let Some(version_column) = t.table.version_column {
            values.push(Value::Int(Some(active as i32)));
            sets.push(format!(
                "{version_column} = {}",
                placeholder(backend, values.len())
            ));
        }
        values.push(key_value);
        let update = format!(
            "UPDATE {} SET {} WHERE {key_column} = {}",
            t.table.table,
            sets.join(", "),
            placeholder(backend, values.len())
        );
        db.execute_raw(Statement::from_sql_and_values(backend, update, values))
            .await?;
    }
    Ok(count)
}
