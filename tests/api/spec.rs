//! Promise D5: the committed OpenAPI documents are what the code serves, every operation is
//! documented well enough to generate an SDK from, and every error, including those the
//! HTTP layer raises itself, arrives as problem+json carrying the request id.

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
/// and the sign-in flow (the person has no credential yet).
const UNAUTHENTICATED: &[&str] = &[
    "/healthz",
    "/readyz",
    "/v1/sso/{tenant_slug}/oidc/{connection_id}/login",
    "/v1/sso/oidc/callback",
    "/v1/auth/password",
    "/v1/auth/password-reset-requests",
    "/v1/auth/password-resets",
    "/v1/sso/discovery",
    "/v1/sso/{tenant_slug}/saml/{connection_id}/metadata",
    "/v1/sso/{tenant_slug}/saml/{connection_id}/login",
    "/v1/sso/saml/acs",
];

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
            let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
            if !secured && !UNAUTHENTICATED.contains(&path.as_str()) {
                missing("no security requirement");
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
