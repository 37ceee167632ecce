//! S6: a person who suspects their account is compromised reports it and is helped at once:
//! every session and every API key made in their name is revoked before the answer; what
//! they had before opens nothing (their old password answers `password_reset_required` until
//! reset through a reset code; an SSO sign-in must be a fresh authentication at the IdP, in a
//! flow begun after the report: OIDC `prompt=login&max_age=0` with `auth_time`, SAML
//! `ForceAuthn="true"` with `AuthnInstant`); an incident with a running clock opens for the
//! institution's admins (and no other institution's), each other admin with an email address
//! is sent a message, and a confirmation saying exactly that waits for the person.

use crate::both_backends;
use crate::idp::{OidcProvider, UserAgent, idp_user};
use crate::passwords::{outbox_of, request_reset, reset, reset_code, sign_in as password_sign_in};
use crate::saml_idp::{
    SamlProvider, add_saml_connection, authn_request, log_in_at_idp, post_to_acs, saml_user,
    sign_in as saml_sign_in, sp_entity_id, start_flow,
};
use crate::support::{Backend, Institution, TestApp, spawn};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

both_backends!(
    promise_s6_a_reported_compromise_revokes_everything_and_opens_an_incident,
    promise_s6_a_reported_compromise_locks_out_the_old_password_and_forces_idp_reauthentication
);

async fn sign_in(app: &TestApp, agent: &UserAgent, login_path: &str) -> crate::support::Reply {
    let callback = agent
        .authorize(app, login_path, "alice", "alice correct horse")
        .await;
    agent.callback(&callback).await
}

/// Adds a person through the admin API; returns their id.
async fn add_person(app: &TestApp, inst: &Institution, person: Value) -> String {
    let reply = app.post("/v1/people", &inst.admin_token, person).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body["id"].as_str().unwrap().to_string()
}

/// Where the hub's login URL sends the browser, without following it.
async fn redirect_of(app: &TestApp, path: &str) -> String {
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}{path}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FOUND, "{path}");
    response.headers()["location"].to_str().unwrap().to_string()
}

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

    // Two more admins: one with an email address, one without.
    let grace = add_person(
        &app,
        &north,
        json!({"name": "Grace Admin", "email": "grace@north.test", "roles": ["tenant_admin"]}),
    )
    .await;
    let hopper = add_person(
        &app,
        &north,
        json!({"name": "Hopper Admin", "username": "hopper", "roles": ["tenant_admin"]}),
    )
    .await;

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
    // Alice signs in through SSO only: no password to reset.
    assert_eq!(report.body["password_reset_required"], false);
    let incident_id = report.body["incident_id"].as_str().unwrap().to_string();
    // The other admin with an email address is told; the receipt says exactly that.
    assert_eq!(report.body["admins_notified"], 1, "{}", report.body);
    let next_steps = report.body["next_steps"].as_str().unwrap().to_string();
    assert!(
        next_steps.contains("1 administrator(s) of your institution have been notified"),
        "{next_steps}"
    );
    let notices = outbox_of(&app, &north, &grace).await;
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert_eq!(notices[0].0, "incident_opened");
    assert!(notices[0].1.contains(&incident_id), "{}", notices[0].1);
    assert!(
        !notices[0].1.contains("Alice"),
        "the notice names the incident, not the person"
    );
    assert!(outbox_of(&app, &north, &hopper).await.is_empty());
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
    let forced_url = redirect_of(&app, &format!("{login_path}?force_authentication=true")).await;
    let forced_query: Vec<(String, String)> = reqwest::Url::parse(&forced_url)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    for pair in [("prompt", "login"), ("max_age", "0")] {
        assert!(
            forced_query.contains(&(pair.0.to_string(), pair.1.to_string())),
            "{forced_url}"
        );
    }
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
    let text = confirmation["text"].as_str().unwrap();
    assert!(text.contains(&incident_id), "{text}");
    assert!(text.contains(&next_steps), "{text}");

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

async fn promise_s6_a_reported_compromise_locks_out_the_old_password_and_forces_idp_reauthentication(
    backend: Backend,
) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    app.allow_local_accounts(admin).await;

    // Ada has a local password (set through the reset flow); her institution has no admin
    // person with an email address, only its API key.
    let ada = add_person(
        &app,
        &north,
        json!({"name": "Ada Lovelace", "username": "ada", "email": "ada@north.test",
               "roles": ["learner"]}),
    )
    .await;
    request_reset(&app, "north", "ada@north.test").await;
    let old = "meadow-kettle-orbit-42";
    let code = reset_code(&app, &north, &ada).await;
    assert_eq!(
        reset(&app, "north", &code, old).await.status,
        StatusCode::NO_CONTENT
    );
    let wrong_before = password_sign_in(&app, "north", "ada", "not-her-password-1").await;
    wrong_before.assert_problem(401, "invalid_credentials");
    let signed_in = password_sign_in(&app, "north", "ada", old).await;
    assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.body);
    let token = signed_in.body["session_token"]
        .as_str()
        .unwrap()
        .to_string();

    let report = app
        .post("/v1/me/compromise-report", &token, json!({}))
        .await;
    assert_eq!(report.status, StatusCode::CREATED, "{}", report.body);
    assert_eq!(report.body["password_reset_required"], true);
    assert_eq!(report.body["admins_notified"], 0);
    let next_steps = report.body["next_steps"].as_str().unwrap();
    assert!(
        next_steps.contains("Your password no longer signs in"),
        "{next_steps}"
    );
    assert!(
        next_steps.contains("none was notified") && !next_steps.contains("have been notified"),
        "the receipt claims only what happened: {next_steps}"
    );
    app.get("/v1/me", &token)
        .await
        .assert_problem(401, "unauthenticated");

    // The old password opens nothing, by username or email; a wrong one answers exactly as
    // before, so a guesser learns nothing new.
    for login in ["ada", "ada@north.test"] {
        let refused = password_sign_in(&app, "north", login, old).await;
        refused.assert_problem(401, "password_reset_required");
        assert!(refused.body.get("session_token").is_none());
    }
    let wrong_after = password_sign_in(&app, "north", "ada", "not-her-password-1").await;
    let answer = |reply: &crate::support::Reply| {
        let mut body = reply.body.clone();
        body.as_object_mut().unwrap().remove("request_id");
        (reply.status, body)
    };
    assert_eq!(answer(&wrong_after), answer(&wrong_before));
    let trail = app
        .get("/v1/audit/events?action=sign_in.failed&limit=100", admin)
        .await;
    assert_eq!(trail.status, StatusCode::OK, "{}", trail.body);
    let refusals = trail.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["detail"]["code"] == "password_reset_required")
        .count();
    assert_eq!(refusals, 2, "{}", trail.body);

    // The reset flow clears it: the old password is gone, the new one signs in.
    request_reset(&app, "north", "ada@north.test").await;
    let code = reset_code(&app, &north, &ada).await;
    let new = "lantern-pebble-sonata-7";
    assert_eq!(
        reset(&app, "north", &code, new).await.status,
        StatusCode::NO_CONTENT
    );
    password_sign_in(&app, "north", "ada", old)
        .await
        .assert_problem(401, "invalid_credentials");
    let back = password_sign_in(&app, "north", "ada", new).await;
    assert_eq!(back.status, StatusCode::OK, "{}", back.body);

    // SAML: Grace signs in through the institution's SAML IdP.
    let entity_id = sp_entity_id(&north);
    let idp = SamlProvider::start(
        &app,
        &[&entity_id],
        vec![saml_user(
            "grace",
            "grace@north.test",
            "Grace Teacher",
            &["staff"],
        )],
    );
    let connection = add_saml_connection(&app, &north, &idp.metadata().await).await;
    let login_path = connection["login_path"].as_str().unwrap().to_string();
    let first = saml_sign_in(&app, &login_path, "grace").await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let grace_token = first.body["session_token"].as_str().unwrap().to_string();
    // The IdP answers a flow begun before the report; the answer is posted after it.
    let (held_url, _) = start_flow(&app, &login_path).await;
    let held = log_in_at_idp(&held_url, "grace", "grace correct horse").await;
    let report = app
        .post("/v1/me/compromise-report", &grace_token, json!({}))
        .await;
    assert_eq!(report.status, StatusCode::CREATED, "{}", report.body);
    assert_eq!(report.body["password_reset_required"], false);
    let stale = post_to_acs(&app, &held.saml_response, &held.relay_state).await;
    stale.assert_problem(401, "reauthentication_required");
    assert!(stale.body.get("session_token").is_none());

    // The login URL with force_authentication=true asks the IdP for ForceAuthn; the answer
    // of that fresh authentication lets her back in, and lifts the mark.
    let (plain_url, _) = start_flow(&app, &login_path).await;
    assert!(
        !authn_request(&plain_url).contains("ForceAuthn=\"true\""),
        "{}",
        authn_request(&plain_url)
    );
    let (forced_url, _) =
        start_flow(&app, &format!("{login_path}?force_authentication=true")).await;
    let request = authn_request(&forced_url);
    assert!(request.contains("ForceAuthn=\"true\""), "{request}");
    let answer = log_in_at_idp(&forced_url, "grace", "grace correct horse").await;
    let fresh = post_to_acs(&app, &answer.saml_response, &answer.relay_state).await;
    assert_eq!(fresh.status, StatusCode::OK, "{}", fresh.body);
    assert_eq!(fresh.body["person"]["id"], first.body["person"]["id"]);
    let again = saml_sign_in(&app, &login_path, "grace").await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
}
