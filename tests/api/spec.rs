//! Promise D5: the committed OpenAPI documents are what the code serves, every operation is
//! documented well enough to generate an SDK from, and every error, including those the
//! HTTP layer raises itself, arrives as problem+json carrying the request id.
//!
//! The spec is exact: an independent validator accepts it as OpenAPI 3.0 and every example
//! validates against its schema (scripts/check-openapi.py); every operation says which
//! credential it takes (`security: []` when none) and lists only the error statuses it can
//! answer with; the HTTP conventions it declares (304, `If-Match: *`, rate-limit headers,
//! `Cache-Control: no-store`) are what the server does.

// Test code: a failed unwrap is a failed test with its reason, which is what we want.

use crate::both_backends;
use crate::support::{Backend, spawn};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

fn openapi_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../openapi")
}

/// Operations that answer without a credential: probes for load balancers and orchestrators,
/// the sign-in flow (the person has no credential yet), and what an institution publishes to
/// anyone (where to raise a privacy concern).
const UNAUTHENTICATED: &[&str] = &[
    "/healthz",
    "/readyz",
    "/v1/sso/{tenant_slug}/oidc/{connection_id}/login",
    "/v1/sso/oidc/callback",
    "/v1/auth/password",
    "/v1/auth/password-reset-requests",
    "/v1/auth/password-resets",
    "/v1/guardian-consents/confirmations",
    "/v1/sso/discovery",
    "/v1/sso/{tenant_slug}/saml/{connection_id}/metadata",
    "/v1/sso/{tenant_slug}/saml/{connection_id}/login",
    "/v1/sso/saml/acs",
    "/v1/privacy/cookie-categories",
    "/.well-known/gpc.json",
    "/v1/privacy-downloads/{token}",
    "/v1/institutions/{tenant_slug}/jwks.json",
    "/v1/institutions/{tenant_slug}/privacy-contact",
    "/v1/institutions/{tenant_slug}/certificates/{verification_id}",
    "/v1/institutions/{tenant_slug}/certificates/verification",
    // xAPI-Communication 2.8: the LRS's versions, for any client.
    "/xapi/about",
    // Stripe's deliveries: the Stripe-Signature header over the body is the proof.
    "/v1/billing/stripe/webhook",
];

/// `/v1` operations whose success holds nothing personal and is meant for anyone, which say
/// so with their own `Cache-Control` (an error on them is still `no-store`).
const PUBLICLY_CACHEABLE: &[(&str, &str)] = &[(
    "/v1/institutions/{tenant_slug}/jwks.json",
    "public, max-age=300",
)];

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

#[test]
fn promise_d5_committed_spec_matches_the_code() {
    let (json, yaml) = hub_gateway::app::spec_documents();
    let dir = openapi_dir();
    let committed_json = std::fs::read_to_string(dir.join("openapi.json")).unwrap();
    let committed_yaml = std::fs::read_to_string(dir.join("openapi.yaml")).unwrap();
    // `hub spec` ends the JSON file with a newline.
    assert!(
        committed_json == format!("{json}\n"),
        "openapi/openapi.json is out of date with the code: run `make spec` and review the diff"
    );
    assert!(
        committed_yaml == yaml,
        "openapi/openapi.yaml is out of date with the code: run `make spec` and review the diff"
    );
}

#[test]
fn promise_d5_every_operation_is_documented() {
    let (json, _) = hub_gateway::app::spec_documents();
    let spec: Value = serde_json::from_str(&json).unwrap();
    let paths = spec["paths"].as_object().expect("the spec has paths");
    let mut operation_ids: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut gaps = Vec::new();
    let mut count = 0;
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            if !METHODS.contains(&method.as_str()) {
                continue;
            }
            count += 1;
            let name = format!("{} {path}", method.to_uppercase());
            let mut missing = |what: &str| gaps.push(format!("{name}: {what}"));
            match op["operationId"].as_str() {
                Some(id) if !id.is_empty() => operation_ids
                    .entry(id.to_string())
                    .or_default()
                    .push(name.clone()),
                _ => missing("no operationId"),
            }
            if op["tags"].as_array().is_none_or(|t| t.is_empty()) {
                missing("no tag");
            }
            for field in ["summary", "description"] {
                if op[field].as_str().is_none_or(|s| s.trim().is_empty()) {
                    missing(&format!(
                        "no {field} (the doc comment's first line is the summary, the following paragraph the description)"
                    ));
                }
            }
            // Explicit either way: a generator treats a missing `security` as "unknown".
            match op["security"].as_array() {
                None => missing("no `security` (public operations say `security: []`)"),
                Some(s) if s.is_empty() && !UNAUTHENTICATED.contains(&path.as_str()) => {
                    missing("`security: []` on an operation that takes a credential")
                }
                Some(s) if !s.is_empty() && UNAUTHENTICATED.contains(&path.as_str()) => {
                    missing("a security requirement on a public operation")
                }
                Some(_) => {}
            }
            let responses = op["responses"].as_object().cloned().unwrap_or_default();
            let client_errors: Vec<_> = responses
                .iter()
                .filter(|(status, _)| status.starts_with('4'))
                .collect();
            if client_errors.is_empty() {
                missing("no 4xx response documented");
            }
            for (status, response) in client_errors {
                // SCIM answers errors in its own schema (RFC 7644 §3.12).
                let error_type = if path.starts_with("/v1/scim/v2/") {
                    "application/scim+json"
                } else {
                    "application/problem+json"
                };
                if response["content"].get(error_type).is_none() {
                    missing(&format!("{status} is not documented as {error_type}"));
                }
            }
            // A redirect is the success of an operation whose job is to send the browser on.
            if !responses
                .keys()
                .any(|s| s.starts_with('2') || s.starts_with('3'))
            {
                missing("no success response documented");
            }
        }
    }
    assert!(count > 20, "only {count} operations found in the spec");
    for (id, ops) in &operation_ids {
        if ops.len() > 1 {
            gaps.push(format!("operationId {id} is used by {}", ops.join(", ")));
        }
    }
    assert!(
        gaps.is_empty(),
        "operations an SDK generator cannot describe well:\n  {}",
        gaps.join("\n  ")
    );
}

both_backends!(promise_d5_every_error_is_problem_json_with_the_request_id);

async fn promise_d5_every_error_is_problem_json_with_the_request_id(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let token = north.admin_token.as_str();

    let unknown = app.get("/v1/no-such-thing", token).await;
    unknown.assert_problem(404, "route_not_found");
    assert_request_id_matches(&unknown);

    for method in [Method::PUT, Method::TRACE] {
        let wrong_method = app
            .call(method.clone(), "/v1/courses", Some(token), None)
            .await;
        wrong_method.assert_problem(405, "method_not_allowed");
        assert_request_id_matches(&wrong_method);
    }

    let anonymous = app.call(Method::GET, "/v1/courses", None, None).await;
    anonymous.assert_problem(401, "unauthenticated");
    assert_request_id_matches(&anonymous);
    let bad_token = app.get("/v1/courses", "dxh_not_a_key").await;
    assert_eq!(
        bad_token.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        bad_token.body
    );
    assert_request_id_matches(&bad_token);

    let missing = app
        .get("/v1/courses/01890a5d-ac96-774b-bcce-b302099a8057", token)
        .await;
    missing.assert_problem(404, "course_not_found");
    assert_request_id_matches(&missing);

    // A caller's own id is kept, so a request can be followed through its logs and ours.
    let traced = app
        .call_with(
            Method::GET,
            "/v1/no-such-thing",
            Some(token),
            None,
            &[("X-Request-Id", "abc-123")],
        )
        .await;
    assert_eq!(traced.header("x-request-id").as_deref(), Some("abc-123"));
    assert_eq!(traced.body["request_id"], "abc-123");
    let ok = app
        .call_with(
            Method::GET,
            "/v1/courses",
            Some(token),
            None,
            &[("X-Request-Id", "abc-123")],
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.header("x-request-id").as_deref(), Some("abc-123"));
}

#[track_caller]
fn assert_request_id_matches(reply: &crate::support::Reply) {
    let header = reply
        .header("x-request-id")
        .expect("every answer carries X-Request-Id");
    assert!(!header.is_empty());
    assert_eq!(
        reply.body["request_id"].as_str(),
        Some(header.as_str()),
        "the problem's request_id is the X-Request-Id header; body: {}",
        reply.body
    );
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// An independent OpenAPI 3.0 validator (openapi-spec-validator, pinned in
/// scripts/requirements-test.txt) accepts the served document, and every example in it
/// validates against its own schema (openapi-schema-validator).
#[test]
fn promise_d5_spec_is_valid_openapi_3_0_and_every_example_fits_its_schema() {
    let root = repo_root();
    let tools = std::process::Command::new("bash")
        .arg("scripts/test-tools.sh")
        .current_dir(&root)
        .status()
        .expect("bash runs scripts/test-tools.sh");
    assert!(tools.success(), "scripts/test-tools.sh failed");
    let (json, _) = hub_gateway::app::spec_documents();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, json).unwrap();
    let output = std::process::Command::new(root.join(".venv/bin/python"))
        .arg(root.join("scripts/check-openapi.py"))
        .arg(&file)
        .output()
        .expect(".venv/bin/python runs");
    assert!(
        output.status.success(),
        "scripts/check-openapi.py refused the spec:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn operations(spec: &Value) -> Vec<(String, String, Value)> {
    let mut all = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if METHODS.contains(&method.as_str()) {
                all.push((method.clone(), path.clone(), op.clone()));
            }
        }
    }
    all
}

fn has_param(op: &Value, name: &str) -> bool {
    op["parameters"]
        .as_array()
        .is_some_and(|ps| ps.iter().any(|p| p["name"].as_str() == Some(name)))
}

/// Each operation lists the error statuses it can answer with, not every status of the API:
/// none that only a write, a body or a precondition can cause on an operation without one.
/// (schemathesis, tests/api/schemathesis.rs, fails on any status answered but not listed.)
#[test]
fn promise_d5_each_operation_lists_only_the_errors_it_can_answer() {
    let (json, _) = hub_gateway::app::spec_documents();
    let spec: Value = serde_json::from_str(&json).unwrap();
    let ops = operations(&spec);
    let mut wrong = Vec::new();
    for (method, path, op) in &ops {
        let name = format!("{} {path}", method.to_uppercase());
        let statuses: Vec<u16> = op["responses"]
            .as_object()
            .unwrap()
            .keys()
            .filter_map(|s| s.parse().ok())
            .collect();
        let body = op.get("requestBody").is_some();
        let if_match = has_param(op, "If-Match");
        let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
        let path_params = path.contains('{');
        // An operation answering 428 without If-Match requires it, so generated clients send
        // it; one that does not answer 428 takes it as optional.
        let required_if_match = op["parameters"].as_array().is_some_and(|ps| {
            ps.iter()
                .any(|p| p["name"] == "If-Match" && p["required"] == Value::Bool(true))
        });
        if statuses.contains(&428) != required_if_match {
            wrong.push(format!(
                "{name}: lists 428 {} but If-Match required is {required_if_match}",
                statuses.contains(&428)
            ));
        }
        let mut refuse = |status: u16, why: &str| {
            if statuses.contains(&status) {
                wrong.push(format!("{name} lists {status}, {why}"));
            }
        };
        if !body {
            refuse(413, "but takes no body");
            refuse(415, "but takes no body");
        }
        if !if_match {
            refuse(412, "but takes no If-Match");
            refuse(428, "but takes no If-Match");
        }
        if method == "get" {
            refuse(409, "but only reads");
            refuse(428, "but only reads");
        }
        let looks_up = hub_gateway::modules::domain_errors()
            .any(|(id, extra)| op["operationId"] == *id && extra.contains(&404));
        if !path_params && !secured && !looks_up {
            refuse(404, "but names no resource");
        }
        // SCIM refuses a value with 400 `invalidValue` (RFC 7644 §3.12), never 422.
        let invalid_value = if path.starts_with("/v1/scim/v2/") {
            refuse(422, "but SCIM answers a refused value with 400");
            400
        } else {
            422
        };
        // 405 belongs to a path and a method the API does not have, never to an operation.
        refuse(405, "which no operation answers");
        if !statuses.contains(&429) {
            wrong.push(format!(
                "{name} omits 429 (the per-IP limit applies to every request)"
            ));
        }
        if secured && !(statuses.contains(&401) && statuses.contains(&403)) {
            wrong.push(format!("{name} takes a credential but omits 401 or 403"));
        }
        if body
            && !(statuses.contains(&413)
                && statuses.contains(&415)
                && statuses.contains(&invalid_value))
        {
            wrong.push(format!(
                "{name} takes a body but omits 413, 415 or {invalid_value}"
            ));
        }
        // 429 names the budget: the headers a client needs to back off.
        if let Some(limited) = op["responses"].get("429") {
            for header in [
                "RETRY-AFTER",
                "RATELIMIT-LIMIT",
                "RATELIMIT-REMAINING",
                "RATELIMIT-RESET",
            ] {
                if limited["headers"][header]["required"] != Value::Bool(true) {
                    wrong.push(format!(
                        "{name}: 429 does not declare {header} as always sent"
                    ));
                }
            }
        }
    }
    // The per-operation additions name operations that exist.
    for (id, _) in hub_gateway::modules::domain_errors() {
        if !ops
            .iter()
            .any(|(_, _, op)| op["operationId"].as_str() == Some(id))
        {
            wrong.push(format!(
                "a DOMAIN_ERRORS of gateway::modules names {id}, which is no operation"
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "error statuses that are not exact:\n  {}",
        wrong.join("\n  ")
    );
}

/// Fills a path template with a well-formed id that names nothing.
fn placeholder_path(path: &str, slug: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').unwrap() + start;
        let name = &rest[start + 1..end];
        out.push_str(if name.ends_with("slug") {
            slug
        } else {
            "01890a5d-ac96-774b-bcce-b302099a8057"
        });
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

both_backends!(
    promise_d5_every_v1_answer_says_cache_control_no_store,
    promise_d5_conditional_requests_follow_rfc_9110,
    promise_d5_a_429_carries_the_headers_the_spec_declares
);

/// Answers carrying personal data must not be stored by any cache (ASVS V8.2.1): every
/// operation of the spec under `/v1`, whatever its answer, says `Cache-Control: no-store`,
/// but for the successes of the public key sets ([`PUBLICLY_CACHEABLE`]), which say what
/// they declare.
async fn promise_d5_every_v1_answer_says_cache_control_no_store(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let (json, yaml) = hub_gateway::app::spec_documents();
    // The served documents are the finished ones, as committed.
    let served = app
        .client
        .get(format!("{}/openapi.json", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        served.text().await.unwrap(),
        json,
        "/openapi.json is not spec_documents()"
    );
    let served = app
        .client
        .get(format!("{}/openapi.yaml", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        served.text().await.unwrap(),
        yaml,
        "/openapi.yaml is not spec_documents()"
    );
    let spec: Value = serde_json::from_str(&json).unwrap();
    let mut missing = Vec::new();
    let mut checked = 0;
    for (method, path, op) in operations(&spec) {
        if !path.starts_with("/v1/") {
            continue;
        }
        let operator = op["security"]
            .as_array()
            .is_some_and(|s| s.iter().any(|r| r.get("OperatorKey").is_some()));
        let token = if operator {
            &app.operator_token
        } else {
            &north.admin_token
        };
        let body = op.get("requestBody").map(|_| serde_json::json!({}));
        let reply = app
            .call(
                Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
                &placeholder_path(&path, "north"),
                Some(token),
                body,
            )
            .await;
        checked += 1;
        let expected = PUBLICLY_CACHEABLE
            .iter()
            .find(|(p, _)| *p == path)
            .filter(|_| reply.status == StatusCode::OK)
            .map_or("no-store", |(_, cache_control)| *cache_control);
        if reply.header("cache-control").as_deref() != Some(expected) {
            missing.push(format!(
                "{} {path} answered {} with Cache-Control {:?}",
                method.to_uppercase(),
                reply.status,
                reply.header("cache-control")
            ));
        }
    }
    assert!(checked > 50, "only {checked} /v1 operations");
    assert!(
        missing.is_empty(),
        "answers a cache may store:\n  {}",
        missing.join("\n  ")
    );
}

/// `If-None-Match` with the current ETag answers 304 on every read the spec says so of;
/// `If-Match: *` matches any current revision (RFC 9110 §13.1.1), where a missing
/// `If-Match` is still 428.
async fn promise_d5_conditional_requests_follow_rfc_9110(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let token = north.admin_token.as_str();
    let course = app
        .post(
            "/v1/courses",
            token,
            serde_json::json!({"code": "C-1", "title": "One"}),
        )
        .await;
    assert_eq!(course.status, StatusCode::CREATED, "{}", course.body);
    let course_id = course.body["id"].as_str().unwrap().to_string();
    // A module, a lesson and a quiz of the course to read conditionally.
    let module = app
        .post(
            &format!("/v1/courses/{course_id}/modules"),
            token,
            serde_json::json!({"title": "Week 1"}),
        )
        .await;
    assert_eq!(module.status, StatusCode::CREATED, "{}", module.body);
    let module_id = module.body["id"].as_str().unwrap().to_string();
    let lesson = app
        .post(
            &format!("/v1/modules/{module_id}/lessons"),
            token,
            serde_json::json!({"title": "Intro"}),
        )
        .await;
    assert_eq!(lesson.status, StatusCode::CREATED, "{}", lesson.body);
    let lesson_id = lesson.body["id"].as_str().unwrap().to_string();
    let quiz_id = crate::quizzes::create_quiz(&app, token, &course_id).await;
    let contact = app
        .post(
            "/v1/contacts",
            token,
            serde_json::json!({"role": "data_protection_officer", "name": "Dana", "email": "dana@north.example"}),
        )
        .await;
    assert_eq!(contact.status, StatusCode::CREATED, "{}", contact.body);
    let person = app
        .post("/v1/people", token, serde_json::json!({"name": "Pat"}))
        .await;
    assert_eq!(person.status, StatusCode::CREATED, "{}", person.body);
    let scim_key = app
        .post(
            "/v1/api-keys",
            token,
            serde_json::json!({"name": "SCIM", "scopes": ["scim:provision"]}),
        )
        .await;
    assert_eq!(scim_key.status, StatusCode::CREATED, "{}", scim_key.body);
    let scim = scim_key.body["token"].as_str().unwrap().to_string();
    let scim_user = app
        .post(
            "/v1/scim/v2/Users",
            &scim,
            serde_json::json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "pat.scim", "displayName": "Pat", "active": true}),
        )
        .await;
    assert_eq!(scim_user.status, StatusCode::CREATED, "{}", scim_user.body);
    let scim_group = app
        .post(
            "/v1/scim/v2/Groups",
            &scim,
            serde_json::json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "staff"}),
        )
        .await;
    assert_eq!(
        scim_group.status,
        StatusCode::CREATED,
        "{}",
        scim_group.body
    );

    let enrollment = app
        .post(
            &format!("/v1/courses/{course_id}/enrollments"),
            token,
            serde_json::json!({"person_id": person.body["id"]}),
        )
        .await;
    assert_eq!(
        enrollment.status,
        StatusCode::CREATED,
        "{}",
        enrollment.body
    );
    let org_unit = app
        .post(
            "/v1/org-units",
            token,
            serde_json::json!({"code": "U-1", "name": "Unit"}),
        )
        .await;
    assert_eq!(org_unit.status, StatusCode::CREATED, "{}", org_unit.body);

    // Every read the spec declares 304 on, with a resource to read (the caller's own profile
    // needs a person's session, not an API key: tests/api/passwords.rs signs in as one).
    let (json, _) = hub_gateway::app::spec_documents();
    let spec: Value = serde_json::from_str(&json).unwrap();
    let mut declared = 0;
    for (_, path, op) in operations(&spec) {
        if op["responses"].get("304").is_none() {
            continue;
        }
        declared += 1;
        let (url, who) = match path.as_str() {
            "/v1/tenants/{tenant_id}" => (
                format!("/v1/tenants/{}", north.id),
                app.operator_token.as_str(),
            ),
            "/v1/courses/{course_id}" => (format!("/v1/courses/{course_id}"), token),
            "/v1/courses/{course_id}/completion-rule" => {
                (format!("/v1/courses/{course_id}/completion-rule"), token)
            }
            "/v1/modules/{module_id}" => (format!("/v1/modules/{module_id}"), token),
            "/v1/lessons/{lesson_id}" => (format!("/v1/lessons/{lesson_id}"), token),
            "/v1/quizzes/{quiz_id}" => (format!("/v1/quizzes/{quiz_id}"), token),
            "/v1/quizzes/{quiz_id}/authoring" => {
                (format!("/v1/quizzes/{quiz_id}/authoring"), token)
            }
            "/v1/contacts/{contact_id}" => (
                format!("/v1/contacts/{}", contact.body["id"].as_str().unwrap()),
                token,
            ),
            "/v1/people/{person_id}" => (
                format!("/v1/people/{}", person.body["id"].as_str().unwrap()),
                token,
            ),
            "/v1/me/profile" => continue,
            "/v1/institutions/{tenant_slug}/privacy-contact" => (
                format!("/v1/institutions/{}/privacy-contact", north.slug),
                token,
            ),
            "/v1/scim/v2/Users/{user_id}" => (
                format!(
                    "/v1/scim/v2/Users/{}",
                    scim_user.body["id"].as_str().unwrap()
                ),
                scim.as_str(),
            ),
            "/v1/scim/v2/Groups/{group_id}" => (
                format!(
                    "/v1/scim/v2/Groups/{}",
                    scim_group.body["id"].as_str().unwrap()
                ),
                scim.as_str(),
            ),
            "/v1/enrollments/{enrollment_id}" => (
                format!(
                    "/v1/enrollments/{}",
                    enrollment.body["id"].as_str().unwrap()
                ),
                token,
            ),
            "/v1/org-units/{org_unit_id}" => (
                format!("/v1/org-units/{}", org_unit.body["id"].as_str().unwrap()),
                token,
            ),
            // The LRS's documents take an LRS credential (HTTP Basic): their conditional
            // reads are checked in tests/api/xapi.rs (documents_follow_the_concurrency_rules).
            other if other.starts_with("/xapi/") => continue,
            other if !other.contains('{') => (other.to_string(), token),
            other => panic!("{other} declares 304: give this test a resource to read there"),
        };
        let first = app.get(&url, who).await;
        assert_eq!(first.status, StatusCode::OK, "GET {url}: {}", first.body);
        let etag = first
            .header("etag")
            .expect("a 200 that declares 304 sends an ETag");
        for matching in [
            etag.clone(),
            format!("W/{etag}"),
            format!("\"0\", {etag}"),
            "*".into(),
        ] {
            let again = app
                .call_with(
                    Method::GET,
                    &url,
                    Some(who),
                    None,
                    &[("If-None-Match", &matching)],
                )
                .await;
            assert_eq!(
                again.status,
                StatusCode::NOT_MODIFIED,
                "GET {url} If-None-Match {matching}"
            );
            assert_eq!(again.body, Value::Null, "a 304 has no body");
            assert_eq!(again.header("etag").as_deref(), Some(etag.as_str()));
        }
        let changed = app
            .call_with(
                Method::GET,
                &url,
                Some(who),
                None,
                &[("If-None-Match", "\"999999\"")],
            )
            .await;
        assert_eq!(
            changed.status,
            StatusCode::OK,
            "GET {url} with another ETag"
        );
    }
    assert!(declared >= 5, "only {declared} reads declare 304");

    let url = format!("/v1/courses/{course_id}");
    let unconditional = app
        .call(
            Method::PATCH,
            &url,
            Some(token),
            Some(serde_json::json!({"title": "Two"})),
        )
        .await;
    unconditional.assert_problem(428, "if_match_required");
    let any = app
        .call_with(
            Method::PATCH,
            &url,
            Some(token),
            Some(serde_json::json!({"title": "Two"})),
            &[("If-Match", "*")],
        )
        .await;
    assert_eq!(
        any.status,
        StatusCode::OK,
        "If-Match: * matches any revision: {}",
        any.body
    );
    assert_eq!(any.body["title"], "Two");
    let stale = app
        .call_with(
            Method::PATCH,
            &url,
            Some(token),
            Some(serde_json::json!({"title": "Three"})),
            &[("If-Match", "\"1\"")],
        )
        .await;
    assert_eq!(
        stale.status,
        StatusCode::PRECONDITION_FAILED,
        "{}",
        stale.body
    );
    let gone = app
        .call_with(
            Method::PATCH,
            "/v1/courses/01890a5d-ac96-774b-bcce-b302099a8057",
            Some(token),
            Some(serde_json::json!({"title": "Two"})),
            &[("If-Match", "*")],
        )
        .await;
    assert_eq!(
        gone.status,
        StatusCode::NOT_FOUND,
        "`*` does not match a missing resource"
    );
}

/// A refused request carries every header the spec declares on 429, with the budget.
async fn promise_d5_a_429_carries_the_headers_the_spec_declares(backend: Backend) {
    let app = crate::support::spawn_with(backend, |c| c.rate_limit_per_key = 2).await;
    let north = app.create_institution("north").await;
    let (json, _) = hub_gateway::app::spec_documents();
    let spec: Value = serde_json::from_str(&json).unwrap();
    let declared: Vec<String> = spec["paths"]["/v1/courses"]["get"]["responses"]["429"]["headers"]
        .as_object()
        .expect("listCourses declares 429 headers")
        .keys()
        .cloned()
        .collect();
    // Fixed one-minute windows: within at most two windows' worth of calls one is refused.
    let mut refused = None;
    for _ in 0..8 {
        let reply = app.get("/v1/courses", &north.admin_token).await;
        if reply.status == StatusCode::TOO_MANY_REQUESTS {
            refused = Some(reply);
            break;
        }
    }
    let refused = refused.expect("a third request in one window is refused");
    refused.assert_problem(429, "rate_limited");
    for header in &declared {
        assert!(
            refused.header(&header.to_lowercase()).is_some(),
            "429 without {header}"
        );
    }
    assert_eq!(refused.header("ratelimit-limit").as_deref(), Some("2"));
    assert_eq!(refused.header("ratelimit-remaining").as_deref(), Some("0"));
    assert_eq!(
        refused.header("retry-after"),
        refused.header("ratelimit-reset")
    );
}

/// Values past and at each limit a JSON schema declares: `(violating, at the limit)`. Text
/// of a given length grows from `sample` (the field's example, so it keeps the shape a
/// pattern asks for, such as an IRI's scheme) with `a`s.
fn limit_probes(schema: &Value, sample: Option<&str>) -> Vec<(String, Value, Option<Value>)> {
    let mut probes = Vec::new();
    let text = |n: u64| {
        let n = n as usize;
        let start: String = sample.unwrap_or("").chars().take(n).collect();
        let pad = n - start.chars().count();
        Value::String(format!("{start}{}", "a".repeat(pad)))
    };
    // Items of a list of ids are ids (that name nothing), other items short strings.
    let uuids = schema["items"]["format"] == "uuid";
    let items = |n: u64| {
        Value::Array(
            (0..n)
                .map(|i| match uuids {
                    true => Value::String(uuid::Uuid::now_v7().to_string()),
                    false => Value::String(format!("t{i}")),
                })
                .collect(),
        )
    };
    if let Some(n) = schema["maxLength"].as_u64() {
        probes.push((format!("maxLength {n}"), text(n + 1), Some(text(n))));
    }
    if let Some(n) = schema["minLength"].as_u64()
        && n > 0
    {
        probes.push((format!("minLength {n}"), text(n - 1), Some(text(n))));
    }
    if schema["pattern"].is_string() {
        // ASCII, so it also travels in a header (space and `!` break every pattern here).
        probes.push(("pattern".into(), Value::String("a b!".into()), None));
    }
    if let Some(n) = schema["minimum"].as_i64() {
        probes.push((
            format!("minimum {n}"),
            Value::from(n - 1),
            Some(Value::from(n)),
        ));
    }
    if let Some(n) = schema["maximum"].as_i64() {
        probes.push((
            format!("maximum {n}"),
            Value::from(n + 1),
            Some(Value::from(n)),
        ));
    }
    // Strings cannot stand for objects: a limit on an array of objects is the domain's
    // to test (tests/api/quizzes.rs sends 101 and 100 questions).
    if let Some(n) = schema["maxItems"].as_u64()
        && schema["items"]["$ref"].is_null()
    {
        probes.push((format!("maxItems {n}"), items(n + 1), Some(items(n))));
    }
    if schema["items"].is_object() {
        for (what, bad, ok) in limit_probes(&schema["items"], None) {
            probes.push((
                format!("items {what}"),
                Value::Array(vec![bad]),
                ok.map(|v| Value::Array(vec![v])),
            ));
        }
    }
    probes
}

fn names_field(reply: &crate::support::Reply, field: &str) -> bool {
    let field = field.to_lowercase();
    reply.body["errors"].as_array().is_some_and(|es| {
        es.iter().any(|e| {
            e["field"]
                .as_str()
                .is_some_and(|f| f.to_lowercase().starts_with(&field))
        })
    }) || reply.body["detail"]
        .as_str()
        .is_some_and(|d| d.to_lowercase().contains(&field))
}

both_backends!(promise_d5_every_declared_request_limit_is_enforced);

/// Generated from the spec: for every limit declared on a request body field or a parameter
/// (crate::spec takes them from the domain's constants), a value just past it is refused with
/// a 400/422 problem naming the field, and a value at it is not refused for that field. So
/// the spec never promises less, nor more, than the server enforces.
async fn promise_d5_every_declared_request_limit_is_enforced(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let course = app
        .post(
            "/v1/courses",
            &north.admin_token,
            serde_json::json!({"code": "FIX-1", "title": "Fixture"}),
        )
        .await;
    assert_eq!(course.status, StatusCode::CREATED, "{}", course.body);
    let contact = app
        .post(
            "/v1/contacts",
            &north.admin_token,
            serde_json::json!({"role": "billing", "name": "Fixture", "email": "fixture@north.example"}),
        )
        .await;
    assert_eq!(contact.status, StatusCode::CREATED, "{}", contact.body);
    // A SCIM user and group for the limits of their PUTs (the admin key holds every scope).
    let scim_user = app
        .post(
            "/v1/scim/v2/Users",
            &north.admin_token,
            serde_json::json!({"userName": "fixture.user", "displayName": "Fixture"}),
        )
        .await;
    assert_eq!(scim_user.status, StatusCode::CREATED, "{}", scim_user.body);
    let scim_group = app
        .post(
            "/v1/scim/v2/Groups",
            &north.admin_token,
            serde_json::json!({"displayName": "fixture group"}),
        )
        .await;
    assert_eq!(
        scim_group.status,
        StatusCode::CREATED,
        "{}",
        scim_group.body
    );
    // A learner's submitted quiz attempt, for the limits of a grade change.
    let attempt_id = crate::attempts::submitted_attempt(&app, &north).await;
    // A module, a lesson and a quiz of the course for the limits of their operations.
    let course_id = course.body["id"].as_str().unwrap().to_string();
    let module = app
        .post(
            &format!("/v1/courses/{course_id}/modules"),
            &north.admin_token,
            serde_json::json!({"title": "Fixture"}),
        )
        .await;
    assert_eq!(module.status, StatusCode::CREATED, "{}", module.body);
    let module_id = module.body["id"].as_str().unwrap().to_string();
    let lesson = app
        .post(
            &format!("/v1/modules/{module_id}/lessons"),
            &north.admin_token,
            serde_json::json!({"title": "Fixture"}),
        )
        .await;
    assert_eq!(lesson.status, StatusCode::CREATED, "{}", lesson.body);
    let quiz_id = crate::quizzes::create_quiz(&app, &north.admin_token, &course_id).await;
    // An enrollment and an organisational unit for the limits of their changes.
    let learner = app
        .post(
            "/v1/people",
            &north.admin_token,
            serde_json::json!({"name": "Fixture Learner", "email": "learner@north.example", "roles": ["learner"]}),
        )
        .await;
    assert_eq!(learner.status, StatusCode::CREATED, "{}", learner.body);
    // The learner is also the person of the people API's changes.
    let person_id = learner.body["id"].as_str().unwrap().to_string();
    let enrollment = app
        .post(
            &format!(
                "/v1/courses/{}/enrollments",
                course.body["id"].as_str().unwrap()
            ),
            &north.admin_token,
            serde_json::json!({"person_id": learner.body["id"]}),
        )
        .await;
    assert_eq!(
        enrollment.status,
        StatusCode::CREATED,
        "{}",
        enrollment.body
    );
    let org_unit = app
        .post(
            "/v1/org-units",
            &north.admin_token,
            serde_json::json!({"code": "FIX-UNIT", "name": "Fixture unit"}),
        )
        .await;
    assert_eq!(org_unit.status, StatusCode::CREATED, "{}", org_unit.body);
    // The operator's probes suspend, rename and try to offboard an institution of their own,
    // so north's key keeps working for the rest.
    let south = app.create_institution("south").await;
    // A learner's certificate of a completed course, for the revocation's limits.
    let (_, learner, _) = crate::certificates::completed(&app, &north, "FIX-CRT").await;
    let certificates = app.get("/v1/me/certificates", &learner).await;
    let certificate_id = certificates.body[0]["id"].as_str().unwrap().to_string();
    // An automated decision under review, for the review and contest limits.
    let decision_id = crate::decisions::pending_decision(&app, &north).await;
    let fixtures = [
        ("course_id", course.body["id"].as_str().unwrap().to_string()),
        // No payment exists without Stripe (tests/api/billing.rs makes them): a refund's
        // limits are kept before its payment is looked up, and a well-formed refund of this
        // id is 404.
        (
            "payment_id",
            "0190a0b0-0000-7000-8000-00000000beef".to_string(),
        ),
        // No run exists without Stripe: a page's limits are kept before the run is looked
        // up, and a well-formed page of this id is 404.
        (
            "reconciliation_id",
            "0190a0b0-0000-7000-8000-00000000beef".to_string(),
        ),
        ("certificate_id", certificate_id),
        ("decision_id", decision_id),
        ("tenant_slug", north.slug.clone()),
        (
            "contact_id",
            contact.body["id"].as_str().unwrap().to_string(),
        ),
        ("tenant_id", south.id.clone()),
        (
            "user_id",
            scim_user.body["id"].as_str().unwrap().to_string(),
        ),
        (
            "group_id",
            scim_group.body["id"].as_str().unwrap().to_string(),
        ),
        ("module_id", module_id),
        ("lesson_id", lesson.body["id"].as_str().unwrap().to_string()),
        ("quiz_id", quiz_id),
        (
            "enrollment_id",
            enrollment.body["id"].as_str().unwrap().to_string(),
        ),
        (
            "org_unit_id",
            org_unit.body["id"].as_str().unwrap().to_string(),
        ),
        ("attempt_id", attempt_id),
        ("person_id", person_id),
    ];
    let (json, _) = hub_gateway::app::spec_documents();
    let spec: Value = serde_json::from_str(&json).unwrap();
    let schemas = &spec["components"]["schemas"];
    let mut wrong = Vec::new();
    let mut probed = 0;
    for (method, path, op) in operations(&spec) {
        let name = format!("{} {path}", method.to_uppercase());
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let operator = op["security"]
            .as_array()
            .is_some_and(|s| s.iter().any(|r| r.get("OperatorKey").is_some()));
        // A `/v1/me` operation is a signed-in person's: probed with one (an API key is
        // refused before any limit is reached).
        let token = if operator {
            &app.operator_token
        } else if path.starts_with("/v1/me/") {
            &learner
        } else {
            &north.admin_token
        };
        let body_schema = op["requestBody"]["content"]
            .as_object()
            .and_then(|c| {
                c.iter()
                    .find(|(media, _)| media.starts_with("application/json"))
            })
            .and_then(|(_, c)| c["schema"]["$ref"].as_str())
            .map(|r| &schemas[r.trim_start_matches("#/components/schemas/")]);
        let params: Vec<&Value> = op["parameters"]
            .as_array()
            .map(|p| p.iter().collect())
            .unwrap_or_default();
        let body_probes: Vec<(String, String, Value, Option<Value>)> = body_schema
            .and_then(|s| s["properties"].as_object())
            .into_iter()
            .flatten()
            .flat_map(|(field, s)| {
                let sample = body_schema.and_then(|b| b["example"][field].as_str());
                limit_probes(s, sample)
                    .into_iter()
                    .map(|(w, b, o)| (field.clone(), w, b, o))
            })
            .collect();
        let param_probes: Vec<(&Value, String, Value, Option<Value>)> = params
            .iter()
            .flat_map(|p| {
                limit_probes(&p["schema"], None)
                    .into_iter()
                    .map(move |(w, b, o)| (*p, w, b, o))
            })
            .collect();
        if body_probes.is_empty() && param_probes.is_empty() {
            continue;
        }
        let mut url = path.clone();
        for p in params.iter().filter(|p| p["in"] == "path") {
            let pname = p["name"].as_str().unwrap();
            let Some((_, id)) = fixtures.iter().find(|(n, _)| *n == pname) else {
                wrong.push(format!(
                    "{name}: declares limits; give this test a `{pname}` fixture"
                ));
                continue;
            };
            url = url.replace(&format!("{{{pname}}}"), id);
        }
        let example = body_schema.map(|s| s["example"].clone());
        if body_schema.is_some() && example.as_ref().is_some_and(Value::is_null) {
            wrong.push(format!(
                "{name}: its body schema has limits but no example to vary"
            ));
            continue;
        }
        let if_match = params.iter().any(|p| p["name"] == "If-Match");
        let idempotent = params
            .iter()
            .any(|p| p["name"] == "Idempotency-Key" && p["required"] == true);
        let sent = std::sync::atomic::AtomicU32::new(0);
        let send = |query: String, headers: Vec<(String, String)>, body: Option<Value>| {
            let mut headers = headers;
            if if_match {
                headers.push(("If-Match".into(), "*".into()));
            }
            // A required Idempotency-Key, fresh, unless it is the header probed.
            if idempotent && !headers.iter().any(|(n, _)| n == "Idempotency-Key") {
                let n = sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                headers.push(("Idempotency-Key".into(), format!("limits-{n}")));
            }
            let app = &app;
            let method = method.clone();
            let url = format!("{url}{query}");
            async move {
                let headers: Vec<(&str, &str)> = headers
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_str()))
                    .collect();
                app.call_with(method, &url, Some(token), body, &headers)
                    .await
            }
        };
        for (field, what, bad, ok) in body_probes {
            probed += 1;
            let mut body = example.clone().unwrap();
            body[&field] = bad;
            let reply = send(String::new(), vec![], Some(body)).await;
            if !matches!(reply.status.as_u16(), 400 | 422) || !names_field(&reply, &field) {
                wrong.push(format!(
                    "{name}: `{field}` past {what} answered {} {}",
                    reply.status, reply.body
                ));
            }
            if let Some(ok) = ok {
                let mut body = example.clone().unwrap();
                body[&field] = ok;
                let reply = send(String::new(), vec![], Some(body)).await;
                if matches!(reply.status.as_u16(), 400 | 422) && names_field(&reply, &field) {
                    wrong.push(format!(
                        "{name}: `{field}` at {what} is refused: {}",
                        reply.body
                    ));
                }
            }
        }
        for (param, what, bad, ok) in param_probes {
            probed += 1;
            let pname = param["name"].as_str().unwrap().to_string();
            let as_text = |v: &Value| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            for (value, refused) in [(Some(bad), true), (ok, false)] {
                let Some(value) = value else { continue };
                let (query, headers) = match param["in"].as_str() {
                    Some("query") => (format!("?{pname}={}", as_text(&value)), vec![]),
                    Some("header") => (String::new(), vec![(pname.clone(), as_text(&value))]),
                    other => panic!("{name}: limits on a {other:?} parameter"),
                };
                let reply = send(query, headers, example.clone()).await;
                let named =
                    matches!(reply.status.as_u16(), 400 | 422) && names_field(&reply, &pname);
                if refused && !named {
                    wrong.push(format!(
                        "{name}: `{pname}` past {what} answered {} {}",
                        reply.status, reply.body
                    ));
                }
                if !refused && named {
                    wrong.push(format!(
                        "{name}: `{pname}` at {what} is refused: {}",
                        reply.body
                    ));
                }
            }
        }
    }
    assert!(probed >= 20, "only {probed} limits probed");
    assert!(
        wrong.is_empty(),
        "declared limits the server does not keep:\n  {}",
        wrong.join("\n  ")
    );
}

/// Every limit the gateway takes from the domain lands on a schema property or a parameter
/// that exists (a renamed field or parameter would otherwise drop it silently).
#[test]
fn promise_d5_domain_limits_appear_in_the_spec() {
    let (json, _) = hub_gateway::app::spec_documents();
    let spec: Value = serde_json::from_str(&json).unwrap();
    let mut missing = Vec::new();
    for (schema, property, limits) in hub_gateway::spec::schema_limits() {
        let (name, items) = match property.strip_suffix("[]") {
            Some(name) => (name, true),
            None => (property, false),
        };
        let mut target = &spec["components"]["schemas"][schema]["properties"][name];
        if items {
            target = &target["items"];
        }
        for limit in limits {
            let declared = match limit {
                hub_gateway::spec::Limit::MinLength(n) => {
                    target["minLength"].as_u64() == Some(n as u64)
                }
                hub_gateway::spec::Limit::MaxLength(n) => {
                    target["maxLength"].as_u64() == Some(n as u64)
                }
                hub_gateway::spec::Limit::Pattern(p) => target["pattern"].as_str() == Some(p),
                hub_gateway::spec::Limit::Minimum(n) => target["minimum"].as_i64() == Some(n),
                hub_gateway::spec::Limit::Maximum(n) => target["maximum"].as_i64() == Some(n),
                hub_gateway::spec::Limit::MaxItems(n) => {
                    target["maxItems"].as_u64() == Some(n as u64)
                }
                hub_gateway::spec::Limit::Enum(values) => {
                    target["enum"].as_array().is_some_and(|e| {
                        e.iter()
                            .map(|v| v.as_str())
                            .eq(values.iter().map(|v| Some(*v)))
                    })
                }
            };
            if !declared {
                missing.push(format!("{schema}.{property}: {limit:?}"));
            }
        }
    }
    for (operation, param, _) in hub_gateway::spec::parameter_limits() {
        let used = operations(&spec).iter().any(|(_, _, op)| {
            has_param(op, param) && operation.is_none_or(|id| op["operationId"] == id)
        });
        if !used {
            missing.push(format!("parameter {param}: no operation takes it"));
        }
    }
    assert!(
        missing.is_empty(),
        "limits that do not reach the spec:\n  {}",
        missing.join("\n  ")
    );
}
