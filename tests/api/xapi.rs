//! The xAPI 1.0.3 Learning Record Store through its public API: LRS credentials (HTTP
//! Basic), the version header, strict statement validation (each MUST rule enforced: 400,
//! nothing stored), batches all-or-nothing, duplicate ids, voiding, every GET filter, `more`
//! paging, tenant isolation, and statements as learning records through the personal-data
//! contract.

// Test code: a failed unwrap is a failed test with its reason, which is what we want.

use crate::both_backends;
use crate::support::{Backend, Reply, TestApp, spawn};
use hub_kernel::Pii;
use hub_tenant::Principal;
use hub_tenant::personal_data::{DataSubject, sources};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

both_backends!(
    credentials_are_issued_listed_and_revoked,
    another_institutions_credential_reads_nothing_here,
    version_header_rules,
    each_statement_rule_is_refused_and_nothing_is_stored,
    a_batch_is_stored_whole_or_not_at_all,
    duplicate_ids_conflict_unless_the_statement_is_the_same,
    voided_statements_leave_queries_and_are_fetched_by_voided_id,
    every_filter_selects_what_it_names,
    more_pages_through_every_statement_once,
    a_third_party_xapi_client_round_trips,
    documents_follow_the_concurrency_rules,
    state_documents_list_merge_and_delete_together,
    activities_and_agents_resources,
    promise_c3_statements_are_learning_records_exported_erased_and_restricted_per_person,
    promise_c3_a_completed_statement_on_a_lessons_activity_completes_the_lesson,
    concurrent_first_writes_of_a_document_keep_one_row,
    canonical_format_keeps_the_language_accept_language_prefers,
    undeclared_query_parameters_are_refused_and_nothing_is_done,
    the_alternate_request_syntax_is_the_request_it_carries,
    attachments_round_trip_in_multipart_mixed,
    each_bad_multipart_is_refused_and_nothing_is_stored,
    oversized_attachments_are_refused_with_413,
    signed_statements_are_checked,
    statement_refs_meet_the_filters_of_their_targets,
    promise_c3_statement_refs_stored_before_their_targets_were_recorded_are_followed,
    erasure_removes_a_persons_attachments
);

pub struct Lrs {
    pub key: String,
    pub secret: String,
    pub id: String,
}

pub async fn lrs_credential(app: &TestApp, admin: &str, scopes: &[&str]) -> Lrs {
    let reply = app
        .post(
            "/v1/lrs/credentials",
            admin,
            json!({"name": "player", "scopes": scopes}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    Lrs {
        key: reply.body["credential"]["key"]
            .as_str()
            .unwrap()
            .to_string(),
        secret: reply.body["secret"].as_str().unwrap().to_string(),
        id: reply.body["credential"]["id"].as_str().unwrap().to_string(),
    }
}

pub async fn xapi(
    app: &TestApp,
    lrs: &Lrs,
    method: Method,
    path: &str,
    body: Option<Value>,
    version: Option<&str>,
) -> Reply {
    let mut request = app
        .client
        .request(method, format!("{}{path}", app.base))
        .basic_auth(&lrs.key, Some(&lrs.secret));
    if let Some(version) = version {
        request = request.header("X-Experience-API-Version", version);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    Reply {
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
    }
}

async fn post(app: &TestApp, lrs: &Lrs, body: Value) -> Reply {
    xapi(
        app,
        lrs,
        Method::POST,
        "/xapi/statements",
        Some(body),
        Some("1.0.3"),
    )
    .await
}

async fn get(app: &TestApp, lrs: &Lrs, query: &str) -> Reply {
    xapi(
        app,
        lrs,
        Method::GET,
        &format!("/xapi/statements{query}"),
        None,
        Some("1.0.3"),
    )
    .await
}

/// The ids a query answers, in order.
async fn ids(app: &TestApp, lrs: &Lrs, query: &str) -> Vec<String> {
    let reply = get(app, lrs, query).await;
    assert_eq!(reply.status, StatusCode::OK, "{query}: {}", reply.body);
    reply.body["statements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect()
}

fn statement(email: &str, verb: &str, activity: &str) -> Value {
    json!({
        "actor": {"objectType": "Agent", "name": "Learner", "mbox": format!("mailto:{email}")},
        "verb": {"id": format!("http://adlnet.gov/expapi/verbs/{verb}"), "display": {"en-US": verb}},
        "object": {"objectType": "Activity", "id": activity,
                   "definition": {"name": {"en-US": "A lesson"}}},
    })
}

pub fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn credentials_are_issued_listed_and_revoked(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();

    // Only xAPI's scope names are granted, each named when refused.
    let refused = app
        .post(
            "/v1/lrs/credentials",
            admin,
            json!({"name": "player", "scopes": ["statements/write", "define"]}),
        )
        .await;
    refused.assert_problem(422, "validation_failed");
    assert_eq!(refused.error_fields(), ["scopes[1]"]);

    let lrs = lrs_credential(&app, admin, &["all"]).await;
    assert!(lrs.key.starts_with("dxh_"));
    let listed = app.get("/v1/lrs/credentials", admin).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    let items = listed.body["items"].as_array().unwrap();
    // The institution's admin key is not an LRS credential.
    assert_eq!(items.len(), 1, "{}", listed.body);
    assert_eq!(items[0]["id"], lrs.id.as_str());
    assert_eq!(items[0]["scopes"], json!(["all"]));
    assert!(!listed.body.to_string().contains(&lrs.secret));

    let stored = post(
        &app,
        &lrs,
        statement("ada@north.test", "completed", "http://north.test/a"),
    )
    .await;
    assert_eq!(stored.status, StatusCode::OK, "{}", stored.body);
    // The authority is the credential (Data 2.4.9), whatever the client says.
    let id = stored.body[0].as_str().unwrap();
    let read = get(&app, &lrs, &format!("?statementId={id}")).await;
    assert_eq!(read.body["authority"]["account"]["name"], lrs.id.as_str());
    assert_eq!(read.body["version"], "1.0.0");
    assert!(read.body["stored"].is_string());
    assert!(read.header("last-modified").is_some());

    // A wrong secret, a write-only credential reading, and a revoked credential.
    let wrong = Lrs {
        key: lrs.key.clone(),
        secret: "not-the-secret".into(),
        id: lrs.id.clone(),
    };
    get(&app, &wrong, "")
        .await
        .assert_problem(401, "unauthenticated");
    let writer = lrs_credential(&app, admin, &["statements/write"]).await;
    assert_eq!(get(&app, &writer, "").await.status, StatusCode::FORBIDDEN);
    let revoked = app
        .call(
            Method::DELETE,
            &format!("/v1/lrs/credentials/{}", lrs.id),
            Some(admin),
            None,
        )
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.body);
    assert!(revoked.body["revoked_at"].is_string());
    get(&app, &lrs, "")
        .await
        .assert_problem(401, "unauthenticated");
    // The admin's own key is not revoked through this door.
    let admin_key = app.get("/v1/api-keys", admin).await.body["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.call(
        Method::DELETE,
        &format!("/v1/lrs/credentials/{admin_key}"),
        Some(admin),
        None,
    )
    .await
    .assert_problem(404, "lrs_credential_not_found");
}

async fn another_institutions_credential_reads_nothing_here(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let south = app.create_institution("south").await;
    let north_lrs = lrs_credential(&app, &north.admin_token, &["all"]).await;
    let south_lrs = lrs_credential(&app, &south.admin_token, &["all"]).await;
    let stored = post(
        &app,
        &north_lrs,
        statement("ada@north.test", "completed", "http://north.test/a"),
    )
    .await;
    let id = stored.body[0].as_str().unwrap().to_string();
    assert_eq!(ids(&app, &north_lrs, "").await, std::slice::from_ref(&id));
    assert!(ids(&app, &south_lrs, "").await.is_empty());
    get(&app, &south_lrs, &format!("?statementId={id}"))
        .await
        .assert_problem(404, "xapi_statement_not_found");
    // The same statement id in the other institution is its own statement.
    let mut copy = statement("ada@north.test", "failed", "http://north.test/a");
    copy["id"] = json!(id);
    assert_eq!(post(&app, &south_lrs, copy).await.status, StatusCode::OK);
    let north_read = get(&app, &north_lrs, &format!("?statementId={id}")).await;
    assert!(
        north_read.body["verb"]["id"]
            .as_str()
            .unwrap()
            .ends_with("completed")
    );
    // A `more` token of one institution opens nothing in the other.
    for i in 0..3 {
        post(
            &app,
            &north_lrs,
            statement(
                &format!("p{i}@north.test"),
                "completed",
                "http://north.test/a",
            ),
        )
        .await;
    }
    let page = get(&app, &north_lrs, "?limit=2").await;
    let more = page.body["more"].as_str().unwrap().to_string();
    assert!(more.starts_with("/xapi/statements?more="));
    let foreign = xapi(&app, &south_lrs, Method::GET, &more, None, Some("1.0.3")).await;
    foreign.assert_problem(400, "xapi_invalid");
}

async fn version_header_rules(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let lrs = lrs_credential(&app, &north.admin_token, &["all"]).await;
    let body = statement("ada@north.test", "completed", "http://north.test/a");
    for version in [
        None,
        Some("0.95"),
        Some("2.0.0"),
        Some("1.1.0"),
        Some("1.0.x"),
    ] {
        let reply = xapi(
            &app,
            &lrs,
            Method::POST,
            "/xapi/statements",
            Some(body.clone()),
            version,
        )
        .await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{version:?}: {}",
            reply.body
        );
        // Errors say which version this LRS speaks too.
        assert_eq!(
            reply.header("x-experience-api-version").as_deref(),
            Some("1.0.3")
        );
    }
    assert!(ids(&app, &lrs, "").await.is_empty());
    for version in ["1.0.0", "1.0.1", "1.0.3", "1.0"] {
        let reply = xapi(
            &app,
            &lrs,
            Method::POST,
            "/xapi/statements",
            Some(body.clone()),
            Some(version),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{version}: {}", reply.body);
        assert_eq!(
            reply.header("x-experience-api-version").as_deref(),
            Some("1.0.3")
        );
    }
    let query = get(&app, &lrs, "").await;
    assert!(
        query
            .header("x-experience-api-consistent-through")
            .is_some()
    );
    // /about takes neither a credential nor the header.
    let about = app
        .client
        .get(format!("{}/xapi/about", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(about.status(), StatusCode::OK);
    assert_eq!(
        about.headers()["x-experience-api-version"]
            .to_str()
            .unwrap(),
        "1.0.3"
    );
    let about: Value = about.json().await.unwrap();
    assert_eq!(about["version"], json!(["1.0.3"]));
    // No credential: 401, still with the version.
    let anonymous = app
        .client
        .get(format!("{}/xapi/statements", app.base))
        .header("X-Experience-API-Version", "1.0.3")
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        anonymous.headers()["x-experience-api-version"]
            .to_str()
            .unwrap(),
        "1.0.3"
    );
}

/// One change per MUST rule, and the field its 400 names.
fn broken_statements() -> Vec<(&'static str, Value, &'static str)> {
    let good = statement("ada@north.test", "completed", "http://north.test/a");
    let with = |pointer: &str, value: Value| {
        let mut s = good.clone();
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        s.pointer_mut(parent).unwrap()[key] = value;
        s
    };
    let without = |key: &str| {
        let mut s = good.clone();
        s.as_object_mut().unwrap().remove(key);
        s
    };
    vec![
        ("actor required", without("actor"), "actor"),
        ("verb required", without("verb"), "verb"),
        ("object required", without("object"), "object"),
        (
            "mbox is a mailto IRI",
            with("/actor/mbox", json!("ada@north.test")),
            "actor.mbox",
        ),
        (
            "exactly one IFI",
            with("/actor/openid", json!("http://openid.example/ada")),
            "actor",
        ),
        (
            "an IFI at all",
            json!({"actor": {"name": "x"}, "verb": good["verb"], "object": good["object"]}),
            "actor",
        ),
        (
            "sha1sum is hex",
            with("/actor/mbox_sha1sum", json!("xyz")),
            "actor.mbox_sha1sum",
        ),
        (
            "account needs homePage",
            json!({"actor": {"account": {"name": "ada"}}, "verb": good["verb"], "object": good["object"]}),
            "actor.account.homePage",
        ),
        (
            "verb id is an IRI",
            with("/verb/id", json!("completed")),
            "verb.id",
        ),
        (
            "display is a language map",
            with("/verb/display", json!({"not a tag": "x"})),
            "verb.display.not a tag",
        ),
        (
            "activity id is an IRI",
            with("/object/id", json!("lesson one")),
            "object.id",
        ),
        (
            "object type enumerated",
            with("/object/objectType", json!("activity")),
            "object.objectType",
        ),
        ("statement id a UUID", with("/id", json!("1234")), "id"),
        (
            "scaled in -1..1",
            with("/result", json!({"score": {"scaled": -1.5}})),
            "result.score.scaled",
        ),
        (
            "raw within max",
            with(
                "/result",
                json!({"score": {"raw": 11, "min": 0, "max": 10}}),
            ),
            "result.score.raw",
        ),
        (
            "raw within min",
            with(
                "/result",
                json!({"score": {"raw": -1, "min": 0, "max": 10}}),
            ),
            "result.score.raw",
        ),
        (
            "numbers are numbers",
            with("/result", json!({"score": {"raw": "5"}})),
            "result.score.raw",
        ),
        (
            "booleans are booleans",
            with("/result", json!({"success": "true"})),
            "result.success",
        ),
        (
            "duration ISO 8601",
            with("/result", json!({"duration": "90 minutes"})),
            "result.duration",
        ),
        (
            "registration a UUID",
            with("/context", json!({"registration": "abc"})),
            "context.registration",
        ),
        (
            "revision only for activities",
            {
                let mut s = with(
                    "/object",
                    json!({"objectType": "Agent", "mbox": "mailto:b@north.test"}),
                );
                s["context"] = json!({"revision": "1"});
                s
            },
            "context.revision",
        ),
        (
            "platform only for activities",
            {
                let mut s = with(
                    "/object",
                    json!({"objectType": "StatementRef", "id": "6f3c1e2a-4b5d-4c7e-8f90-123456789abc"}),
                );
                s["context"] = json!({"platform": "web"});
                s
            },
            "context.platform",
        ),
        (
            "timestamp ISO 8601",
            with("/timestamp", json!("yesterday")),
            "timestamp",
        ),
        ("version 1.0.x", with("/version", json!("0.9")), "version"),
        (
            "no unknown properties",
            with("/colour", json!("blue")),
            "colour",
        ),
        (
            "keys are case sensitive",
            with("/Result", json!({})),
            "Result",
        ),
        ("no nulls", with("/result", Value::Null), "result"),
        (
            "voiding needs a StatementRef",
            with("/verb/id", json!("http://adlnet.gov/expapi/verbs/voided")),
            "object",
        ),
        (
            "no nested SubStatement",
            with(
                "/object",
                json!({"objectType": "SubStatement",
            "actor": good["actor"], "verb": good["verb"],
            "object": {"objectType": "SubStatement", "actor": good["actor"], "verb": good["verb"], "object": good["object"]}}),
            ),
            "object.object.objectType",
        ),
        (
            "attachments need content",
            with(
                "/attachments",
                json!([{"usageType": "http://id.tincanapi.com/attachment/certificate",
            "display": {"en": "c"}, "contentType": "application/pdf", "length": 10, "sha2": "ab"}]),
            ),
            "attachments[0]",
        ),
    ]
}

async fn each_statement_rule_is_refused_and_nothing_is_stored(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let lrs = lrs_credential(&app, &north.admin_token, &["all"]).await;
    for (rule, body, field) in broken_statements() {
        let reply = post(&app, &lrs, body.clone()).await;
        reply.assert_problem(400, "xapi_invalid");
        assert!(
            reply.error_fields().iter().any(|f| f == field),
            "{rule}: expected {field}, got {}",
            reply.body
        );
        // Each refusal cites the rule's section.
        assert!(
            reply.body.to_string().contains("xAPI 1.0.3"),
            "{rule}: {}",
            reply.body
        );
        let put = xapi(
            &app,
            &lrs,
            Method::PUT,
            "/xapi/statements?statementId=6f3c1e2a-4b5d-4c7e-8f90-123456789abd",
            Some(body),
            Some("1.0.3"),
        )
        .await;
        assert_eq!(put.status, StatusCode::BAD_REQUEST, "{rule}: {}", put.body);
    }
    assert!(ids(&app, &lrs, "").await.is_empty());
    // Parameters are checked like the same values in a statement.
    for query in [
        "?agent=ada",
        "?verb=completed",
        "?activity=lesson",
        "?registration=abc",
        "?since=yesterday",
        "?format=full",
        "?statementId=123",
        "?statementId=6f3c1e2a-4b5d-4c7e-8f90-123456789abd&verb=http://v.test/x",
    ] {
        get(&app, &lrs, query)
            .await
            .assert_problem(400, "xapi_invalid");
    }
}

async fn a_batch_is_stored_whole_or_not_at_all(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let lrs = lrs_credential(&app, &north.admin_token, &["all"]).await;
    let good = statement("ada@north.test", "completed", "http://north.test/a");
    let mut bad = good.clone();
    bad["verb"]["id"] = json!("not an iri");
    let refused = post(&app, &lrs, json!([good.clone(), good.clone(), bad])).await;
    refused.assert_problem(400, "xapi_invalid");
    assert_eq!(refused.error_fields(), ["[2].verb.id"]);
    assert!(ids(&app, &lrs, "").await.is_empty());
    // Two statements of one batch with one id: refused whole.
    let mut twin = good.clone();
    twin["id"] = json!("6f3c1e2a-4b5d-4c7e-8f90-123456789abc");
    post(&app, &lrs, json!([twin.clone(), twin]))
        .await
        .assert_problem(400, "xapi_invalid");
    assert!(ids(&app, &lrs, "").await.is_empty());
    // A batch of 50 is stored whole, ids in the order sent.
    let batch: Vec<Value> = (0..50)
        .map(|i| {
            statement(
                &format!("p{i}@north.test"),
                "completed",
                "http://north.test/a",
            )
        })
        .collect();
    let stored = post(&app, &lrs, Value::Array(batch)).await;
    assert_eq!(stored.status, StatusCode::OK, "{}", stored.body);
    let sent: Vec<String> = stored
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(sent.len(), 50);
    let mut found = ids(&app, &lrs, "?ascending=true").await;
    found.sort();
    let mut expected = sent.clone();
    expected.sort();
    assert_eq!(found, expected);
    post(&app, &lrs, json!([]))
        .await
        .assert_problem(400, "xapi_invalid");
    post(&app, &lrs, json!("text"))
        .await
        .assert_problem(400, "xapi_invalid");
}

async fn duplicate_ids_conflict_unless_the_statement_is_the_same(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let lrs = lrs_credential(&app, &north.admin_token, &["all"]).await;
    let id = "6f3c1e2a-4b5d-4c7e-8f90-123456789abc";
    let path = format!("/xapi/statements?statementId={id}");
    let mut first = statement("ada@north.test", "completed", "http://north.test/a");
    first["timestamp"] = json!("2026-12-01T10:00:00+01:00");
    let put = |body: Value| {
        let (app, lrs, path) = (&app, &lrs, path.clone());
        async move { xapi(app, lrs, Method::PUT, &path, Some(body), Some("1.0.3")).await }
    };
    assert_eq!(put(first.clone()).await.status, StatusCode::NO_CONTENT);
    // The same statement again (the same instant in another zone, an id given): a no-op.
    let mut again = first.clone();
    again["timestamp"] = json!("2026-12-01T09:00:00Z");
    again["id"] = json!(id);
    assert_eq!(put(again.clone()).await.status, StatusCode::NO_CONTENT);
    let posted = post(&app, &lrs, again).await;
    assert_eq!(posted.status, StatusCode::OK, "{}", posted.body);
    assert_eq!(posted.body, json!([id]));
    // Other content under that id: 409, nothing changes.
    let mut other = first.clone();
    other["verb"]["id"] = json!("http://adlnet.gov/expapi/verbs/failed");
    put(other.clone())
        .await
        .assert_problem(409, "xapi_statement_conflict");
    other["id"] = json!(id);
    let batch = post(
        &app,
        &lrs,
        json!([
            statement("b@north.test", "completed", "http://north.test/a"),
            other
        ]),
    )
    .await;
    batch.assert_problem(409, "xapi_statement_conflict");
    assert_eq!(ids(&app, &lrs, "").await, [id]);
    let read = get(&app, &lrs, &format!("?statementId={id}")).await;
    assert!(
        read.body["verb"]["id"]
            .as_str()
            .unwrap()
            .ends_with("completed")
    );
    // The id in the body must be the statementId.
    let mut mismatched = first.clone();
    mismatched["id"] = json!("6f3c1e2a-4b5d-4c7e-8f90-123456789abd");
    put(mismatched).await.assert_problem(400, "xapi_invalid");
}

async fn voided_statements_leave_queries_and_are_fetched_by_voided_id(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let lrs = lrs_credential(&app, &north.admin_token, &["all"]).await;
    let stored = post(
        &app,
        &lrs,
        json!([
            statement("ada@north.test", "completed", "http://north.test/a"),
            statement("ada@north.test", "passed", "http://north.test/a"),
        ]),
    )
    .await;
    let target = stored.body[0].as_str().unwrap().to_string();
    let kept = stored.body[1].as_str().unwrap().to_string();
    let voiding = json!({
        "actor": {"mbox": "mailto:admin@north.test"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/voided", "display": {"en-US": "voided"}},
        "object": {"objectType": "StatementRef", "id": target},
    });
    let voided = post(&app, &lrs, voiding).await;
    assert_eq!(voided.status, StatusCode::OK, "{}", voided.body);
    let voiding_id = voided.body[0].as_str().unwrap().to_string();
    let listed = ids(&app, &lrs, "").await;
    assert!(!listed.contains(&target), "{listed:?}");
    assert!(listed.contains(&kept) && listed.contains(&voiding_id));
    get(&app, &lrs, &format!("?statementId={target}"))
        .await
        .assert_problem(404, "xapi_statement_not_found");
    let by_voided = get(&app, &lrs, &format!("?voidedStatementId={target}")).await;
    assert_eq!(by_voided.status, StatusCode::OK, "{}", by_voided.body);
    assert_eq!(by_voided.body["id"], target.as_str());
    get(&app, &lrs, &format!("?voidedStatementId={kept}"))
        .await
        .assert_problem(404, "xapi_statement_not_found");
    // A voiding statement cannot be voided.
    let void_the_void = json!({
        "actor": {"mbox": "mailto:admin@north.test"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/voided"},
        "object": {"objectType": "StatementRef", "id": voiding_id},
    });
    post(&app, &lrs, void_the_void)
        .await
        .assert_problem(400, "xapi_invalid");
    assert_eq!(ids(&app, &lrs, "").await.len(), 2);
    // A statement whose voiding statement came first is stored voided.
    let later = "6f3c1e2a-4b5d-4c7e-8f90-123456789abe";
    post(
        &app,
        &lrs,
        json!({
            "actor": {"mbox": "mailto:admin@north.test"},
            "verb": {"id": "http://adlnet.gov/expapi/verbs/voided"},
            "object": {"objectType": "StatementRef", "id": later},
        }),
    )
    .await;
    let mut late = statement("ada@north.test", "completed", "http://north.test/b");
    late["id"] = json!(later);
    assert_eq!(post(&app, &lrs, late).await.status, StatusCode::OK);
    assert!(!ids(&app, &lrs, "").await.contains(&later.to_string()));
    assert_eq!(
        get(&app, &lrs, &format!("?voidedStatementId={later}"))
            .await
            .status,
        StatusCode::OK
    );
}

async fn every_filter_selects_what_it_names(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let lrs = lrs_credential(&app, &north.admin_token, &["all"]).await;
    let registration = "6f3c1e2a-4b5d-4c7e-8f90-123456789abc";
    let mut with_context = statement("ada@north.test", "completed", "http://north.test/a");
    with_context["context"] = json!({
        "registration": registration,
        "instructor": {"mbox": "mailto:teacher@north.test"},
        "contextActivities": {"parent": [{"id": "http://north.test/course"}]},
    });
    let about_agent = json!({
        "actor": {"mbox": "mailto:teacher@north.test"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/mentored"},
        "object": {"objectType": "Agent", "mbox": "mailto:Ada@North.test"},
    });
    let first = post(&app, &lrs, with_context).await.body[0]
        .as_str()
        .unwrap()
        .to_string();
    let second = post(
        &app,
        &lrs,
        statement("grace@north.test", "passed", "http://north.test/b"),
    )
    .await
    .body[0]
        .as_str()
        .unwrap()
        .to_string();
    let third = post(&app, &lrs, about_agent).await.body[0]
        .as_str()
        .unwrap()
        .to_string();
    let mut sub = statement("grace@north.test", "planned", "http://north.test/c");
    sub["object"] = json!({"objectType": "SubStatement",
        "actor": {"mbox": "mailto:ada@north.test"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
        "object": {"id": "http://north.test/a"}});
    let fourth = post(&app, &lrs, sub).await.body[0]
        .as_str()
        .unwrap()
        .to_string();

    let ada = encode(r#"{"mbox":"mailto:ada@north.test"}"#);
    let teacher = encode(r#"{"mbox":"mailto:teacher@north.test"}"#);
    let set = |v: Vec<String>| {
        let mut v = v;
        v.sort();
        v
    };
    let expect = |v: &[&String]| {
        let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
        v.sort();
        v
    };
    // agent: actor or object (the email's case folded); related: anywhere.
    assert_eq!(
        set(ids(&app, &lrs, &format!("?agent={ada}")).await),
        expect(&[&first, &third])
    );
    assert_eq!(
        set(ids(&app, &lrs, &format!("?agent={ada}&related_agents=true")).await),
        expect(&[&first, &third, &fourth])
    );
    assert_eq!(
        set(ids(&app, &lrs, &format!("?agent={teacher}")).await),
        expect(&[&third])
    );
    assert_eq!(
        set(ids(&app, &lrs, &format!("?agent={teacher}&related_agents=true")).await),
        expect(&[&first, &third])
    );
    let verb = encode("http://adlnet.gov/expapi/verbs/passed");
    assert_eq!(
        ids(&app, &lrs, &format!("?verb={verb}")).await,
        std::slice::from_ref(&second)
    );
    let activity = encode("http://north.test/a");
    assert_eq!(
        ids(&app, &lrs, &format!("?activity={activity}")).await,
        std::slice::from_ref(&first)
    );
    assert_eq!(
        set(ids(
            &app,
            &lrs,
            &format!("?activity={activity}&related_activities=true")
        )
        .await),
        expect(&[&first, &fourth])
    );
    let course = encode("http://north.test/course");
    assert_eq!(
        ids(&app, &lrs, &format!("?activity={course}")).await,
        Vec::<String>::new()
    );
    assert_eq!(
        ids(
            &app,
            &lrs,
            &format!("?activity={course}&related_activities=true")
        )
        .await,
        std::slice::from_ref(&first)
    );
    assert_eq!(
        ids(&app, &lrs, &format!("?registration={registration}")).await,
        std::slice::from_ref(&first)
    );
    // Filters combine.
    assert_eq!(
        ids(&app, &lrs, &format!("?agent={ada}&verb={verb}")).await,
        Vec::<String>::new()
    );
    // Newest stored first by default, oldest with ascending.
    let all = ids(&app, &lrs, "").await;
    assert_eq!(all.len(), 4);
    let mut reversed = ids(&app, &lrs, "?ascending=true").await;
    reversed.reverse();
    assert_eq!(all, reversed);
    // since / until by the stored time of the second statement.
    let stored_second = get(&app, &lrs, &format!("?statementId={second}"))
        .await
        .body["stored"]
        .as_str()
        .unwrap()
        .to_string();
    let at = encode(&stored_second);
    let since = ids(&app, &lrs, &format!("?since={at}&ascending=true")).await;
    assert!(
        !since.contains(&first) && !since.contains(&second),
        "{since:?}"
    );
    let until = ids(&app, &lrs, &format!("?until={at}&ascending=true")).await;
    assert!(
        until.contains(&first) && until.contains(&second) && !until.contains(&fourth),
        "{until:?}"
    );
    // format=ids: identifiers only.
    let slim = get(&app, &lrs, &format!("?statementId={first}&format=ids")).await;
    assert!(slim.body["actor"].get("name").is_none(), "{}", slim.body);
    assert!(slim.body["verb"].get("display").is_none());
    assert!(slim.body["object"].get("definition").is_none());
    assert_eq!(slim.body["actor"]["mbox"], "mailto:ada@north.test");
    let exact = get(&app, &lrs, &format!("?statementId={first}&format=exact")).await;
    assert_eq!(exact.body["actor"]["name"], "Learner");
    // limit.
    assert_eq!(ids(&app, &lrs, "?limit=1").await.len(), 1);
    assert_eq!(ids(&app, &lrs, "?limit=0").await.len(), 4);
}

async fn more_pages_through_every_statement_once(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let lrs = lrs_credential(&app, &north.admin_token, &["all"]).await;
    let mut sent = Vec::new();
    for round in 0..3 {
        let batch: Vec<Value> = (0..4)
            .map(|i| {
                statement(
                    &format!("p{round}{i}@north.test"),
                    "completed",
                    "http://north.test/a",
                )
            })
            .collect();
        let stored = post(&app, &lrs, Value::Array(batch)).await;
        sent.extend(
            stored
                .body
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string()),
        );
    }
    for ascending in ["false", "true"] {
        let mut seen = Vec::new();
        let mut next = format!("/xapi/statements?limit=5&ascending={ascending}");
        let mut pages = 0;
        while !next.is_empty() {
            let page = xapi(&app, &lrs, Method::GET, &next, None, Some("1.0.3")).await;
            assert_eq!(page.status, StatusCode::OK, "{}", page.body);
            let statements = page.body["statements"].as_array().unwrap();
            assert!(statements.len() <= 5);
            seen.extend(
                statements
                    .iter()
                    .map(|s| s["id"].as_str().unwrap().to_string()),
            );
            // A statement stored while paging does not shift the pages.
            if pages == 0 {
                post(
                    &app,
                    &lrs,
                    statement("late@north.test", "completed", "http://north.test/z"),
                )
                .await;
            }
            next = page.body["more"].as_str().unwrap().to_string();
            pages += 1;
        }
        assert!(pages >= 3, "{pages}");
        let unique: std::collections::BTreeSet<_> = seen.iter().cloned().collect();
        assert_eq!(unique.len(), seen.len(), "a statement came twice: {seen:?}");
        for id in &sent {
            assert!(seen.contains(id), "{id} missing");
        }
    }
    get(&app, &lrs, "?more=forged")
        .await
        .assert_problem(400, "xapi_invalid");
}

/// C3: statements are learning records of the person they are about: linked to the person
/// their actor's email names, exported, erased and restricted through the personal-data
/// contract, and nobody else's with them.
async fn promise_c3_statements_are_learning_records_exported_erased_and_restricted_per_person(
    backend: Backend,
) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let person = app
        .post(
            "/v1/people",
            admin,
            json!({"name": "Ada Lovelace", "email": "ada@north.test", "roles": ["learner"]}),
        )
        .await;
    assert_eq!(person.status, StatusCode::CREATED, "{}", person.body);
    let ada: uuid::Uuid = person.body["id"].as_str().unwrap().parse().unwrap();
    let lrs = lrs_credential(&app, admin, &["all"]).await;
    let mut scored = statement("Ada@north.test", "scored", "http://north.test/quiz");
    scored["result"] = json!({"score": {"scaled": 0.9}});
    let hers = post(
        &app,
        &lrs,
        json!([
            scored,
            statement("ada@north.test", "completed", "http://north.test/a")
        ]),
    )
    .await;
    assert_eq!(hers.status, StatusCode::OK, "{}", hers.body);
    let grace = post(
        &app,
        &lrs,
        statement("grace@north.test", "completed", "http://north.test/a"),
    )
    .await;
    let grace_id = grace.body[0].as_str().unwrap().to_string();

    let source = sources()
        .into_iter()
        .find(|s| s.name() == "xapi_statements")
        .unwrap();
    let classified = source.fields();
    assert!(
        classified
            .iter()
            .all(|f| f.category == hub_kernel::classification::DataCategory::Learning)
    );

    let Principal::Tenant(principal) = app.state.tenancy.authenticate(admin).await.unwrap() else {
        panic!("not a tenant key");
    };
    // Found by id alone (the link) and by email alone (the blind index).
    for subject in [
        DataSubject::person(ada, Vec::new()),
        DataSubject::person(
            uuid::Uuid::now_v7(),
            vec![Pii::new("ada@north.test".into())],
        ),
    ] {
        let scope = app.state.tenancy.scope(&principal).await.unwrap();
        assert_eq!(source.summary(&scope, &subject).await.unwrap().records, 2);
    }
    let subject = DataSubject::person(ada, vec![Pii::new("ada@north.test".into())]);
    let scope = app.state.tenancy.scope(&principal).await.unwrap();
    let page = source.export_page(&scope, &subject, None, 1).await.unwrap();
    assert_eq!(page.records.len(), 1);
    let rest = source
        .export_page(&scope, &subject, page.next.as_deref(), 10)
        .await
        .unwrap();
    assert_eq!(rest.records.len(), 1);
    assert!(rest.next.is_none());
    let exported = source.export(&scope, &subject).await.unwrap();
    assert_eq!(exported.len(), 2);
    let text = serde_json::to_string(&exported).unwrap();
    assert!(
        text.contains("http://north.test/quiz") && text.contains("0.9"),
        "{text}"
    );
    assert!(!text.contains("grace"), "{text}");
    drop(scope);

    // A restriction hides her statements from the LRS until it is lifted.
    for (restricted, count) in [(true, 1), (false, 3)] {
        let scope = app.state.tenancy.scope(&principal).await.unwrap();
        source.restrict(&scope, &subject, restricted).await.unwrap();
        scope.commit().await.unwrap();
        assert_eq!(ids(&app, &lrs, "").await.len(), count);
    }

    // Erasure deletes hers only; a second run finds nothing.
    let scope = app.state.tenancy.scope(&principal).await.unwrap();
    let outcome = source.erase(&scope, &subject).await.unwrap();
    assert_eq!(
        outcome,
        hub_tenant::personal_data::Outcome::Deleted { records: 2 }
    );
    assert_eq!(
        source.erase(&scope, &subject).await.unwrap(),
        hub_tenant::personal_data::Outcome::Deleted { records: 0 }
    );
    scope.commit().await.unwrap();
    assert_eq!(ids(&app, &lrs, "").await, [grace_id]);

    // Expiry deletes what was stored before the cutoff, except for a person a hold keeps.
    let linked = post(
        &app,
        &lrs,
        statement("ada@north.test", "completed", "http://north.test/a"),
    )
    .await;
    assert_eq!(linked.status, StatusCode::OK);
    let cutoff = chrono::Utc::now() + chrono::Duration::seconds(60);
    let scope = app.state.tenancy.scope(&principal).await.unwrap();
    let kept = source
        .expire(
            &scope,
            hub_kernel::classification::DataCategory::Learning,
            cutoff,
            &[ada],
        )
        .await
        .unwrap();
    assert_eq!(
        kept,
        hub_tenant::personal_data::Outcome::Deleted { records: 1 }
    );
    let again = source
        .expire(
            &scope,
            hub_kernel::classification::DataCategory::Learning,
            cutoff,
            &[ada],
        )
        .await
        .unwrap();
    assert_eq!(
        again,
        hub_tenant::personal_data::Outcome::Deleted { records: 0 }
    );
    scope.commit().await.unwrap();
    assert_eq!(
        ids(&app, &lrs, "").await,
        [linked.body[0].as_str().unwrap().to_string()]
    );
}

/// npm's `@xapi/xapi` (pinned in tests/xapi/package-lock.json, installed by
/// scripts/ensure-xapi-client.sh) stores, reads, pages, voids and is refused as its authors
/// expect an LRS to answer.
async fn a_third_party_xapi_client_round_trips(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let lrs = lrs_credential(&app, &north.admin_token, &["all"]).await;
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let installed = tokio::task::spawn_blocking(move || {
        std::process::Command::new("bash")
            .arg(format!("{root}/scripts/ensure-xapi-client.sh"))
            .status()
    })
    .await
    .unwrap()
    .unwrap();
    assert!(installed.success(), "scripts/ensure-xapi-client.sh failed");
    let (endpoint, key, secret) = (
        format!("{}/xapi/", app.base),
        lrs.key.clone(),
        lrs.secret.clone(),
    );
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node")
            .arg(format!("{root}/tests/xapi/client.mjs"))
            .env("XAPI_ENDPOINT", endpoint)
            .env("XAPI_KEY", key)
            .env("XAPI_SECRET", secret)
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    assert!(
        output.status.success(),
        "the client failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(seen["about"]["version"], json!(["1.0.3"]), "{seen}");
    assert_eq!(seen["single"].as_array().unwrap().len(), 1, "{seen}");
    assert_eq!(seen["batch"].as_array().unwrap().len(), 4, "{seen}");
    assert_eq!(seen["read"]["id"], seen["single"][0]);
    assert_eq!(
        seen["read"]["verb"],
        "http://adlnet.gov/expapi/verbs/initialized"
    );
    assert_eq!(seen["read"]["name"], "Lesson 0");
    assert_eq!(seen["read"]["authority"], true);
    let first: Vec<&Value> = seen["first_page"].as_array().unwrap().iter().collect();
    let second: Vec<&Value> = seen["second_page"].as_array().unwrap().iter().collect();
    assert_eq!((first.len(), second.len()), (3, 1), "{seen}");
    for id in seen["batch"].as_array().unwrap() {
        assert!(
            first.contains(&id) || second.contains(&id),
            "{id} not paged: {seen}"
        );
    }
    assert_eq!(seen["voided"], seen["batch"][0]);
    assert_eq!(seen["void_read"], 404, "{seen}");
    // The three left, and the voiding statement: it targets a statement that meets the
    // filters (Communication 2.1.3 StatementRefs, 2.1.4.s1.b2).
    assert_eq!(seen["after_voiding"], 4, "{seen}");
    assert_eq!(seen["malformed"], 400, "{seen}");
    // Its attachment went in multipart/mixed and came back in the LRS's multipart answer:
    // the statement first, then the content whose SHA-2 the statement gives.
    assert_eq!(seen["attached"].as_array().unwrap().len(), 1, "{seen}");
    let read = &seen["attached_read"];
    assert_eq!(read["parts"], 2, "{seen}");
    assert_eq!(read["id"], seen["attached"][0], "{seen}");
    assert_eq!(read["content"], "Certificate of completion: Ada, Lesson 9");
    assert_eq!(
        read["sha2"].as_str().unwrap(),
        sha256(b"Certificate of completion: Ada, Lesson 9"),
        "{seen}"
    );
    // Seven stored (one, four, the voiding statement, the attached one), one of them voided.
    assert_eq!(ids(&app, &lrs, "").await.len(), 6);
}

pub async fn doc(
    app: &TestApp,
    lrs: &Lrs,
    method: Method,
    path: &str,
    body: Option<(&str, &[u8])>,
    headers: &[(&str, &str)],
) -> Reply {
    let mut request = app
        .client
        .request(method, format!("{}{path}", app.base))
        .basic_auth(&lrs.key, Some(&lrs.secret))
        .header("X-Experience-API-Version", "1.0.3");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some((content_type, bytes)) = body {
        request = request
            .header("Content-Type", content_type)
            .body(bytes.to_vec());
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    Reply {
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
    }
}

async fn documents_follow_the_concurrency_rules(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let lrs = lrs_credential(&app, &north.admin_token, &["all"]).await;
    let agent = encode(r#"{"mbox":"mailto:ada@north.test"}"#);
    let activity = encode("http://north.test/a");
    for path in [
        format!("/xapi/activities/profile?activityId={activity}&profileId=p1"),
        format!("/xapi/agents/profile?agent={agent}&profileId=p1"),
    ] {
        let put = |body: &'static [u8], headers: Vec<(&'static str, String)>| {
            let (app, lrs, path) = (&app, &lrs, path.clone());
            async move {
                let headers: Vec<(&str, &str)> =
                    headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
                doc(
                    app,
                    lrs,
                    Method::PUT,
                    &path,
                    Some(("application/json", body)),
                    &headers,
                )
                .await
            }
        };
        // No such document: If-Match fails (412); a PUT without headers creates it.
        let stale = put(br#"{"a":1}"#, vec![("If-Match", "\"nope\"".into())]).await;
        stale.assert_problem(412, "xapi_precondition_failed");
        let created = put(br#"{"a":1}"#, vec![]).await;
        assert_eq!(
            created.status,
            StatusCode::NO_CONTENT,
            "{path}: {}",
            created.body
        );
        let etag = created.header("etag").unwrap();
        // It exists: a PUT without a concurrency header is a 409, If-None-Match: * a 412.
        put(br#"{"a":2}"#, vec![])
            .await
            .assert_problem(409, "xapi_document_exists");
        put(br#"{"a":2}"#, vec![("If-None-Match", "*".into())])
            .await
            .assert_problem(412, "xapi_precondition_failed");
        put(br#"{"a":2}"#, vec![("If-Match", "\"other\"".into())])
            .await
            .assert_problem(412, "xapi_precondition_failed");
        let read = doc(&app, &lrs, Method::GET, &path, None, &[]).await;
        assert_eq!(read.body, json!({"a": 1}), "{path}");
        assert_eq!(read.header("etag").unwrap(), etag);
        assert!(read.header("last-modified").is_some());
        // With the ETag: replaced; a POST merges top-level properties.
        let replaced = put(br#"{"a":2,"b":{"c":1}}"#, vec![("If-Match", etag.clone())]).await;
        assert_eq!(replaced.status, StatusCode::NO_CONTENT, "{}", replaced.body);
        let merged = doc(
            &app,
            &lrs,
            Method::POST,
            &path,
            Some(("application/json", br#"{"b":{"d":2},"e":3}"#)),
            &[],
        )
        .await;
        assert_eq!(merged.status, StatusCode::NO_CONTENT, "{}", merged.body);
        let read = doc(&app, &lrs, Method::GET, &path, None, &[]).await;
        assert_eq!(read.body, json!({"a": 2, "b": {"d": 2}, "e": 3}));
        // A POST of something other than a JSON object onto it: 400, nothing changes.
        doc(
            &app,
            &lrs,
            Method::POST,
            &path,
            Some(("text/plain", b"hello")),
            &[],
        )
        .await
        .assert_problem(400, "xapi_invalid");
        // A conditional GET is answered 304.
        let current = read.header("etag").unwrap();
        let cached = doc(
            &app,
            &lrs,
            Method::GET,
            &path,
            None,
            &[("If-None-Match", &current)],
        )
        .await;
        assert_eq!(cached.status, StatusCode::NOT_MODIFIED);
        // DELETE with a stale ETag: 412; with the current one: gone.
        doc(
            &app,
            &lrs,
            Method::DELETE,
            &path,
            None,
            &[("If-Match", "\"old\"")],
        )
        .await
        .assert_problem(412, "xapi_precondition_failed");
        let deleted = doc(
            &app,
            &lrs,
            Method::DELETE,
            &path,
            None,
            &[("If-Match", &current)],
        )
        .await;
        assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
        doc(&app, &lrs, Method::GET, &path, None, &[])
            .await
            .assert_problem(404, "xapi_document_not_found");
    }
    // Binary content keeps its type; a credential without the scope is refused.
    let path = format!("/xapi/activities/profile?activityId={activity}&profileId=img");
    let stored = doc(
        &app,
        &lrs,
        Method::PUT,
        &path,
        Some(("image/png", &[0x89, 0x50, 0x4e, 0x47])),
        &[],
    )
    .await;
    assert_eq!(stored.status, StatusCode::NO_CONTENT);
    let read = doc(&app, &lrs, Method::GET, &path, None, &[]).await;
    assert_eq!(read.header("content-type").as_deref(), Some("image/png"));
    let statements_only = lrs_credential(&app, &north.admin_token, &["statements/write"]).await;
    assert_eq!(
        doc(&app, &statements_only, Method::GET, &path, None, &[])
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    // Parameters are checked (400 naming them).
    for bad in [
        "/xapi/activities/profile?activityId=lesson&profileId=p".to_string(),
        "/xapi/agents/profile?agent=ada&profileId=p".to_string(),
        format!(
            "/xapi/activities/state?activityId={activity}&agent={agent}&registration=x&stateId=s"
        ),
    ] {
        doc(&app, &lrs, Method::GET, &bad, None, &[])
            .await
            .assert_problem(400, "xapi_invalid");
    }
}

async fn state_documents_list_merge_and_delete_together(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let south = app.create_institution("south").await;
    let lrs = lrs_credential(&app, &north.admin_token, &["state", "statements/read"]).await;
    let agent = encode(r#"{"mbox":"mailto:ada@north.test"}"#);
    let other = encode(r#"{"mbox":"mailto:grace@north.test"}"#);
    let activity = encode("http://north.test/a");
    let registration = "6f3c1e2a-4b5d-4c7e-8f90-123456789abc";
    let base = format!("/xapi/activities/state?activityId={activity}&agent={agent}");
    for id in ["bookmark", "suspend", "progress"] {
        let put = doc(
            &app,
            &lrs,
            Method::PUT,
            &format!("{base}&stateId={id}"),
            Some(("application/json", br#"{"at":1}"#)),
            &[],
        )
        .await;
        assert_eq!(put.status, StatusCode::NO_CONTENT, "{}", put.body);
    }
    // State is replaced without concurrency headers (content players write it so).
    let again = doc(
        &app,
        &lrs,
        Method::PUT,
        &format!("{base}&stateId=bookmark"),
        Some(("application/json", br#"{"at":2}"#)),
        &[],
    )
    .await;
    assert_eq!(again.status, StatusCode::NO_CONTENT, "{}", again.body);
    let in_registration = doc(
        &app,
        &lrs,
        Method::PUT,
        &format!("{base}&registration={registration}&stateId=bookmark"),
        Some(("application/json", br#"{"at":9}"#)),
        &[],
    )
    .await;
    assert_eq!(in_registration.status, StatusCode::NO_CONTENT);
    let others = doc(
        &app,
        &lrs,
        Method::PUT,
        &format!("/xapi/activities/state?activityId={activity}&agent={other}&stateId=bookmark"),
        Some(("application/json", br#"{"at":5}"#)),
        &[],
    )
    .await;
    assert_eq!(others.status, StatusCode::NO_CONTENT);

    let listed = doc(&app, &lrs, Method::GET, &base, None, &[]).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    assert_eq!(listed.body, json!(["bookmark", "progress", "suspend"]));
    let read = doc(
        &app,
        &lrs,
        Method::GET,
        &format!("{base}&stateId=bookmark"),
        None,
        &[],
    )
    .await;
    assert_eq!(read.body, json!({"at": 2}));
    let read = doc(
        &app,
        &lrs,
        Method::GET,
        &format!("{base}&registration={registration}&stateId=bookmark"),
        None,
        &[],
    )
    .await;
    assert_eq!(read.body, json!({"at": 9}));
    // since: nothing changed after a time in the future.
    let later = encode("2999-01-01T00:00:00Z");
    assert_eq!(
        doc(
            &app,
            &lrs,
            Method::GET,
            &format!("{base}&since={later}"),
            None,
            &[]
        )
        .await
        .body,
        json!([])
    );
    // Another institution's credential sees none of it.
    let foreign = lrs_credential(&app, &south.admin_token, &["state"]).await;
    assert_eq!(
        doc(&app, &foreign, Method::GET, &base, None, &[])
            .await
            .body,
        json!([])
    );
    // DELETE without stateId: every state of that agent and activity (no registration).
    let deleted = doc(&app, &lrs, Method::DELETE, &base, None, &[]).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(
        doc(&app, &lrs, Method::GET, &base, None, &[]).await.body,
        json!([])
    );
    let kept = doc(
        &app,
        &lrs,
        Method::GET,
        &format!("/xapi/activities/state?activityId={activity}&agent={other}"),
        None,
        &[],
    )
    .await;
    assert_eq!(kept.body, json!(["bookmark"]));
    let kept = doc(
        &app,
        &lrs,
        Method::GET,
        &format!("{base}&registration={registration}"),
        None,
        &[],
    )
    .await;
    assert_eq!(kept.body, json!(["bookmark"]));

    // The documents about a person are theirs through the personal-data contract.
    let person = app
        .post(
            "/v1/people",
            &north.admin_token,
            json!({"name": "Grace", "email": "grace@north.test", "roles": ["learner"]}),
        )
        .await;
    let grace: uuid::Uuid = person.body["id"].as_str().unwrap().parse().unwrap();
    let source = sources()
        .into_iter()
        .find(|s| s.name() == "xapi_documents")
        .unwrap();
    let Principal::Tenant(principal) = app
        .state
        .tenancy
        .authenticate(&north.admin_token)
        .await
        .unwrap()
    else {
        panic!("not a tenant key");
    };
    let subject = DataSubject::person(grace, vec![Pii::new("grace@north.test".into())]);
    let scope = app.state.tenancy.scope(&principal).await.unwrap();
    assert_eq!(source.summary(&scope, &subject).await.unwrap().records, 1);
    let exported = source.export(&scope, &subject).await.unwrap();
    assert_eq!(exported[0]["content"], json!({"at": 5}));
    assert_eq!(exported[0]["id"], "bookmark");
    source.erase(&scope, &subject).await.unwrap();
    scope.commit().await.unwrap();
    let gone = doc(
        &app,
        &lrs,
        Method::GET,
        &format!("/xapi/activities/state?activityId={activity}&agent={other}"),
        None,
        &[],
    )
    .await;
    assert_eq!(gone.body, json!([]));
    // Ada's state in the registration is untouched.
    let kept = doc(
        &app,
        &lrs,
        Method::GET,
        &format!("{base}&registration={registration}"),
        None,
        &[],
    )
    .await;
    assert_eq!(kept.body, json!(["bookmark"]));
}

async fn activities_and_agents_resources(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let lrs = lrs_credential(&app, &north.admin_token, &["all"]).await;
    post(
        &app,
        &lrs,
        statement("ada@north.test", "completed", "http://north.test/a"),
    )
    .await;
    let activity = encode("http://north.test/a");
    let found = doc(
        &app,
        &lrs,
        Method::GET,
        &format!("/xapi/activities?activityId={activity}"),
        None,
        &[],
    )
    .await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.body);
    assert_eq!(found.body["objectType"], "Activity");
    assert_eq!(found.body["definition"]["name"]["en-US"], "A lesson");
    let unknown = encode("http://north.test/never");
    let bare = doc(
        &app,
        &lrs,
        Method::GET,
        &format!("/xapi/activities?activityId={unknown}"),
        None,
        &[],
    )
    .await;
    assert_eq!(
        bare.body,
        json!({"objectType": "Activity", "id": "http://north.test/never"})
    );
    let agent = encode(r#"{"name":"Ada","mbox":"mailto:ada@north.test"}"#);
    let person = doc(
        &app,
        &lrs,
        Method::GET,
        &format!("/xapi/agents?agent={agent}"),
        None,
        &[],
    )
    .await;
    assert_eq!(person.status, StatusCode::OK, "{}", person.body);
    assert_eq!(
        person.body,
        json!({"objectType": "Person", "name": ["Ada"], "mbox": ["mailto:ada@north.test"]})
    );
    doc(&app, &lrs, Method::GET, "/xapi/agents?agent=ada", None, &[])
        .await
        .assert_problem(400, "xapi_invalid");
    doc(
        &app,
        &lrs,
        Method::GET,
        "/xapi/activities?activityId=lesson",
        None,
        &[],
    )
    .await
    .assert_problem(400, "xapi_invalid");
}

/// The admin's view of a learner's lesson statuses in a one-module course, in order.
async fn lesson_statuses(app: &TestApp, admin: &str, course: &str, person: &str) -> Vec<Value> {
    let progress = app
        .get(
            &format!("/v1/courses/{course}/learners/{person}/progress"),
            admin,
        )
        .await;
    assert_eq!(progress.status, StatusCode::OK, "{}", progress.body);
    progress.body["modules"][0]["lessons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["status"].clone())
        .collect()
}

async fn promise_c3_a_completed_statement_on_a_lessons_activity_completes_the_lesson(
    backend: Backend,
) {
    use crate::progress::{audited, course, enroll, module};
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let c = course(&app, admin, "XAPI-1").await;
    let m = module(&app, admin, &c, "Player").await;
    let mut lessons = Vec::new();
    for (title, activity, required) in [
        ("Video", "http://north.test/lessons/video", true),
        ("Extra", "http://north.test/lessons/extra", false),
    ] {
        let made = app
            .post(
                &format!("/v1/modules/{m}/lessons"),
                admin,
                json!({"title": title, "activity_id": activity, "required": required}),
            )
            .await;
        assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
        lessons.push(made.body["id"].as_str().unwrap().to_string());
    }
    let ada = crate::privacy_requests::person(&app, &north, "ada").await;
    // Grace is a person of the institution, not enrolled.
    let grace = crate::privacy_requests::person(&app, &north, "grace").await;
    enroll(&app, admin, &c, &ada).await;
    let lrs = lrs_credential(&app, admin, &["all"]).await;
    let video = "http://north.test/lessons/video";
    let extra = "http://north.test/lessons/extra";

    // Another verb on the lesson, `completed` on another activity, and someone not a
    // person of the institution move nothing.
    for sent in [
        statement("ada@north.test", "experienced", video),
        statement("ada@north.test", "passed", video),
        statement("ada@north.test", "completed", "http://north.test/elsewhere"),
        statement("stranger@north.test", "completed", video),
    ] {
        let stored = post(&app, &lrs, sent).await;
        assert_eq!(stored.status, StatusCode::OK, "{}", stored.body);
    }
    assert_eq!(
        lesson_statuses(&app, admin, &c, &ada).await,
        [Value::Null, Value::Null]
    );

    // Not enrolled: the statement is stored (the LRS accepts every valid statement), and
    // no progress is recorded for her.
    let hers = post(
        &app,
        &lrs,
        statement("grace@north.test", "completed", video),
    )
    .await;
    assert_eq!(hers.status, StatusCode::OK, "{}", hers.body);
    app.get(&format!("/v1/courses/{c}/learners/{grace}/progress"), admin)
        .await
        .assert_problem(404, "enrollment_not_found");
    assert_eq!(
        ids(
            &app,
            &lrs,
            &format!(
                "?verb={}",
                encode("http://adlnet.gov/expapi/verbs/completed")
            )
        )
        .await
        .len(),
        3
    );

    // A completed statement whose voiding statement came first is stored voided and
    // completes nothing.
    let early = uuid::Uuid::new_v4().to_string();
    let mut voiding = statement("ada@north.test", "voided", "unused");
    voiding["object"] = json!({"objectType": "StatementRef", "id": early});
    assert_eq!(post(&app, &lrs, voiding).await.status, StatusCode::OK);
    let mut voided = statement("ada@north.test", "completed", extra);
    voided["id"] = json!(early);
    assert_eq!(post(&app, &lrs, voided).await.status, StatusCode::OK);
    assert_eq!(
        lesson_statuses(&app, admin, &c, &ada).await,
        [Value::Null, Value::Null]
    );

    // The optional lesson, then the required one (her email in another case): each is
    // completed, and the course's rule (the required lessons) completes the course.
    let optional = post(&app, &lrs, statement("ada@north.test", "completed", extra)).await;
    assert_eq!(optional.status, StatusCode::OK, "{}", optional.body);
    assert_eq!(
        lesson_statuses(&app, admin, &c, &ada).await,
        [Value::Null, json!("completed")]
    );
    assert!(audited(&app, admin, "course.completed").await.is_empty());
    let done = post(&app, &lrs, statement("Ada@North.test", "completed", video)).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    let done_id = done.body[0].as_str().unwrap().to_string();
    assert_eq!(
        lesson_statuses(&app, admin, &c, &ada).await,
        [json!("completed"), json!("completed")]
    );
    let progress = app
        .get(&format!("/v1/courses/{c}/learners/{ada}/progress"), admin)
        .await;
    assert!(
        progress.body["completed_at"].is_string(),
        "{}",
        progress.body
    );
    assert_eq!(progress.body["enrollment_state"], "completed");
    let completions = audited(&app, admin, "course.completed").await;
    assert_eq!(completions.len(), 1, "{completions:?}");
    let detail: Value = match &completions[0]["detail"] {
        Value::String(text) => serde_json::from_str(text).unwrap(),
        other => other.clone(),
    };
    assert_eq!(detail["source"], "xapi", "{completions:?}");

    // Voiding the statement leaves the lesson completed (a completion is final) and
    // removes the statement from queries.
    let mut void = statement("ada@north.test", "voided", "unused");
    void["object"] = json!({"objectType": "StatementRef", "id": done_id});
    assert_eq!(post(&app, &lrs, void).await.status, StatusCode::OK);
    assert_eq!(
        lesson_statuses(&app, admin, &c, &ada).await,
        [json!("completed"), json!("completed")]
    );
    let left = ids(&app, &lrs, &format!("?activity={}", encode(video))).await;
    assert!(!left.contains(&done_id), "{left:?}");
    assert_eq!(audited(&app, admin, "course.completed").await.len(), 1);
}

/// Concurrent first PUTs of one document store one row: with `If-None-Match: *` exactly one
/// of them is stored and every other is a 412 (the document exists once the first commits);
/// state PUTs without a header all succeed onto the one row. The list of ids names the
/// document once.
async fn concurrent_first_writes_of_a_document_keep_one_row(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let lrs = lrs_credential(&app, &north.admin_token, &["all"]).await;
    let agent = encode(r#"{"mbox":"mailto:ada@north.test"}"#);
    let activity = encode("http://north.test/a");
    let registration = "6f0b2a64-0d3a-4c63-9d53-5a3c1f1e2b7d";
    let state = format!("/xapi/activities/state?activityId={activity}&agent={agent}");
    let cases = [
        (format!("{state}&stateId=s1"), state.clone(), "s1"),
        (
            format!("{state}&registration={registration}&stateId=s2"),
            format!("{state}&registration={registration}"),
            "s2",
        ),
        (
            format!("/xapi/activities/profile?activityId={activity}&profileId=p1"),
            format!("/xapi/activities/profile?activityId={activity}"),
            "p1",
        ),
        (
            format!("/xapi/agents/profile?agent={agent}&profileId=p1"),
            format!("/xapi/agents/profile?agent={agent}"),
            "p1",
        ),
    ];
    const WRITERS: usize = 8;
    for (path, list, id) in &cases {
        for conditional in [true, false] {
            let bodies: Vec<Vec<u8>> = (0..WRITERS)
                .map(|i| format!(r#"{{"writer":{i},"conditional":{conditional}}}"#).into_bytes())
                .collect();
            if !conditional {
                if !path.contains("stateId") {
                    // A profile PUT onto an existing one needs a header: state only.
                    continue;
                }
                let deleted = doc(&app, &lrs, Method::DELETE, path, None, &[]).await;
                assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
            }
            let writes = bodies.iter().map(|body| {
                let headers: &[(&str, &str)] = if conditional {
                    &[("If-None-Match", "*")]
                } else {
                    &[]
                };
                doc(
                    &app,
                    &lrs,
                    Method::PUT,
                    path,
                    Some(("application/json", body.as_slice())),
                    headers,
                )
            });
            let replies = futures::future::join_all(writes).await;
            let stored: Vec<usize> = replies
                .iter()
                .enumerate()
                .filter(|(_, r)| r.status == StatusCode::NO_CONTENT)
                .map(|(i, _)| i)
                .collect();
            for reply in &replies {
                if reply.status != StatusCode::NO_CONTENT {
                    assert!(conditional, "{path}: {:?} {}", reply.status, reply.body);
                    reply.assert_problem(412, "xapi_precondition_failed");
                }
            }
            if conditional {
                assert_eq!(stored.len(), 1, "{path}: {replies:?}");
            } else {
                assert_eq!(stored.len(), WRITERS, "{path}: {replies:?}");
            }
            let listed = doc(&app, &lrs, Method::GET, list, None, &[]).await;
            assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
            assert_eq!(listed.body, json!([id]), "{list}");
            let read = doc(&app, &lrs, Method::GET, path, None, &[]).await;
            assert_eq!(
                read.body["conditional"], conditional,
                "{path}: {}",
                read.body
            );
            let writer = read.body["writer"].as_u64().unwrap() as usize;
            assert!(
                stored.contains(&writer),
                "{path}: {} of {stored:?}",
                read.body
            );
        }
    }
}

async fn get_in(app: &TestApp, lrs: &Lrs, query: &str, languages: Option<&str>) -> Reply {
    let mut request = app
        .client
        .get(format!("{}/xapi/statements{query}", app.base))
        .basic_auth(&lrs.key, Some(&lrs.secret))
        .header("X-Experience-API-Version", "1.0.3");
    if let Some(languages) = languages {
        request = request.header("Accept-Language", languages);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    Reply {
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
    }
}

/// `format=canonical` (Communication 2.1.3): each language map holds one language, the one
/// `Accept-Language` prefers (a range matches a tag or its prefix), else the map's first;
/// `exact` gives the statement as stored.
async fn canonical_format_keeps_the_language_accept_language_prefers(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let lrs = lrs_credential(&app, &north.admin_token, &["all"]).await;
    // Every map's keys in alphabetical order, so "its first" is the same however the map
    // is read back.
    let names = json!({"en-US": "Lesson", "fr-FR": "Leçon"});
    let sent = json!({
        "actor": {"mbox": "mailto:ada@north.test"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/answered",
                 "display": {"de-DE": "beantwortet", "en-US": "answered", "fr-FR": "a répondu"}},
        "object": {"id": "http://north.test/q1", "definition": {
            "name": names, "description": names,
            "interactionType": "choice", "correctResponsesPattern": ["a"],
            "choices": [{"id": "a", "description": {"en-US": "Yes", "fr-FR": "Oui"}}]}},
        "context": {"contextActivities": {"parent": [
            {"id": "http://north.test/course", "definition": {"name": names}}]}},
        "attachments": [{
            "usageType": "http://north.test/usage/notes",
            "display": {"en-US": "Notes", "fr-FR": "Notes (fr)"},
            "contentType": "text/plain", "length": 5,
            "sha2": "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
            "fileUrl": "http://north.test/notes.txt"}],
    });
    let stored = post(&app, &lrs, sent).await;
    assert_eq!(stored.status, StatusCode::OK, "{}", stored.body);
    let id = stored.body[0].as_str().unwrap();
    let one = |s: &Value| {
        [
            s["verb"]["display"].clone(),
            s["object"]["definition"]["name"].clone(),
            s["object"]["definition"]["description"].clone(),
            s["object"]["definition"]["choices"][0]["description"].clone(),
            s["context"]["contextActivities"]["parent"][0]["definition"]["name"].clone(),
            s["attachments"][0]["display"].clone(),
        ]
    };
    for (languages, expected) in [
        (
            Some("fr;q=0.9, de;q=0.5"),
            [
                json!({"fr-FR": "a répondu"}),
                json!({"fr-FR": "Leçon"}),
                json!({"fr-FR": "Leçon"}),
                json!({"fr-FR": "Oui"}),
                json!({"fr-FR": "Leçon"}),
                json!({"fr-FR": "Notes (fr)"}),
            ],
        ),
        (
            // German first where there is German; elsewhere nothing matches: the first.
            Some("de, fr-FR;q=0"),
            [
                json!({"de-DE": "beantwortet"}),
                json!({"en-US": "Lesson"}),
                json!({"en-US": "Lesson"}),
                json!({"en-US": "Yes"}),
                json!({"en-US": "Lesson"}),
                json!({"en-US": "Notes"}),
            ],
        ),
        (
            None,
            [
                json!({"de-DE": "beantwortet"}),
                json!({"en-US": "Lesson"}),
                json!({"en-US": "Lesson"}),
                json!({"en-US": "Yes"}),
                json!({"en-US": "Lesson"}),
                json!({"en-US": "Notes"}),
            ],
        ),
    ] {
        let single = get_in(
            &app,
            &lrs,
            &format!("?statementId={id}&format=canonical"),
            languages,
        )
        .await;
        assert_eq!(single.status, StatusCode::OK, "{}", single.body);
        assert_eq!(one(&single.body), expected, "{languages:?}");
        let listed = get_in(&app, &lrs, "?format=canonical", languages).await;
        assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
        assert_eq!(
            one(&listed.body["statements"][0]),
            expected,
            "{languages:?}"
        );
    }
    let exact = get_in(&app, &lrs, &format!("?statementId={id}"), Some("fr")).await;
    assert_eq!(exact.body["verb"]["display"].as_object().unwrap().len(), 3);
    assert_eq!(exact.body["object"]["definition"]["name"], names);
}

/// A query parameter the resource does not declare: 400 naming it, nothing stored or read;
/// the same request without it goes through.
async fn undeclared_query_parameters_are_refused_and_nothing_is_done(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let lrs = lrs_credential(&app, &north.admin_token, &["all"]).await;
    let body = statement("ada@north.test", "completed", "http://north.test/a");
    let agent = encode(r#"{"mbox":"mailto:ada@north.test"}"#);
    let activity = encode("http://north.test/a");
    let state = format!("/xapi/activities/state?activityId={activity}&agent={agent}&stateId=s1");
    let profile = format!("/xapi/activities/profile?activityId={activity}&profileId=p1");
    let refused = [
        (
            Method::POST,
            "/xapi/statements?statementId=x".to_string(),
            Some(body.clone()),
            "statementId",
        ),
        (
            Method::POST,
            "/xapi/statements?verbose=1".to_string(),
            Some(body.clone()),
            "verbose",
        ),
        (
            Method::PUT,
            "/xapi/statements?statementId=7f7f7f7f-0000-4000-8000-000000000001&force=true"
                .to_string(),
            Some(body.clone()),
            "force",
        ),
        (
            Method::GET,
            "/xapi/statements?verb=x&page=2".to_string(),
            None,
            "page",
        ),
        (
            Method::PUT,
            format!("{state}&since=2020-01-01T00:00:00Z"),
            Some(json!({"a": 1})),
            "since",
        ),
        (Method::GET, format!("{state}&extra"), None, "extra"),
        (
            Method::POST,
            format!("{profile}&agent={agent}"),
            Some(json!({"a": 1})),
            "agent",
        ),
        (
            Method::GET,
            format!("/xapi/agents?agent={agent}&%73ince=x"),
            None,
            "since",
        ),
        (Method::GET, "/xapi/about?x=1".to_string(), None, "x"),
    ];
    for (method, path, body, field) in refused {
        let reply = xapi(&app, &lrs, method.clone(), &path, body, Some("1.0.3")).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{method} {path}: {}",
            reply.body
        );
        assert_eq!(reply.error_fields(), [field], "{method} {path}");
        assert_eq!(
            reply.header("x-experience-api-version").as_deref(),
            Some("1.0.3")
        );
    }
    // Nothing was stored.
    assert!(ids(&app, &lrs, "").await.is_empty());
    let missing = xapi(&app, &lrs, Method::GET, &state, None, Some("1.0.3")).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{}", missing.body);
    let missing = xapi(&app, &lrs, Method::GET, &profile, None, Some("1.0.3")).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{}", missing.body);
    // The declared parameters alone go through.
    let stored = post(&app, &lrs, body.clone()).await;
    assert_eq!(stored.status, StatusCode::OK, "{}", stored.body);
    let id = stored.body[0].as_str().unwrap().to_string();
    assert_eq!(
        ids(
            &app,
            &lrs,
            &format!(
                "?verb={}&limit=5",
                encode("http://adlnet.gov/expapi/verbs/completed")
            )
        )
        .await,
        std::slice::from_ref(&id)
    );
    let one = get(
        &app,
        &lrs,
        &format!("?statementId={id}&format=ids&attachments=false"),
    )
    .await;
    assert_eq!(one.status, StatusCode::OK, "{}", one.body);
    assert!(one.header("last-modified").is_some());
    let put = xapi(
        &app,
        &lrs,
        Method::PUT,
        &state,
        Some(json!({"a": 1})),
        Some("1.0.3"),
    )
    .await;
    assert_eq!(put.status, StatusCode::NO_CONTENT, "{}", put.body);
    let read = xapi(&app, &lrs, Method::GET, &state, None, Some("1.0.3")).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    assert!(read.header("last-modified").is_some());
    let about = xapi(&app, &lrs, Method::GET, "/xapi/about", None, None).await;
    assert_eq!(about.status, StatusCode::OK, "{}", about.body);
}

/// A form-encoded POST with `method=` (Communication 1.3).
async fn alternate(app: &TestApp, path: &str, query: &str, form: &[(&str, String)]) -> Reply {
    let body = form
        .iter()
        .map(|(name, value)| format!("{}={}", encode(name), encode(value)))
        .collect::<Vec<_>>()
        .join("&");
    let response = app
        .client
        .post(format!("{}{path}?{query}", app.base))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    Reply {
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
    }
}

/// The alternate request syntax: the method, headers (credential included), parameters and
/// content travel in a form; the LRS answers as to the request they make, with the same
/// rules. `method` with any other query parameter, or an unknown method, is a 400.
async fn the_alternate_request_syntax_is_the_request_it_carries(backend: Backend) {
    use base64::Engine;
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let lrs = lrs_credential(&app, &north.admin_token, &["all"]).await;
    let authorization = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", lrs.key, lrs.secret))
    );
    let body = statement("ada@north.test", "completed", "http://north.test/a");
    let id = "7f7f7f7f-0000-4000-8000-0000000000a1";
    let headers = |version: &str| {
        vec![
            ("Authorization", authorization.clone()),
            ("X-Experience-API-Version", version.to_string()),
            ("Content-Type", "application/json".to_string()),
        ]
    };
    // PUT a statement.
    let mut form = headers("1.0.3");
    form.push(("statementId", id.to_string()));
    form.push(("content", body.to_string()));
    let put = alternate(&app, "/xapi/statements", "method=PUT", &form).await;
    assert_eq!(put.status, StatusCode::NO_CONTENT, "{}", put.body);
    assert_eq!(
        put.header("x-experience-api-version").as_deref(),
        Some("1.0.3")
    );
    assert_eq!(ids(&app, &lrs, "").await, [id]);
    // GET it back with a filter in the form.
    let mut form = headers("1.0.3");
    form.push((
        "verb",
        "http://adlnet.gov/expapi/verbs/completed".to_string(),
    ));
    let found = alternate(&app, "/xapi/statements", "method=GET", &form).await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.body);
    assert_eq!(found.body["statements"][0]["id"], json!(id));
    // A state document, PUT then read, through the form.
    let mut form = headers("1.0.3");
    form.extend([
        ("activityId", "http://north.test/a".to_string()),
        ("agent", r#"{"mbox":"mailto:ada@north.test"}"#.to_string()),
        ("stateId", "s1".to_string()),
        ("content", r#"{"page": 3}"#.to_string()),
    ]);
    let stored = alternate(&app, "/xapi/activities/state", "method=PUT", &form).await;
    assert_eq!(stored.status, StatusCode::NO_CONTENT, "{}", stored.body);
    form.pop();
    let read = alternate(&app, "/xapi/activities/state", "method=GET", &form).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    assert_eq!(read.body, json!({"page": 3}));
    // The rules of the request it stands for still hold: no version, a bad credential.
    let mut form = headers("0.95");
    form.push(("content", body.to_string()));
    let old = alternate(&app, "/xapi/statements", "method=POST", &form).await;
    assert_eq!(old.status, StatusCode::BAD_REQUEST, "{}", old.body);
    let mut form = headers("1.0.3");
    form[0].1 = "Basic bm9ib2R5Om5vdGhpbmc=".to_string();
    form.push(("content", body.to_string()));
    let anonymous = alternate(&app, "/xapi/statements", "method=POST", &form).await;
    assert_eq!(
        anonymous.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        anonymous.body
    );
    // method with another query parameter, an unknown method, or no form: 400.
    let mut form = headers("1.0.3");
    form.push(("content", body.to_string()));
    for (query, field) in [
        (format!("method=PUT&statementId={id}"), "statementId"),
        ("method=PATCH".to_string(), "method"),
        ("method=GET&method=PUT".to_string(), "method"),
    ] {
        let refused = alternate(&app, "/xapi/statements", &query, &form).await;
        assert_eq!(
            refused.status,
            StatusCode::BAD_REQUEST,
            "{query}: {}",
            refused.body
        );
        assert_eq!(refused.error_fields(), [field], "{query}");
    }
    let not_a_form = xapi(
        &app,
        &lrs,
        Method::POST,
        "/xapi/statements?method=POST",
        Some(body),
        Some("1.0.3"),
    )
    .await;
    assert_eq!(
        not_a_form.status,
        StatusCode::BAD_REQUEST,
        "{}",
        not_a_form.body
    );
    assert_eq!(not_a_form.error_fields(), ["Content-Type"]);
    // Nothing but the first statement was stored.
    assert_eq!(ids(&app, &lrs, "").await, [id]);
}

/// One part of a multipart/mixed body: its headers and content.
type SentPart<'a> = (Vec<(&'a str, String)>, Vec<u8>);
/// One part of a multipart/mixed answer: its headers (names in lower case) and content.
type ReadPart = (Vec<(String, String)>, Vec<u8>);

/// A multipart/mixed body (Communication 1.5.2): the JSON first, then each part as
/// `(headers, content)`.
fn multipart_body(boundary: &str, json: &Value, parts: &[SentPart<'_>]) -> Vec<u8> {
    let mut body =
        format!("--{boundary}\r\nContent-Type: application/json\r\n\r\n{json}").into_bytes();
    for (headers, content) in parts {
        body.extend_from_slice(format!("\r\n--{boundary}\r\n").as_bytes());
        for (name, value) in headers {
            body.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(content);
    }
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    body
}

fn sha256(content: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(content))
}

/// An attachment part's headers as a client sends them.
fn part_headers(content_type: &str, hash: &str) -> Vec<(&'static str, String)> {
    vec![
        ("Content-Type", content_type.to_string()),
        ("Content-Transfer-Encoding", "binary".to_string()),
        ("X-Experience-API-Hash", hash.to_string()),
    ]
}

fn with_attachment(mut statement: Value, content: &[u8], content_type: &str) -> Value {
    let attachments = statement
        .as_object_mut()
        .unwrap()
        .entry("attachments")
        .or_insert(json!([]));
    attachments.as_array_mut().unwrap().push(json!({
        "usageType": "http://id.tincanapi.com/attachment/supporting_media",
        "display": {"en-US": "An essay"},
        "contentType": content_type,
        "length": content.len(),
        "sha2": sha256(content),
    }));
    statement
}

/// Sends a multipart/mixed request to `/xapi/statements` (`method` POST or PUT).
async fn send_multipart(
    app: &TestApp,
    lrs: &Lrs,
    method: Method,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> Reply {
    let response = app
        .client
        .request(method, format!("{}{path}", app.base))
        .basic_auth(&lrs.key, Some(&lrs.secret))
        .header("X-Experience-API-Version", "1.0.3")
        .header("Content-Type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    Reply {
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
    }
}

/// A GET with `attachments=true`: the content type and the raw body.
async fn get_raw(app: &TestApp, lrs: &Lrs, query: &str) -> (StatusCode, String, Vec<u8>) {
    let response = app
        .client
        .get(format!("{}/xapi/statements{query}", app.base))
        .basic_auth(&lrs.key, Some(&lrs.secret))
        .header("X-Experience-API-Version", "1.0.3")
        .send()
        .await
        .unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (
        status,
        content_type,
        response.bytes().await.unwrap().to_vec(),
    )
}

/// The parts of a multipart/mixed answer: headers (names in lower case) and content.
fn read_parts(content_type: &str, body: &[u8]) -> Vec<ReadPart> {
    let boundary = content_type
        .split("boundary=")
        .nth(1)
        .unwrap()
        .trim_matches('"')
        .to_string();
    let delimiter = format!("--{boundary}");
    let text = body.to_vec();
    let mut out = Vec::new();
    let positions: Vec<usize> = text
        .windows(delimiter.len())
        .enumerate()
        .filter(|(_, w)| *w == delimiter.as_bytes())
        .map(|(i, _)| i)
        .collect();
    for pair in positions.windows(2) {
        let start = pair[0] + delimiter.len() + 2;
        let end = pair[1] - 2;
        let raw = &text[start..end];
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let headers = String::from_utf8(raw[..split].to_vec())
            .unwrap()
            .lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        out.push((headers, raw[split + 4..].to_vec()));
    }
    out
}

fn header_of<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

async fn attachments_round_trip_in_multipart_mixed(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let lrs = lrs_credential(&app, &north.admin_token, &["all"]).await;
    let essay = b"My essay on the Analytical Engine.\r\n--not-a-boundary\r\n\x00\xff".to_vec();
    let sent = with_attachment(
        statement("ada@north.test", "completed", "http://north.test/essay"),
        &essay,
        "application/octet-stream",
    );
    let hash = sha256(&essay);
    let body = multipart_body(
        "abcABC0123'()+_,-./:=?",
        &sent,
        &[(
            part_headers("application/octet-stream", &hash),
            essay.clone(),
        )],
    );
    let stored = send_multipart(
        &app,
        &lrs,
        Method::POST,
        "/xapi/statements",
        "multipart/mixed; boundary=\"abcABC0123'()+_,-./:=?\"",
        body,
    )
    .await;
    assert_eq!(stored.status, StatusCode::OK, "{}", stored.body);
    let id = stored.body[0].as_str().unwrap().to_string();

    // The statement alone, with its attachment content, by id and in a query.
    for query in [
        format!("?statementId={id}&attachments=true"),
        "?attachments=true".to_string(),
    ] {
        let (status, content_type, body) = get_raw(&app, &lrs, &query).await;
        assert_eq!(status, StatusCode::OK, "{query}");
        assert!(
            content_type.starts_with("multipart/mixed"),
            "{content_type}"
        );
        let parts = read_parts(&content_type, &body);
        assert_eq!(parts.len(), 2, "{query}");
        assert_eq!(
            header_of(&parts[0].0, "content-type"),
            Some("application/json")
        );
        let json: Value = serde_json::from_slice(&parts[0].1).unwrap();
        let statement = if json.get("statements").is_some() {
            json["statements"][0].clone()
        } else {
            json
        };
        assert_eq!(statement["id"], json!(id));
        assert_eq!(statement["attachments"][0]["sha2"], json!(hash));
        assert_eq!(
            header_of(&parts[1].0, "x-experience-api-hash"),
            Some(hash.as_str())
        );
        assert_eq!(
            header_of(&parts[1].0, "content-transfer-encoding"),
            Some("binary")
        );
        assert_eq!(parts[1].1, essay);
    }
    // Without attachments=true: JSON, as before.
    let plain = get(&app, &lrs, &format!("?statementId={id}&attachments=false")).await;
    assert_eq!(plain.status, StatusCode::OK);
    assert!(
        plain.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(plain.body["attachments"][0]["sha2"], json!(hash));

    // A PUT takes multipart/mixed too; a statement without attachments may come that way.
    let put_id = "5d1f3a2b-9c8e-4f7a-8b6c-1a2b3c4d5e6f";
    let bare = statement("ada@north.test", "attempted", "http://north.test/essay");
    let put = send_multipart(
        &app,
        &lrs,
        Method::PUT,
        &format!("/xapi/statements?statementId={put_id}"),
        "multipart/mixed; boundary=b1",
        multipart_body("b1", &bare, &[]),
    )
    .await;
    assert_eq!(put.status, StatusCode::NO_CONTENT, "{}", put.body);
}

async fn each_bad_multipart_is_refused_and_nothing_is_stored(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let lrs = lrs_credential(&app, &north.admin_token, &["all"]).await;
    let essay = b"An essay".to_vec();
    let hash = sha256(&essay);
    let declared = with_attachment(
        statement("ada@north.test", "completed", "http://north.test/essay"),
        &essay,
        "text/plain",
    );
    let other = b"Another file".to_vec();
    let mut long = declared.clone();
    long["attachments"][0]["length"] = json!(essay.len() + 1);
    let cases: Vec<(&str, Value, Vec<SentPart<'_>>, &str)> = vec![
        ("a missing part", declared.clone(), vec![], "attachments[0]"),
        (
            "a part no attachment declares",
            declared.clone(),
            vec![
                (part_headers("text/plain", &hash), essay.clone()),
                (part_headers("text/plain", &sha256(&other)), other.clone()),
            ],
            "part 3",
        ),
        (
            "a content whose hash is not the one given",
            declared.clone(),
            vec![(part_headers("text/plain", &hash), other.clone())],
            "part 2",
        ),
        (
            "a length other than declared",
            long,
            vec![(part_headers("text/plain", &hash), essay.clone())],
            "attachments[0].length",
        ),
        (
            "a media type other than declared",
            declared.clone(),
            vec![(part_headers("image/png", &hash), essay.clone())],
            "attachments[0].contentType",
        ),
        (
            "a part without its hash",
            declared.clone(),
            vec![(
                vec![
                    ("Content-Type", "text/plain".to_string()),
                    ("Content-Transfer-Encoding", "binary".to_string()),
                ],
                essay.clone(),
            )],
            "part 2",
        ),
        (
            "an encoding other than binary",
            declared.clone(),
            vec![(
                vec![
                    ("Content-Type", "text/plain".to_string()),
                    ("Content-Transfer-Encoding", "base64".to_string()),
                    ("X-Experience-API-Hash", hash.clone()),
                ],
                essay.clone(),
            )],
            "part 2",
        ),
    ];
    for (case, refused, parts, field) in cases {
        // In a batch with a good statement: the batch is refused whole.
        let good = with_attachment(
            statement("ada@north.test", "attempted", "http://north.test/b"),
            b"fine",
            "text/plain",
        );
        let mut all_parts = vec![(
            part_headers("text/plain", &sha256(b"fine")),
            b"fine".to_vec(),
        )];
        all_parts.extend(parts);
        let body = multipart_body("xyz", &json!([good, refused]), &all_parts);
        let reply = send_multipart(
            &app,
            &lrs,
            Method::POST,
            "/xapi/statements",
            "multipart/mixed; boundary=xyz",
            body,
        )
        .await;
        reply.assert_problem(400, "xapi_invalid");
        let wanted = if field.starts_with("attachments") {
            format!("[1].{field}")
        } else if field == "part 3" {
            "part 4".to_string()
        } else {
            "part 3".to_string()
        };
        assert!(
            reply.error_fields().contains(&wanted),
            "{case}: expected {wanted}, got {}",
            reply.body
        );
        assert!(
            reply.body.to_string().contains("xAPI 1.0.3"),
            "{case}: {}",
            reply.body
        );
    }
    // A first part that is not the statements' JSON.
    let reply = send_multipart(
        &app,
        &lrs,
        Method::POST,
        "/xapi/statements",
        "multipart/mixed; boundary=xyz",
        b"--xyz\r\nContent-Type: text/plain\r\n\r\nhello\r\n--xyz--\r\n".to_vec(),
    )
    .await;
    reply.assert_problem(400, "xapi_invalid");
    // An attachment without fileUrl in an application/json request still needs its part.
    let reply = post(&app, &lrs, declared).await;
    reply.assert_problem(400, "xapi_invalid");
    assert!(ids(&app, &lrs, "").await.is_empty());
}

async fn oversized_attachments_are_refused_with_413(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let lrs = lrs_credential(&app, &north.admin_token, &["all"]).await;
    // One part over the per-attachment limit (512 KiB), the request under the body limit.
    let big = vec![b'a'; 600 * 1024];
    // Then a request over the body limit (1 MiB by default) in parts each under 512 KiB.
    let halves = [
        vec![b'b'; 500 * 1024],
        vec![b'c'; 500 * 1024],
        vec![b'd'; 100 * 1024],
    ];
    let mut split = statement("ada@north.test", "completed", "http://north.test/essay");
    for half in &halves {
        split = with_attachment(split, half, "text/plain");
    }
    let cases = [
        (
            with_attachment(
                statement("ada@north.test", "completed", "http://north.test/essay"),
                &big,
                "text/plain",
            ),
            vec![(part_headers("text/plain", &sha256(&big)), big.clone())],
        ),
        (
            split,
            halves
                .iter()
                .map(|h| (part_headers("text/plain", &sha256(h)), h.clone()))
                .collect(),
        ),
    ];
    for (statement, parts) in cases {
        let reply = send_multipart(
            &app,
            &lrs,
            Method::POST,
            "/xapi/statements",
            "multipart/mixed; boundary=xyz",
            multipart_body("xyz", &statement, &parts),
        )
        .await;
        reply.assert_problem(413, "payload_too_large");
    }
    assert!(ids(&app, &lrs, "").await.is_empty());
}

const SIGNING_KEY: &str = include_str!("../xapi/signing-key.pem");
const SIGNING_CERT: &str = include_str!("../xapi/signing-cert.pem");

/// The signing certificate's DER, base64 (an `x5c` entry, RFC 7515 4.1.6).
fn signing_cert_x5c() -> String {
    SIGNING_CERT
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect()
}

fn sign(statement: &Value, alg: jsonwebtoken::Algorithm, x5c: bool) -> String {
    let mut header = jsonwebtoken::Header::new(alg);
    if x5c {
        header.x5c = Some(vec![signing_cert_x5c()]);
    }
    let key = match alg {
        jsonwebtoken::Algorithm::HS256 => {
            jsonwebtoken::EncodingKey::from_secret(b"a shared secret").unwrap()
        }
        _ => jsonwebtoken::EncodingKey::from_rsa_pem(SIGNING_KEY.as_bytes()).unwrap(),
    };
    jsonwebtoken::encode(&header, statement, &key).unwrap()
}

/// A statement with its signature attachment, and the request carrying both.
fn signed_request(original: &Value, jws: &str) -> (Value, Vec<u8>) {
    let mut signed = original.clone();
    signed["attachments"] = json!([{
        "usageType": "http://adlnet.gov/expapi/attachments/signature",
        "display": {"en-US": "Signature"},
        "contentType": "application/octet-stream",
        "length": jws.len(),
        "sha2": sha256(jws.as_bytes()),
    }]);
    let body = multipart_body(
        "sig",
        &signed,
        &[(
            part_headers("application/octet-stream", &sha256(jws.as_bytes())),
            jws.as_bytes().to_vec(),
        )],
    );
    (signed, body)
}

async fn signed_statements_are_checked(backend: Backend) {
    use jsonwebtoken::Algorithm;
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let lrs = lrs_credential(&app, &north.admin_token, &["all"]).await;
    let mut original = statement("ada@north.test", "passed", "http://north.test/exam");
    original["timestamp"] = json!("2026-12-01T10:00:00Z");
    let mut tampered = original.clone();
    tampered["verb"]["id"] = json!("http://adlnet.gov/expapi/verbs/failed");
    let forged = {
        // A valid JWS of another payload, with the statement's payload put in its place.
        let jws = sign(&tampered, Algorithm::RS256, true);
        let mut pieces: Vec<String> = jws.split('.').map(str::to_string).collect();
        use base64::Engine as _;
        pieces[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&original).unwrap());
        pieces.join(".")
    };
    let post_signed = |jws: String| {
        let app = &app;
        let lrs = &lrs;
        let original = original.clone();
        async move {
            let (_, body) = signed_request(&original, &jws);
            send_multipart(
                app,
                lrs,
                Method::POST,
                "/xapi/statements",
                "multipart/mixed; boundary=sig",
                body,
            )
            .await
        }
    };
    for (case, jws) in [
        (
            "payload of another statement",
            sign(&tampered, Algorithm::RS256, true),
        ),
        ("HS256", sign(&original, Algorithm::HS256, false)),
        ("signature over another payload", forged),
        ("not a JWS", "not.a-jws".to_string()),
    ] {
        let reply = post_signed(jws).await;
        reply.assert_problem(400, "xapi_invalid");
        assert!(
            reply.body.to_string().contains("Data 2.6"),
            "{case}: {}",
            reply.body
        );
    }
    assert!(ids(&app, &lrs, "").await.is_empty());
    for (alg, x5c) in [
        (Algorithm::RS256, true),
        (Algorithm::RS384, true),
        (Algorithm::RS512, false),
    ] {
        let reply = post_signed(sign(&original, alg, x5c)).await;
        assert_eq!(reply.status, StatusCode::OK, "{alg:?}: {}", reply.body);
    }
    assert_eq!(ids(&app, &lrs, "").await.len(), 3);
}

async fn statement_refs_meet_the_filters_of_their_targets(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let lrs = lrs_credential(&app, &north.admin_token, &["all"]).await;
    let registration = "3d9f6e4c-2f5b-4c7d-9e0f-9a8b7c6d5e4f";
    let mut passed = statement("ben@north.test", "passed", "http://north.test/explosives");
    passed["context"] = json!({"registration": registration});
    let ben = post(&app, &lrs, passed).await.body[0]
        .as_str()
        .unwrap()
        .to_string();
    let targeting = |target: &str, verb: &str| {
        json!({
            "actor": {"objectType": "Agent", "mbox": "mailto:andrew@north.test"},
            "verb": {"id": format!("http://adlnet.gov/expapi/verbs/{verb}")},
            "object": {"objectType": "StatementRef", "id": target},
        })
    };
    let confirmed = post(&app, &lrs, targeting(&ben, "confirmed")).await.body[0]
        .as_str()
        .unwrap()
        .to_string();
    // a targets b targets c: a matches c's filters.
    let endorsed = post(&app, &lrs, targeting(&confirmed, "endorsed"))
        .await
        .body[0]
        .as_str()
        .unwrap()
        .to_string();
    let unrelated = post(
        &app,
        &lrs,
        statement("grace@north.test", "passed", "http://north.test/other"),
    )
    .await
    .body[0]
        .as_str()
        .unwrap()
        .to_string();
    let ben_agent = encode(&json!({"mbox": "mailto:ben@north.test"}).to_string());
    let expected = [endorsed.clone(), confirmed.clone(), ben.clone()];
    for query in [
        format!("?agent={ben_agent}"),
        format!("?activity={}", encode("http://north.test/explosives")),
        format!("?registration={registration}"),
        format!(
            "?verb={}&agent={ben_agent}",
            encode("http://adlnet.gov/expapi/verbs/passed")
        ),
    ] {
        assert_eq!(ids(&app, &lrs, &query).await, expected, "{query}");
    }
    // The verb filter: the targeting statement's own verb matches too, and "passed" brings
    // both passed statements and what targets Ben's.
    let passed_verb = encode("http://adlnet.gov/expapi/verbs/passed");
    assert_eq!(
        ids(&app, &lrs, &format!("?verb={passed_verb}")).await,
        [
            unrelated.clone(),
            endorsed.clone(),
            confirmed.clone(),
            ben.clone()
        ]
    );
    let confirmed_verb = encode("http://adlnet.gov/expapi/verbs/confirmed");
    assert_eq!(
        ids(&app, &lrs, &format!("?verb={confirmed_verb}")).await,
        [endorsed.clone(), confirmed.clone()]
    );
    // Time filters apply to the targeting statement itself.
    let stored = get(&app, &lrs, &format!("?statementId={confirmed}"))
        .await
        .body["stored"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        ids(
            &app,
            &lrs,
            &format!("?agent={ben_agent}&until={}", encode(&stored))
        )
        .await,
        [confirmed.clone(), ben.clone()]
    );
    // A voided target still brings what targets it (Communication 2.1.4): the voiding
    // statement and the confirmation; the voided statement itself leaves.
    let voiding = post(&app, &lrs, {
        let mut v = targeting(&ben, "voided");
        v["actor"] = json!({"objectType": "Agent", "mbox": "mailto:admin@north.test"});
        v
    })
    .await
    .body[0]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        ids(&app, &lrs, &format!("?agent={ben_agent}")).await,
        [voiding, endorsed, confirmed]
    );
}

/// Posts one statement and answers the id the LRS stored it under.
async fn stored_id(app: &TestApp, lrs: &Lrs, statement: Value) -> String {
    let reply = post(app, lrs, statement).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body[0].as_str().unwrap().to_string()
}

async fn promise_c3_statement_refs_stored_before_their_targets_were_recorded_are_followed(
    backend: Backend,
) {
    use sea_orm::{ConnectionTrait, Statement};
    // The gateway's own pass stays out of the way: this test runs it.
    let app = crate::support::spawn_with(backend, |c| c.deadline_sweep_secs = 3_600).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let lrs = lrs_credential(&app, admin, &["all"]).await;
    let ben = stored_id(
        &app,
        &lrs,
        statement("ben@north.test", "passed", "http://north.test/explosives"),
    )
    .await;
    let confirmed = stored_id(
        &app,
        &lrs,
        json!({
            "actor": {"objectType": "Agent", "mbox": "mailto:andrew@north.test"},
            "verb": {"id": "http://adlnet.gov/expapi/verbs/confirmed"},
            "object": {"objectType": "StatementRef", "id": ben},
        }),
    )
    .await;
    let about_an_agent = stored_id(
        &app,
        &lrs,
        json!({
            "actor": {"objectType": "Agent", "mbox": "mailto:andrew@north.test"},
            "verb": {"id": "http://adlnet.gov/expapi/verbs/mentored"},
            "object": {"objectType": "Agent", "mbox": "mailto:ben@north.test"},
        }),
    )
    .await;
    let ben_agent = encode(&json!({"mbox": "mailto:ben@north.test"}).to_string());
    let by_activity = format!("?activity={}", encode("http://north.test/explosives"));
    assert_eq!(
        ids(&app, &lrs, &by_activity).await,
        [confirmed.clone(), ben.clone()]
    );
    // As the store held them before targets were recorded (the mark is what migration
    // m20261203_001340 sets on such rows): the confirmation is no longer followed.
    let scope = app.tenant_scope(admin).await;
    let db = scope.db();
    db.execute_raw(Statement::from_string(
        db.get_database_backend(),
        "UPDATE xapi_statements SET target_statement_id = NULL, targets_pending = TRUE \
         WHERE activity_id IS NULL AND voids IS NULL",
    ))
    .await
    .unwrap();
    scope.commit().await.unwrap();
    assert_eq!(
        ids(&app, &lrs, &by_activity).await,
        std::slice::from_ref(&ben)
    );

    // The job opens the two marked statements, records the StatementRef's target, and the
    // filters follow it again; a second pass finds nothing to do.
    let pass = hub_course::xapi::targets::fill_pending(&app.state.tenancy)
        .await
        .unwrap();
    assert!(pass.failed.is_empty(), "{:?}", pass.failed);
    assert_eq!((pass.checked, pass.filled), (2, 1));
    assert_eq!(
        ids(&app, &lrs, &by_activity).await,
        [confirmed.clone(), ben.clone()]
    );
    assert_eq!(
        ids(&app, &lrs, &format!("?agent={ben_agent}")).await,
        [about_an_agent, confirmed, ben]
    );
    let again = hub_course::xapi::targets::fill_pending(&app.state.tenancy)
        .await
        .unwrap();
    assert_eq!((again.checked, again.filled), (0, 0));
}

/// The rows of `xapi_attachments`, read in the institution's own storage.
async fn attachment_rows(scope: &hub_tenant::TenantScope) -> i64 {
    use sea_orm::{ConnectionTrait, Statement};
    let db = scope.db();
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM xapi_attachments",
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

async fn erasure_removes_a_persons_attachments(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let person = app
        .post(
            "/v1/people",
            admin,
            json!({"name": "Ada Lovelace", "email": "ada@north.test", "roles": ["learner"]}),
        )
        .await;
    assert_eq!(person.status, StatusCode::CREATED, "{}", person.body);
    let ada: uuid::Uuid = person.body["id"].as_str().unwrap().parse().unwrap();
    let lrs = lrs_credential(&app, admin, &["all"]).await;
    let mut ids_sent = Vec::new();
    for (email, content) in [
        ("ada@north.test", b"Ada's essay".to_vec()),
        ("grace@north.test", b"Grace's essay".to_vec()),
    ] {
        let sent = with_attachment(
            statement(email, "completed", "http://north.test/essay"),
            &content,
            "text/plain",
        );
        let reply = send_multipart(
            &app,
            &lrs,
            Method::POST,
            "/xapi/statements",
            "multipart/mixed; boundary=e",
            multipart_body(
                "e",
                &sent,
                &[(
                    part_headers("text/plain", &sha256(&content)),
                    content.clone(),
                )],
            ),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        ids_sent.push(reply.body[0].as_str().unwrap().to_string());
    }
    let source = sources()
        .into_iter()
        .find(|s| s.name() == "xapi_statements")
        .unwrap();
    let Principal::Tenant(principal) = app.state.tenancy.authenticate(admin).await.unwrap() else {
        panic!("not a tenant key");
    };
    let subject = DataSubject::person(ada, vec![Pii::new("ada@north.test".into())]);
    // Export carries her attachment's metadata and content.
    let scope = app.state.tenancy.scope(&principal).await.unwrap();
    let exported = source.export(&scope, &subject).await.unwrap();
    assert_eq!(exported.len(), 1);
    use base64::Engine as _;
    assert_eq!(
        exported[0]["attachments"][0]["base64"],
        json!(base64::engine::general_purpose::STANDARD.encode(b"Ada's essay"))
    );
    assert_eq!(
        exported[0]["attachments"][0]["sha2"],
        json!(sha256(b"Ada's essay"))
    );
    assert_eq!(attachment_rows(&scope).await, 2);
    source.erase(&scope, &subject).await.unwrap();
    assert_eq!(attachment_rows(&scope).await, 1);
    scope.commit().await.unwrap();
    // Through the API: hers is gone with its content, Grace's is whole.
    let (status, content_type, body) = get_raw(&app, &lrs, "?attachments=true").await;
    assert_eq!(status, StatusCode::OK);
    let parts = read_parts(&content_type, &body);
    assert_eq!(parts.len(), 2);
    let result: Value = serde_json::from_slice(&parts[0].1).unwrap();
    assert_eq!(result["statements"].as_array().unwrap().len(), 1);
    assert_eq!(result["statements"][0]["id"], json!(ids_sent[1]));
    assert_eq!(parts[1].1, b"Grace's essay");
    let (status, _, _) = get_raw(
        &app,
        &lrs,
        &format!("?statementId={}&attachments=true", ids_sent[0]),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
