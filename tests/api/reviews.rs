//! Access recertification (S2): a review lists every privileged grant with its last use;
//! reviewers confirm or revoke grants (never their own); whatever is not confirmed by the
//! deadline expires on its own — the platform's sweeper removes the role and ends the
//! person's sessions without anyone looking at the review.

use crate::both_backends;
use crate::idp::{Forgery, RogueIdp, UserAgent};
use crate::support::{Backend, TestApp, spawn_with};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

both_backends!(promise_s2_privileged_grants_are_recertified_or_expire);

async fn person(app: &TestApp, admin: &str, name: &str, email: &str, role: &str) -> String {
    let reply = app
        .post(
            "/v1/people",
            admin,
            json!({"name": name, "email": email, "roles": [role]}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body["id"].as_str().unwrap().to_string()
}

async fn roles(app: &TestApp, admin: &str, id: &str) -> Value {
    app.get(&format!("/v1/people/{id}"), admin).await.body["roles"].clone()
}

fn item_of<'a>(review: &'a Value, person: &str) -> &'a Value {
    review["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["person_id"] == person)
        .unwrap_or_else(|| panic!("no item for {person}: {review}"))
}

async fn promise_s2_privileged_grants_are_recertified_or_expire(backend: Backend) {
    let app = spawn_with(backend, |c| c.deadline_sweep_secs = 1).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let fin = person(&app, admin, "Fin Ance", "fin@north.test", "finance").await;
    let aud = person(&app, admin, "Aud Itor", "aud@north.test", "auditor").await;
    let adm = person(&app, admin, "Ad Min", "adm@north.test", "tenant_admin").await;
    person(&app, admin, "Lee Arner", "lee@north.test", "learner").await;

    // Ad Min signs in (SSO, linked by verified email) and so has a session and a last use.
    let rogue = RogueIdp::start("hub-north", "adm-sub", "adm@north.test").await;
    rogue.forge_next(Forgery::Honest);
    let connection = app
        .post(
            "/v1/sso/connections",
            admin,
            json!({"name": "IdP", "issuer": rogue.issuer, "client_id": "hub-north", "client_secret": "x"}),
        )
        .await;
    let login = format!(
        "{}{}",
        app.base,
        connection.body["login_path"].as_str().unwrap()
    );
    let agent = UserAgent::new();
    let (url, _, _) = agent
        .follow(login, Some(&format!("{}/v1/sso/oidc/callback", app.base)))
        .await;
    let signed_in = agent.callback(&url).await;
    assert_eq!(
        signed_in.body["person"]["id"],
        adm.as_str(),
        "{}",
        signed_in.body
    );
    let adm_session = signed_in.body["session_token"]
        .as_str()
        .unwrap()
        .to_string();

    // Review periods outside (0, 90 days] are refused.
    for duration in [0, 91 * 24 * 3600, u64::MAX] {
        let refused = app
            .post(
                "/v1/access-reviews",
                admin,
                json!({"name": "x", "duration_seconds": duration}),
            )
            .await;
        refused.assert_problem(422, "validation_failed");
        assert_eq!(refused.error_fields(), ["duration_seconds"]);
    }

    let started = app
        .post(
            "/v1/access-reviews",
            admin,
            json!({"name": "Q4 review", "duration_seconds": 4}),
        )
        .await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.body);
    let review_id = started.body["id"].as_str().unwrap().to_string();
    let review = &started.body;
    assert_eq!(
        review["items"].as_array().unwrap().len(),
        3,
        "learners are not privileged: {review}"
    );
    assert_eq!(item_of(review, &fin)["role"], "finance");
    assert!(
        item_of(review, &adm)["last_sign_in_at"].is_string(),
        "the report shows last use"
    );
    assert_eq!(item_of(review, &fin)["last_sign_in_at"], Value::Null);

    let decide = |item: &Value, decision: &str, token: &str| {
        let body = json!({"item_id": item["id"], "decision": decision});
        let path = format!("/v1/access-reviews/{review_id}/decisions");
        let token = token.to_string();
        let app = &app;
        async move {
            app.call(Method::POST, &path, Some(&token), Some(body))
                .await
        }
    };
    // Nobody reviews their own grant.
    decide(item_of(review, &adm), "confirm", &adm_session)
        .await
        .assert_problem(403, "self_review_forbidden");
    let confirmed = decide(item_of(review, &aud), "confirm", admin).await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.body);
    let revoked = decide(item_of(review, &fin), "revoke", admin).await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.body);
    assert_eq!(roles(&app, admin, &fin).await, json!([]));
    decide(item_of(review, &fin), "confirm", admin)
        .await
        .assert_problem(409, "conflict");

    // Ad Min's grant is left pending: after the deadline the sweeper expires it by itself.
    let mut expired = false;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if roles(&app, admin, &adm).await == json!([]) {
            expired = true;
            break;
        }
    }
    assert!(
        expired,
        "the pending grant did not expire after its deadline"
    );
    app.get("/v1/me", &adm_session)
        .await
        .assert_problem(401, "unauthenticated");
    assert_eq!(roles(&app, admin, &aud).await, json!(["auditor"]));

    let closed = app
        .get(&format!("/v1/access-reviews/{review_id}"), admin)
        .await;
    assert_eq!(closed.body["status"], "closed", "{}", closed.body);
    assert_eq!(closed.body["pending"], 0);
    assert_eq!(item_of(&closed.body, &adm)["decision"], "expired");
    assert_eq!(item_of(&closed.body, &aud)["decision"], "confirmed");
    assert_eq!(item_of(&closed.body, &fin)["decision"], "revoked");
    decide(item_of(&closed.body, &aud), "revoke", admin)
        .await
        .assert_problem(409, "conflict");
}
