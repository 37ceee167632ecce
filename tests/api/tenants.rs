//! Institutions through the operator API: provisioning (D1, D2), what a failed provisioning
//! leaves behind (nothing), listing, renaming, suspension, offboarding with crypto-shredding
//! (S4), and the separation of operator and institution credentials.

// Test code: a failed unwrap is a failed test with its reason, which is what we want.

use crate::both_backends;
use crate::support::{Backend, TestApp, spawn};
use hub_migrations::TenantMigrator;
use hub_tenant::TenantLocation;
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
use serde_json::{Value, json};
use uuid::Uuid;

both_backends!(
    promise_d1_d2_provisioning_creates_schema_keys_profile_and_admin_key,
    failed_provisioning_leaves_nothing_behind,
    invalid_tenant_input_is_refused_field_by_field_and_creates_nothing,
    tenants_list_in_pages_and_filter_by_status,
    tenant_rename_needs_the_current_revision,
    suspended_tenant_is_refused_until_resumed,
    promise_s4_offboarding_destroys_keys_then_schema_and_keeps_a_record,
    operator_and_institution_credentials_are_kept_apart
);

fn tenant_id(id: &str) -> Uuid {
    Uuid::parse_str(id).unwrap()
}

async fn location(app: &TestApp, id: &str) -> TenantLocation {
    app.state
        .tenancy
        .tenant_location(tenant_id(id))
        .await
        .unwrap()
}

async fn storage_exists(app: &TestApp, location: &TenantLocation) -> bool {
    app.state
        .tenancy
        .plane()
        .tenant_storage_exists(location)
        .await
        .unwrap()
}

async fn stored_keys(app: &TestApp, id: &str) -> u64 {
    app.state
        .tenancy
        .stored_key_count(tenant_id(id))
        .await
        .unwrap()
}

/// Tenant schemas (PostgreSQL) or tenant database files (SQLite) that physically exist.
async fn tenant_storage_count(app: &TestApp) -> usize {
    match app.backend {
        Backend::Postgres => {
            let db = Database::connect(app.database_url.clone().unwrap())
                .await
                .unwrap();
            let row = db
                .query_one_raw(Statement::from_string(
                    DbBackend::Postgres,
                    r"SELECT count(*)::bigint AS n FROM pg_namespace WHERE nspname LIKE 't\_%'",
                ))
                .await
                .unwrap()
                .unwrap();
            let n: i64 = row.try_get("", "n").unwrap();
            n as usize
        }
        Backend::Sqlite => std::fs::read_dir(app.data_dir().join("tenants"))
            .unwrap()
            .filter(|entry| {
                entry
                    .as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".db")
            })
            .count(),
    }
}

/// Every wrapped key row in the key store, whatever its tenant.
async fn key_row_count(app: &TestApp) -> usize {
    app.state.tenancy.stored_key_count_all().await.unwrap() as usize
}

async fn listed_tenants(app: &TestApp) -> Vec<Value> {
    let reply = app.get("/v1/tenants?limit=200", &app.operator_token).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["items"].as_array().unwrap().clone()
}

/// The migrations recorded inside the tenant's own schema or file.
async fn applied_tenant_migrations(app: &TestApp, location: &TenantLocation) -> Vec<String> {
    let schema = location.schema.as_str();
    let (db, sql) = match app.backend {
        Backend::Postgres => (
            Database::connect(app.database_url.clone().unwrap())
                .await
                .unwrap(),
            format!("SELECT version FROM \"{schema}\".seaql_migrations ORDER BY version"),
        ),
        Backend::Sqlite => {
            let file = app.data_dir().join("tenants").join(format!("{schema}.db"));
            (
                Database::connect(format!("sqlite://{}?mode=ro", file.display()))
                    .await
                    .unwrap(),
                "SELECT version FROM seaql_migrations ORDER BY version".to_string(),
            )
        }
    };
    let rows = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap();
    rows.iter()
        .map(|r| r.try_get::<String>("", "version").unwrap())
        .collect()
}

async fn promise_d1_d2_provisioning_creates_schema_keys_profile_and_admin_key(backend: Backend) {
    let app = spawn(backend).await;
    let created = app
        .post(
            "/v1/tenants",
            &app.operator_token,
            json!({"slug": "northfield", "name": "  Northfield University  "}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let tenant = &created.body["tenant"];
    let id = tenant["id"].as_str().unwrap().to_string();
    assert_eq!(
        created.header("location").unwrap(),
        format!("/v1/tenants/{id}")
    );
    assert_eq!(tenant["slug"], "northfield");
    assert_eq!(tenant["name"], "Northfield University", "name is trimmed");
    assert_eq!(tenant["status"], "active");
    assert_eq!(tenant["revision"], 1);
    let latest = TenantMigrator::latest_version();
    assert!(!latest.is_empty());
    assert_eq!(tenant["schema_version"], latest.as_str());

    // D1: the institution has storage of its own, migrated to the latest version.
    let location = location(&app, &id).await;
    assert!(storage_exists(&app, &location).await);
    let applied = applied_tenant_migrations(&app, &location).await;
    assert_eq!(applied.last(), Some(&latest), "applied: {applied:?}");

    // D2: a data key and a blind-index key of its own, stored wrapped.
    assert_eq!(stored_keys(&app, &id).await, 2);

    // The first admin key works, carries every scope, and is bound to this institution.
    let key = &created.body["admin_api_key"];
    let token = key["token"].as_str().unwrap();
    assert!(token.starts_with("dxh_"), "{token}");
    let mut scopes: Vec<&str> = key["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    scopes.sort_unstable();
    // Every scope an installed crate registers, read from the registry rather than listed
    // here, so a crate's new scope cannot go missing from the first admin key unnoticed.
    let registered = hub_tenant::module::all_scopes();
    let mut registered: Vec<&str> = registered.iter().map(|s| s.as_str()).collect();
    registered.sort_unstable();
    assert_eq!(scopes, registered);
    for core in [
        "tenant:admin",
        "people:write",
        "courses:write",
        "audit:read",
    ] {
        assert!(scopes.contains(&core), "{core} missing from {scopes:?}");
    }
    let me = app.get("/v1/me", token).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    assert_eq!(me.body["tenant_id"], id.as_str());
    assert_eq!(me.body["tenant_slug"], "northfield");

    // D3 defaults are installed with the schema.
    let profile = app.get("/v1/privacy-profile", token).await;
    assert_eq!(profile.status, StatusCode::OK, "{}", profile.body);
    assert_eq!(profile.body["revision"], 1);
    assert_eq!(profile.header("etag").unwrap(), "\"1\"");
    assert_eq!(profile.body["retention"]["technical"]["period_days"], 90);

    // The tenant's tables are usable right away.
    let course = app
        .post(
            "/v1/courses",
            token,
            json!({"code": "FIRST", "title": "First course"}),
        )
        .await;
    assert_eq!(course.status, StatusCode::CREATED, "{}", course.body);

    let read = app
        .get(&format!("/v1/tenants/{id}"), &app.operator_token)
        .await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.body["schema_version"], latest.as_str());
}

/// Concurrent provisioning with the same slug makes the loser fail after it has created its
/// schema (or file) and keys: a real failure path. Whatever happens, each slug has one
/// institution, and every schema and key row belongs to a listed institution.
async fn failed_provisioning_leaves_nothing_behind(backend: Backend) {
    let app = spawn(backend).await;
    let body = |slug: &str| json!({"slug": slug, "name": format!("{slug} college")});
    for round in 0..4 {
        let slug = format!("race-{round}");
        let (a, b) = tokio::join!(
            app.post("/v1/tenants", &app.operator_token, body(&slug)),
            app.post("/v1/tenants", &app.operator_token, body(&slug)),
        );
        let (winner, loser) = if a.status == StatusCode::CREATED {
            (a, b)
        } else {
            (b, a)
        };
        assert_eq!(winner.status, StatusCode::CREATED, "{}", winner.body);
        loser.assert_problem(409, "tenant_slug_taken");
        assert!(
            loser.body["detail"].as_str().unwrap().contains(&slug),
            "{}",
            loser.body
        );

        // The winner is whole: its admin key works and its storage exists.
        let token = winner.body["admin_api_key"]["token"].as_str().unwrap();
        assert_eq!(app.get("/v1/courses", token).await.status, StatusCode::OK);
        let id = winner.body["tenant"]["id"].as_str().unwrap();
        assert!(storage_exists(&app, &location(&app, id).await).await);
        assert_eq!(stored_keys(&app, id).await, 2);
    }

    let tenants = listed_tenants(&app).await;
    assert_eq!(tenants.len(), 4, "one institution per slug");
    let mut slugs: Vec<&str> = tenants
        .iter()
        .map(|t| t["slug"].as_str().unwrap())
        .collect();
    slugs.sort_unstable();
    assert_eq!(slugs, ["race-0", "race-1", "race-2", "race-3"]);
    assert_eq!(
        tenant_storage_count(&app).await,
        tenants.len(),
        "a schema or file without an institution was left behind"
    );
    assert_eq!(
        key_row_count(&app).await,
        2 * tenants.len(),
        "keys without an institution were left behind"
    );

    // A plain, sequential duplicate is refused the same way and adds nothing either.
    app.post("/v1/tenants", &app.operator_token, body("race-0"))
        .await
        .assert_problem(409, "tenant_slug_taken");
    assert_eq!(tenant_storage_count(&app).await, 4);
    assert_eq!(key_row_count(&app).await, 8);
}

async fn invalid_tenant_input_is_refused_field_by_field_and_creates_nothing(backend: Backend) {
    let app = spawn(backend).await;
    let both_bad = app
        .post(
            "/v1/tenants",
            &app.operator_token,
            json!({"slug": "Not A Slug", "name": "   "}),
        )
        .await;
    both_bad.assert_problem(422, "validation_failed");
    assert_eq!(both_bad.error_fields(), ["slug", "name"]);

    for slug in ["ab", "-edge", "edge-", "under_score", &"x".repeat(51)] {
        let reply = app
            .post(
                "/v1/tenants",
                &app.operator_token,
                json!({"slug": slug, "name": "Fine name"}),
            )
            .await;
        reply.assert_problem(422, "validation_failed");
        assert_eq!(reply.error_fields(), ["slug"], "slug {slug:?}");
    }
    for name in ["", &"n".repeat(201)] {
        let reply = app
            .post(
                "/v1/tenants",
                &app.operator_token,
                json!({"slug": "fine-slug", "name": name}),
            )
            .await;
        reply.assert_problem(422, "validation_failed");
        assert_eq!(reply.error_fields(), ["name"], "name {name:?}");
    }
    // Control characters are refused at the edge, before the domain sees them.
    let bell = app
        .post(
            "/v1/tenants",
            &app.operator_token,
            json!({"slug": "fine-slug", "name": "bell\u{7}"}),
        )
        .await;
    bell.assert_problem(400, "invalid_input");
    assert_eq!(bell.error_fields(), ["/name"]);
    app.post(
        "/v1/tenants",
        &app.operator_token,
        json!({"slug": "fine-slug", "name": "Fine", "plan": "gold"}),
    )
    .await
    .assert_problem(400, "bad_request");

    assert!(listed_tenants(&app).await.is_empty());
    assert_eq!(tenant_storage_count(&app).await, 0);
    assert_eq!(key_row_count(&app).await, 0);
}

async fn tenants_list_in_pages_and_filter_by_status(backend: Backend) {
    let app = spawn(backend).await;
    let mut ids = Vec::new();
    for slug in ["alpha", "bravo", "charlie", "delta", "echo"] {
        ids.push(app.create_institution(slug).await.id);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/tenants?limit=2&cursor={c}"),
            None => "/v1/tenants?limit=2".to_string(),
        };
        let page = app.get(&path, &app.operator_token).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        pages += 1;
        let items = page.body["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(
            items
                .iter()
                .map(|t| t["slug"].as_str().unwrap().to_string()),
        );
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, ["alpha", "bravo", "charlie", "delta", "echo"]);
    assert_eq!(pages, 3);

    let suspended = app
        .post(
            &format!("/v1/tenants/{}/suspend", ids[1]),
            &app.operator_token,
            json!({"reason": "invoice unpaid"}),
        )
        .await;
    assert_eq!(suspended.status, StatusCode::OK, "{}", suspended.body);

    let only_suspended = app
        .get("/v1/tenants?status=suspended", &app.operator_token)
        .await;
    assert_eq!(only_suspended.status, StatusCode::OK);
    let items = only_suspended.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["slug"], "bravo");
    assert_eq!(items[0]["status_reason"], "invoice unpaid");
    let active = app
        .get("/v1/tenants?status=active", &app.operator_token)
        .await;
    let slugs: Vec<&str> = active.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["alpha", "charlie", "delta", "echo"]);

    app.get("/v1/tenants?status=sleeping", &app.operator_token)
        .await
        .assert_problem(400, "bad_request");
    app.get("/v1/tenants?cursor=not-ours!", &app.operator_token)
        .await
        .assert_problem(422, "invalid_cursor");
    app.get("/v1/tenants?limit=201", &app.operator_token)
        .await
        .assert_problem(422, "invalid_limit");
}

async fn tenant_rename_needs_the_current_revision(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let path = format!("/v1/tenants/{}", north.id);
    let operator = Some(app.operator_token.as_str());

    let read = app.get(&path, &app.operator_token).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.header("etag").unwrap(), "\"1\"");
    assert_eq!(read.body["name"], "north institute");

    let renamed = app
        .call_with(
            Method::PATCH,
            &path,
            operator,
            Some(json!({"name": "North College"})),
            &[("If-Match", "\"1\"")],
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    assert_eq!(renamed.header("etag").unwrap(), "\"2\"");
    assert_eq!(renamed.body["name"], "North College");
    assert_eq!(renamed.body["revision"], 2);

    // A change based on revision 1 lost the race: refused, nothing changes.
    let stale = app
        .call_with(
            Method::PATCH,
            &path,
            operator,
            Some(json!({"name": "Stale"})),
            &[("If-Match", "\"1\"")],
        )
        .await;
    stale.assert_problem(412, "revision_mismatch");
    let invalid = app
        .call_with(
            Method::PATCH,
            &path,
            operator,
            Some(json!({"name": ""})),
            &[("If-Match", "\"2\"")],
        )
        .await;
    invalid.assert_problem(422, "validation_failed");
    let after = app.get(&path, &app.operator_token).await;
    assert_eq!(after.body["name"], "North College");
    assert_eq!(after.body["revision"], 2);
    assert_eq!(
        after.body["slug"], "north",
        "renaming never changes the slug"
    );

    app.get(
        &format!("/v1/tenants/{}", Uuid::now_v7()),
        &app.operator_token,
    )
    .await
    .assert_problem(404, "tenant_not_found");
    app.call_with(
        Method::PATCH,
        &format!("/v1/tenants/{}", Uuid::now_v7()),
        operator,
        Some(json!({"name": "Nobody"})),
        &[],
    )
    .await
    .assert_problem(404, "tenant_not_found");
}

async fn suspended_tenant_is_refused_until_resumed(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let south = app.create_institution("south").await;
    assert_eq!(
        app.get("/v1/courses", &north.admin_token).await.status,
        StatusCode::OK
    );

    let suspended = app
        .post(
            &format!("/v1/tenants/{}/suspend", north.id),
            &app.operator_token,
            json!({"reason": "contract paused"}),
        )
        .await;
    assert_eq!(suspended.status, StatusCode::OK, "{}", suspended.body);
    assert_eq!(suspended.body["status"], "suspended");
    assert_eq!(suspended.body["status_reason"], "contract paused");

    app.get("/v1/courses", &north.admin_token)
        .await
        .assert_problem(403, "tenant_suspended");
    app.post(
        "/v1/courses",
        &north.admin_token,
        json!({"code": "X", "title": "X"}),
    )
    .await
    .assert_problem(403, "tenant_suspended");
    // Another institution is not affected.
    assert_eq!(
        app.get("/v1/courses", &south.admin_token).await.status,
        StatusCode::OK
    );

    let resumed = app
        .call(
            Method::POST,
            &format!("/v1/tenants/{}/resume", north.id),
            Some(&app.operator_token),
            None,
        )
        .await;
    assert_eq!(resumed.status, StatusCode::OK, "{}", resumed.body);
    assert_eq!(resumed.body["status"], "active");
    assert_eq!(resumed.body["status_reason"], Value::Null);
    assert_eq!(
        app.get("/v1/courses", &north.admin_token).await.status,
        StatusCode::OK
    );
}

async fn promise_s4_offboarding_destroys_keys_then_schema_and_keeps_a_record(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let south = app.create_institution("south").await;
    let token = north.admin_token.as_str();
    for (i, email) in ["dpo@north.example", "billing@north.example"]
        .iter()
        .enumerate()
    {
        let reply = app
            .post(
                "/v1/contacts",
                token,
                json!({"role": if i == 0 { "data_protection_officer" } else { "billing" },
                       "name": format!("Person {i}"), "email": email}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }
    let course = app
        .post("/v1/courses", token, json!({"code": "C-1", "title": "One"}))
        .await;
    assert_eq!(course.status, StatusCode::CREATED);
    let location = location(&app, &north.id).await;
    let offboard = format!("/v1/tenants/{}/offboard", north.id);

    // The wrong slug is refused and nothing changes.
    let wrong = app
        .post(
            &offboard,
            &app.operator_token,
            json!({"confirm_slug": "south", "reason": "contract ended"}),
        )
        .await;
    wrong.assert_problem(422, "validation_failed");
    assert_eq!(wrong.body["errors"][0]["field"], "confirm_slug");
    assert!(storage_exists(&app, &location).await);
    assert_eq!(stored_keys(&app, &north.id).await, 2);
    let still = app
        .get(&format!("/v1/tenants/{}", north.id), &app.operator_token)
        .await;
    assert_eq!(still.body["status"], "active");
    let contacts = app.get("/v1/contacts", token).await;
    assert_eq!(contacts.body["items"].as_array().unwrap().len(), 2);

    let record = app
        .post(
            &offboard,
            &app.operator_token,
            json!({"confirm_slug": north.slug, "reason": "contract ended"}),
        )
        .await;
    assert_eq!(record.status, StatusCode::OK, "{}", record.body);
    assert_eq!(record.body["tenant_id"], north.id.as_str());
    assert_eq!(record.body["tenant_slug"], "north");
    assert_eq!(record.body["reason"], "contract ended");
    assert_eq!(record.body["keys_destroyed"], 2);
    let operator_key_id = Uuid::parse_str(app.operator_token.split('_').nth(1).unwrap()).unwrap();
    let requested_by = record.body["requested_by"].as_str().unwrap();
    assert!(
        requested_by.contains(&operator_key_id.to_string())
            && requested_by.contains("test operator"),
        "requested_by names the operator key: {requested_by}"
    );
    let keys_at: chrono::DateTime<chrono::Utc> = record.body["keys_destroyed_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let dropped_at: chrono::DateTime<chrono::Utc> = record.body["schema_dropped_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(keys_at <= dropped_at, "keys are destroyed before the data");

    // Crypto-shredded, dropped, locked out, gone from the registry.
    assert_eq!(stored_keys(&app, &north.id).await, 0);
    assert!(!storage_exists(&app, &location).await);
    app.get("/v1/courses", token)
        .await
        .assert_problem(401, "unauthenticated");
    app.get("/v1/contacts", token)
        .await
        .assert_problem(401, "unauthenticated");
    app.get(&format!("/v1/tenants/{}", north.id), &app.operator_token)
        .await
        .assert_problem(404, "tenant_not_found");
    let listed = listed_tenants(&app).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["slug"], "south");
    assert_eq!(tenant_storage_count(&app).await, 1);
    assert_eq!(key_row_count(&app).await, 2);

    let records = app.get("/v1/deletion-records", &app.operator_token).await;
    assert_eq!(records.status, StatusCode::OK, "{}", records.body);
    let items = records.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], record.body["id"]);
    assert_eq!(items[0]["tenant_slug"], "north");
    assert_eq!(items[0]["keys_destroyed"], 2);

    // The neighbour is untouched, and the slug can be used again.
    assert_eq!(
        app.get("/v1/courses", &south.admin_token).await.status,
        StatusCode::OK
    );
    app.post(
        &offboard,
        &app.operator_token,
        json!({"confirm_slug": "north", "reason": "again"}),
    )
    .await
    .assert_problem(404, "tenant_not_found");
    let again = app.create_institution("north").await;
    assert_ne!(again.id, north.id);
    assert_eq!(
        app.get("/v1/contacts", &again.admin_token).await.body["items"],
        json!([]),
        "a new institution with the old slug sees none of the old data"
    );
}

async fn operator_and_institution_credentials_are_kept_apart(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;

    for path in [
        "/v1/courses",
        "/v1/tenants",
        "/v1/contacts",
        "/v1/deletion-records",
    ] {
        let reply = app.call(Method::GET, path, None, None).await;
        reply.assert_problem(401, "unauthenticated");
    }
    let anonymous_create = app
        .call(
            Method::POST,
            "/v1/tenants",
            None,
            Some(json!({"slug": "sneaky", "name": "Sneaky"})),
        )
        .await;
    anonymous_create.assert_problem(401, "unauthenticated");

    // An institution's key cannot manage institutions, not even its own.
    app.get("/v1/tenants", &north.admin_token)
        .await
        .assert_problem(403, "operator_only");
    app.get(&format!("/v1/tenants/{}", north.id), &north.admin_token)
        .await
        .assert_problem(403, "operator_only");
    app.post(
        "/v1/tenants",
        &north.admin_token,
        json!({"slug": "sneaky", "name": "Sneaky"}),
    )
    .await
    .assert_problem(403, "operator_only");

    // The operator manages institutions but cannot act inside one.
    app.get("/v1/courses", &app.operator_token)
        .await
        .assert_problem(403, "tenant_credential_required");
    app.get("/v1/contacts", &app.operator_token)
        .await
        .assert_problem(403, "tenant_credential_required");

    // `dxh_<key id>_<secret>`: a real key id with a wrong secret must fail like garbage.
    let key_id = north.admin_token.split('_').nth(1).unwrap();
    for garbage in [
        "garbage".to_string(),
        "dxh_nope_nope".to_string(),
        format!("dxh_{key_id}_wrong-secret"),
        // The right secret with the operator prefix is still not an operator key.
        north.admin_token.replacen("dxh_", "dxo_", 1),
    ] {
        app.get("/v1/courses", &garbage)
            .await
            .assert_problem(401, "unauthenticated");
        app.get("/v1/tenants", &garbage)
            .await
            .assert_problem(401, "unauthenticated");
    }
    assert_eq!(listed_tenants(&app).await.len(), 1, "nothing was created");
}
