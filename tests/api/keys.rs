//! Per-institution keys and the personal data sealed under them: key rotation with a visible
//! re-encryption job (D2), and the contacts API (C2, C8): create, list, look up by email,
//! update with `If-Match`, delete, with optional fields that can be skipped.

// Test code: a failed unwrap is a failed test with its reason, which is what we want.

use crate::both_backends;
use crate::support::{Backend, TestApp, spawn, spawn_on_same_storage};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

both_backends!(
    promise_d2_key_rotation_reencrypts_and_old_data_stays_readable,
    promise_d2_rotation_reseals_every_sealed_column_resumes_after_a_kill_and_destroys_the_old_key,
    promise_d2_a_job_runs_once_across_gateways_and_a_dead_holders_lease_lapses_to_another,
    promise_d2_index_key_rotation_reindexes_every_blind_index_finds_rows_meanwhile_and_destroys_the_old_key,
    promise_d2_every_blind_index_column_of_the_schema_is_in_the_rotation_registry,
    promise_d2_a_session_opened_before_a_rotation_lists_its_context_after_the_old_key_is_destroyed,
    promise_d2_sso_links_are_reindexed_and_a_link_without_its_subject_moves_at_its_next_sign_in,
    contacts_lifecycle,
    contacts_are_found_by_email_whatever_its_case,
    invalid_contacts_are_refused_field_by_field,
    promise_c8_optional_contact_fields_can_be_skipped
);

async fn create_contact(app: &TestApp, token: &str, body: Value) -> Value {
    let reply = app.post("/v1/contacts", token, body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body
}

/// Polls a job until it leaves `running` (bounded: about ten seconds).
pub(crate) async fn finished_job(app: &TestApp, token: &str, id: &str) -> Value {
    for _ in 0..200 {
        let reply = app.get(&format!("/v1/jobs/{id}"), token).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        if reply.body["state"] != "running" {
            return reply.body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("job {id} still running after about ten seconds");
}

async fn promise_d2_key_rotation_reencrypts_and_old_data_stays_readable(backend: Backend) {
    let app = spawn(backend).await;
    // One process: no other replica can hold a stale key ring, so the job need not wait.
    app.state.tenancy.set_key_cache_ttl(Duration::ZERO);
    let north = app.create_institution("north").await;
    let token = north.admin_token.as_str();
    let people = [
        (
            "data_protection_officer",
            "Ada Lovelace",
            "dpo@north.example",
            Some("+441632960961"),
        ),
        ("billing", "Grace Hopper", "billing@north.example", None),
        (
            "technical",
            "Alan Turing",
            "it@north.example",
            Some("+14155550100"),
        ),
    ];
    let mut ids = Vec::new();
    for (role, name, email, phone) in people {
        let mut body = json!({"role": role, "name": name, "email": email});
        if let Some(phone) = phone {
            body["phone"] = json!(phone);
        }
        ids.push(
            create_contact(&app, token, body).await["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }

    let before = app.get("/v1/encryption-keys", token).await;
    assert_eq!(before.status, StatusCode::OK, "{}", before.body);
    assert_eq!(before.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(before.body["items"][0]["version"], 1);
    assert_eq!(before.body["items"][0]["state"], "active");

    let rotated = app
        .call(
            Method::POST,
            "/v1/encryption-keys/rotate",
            Some(token),
            None,
        )
        .await;
    assert_eq!(rotated.status, StatusCode::ACCEPTED, "{}", rotated.body);
    assert_eq!(rotated.body["active_version"], 2);
    let job = &rotated.body["job"];
    let job_id = job["id"].as_str().unwrap();
    assert_eq!(
        rotated.header("location").unwrap(),
        format!("/v1/jobs/{job_id}")
    );
    assert_eq!(job["kind"], "key_rotation_reencrypt");
    // Every row holding a value sealed under version 1 is counted: the contacts, and the
    // audit entries, people and messages the set-up wrote.
    let total = job["total"].as_i64().unwrap();
    assert!(total > 3, "{job}");

    let done = finished_job(&app, token, job_id).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(done["done"], total, "{done}");
    assert_eq!(done["total"], total, "{done}");
    assert_eq!(done["error"], Value::Null);

    let after = app.get("/v1/encryption-keys", token).await;
    let versions: Vec<(i64, &str)> = after.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["version"].as_i64().unwrap(), k["state"].as_str().unwrap()))
        .collect();
    // Nothing references version 1 any more: it is destroyed. The blind-index key stays,
    // so lookups keep working.
    assert_eq!(versions, [(2, "active")]);
    let tenant = uuid::Uuid::parse_str(&north.id).unwrap();
    assert_eq!(app.state.tenancy.stored_key_count(tenant).await.unwrap(), 2);

    // Everything reads back as it was written, by id, in the list, and by email.
    for ((role, name, email, phone), id) in people.iter().zip(&ids) {
        let read = app.get(&format!("/v1/contacts/{id}"), token).await;
        assert_eq!(read.status, StatusCode::OK, "{}", read.body);
        assert_eq!(read.body["role"], *role);
        assert_eq!(read.body["name"], *name);
        assert_eq!(read.body["email"], *email);
        assert_eq!(read.body["phone"], json!(phone));
        let found = app.get(&format!("/v1/contacts?email={email}"), token).await;
        assert_eq!(found.body["items"][0]["id"], id.as_str(), "{email}");
    }
    let list = app.get("/v1/contacts", token).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 3);

    // New data is sealed under the new key and reads back too; a second rotation re-seals
    // everything again and still loses nothing.
    create_contact(
        &app,
        token,
        json!({"role": "administrative", "name": "Katherine Johnson", "email": "admin@north.example"}),
    )
    .await;
    let again = app
        .call(
            Method::POST,
            "/v1/encryption-keys/rotate",
            Some(token),
            None,
        )
        .await;
    assert_eq!(again.status, StatusCode::ACCEPTED, "{}", again.body);
    assert_eq!(again.body["active_version"], 3);
    let total = again.body["job"]["total"].as_i64().unwrap();
    assert!(total >= 4, "{}", again.body);
    let done = finished_job(&app, token, again.body["job"]["id"].as_str().unwrap()).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(done["done"], total, "{done}");
    let list = app.get("/v1/contacts", token).await;
    let names: Vec<&str> = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "Ada Lovelace",
            "Grace Hopper",
            "Alan Turing",
            "Katherine Johnson"
        ]
    );

    // Another institution cannot see this job.
    let south = app.create_institution("south").await;
    app.get(&format!("/v1/jobs/{job_id}"), &south.admin_token)
        .await
        .assert_problem(404, "job_not_found");
}

async fn contacts_lifecycle(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let token = north.admin_token.as_str();

    let created = app
        .post(
            "/v1/contacts",
            token,
            json!({"role": "data_protection_officer", "name": "Ada Lovelace",
                   "email": "dpo@north.example", "phone": "+441632960961"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_string();
    let path = format!("/v1/contacts/{id}");
    assert_eq!(created.header("location").unwrap(), path);
    assert_eq!(created.header("etag").unwrap(), "\"1\"");
    assert_eq!(created.body["revision"], 1);

    let read = app.get(&path, token).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.body["name"], "Ada Lovelace");
    assert_eq!(read.body["phone"], "+441632960961");
    assert_eq!(read.header("etag").unwrap(), "\"1\"");

    let second = create_contact(
        &app,
        token,
        json!({"role": "billing", "name": "Grace Hopper", "email": "billing@north.example"}),
    )
    .await;
    let listed = app.get("/v1/contacts?limit=1", token).await;
    assert_eq!(listed.body["items"][0]["id"], id.as_str());
    let cursor = listed.body["next_cursor"].as_str().unwrap();
    let next = app
        .get(&format!("/v1/contacts?limit=1&cursor={cursor}"), token)
        .await;
    assert_eq!(next.body["items"][0]["id"], second["id"]);
    assert_eq!(next.body["next_cursor"], Value::Null);
    let billing = app.get("/v1/contacts?role=billing", token).await;
    let items = billing.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["name"], "Grace Hopper");

    // Updates need the revision read; stale ones change nothing.
    app.call(
        Method::PATCH,
        &path,
        Some(token),
        Some(json!({"name": "X"})),
    )
    .await
    .assert_problem(428, "if_match_required");
    let updated = app
        .call_with(
            Method::PATCH,
            &path,
            Some(token),
            Some(json!({"email": "privacy@north.example", "phone": null})),
            &[("If-Match", "\"1\"")],
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    assert_eq!(updated.header("etag").unwrap(), "\"2\"");
    assert_eq!(updated.body["email"], "privacy@north.example");
    assert_eq!(updated.body["phone"], Value::Null, "null removes the phone");
    assert_eq!(updated.body["name"], "Ada Lovelace", "omitted fields stay");
    assert_eq!(updated.body["role"], "data_protection_officer");
    app.call_with(
        Method::PATCH,
        &path,
        Some(token),
        Some(json!({"name": "Stale"})),
        &[("If-Match", "\"1\"")],
    )
    .await
    .assert_problem(412, "revision_mismatch");
    assert_eq!(app.get(&path, token).await.body["name"], "Ada Lovelace");

    // The blind index follows the new email; the old one finds nothing any more.
    let by_new = app
        .get("/v1/contacts?email=privacy@north.example", token)
        .await;
    assert_eq!(by_new.body["items"][0]["id"], id.as_str());
    let by_old = app.get("/v1/contacts?email=dpo@north.example", token).await;
    assert_eq!(by_old.body["items"], json!([]));

    app.call_with(
        Method::DELETE,
        &path,
        Some(token),
        None,
        &[("If-Match", "\"1\"")],
    )
    .await
    .assert_problem(412, "revision_mismatch");
    let deleted = app
        .call_with(
            Method::DELETE,
            &path,
            Some(token),
            None,
            &[("If-Match", "\"2\"")],
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
    app.get(&path, token)
        .await
        .assert_problem(404, "contact_not_found");
    app.call(Method::DELETE, &path, Some(token), None)
        .await
        .assert_problem(404, "contact_not_found");
    let remaining = app.get("/v1/contacts", token).await;
    assert_eq!(remaining.body["items"].as_array().unwrap().len(), 1);

    // Another institution's contact ids are not found.
    let south = app.create_institution("south").await;
    app.get(
        &format!("/v1/contacts/{}", second["id"].as_str().unwrap()),
        &south.admin_token,
    )
    .await
    .assert_problem(404, "contact_not_found");
}

async fn contacts_are_found_by_email_whatever_its_case(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let token = north.admin_token.as_str();
    let ada = create_contact(
        &app,
        token,
        json!({"role": "data_protection_officer", "name": "Ada", "email": "Dpo.Office@North.Example"}),
    )
    .await;
    create_contact(
        &app,
        token,
        json!({"role": "billing", "name": "Grace", "email": "billing@north.example"}),
    )
    .await;
    // Stored as written; matched without regard to case or surrounding spaces.
    assert_eq!(ada["email"], "Dpo.Office@North.Example");
    for query in [
        "dpo.office@north.example",
        "DPO.OFFICE@NORTH.EXAMPLE",
        "Dpo.Office@North.Example",
        "%20dpo.office@north.example%20",
    ] {
        let found = app.get(&format!("/v1/contacts?email={query}"), token).await;
        assert_eq!(found.status, StatusCode::OK, "{}", found.body);
        let items = found.body["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{query}: {}", found.body);
        assert_eq!(items[0]["id"], ada["id"]);
        assert_eq!(items[0]["name"], "Ada");
    }
    let none = app
        .get("/v1/contacts?email=nobody@north.example", token)
        .await;
    assert_eq!(none.body["items"], json!([]));

    // The same address in another institution is a different contact, not found here.
    let south = app.create_institution("south").await;
    create_contact(
        &app,
        &south.admin_token,
        json!({"role": "billing", "name": "Other", "email": "dpo.office@north.example"}),
    )
    .await;
    let found = app
        .get("/v1/contacts?email=dpo.office@north.example", token)
        .await;
    let items = found.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["name"], "Ada");
}

async fn invalid_contacts_are_refused_field_by_field(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let token = north.admin_token.as_str();
    let all_bad = app
        .post(
            "/v1/contacts",
            token,
            json!({"role": "billing", "name": " ", "email": "not-an-email", "phone": "0123"}),
        )
        .await;
    all_bad.assert_problem(422, "validation_failed");
    assert_eq!(all_bad.error_fields(), ["name", "email", "phone"]);

    for email in [
        "a@b",
        "@north.example",
        "a b@north.example",
        "a@.example",
        "a@north.example.",
    ] {
        let reply = app
            .post(
                "/v1/contacts",
                token,
                json!({"role": "billing", "name": "N", "email": email}),
            )
            .await;
        reply.assert_problem(422, "validation_failed");
        assert_eq!(reply.error_fields(), ["email"], "{email}");
    }
    for phone in [
        "441632960961",
        "+0441632960",
        "+12",
        "+44 1632 960961",
        "+44-1632-960961",
    ] {
        let reply = app
            .post(
                "/v1/contacts",
                token,
                json!({"role": "billing", "name": "N", "email": "n@north.example", "phone": phone}),
            )
            .await;
        reply.assert_problem(422, "validation_failed");
        assert_eq!(reply.error_fields(), ["phone"], "{phone}");
    }
    app.post(
        "/v1/contacts",
        token,
        json!({"role": "janitor", "name": "N", "email": "n@north.example"}),
    )
    .await
    .assert_problem(400, "bad_request");
    app.post(
        "/v1/contacts",
        token,
        json!({"role": "billing", "name": "N", "email": "n@north.example", "shoe_size": 44}),
    )
    .await
    .assert_problem(400, "bad_request");

    // An update is validated the same way and leaves the contact as it was.
    let contact = create_contact(
        &app,
        token,
        json!({"role": "billing", "name": "Grace", "email": "billing@north.example"}),
    )
    .await;
    let path = format!("/v1/contacts/{}", contact["id"].as_str().unwrap());
    let bad_update = app
        .call_with(
            Method::PATCH,
            &path,
            Some(token),
            Some(json!({"email": "nope", "phone": "12345"})),
            &[("If-Match", "\"1\"")],
        )
        .await;
    bad_update.assert_problem(422, "validation_failed");
    assert_eq!(bad_update.error_fields(), ["email", "phone"]);
    let unchanged = app.get(&path, token).await;
    assert_eq!(unchanged.body["email"], "billing@north.example");
    assert_eq!(unchanged.body["revision"], 1);

    let list = app.get("/v1/contacts", token).await;
    assert_eq!(
        list.body["items"].as_array().unwrap().len(),
        1,
        "no refused contact was stored"
    );
}

async fn promise_c8_optional_contact_fields_can_be_skipped(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let token = north.admin_token.as_str();

    let without_phone = create_contact(
        &app,
        token,
        json!({"role": "technical", "name": "Alan", "email": "it@north.example"}),
    )
    .await;
    assert_eq!(without_phone["phone"], Value::Null);
    let explicit_null = create_contact(
        &app,
        token,
        json!({"role": "technical", "name": "Joan", "email": "joan@north.example", "phone": null}),
    )
    .await;
    assert_eq!(explicit_null["phone"], Value::Null);

    let read = app
        .get(
            &format!("/v1/contacts/{}", without_phone["id"].as_str().unwrap()),
            token,
        )
        .await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.body["phone"], Value::Null);

    // A phone can be added later and removed again.
    let path = format!("/v1/contacts/{}", without_phone["id"].as_str().unwrap());
    let added = app
        .call_with(
            Method::PATCH,
            &path,
            Some(token),
            Some(json!({"phone": "+14155550100"})),
            &[("If-Match", "\"1\"")],
        )
        .await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.body);
    assert_eq!(added.body["phone"], "+14155550100");
    let removed = app
        .call_with(
            Method::PATCH,
            &path,
            Some(token),
            Some(json!({"phone": null})),
            &[("If-Match", "\"2\"")],
        )
        .await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.body);
    assert_eq!(removed.body["phone"], Value::Null);

    // Required fields cannot be skipped.
    for missing in ["role", "name", "email"] {
        let mut body = json!({"role": "technical", "name": "Alan", "email": "it@north.example"});
        body.as_object_mut().unwrap().remove(missing);
        app.post("/v1/contacts", token, body)
            .await
            .assert_problem(400, "bad_request");
    }
}

/// A connection to the tenant's own storage, every column of its live schema whose name
/// ends in `suffix` (`_sealed`, `_index`) as (table, column), and the prefix that names its
/// tables on that connection.
pub(crate) async fn live_columns(
    app: &TestApp,
    tenant_id: &str,
    suffix: &str,
) -> (sea_orm::DatabaseConnection, Vec<(String, String)>, String) {
    use sea_orm::{ConnectionTrait, Database, Statement};
    let location = app
        .state
        .tenancy
        .tenant_location(tenant_id.parse().unwrap())
        .await
        .unwrap();
    let schema = location.schema.as_str().to_string();
    let (db, tables_sql, prefix) = match app.backend {
        Backend::Postgres => (
            Database::connect(app.database_url.clone().unwrap())
                .await
                .unwrap(),
            format!(
                "SELECT table_name AS t, column_name AS c FROM information_schema.columns \
                 WHERE table_schema = '{schema}' AND column_name LIKE '%\\{suffix}'"
            ),
            format!("\"{schema}\"."),
        ),
        Backend::Sqlite => {
            let file = app.data_dir().join("tenants").join(format!("{schema}.db"));
            (
                Database::connect(format!("sqlite://{}?mode=rw", file.display()))
                    .await
                    .unwrap(),
                format!(
                    "SELECT m.name AS t, p.name AS c FROM sqlite_master m \
                     JOIN pragma_table_info(m.name) p WHERE m.type = 'table' \
                     AND p.name LIKE '%\\{suffix}' ESCAPE '\\'"
                ),
                String::new(),
            )
        }
    };
    let backend = db.get_database_backend();
    let columns = db
        .query_all_raw(Statement::from_string(backend, tables_sql))
        .await
        .unwrap()
        .into_iter()
        .map(|row| {
            (
                row.try_get::<String>("", "t").unwrap(),
                row.try_get::<String>("", "c").unwrap(),
            )
        })
        .collect();
    (db, columns, prefix)
}

/// Every stored value of every live column ending in `suffix`, with the key version
/// `version_of` reads from it: (table, column, version).
async fn stored_versions(
    app: &TestApp,
    tenant_id: &str,
    suffix: &str,
    version_of: fn(&[u8]) -> u32,
) -> Vec<(String, String, u32)> {
    use sea_orm::{ConnectionTrait, Statement};
    let (db, columns, prefix) = live_columns(app, tenant_id, suffix).await;
    let backend = db.get_database_backend();
    let mut found = Vec::new();
    for (table, name) in columns {
        let values = db
            .query_all_raw(Statement::from_string(
                backend,
                format!("SELECT {name} AS v FROM {prefix}{table} WHERE {name} IS NOT NULL"),
            ))
            .await
            .unwrap();
        for value in values {
            let stored: Vec<u8> = value.try_get("", "v").unwrap();
            found.push((table.clone(), name.clone(), version_of(&stored)));
        }
    }
    found
}

/// Every `*_sealed` column of the tenant's live schema (not the registry: a column the
/// registry misses is still read), with the key version of each stored value.
async fn sealed_versions(app: &TestApp, tenant_id: &str) -> Vec<(String, String, u32)> {
    stored_versions(app, tenant_id, "_sealed", |v| {
        hub_kernel::crypto::sealed_key_version(v).unwrap()
    })
    .await
}

/// Every `*_index` column of the tenant's live schema, with the index-key version of each
/// stored index.
async fn index_versions(app: &TestApp, tenant_id: &str) -> Vec<(String, String, u32)> {
    stored_versions(app, tenant_id, "_index", |v| {
        hub_kernel::crypto::blind_index_version(v).unwrap()
    })
    .await
}

async fn promise_d2_rotation_reseals_every_sealed_column_resumes_after_a_kill_and_destroys_the_old_key(
    backend: Backend,
) {
    let app = spawn(backend).await;
    app.state.tenancy.set_key_cache_ttl(Duration::ZERO);
    let north = app.create_institution("north").await;
    let token = north.admin_token.as_str();
    // Values in sealed columns of four tables: contacts, people (every field), an SSO client
    // secret, and the audit entries (with IPs) all of this writes.
    create_contact(
        &app,
        token,
        json!({"role": "billing", "name": "Bill Payer", "email": "bill@north.example",
               "phone": "+441632960961"}),
    )
    .await;
    for i in 0..4 {
        let person = app
            .post(
                "/v1/people",
                token,
                json!({"name": format!("Person {i}"), "email": format!("p{i}@north.example"),
                       "username": format!("p{i}"), "phone": "+14155550100",
                       "birth_date": "2000-01-02", "roles": ["learner"]}),
            )
            .await;
        assert_eq!(person.status, StatusCode::CREATED, "{}", person.body);
    }
    let connection = app
        .post(
            "/v1/sso/connections",
            token,
            json!({"name": "IdP", "issuer": "https://idp.north.example", "client_id": "hub",
                   "client_secret": "s3cret"}),
        )
        .await;
    assert_eq!(
        connection.status,
        StatusCode::CREATED,
        "{}",
        connection.body
    );
    let before = sealed_versions(&app, &north.id).await;
    let tables: std::collections::BTreeSet<&str> =
        before.iter().map(|(t, _, _)| t.as_str()).collect();
    for table in ["contacts", "people", "sso_connections", "audit_events"] {
        assert!(
            tables.contains(table),
            "no sealed value in {table}: {before:?}"
        );
    }
    assert!(before.iter().all(|(_, _, v)| *v == 1));

    // The job dies after two batches of two rows.
    app.state.tenancy.set_reseal_drill(2, 2);
    let rotated = app
        .call(
            Method::POST,
            "/v1/encryption-keys/rotate",
            Some(token),
            None,
        )
        .await;
    assert_eq!(rotated.status, StatusCode::ACCEPTED, "{}", rotated.body);
    let job_id = rotated.body["job"]["id"].as_str().unwrap().to_string();
    let total = rotated.body["job"]["total"].as_i64().unwrap();
    assert!(total > 4, "{}", rotated.body);
    for _ in 0..200 {
        if app.state.tenancy.jobs_stopped_by_drill() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        app.state.tenancy.jobs_stopped_by_drill(),
        1,
        "the drill stopped the job"
    );
    let stopped = app.get(&format!("/v1/jobs/{job_id}"), token).await.body;
    assert_eq!(stopped["state"], "running", "{stopped}");
    let done_before_restart = stopped["done"].as_i64().unwrap();
    assert!(
        done_before_restart > 0 && done_before_restart < total,
        "{stopped}"
    );
    let midway = sealed_versions(&app, &north.id).await;
    assert!(
        midway.iter().any(|(_, _, v)| *v == 1),
        "nothing left for the restart"
    );
    assert!(midway.iter().any(|(_, _, v)| *v == 2));

    // Once the dead process's lease has lapsed, a fresh process on the same storage
    // resumes the job at start and finishes it.
    lapse_job_leases(&app).await;
    let restarted = spawn_on_same_storage(&app).await;
    restarted.state.tenancy.set_key_cache_ttl(Duration::ZERO);
    let done = finished_job(&restarted, token, &job_id).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(done["error"], Value::Null, "{done}");
    // Progress carried over: the restart re-sealed only what was left.
    assert_eq!(done["done"], total, "{done}");

    // Every sealed value of every table is on version 2; version 1 is gone from the store.
    let after = sealed_versions(&restarted, &north.id).await;
    assert!(after.len() >= before.len(), "{after:?}");
    let stale: Vec<_> = after.iter().filter(|(_, _, v)| *v != 2).collect();
    assert!(stale.is_empty(), "{stale:?}");
    let keys = restarted.get("/v1/encryption-keys", token).await;
    assert_eq!(
        keys.body["items"].as_array().unwrap().len(),
        1,
        "{}",
        keys.body
    );
    assert_eq!(keys.body["items"][0]["version"], 2);
    let tenant = uuid::Uuid::parse_str(&north.id).unwrap();
    assert_eq!(
        restarted
            .state
            .tenancy
            .stored_key_count(tenant)
            .await
            .unwrap(),
        2,
        "the active data key and the blind-index key"
    );

    // Everything still opens, lookups by email still work, and the audit chain verifies.
    let found = restarted
        .get("/v1/contacts?email=BILL@north.example", token)
        .await;
    assert_eq!(
        found.body["items"][0]["phone"], "+441632960961",
        "{}",
        found.body
    );
    let people = restarted.get("/v1/people", token).await;
    assert_eq!(people.status, StatusCode::OK, "{}", people.body);
    assert!(
        people.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["email"] == "p3@north.example"),
        "{}",
        people.body
    );
    let trail = restarted.get("/v1/audit/events?limit=5", token).await;
    assert_eq!(trail.status, StatusCode::OK, "{}", trail.body);
    assert_eq!(trail.body["items"][0]["ip_address"], "127.0.0.1");
    let verified = restarted.get("/v1/audit/verification", token).await;
    assert_eq!(verified.body["intact"], true, "{}", verified.body);
}

/// Moves every job lease of the shared control plane into the past: what the passing of a
/// lease's lifetime does to a dead holder's lease, without waiting a minute for it.
async fn lapse_job_leases(app: &TestApp) {
    use sea_orm::{ConnectionTrait, Database, Statement, Value};
    let past = chrono::Utc::now() - chrono::Duration::hours(1);
    let (db, sql) = match app.backend {
        Backend::Postgres => (
            Database::connect(app.database_url.clone().unwrap())
                .await
                .unwrap(),
            "UPDATE hub_control.jobs SET lease_until = $1 WHERE lease_until IS NOT NULL",
        ),
        Backend::Sqlite => (
            Database::connect(format!(
                "sqlite://{}?mode=rw",
                app.data_dir().join("control.db").display()
            ))
            .await
            .unwrap(),
            "UPDATE jobs SET lease_until = ? WHERE lease_until IS NOT NULL",
        ),
    };
    let backend = db.get_database_backend();
    let lapsed = db
        .execute_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [Value::ChronoDateTimeUtc(Some(past))],
        ))
        .await
        .unwrap();
    assert_eq!(lapsed.rows_affected(), 1, "one job holds a lease");
}

/// Two gateways on the same storage: while the job's holder holds its lease, neither the
/// other gateway nor the holder itself starts the job again; once the lease of the holder
/// (stopped as if killed) has lapsed, both try at once and exactly one takes it over and
/// finishes the job.
async fn promise_d2_a_job_runs_once_across_gateways_and_a_dead_holders_lease_lapses_to_another(
    backend: Backend,
) {
    let app = spawn(backend).await;
    app.state.tenancy.set_key_cache_ttl(Duration::ZERO);
    let north = app.create_institution("north").await;
    let token = north.admin_token.as_str();
    for i in 0..3 {
        create_contact(
            &app,
            token,
            json!({"role": "billing", "name": format!("Contact {i}"),
                   "email": format!("c{i}@north.example")}),
        )
        .await;
    }
    // The first gateway's job stops after one batch of two rows, as if its process died,
    // still holding its lease.
    app.state.tenancy.set_reseal_drill(2, 1);
    let rotated = app
        .call(
            Method::POST,
            "/v1/encryption-keys/rotate",
            Some(token),
            None,
        )
        .await;
    assert_eq!(rotated.status, StatusCode::ACCEPTED, "{}", rotated.body);
    let job_id = rotated.body["job"]["id"].as_str().unwrap().to_string();
    let total = rotated.body["job"]["total"].as_i64().unwrap();
    for _ in 0..200 {
        if app.state.tenancy.jobs_stopped_by_drill() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(app.state.tenancy.jobs_stopped_by_drill(), 1);
    let stopped = app.get(&format!("/v1/jobs/{job_id}"), token).await.body;
    assert_eq!(stopped["state"], "running", "{stopped}");
    let done_when_stopped = stopped["done"].as_i64().unwrap();
    assert!(
        done_when_stopped > 0 && done_when_stopped < total,
        "{stopped}"
    );

    // A second gateway starts (and looks for jobs to resume, as every gateway does at
    // start): the lease is live, so it leaves the job alone, and so does the first.
    let second = spawn_on_same_storage(&app).await;
    second.state.tenancy.set_key_cache_ttl(Duration::ZERO);
    assert_eq!(second.state.tenancy.resume_jobs().await.unwrap(), 0);
    assert_eq!(app.state.tenancy.resume_jobs().await.unwrap(), 0);
    assert_eq!(
        app.state.tenancy.jobs_resumed() + second.state.tenancy.jobs_resumed(),
        0
    );
    let waiting = second.get(&format!("/v1/jobs/{job_id}"), token).await.body;
    assert_eq!(waiting["state"], "running", "{waiting}");
    assert_eq!(
        waiting["done"], done_when_stopped,
        "nobody ran it meanwhile"
    );

    // The dead holder's lease lapses; both gateways look at once: exactly one takes it.
    lapse_job_leases(&app).await;
    app.state.tenancy.set_reseal_drill(200, 0);
    let (first_took, second_took) = tokio::join!(
        app.state.tenancy.resume_jobs(),
        second.state.tenancy.resume_jobs()
    );
    let (first_took, second_took) = (first_took.unwrap(), second_took.unwrap());
    assert!(
        first_took + second_took <= 1,
        "{first_took} + {second_took}"
    );
    let done = finished_job(&second, token, &job_id).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(done["done"], total, "{done}");
    // Counted over the whole run, background looks included: one takeover, by one gateway.
    assert_eq!(
        app.state.tenancy.jobs_resumed() + second.state.tenancy.jobs_resumed(),
        1
    );
    assert_eq!(second.state.tenancy.resume_jobs().await.unwrap(), 0);
    let found = second
        .get("/v1/contacts?email=c2@north.example", token)
        .await;
    assert_eq!(
        found.body["items"][0]["name"], "Contact 2",
        "{}",
        found.body
    );
}

/// Index-key rotation re-indexes what the blind-index registry lists: every `*_index`
/// column of the live tenant schema must be in it, and every registry entry must exist, so
/// a new blind index cannot be left on a retired key.
async fn promise_d2_every_blind_index_column_of_the_schema_is_in_the_rotation_registry(
    backend: Backend,
) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let (_, live, _) = live_columns(&app, &north.id, "_index").await;
    let mut live: Vec<(String, String)> = live;
    live.sort();
    let mut registry: Vec<(String, String)> = app
        .state
        .tenancy
        .indexed_column_registry()
        .iter()
        .map(|c| (c.table.to_string(), c.stored()))
        .collect();
    registry.sort();
    assert!(!live.is_empty());
    assert_eq!(live, registry);
}

/// Finds people through SCIM's `userName eq` filter, the username's blind index.
async fn scim_users_named(app: &TestApp, scim_token: &str, username: &str) -> Value {
    let found = app
        .call_with(
            Method::GET,
            &format!("/v1/scim/v2/Users?filter=userName%20eq%20%22{username}%22"),
            Some(scim_token),
            None,
            &[("Content-Type", "application/scim+json")],
        )
        .await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.body);
    found.body
}

/// The blind-index key rotates like the data key: a new version indexes from the rotation
/// on, a job re-indexes every blind index of every table (it dies midway and a restart
/// finishes it), lookups by email and username and the uniqueness of emails hold while rows
/// sit under both versions, and the old version is destroyed once no row uses it.
async fn promise_d2_index_key_rotation_reindexes_every_blind_index_finds_rows_meanwhile_and_destroys_the_old_key(
    backend: Backend,
) {
    let app = spawn(backend).await;
    app.state.tenancy.set_key_cache_ttl(Duration::ZERO);
    let north = app.create_institution("north").await;
    let token = north.admin_token.as_str();
    let scim_token = app
        .post(
            "/v1/api-keys",
            token,
            json!({"name": "SCIM", "scopes": ["scim:provision"]}),
        )
        .await
        .body["token"]
        .as_str()
        .unwrap()
        .to_string();
    for i in 0..2 {
        create_contact(
            &app,
            token,
            json!({"role": "billing", "name": format!("Contact {i}"),
                   "email": format!("c{i}@north.example")}),
        )
        .await;
    }
    for i in 0..3 {
        let person = app
            .post(
                "/v1/people",
                token,
                json!({"name": format!("Person {i}"), "email": format!("p{i}@north.example"),
                       "username": format!("p{i}"), "roles": ["learner"]}),
            )
            .await;
        assert_eq!(person.status, StatusCode::CREATED, "{}", person.body);
    }
    let before = index_versions(&app, &north.id).await;
    let tables: std::collections::BTreeSet<&str> =
        before.iter().map(|(t, _, _)| t.as_str()).collect();
    assert!(
        tables.contains("contacts") && tables.contains("people"),
        "{before:?}"
    );
    assert!(before.iter().all(|(_, _, v)| *v == 1), "{before:?}");
    let keys = app.get("/v1/blind-index-keys", token).await;
    assert_eq!(keys.status, StatusCode::OK, "{}", keys.body);
    assert_eq!(keys.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(keys.body["items"][0]["version"], 1);

    // The job dies after two batches of one row: the contacts move, the people do not yet.
    app.state.tenancy.set_reseal_drill(1, 2);
    let rotated = app
        .call(
            Method::POST,
            "/v1/blind-index-keys/rotate",
            Some(token),
            None,
        )
        .await;
    assert_eq!(rotated.status, StatusCode::ACCEPTED, "{}", rotated.body);
    assert_eq!(rotated.body["active_version"], 2);
    assert_eq!(rotated.body["job"]["kind"], "index_key_rotation_reindex");
    let job_id = rotated.body["job"]["id"].as_str().unwrap().to_string();
    let total = rotated.body["job"]["total"].as_i64().unwrap();
    // Two contacts and three people (and whoever else the set-up made with an email).
    assert!(total >= 5, "{}", rotated.body);
    for _ in 0..200 {
        if app.state.tenancy.jobs_stopped_by_drill() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(app.state.tenancy.jobs_stopped_by_drill(), 1);
    let midway = index_versions(&app, &north.id).await;
    assert!(midway.iter().any(|(_, _, v)| *v == 1), "{midway:?}");
    assert!(midway.iter().any(|(_, _, v)| *v == 2), "{midway:?}");
    // One rotation of either key at a time.
    app.call(
        Method::POST,
        "/v1/encryption-keys/rotate",
        Some(token),
        None,
    )
    .await
    .assert_problem(409, "key_rotation_running");

    // Under both versions: every lookup finds its row, and a taken email stays taken.
    for i in 0..2 {
        let found = app
            .get(&format!("/v1/contacts?email=C{i}@north.example"), token)
            .await;
        assert_eq!(
            found.body["items"][0]["name"],
            format!("Contact {i}"),
            "{}",
            found.body
        );
    }
    for i in 0..3 {
        let found = app
            .get(&format!("/v1/people?email=p{i}@north.example"), token)
            .await;
        assert_eq!(
            found.body["items"][0]["name"],
            format!("Person {i}"),
            "{}",
            found.body
        );
        let named = scim_users_named(&app, &scim_token, &format!("P{i}")).await;
        assert_eq!(named["totalResults"], 1, "{named}");
    }
    let taken = app
        .post(
            "/v1/people",
            token,
            json!({"name": "Copy", "email": "P0@north.example", "roles": ["learner"]}),
        )
        .await;
    taken.assert_problem(409, "conflict");
    let late = app
        .post(
            "/v1/people",
            token,
            json!({"name": "Late", "email": "late@north.example", "username": "late",
                   "roles": ["learner"]}),
        )
        .await;
    assert_eq!(late.status, StatusCode::CREATED, "{}", late.body);

    // Once the dead process's lease lapses, a restart resumes the job and finishes it.
    lapse_job_leases(&app).await;
    let restarted = spawn_on_same_storage(&app).await;
    restarted.state.tenancy.set_key_cache_ttl(Duration::ZERO);
    let done = finished_job(&restarted, token, &job_id).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(done["done"], total, "{done}");

    // Every index of every table is on version 2; version 1 is gone from the store, the
    // data key untouched.
    let after = index_versions(&restarted, &north.id).await;
    assert_eq!(after.len(), before.len() + 2, "{after:?}");
    let stale: Vec<_> = after.iter().filter(|(_, _, v)| *v != 2).collect();
    assert!(stale.is_empty(), "{stale:?}");
    let keys = restarted.get("/v1/blind-index-keys", token).await;
    let versions: Vec<(i64, &str)> = keys.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["version"].as_i64().unwrap(), k["state"].as_str().unwrap()))
        .collect();
    assert_eq!(versions, [(2, "active")]);
    let data_keys = restarted.get("/v1/encryption-keys", token).await;
    assert_eq!(
        data_keys.body["items"][0]["version"], 1,
        "{}",
        data_keys.body
    );
    let tenant = uuid::Uuid::parse_str(&north.id).unwrap();
    assert_eq!(
        restarted
            .state
            .tenancy
            .stored_key_count(tenant)
            .await
            .unwrap(),
        2,
        "the data key and the new blind-index key"
    );

    // Lookups still work, under the new key only, and uniqueness still holds.
    for i in 0..3 {
        let found = restarted
            .get(&format!("/v1/people?email=P{i}@north.example"), token)
            .await;
        assert_eq!(
            found.body["items"][0]["name"],
            format!("Person {i}"),
            "{}",
            found.body
        );
        let named = scim_users_named(&restarted, &scim_token, &format!("p{i}")).await;
        assert_eq!(named["totalResults"], 1, "{named}");
    }
    let found = restarted
        .get("/v1/contacts?email=c1@north.example", token)
        .await;
    assert_eq!(
        found.body["items"][0]["name"], "Contact 1",
        "{}",
        found.body
    );
    let named = scim_users_named(&restarted, &scim_token, "late").await;
    assert_eq!(named["totalResults"], 1, "{named}");
    restarted
        .post(
            "/v1/people",
            token,
            json!({"name": "Copy", "email": "p1@north.example", "roles": ["learner"]}),
        )
        .await
        .assert_problem(409, "conflict");
}

/// Session contexts live in the session store, not in a table: rotation re-seals them too,
/// so a session opened before a rotation still lists where it came from once the old
/// version is destroyed.
async fn promise_d2_a_session_opened_before_a_rotation_lists_its_context_after_the_old_key_is_destroyed(
    backend: Backend,
) {
    use crate::passwords::{request_reset, reset, reset_code, sign_in};
    let app = spawn(backend).await;
    app.state.tenancy.set_key_cache_ttl(Duration::ZERO);
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    app.allow_local_accounts(admin).await;
    let ada = app
        .post(
            "/v1/people",
            admin,
            json!({"name": "Ada", "email": "ada@north.test", "roles": ["learner"]}),
        )
        .await;
    assert_eq!(ada.status, StatusCode::CREATED, "{}", ada.body);
    request_reset(&app, "north", "ada@north.test").await;
    let code = reset_code(&app, &north, ada.body["id"].as_str().unwrap()).await;
    let password = "meadow-kettle-orbit-42";
    assert_eq!(
        reset(&app, "north", &code, password).await.status,
        StatusCode::NO_CONTENT
    );
    let signed_in = sign_in(&app, "north", "ada@north.test", password).await;
    assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.body);
    let session = signed_in.body["session_token"]
        .as_str()
        .unwrap()
        .to_string();
    let listed = app.get("/v1/me/sessions", &session).await;
    assert_eq!(
        listed.body["items"][0]["ip_address"], "127.0.0.1",
        "{}",
        listed.body
    );

    let rotated = app
        .call(
            Method::POST,
            "/v1/encryption-keys/rotate",
            Some(admin),
            None,
        )
        .await;
    assert_eq!(rotated.status, StatusCode::ACCEPTED, "{}", rotated.body);
    let total = rotated.body["job"]["total"].as_i64().unwrap();
    let done = finished_job(&app, admin, rotated.body["job"]["id"].as_str().unwrap()).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(
        done["done"], total,
        "the session counted with the rows: {done}"
    );
    let keys = app.get("/v1/encryption-keys", admin).await;
    assert_eq!(
        keys.body["items"].as_array().unwrap().len(),
        1,
        "{}",
        keys.body
    );
    assert_eq!(keys.body["items"][0]["version"], 2);
    let tenant = uuid::Uuid::parse_str(&north.id).unwrap();
    assert_eq!(app.state.tenancy.stored_key_count(tenant).await.unwrap(), 2);

    // Version 1 is gone; the session still works and still says where it came from.
    let listed = app.get("/v1/me/sessions", &session).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    assert_eq!(
        listed.body["items"][0]["ip_address"], "127.0.0.1",
        "{}",
        listed.body
    );
}

/// Clears the sealed subject of every SSO link of the tenant, as on links made before the
/// subject was kept sealed.
async fn forget_sealed_subjects(app: &TestApp, tenant_id: &str) {
    use sea_orm::{ConnectionTrait, Statement};
    let (db, _, prefix) = live_columns(app, tenant_id, "_index").await;
    let cleared = db
        .execute_raw(Statement::from_string(
            db.get_database_backend(),
            format!("UPDATE {prefix}person_identities SET subject_sealed = NULL"),
        ))
        .await
        .unwrap();
    assert_eq!(cleared.rows_affected(), 1);
}

async fn rotate_index_key_to_the_end(app: &TestApp, token: &str) -> Value {
    let rotated = app
        .call(
            Method::POST,
            "/v1/blind-index-keys/rotate",
            Some(token),
            None,
        )
        .await;
    assert_eq!(rotated.status, StatusCode::ACCEPTED, "{}", rotated.body);
    let done = finished_job(app, token, rotated.body["job"]["id"].as_str().unwrap()).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    let keys = app.get("/v1/blind-index-keys", token).await;
    keys.body["items"].clone()
}

/// An SSO link's subject index rotates like the others: sealed beside it, the job re-indexes
/// it. A link without its sealed subject (made before it was kept) cannot be re-indexed: the
/// job finishes but keeps the retired key, the person is still recognised at the next
/// sign-in (the link moves then), and the next rotation destroys every retired version.
async fn promise_d2_sso_links_are_reindexed_and_a_link_without_its_subject_moves_at_its_next_sign_in(
    backend: Backend,
) {
    use crate::idp::{OidcProvider, UserAgent, idp_user};
    let app = spawn(backend).await;
    app.state.tenancy.set_key_cache_ttl(Duration::ZERO);
    let north = app.create_institution("north").await;
    let token = north.admin_token.as_str();
    let idp = OidcProvider::start(
        &app,
        &[("hub-north", "north-secret")],
        vec![idp_user(
            "alice",
            "alice@north.test",
            "Alice",
            &["students"],
        )],
    );
    let connection = app
        .post(
            "/v1/sso/connections",
            token,
            json!({"name": "Campus IdP", "issuer": idp.issuer, "client_id": "hub-north",
                   "client_secret": "north-secret", "scopes": ["openid", "email", "profile"]}),
        )
        .await;
    assert_eq!(
        connection.status,
        StatusCode::CREATED,
        "{}",
        connection.body
    );
    let login_path = connection.body["login_path"].as_str().unwrap().to_string();
    let sign_in = || async {
        let agent = UserAgent::new();
        let callback = agent
            .authorize(&app, &login_path, "alice", "alice correct horse")
            .await;
        let signed_in = agent.callback(&callback).await;
        assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.body);
        signed_in.body["person"]["id"].as_str().unwrap().to_string()
    };
    let alice = sign_in().await;
    let subject = |versions: &[(String, String, u32)]| -> Vec<u32> {
        versions
            .iter()
            .filter(|(t, _, _)| t == "person_identities")
            .map(|(_, _, v)| *v)
            .collect()
    };
    assert_eq!(subject(&index_versions(&app, &north.id).await), [1]);

    // Sealed beside its index: re-indexed with the rest, and version 1 destroyed.
    let keys = rotate_index_key_to_the_end(&app, token).await;
    assert_eq!(
        keys,
        json!([{"version": 2, "state": "active", "created_at": keys[0]["created_at"]}])
    );
    assert_eq!(subject(&index_versions(&app, &north.id).await), [2]);
    assert_eq!(
        sign_in().await,
        alice,
        "the same person, found by the new index"
    );

    // Without its sealed subject the link stays on version 2, which is kept.
    forget_sealed_subjects(&app, &north.id).await;
    let keys = rotate_index_key_to_the_end(&app, token).await;
    let states: Vec<(i64, &str)> = keys
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["version"].as_i64().unwrap(), k["state"].as_str().unwrap()))
        .collect();
    assert_eq!(states, [(2, "retired"), (3, "active")]);
    assert_eq!(subject(&index_versions(&app, &north.id).await), [2]);
    // Her next sign-in finds her under version 2 and moves the link to version 3.
    assert_eq!(
        sign_in().await,
        alice,
        "recognised under the retired version"
    );
    assert_eq!(subject(&index_versions(&app, &north.id).await), [3]);
    let people = app.get("/v1/people", token).await;
    assert_eq!(
        people.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["email"] == "alice@north.test")
            .count(),
        1,
        "no second Alice"
    );
    // The next rotation finds nothing left on the retired versions and destroys them.
    let keys = rotate_index_key_to_the_end(&app, token).await;
    assert_eq!(keys.as_array().unwrap().len(), 1, "{keys}");
    assert_eq!(keys[0]["version"], 4);
    assert_eq!(subject(&index_versions(&app, &north.id).await), [4]);
}
