//! The client IP behind a load balancer: forwarding headers count only from a peer in
//! `trusted_proxies` (the right-most hop that is not a trusted proxy), and the one address
//! decided per request is what the audit trail, the session list and the per-IP rate limit
//! see. Tests connect from 127.0.0.1, so one app trusts 127.0.0.1/32 and the other does not.

use crate::both_backends;
use crate::passwords::reset_code;
use crate::support::{Backend, TestApp, spawn, spawn_with};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

both_backends!(
    forwarding_headers_from_an_untrusted_peer_are_ignored,
    a_trusted_proxy_chain_names_the_right_most_untrusted_hop,
    the_per_ip_limit_counts_the_forwarded_client
);

const SPOOF: &[(&str, &str)] = &[
    ("x-forwarded-for", "203.0.113.7"),
    ("forwarded", "for=198.51.100.9"),
];

struct Flow {
    admin: String,
    auditor: String,
    ada: String,
    session_token: String,
}

async fn trail(app: &TestApp, auditor: &str) -> Vec<Value> {
    let trail = app.get("/v1/audit/events?limit=100", auditor).await;
    assert_eq!(trail.status, StatusCode::OK, "{}", trail.body);
    trail.body["items"].as_array().unwrap().clone()
}

/// Creates a person with `headers` on the request, gives them a password and signs them in
/// with `headers`.
async fn audited_person_and_session(app: &TestApp, headers: &[(&str, &str)]) -> Flow {
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    app.allow_local_accounts(admin).await;
    let created = app
        .call_with(
            Method::POST,
            "/v1/people",
            Some(admin),
            Some(json!({"name": "Ada Lovelace", "email": "ada@north.test", "roles": ["learner"]})),
            headers,
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let ada = created.body["id"].as_str().unwrap().to_string();
    let requested = app
        .call(
            Method::POST,
            "/v1/auth/password-reset-requests",
            None,
            Some(json!({"tenant": "north", "email": "ada@north.test"})),
        )
        .await;
    assert_eq!(requested.status, StatusCode::ACCEPTED, "{}", requested.body);
    let code = reset_code(app, &north, &ada).await;
    let password = "meadow-kettle-orbit-42";
    let reset = app
        .call(
            Method::POST,
            "/v1/auth/password-resets",
            None,
            Some(json!({"tenant": "north", "token": code, "new_password": password})),
        )
        .await;
    assert_eq!(reset.status, StatusCode::NO_CONTENT, "{}", reset.body);
    let signed_in = app
        .call_with(
            Method::POST,
            "/v1/auth/password",
            None,
            Some(json!({"tenant": "north", "login": "ada@north.test", "password": password})),
            headers,
        )
        .await;
    assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.body);
    let token = signed_in.body["session_token"]
        .as_str()
        .unwrap()
        .to_string();

    let auditor = app
        .post(
            "/v1/api-keys",
            admin,
            json!({"name": "auditor", "scopes": ["audit:read"]}),
        )
        .await;
    Flow {
        admin: admin.to_string(),
        auditor: auditor.body["token"].as_str().unwrap().to_string(),
        ada,
        session_token: token,
    }
}

/// The IP of the newest entry with this action.
fn ip_of(trail: &[Value], action: &str) -> Value {
    trail
        .iter()
        .rev()
        .find(|e| e["action"] == action)
        .unwrap_or_else(|| panic!("no {action} in {trail:#?}"))["ip_address"]
        .clone()
}

async fn session_ips(app: &TestApp, token: &str) -> Vec<Value> {
    let sessions = app.get("/v1/me/sessions", token).await;
    assert_eq!(sessions.status, StatusCode::OK, "{}", sessions.body);
    sessions.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["ip_address"].clone())
        .collect()
}

async fn forwarding_headers_from_an_untrusted_peer_are_ignored(backend: Backend) {
    let app = spawn(backend).await;
    let flow = audited_person_and_session(&app, SPOOF).await;
    let trail = trail(&app, &flow.auditor).await;
    assert_eq!(ip_of(&trail, "person.created"), "127.0.0.1");
    assert_eq!(ip_of(&trail, "sign_in.succeeded"), "127.0.0.1");
    assert_eq!(
        session_ips(&app, &flow.session_token).await,
        [json!("127.0.0.1")]
    );
}

fn trusting_loopback(config: &mut hub_gateway::config::Config) {
    config.trusted_proxies = vec!["127.0.0.1/32".into(), "10.0.0.0/8".into()];
}

async fn a_trusted_proxy_chain_names_the_right_most_untrusted_hop(backend: Backend) {
    let app = spawn_with(backend, trusting_loopback).await;
    // The client wrote the first hop itself; 10.1.2.3 is our inner proxy.
    let chain = [("x-forwarded-for", "198.51.100.1, 203.0.113.7, 10.1.2.3")];
    let flow = audited_person_and_session(&app, &chain).await;
    let entries = trail(&app, &flow.auditor).await;
    assert_eq!(ip_of(&entries, "person.created"), "203.0.113.7");
    assert_eq!(ip_of(&entries, "sign_in.succeeded"), "203.0.113.7");
    assert_eq!(
        session_ips(&app, &flow.session_token).await,
        [json!("203.0.113.7")]
    );

    // RFC 7239 `Forwarded` is preferred to X-Forwarded-For; a malformed chain falls back to
    // the peer. Each read of Ada's record is audited with the address decided for it.
    for (headers, expected) in [
        (
            [
                (
                    "forwarded",
                    "for=\"[2001:db8::7]:4711\";proto=https, for=10.9.9.9",
                ),
                ("x-forwarded-for", "192.0.2.1"),
            ],
            "2001:db8::7",
        ),
        (
            [
                ("x-forwarded-for", "203.0.113.7, not-an-address"),
                ("x-request-id", "malformed-chain"),
            ],
            "127.0.0.1",
        ),
        (
            [
                ("forwarded", "for=unknown"),
                ("x-request-id", "unknown-hop"),
            ],
            "127.0.0.1",
        ),
    ] {
        let read = app
            .call_with(
                Method::GET,
                &format!("/v1/people/{}", flow.ada),
                Some(&flow.admin),
                None,
                &headers,
            )
            .await;
        assert_eq!(read.status, StatusCode::OK, "{}", read.body);
        let entries = trail(&app, &flow.auditor).await;
        assert_eq!(ip_of(&entries, "person.read"), expected, "{headers:?}");
    }
}

async fn the_per_ip_limit_counts_the_forwarded_client(backend: Backend) {
    let app = spawn_with(backend, |config| {
        trusting_loopback(config);
        config.rate_limit_per_ip = 2;
        config.rate_limit_sync_ms = 0;
    })
    .await;
    // Addresses of this run only: the Redis counters outlive a run.
    let run = uuid::Uuid::now_v7().as_u128() as u64;
    let first = format!("2001:db8:{:x}:{:x}::1", run >> 48, run & 0xffff);
    let second = format!("2001:db8:{:x}:{:x}::2", run >> 48, run & 0xffff);
    let health = |ip: String| {
        let app = &app;
        async move {
            app.call_with(
                Method::GET,
                "/healthz",
                None,
                None,
                &[("x-forwarded-for", &ip)],
            )
            .await
        }
    };
    assert_eq!(health(first.clone()).await.status, StatusCode::OK);
    assert_eq!(health(first.clone()).await.status, StatusCode::OK);
    health(first.clone())
        .await
        .assert_problem(429, "rate_limited");
    assert_eq!(
        health(second).await.status,
        StatusCode::OK,
        "another client behind the same proxy has its own budget"
    );
}
