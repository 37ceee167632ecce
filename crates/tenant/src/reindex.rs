//! The generic re-indexer: finds and rewrites every blind index of a tenant that was not made
//! under the active index-key version, for any column of the blind-index registry
//! ([`hub_kernel::classification::IndexedColumn`], built from the crates' declarations), so a
//! new indexed column is re-indexed on rotation without new code here.
//!
//! A stored index says which key made it (`hub_kernel::crypto::blind_index_version`: the
//! bare 16-byte HMAC is version 1, a later version is prefixed), so the scan is SQL, skips
//! what is already on the active version, and a job that died resumes from the top of its
//! scan without redoing anything. The value is taken from the row's sealed column and
//! normalised as its crate declares; an index whose value is not stored (an SSO link older
//! than its sealed subject) is only counted, and keeps the retired key from being destroyed.
//!
//! The SQL is portable: `length` and `substr` on a binary value count bytes on PostgreSQL
//! (`bytea`) and SQLite (BLOB) alike; only the placeholder syntax differs.

use crate::error::TenantError;
use crate::scope::TenantScope;
use hub_kernel::classification::{IndexedColumn, RowKey, SealedTable};
use hub_kernel::crypto::{BLIND_INDEX_LEN, VERSIONED_BLIND_INDEX_LEN};
use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};
use uuid::Uuid;

/// The indexed columns of one table, as the re-indexer works on them.
pub(crate) struct TableIndexes<'a> {
    pub table: &'static str,
    pub row_key: Option<SealedTable>,
    pub columns: Vec<&'a IndexedColumn>,
}

/// Groups the registry by table, in registry order; `reindexable` keeps only the columns
/// whose value is stored (sealed) and can be indexed again.
pub(crate) fn by_table(registry: &[IndexedColumn], reindexable: bool) -> Vec<TableIndexes<'_>> {
    let mut tables: Vec<TableIndexes<'_>> = Vec::new();
    for column in registry {
        if reindexable && (column.normalise.is_none() || column.row_key.is_none()) {
            continue;
        }
        match tables.iter_mut().find(|t| t.table == column.table) {
            Some(t) => t.columns.push(column),
            None => tables.push(TableIndexes {
                table: column.table,
                row_key: column.row_key,
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

/// `(c1 not on v) OR (c2 not on v) …`, and the value to bind (none for version 1, whose
/// indexes are recognised by their length alone). With `reindexable`, only indexes whose
/// value is there to index again (its sealed column holds it).
fn stale_condition(
    backend: DbBackend,
    t: &TableIndexes<'_>,
    version: u32,
    reindexable: bool,
) -> (String, Vec<Value>) {
    let condition = t
        .columns
        .iter()
        .map(|c| {
            let stored = c.stored();
            let source = if reindexable {
                format!(" AND {} IS NOT NULL", c.source())
            } else {
                String::new()
            };
            if version == 1 {
                format!("({stored} IS NOT NULL{source} AND length({stored}) <> {BLIND_INDEX_LEN})")
            } else {
                format!(
                    "({stored} IS NOT NULL{source} AND (length({stored}) <> \
                     {VERSIONED_BLIND_INDEX_LEN} OR substr({stored}, 1, 4) <> {}))",
                    placeholder(backend, 1)
                )
            }
        })
        .collect::<Vec<_>>()
        .join(" OR ");
    let values = if version == 1 {
        Vec::new()
    } else {
        vec![Value::Bytes(Some(version.to_be_bytes().to_vec()))]
    };
    (condition, values)
}

/// Rows of the registry's tables holding at least one index not under `version`; with
/// `reindexable`, only the indexes a job can make again (declared with a normalisation, and
/// with their value stored).
pub(crate) async fn count_stale(
    scope: &TenantScope,
    registry: &[IndexedColumn],
    version: u32,
    reindexable: bool,
) -> Result<u64, TenantError> {
    let db = scope.db();
    let backend = db.get_database_backend();
    let mut total = 0u64;
    for t in by_table(registry, reindexable) {
        let (condition, values) = stale_condition(backend, &t, version, reindexable);
        let sql = format!("SELECT COUNT(*) AS n FROM {} WHERE {condition}", t.table);
        let row = db
            .query_one_raw(Statement::from_sql_and_values(backend, sql, values))
            .await?;
        let n: i64 = match row {
            Some(row) => row.try_get("", "n")?,
            None => 0,
        };
        total += n as u64;
    }
    Ok(total)
}

/// Re-indexes up to `batch` rows of one table (from [`by_table`] with `reindexable`) that
/// hold an index not under the active version; returns how many rows it rewrote (0: the
/// table is done, or holds only indexes with no value behind them).
pub(crate) async fn reindex_batch(
    scope: &TenantScope,
    t: &TableIndexes<'_>,
    batch: u64,
) -> Result<u64, TenantError> {
    let Some(row_key) = t.row_key else {
        return Ok(0);
    };
    let db = scope.db();
    let backend = db.get_database_backend();
    let keys = scope.keys();
    let active = keys.active_index_version();
    let key_column = match row_key.row_key {
        RowKey::Uuid(column) | RowKey::Sequence(column) => column,
    };
    let selected: Vec<String> = t
        .columns
        .iter()
        .flat_map(|c| [c.stored(), c.source()])
        .collect();
    let (condition, values) = stale_condition(backend, t, active, true);
    let select = format!(
        "SELECT {key_column}, {} FROM {} WHERE {condition} ORDER BY {key_column} LIMIT {batch}",
        selected.join(", "),
        t.table,
    );
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(backend, select, values))
        .await?;
    let mut updated = 0u64;
    for row in rows {
        let (key_value, aad_row) = match row_key.row_key {
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
        for column in &t.columns {
            let Some(normalise) = column.normalise else {
                continue;
            };
            let Some(index) = row.try_get::<Option<Vec<u8>>>("", &column.stored())? else {
                continue;
            };
            if hub_kernel::crypto::blind_index_version(&index).ok() == Some(active) {
                continue;
            }
            // An index with no value behind it cannot be made again: it stays (and keeps its
            // key from being destroyed) rather than being guessed at.
            let Some(sealed) = row.try_get::<Option<Vec<u8>>>("", &column.source())? else {
                continue;
            };
            let plain =
                zeroize::Zeroizing::new(keys.open_str(t.table, column.field, aad_row, &sealed)?);
            values.push(Value::Bytes(Some(keys.blind_index(
                t.table,
                column.field,
                &normalise(&plain),
            ))));
            sets.push(format!(
                "{} = {}",
                column.stored(),
                placeholder(backend, values.len())
            ));
        }
        if sets.is_empty() {
            continue;
        }
        values.push(key_value);
        let update = format!(
            "UPDATE {} SET {} WHERE {key_column} = {}",
            t.table,
            sets.join(", "),
            placeholder(backend, values.len())
        );
        db.execute_raw(Statement::from_sql_and_values(backend, update, values))
            .await?;
        updated += 1;
    }
    Ok(updated)
}
