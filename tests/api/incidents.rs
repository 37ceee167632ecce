//! S6: a person who suspects their account is compromised reports it and is helped at once:
//! every session and every API key made in their name is revoked before the answer, the
//! next sign-in must be a fresh authentication at the IdP, an incident with a running clock
//! opens for the institution's admins (and no other institution's), and a confirmation waits
//! for the person.

use crate::both_backends;
use crate::idp::{OidcProvider, UserAgent, idp_user};
use crate::support::{Backend, TestApp, spawn};
use reqwest::{Method, StatusCode};
use serde_json::json;

async fn sign_in(app: &TestApp, agent: &UserAgent, login_path: &str) -> crate::support::Reply {
    let callback = agent
        .authorize(app, login_path, "alice", "alice correct horse")
        .await;
    agent.callback(&callback).await
}

both_backends!(promise_s6_a_reported_compromise_revokes_everything_and_opens_an_incident);

async fn promise_s6_a_reported_compromise_revokes_everything_and_opens_an_incident(
    backend: Backend,
) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let south = app.create_institution("south").await;
    let idp = OidcProvider::start(
        &app,
        &[("hub-north", "secret")],
        vec![idp_user(
            "alice",
            "alice@north.test",
            "Alice Admin",
            &["registry"],
        )],
    );
    let connection = app
        .post(
            "/v1/sso/connections",
            &north.admin_token,
            json!({"name": "IdP", "issuer": idp.issuer, "client_id": "hub-north",
                   "client_secret": "secret", "scopes": ["openid", "email", "profile", "groups"],
                   "group_roles": {"registry": "tenant_admin"}}),
        )
        .await;
    let login_path = connection.body["login_path"].as_str().unwrap().to_string();

    // Alice, an admin, has two sessions and made an API key with one of them.
    let agent = UserAgent::new();
    let first = sign_in(&app, &agent, &login_path).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let token = first.body["session_token"].as_str().unwrap().to_string();
    let other = sign_in(&app, &UserAgent::new(), &login_path).await;
    let other_token = other.body["session_token"].as_str().unwrap().to_string();
    let key = app
        .post(
            "/v1/api-keys",
            &token,
            json!({"name": "alice's script", "scopes": ["courses:read"]}),
        )
        .await;
    assert_eq!(key.status, StatusCode::CREATED, "{}", key.body);
    let key_token = key.body["token"].as_str().unwrap().to_string();
    assert_eq!(
        app.get("/v1/courses", &key_token).await.status,
        StatusCode::OK
    );

    // The report: everything is revoked before the answer.
    let report = app
        .post(
            "/v1/me/compromise-report",
            &token,
            json!({"description": "odd sign-in alert"}),
        )
        .await;
    assert_eq!(report.status, StatusCode::CREATED, "{}", report.body);
    assert_eq!(report.body["sessions_revoked"], 2);
    assert_eq!(report.body["api_keys_revoked"], 1);
    let incident_id = report.body["incident_id"].as_str().unwrap().to_string();
    for dead in [&token, &other_token, &key_token] {
        app.get("/v1/me", dead)
            .await
            .assert_problem(401, "unauthenticated");
    }
    // Keys made by others (the institution's own admin key) are untouched.
    assert_eq!(
        app.get("/v1/me", &north.admin_token).await.status,
        StatusCode::OK
    );

    // The admins see an open incident with its clock; another institution does not.
    let incidents = app.get("/v1/incidents", &north.admin_token).await;
    assert_eq!(incidents.status, StatusCode::OK, "{}", incidents.body);
    let incident = &incidents.body["items"][0];
    assert_eq!(incident["id"], incident_id.as_str());
    assert_eq!(incident["status"], "open");
    assert_eq!(incident["person_id"], first.body["person"]["id"]);
    assert_eq!(incident["description"], "odd sign-in alert");
    assert!(incident["open_for_seconds"].as_i64().unwrap() >= 0);
    app.get(&format!("/v1/incidents/{incident_id}"), &south.admin_token)
        .await
        .assert_problem(404, "incident_not_found");

    // The IdP still has a session for her: a silent sign-in is refused...
    let silent = sign_in(&app, &agent, &login_path).await;
    silent.assert_problem(401, "reauthentication_required");
    assert!(silent.body.get("session_token").is_none());
    // ...and a forced one (the IdP asks for the password again) lets her back in.
    let forced = sign_in(
        &app,
        &agent,
        &format!("{login_path}?force_authentication=true"),
    )
    .await;
    assert_eq!(forced.status, StatusCode::OK, "{}", forced.body);
    let fresh = forced.body["session_token"].as_str().unwrap();

    // Her confirmation is waiting for her.
    let messages = app.get("/v1/me/messages", fresh).await;
    assert_eq!(messages.status, StatusCode::OK, "{}", messages.body);
    let confirmation = &messages.body["items"][0];
    assert_eq!(confirmation["kind"], "compromise_confirmation");
    assert!(
        confirmation["text"]
            .as_str()
            .unwrap()
            .contains(&incident_id)
    );

    // The audit trail has it; resolving stops the clock, once.
    let trail = app
        .get(
            "/v1/audit/events?action=account.compromise_reported",
            &north.admin_token,
        )
        .await;
    assert_eq!(
        trail.body["items"].as_array().unwrap().len(),
        1,
        "{}",
        trail.body
    );
    let resolved = app
        .call(
            Method::POST,
            &format!("/v1/incidents/{incident_id}/resolve"),
            Some(&north.admin_token),
            None,
        )
        .await;
    assert_eq!(resolved.status, StatusCode::OK, "{}", resolved.body);
    assert_eq!(resolved.body["status"], "resolved");
    app.call(
        Method::POST,
        &format!("/v1/incidents/{incident_id}/resolve"),
        Some(&north.admin_token),
        None,
    )
    .await
    .assert_problem(409, "conflict");

    // An API key has no account to report.
    app.post("/v1/me/compromise-report", &north.admin_token, json!({}))
        .await
        .assert_problem(403, "person_credential_required");
}
