//! Enterprise SSO end to end: a learner signs in through the institution's real OpenID
//! Connect provider (npm `oidc-provider` on loopback) by following its redirects and login
//! form; the person is provisioned just in time with roles from IdP groups, gets a session,
//! reads and corrects their own record, lists and ends sessions. Every forged or misrouted
//! sign-in is refused with a problem answer and leaves no person and no session behind.

use crate::both_backends;
use crate::idp::{Forgery, OidcProvider, RogueIdp, UserAgent, idp_user};
use crate::support::{Backend, Institution, Reply, TestApp, spawn};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

both_backends!(
    promise_d6_a_learner_signs_in_through_the_institutions_oidc_provider,
    promise_d6_forged_and_misrouted_sign_ins_are_refused_without_a_trace
);

async fn add_connection(
    app: &TestApp,
    inst: &Institution,
    issuer: &str,
    client: (&str, &str),
) -> Value {
    let reply = app
        .post(
            "/v1/sso/connections",
            &inst.admin_token,
            json!({
                "name": "Campus IdP",
                "issuer": issuer,
                "client_id": client.0,
                "client_secret": client.1,
                "scopes": ["openid", "email", "profile", "groups"],
                "group_roles": {"staff": "instructor", "registry": "tenant_admin"},
            }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert!(reply.body.get("client_secret").is_none(), "{}", reply.body);
    reply.body
}

async fn people_count(app: &TestApp, inst: &Institution) -> usize {
    let reply = app.get("/v1/people", &inst.admin_token).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["items"].as_array().unwrap().len()
}

async fn promise_d6_a_learner_signs_in_through_the_institutions_oidc_provider(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let idp = OidcProvider::start(
        &app,
        &[("hub-north", "north-secret")],
        vec![
            idp_user("alice", "alice@north.test", "Alice Learner", &["students"]),
            idp_user("bob", "bob@north.test", "Bob Teacher", &["staff"]),
        ],
    );
    let connection = add_connection(&app, &north, &idp.issuer, ("hub-north", "north-secret")).await;
    let login_path = connection["login_path"].as_str().unwrap().to_string();

    // Alice follows the real redirects and login form.
    let agent = UserAgent::new();
    let callback = agent
        .authorize(&app, &login_path, "alice", "alice correct horse")
        .await;
    let signed_in = agent.callback(&callback).await;
    assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.body);
    let token = signed_in.body["session_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(token.starts_with("dxs_"));
    let person = &signed_in.body["person"];
    assert_eq!(person["name"], "Alice Learner");
    assert_eq!(person["email"], "alice@north.test");
    assert_eq!(person["roles"], json!(["learner"]));
    assert_eq!(person["source"], "sso");

    // The session acts in her institution with the learner's scopes only.
    let me = app.get("/v1/me", &token).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    assert_eq!(me.body["credential"], "session");
    assert_eq!(me.body["tenant_slug"], "north");
    assert_eq!(me.body["scopes"], json!(["courses:read"]));
    app.get("/v1/courses", &token).await;
    app.post(
        "/v1/courses",
        &token,
        json!({"code": "X-1", "title": "Nope"}),
    )
    .await
    .assert_problem(403, "insufficient_scope");
    app.get("/v1/people", &token)
        .await
        .assert_problem(403, "insufficient_scope");

    // R2/U9: she reads and corrects her own record; optional fields stay empty (C8).
    let profile = app.get("/v1/me/profile", &token).await;
    assert_eq!(profile.status, StatusCode::OK, "{}", profile.body);
    assert_eq!(profile.body["phone"], Value::Null);
    assert_eq!(profile.body["birth_date"], Value::Null);
    let etag = profile.header("etag").unwrap();
    let corrected = app
        .call_with(
            Method::PATCH,
            "/v1/me/profile",
            Some(&token),
            Some(json!({"name": "Alice Lovelace", "phone": "+441632960961"})),
            &[("If-Match", &etag)],
        )
        .await;
    assert_eq!(corrected.status, StatusCode::OK, "{}", corrected.body);
    assert_eq!(corrected.body["name"], "Alice Lovelace");
    assert_eq!(corrected.body["phone"], "+441632960961");
    app.call_with(
        Method::PATCH,
        "/v1/me/profile",
        Some(&token),
        Some(json!({"birth_date": "next tuesday"})),
        &[("If-Match", &corrected.header("etag").unwrap())],
    )
    .await
    .assert_problem(422, "validation_failed");

    // A second sign-in finds the same person (no duplicate), keeps her correction and
    // opens a second session; both are listed with where they came from (C5).
    let second = UserAgent::new();
    let callback = second
        .authorize(&app, &login_path, "alice", "alice correct horse")
        .await;
    let again = second.callback(&callback).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.body["person"]["id"], person["id"]);
    assert_eq!(again.body["person"]["name"], "Alice Lovelace");
    let second_token = again.body["session_token"].as_str().unwrap().to_string();
    let sessions = app.get("/v1/me/sessions", &token).await;
    assert_eq!(sessions.status, StatusCode::OK, "{}", sessions.body);
    let items = sessions.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{}", sessions.body);
    assert!(items.iter().all(|s| s["ip_address"] == "127.0.0.1"));
    assert!(
        items
            .iter()
            .all(|s| s["user_agent"] == agent.user_agent.as_str())
    );
    assert_eq!(items.iter().filter(|s| s["current"] == true).count(), 1);

    // Group mapping: Bob is staff, so an instructor.
    let bob = UserAgent::new();
    let callback = bob
        .authorize(&app, &login_path, "bob", "bob correct horse")
        .await;
    let bob_in = bob.callback(&callback).await;
    assert_eq!(
        bob_in.body["person"]["roles"],
        json!(["instructor"]),
        "{}",
        bob_in.body
    );
    assert_eq!(people_count(&app, &north).await, 2);

    // Nobody ends another person's session: Bob naming Alice's session gets 404.
    let alice_session = signed_in.body["session_id"].as_str().unwrap();
    app.call(
        Method::DELETE,
        &format!("/v1/me/sessions/{alice_session}"),
        bob_in.body["session_token"].as_str(),
        None,
    )
    .await
    .assert_problem(404, "session_not_found");
    assert_eq!(app.get("/v1/me", &token).await.status, StatusCode::OK);

    // Ending the second session from the first; signing out ends the first.
    let second_id = again.body["session_id"].as_str().unwrap();
    let ended = app
        .call(
            Method::DELETE,
            &format!("/v1/me/sessions/{second_id}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(ended.status, StatusCode::NO_CONTENT, "{}", ended.body);
    app.get("/v1/me", &second_token)
        .await
        .assert_problem(401, "unauthenticated");
    let out = app
        .call(Method::DELETE, "/v1/me/session", Some(&token), None)
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    app.get("/v1/me", &token)
        .await
        .assert_problem(401, "unauthenticated");

    // An admin deactivating Bob ends his sessions at once, and he cannot sign in again.
    let bob_token = bob_in.body["session_token"].as_str().unwrap();
    let bob_id = bob_in.body["person"]["id"].as_str().unwrap();
    let record = app
        .get(&format!("/v1/people/{bob_id}"), &north.admin_token)
        .await;
    let deactivated = app
        .call_with(
            Method::PATCH,
            &format!("/v1/people/{bob_id}"),
            Some(&north.admin_token),
            Some(json!({"status": "deactivated"})),
            &[("If-Match", &record.header("etag").unwrap())],
        )
        .await;
    assert_eq!(deactivated.status, StatusCode::OK, "{}", deactivated.body);
    app.get("/v1/me", bob_token)
        .await
        .assert_problem(401, "unauthenticated");
    let callback = bob
        .authorize(&app, &login_path, "bob", "bob correct horse")
        .await;
    bob.callback(&callback)
        .await
        .assert_problem(401, "person_deactivated");

    // API keys have no "own" record.
    app.get("/v1/me/profile", &north.admin_token)
        .await
        .assert_problem(403, "person_credential_required");
}

/// Runs one sign-in through the rogue IdP and returns the hub's answer at the callback.
async fn rogue_sign_in(app: &TestApp, login_path: &str) -> Reply {
    let agent = UserAgent::new();
    let callback = format!("{}/v1/sso/oidc/callback", app.base);
    let (url, status, _) = agent
        .follow(format!("{}{login_path}", app.base), Some(&callback))
        .await;
    assert_eq!(status, StatusCode::FOUND);
    agent.callback(&url).await
}

async fn promise_d6_forged_and_misrouted_sign_ins_are_refused_without_a_trace(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let south = app.create_institution("south").await;
    let rogue = RogueIdp::start("hub-north", "mallory", "mallory@north.test").await;
    let connection = add_connection(&app, &north, &rogue.issuer, ("hub-north", "x")).await;
    let login_path = connection["login_path"].as_str().unwrap().to_string();

    let cases = [
        (Forgery::TamperedPayload, "sso_token_signature_invalid"),
        (Forgery::ForeignKey, "sso_token_signature_invalid"),
        (Forgery::AlgNone, "sso_token_signature_invalid"),
        (Forgery::SwappedToHmac, "sso_token_signature_invalid"),
        (Forgery::UnknownKeyId, "sso_token_signature_invalid"),
        (Forgery::WrongAudience, "sso_token_claims_invalid"),
        (Forgery::Expired, "sso_token_claims_invalid"),
        (Forgery::WrongNonce, "sso_nonce_mismatch"),
    ];
    for (forgery, code) in cases {
        rogue.forge_next(forgery);
        let reply = rogue_sign_in(&app, &login_path).await;
        reply.assert_problem(401, code);
        assert!(reply.body.get("session_token").is_none());
    }
    assert_eq!(
        people_count(&app, &north).await,
        0,
        "a refused sign-in created a person"
    );

    // State: missing, made up, and replayed (a callback URL works once).
    app.call(Method::GET, "/v1/sso/oidc/callback?code=abc", None, None)
        .await
        .assert_problem(401, "sso_state_invalid");
    app.call(
        Method::GET,
        "/v1/sso/oidc/callback?code=abc&state=made-up",
        None,
        None,
    )
    .await
    .assert_problem(401, "sso_state_invalid");
    rogue.forge_next(Forgery::Honest);
    let agent = UserAgent::new();
    let callback = format!("{}/v1/sso/oidc/callback", app.base);
    let (url, _, _) = agent
        .follow(format!("{}{login_path}", app.base), Some(&callback))
        .await;
    let first = agent.callback(&url).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    agent
        .callback(&url)
        .await
        .assert_problem(401, "sso_state_invalid");
    assert_eq!(people_count(&app, &north).await, 1);

    // Tenant A's IdP cannot sign anyone into tenant B: south's connection trusts another
    // client of the same IdP, so north's code and token are refused there.
    let south_connection = add_connection(&app, &south, &rogue.issuer, ("hub-south", "y")).await;
    let reply = rogue_sign_in(&app, south_connection["login_path"].as_str().unwrap()).await;
    // The rogue IdP issues tokens for hub-north only: wrong audience for south.
    reply.assert_problem(401, "sso_token_claims_invalid");
    assert_eq!(people_count(&app, &south).await, 0);

    // A north callback replayed with a south flow's state: the code was issued to north's
    // flow; the exchange for south's client is refused.
    let agent = UserAgent::new();
    let (north_url, _, _) = agent
        .follow(format!("{}{login_path}", app.base), Some(&callback))
        .await;
    let (south_url, _, _) = agent
        .follow(
            format!(
                "{}{}",
                app.base,
                south_connection["login_path"].as_str().unwrap()
            ),
            Some(&callback),
        )
        .await;
    let north_code = reqwest::Url::parse(&north_url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .to_string();
    let south_state = reqwest::Url::parse(&south_url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .to_string();
    let mixed = agent
        .callback(&format!("{callback}?code={north_code}&state={south_state}"))
        .await;
    assert_eq!(mixed.status, StatusCode::UNAUTHORIZED, "{}", mixed.body);
    assert_eq!(people_count(&app, &south).await, 0);

    // Unknown institution or connection: 404, no redirect to anywhere.
    app.call(
        Method::GET,
        &format!(
            "/v1/sso/nowhere/oidc/{}/login",
            connection["id"].as_str().unwrap()
        ),
        None,
        None,
    )
    .await
    .assert_problem(404, "sso_connection_not_found");

    // Bad connection settings are refused field by field.
    let bad = app
        .post(
            "/v1/sso/connections",
            &north.admin_token,
            json!({"name": "x", "issuer": "http://idp.example.com", "client_id": "c",
                   "client_secret": "s", "scopes": ["email"], "default_role": "tenant_admin"}),
        )
        .await;
    bad.assert_problem(422, "validation_failed");
    assert_eq!(bad.error_fields(), ["issuer", "scopes", "default_role"]);
}
