//! Ties the personal-data declarations in code to what is actually stored: every declared
//! identifying field exists only as ciphertext (`<column>_sealed`, binary), a declared blind
//! index has its `<column>_index` column, and no plaintext column of that name exists.

use crate::both_backends;
use crate::support::{Backend, spawn};
use hub_kernel::classification::FieldClassification;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};

both_backends!(
    promise_c8_every_declared_personal_field_is_stored_sealed,
    promise_d2_every_sealed_column_of_the_schema_is_in_the_rotation_registry
);

/// The columns of a tenant table and whether each is binary, from the live schema: the
/// catalog on PostgreSQL, the tenant's own file on SQLite.
async fn columns_of(
    db: &DatabaseConnection,
    backend: Backend,
    schema: &str,
    table: &str,
) -> Vec<(String, String)> {
    let rows = match backend {
        Backend::Postgres => db
            .query_all_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT column_name AS name, data_type AS kind FROM information_schema.columns \
                 WHERE table_schema = $1 AND table_name = $2",
                [schema.into(), table.into()],
            ))
            .await
            .unwrap(),
        Backend::Sqlite => db
            .query_all_raw(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                "SELECT name, type AS kind FROM pragma_table_info(?)",
                [table.into()],
            ))
            .await
            .unwrap(),
    };
    rows.iter()
        .map(|r| {
            let kind: String = r.try_get("", "kind").unwrap();
            let kind = match kind.to_ascii_lowercase().as_str() {
                "bytea" | "blob" => "binary".to_string(),
                other => other.to_string(),
            };
            (r.try_get("", "name").unwrap(), kind)
        })
        .collect()
}

async fn promise_c8_every_declared_personal_field_is_stored_sealed(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let location = app
        .state
        .tenancy
        .tenant_location(north.id.parse().unwrap())
        .await
        .unwrap();
    let schema = location.schema.as_str();
    let db = match backend {
        Backend::Postgres => Database::connect(app.database_url.clone().unwrap()).await,
        Backend::Sqlite => {
            let file = app.data_dir().join("tenants").join(format!("{schema}.db"));
            Database::connect(format!("sqlite://{}?mode=ro", file.display())).await
        }
    }
    .unwrap();
    // Every registered crate's declarations, as the gateway composed them.
    let fields: Vec<FieldClassification> = hub_tenant::module::personal_fields();
    let crates = hub_tenant::module::installed().len();
    assert_eq!(crates, 1 + hub_gateway::modules::DOMAIN_MODULES.len());
    assert!(!fields.is_empty());
    for field in fields {
        let columns = columns_of(&db, backend, schema, field.table).await;
        assert!(
            !columns.is_empty(),
            "table {} of a declared field does not exist",
            field.table
        );
        let find = |name: &str| {
            columns
                .iter()
                .find(|(c, _)| c == name)
                .map(|(_, t)| t.clone())
        };
        assert_eq!(
            find(field.column),
            None,
            "{}.{} is stored in plaintext",
            field.table,
            field.column
        );
        if field.identifying {
            assert_eq!(
                find(&format!("{}_sealed", field.column)).as_deref(),
                Some("binary"),
                "{}.{} is declared identifying but has no sealed column",
                field.table,
                field.column
            );
        }
        if field.blind_index {
            assert_eq!(
                find(&format!("{}_index", field.column)).as_deref(),
                Some("binary")
            );
        }
    }
}

/// Key rotation re-seals what the sealed-column registry lists: every `*_sealed` column of
/// the live tenant schema must be in it (with a row key), and every registry entry must
/// exist, so a new sealed column cannot be left on a retired key.
async fn promise_d2_every_sealed_column_of_the_schema_is_in_the_rotation_registry(
    backend: Backend,
) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let (_, mut live, _) = crate::keys::live_columns(&app, &north.id, "_sealed").await;
    live.sort();
    let mut registry: Vec<(String, String)> = app
        .state
        .tenancy
        .sealed_column_registry()
        .iter()
        .map(|c| (c.table.table.to_string(), c.stored()))
        .collect();
    registry.sort();
    assert!(live.len() >= 10, "{live:?}");
    assert_eq!(live, registry, "live schema vs the sealed-column registry");
}
