//! Per-institution keys and the personal data sealed under them: key rotation with a visible
//! re-encryption job (D2), and the contacts API (C2, C8): create, list, look up by email,
//! update with `If-Match`, delete, with optional fields that can be skipped.

// Test code: a failed unwrap is a failed test with its reason, which is what we want.

use crate::both_backends;
use crate::support::{Backend, TestApp, spawn};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

both_backends!(
    promise_d2_key_rotation_reencrypts_and_old_data_stays_readable,
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
async fn finished_job(app: &TestApp, token: &str, id: &str) -> Value {
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
    assert_eq!(
        job["total"], 3,
        "every contact sealed under version 1 is counted"
    );

    let done = finished_job(&app, token, job_id).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(done["done"], 3, "{done}");
    assert_eq!(done["total"], 3, "{done}");
    assert_eq!(done["error"], Value::Null);

    let after = app.get("/v1/encryption-keys", token).await;
    let versions: Vec<(i64, &str)> = after.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["version"].as_i64().unwrap(), k["state"].as_str().unwrap()))
        .collect();
    assert_eq!(versions, [(1, "retired"), (2, "active")]);
    // Rotation adds a data key; the blind-index key stays, so lookups keep working.
    let tenant = uuid::Uuid::parse_str(&north.id).unwrap();
    assert_eq!(app.state.tenancy.stored_key_count(tenant).await.unwrap(), 3);

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
    assert_eq!(again.body["job"]["total"], 4);
    let done = finished_job(&app, token, again.body["job"]["id"].as_str().unwrap()).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(done["done"], 4, "{done}");
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
