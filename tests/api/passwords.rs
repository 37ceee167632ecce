//! Local accounts (C1, S5) where an institution allows them: SSO-only by default; a reset
//! code delivered through the outbox sets a password that must be strong; the password is
//! stored only as an Argon2id hash; wrong passwords lock the account; reset codes work once.

use crate::both_backends;
use crate::support::{Backend, Institution, TestApp, spawn};
use hub_tenant::Principal;
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
use serde_json::{Value, json};

both_backends!(promise_c1_s5_local_accounts_hash_strong_passwords_and_resist_guessing);

/// The messages waiting in a person's outbox, `(kind, text)`, opened through the service as
/// the delivery will open them.
pub(crate) async fn outbox_of(
    app: &TestApp,
    inst: &Institution,
    person_id: &str,
) -> Vec<(String, String)> {
    let Principal::Tenant(principal) = app
        .state
        .tenancy
        .authenticate(&inst.admin_token)
        .await
        .unwrap()
    else {
        panic!("not a tenant key")
    };
    let scope = app.state.tenancy.scope(&principal).await.unwrap();
    hub_identity::incidents::pending_messages(&scope, person_id.parse().unwrap())
        .await
        .unwrap()
}

/// What the email delivery will send: the newest reset message in the person's outbox.
pub(crate) async fn reset_code(app: &TestApp, inst: &Institution, person_id: &str) -> String {
    let messages = outbox_of(app, inst, person_id).await;
    let (_, text) = messages
        .iter()
        .rev()
        .find(|(kind, _)| kind == "password_reset")
        .expect("a reset message in the outbox")
        .clone();
    text.split("minutes: ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_string()
}

pub(crate) async fn sign_in(
    app: &TestApp,
    tenant: &str,
    login: &str,
    password: &str,
) -> crate::support::Reply {
    app.call(
        Method::POST,
        "/v1/auth/password",
        None,
        Some(json!({"tenant": tenant, "login": login, "password": password})),
    )
    .await
}

pub(crate) async fn request_reset(app: &TestApp, tenant: &str, email: &str) {
    let reply = app
        .call(
            Method::POST,
            "/v1/auth/password-reset-requests",
            None,
            Some(json!({"tenant": tenant, "email": email})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
}

pub(crate) async fn reset(
    app: &TestApp,
    tenant: &str,
    token: &str,
    password: &str,
) -> crate::support::Reply {
    app.call(
        Method::POST,
        "/v1/auth/password-resets",
        None,
        Some(json!({"tenant": tenant, "token": token, "new_password": password})),
    )
    .await
}

async fn stored_hashes(app: &TestApp, backend: Backend, inst: &Institution) -> Vec<String> {
    let location = app
        .state
        .tenancy
        .tenant_location(inst.id.parse().unwrap())
        .await
        .unwrap();
    let (db, sql, kind) = match backend {
        Backend::Postgres => (
            Database::connect(app.database_url.clone().unwrap())
                .await
                .unwrap(),
            format!(
                "SELECT password_hash FROM \"{}\".local_credentials",
                location.schema.as_str()
            ),
            DbBackend::Postgres,
        ),
        Backend::Sqlite => (
            Database::connect(format!(
                "sqlite://{}?mode=ro",
                app.data_dir()
                    .join("tenants")
                    .join(format!("{}.db", location.schema.as_str()))
                    .display()
            ))
            .await
            .unwrap(),
            "SELECT password_hash FROM local_credentials".to_string(),
            DbBackend::Sqlite,
        ),
    };
    db.query_all_raw(Statement::from_string(kind, sql))
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get::<String>("", "password_hash").unwrap())
        .collect()
}

async fn promise_c1_s5_local_accounts_hash_strong_passwords_and_resist_guessing(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let ada = app
        .post("/v1/people", admin, json!({"name": "Ada Lovelace", "username": "ada", "email": "ada@north.test", "roles": ["learner"]}))
        .await;
    let ada_id = ada.body["id"].as_str().unwrap().to_string();

    // SSO only by default.
    sign_in(&app, "north", "ada", "whatever it is")
        .await
        .assert_problem(403, "local_accounts_disabled");
    request_reset(&app, "north", "ada@north.test").await;
    let settings = app.get("/v1/sign-in-settings", admin).await;
    assert_eq!(settings.body["local_accounts"], false);
    let enabled = app
        .call_with(
            Method::PUT,
            "/v1/sign-in-settings",
            Some(admin),
            Some(json!({"local_accounts": true})),
            &[("If-Match", &settings.header("etag").unwrap())],
        )
        .await;
    assert_eq!(enabled.status, StatusCode::OK, "{}", enabled.body);

    // A reset code arrives in the outbox (none for an unknown address; same 202 answer).
    request_reset(&app, "north", "nobody@north.test").await;
    request_reset(&app, "north", "ADA@north.test").await;
    let code = reset_code(&app, &north, &ada_id).await;

    // Weak passwords are refused with reasons, and the code survives a refusal.
    for weak in [
        "short",
        "password1234",
        "ada-lovelace-rules",
        "aaaaaaaaaaaaaaaa",
    ] {
        let refused = reset(&app, "north", &code, weak).await;
        refused.assert_problem(422, "validation_failed");
        assert_eq!(
            refused.error_fields()[0],
            "new_password",
            "{}",
            refused.body
        );
    }
    let strong = "meadow-kettle-orbit-42";
    assert_eq!(
        reset(&app, "north", &code, strong).await.status,
        StatusCode::NO_CONTENT
    );
    reset(&app, "north", &code, "another-strong-phrase-9")
        .await
        .assert_problem(401, "reset_token_invalid");
    reset(&app, "north", "made-up-code", "another-strong-phrase-9")
        .await
        .assert_problem(401, "reset_token_invalid");

    // Stored only as an Argon2id hash.
    let hashes = stored_hashes(&app, backend, &north).await;
    assert_eq!(hashes.len(), 1);
    assert!(hashes[0].starts_with("$argon2id$"), "{}", hashes[0]);
    assert!(!hashes[0].contains(strong));

    // Sign in by username or email.
    let signed_in = sign_in(&app, "north", "ada", strong).await;
    assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.body);
    let token = signed_in.body["session_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        app.get("/v1/me", &token).await.body["scopes"],
        json!(["courses:read"])
    );
    assert_eq!(
        sign_in(&app, "north", "ada@north.test", strong)
            .await
            .status,
        StatusCode::OK
    );

    // Unknown logins and wrong passwords look the same.
    let unknown = sign_in(&app, "north", "grace", strong).await;
    unknown.assert_problem(401, "invalid_credentials");
    let wrong = sign_in(&app, "north", "ada", "not-her-password-1").await;
    wrong.assert_problem(401, "invalid_credentials");
    assert_eq!(unknown.body["detail"], wrong.body["detail"]);
    sign_in(&app, "nowhere", "ada", strong)
        .await
        .assert_problem(401, "invalid_credentials");

    // Guessing locks the account, even against the right password; a reset unlocks it.
    for _ in 0..4 {
        sign_in(&app, "north", "ada", "guess-guess-guess").await;
    }
    sign_in(&app, "north", "ada", strong)
        .await
        .assert_problem(401, "account_locked");
    request_reset(&app, "north", "ada@north.test").await;
    let code = reset_code(&app, &north, &ada_id).await;
    let newer = "lantern-pebble-sonata-7";
    assert_eq!(
        reset(&app, "north", &code, newer).await.status,
        StatusCode::NO_CONTENT
    );
    // The reset ended her sessions and unlocked the account.
    app.get("/v1/me", &token)
        .await
        .assert_problem(401, "unauthenticated");
    let again = sign_in(&app, "north", "ada", newer).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    let token = again.body["session_token"].as_str().unwrap().to_string();

    // She changes her password herself: the current one is required, the new one checked.
    let change = |current: &str, new: &str| {
        let body = json!({"current_password": current, "new_password": new});
        let app = &app;
        let token = token.clone();
        async move {
            app.call(Method::PUT, "/v1/me/password", Some(&token), Some(body))
                .await
        }
    };
    change("wrong-current-pass", "fresh-river-stone-88")
        .await
        .assert_problem(422, "validation_failed");
    change(newer, "ada12345678901")
        .await
        .assert_problem(422, "validation_failed");
    assert_eq!(
        change(newer, "fresh-river-stone-88").await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        sign_in(&app, "north", "ada", "fresh-river-stone-88")
            .await
            .status,
        StatusCode::OK
    );

    // Failed and successful sign-ins are in the audit trail, without the passwords.
    let trail = app.get("/v1/audit/events?limit=500", admin).await;
    let text = trail.body.to_string();
    assert!(text.contains("\"sign_in.failed\"") && text.contains("\"password.reset\""));
    for secret in [strong, newer, "fresh-river-stone-88", "guess-guess-guess"] {
        assert!(!text.contains(secret), "a password reached the audit trail");
    }
    let _: Value = trail.body;
}
