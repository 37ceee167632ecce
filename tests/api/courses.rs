//! The course catalog through the public API: create, read, list, filter, update with
//! If-Match, delete, idempotent create.

// Test code: a failed unwrap is a failed test with its reason, which is what we want.

use crate::both_backends;
use crate::support::{Backend, spawn};
use reqwest::{Method, StatusCode};
use serde_json::json;

both_backends!(
    catalog_lifecycle,
    idempotent_create,
    promise_s7_an_idempotency_record_keeps_only_a_keyed_fingerprint_of_the_request,
    pagination_and_filters,
    bad_course_input_changes_nothing
);

async fn catalog_lifecycle(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let token = north.admin_token.as_str();

    let created = app
        .post(
            "/v1/courses",
            token,
            json!({"code": "CS-101", "title": "Intro", "tags": ["intro"], "minimum_age": 16}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_string();
    assert_eq!(
        created.header("location").unwrap(),
        format!("/v1/courses/{id}")
    );
    assert_eq!(created.header("etag").unwrap(), "\"1\"");
    assert_eq!(created.body["status"], "draft");

    let read = app.get(&format!("/v1/courses/{id}"), token).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.body["title"], "Intro");
    assert_eq!(read.body["minimum_age"], 16);

    // An update without If-Match is refused (428), a stale one too (412); neither changes it.
    let path = format!("/v1/courses/{id}");
    let no_match = app
        .call(
            Method::PATCH,
            &path,
            Some(token),
            Some(json!({"title": "X"})),
        )
        .await;
    no_match.assert_problem(428, "if_match_required");
    let stale = app
        .call_with(
            Method::PATCH,
            &path,
            Some(token),
            Some(json!({"title": "X"})),
            &[("If-Match", "\"7\"")],
        )
        .await;
    stale.assert_problem(412, "revision_mismatch");
    assert_eq!(app.get(&path, token).await.body["title"], "Intro");

    let updated = app
        .call_with(
            Method::PATCH,
            &path,
            Some(token),
            Some(json!({"title": "Intro to CS", "status": "published", "minimum_age": null})),
            &[("If-Match", "\"1\"")],
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    assert_eq!(updated.header("etag").unwrap(), "\"2\"");
    assert_eq!(updated.body["status"], "published");
    assert_eq!(updated.body["minimum_age"], serde_json::Value::Null);
    assert_eq!(updated.body["tags"], json!(["intro"]));

    let deleted = app.call(Method::DELETE, &path, Some(token), None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    app.get(&path, token)
        .await
        .assert_problem(404, "course_not_found");
}

/// The stored fingerprint of a request (`idempotency_keys.request_hash`) of one institution.
async fn stored_fingerprint(app: &crate::support::TestApp, tenant_id: &str, key: &str) -> String {
    use sea_orm::{ConnectionTrait, Statement};
    let (db, _, prefix) = crate::keys::live_columns(app, tenant_id, "_sealed").await;
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            format!("SELECT request_hash FROM {prefix}idempotency_keys WHERE key = '{key}'"),
        ))
        .await
        .unwrap()
        .expect("the idempotency record");
    row.try_get("", "request_hash").unwrap()
}

/// A create's body can hold personal data, so its idempotency record keeps a fingerprint
/// keyed by the institution's own index key, never a plain hash a dump could match against a
/// guess: the same request in two institutions is remembered under different fingerprints,
/// and a retry still replays after the index key rotates.
async fn promise_s7_an_idempotency_record_keeps_only_a_keyed_fingerprint_of_the_request(
    backend: Backend,
) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let south = app.create_institution("south").await;
    let body = json!({"code": "BIO-1", "title": "Biology"});
    let key = [("Idempotency-Key", "create-bio-1")];
    let mut ids = Vec::new();
    for inst in [&north, &south] {
        let made = app
            .call_with(
                Method::POST,
                "/v1/courses",
                Some(&inst.admin_token),
                Some(body.clone()),
                &key,
            )
            .await;
        assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
        ids.push(made.body["id"].clone());
    }
    let north_print = stored_fingerprint(&app, &north.id, "create-bio-1").await;
    let south_print = stored_fingerprint(&app, &south.id, "create-bio-1").await;
    assert_ne!(
        north_print, south_print,
        "an unkeyed hash would be the same"
    );

    let rotated = app
        .call(
            Method::POST,
            "/v1/blind-index-keys/rotate",
            Some(&north.admin_token),
            None,
        )
        .await;
    assert_eq!(rotated.status, StatusCode::ACCEPTED, "{}", rotated.body);
    let retry = app
        .call_with(
            Method::POST,
            "/v1/courses",
            Some(&north.admin_token),
            Some(body),
            &key,
        )
        .await;
    assert_eq!(retry.status, StatusCode::OK, "{}", retry.body);
    assert_eq!(retry.body["id"], ids[0]);
}

async fn idempotent_create(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let token = north.admin_token.as_str();
    let body = json!({"code": "BIO-1", "title": "Biology"});
    let key = [("Idempotency-Key", "create-bio-1")];

    let first = app
        .call_with(
            Method::POST,
            "/v1/courses",
            Some(token),
            Some(body.clone()),
            &key,
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    let retry = app
        .call_with(Method::POST, "/v1/courses", Some(token), Some(body), &key)
        .await;
    assert_eq!(
        retry.status,
        StatusCode::OK,
        "a retry replays the first result"
    );
    assert_eq!(retry.body["id"], first.body["id"]);

    let other = app
        .call_with(
            Method::POST,
            "/v1/courses",
            Some(token),
            Some(json!({"code": "BIO-2", "title": "B"})),
            &key,
        )
        .await;
    other.assert_problem(409, "idempotency_key_reused");

    let list = app.get("/v1/courses", token).await;
    assert_eq!(
        list.body["items"].as_array().unwrap().len(),
        1,
        "no duplicate was created"
    );

    let duplicate_code = app
        .post(
            "/v1/courses",
            token,
            json!({"code": "BIO-1", "title": "again"}),
        )
        .await;
    duplicate_code.assert_problem(409, "course_code_taken");
}

async fn pagination_and_filters(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let token = north.admin_token.as_str();
    for i in 0..5 {
        let status = if i % 2 == 0 { "published" } else { "draft" };
        let tags = if i < 2 {
            json!(["stem"])
        } else {
            json!(["arts"])
        };
        let reply = app
            .post("/v1/courses", token, json!({"code": format!("C-{i}"), "title": format!("Course {i}"), "status": status, "tags": tags}))
            .await;
        assert_eq!(reply.status, StatusCode::CREATED);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/courses?limit=2&cursor={c}"),
            None => "/v1/courses?limit=2".to_string(),
        };
        let page = app.get(&path, token).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        for item in page.body["items"].as_array().unwrap() {
            seen.push(item["code"].as_str().unwrap().to_string());
        }
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(
        seen,
        ["C-0", "C-1", "C-2", "C-3", "C-4"],
        "every course once, in order"
    );

    let published = app.get("/v1/courses?status=published", token).await;
    assert_eq!(published.body["items"].as_array().unwrap().len(), 3);
    let stem = app.get("/v1/courses?tag=stem", token).await;
    assert_eq!(stem.body["items"].as_array().unwrap().len(), 2);
    let by_code = app.get("/v1/courses?code=C-3", token).await;
    assert_eq!(by_code.body["items"][0]["code"], "C-3");

    app.get("/v1/courses?cursor=garbage!", token)
        .await
        .assert_problem(422, "invalid_cursor");
    app.get("/v1/courses?limit=0", token)
        .await
        .assert_problem(422, "invalid_limit");
    app.get("/v1/courses?tag=Bad%25", token)
        .await
        .assert_problem(422, "validation_failed");
}

async fn bad_course_input_changes_nothing(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let token = north.admin_token.as_str();

    let invalid = app
        .post(
            "/v1/courses",
            token,
            json!({"code": "has space", "title": "", "tags": ["UPPER"], "minimum_age": 300}),
        )
        .await;
    invalid.assert_problem(422, "validation_failed");
    let fields = invalid.error_fields();
    assert_eq!(fields, ["code", "title", "tags[0]", "minimum_age"]);

    let unknown_field = app
        .post(
            "/v1/courses",
            token,
            json!({"code": "A", "title": "B", "colour": "red"}),
        )
        .await;
    unknown_field.assert_problem(400, "bad_request");
    let wrong_type = app
        .post(
            "/v1/courses",
            token,
            json!({"code": {"nested": true}, "title": "B"}),
        )
        .await;
    wrong_type.assert_problem(400, "bad_request");

    let broken = app
        .client
        .post(format!("{}/v1/courses", app.base))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body("{\"code\":")
        .send()
        .await
        .unwrap();
    assert_eq!(broken.status(), StatusCode::BAD_REQUEST);
    assert_eq!(broken.headers()["content-type"], "application/problem+json");

    let huge = "x".repeat(2 * 1024 * 1024);
    let oversized = app
        .post(
            "/v1/courses",
            token,
            json!({"code": "BIG", "title": "t", "description": huge}),
        )
        .await;
    oversized.assert_problem(413, "payload_too_large");

    let list = app.get("/v1/courses", token).await;
    assert_eq!(
        list.body["items"],
        json!([]),
        "no bad request left a course behind"
    );
}
