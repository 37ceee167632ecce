//! The tenant migrations: applied all at once or step by step they build the same schema,
//! and `hub migrate` can be re-run at will and carries on past a tenant that fails.

// Test code: a failed unwrap is a failed test with its reason, which is what we want.

use crate::both_backends;
use crate::support::{Backend, TestApp, create_database, spawn};
use hub_migrations::{MigratorTrait, TenantMigrator};
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement, TransactionTrait};

both_backends!(
    fresh_and_incremental_migrations_give_the_same_schema,
    hub_migrate_is_safe_to_rerun_and_continues_past_a_failing_tenant
);

/// Runs the tenant migrator the way the product does: one transaction, pointed at the
/// tenant's schema on PostgreSQL (a tenant's own file on SQLite).
async fn migrate(db: &DatabaseConnection, schema: Option<&str>, steps: Option<u32>) {
    let txn = db.begin().await.unwrap();
    if let Some(schema) = schema {
        txn.execute_unprepared(&format!("SET LOCAL search_path TO \"{schema}\""))
            .await
            .unwrap();
    }
    TenantMigrator::up(&txn, steps).await.unwrap();
    txn.commit().await.unwrap();
}

async fn lines(db: &DatabaseConnection, sql: &str, schema: Option<&str>) -> Vec<String> {
    let backend = db.get_database_backend();
    let statement = match schema {
        Some(schema) => Statement::from_sql_and_values(backend, sql, [schema.into()]),
        None => Statement::from_string(backend, sql),
    };
    let rows = db.query_all_raw(statement).await.unwrap();
    let columns = rows.first().map(|r| r.column_names()).unwrap_or_default();
    rows.iter()
        .map(|row| {
            columns
                .iter()
                .map(|c| {
                    row.try_get::<Option<String>>("", c)
                        .unwrap()
                        .unwrap_or_else(|| "NULL".into())
                })
                .collect::<Vec<_>>()
                .join(" | ")
        })
        .collect()
}

/// Everything that makes up a tenant schema on PostgreSQL, with the schema's own name
/// replaced so that two schemas compare.
async fn describe_postgres(db: &DatabaseConnection, schema: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in lines(
        db,
        "SELECT 'column' AS kind, table_name::text, column_name::text, data_type::text, \
         is_nullable::text, column_default::text FROM information_schema.columns \
         WHERE table_schema = $1 ORDER BY table_name, column_name",
        Some(schema),
    )
    .await
    {
        out.push(line);
    }
    for line in lines(
        db,
        "SELECT 'index' AS kind, indexname::text, indexdef::text FROM pg_indexes \
         WHERE schemaname = $1 ORDER BY indexname",
        Some(schema),
    )
    .await
    {
        out.push(
            line.replace(&format!("\"{schema}\"."), "<schema>.")
                .replace(&format!("{schema}."), "<schema>."),
        );
    }
    // Not-null checks are named after table OIDs, which differ per schema; the columns'
    // `is_nullable` above covers them.
    for line in lines(
        db,
        "SELECT 'constraint' AS kind, table_name::text, constraint_name::text, \
         constraint_type::text FROM information_schema.table_constraints \
         WHERE table_schema = $1 AND NOT (constraint_type = 'CHECK' \
         AND constraint_name::text LIKE '%not_null') ORDER BY table_name, constraint_name",
        Some(schema),
    )
    .await
    {
        out.push(line);
    }
    for line in lines(
        db,
        &format!(
            "SELECT 'applied' AS kind, version FROM \"{schema}\".seaql_migrations ORDER BY version"
        ),
        None,
    )
    .await
    {
        out.push(line);
    }
    out
}

async fn describe_sqlite(db: &DatabaseConnection) -> Vec<String> {
    let mut out = lines(
        db,
        "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name",
        None,
    )
    .await;
    out.extend(
        lines(
            db,
            "SELECT 'applied' AS kind, version FROM seaql_migrations ORDER BY version",
            None,
        )
        .await,
    );
    out
}

#[track_caller]
fn assert_same_schema(fresh: &[String], stepwise: &[String]) {
    assert!(
        fresh.iter().any(|l| l.contains("contacts")) && fresh.len() > 10,
        "the description sees too little: {fresh:#?}"
    );
    assert_eq!(
        fresh, stepwise,
        "a tenant migrated step by step differs from one migrated at once"
    );
}

async fn fresh_and_incremental_migrations_give_the_same_schema(backend: Backend) {
    assert!(
        TenantMigrator::migrations().len() >= 2,
        "with one migration there is no step to compare"
    );
    match backend {
        Backend::Postgres => {
            let db = Database::connect(create_database().await).await.unwrap();
            for schema in ["mig_fresh", "mig_stepwise"] {
                db.execute_unprepared(&format!("CREATE SCHEMA \"{schema}\""))
                    .await
                    .unwrap();
            }
            migrate(&db, Some("mig_fresh"), None).await;
            migrate(&db, Some("mig_stepwise"), Some(1)).await;
            let halfway = describe_postgres(&db, "mig_stepwise").await;
            let fresh = describe_postgres(&db, "mig_fresh").await;
            // The comparison can tell a difference: after one step they do differ.
            assert_ne!(fresh, halfway);
            migrate(&db, Some("mig_stepwise"), None).await;
            assert_same_schema(&fresh, &describe_postgres(&db, "mig_stepwise").await);
            // Re-running on an up-to-date schema changes nothing.
            migrate(&db, Some("mig_fresh"), None).await;
            assert_eq!(fresh, describe_postgres(&db, "mig_fresh").await);
            db.close().await.unwrap();
        }
        Backend::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let open = |name: &str| {
                let url = format!("sqlite://{}?mode=rwc", dir.path().join(name).display());
                async move { Database::connect(url).await.unwrap() }
            };
            let fresh_db = open("fresh.db").await;
            let stepwise_db = open("stepwise.db").await;
            migrate(&fresh_db, None, None).await;
            migrate(&stepwise_db, None, Some(1)).await;
            let fresh = describe_sqlite(&fresh_db).await;
            assert_ne!(fresh, describe_sqlite(&stepwise_db).await);
            migrate(&stepwise_db, None, None).await;
            assert_same_schema(&fresh, &describe_sqlite(&stepwise_db).await);
            migrate(&fresh_db, None, None).await;
            assert_eq!(fresh, describe_sqlite(&fresh_db).await);
        }
    }
}

/// `hub migrate` as an operator runs it: the real binary, configured through the
/// environment only, against this test's database (or data directory) and key.
async fn run_hub_migrate(app: &TestApp) -> (bool, String, String) {
    let config = &app.state.config;
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_hub"));
    command
        .arg("migrate")
        .env_clear()
        .current_dir(app.data_dir())
        .env("HUB_CONFIG", app.data_dir().join("no-such-hub.toml"))
        .env("HUB_DATA_DIR", app.data_dir())
        .env(
            "HUB_KEK",
            config
                .kek
                .as_ref()
                .map(hub_kernel::Secret::expose)
                .expect("the test app has a kek"),
        );
    if let Some(url) = &app.database_url {
        command.env("DATABASE_URL", url);
    }
    if let Some(url) = &config.redis_url {
        command.env("REDIS_URL", url);
    }
    let output = command.output().await.expect("the hub binary runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

async fn hub_migrate_is_safe_to_rerun_and_continues_past_a_failing_tenant(backend: Backend) {
    let app = spawn(backend).await;
    let mut institutions = Vec::new();
    for slug in ["first", "second", "third"] {
        institutions.push(app.create_institution(slug).await);
    }
    let latest = TenantMigrator::latest_version();

    // The second run takes the tenants two at a time, as `hub migrate --concurrency 2`.
    for run in 1..=2 {
        let outcomes = app
            .state
            .tenancy
            .migrate_all_tenants(run, |_, _, _| {})
            .await
            .unwrap();
        assert_eq!(outcomes.len(), 3, "run {run}");
        for outcome in &outcomes {
            assert_eq!(
                outcome.result.as_deref(),
                Ok(latest.as_str()),
                "run {run}, {}",
                outcome.slug
            );
        }
    }
    let (ok, stdout, stderr) = run_hub_migrate(&app).await;
    assert!(ok, "hub migrate failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("tenants: 3 migrated, 0 failed"),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    // Not a terminal here: the shared progress display writes plain lines, the last at 3/3.
    assert!(
        stderr.lines().any(|l| l.starts_with("3/3 tenants")),
        "stderr: {stderr}"
    );
    for institution in &institutions {
        let tenant = app
            .get(
                &format!("/v1/tenants/{}", institution.id),
                &app.operator_token,
            )
            .await;
        assert_eq!(tenant.body["schema_version"], latest.as_str());
    }

    // Break the second institution's storage behind the registry's back.
    let broken = &institutions[1];
    let location = app
        .state
        .tenancy
        .tenant_location(uuid::Uuid::parse_str(&broken.id).unwrap())
        .await
        .unwrap();
    match backend {
        Backend::Postgres => {
            let db = Database::connect(app.database_url.clone().unwrap())
                .await
                .unwrap();
            db.execute_unprepared(&format!("DROP SCHEMA {} CASCADE", location.schema.quoted()))
                .await
                .unwrap();
            db.close().await.unwrap();

            let outcomes = app
                .state
                .tenancy
                .migrate_all_tenants(2, |_, _, _| {})
                .await
                .expect("one failing tenant does not fail the whole run");
            assert_eq!(outcomes.len(), 3);
            for outcome in &outcomes {
                if outcome.slug == broken.slug {
                    assert!(outcome.result.is_err(), "{outcome:?}");
                } else {
                    assert_eq!(outcome.result.as_deref(), Ok(latest.as_str()));
                }
            }
        }
        Backend::Sqlite => {
            // The running app keeps its open handle on the file; a new process (below) is
            // what finds it gone, as `hub migrate` would.
            for suffix in ["", "-wal", "-shm"] {
                let file = app
                    .data_dir()
                    .join("tenants")
                    .join(format!("{}.db{suffix}", location.schema.as_str()));
                let _ = std::fs::remove_file(file);
            }
        }
    }
    let (ok, stdout, stderr) = run_hub_migrate(&app).await;
    assert!(
        !ok,
        "hub migrate must fail when a tenant fails:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("tenants: 2 migrated, 1 failed"),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert!(
        stderr.contains(&broken.slug),
        "the failing tenant is named: {stderr}"
    );

    // The others are unaffected.
    for institution in [&institutions[0], &institutions[2]] {
        let reply = app.get("/v1/courses", &institution.admin_token).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
}
