//! A person's sessions end when their roles or status change, whichever path changes them:
//! an admin's role change or deactivation, SCIM's deactivation (PATCH and PUT), deletion and
//! group-granted role changes, an access review's revocation, and an IdP that asserts other
//! roles at the next SSO sign-in. The rule lives once in the
//! identity domain (`hub_identity::sessions::Change`, settled by `Identity::commit`); the
//! gateway never ends sessions itself, which [`gateway_handlers_do_not_end_sessions`] checks.

use crate::both_backends;
use crate::idp::{Forgery, RogueIdp, UserAgent};
use crate::passwords::{request_reset, reset, reset_code, sign_in};
use crate::support::scim;
use crate::support::{Backend, Institution, TestApp, spawn};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::path::PathBuf;

both_backends!(
    every_role_or_status_change_ends_the_persons_sessions,
    an_idp_asserting_other_roles_at_sign_in_ends_the_older_sessions
);

const PASSWORD: &str = "meadow-kettle-orbit-42";

/// Gives the person a local password (through the reset code in their outbox).
async fn set_password(app: &TestApp, inst: &Institution, id: &str, email: &str) {
    request_reset(app, &inst.slug, email).await;
    let code = reset_code(app, inst, id).await;
    let reset = reset(app, &inst.slug, &code, PASSWORD).await;
    assert_eq!(reset.status, StatusCode::NO_CONTENT, "{}", reset.body);
}

/// A live session of the person, proven to work.
async fn session(app: &TestApp, inst: &Institution, email: &str) -> String {
    let signed_in = sign_in(app, &inst.slug, email, PASSWORD).await;
    assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.body);
    let token = signed_in.body["session_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(app.get("/v1/me", &token).await.status, StatusCode::OK);
    token
}

async fn assert_ended(app: &TestApp, token: &str, path: &str) {
    let reply = app.get("/v1/me", token).await;
    assert_eq!(
        reply.status,
        StatusCode::UNAUTHORIZED,
        "the session survived {path}: {}",
        reply.body
    );
}

async fn admin_person(app: &TestApp, inst: &Institution, email: &str, role: &str) -> String {
    let reply = app
        .post(
            "/v1/people",
            &inst.admin_token,
            json!({"name": "Pat Person", "email": email, "roles": [role]}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let id = reply.body["id"].as_str().unwrap().to_string();
    set_password(app, inst, &id, email).await;
    id
}

async fn scim_person(app: &TestApp, inst: &Institution, scim_key: &str, email: &str) -> String {
    let reply = scim(
        app,
        Method::POST,
        "/Users",
        scim_key,
        Some(json!({"userName": email, "displayName": "Sam Scim",
                    "emails": [{"value": email, "primary": true}]})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let id = reply.body["id"].as_str().unwrap().to_string();
    set_password(app, inst, &id, email).await;
    id
}

async fn administer(app: &TestApp, inst: &Institution, id: &str, body: Value) {
    let path = format!("/v1/people/{id}");
    let etag = app
        .get(&path, &inst.admin_token)
        .await
        .header("etag")
        .unwrap();
    let reply = app
        .call_with(
            Method::PATCH,
            &path,
            Some(&inst.admin_token),
            Some(body),
            &[("If-Match", &etag)],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

async fn every_role_or_status_change_ends_the_persons_sessions(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    app.allow_local_accounts(admin).await;
    let key = app
        .post(
            "/v1/api-keys",
            admin,
            json!({"name": "IdP SCIM", "scopes": ["scim:provision"]}),
        )
        .await;
    let scim_key = key.body["token"].as_str().unwrap().to_string();

    // An admin changes roles: the session (with the old scopes) ends; one with the new
    // roles works, and a change of status only (reactivating nobody) leaves it alone.
    let ana = admin_person(&app, &north, "ana@north.test", "learner").await;
    let token = session(&app, &north, "ana@north.test").await;
    administer(&app, &north, &ana, json!({"roles": ["instructor"]})).await;
    assert_ended(&app, &token, "an admin's role change").await;
    let token = session(&app, &north, "ana@north.test").await;
    administer(&app, &north, &ana, json!({"status": "active"})).await;
    assert_eq!(app.get("/v1/me", &token).await.status, StatusCode::OK);
    // An admin deactivates.
    administer(&app, &north, &ana, json!({"status": "deactivated"})).await;
    assert_ended(&app, &token, "an admin's deactivation").await;

    // SCIM deactivates by PATCH, and by PUT.
    let ben = scim_person(&app, &north, &scim_key, "ben@north.test").await;
    let token = session(&app, &north, "ben@north.test").await;
    let patched = scim(
        &app,
        Method::PATCH,
        &format!("/Users/{ben}"),
        &scim_key,
        Some(json!({"Operations": [{"op": "replace", "path": "active", "value": false}]})),
    )
    .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    assert_ended(&app, &token, "SCIM PATCH active false").await;
    let cy = scim_person(&app, &north, &scim_key, "cy@north.test").await;
    let token = session(&app, &north, "cy@north.test").await;
    let replaced = scim(
        &app,
        Method::PUT,
        &format!("/Users/{cy}"),
        &scim_key,
        Some(
            json!({"userName": "cy@north.test", "displayName": "Cy", "active": false,
                    "emails": [{"value": "cy@north.test"}]}),
        ),
    )
    .await;
    assert_eq!(replaced.status, StatusCode::OK, "{}", replaced.body);
    assert_ended(&app, &token, "SCIM PUT active false").await;

    // A group named after a role grants it (POST), a deleted group takes it away: each a
    // role change.
    let dee = scim_person(&app, &north, &scim_key, "dee@north.test").await;
    let token = session(&app, &north, "dee@north.test").await;
    let group = scim(
        &app,
        Method::POST,
        "/Groups",
        &scim_key,
        Some(json!({"displayName": "instructor", "members": [{"value": dee}]})),
    )
    .await;
    assert_eq!(group.status, StatusCode::CREATED, "{}", group.body);
    assert_ended(&app, &token, "SCIM group creation granting a role").await;
    let token = session(&app, &north, "dee@north.test").await;
    let group_id = group.body["id"].as_str().unwrap();
    let deleted = scim(
        &app,
        Method::DELETE,
        &format!("/Groups/{group_id}"),
        &scim_key,
        None,
    )
    .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
    assert_ended(&app, &token, "SCIM group deletion").await;

    // SCIM DELETE deprovisions an active person.
    let token = session(&app, &north, "dee@north.test").await;
    let deleted = scim(
        &app,
        Method::DELETE,
        &format!("/Users/{dee}"),
        &scim_key,
        None,
    )
    .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
    assert_ended(&app, &token, "SCIM DELETE").await;

    // An access review's revocation.
    let eve = admin_person(&app, &north, "eve@north.test", "finance").await;
    let token = session(&app, &north, "eve@north.test").await;
    let review = app
        .post(
            "/v1/access-reviews",
            admin,
            json!({"name": "Q1", "duration_seconds": 3600}),
        )
        .await;
    assert_eq!(review.status, StatusCode::CREATED, "{}", review.body);
    let item = review.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["person_id"] == eve.as_str())
        .unwrap()["id"]
        .clone();
    let decided = app
        .post(
            &format!(
                "/v1/access-reviews/{}/decisions",
                review.body["id"].as_str().unwrap()
            ),
            admin,
            json!({"item_id": item, "decision": "revoke"}),
        )
        .await;
    assert_eq!(decided.status, StatusCode::OK, "{}", decided.body);
    assert_ended(&app, &token, "an access review's revocation").await;
}

async fn an_idp_asserting_other_roles_at_sign_in_ends_the_older_sessions(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let rogue = RogueIdp::start("hub-north", "kim-sub", "kim@north.test").await;
    rogue.forge_next(Forgery::Honest);
    let connection = app
        .post(
            "/v1/sso/connections",
            &north.admin_token,
            json!({"name": "IdP", "issuer": rogue.issuer, "client_id": "hub-north",
                   "client_secret": "x", "group_roles": {"staff": "instructor"}}),
        )
        .await;
    assert_eq!(
        connection.status,
        StatusCode::CREATED,
        "{}",
        connection.body
    );
    let login = format!(
        "{}{}",
        app.base,
        connection.body["login_path"].as_str().unwrap()
    );
    let callback = format!("{}/v1/sso/oidc/callback", app.base);
    let sign_in = || async {
        let agent = UserAgent::new();
        let (url, _, _) = agent.follow(login.clone(), Some(&callback)).await;
        let signed_in = agent.callback(&url).await;
        assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.body);
        signed_in.body["session_token"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let first = sign_in().await;
    let same_roles = sign_in().await;
    // The same roles again: both sessions live.
    for token in [&first, &same_roles] {
        assert_eq!(app.get("/v1/me", token).await.status, StatusCode::OK);
    }
    rogue.assert_groups(&["staff"]);
    let promoted = sign_in().await;
    assert_ended(&app, &first, "an SSO sign-in with other roles").await;
    assert_ended(&app, &same_roles, "an SSO sign-in with other roles").await;
    let me = app.get("/v1/me", &promoted).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
}

/// The gateway maps; it does not end sessions. A handler calling `revoke_all` would be a
/// second copy of the domain's rule (and one a later path could forget).
#[test]
fn gateway_handlers_do_not_end_sessions() {
    fn sources(dir: &std::path::Path, found: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs") {
                found.push(path);
            }
        }
    }
    let mut files = Vec::new();
    sources(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    assert!(files.len() > 10, "the gateway's sources were not found");
    let offenders: Vec<String> = files
        .iter()
        .filter(|f| std::fs::read_to_string(f).unwrap().contains("revoke_all("))
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        offenders.is_empty(),
        "gateway code ends sessions itself (the domain's Identity::commit does): {offenders:?}"
    );
}
