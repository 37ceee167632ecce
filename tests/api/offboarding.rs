//! What offboarding leaves behind, read from storage itself rather than from a list of what
//! should have been removed:
//!
//! - every table of the control plane, the key store and the tenant storage that is left,
//!   enumerated from the live schema (`information_schema` / `sqlite_master`), holds no value
//!   naming the offboarded institution (its id, in any encoding, or its slug) except the
//!   deletion record and its tombstone; a new table that names tenants without a registered
//!   footprint fails here without anyone changing this test. Nor does the session store (the
//!   sessions of its people are erased; on Redis read key by key). The freed email domain can
//!   then be verified by another institution (S4).
//! - a backup of the data taken before offboarding, restored and served with the same
//!   key-encryption key and key store, does not open the institution's sealed data, and its
//!   API key answers 401 (D2); nor does it show anything of it: the tombstone journal kept in
//!   the key store offboards the restored copy again at start (registry row, schema or file,
//!   API keys, domain claims gone; the deletion record there once, with its original id), so
//!   another institution can verify the freed domain; the other institution restored from the
//!   same backup works (S4).
//! - keys an older version kept in the control plane are moved to the key store by
//!   `hub migrate`, idempotently, and serving refuses to start until they are; an offboarded
//!   institution's are not moved but erased, from its tombstone (D2).

use crate::both_backends;
use crate::domains::dns_server;
use crate::passwords;
use crate::support::{
    Backend, Institution, TestApp, create_database, spawn_on_same_storage,
    spawn_on_same_storage_with, spawn_with,
};
use hub_tenant::{KeyStoreLocation, TenantLocation};
use reqwest::{Method, StatusCode};
use sea_orm::sea_query::{Alias, Query};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;
use uuid::Uuid;

both_backends!(
    promise_s4_offboarding_leaves_no_row_naming_the_tenant_and_frees_its_domain,
    promise_d2_a_backup_restored_after_offboarding_opens_nothing_and_is_offboarded_again,
    promise_d2_hub_migrate_moves_keys_out_of_the_control_plane
);

/// Every database file or database of the app's storage: (label, connection, schemas to
/// read on PostgreSQL — `None` on SQLite, where a file is one namespace).
async fn storage_databases(app: &TestApp) -> Vec<(String, DatabaseConnection)> {
    let mut out = Vec::new();
    match app.backend {
        Backend::Postgres => {
            let data = app.database_url.clone().unwrap();
            out.push(("data".to_string(), Database::connect(data).await.unwrap()));
        }
        Backend::Sqlite => {
            out.push((
                "control.db".to_string(),
                sqlite(&app.data_dir().join("control.db")).await,
            ));
            for entry in std::fs::read_dir(app.data_dir().join("tenants")).unwrap() {
                let path = entry.unwrap().path();
                if path.extension().is_some_and(|e| e == "db") {
                    out.push((path.display().to_string(), sqlite(&path).await));
                }
            }
        }
    }
    out.push(("key store".to_string(), key_store(app).await));
    out
}

async fn sqlite(path: &Path) -> DatabaseConnection {
    Database::connect(format!("sqlite://{}?mode=ro", path.display()))
        .await
        .unwrap()
}

async fn key_store(app: &TestApp) -> DatabaseConnection {
    match app.state.config.key_store().unwrap() {
        KeyStoreLocation::Postgres { url, .. } => Database::connect(url).await.unwrap(),
        KeyStoreLocation::Sqlite { path } => {
            Database::connect(format!("sqlite://{}?mode=rw", path.display()))
                .await
                .unwrap()
        }
    }
}

async fn strings(db: &DatabaseConnection, sql: &str) -> Vec<String> {
    db.query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get_by_index::<String>(0).unwrap())
        .collect()
}

/// Every row of every table of one database as text, with its table: PostgreSQL rows as
/// JSON (bytea as hex), SQLite rows as `quote()`d values (blobs as hex).
async fn every_row(db: &DatabaseConnection) -> Vec<(String, String)> {
    let mut out = Vec::new();
    match db.get_database_backend() {
        DbBackend::Postgres => {
            let tables = strings(
                db,
                "SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) \
                 FROM information_schema.tables WHERE table_type = 'BASE TABLE' \
                 AND table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1",
            )
            .await;
            for table in tables {
                for row in strings(db, &format!("SELECT row_to_json(t)::text FROM {table} t")).await
                {
                    out.push((table.clone(), row));
                }
            }
        }
        _ => {
            let tables = strings(
                db,
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
            )
            .await;
            for table in tables {
                let columns = strings(
                    db,
                    &format!("SELECT name FROM pragma_table_info('{table}') ORDER BY cid"),
                )
                .await;
                let row = columns
                    .iter()
                    .map(|c| format!("quote(\"{c}\")"))
                    .collect::<Vec<_>>()
                    .join(" || '|' || ");
                for text in strings(db, &format!("SELECT {row} FROM \"{table}\"")).await {
                    out.push((table.clone(), text));
                }
            }
        }
    }
    out
}

/// The tables (`database: table`) holding a value that names the institution: its id as
/// text or as hex of its bytes, or its slug.
async fn tables_naming(app: &TestApp, institution: &Institution) -> Vec<String> {
    let id = Uuid::parse_str(&institution.id).unwrap();
    let needles = [
        id.hyphenated().to_string(),
        id.simple().to_string(),
        institution.slug.clone(),
    ];
    let mut found = Vec::new();
    for (label, db) in storage_databases(app).await {
        for (table, row) in every_row(&db).await {
            let row = row.to_lowercase();
            let name = format!("{label}: {table}");
            if needles.iter().any(|n| row.contains(n.as_str())) && !found.contains(&name) {
                found.push(name);
            }
        }
    }
    found.sort();
    found
}

/// Every column of the control plane that can name a tenant: called `tenant…`, or the
/// registry's own id. From the live schema.
async fn control_plane_tenant_columns(app: &TestApp) -> Vec<(String, String)> {
    let (db, sql) = match app.backend {
        Backend::Postgres => (
            Database::connect(app.database_url.clone().unwrap())
                .await
                .unwrap(),
            "SELECT table_name::text || '.' || column_name::text FROM information_schema.columns \
             WHERE table_schema = 'hub_control' ORDER BY 1"
                .to_string(),
        ),
        Backend::Sqlite => (
            sqlite(&app.data_dir().join("control.db")).await,
            "SELECT m.name || '.' || c.name FROM sqlite_master m, pragma_table_info(m.name) c \
             WHERE m.type = 'table' ORDER BY 1"
                .to_string(),
        ),
    };
    let columns: Vec<(String, String)> = strings(&db, &sql)
        .await
        .into_iter()
        .filter_map(|c| {
            c.split_once('.')
                .map(|(t, c)| (t.to_string(), c.to_string()))
        })
        .filter(|(t, c)| c.starts_with("tenant") || (t == "tenants" && c == "id"))
        .collect();
    assert!(
        columns.iter().any(|(t, _)| t == "sso_domains"),
        "the schema read found the control plane: {columns:?}"
    );
    columns
}

/// Every Redis key whose name or value names the institution: its id in either text form,
/// or its slug. The Redis of the tests is shared: others' keys do not name this institution.
async fn redis_entries_naming(app: &TestApp, institution: &Institution) -> Vec<String> {
    let id = Uuid::parse_str(&institution.id).unwrap();
    let needles = [
        id.hyphenated().to_string(),
        id.simple().to_string(),
        institution.slug.clone(),
    ];
    crate::support::redis_entries(app)
        .await
        .into_iter()
        .filter(|(key, content)| {
            let text = format!("{key} {content}").to_lowercase();
            needles.iter().any(|n| text.contains(n.as_str()))
        })
        .map(|(key, _)| key)
        .collect()
}

async fn claim_and_verify(
    app: &TestApp,
    zone: &crate::domains::Zone,
    token: &str,
    domain: &str,
) -> crate::support::Reply {
    let claim = app
        .post("/v1/sso/domains", token, json!({"domain": domain}))
        .await;
    assert_eq!(claim.status, StatusCode::CREATED, "{}", claim.body);
    zone.lock().unwrap().insert(
        format!("_dexsoftlex-hub.{domain}"),
        claim.body["record_value"].as_str().unwrap().into(),
    );
    app.call(
        Method::POST,
        &format!(
            "/v1/sso/domains/{}/verification",
            claim.body["id"].as_str().unwrap()
        ),
        Some(token),
        None,
    )
    .await
}

async fn offboard(app: &TestApp, institution: &Institution) -> Value {
    let record = app
        .post(
            &format!("/v1/tenants/{}/offboard", institution.id),
            &app.operator_token,
            json!({"confirm_slug": institution.slug, "reason": "contract ended"}),
        )
        .await;
    assert_eq!(record.status, StatusCode::OK, "{}", record.body);
    record.body
}

async fn promise_s4_offboarding_leaves_no_row_naming_the_tenant_and_frees_its_domain(
    backend: Backend,
) {
    let (nameserver, zone) = dns_server().await;
    let app = spawn_with(backend, |c| c.dns_nameserver = Some(nameserver)).await;
    app.state.tenancy.set_key_cache_ttl(Duration::ZERO);
    let leaving = app.create_institution("leaving-institute").await;
    let staying = app.create_institution("staying-college").await;
    let token = leaving.admin_token.as_str();

    // Everything an institution can leave in the control plane and the key store.
    let contact = app
        .post(
            "/v1/contacts",
            token,
            json!({"role": "billing", "name": "Pay Master", "email": "pay@campus-one.example"}),
        )
        .await;
    assert_eq!(contact.status, StatusCode::CREATED, "{}", contact.body);
    let key = app
        .post(
            "/v1/api-keys",
            token,
            json!({"name": "ci", "scopes": ["courses:read"]}),
        )
        .await;
    assert_eq!(key.status, StatusCode::CREATED, "{}", key.body);
    let verified = claim_and_verify(&app, &zone, token, "campus-one.example").await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.body);
    let person = app
        .post(
            "/v1/people",
            token,
            json!({"name": "Fin Ance", "email": "fin@campus-one.example", "roles": ["finance"]}),
        )
        .await;
    assert_eq!(person.status, StatusCode::CREATED, "{}", person.body);
    let review = app
        .post(
            "/v1/access-reviews",
            token,
            json!({"name": "Q4 review", "duration_seconds": 86_400}),
        )
        .await;
    assert_eq!(review.status, StatusCode::CREATED, "{}", review.body);
    let session = signed_in_person(&app, &leaving).await;
    let rotated = app
        .call(
            Method::POST,
            "/v1/encryption-keys/rotate",
            Some(token),
            None,
        )
        .await;
    assert_eq!(rotated.status, StatusCode::ACCEPTED, "{}", rotated.body);
    let job =
        crate::keys::finished_job(&app, token, rotated.body["job"]["id"].as_str().unwrap()).await;
    assert_eq!(job["state"], "succeeded", "{job}");

    // The other institution cannot verify the domain while it is held.
    let refused = claim_and_verify(&app, &zone, &staying.admin_token, "campus-one.example").await;
    refused.assert_problem(409, "conflict");

    // The scan sees the institution where it lives (so it can fail).
    assert!(app.state.identity.sessions.resolve(&session).await.is_ok());
    if backend == Backend::Postgres {
        let live = redis_entries_naming(&app, &leaving).await;
        assert!(
            live.iter().any(|k| k.starts_with("hub:session:"))
                && live.iter().any(|k| k.starts_with("hub:person-sessions:")),
            "the session store is seen naming the tenant: {live:?}"
        );
    }
    let before = tables_naming(&app, &leaving).await;
    for table in [
        "api_keys",
        "deadlines",
        "jobs",
        "sso_domains",
        "tenant_keys",
        "tenants",
    ] {
        assert!(
            before.iter().any(|t| t.ends_with(table)),
            "{table} not seen naming the tenant before offboarding: {before:?}"
        );
    }

    // And from the schema, for tables the seeding above does not fill: every control-plane
    // column that names a tenant belongs to a registered footprint, or is one of the rows
    // offboarding treats itself (the registry row, removed last; the deletion record, kept;
    // keys an older version kept here, which `hub migrate` moves and serving refuses).
    let registered: Vec<(String, String)> = app
        .state
        .tenancy
        .control_footprints()
        .iter()
        .map(|f| (f.table.to_string(), f.tenant_column.to_string()))
        .collect();
    for (table, column) in control_plane_tenant_columns(&app).await {
        let treated_apart = matches!(
            (table.as_str(), column.as_str()),
            ("tenants", "id") | ("deletion_records", _) | ("tenant_keys", "tenant_id")
        );
        assert!(
            treated_apart || registered.contains(&(table.clone(), column.clone())),
            "control-plane column {table}.{column} names a tenant but no crate registered it \
             as a tenant footprint (hub_tenant::ControlFootprint)"
        );
    }

    offboard(&app, &leaving).await;
    let after = tables_naming(&app, &leaving).await;
    assert!(
        after.len() == 2
            && (after[0].starts_with("data") || after[0].starts_with("control.db"))
            && after[0].ends_with("deletion_records")
            && after[1].starts_with("key store")
            && after[1].ends_with("tombstones"),
        "only the deletion record, and its tombstone in the key store, may name an offboarded \
         institution; found in {after:?}"
    );

    // Nor does the session store: the sessions of its people are gone, not only refused.
    assert!(app.state.identity.sessions.resolve(&session).await.is_err());
    if backend == Backend::Postgres {
        let left = redis_entries_naming(&app, &leaving).await;
        assert!(
            left.is_empty(),
            "Redis entries still name the tenant: {left:?}"
        );
    }

    // The freed domain: the other institution verifies it, and it routes there.
    let pending = app.get("/v1/sso/domains", &staying.admin_token).await;
    assert_eq!(pending.status, StatusCode::OK, "{}", pending.body);
    let claim_id = pending.body["items"][0]["id"].as_str().unwrap().to_string();
    let verified = app
        .call(
            Method::POST,
            &format!("/v1/sso/domains/{claim_id}/verification"),
            Some(&staying.admin_token),
            None,
        )
        .await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.body);
    assert_eq!(verified.body["status"], "verified");
    let found = app
        .call(
            Method::POST,
            "/v1/sso/discovery",
            None,
            Some(json!({"email": "ada@campus-one.example"})),
        )
        .await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.body);
    assert_eq!(found.body["tenant_slug"], "staying-college");
}

/// A copy of the data as a backup takes it: `pg_dump` of the data database (the key store is
/// another database), or on SQLite a consistent copy (`VACUUM INTO`) of `control.db` and the
/// tenant files (the key store is `keys.db`, backed up apart).
enum Backup {
    Postgres(PathBuf),
    Sqlite(tempfile::TempDir),
}

async fn back_up(app: &TestApp, dir: &Path) -> Backup {
    match app.backend {
        Backend::Postgres => {
            let file = dir.join("data.sql");
            let output = tokio::process::Command::new("pg_dump")
                .arg("--no-owner")
                .arg(format!("--file={}", file.display()))
                .arg(format!("--dbname={}", app.database_url.as_deref().unwrap()))
                .output()
                .await
                .expect("pg_dump runs (Debian: postgresql-client)");
            assert!(
                output.status.success(),
                "pg_dump failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            Backup::Postgres(file)
        }
        Backend::Sqlite => {
            let backup = tempfile::tempdir().unwrap();
            std::fs::create_dir_all(backup.path().join("tenants")).unwrap();
            let mut files = vec![PathBuf::from("control.db")];
            for entry in std::fs::read_dir(app.data_dir().join("tenants")).unwrap() {
                let name = entry.unwrap().file_name();
                if name.to_string_lossy().ends_with(".db") {
                    files.push(PathBuf::from("tenants").join(name));
                }
            }
            for file in files {
                let db = Database::connect(format!(
                    "sqlite://{}?mode=ro",
                    app.data_dir().join(&file).display()
                ))
                .await
                .unwrap();
                db.execute_unprepared(&format!(
                    "VACUUM INTO '{}'",
                    backup.path().join(&file).display()
                ))
                .await
                .unwrap();
            }
            Backup::Sqlite(backup)
        }
    }
}

/// Serves the restored backup with the first app's key-encryption key and key store.
async fn serve_restored(app: &TestApp, backup: &Backup) -> TestApp {
    let key_store_url = match app.state.config.key_store().unwrap() {
        KeyStoreLocation::Postgres { url, .. } => url,
        KeyStoreLocation::Sqlite { path } => format!("sqlite://{}", path.display()),
    };
    match backup {
        Backup::Postgres(file) => {
            let restored = create_database().await;
            let output = tokio::process::Command::new("psql")
                .args(["-q", "-v", "ON_ERROR_STOP=1"])
                .arg(format!("--file={}", file.display()))
                .arg(format!("--dbname={restored}"))
                .output()
                .await
                .expect("psql runs (Debian: postgresql-client)");
            assert!(
                output.status.success(),
                "restore failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            spawn_on_same_storage_with(app, |c| {
                c.database_url = Some(restored);
                c.key_database_url = Some(key_store_url);
            })
            .await
        }
        Backup::Sqlite(dir) => {
            let data_dir = dir.path().to_path_buf();
            spawn_on_same_storage_with(app, |c| {
                c.data_dir = data_dir;
                c.key_database_url = Some(key_store_url);
            })
            .await
        }
    }
}

/// A person of the institution signed in with a local password: their session token.
async fn signed_in_person(app: &TestApp, institution: &Institution) -> String {
    let admin = institution.admin_token.as_str();
    let person = app
        .post(
            "/v1/people",
            admin,
            json!({"name": "Ada Lovelace", "username": "ada",
                   "email": format!("ada@{}.test", institution.slug), "roles": ["learner"]}),
        )
        .await;
    assert_eq!(person.status, StatusCode::CREATED, "{}", person.body);
    app.allow_local_accounts(admin).await;
    let slug = institution.slug.as_str();
    passwords::request_reset(app, slug, &format!("ada@{slug}.test")).await;
    let code = passwords::reset_code(app, institution, person.body["id"].as_str().unwrap()).await;
    let password = "meadow-kettle-orbit-42";
    let reset = passwords::reset(app, slug, &code, password).await;
    assert_eq!(reset.status, StatusCode::NO_CONTENT, "{}", reset.body);
    let signed_in = passwords::sign_in(app, slug, "ada", password).await;
    assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.body);
    let token = signed_in.body["session_token"]
        .as_str()
        .unwrap()
        .to_string();
    let me = app.get("/v1/me", &token).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    token
}

/// Whether a backup holds the tenant's storage (its schema in the dump, its file in the copy).
fn backup_holds(backup: &Backup, location: &TenantLocation) -> bool {
    match backup {
        Backup::Postgres(file) => std::fs::read_to_string(file)
            .unwrap()
            .contains(&format!("CREATE SCHEMA {}", location.schema.as_str())),
        Backup::Sqlite(dir) => dir
            .path()
            .join("tenants")
            .join(format!("{}.db", location.schema.as_str()))
            .exists(),
    }
}

async fn promise_d2_a_backup_restored_after_offboarding_opens_nothing_and_is_offboarded_again(
    backend: Backend,
) {
    let (nameserver, zone) = dns_server().await;
    let app = spawn_with(backend, |c| c.dns_nameserver = Some(nameserver)).await;
    let north = app.create_institution("north").await;
    let south = app.create_institution("south").await;
    for (institution, email) in [(&north, "dpo@north.example"), (&south, "dpo@south.example")] {
        let reply = app
            .post(
                "/v1/contacts",
                &institution.admin_token,
                json!({"role": "data_protection_officer", "name": "Dee Pio", "email": email}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }
    let domain = "north-campus.example";
    let verified = claim_and_verify(&app, &zone, &north.admin_token, domain).await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.body);
    let session = signed_in_person(&app, &north).await;
    let tenant = Uuid::parse_str(&north.id).unwrap();
    let location = app.state.tenancy.tenant_location(tenant).await.unwrap();
    let dump_dir = tempfile::tempdir().unwrap();
    let backup = back_up(&app, dump_dir.path()).await;
    assert!(
        backup_holds(&backup, &location),
        "the backup holds the institution's data"
    );

    // The backup restored before offboarding opens both: the drill can tell the difference.
    let early = serve_restored(&app, &backup).await;
    let read = early.get("/v1/contacts", &north.admin_token).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    assert_eq!(read.body["items"][0]["email"], "dpo@north.example");
    drop(early);

    let record = offboard(&app, &north).await;
    // Its people's sessions stay in the session store until they expire (sealed under the
    // destroyed keys); they authenticate nobody.
    app.get("/v1/me", &session)
        .await
        .assert_problem(401, "unauthenticated");
    assert_eq!(
        app.state.tenancy.journaled_offboardings().await.unwrap(),
        1,
        "offboarding journals a tombstone in the key store"
    );
    let restored = serve_restored(&app, &backup).await;

    // Nothing would open: the keys were destroyed in the key store, which no data backup
    // carries.
    assert_eq!(
        restored
            .state
            .tenancy
            .stored_key_count(tenant)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        restored
            .state
            .tenancy
            .keys_left_in_control_plane()
            .await
            .unwrap(),
        0,
        "the backup holds no key"
    );

    // Nothing shows either, before any credential of the institution is tried (which would
    // re-apply its offboarding by itself): the tombstone journal, kept apart with the keys,
    // offboarded the restored copy again when it was served.
    let listed = restored.get("/v1/tenants", &restored.operator_token).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    let slugs: Vec<&str> = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["south"], "{}", listed.body);
    restored
        .get(
            &format!("/v1/tenants/{}", north.id),
            &restored.operator_token,
        )
        .await
        .assert_problem(404, "tenant_not_found");
    assert!(
        !restored
            .state
            .tenancy
            .plane()
            .tenant_storage_exists(&location)
            .await
            .unwrap(),
        "the restored schema or file of the institution is dropped"
    );
    let records = restored
        .get("/v1/deletion-records", &restored.operator_token)
        .await;
    assert_eq!(records.status, StatusCode::OK, "{}", records.body);
    let items = records.body["items"].as_array().unwrap();
    assert_eq!(
        items.len(),
        1,
        "the deletion record, once: {}",
        records.body
    );
    assert_eq!(items[0]["id"], record["id"]);
    assert_eq!(items[0]["tenant_id"], north.id.as_str());
    assert_eq!(items[0]["keys_destroyed"], record["keys_destroyed"]);
    assert_eq!(items[0]["reason"], "contract ended");
    // Idempotent: a second pass finds nothing left to do.
    let again = restored.state.tenancy.reapply_tombstones().await.unwrap();
    assert_eq!(
        (again.journaled, again.reapplied.len()),
        (1, 0),
        "{again:?}"
    );

    // The restored domain claim is gone with it: the other institution verifies the domain.
    let claimed = claim_and_verify(&restored, &zone, &south.admin_token, domain).await;
    assert_eq!(claimed.status, StatusCode::OK, "{}", claimed.body);
    assert_eq!(claimed.body["status"], "verified");
    let found = restored
        .call(
            Method::POST,
            "/v1/sso/discovery",
            None,
            Some(json!({"email": format!("ada@{domain}")})),
        )
        .await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.body);
    assert_eq!(found.body["tenant_slug"], "south");

    // Its API key authenticates nobody, nor does a session of its people (on PostgreSQL the
    // restored service shares the session store, where the session still is).
    for path in ["/v1/contacts", "/v1/courses", "/v1/me"] {
        restored
            .get(path, &north.admin_token)
            .await
            .assert_problem(401, "unauthenticated");
    }
    restored
        .get("/v1/me", &session)
        .await
        .assert_problem(401, "unauthenticated");

    // The rest of the platform restored fine.
    let other = restored.get("/v1/contacts", &south.admin_token).await;
    assert_eq!(other.status, StatusCode::OK, "{}", other.body);
    assert_eq!(other.body["items"][0]["email"], "dpo@south.example");
    let course = restored
        .post(
            "/v1/courses",
            &south.admin_token,
            json!({"code": "AFTER", "title": "After the restore"}),
        )
        .await;
    assert_eq!(course.status, StatusCode::CREATED, "{}", course.body);
}

/// Runs the real `hub` binary with `command` on the app's storage.
async fn run_hub(app: &TestApp, command: &str) -> (bool, String) {
    let config = &app.state.config;
    let mut process = tokio::process::Command::new(env!("CARGO_BIN_EXE_hub"));
    process
        .arg(command)
        .env_clear()
        .current_dir(app.data_dir())
        .env("HUB_CONFIG", app.data_dir().join("no-such-hub.toml"))
        .env("HUB_DATA_DIR", app.data_dir())
        .env("HUB_LISTEN", "127.0.0.1:0")
        .env("HUB_DNS_NAMESERVER", "127.0.0.1:9")
        .env(
            "HUB_KEK",
            config.kek.as_ref().map(hub_kernel::Secret::expose).unwrap(),
        );
    if let Some(url) = &app.database_url {
        process.env("DATABASE_URL", url);
    }
    if let Some(url) = &config.redis_url {
        process.env("REDIS_URL", url);
    }
    // `serve` would run until stopped if it started: bounded, and a start is a failure here.
    let output = tokio::time::timeout(Duration::from_secs(60), process.output())
        .await
        .expect("hub exits")
        .expect("the hub binary runs");
    (
        output.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

/// Puts every wrapped key back in the control plane's `tenant_keys`, as an older version
/// kept them, and empties the key store.
async fn move_keys_back_to_the_control_plane(app: &TestApp) -> usize {
    let keys = key_store(app).await;
    let control = match app.backend {
        Backend::Postgres => Database::connect(app.database_url.clone().unwrap())
            .await
            .unwrap(),
        Backend::Sqlite => Database::connect(format!(
            "sqlite://{}?mode=rw",
            app.data_dir().join("control.db").display()
        ))
        .await
        .unwrap(),
    };
    let table = match app.backend {
        Backend::Postgres => (Alias::new("hub_control"), Alias::new("tenant_keys")),
        Backend::Sqlite => (Alias::new("main"), Alias::new("tenant_keys")),
    };
    let rows = keys
        .query_all_raw(Statement::from_string(
            keys.get_database_backend(),
            "SELECT tenant_id, purpose, version, wrapped_key, kek_id, state, created_at \
             FROM tenant_keys",
        ))
        .await
        .unwrap();
    for row in &rows {
        let mut insert = Query::insert();
        insert
            .into_table(table.clone())
            .columns(
                [
                    "tenant_id",
                    "purpose",
                    "version",
                    "wrapped_key",
                    "kek_id",
                    "state",
                    "created_at",
                ]
                .map(Alias::new),
            )
            .values_panic([
                row.try_get::<Uuid>("", "tenant_id").unwrap().into(),
                row.try_get::<String>("", "purpose").unwrap().into(),
                row.try_get::<i32>("", "version").unwrap().into(),
                row.try_get::<Vec<u8>>("", "wrapped_key").unwrap().into(),
                row.try_get::<String>("", "kek_id").unwrap().into(),
                row.try_get::<String>("", "state").unwrap().into(),
                row.try_get::<chrono::DateTime<chrono::Utc>>("", "created_at")
                    .unwrap()
                    .into(),
            ]);
        control.execute(&insert).await.unwrap();
    }
    keys.execute_unprepared("DELETE FROM tenant_keys")
        .await
        .unwrap();
    rows.len()
}

async fn promise_d2_hub_migrate_moves_keys_out_of_the_control_plane(backend: Backend) {
    let app = spawn_with(backend, |_| {}).await;
    let north = app.create_institution("north").await;
    let south = app.create_institution("south").await;
    for institution in [&north, &south] {
        let reply = app
            .post(
                "/v1/contacts",
                &institution.admin_token,
                json!({"role": "billing", "name": "Bill Ing", "email": format!("b@{}.example", institution.slug)}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }
    let moved_back = move_keys_back_to_the_control_plane(&app).await;
    assert_eq!(moved_back, 4, "two keys per institution");
    assert_eq!(
        app.state
            .tenancy
            .keys_left_in_control_plane()
            .await
            .unwrap(),
        4
    );

    // Serving on keys the key store does not have yet is refused, with what to do.
    let (served, output) = run_hub(&app, "serve").await;
    assert!(
        !served,
        "serve started with keys in the control plane:\n{output}"
    );
    assert!(output.contains("run `hub migrate`"), "{output}");

    let (migrated, output) = run_hub(&app, "migrate").await;
    assert!(migrated, "{output}");
    assert!(output.contains("(4 wrapped key(s) moved"), "{output}");
    let (again, output) = run_hub(&app, "migrate").await;
    assert!(again, "{output}");
    assert!(
        output.contains("(0 wrapped key(s) moved"),
        "re-run: {output}"
    );

    assert_eq!(
        app.state
            .tenancy
            .keys_left_in_control_plane()
            .await
            .unwrap(),
        0
    );
    assert_eq!(app.state.tenancy.stored_key_count_all().await.unwrap(), 4);
    // A process that never saw the keys before reads both institutions' sealed data.
    let restarted = spawn_on_same_storage(&app).await;
    for institution in [&north, &south] {
        let read = restarted
            .get("/v1/contacts", &institution.admin_token)
            .await;
        assert_eq!(read.status, StatusCode::OK, "{}", read.body);
        assert_eq!(
            read.body["items"][0]["email"],
            format!("b@{}.example", institution.slug)
        );
    }
    drop(restarted);

    // An offboarded institution's keys in the control plane (a restored backup from before
    // the key store) are not moved back: its tombstone is re-applied first.
    offboard(&app, &north).await;
    let north_id = Uuid::parse_str(&north.id).unwrap();
    let legacy = legacy_key_row(&app, north_id).await;
    assert_eq!(legacy, 1);
    let (migrated, output) = run_hub(&app, "migrate").await;
    assert!(migrated, "{output}");
    assert!(
        output.contains("(0 wrapped key(s) moved"),
        "the offboarded institution's key was moved: {output}"
    );
    assert_eq!(
        app.state.tenancy.stored_key_count(north_id).await.unwrap(),
        0
    );
    assert_eq!(
        app.state
            .tenancy
            .keys_left_in_control_plane()
            .await
            .unwrap(),
        0
    );
}

/// Puts a wrapped key of `tenant` into the control plane's `tenant_keys`, as an older
/// version kept it. Returns the rows there for the tenant.
async fn legacy_key_row(app: &TestApp, tenant: Uuid) -> usize {
    let (control, table) = match app.backend {
        Backend::Postgres => (
            Database::connect(app.database_url.clone().unwrap())
                .await
                .unwrap(),
            (Alias::new("hub_control"), Alias::new("tenant_keys")),
        ),
        Backend::Sqlite => (
            Database::connect(format!(
                "sqlite://{}?mode=rw",
                app.data_dir().join("control.db").display()
            ))
            .await
            .unwrap(),
            (Alias::new("main"), Alias::new("tenant_keys")),
        ),
    };
    let mut insert = Query::insert();
    insert
        .into_table(table)
        .columns(
            [
                "tenant_id",
                "purpose",
                "version",
                "wrapped_key",
                "kek_id",
                "state",
                "created_at",
            ]
            .map(Alias::new),
        )
        .values_panic([
            tenant.into(),
            "data".into(),
            1.into(),
            vec![7u8; 60].into(),
            "local".into(),
            "active".into(),
            chrono::Utc::now().into(),
        ]);
    control.execute(&insert).await.unwrap();
    app.state
        .tenancy
        .keys_left_in_control_plane()
        .await
        .unwrap() as usize
}
