//! The completeness scan: where a data subject is still referenced in the live schema of a
//! tenant, whatever the registered sources claim. An erasure runs every source, then this
//! scan; a finding is a table or column no source reached (or one that cannot be reached,
//! such as audit entries of an old chain version), to be reported, not assumed away.
//!
//! It reads the schema itself (PostgreSQL: `information_schema.columns` of the tenant's
//! schema; SQLite: `sqlite_master` and `pragma_table_info` of the tenant's file) and applies
//! the naming rule the coverage test applies ([`holds_personal_data`]): a person-reference
//! column ([`refers_to_person`]) holding the person's id (as a uuid or as text, or as the
//! `person:<id>` label actors and subjects use), or a blind-index column (`*_index`) holding
//! the blind index of one of the subject's emails, computed the way the stores compute it
//! (the tenant's index keys, current and retired, for that table and field, after the
//! field's registered normalisation). The scan reveals counts, never values; the caller
//! checks its own scope.

use crate::error::TenantError;
use crate::personal_data::{DataSubject, emails_of};
use crate::scope::TenantScope;
use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};
use serde::Serialize;
use uuid::Uuid;

/// One column of one table where the subject is still found, and in how many rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub table: String,
    pub column: String,
    pub rows: u64,
}

/// Whether a column names a person by id: `person_id`, `*_person_id`, who acted (`*_by`, the
/// audit trail's `actor`) and whom an entry is about (`subject`). The people table's own `id`
/// is not a reference.
pub fn refers_to_person(column: &str) -> bool {
    column == "person_id"
        || column.ends_with("_person_id")
        || column.ends_with("_by")
        || column == "actor"
        || column == "subject"
}

/// Whether a column is a blind index (`*_index`).
pub fn is_blind_index(column: &str) -> bool {
    column.ends_with("_index")
}

/// Whether a column of `table` holds personal data or points at a person, by the schema's
/// own naming: sealed values (`*_sealed`, except the registered sealed secrets, which are not
/// personal), blind indexes and person references ([`refers_to_person`]).
pub fn holds_personal_data(table: &str, column: &str) -> bool {
    if let Some(field) = column.strip_suffix("_sealed") {
        return !crate::module::installed()
            .iter()
            .flat_map(|m| m.sealed_secrets)
            .any(|s| s.table == table && s.column == field);
    }
    is_blind_index(column) || refers_to_person(column)
}

/// Every (table, column) of the scope's tenant where the subject is still referenced.
pub async fn scan_for_subject(
    scope: &TenantScope,
    subject: &DataSubject,
) -> Result<Vec<Finding>, TenantError> {
    let backend = scope.db().get_database_backend();
    let columns = match backend {
        DbBackend::Postgres => postgres_columns(scope).await?,
        DbBackend::Sqlite => sqlite_columns(scope).await?,
        other => {
            return Err(TenantError::Conflict(format!(
                "no schema scan for the {other:?} backend"
            )));
        }
    };
    let person = subject.person_id();
    let mut findings = Vec::new();
    for column in columns {
        let values = if refers_to_person(&column.column) {
            match person {
                Some(id) => person_values(backend, &column, id),
                None => continue,
            }
        } else if let Some(field) = column.column.strip_suffix("_index") {
            if !column.is_bytes {
                continue;
            }
            blind_indexes(scope, &column.table, field, subject)
        } else {
            continue;
        };
        if values.is_empty() {
            continue;
        }
        let rows = count(scope, backend, &column, values).await?;
        if rows > 0 {
            findings.push(Finding {
                table: column.table,
                column: column.column,
                rows,
            });
        }
    }
    Ok(findings)
}

struct LiveColumn {
    table: String,
    column: String,
    /// Stored as bytes (PostgreSQL `bytea`; on SQLite any column may hold bytes).
    is_bytes: bool,
}

async fn postgres_columns(scope: &TenantScope) -> Result<Vec<LiveColumn>, TenantError> {
    // The scope's transaction has the tenant's schema as its search path.
    let rows = scope
        .db()
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT table_name::text AS t, column_name::text AS c, data_type::text AS d \
             FROM information_schema.columns WHERE table_schema = current_schema() \
             AND table_name <> 'seaql_migrations' ORDER BY table_name, ordinal_position",
        ))
        .await?;
    rows.into_iter()
        .map(|row| {
            Ok(LiveColumn {
                table: row.try_get("", "t")?,
                column: row.try_get("", "c")?,
                is_bytes: row.try_get::<String>("", "d")? == "bytea",
            })
        })
        .collect()
}

async fn sqlite_columns(scope: &TenantScope) -> Result<Vec<LiveColumn>, TenantError> {
    let rows = scope
        .db()
        .query_all_raw(Statement::from_string(
            DbBackend::Sqlite,
            "SELECT m.name AS t, p.name AS c FROM sqlite_master m \
             JOIN pragma_table_info(m.name) p WHERE m.type = 'table' \
             AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND m.name <> 'seaql_migrations' \
             ORDER BY m.name, p.cid",
        ))
        .await?;
    rows.into_iter()
        .map(|row| {
            Ok(LiveColumn {
                table: row.try_get("", "t")?,
                column: row.try_get("", "c")?,
                is_bytes: true,
            })
        })
        .collect()
}

/// The forms a person's id takes in a reference column: the id as text, the `person:<id>`
/// label, and (SQLite, where a uuid may be stored as its 16 bytes) the id's bytes.
fn person_values(backend: DbBackend, _column: &LiveColumn, id: Uuid) -> Vec<Value> {
    let mut values = vec![
        Value::from(id.to_string()),
        Value::from(crate::audit::person_label(id)),
    ];
    if backend == DbBackend::Sqlite {
        values.push(Value::from(id.as_bytes().to_vec()));
    }
    values
}

/// The blind indexes of the subject's emails for `table`.`field`, under every index key the
/// tenant holds, after the field's registered normalisation (lower-cased and trimmed, as
/// emails are, when the field registers none).
fn blind_indexes(
    scope: &TenantScope,
    table: &str,
    field: &str,
    subject: &DataSubject,
) -> Vec<Value> {
    let normalise = crate::module::installed()
        .iter()
        .flat_map(|m| m.blind_indexes)
        .find(|b| b.table == table && b.field == field)
        .and_then(|b| b.normalise)
        .unwrap_or(crate::contacts::normalise_email);
    emails_of(subject)
        .iter()
        .flat_map(|email| {
            scope
                .keys()
                .blind_index_candidates(table, field, &normalise(email.expose()))
        })
        .map(Value::from)
        .collect()
}

async fn count(
    scope: &TenantScope,
    backend: DbBackend,
    column: &LiveColumn,
    values: Vec<Value>,
) -> Result<u64, TenantError> {
    let quote = |name: &str| format!("\"{}\"", name.replace('"', "\"\""));
    let placeholders: Vec<String> = (1..=values.len())
        .map(|i| match backend {
            DbBackend::Postgres => format!("${i}"),
            _ => "?".to_string(),
        })
        .collect();
    // PostgreSQL compares a uuid column with text only through a cast; bytes are compared
    // as they are.
    let target = match backend {
        DbBackend::Postgres if !column.is_bytes => {
            format!("CAST({} AS TEXT)", quote(&column.column))
        }
        _ => quote(&column.column),
    };
    let sql = format!(
        "SELECT COUNT(*) AS n FROM {} WHERE {target} IN ({})",
        quote(&column.table),
        placeholders.join(", ")
    );
    let row = scope
        .db()
        .query_one_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    let rows: i64 = match row {
        Some(row) => row.try_get("", "n")?,
        None => 0,
    };
    Ok(rows.max(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_names_references_and_indexes_not_ids() {
        for column in [
            "person_id",
            "reviewer_person_id",
            "changed_by",
            "actor",
            "subject",
        ] {
            assert!(refers_to_person(column), "{column}");
        }
        for column in ["id", "tenant_id", "bystander", "subjects"] {
            assert!(!refers_to_person(column), "{column}");
        }
        assert!(holds_personal_data("contacts", "email_index"));
        assert!(holds_personal_data("contacts", "name_sealed"));
        assert!(!holds_personal_data("people", "id"));
    }
}
