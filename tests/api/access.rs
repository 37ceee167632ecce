//! API keys and rate limits: scoped keys, shown once, revocable, last-used tracking; the
//! per-key budget with `Retry-After`; and a Redis outage that degrades instead of failing.

// Test code: a failed unwrap is a failed test with its reason, which is what we want.

use crate::both_backends;
use crate::support::{Backend, TestApp, spawn, spawn_on_same_storage, spawn_with};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

both_backends!(
    scoped_keys_are_shown_once_limited_tracked_and_revocable,
    per_key_rate_limit_answers_429_with_retry_after,
    redis_down_degrades_rate_limiting_but_keeps_serving,
    promise_s7_rate_limit_buckets_in_redis_are_keyed_hashes_two_gateways_share
);

/// Issues a key through the institution's own API; returns `(id, token)`.
async fn issue_key(app: &TestApp, admin: &str, name: &str, scopes: Value) -> (String, String) {
    let reply = app
        .post(
            "/v1/api-keys",
            admin,
            json!({"name": name, "scopes": scopes}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    (
        reply.body["id"].as_str().unwrap().to_string(),
        reply.body["token"].as_str().unwrap().to_string(),
    )
}

async fn listed_key(app: &TestApp, admin: &str, id: &str) -> Value {
    let list = app.get("/v1/api-keys", admin).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("key {id} not listed: {}", list.body))
}

async fn scoped_keys_are_shown_once_limited_tracked_and_revocable(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let south = app.create_institution("south").await;
    let admin = north.admin_token.as_str();
    let created = app
        .post(
            "/v1/courses",
            admin,
            json!({"code": "READ-ME", "title": "Readable"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);

    let (id, reader) = issue_key(&app, admin, "catalog reader", json!(["courses:read"])).await;
    assert!(reader.starts_with("dxh_"));

    // Listed without its secret, never used yet.
    let list = app.get("/v1/api-keys", admin).await;
    assert_eq!(list.status, StatusCode::OK);
    // `dxh_<key id>_<secret>`; the base64url secret may itself contain `_`.
    let secret = reader.splitn(3, '_').nth(2).unwrap();
    assert!(secret.len() >= 40, "{secret}");
    assert!(
        !list.body.to_string().contains(secret),
        "the token leaked into the listing"
    );
    let entry = listed_key(&app, admin, &id).await;
    assert!(entry.get("token").is_none(), "{entry}");
    assert_eq!(entry["name"], "catalog reader");
    assert_eq!(entry["scopes"], json!(["courses:read"]));
    assert_eq!(entry["last_used_at"], Value::Null);
    assert_eq!(entry["revoked_at"], Value::Null);
    assert!(
        entry["created_by"]
            .as_str()
            .unwrap()
            .contains("initial admin"),
        "{entry}"
    );

    // It reads the catalog, and nothing else.
    let courses = app.get("/v1/courses", &reader).await;
    assert_eq!(courses.status, StatusCode::OK, "{}", courses.body);
    assert_eq!(courses.body["items"][0]["code"], "READ-ME");
    app.post(
        "/v1/courses",
        &reader,
        json!({"code": "NOPE", "title": "Nope"}),
    )
    .await
    .assert_problem(403, "insufficient_scope");
    app.get("/v1/contacts", &reader)
        .await
        .assert_problem(403, "insufficient_scope");
    app.post(
        "/v1/contacts",
        &reader,
        json!({"role": "billing", "name": "N", "email": "n@north.example"}),
    )
    .await
    .assert_problem(403, "insufficient_scope");
    app.get("/v1/api-keys", &reader)
        .await
        .assert_problem(403, "insufficient_scope");
    app.post(
        "/v1/api-keys",
        &reader,
        json!({"name": "escalate", "scopes": ["tenant:admin"]}),
    )
    .await
    .assert_problem(403, "insufficient_scope");
    app.get("/v1/privacy-profile", &reader)
        .await
        .assert_problem(403, "insufficient_scope");
    app.call(
        Method::POST,
        "/v1/encryption-keys/rotate",
        Some(&reader),
        None,
    )
    .await
    .assert_problem(403, "insufficient_scope");
    let after_scope_checks = app.get("/v1/courses", admin).await;
    assert_eq!(
        after_scope_checks.body["items"].as_array().unwrap().len(),
        1,
        "a refused write created nothing"
    );

    let used = listed_key(&app, admin, &id).await;
    assert!(
        used["last_used_at"].is_string(),
        "last_used_at is set once the key is used: {used}"
    );

    // Bad key requests are refused field by field.
    let bad = app
        .post(
            "/v1/api-keys",
            admin,
            json!({"name": "", "scopes": ["courses:read", "root", "courses:read"]}),
        )
        .await;
    bad.assert_problem(422, "validation_failed");
    let fields = bad.error_fields();
    assert_eq!(fields, ["name", "scopes[1]", "scopes[2]"]);
    app.post("/v1/api-keys", admin, json!({"name": "none", "scopes": []}))
        .await
        .assert_problem(422, "validation_failed");

    // Another institution's key id is not found, and that key keeps working.
    let south_keys = app.get("/v1/api-keys", &south.admin_token).await;
    let south_key_id = south_keys.body["items"][0]["id"].as_str().unwrap();
    app.call(
        Method::DELETE,
        &format!("/v1/api-keys/{south_key_id}"),
        Some(admin),
        None,
    )
    .await
    .assert_problem(404, "api_key_not_found");
    assert_eq!(
        app.get("/v1/courses", &south.admin_token).await.status,
        StatusCode::OK
    );

    // Revocation takes effect on the next request.
    let revoked = app
        .call(
            Method::DELETE,
            &format!("/v1/api-keys/{id}"),
            Some(admin),
            None,
        )
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.body);
    assert!(revoked.body["revoked_at"].is_string(), "{}", revoked.body);
    app.get("/v1/courses", &reader)
        .await
        .assert_problem(401, "unauthenticated");
    let listed = listed_key(&app, admin, &id).await;
    assert!(listed["revoked_at"].is_string());
    assert_eq!(
        app.get("/v1/courses", admin).await.status,
        StatusCode::OK,
        "revoking one key leaves the others working"
    );
}

async fn per_key_rate_limit_answers_429_with_retry_after(backend: Backend) {
    let app = spawn_with(backend, |c| c.rate_limit_per_key = 3).await;
    let north = app.create_institution("north").await;
    // The limiter counts in fixed one-minute windows. Four requests that straddle a window
    // boundary are legitimately all allowed; a second attempt right after starts well inside
    // the new window, so at most one retry is ever needed.
    let mut denied = None;
    for attempt in 0..2 {
        let (_, token) = issue_key(
            &app,
            &north.admin_token,
            &format!("limited {attempt}"),
            json!(["courses:read"]),
        )
        .await;
        let mut statuses = Vec::new();
        let mut last = None;
        for _ in 0..4 {
            let reply = app.get("/v1/courses", &token).await;
            statuses.push(reply.status.as_u16());
            last = Some(reply);
        }
        assert_eq!(&statuses[..3], [200, 200, 200], "within the budget");
        let last = last.unwrap();
        if last.status == StatusCode::TOO_MANY_REQUESTS {
            denied = Some(last);
            break;
        }
        assert_eq!(last.status, StatusCode::OK, "{}", last.body);
    }
    let denied = denied.expect("the 4th request in one window is refused");
    denied.assert_problem(429, "rate_limited");
    let retry_after: u64 = denied
        .header("retry-after")
        .expect("Retry-After header")
        .parse()
        .expect("Retry-After in whole seconds");
    assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");

    // The budget is per key: a fresh key of the same institution is served. (The admin key
    // has made at most three requests, so issuing it stays within the admin key's budget.)
    let (_, fresh) = issue_key(&app, &north.admin_token, "fresh", json!(["courses:read"])).await;
    assert_eq!(app.get("/v1/courses", &fresh).await.status, StatusCode::OK);
}

/// Redis failing at run time must not turn reads into 5xx; readiness says what is wrong.
async fn redis_down_degrades_rate_limiting_but_keeps_serving(backend: Backend) {
    // Redis is configured on both backends here: the embedded default may use it too.
    let app = spawn_with(backend, |c| {
        c.redis_url = Some("redis://127.0.0.1:1".into());
    })
    .await;
    let north = app.create_institution("north").await;
    let created = app
        .post(
            "/v1/courses",
            &north.admin_token,
            json!({"code": "UP", "title": "Still up"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    for _ in 0..3 {
        let reply = app.get("/v1/courses", &north.admin_token).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert_eq!(reply.body["items"][0]["code"], "UP");
    }

    let ready = app.call(Method::GET, "/readyz", None, None).await;
    ready.assert_problem(503, "cache_unavailable");
    let health = app.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.body["status"], "ok");
}

/// `GET /v1/courses` with `token`, as forwarded for `ip` by the trusted proxy (loopback).
async fn courses_for(app: &TestApp, token: &str, ip: &str) -> u16 {
    app.call_with(
        Method::GET,
        "/v1/courses",
        Some(token),
        None,
        &[("x-forwarded-for", ip)],
    )
    .await
    .status
    .as_u16()
}

/// S7: the rate limiter's Redis keys are HMACs of the bucket under a key derived from the
/// key-encryption key. Two gateways with the same configuration count into one bucket, and
/// no key is an unkeyed SHA-256 (or the plain text) of the bucket, the client IP or the
/// API key's id, so a dump of Redis cannot confirm a guessed IP address or id.
async fn promise_s7_rate_limit_buckets_in_redis_are_keyed_hashes_two_gateways_share(
    backend: Backend,
) {
    use redis::AsyncCommands as _;
    use sha2::{Digest, Sha256};
    let first = spawn_with(backend, |c| {
        c.redis_url = Some(crate::support::redis_url());
        c.trusted_proxies = vec!["127.0.0.1/32".into()];
        c.rate_limit_per_key = 4;
        c.rate_limit_sync_ms = 0;
    })
    .await;
    let second = spawn_on_same_storage(&first).await;
    let north = first.create_institution("north").await;
    // An address of this run only (the counters outlive a run, and other runs share Redis).
    let run = uuid::Uuid::now_v7().as_u128() as u64;
    let ip: std::net::IpAddr = format!("2001:db8:{:x}:{:x}::7", run >> 48, run & 0xffff)
        .parse()
        .unwrap();
    let ip = ip.to_string();

    // Four requests in one window, alternating gateways, are the budget; the fifth is refused
    // by either. A window boundary in between restarts the count: one more attempt then.
    let mut shared = None;
    for attempt in 0..2 {
        let (id, token) = issue_key(
            &first,
            &north.admin_token,
            &format!("shared {attempt}"),
            json!(["courses:read"]),
        )
        .await;
        let mut statuses = Vec::new();
        for app in [&first, &second, &first, &second, &second] {
            statuses.push(courses_for(app, &token, &ip).await);
        }
        assert_eq!(&statuses[..4], [200, 200, 200, 200], "within the budget");
        if statuses[4] == 429 {
            shared = Some(id);
            break;
        }
    }
    let key_id = shared.expect("the fifth request across both gateways is refused");

    let names =
        hub_gateway::app::redis_names(&first.state.config, hub_gateway::limiter::REDIS_KEY_LABEL)
            .unwrap();
    let client = redis::Client::open(crate::support::redis_url()).unwrap();
    let mut redis = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = {
        let mut iter = redis.scan_match::<_, String>("hub:rl:*").await.unwrap();
        let mut keys = Vec::new();
        while let Some(key) = iter.next_item().await {
            keys.push(key.unwrap());
        }
        keys
    };
    let key_bucket = format!("key:{key_id}");
    let ip_bucket = format!("ip:{ip}");
    for bucket in [&key_bucket, &ip_bucket] {
        let keyed = format!("hub:rl:{}:", names.hex(bucket.as_bytes(), 16));
        assert!(
            keys.iter().any(|k| k.starts_with(&keyed)),
            "{bucket} counts under its keyed name"
        );
    }
    let simple_id = uuid::Uuid::parse_str(&key_id).unwrap().simple().to_string();
    for plain in [
        key_bucket.clone(),
        key_id.clone(),
        simple_id,
        ip_bucket.clone(),
        ip.clone(),
    ] {
        let digest = hex::encode(Sha256::digest(plain.as_bytes()));
        for key in &keys {
            assert!(
                !key.contains(&digest[..32]) && !key.contains(&plain),
                "{key} is derived from {plain} without a key"
            );
        }
    }
}
