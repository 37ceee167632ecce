//! Consent, GPC, cookie categories, policy and notice versions (issue 10 §3: C6, U8, U9, A3,
//! R5, C9), through the public API on both backends. The one processor of a consentable
//! purpose today is the outbox's marketing mail: it asks the consent gate at delivery, so
//! each rule is shown twice, in what the gate answers (`/v1/me/consents`) and in what the
//! outbox does with a marketing message (`/v1/messaging/deliveries`).

use crate::both_backends;
use crate::passwords::{request_reset, reset, reset_code, sign_in};
use crate::support::{Backend, Institution, Reply, TestApp, spawn};
use hub_kernel::Pii;
use hub_tenant::Principal;
use hub_tenant::personal_data::{DataSubject, Outcome, sources};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

both_backends!(
    promise_c6_consent_is_granted_and_withdrawn_at_once_and_the_outbox_asks_the_gate,
    promise_c6_a_gpc_signal_is_recorded_as_an_opt_out_of_sale_and_sharing,
    promise_c6_an_in_app_marketing_message_asks_the_gate_when_queued,
    promise_u9_the_person_sees_and_changes_consent_and_cookie_choices_from_their_account,
    promise_u8_a_new_policy_version_blocks_its_new_purpose_until_accepted_and_notifies,
    promise_a3_a_service_is_refused_until_its_notice_is_accepted,
    promise_r5_restriction_refuses_every_purpose_but_essential_and_stays_in_its_tenant,
    promise_c9_data_kept_for_a_legal_obligation_is_marked,
    promise_r5_the_consent_source_exports_and_erases_one_persons_ledger
);

const PASSWORD: &str = "meadow-kettle-orbit-42";

/// A person of the institution with a live session: `(id, token)`.
async fn person(app: &TestApp, inst: &Institution, email: &str) -> (String, String) {
    let created = app
        .post(
            "/v1/people",
            &inst.admin_token,
            json!({"name": "Ada Learner", "email": email, "roles": ["learner"]}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_string();
    request_reset(app, &inst.slug, email).await;
    let code = reset_code(app, inst, &id).await;
    let done = reset(app, &inst.slug, &code, PASSWORD).await;
    assert_eq!(done.status, StatusCode::NO_CONTENT, "{}", done.body);
    let signed_in = sign_in(app, &inst.slug, email, PASSWORD).await;
    assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.body);
    let token = signed_in.body["session_token"]
        .as_str()
        .unwrap()
        .to_string();
    (id, token)
}

async fn institution_with_person(app: &TestApp, slug: &str) -> (Institution, String, String) {
    let inst = app.create_institution(slug).await;
    app.allow_local_accounts(&inst.admin_token).await;
    let (id, token) = person(app, &inst, &format!("ada@{slug}.example")).await;
    (inst, id, token)
}

async fn put_consents(app: &TestApp, token: &str, body: Value, headers: &[(&str, &str)]) -> Reply {
    app.call_with(
        Method::PUT,
        "/v1/me/consents",
        Some(token),
        Some(body),
        headers,
    )
    .await
}

async fn choose(app: &TestApp, token: &str, choices: &[(&str, bool)]) -> Value {
    let choices: Vec<Value> = choices
        .iter()
        .map(|(p, g)| json!({"purpose": p, "granted": g}))
        .collect();
    let reply = put_consents(app, token, json!({ "choices": choices }), &[]).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body
}

/// The gate's answer for one purpose, from a ledger view.
fn decision(ledger: &Value, purpose: &str) -> (bool, String) {
    let state = ledger["purposes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["purpose"] == purpose)
        .unwrap_or_else(|| panic!("no purpose {purpose} in {ledger}"));
    (
        state["decision"]["allowed"].as_bool().unwrap(),
        state["decision"]["reason"].as_str().unwrap().to_string(),
    )
}

async fn my_ledger(app: &TestApp, token: &str) -> Value {
    let reply = app.get("/v1/me/consents", token).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body
}

async fn queue_marketing(app: &TestApp, inst: &Institution, person_id: &str) -> String {
    let reply = app
        .post(
            "/v1/messaging/marketing-messages",
            &inst.admin_token,
            json!({"person_id": person_id, "subject": "Spring courses", "text": "Enrol now."}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
    reply.body["id"].as_str().unwrap().to_string()
}

/// Runs delivery (as the background job does) until the message is sent or dead; returns
/// `(status, last_error)`.
async fn delivered(app: &TestApp, inst: &Institution, message: &str) -> (String, Value) {
    for _ in 0..20 {
        app.state.identity.deliver_due_mail().await.unwrap();
        let list = app
            .get("/v1/messaging/deliveries?limit=200", &inst.admin_token)
            .await;
        assert_eq!(list.status, StatusCode::OK, "{}", list.body);
        let item = list.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == message)
            .cloned()
            .expect("the message is listed");
        let status = item["status"].as_str().unwrap().to_string();
        if status == "sent" || status == "dead" {
            assert_eq!(item["purpose"], "marketing");
            return (status, item["last_error"].clone());
        }
    }
    panic!("message {message} was never finished");
}

async fn promise_c6_consent_is_granted_and_withdrawn_at_once_and_the_outbox_asks_the_gate(
    backend: Backend,
) {
    let app = spawn(backend).await;
    let (north, ada, token) = institution_with_person(&app, "north").await;

    // Nothing recorded: marketing is refused, essential always allowed.
    let ledger = my_ledger(&app, &token).await;
    assert_eq!(decision(&ledger, "essential"), (true, "essential".into()));
    assert_eq!(decision(&ledger, "marketing"), (false, "no_consent".into()));
    let first = queue_marketing(&app, &north, &ada).await;
    assert_eq!(
        delivered(&app, &north, &first).await,
        ("dead".into(), json!("no_marketing_consent: no_consent"))
    );

    // Granted: the gate allows it and the next message goes out.
    let ledger = choose(&app, &token, &[("marketing", true)]).await;
    assert_eq!(
        decision(&ledger, "marketing"),
        (true, "consent_granted".into())
    );
    let second = queue_marketing(&app, &north, &ada).await;
    assert_eq!(delivered(&app, &north, &second).await.0, "sent");

    // Withdrawn after a message was queued: that message is not sent.
    let queued = queue_marketing(&app, &north, &ada).await;
    let ledger = choose(&app, &token, &[("marketing", false)]).await;
    assert_eq!(
        decision(&ledger, "marketing"),
        (false, "consent_withdrawn".into())
    );
    assert_eq!(
        delivered(&app, &north, &queued).await,
        (
            "dead".into(),
            json!("no_marketing_consent: consent_withdrawn")
        )
    );
    // Held-back marketing never appears among the person's messages.
    let messages = app.get("/v1/me/messages", &token).await;
    let marketing: Vec<&Value> = messages.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["kind"] == "marketing")
        .collect();
    assert_eq!(marketing.len(), 1, "{}", messages.body);

    // Essential is not consentable: 422, nothing recorded.
    let before = my_ledger(&app, &token).await["history"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(before, 2);
    let refused = put_consents(
        &app,
        &token,
        json!({"choices": [{"purpose": "essential", "granted": false}]}),
        &[],
    )
    .await;
    refused.assert_problem(422, "purpose_not_consentable");
    assert_eq!(refused.error_fields(), vec!["choices[0].purpose"]);
    let twice = put_consents(
        &app,
        &token,
        json!({"choices": [{"purpose": "analytics", "granted": true},
                           {"purpose": "analytics", "granted": false}]}),
        &[],
    )
    .await;
    twice.assert_problem(422, "validation_failed");
    let after = my_ledger(&app, &token).await;
    assert_eq!(after["history"].as_array().unwrap().len(), before);
    for record in after["history"].as_array().unwrap() {
        assert_eq!(record["source"], "api");
        assert_eq!(record["recorded_by"], format!("person:{ada}"));
    }

    // An API key has no consent of its own.
    app.get("/v1/me/consents", &north.admin_token)
        .await
        .assert_problem(403, "person_credential_required");
}

/// A person without email gets messages in-app: delivered by being written, so the gate is
/// asked when the message is queued. Her consent comes from an import by the officer.
async fn promise_c6_an_in_app_marketing_message_asks_the_gate_when_queued(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let created = app
        .post(
            "/v1/people",
            &north.admin_token,
            json!({"name": "Bea Offline", "username": "bea", "roles": ["learner"]}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let bea = created.body["id"].as_str().unwrap().to_string();
    let status_of = |id: String| {
        let app = &app;
        let admin = north.admin_token.clone();
        async move {
            let list = app.get("/v1/messaging/deliveries?limit=200", &admin).await;
            let item = list.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|i| i["id"] == id.as_str())
                .cloned()
                .expect("listed");
            assert_eq!(item["channel"], "in_app");
            (item["status"].clone(), item["last_error"].clone())
        }
    };
    let refused = queue_marketing(&app, &north, &bea).await;
    assert_eq!(
        status_of(refused).await,
        (json!("dead"), json!("no_marketing_consent: no_consent"))
    );
    let imported = app
        .post(
            &format!("/v1/privacy/people/{bea}/consents"),
            &north.admin_token,
            json!({"choices": [{"purpose": "marketing", "granted": true,
                                "recorded_at": "2026-06-01T09:00:00Z"}]}),
        )
        .await;
    assert_eq!(imported.status, StatusCode::OK, "{}", imported.body);
    assert_eq!(
        decision(&imported.body, "marketing"),
        (true, "consent_granted".into())
    );
    let allowed = queue_marketing(&app, &north, &bea).await;
    assert_eq!(status_of(allowed).await, (json!("sent"), Value::Null));
}

async fn promise_c6_a_gpc_signal_is_recorded_as_an_opt_out_of_sale_and_sharing(backend: Backend) {
    let app = spawn(backend).await;
    let (north, ada, token) = institution_with_person(&app, "north").await;

    // The support resource is public.
    let gpc = app
        .call(Method::GET, "/.well-known/gpc.json", None, None)
        .await;
    assert_eq!(gpc.status, StatusCode::OK, "{}", gpc.body);
    assert_eq!(gpc.body, json!({"gpc": true, "lastUpdate": "2026-12-01"}));

    choose(
        &app,
        &token,
        &[
            ("marketing", true),
            ("integrations", true),
            ("analytics", true),
        ],
    )
    .await;
    // Any request of the signed-in person with the signal: marketing and integrations are
    // withdrawn with source gpc; analytics stays.
    let profile = app
        .call_with(
            Method::GET,
            "/v1/me/profile",
            Some(&token),
            None,
            &[("Sec-GPC", "1")],
        )
        .await;
    assert_eq!(profile.status, StatusCode::OK, "{}", profile.body);
    let ledger = my_ledger(&app, &token).await;
    assert_eq!(
        decision(&ledger, "marketing"),
        (false, "consent_withdrawn".into())
    );
    assert_eq!(
        decision(&ledger, "integrations"),
        (false, "consent_withdrawn".into())
    );
    assert_eq!(
        decision(&ledger, "analytics"),
        (true, "consent_granted".into())
    );
    let gpc_records: Vec<&Value> = ledger["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["source"] == "gpc")
        .collect();
    assert_eq!(gpc_records.len(), 2, "{ledger}");
    assert!(gpc_records.iter().all(|r| r["granted"] == false));
    // The outbox honours it.
    let message = queue_marketing(&app, &north, &ada).await;
    assert_eq!(delivered(&app, &north, &message).await.0, "dead");

    // Recorded once: the next signals find it recorded.
    app.call_with(
        Method::GET,
        "/v1/me/consents",
        Some(&token),
        None,
        &[("Sec-GPC", "1")],
    )
    .await;
    let count = my_ledger(&app, &token).await["history"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(count, 5);

    // A grant made knowingly with the signal stands against later signals.
    let granted = put_consents(
        &app,
        &token,
        json!({"choices": [{"purpose": "marketing", "granted": true}]}),
        &[("Sec-GPC", "1")],
    )
    .await;
    assert_eq!(granted.status, StatusCode::OK, "{}", granted.body);
    app.call_with(
        Method::GET,
        "/v1/me/profile",
        Some(&token),
        None,
        &[("Sec-GPC", "1")],
    )
    .await;
    let ledger = my_ledger(&app, &token).await;
    assert_eq!(
        decision(&ledger, "marketing"),
        (true, "consent_granted".into())
    );
    assert_eq!(ledger["history"].as_array().unwrap().len(), 6);
}

async fn promise_u9_the_person_sees_and_changes_consent_and_cookie_choices_from_their_account(
    backend: Backend,
) {
    let app = spawn(backend).await;
    let (_north, _ada, token) = institution_with_person(&app, "north").await;

    // The cookie categories, for the front end, without a credential.
    let categories = app
        .call(Method::GET, "/v1/privacy/cookie-categories", None, None)
        .await;
    assert_eq!(categories.status, StatusCode::OK, "{}", categories.body);
    let required: Vec<(String, bool)> = categories.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["purpose"].as_str().unwrap().to_string(),
                c["consent_required"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        required,
        vec![
            ("essential".to_string(), false),
            ("analytics".to_string(), true),
            ("personalisation".to_string(), true),
        ]
    );

    // The banner's choice is recorded in the ledger with its source.
    let banner = put_consents(
        &app,
        &token,
        json!({"source": "cookie_banner", "choices": [
            {"purpose": "analytics", "granted": true},
            {"purpose": "personalisation", "granted": false}]}),
        &[],
    )
    .await;
    assert_eq!(banner.status, StatusCode::OK, "{}", banner.body);
    assert_eq!(
        decision(&banner.body, "analytics"),
        (true, "consent_granted".into())
    );
    assert_eq!(
        decision(&banner.body, "personalisation"),
        (false, "consent_withdrawn".into())
    );
    assert!(
        banner.body["history"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["source"] == "cookie_banner")
    );
    // The banner decides cookie categories only.
    put_consents(
        &app,
        &token,
        json!({"source": "cookie_banner", "choices": [{"purpose": "marketing", "granted": true}]}),
        &[],
    )
    .await
    .assert_problem(422, "validation_failed");

    // The person sees every purpose, changes any of them, and the view says what changed.
    let ledger = choose(
        &app,
        &token,
        &[("analytics", false), ("integrations", true)],
    )
    .await;
    let purposes: Vec<&str> = ledger["purposes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["purpose"].as_str().unwrap())
        .collect();
    assert_eq!(
        purposes,
        vec![
            "essential",
            "analytics",
            "personalisation",
            "marketing",
            "integrations"
        ]
    );
    assert_eq!(
        decision(&ledger, "analytics"),
        (false, "consent_withdrawn".into())
    );
    assert_eq!(
        decision(&ledger, "integrations"),
        (true, "consent_granted".into())
    );
    assert_eq!(ledger["history"].as_array().unwrap().len(), 4);
    assert_eq!(ledger["restricted"], false);
    assert_eq!(ledger["purposes"][0]["consentable"], false);
}

async fn publish(app: &TestApp, inst: &Institution, body: Value) -> Value {
    let reply = app
        .post("/v1/privacy/policy-versions", &inst.admin_token, body)
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body
}

async fn accept(app: &TestApp, token: &str, version: i64) -> Reply {
    app.post(
        "/v1/me/policy-acceptances",
        token,
        json!({ "version": version }),
    )
    .await
}

async fn promise_u8_a_new_policy_version_blocks_its_new_purpose_until_accepted_and_notifies(
    backend: Backend,
) {
    let app = spawn(backend).await;
    let (north, ada, token) = institution_with_person(&app, "north").await;

    let first = publish(
        &app,
        &north,
        json!({"purposes": ["analytics"], "summary": "Our first policy."}),
    )
    .await;
    assert_eq!(first["version"]["version"], 1);
    assert_eq!(accept(&app, &token, 1).await.status, StatusCode::CREATED);
    let ledger = choose(&app, &token, &[("analytics", true), ("marketing", true)]).await;
    assert_eq!(
        decision(&ledger, "analytics"),
        (true, "consent_granted".into())
    );
    // Granted, but the policy does not list it.
    assert_eq!(
        decision(&ledger, "marketing"),
        (false, "not_in_policy".into())
    );
    assert_eq!(ledger["accepted_policy_version"], 1);

    // Version 2 adds marketing: everyone is told, and marketing stays blocked until Ada
    // accepts, though she granted it.
    let second = publish(
        &app,
        &north,
        json!({"purposes": ["analytics", "marketing"], "summary": "Adds marketing."}),
    )
    .await;
    assert_eq!(second["added_purposes"], json!(["marketing"]));
    assert_eq!(second["notified"], 1);
    let messages = app.get("/v1/me/messages", &token).await;
    let notice = messages.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| {
            m["kind"] == "privacy.policy_updated"
                && m["text"].as_str().unwrap().contains("version 2")
        })
        .unwrap_or_else(|| panic!("no policy notice in {}", messages.body));
    assert!(notice["text"].as_str().unwrap().contains("marketing"));
    let ledger = my_ledger(&app, &token).await;
    assert_eq!(
        decision(&ledger, "marketing"),
        (false, "policy_not_accepted".into())
    );
    assert_eq!(
        decision(&ledger, "analytics"),
        (true, "consent_granted".into())
    );
    assert_eq!(ledger["current_policy_version"], 2);
    let held = queue_marketing(&app, &north, &ada).await;
    assert_eq!(
        delivered(&app, &north, &held).await,
        (
            "dead".into(),
            json!("no_marketing_consent: policy_not_accepted")
        )
    );

    // An unknown version is refused; accepting version 2 unblocks marketing.
    accept(&app, &token, 99)
        .await
        .assert_problem(422, "validation_failed");
    let accepted = accept(&app, &token, 2).await;
    assert_eq!(accepted.status, StatusCode::CREATED, "{}", accepted.body);
    assert_eq!(accepted.body["version"], 2);
    let ledger = my_ledger(&app, &token).await;
    assert_eq!(
        decision(&ledger, "marketing"),
        (true, "consent_granted".into())
    );
    let sent = queue_marketing(&app, &north, &ada).await;
    assert_eq!(delivered(&app, &north, &sent).await.0, "sent");

    // Versions are listed for anyone of the institution; only a privacy officer publishes.
    let list = app.get("/v1/privacy/policy-versions", &token).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert_eq!(list.body["items"].as_array().unwrap().len(), 2);
    app.post(
        "/v1/privacy/policy-versions",
        &token,
        json!({"purposes": [], "summary": "Nothing."}),
    )
    .await
    .assert_problem(403, "insufficient_scope");
}

async fn promise_a3_a_service_is_refused_until_its_notice_is_accepted(backend: Backend) {
    let app = spawn(backend).await;
    let (north, _ada, token) = institution_with_person(&app, "north").await;
    let access = |service: &'static str| {
        let (app, token) = (&app, token.clone());
        async move {
            app.get(&format!("/v1/me/services/{service}/access"), &token)
                .await
        }
    };

    let first = publish(
        &app,
        &north,
        json!({"purposes": [], "summary": "Peer forums arrive.",
               "notices": [{"service": "peer_forums", "text": "Posts are visible to your course mates."}]}),
    )
    .await;
    assert_eq!(first["changed_notices"], json!(["peer_forums"]));
    // Not accepted yet: refused with a clear problem.
    let refused = access("peer_forums").await;
    refused.assert_problem(403, "notice_not_accepted");
    access("video_rooms")
        .await
        .assert_problem(404, "service_notice_not_found");

    assert_eq!(accept(&app, &token, 1).await.status, StatusCode::CREATED);
    let allowed = access("peer_forums").await;
    assert_eq!(allowed.status, StatusCode::OK, "{}", allowed.body);
    assert_eq!(allowed.body["allowed"], true);
    assert_eq!(allowed.body["notice_version"], 1);

    // A version that keeps the notice keeps the access; one that changes it asks again.
    publish(
        &app,
        &north,
        json!({"purposes": [], "summary": "Same forums.",
               "notices": [{"service": "peer_forums", "text": "Posts are visible to your course mates."}]}),
    )
    .await;
    assert_eq!(access("peer_forums").await.status, StatusCode::OK);
    publish(
        &app,
        &north,
        json!({"purposes": [], "summary": "Forums are public now.",
               "notices": [{"service": "peer_forums", "text": "Posts are visible to everyone."}]}),
    )
    .await;
    access("peer_forums")
        .await
        .assert_problem(403, "notice_not_accepted");
    assert_eq!(accept(&app, &token, 3).await.status, StatusCode::CREATED);
    assert_eq!(access("peer_forums").await.status, StatusCode::OK);

    // A bad service name in a notice is refused, nothing published.
    let bad = app
        .post(
            "/v1/privacy/policy-versions",
            &north.admin_token,
            json!({"purposes": [], "summary": "x",
                   "notices": [{"service": "Peer Forums!", "text": "x"}]}),
        )
        .await;
    bad.assert_problem(422, "validation_failed");
    let list = app.get("/v1/privacy/policy-versions", &token).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 3);
}

async fn promise_r5_restriction_refuses_every_purpose_but_essential_and_stays_in_its_tenant(
    backend: Backend,
) {
    let app = spawn(backend).await;
    let (north, ada, token) = institution_with_person(&app, "north").await;
    let south = app.create_institution("south").await;
    choose(
        &app,
        &token,
        &[
            ("analytics", true),
            ("personalisation", true),
            ("marketing", true),
            ("integrations", true),
        ],
    )
    .await;

    let restriction = format!("/v1/privacy/people/{ada}/restriction");
    let set = |restricted: bool, key: String| {
        let (app, path) = (&app, restriction.clone());
        async move {
            app.call(
                Method::PUT,
                &path,
                Some(&key),
                Some(json!({ "restricted": restricted })),
            )
            .await
        }
    };
    let frozen = set(true, north.admin_token.clone()).await;
    assert_eq!(frozen.status, StatusCode::OK, "{}", frozen.body);
    let ledger = my_ledger(&app, &token).await;
    assert_eq!(ledger["restricted"], true);
    for purpose in ["analytics", "personalisation", "marketing", "integrations"] {
        assert_eq!(decision(&ledger, purpose), (false, "restricted".into()));
    }
    assert_eq!(decision(&ledger, "essential"), (true, "essential".into()));
    let held = queue_marketing(&app, &north, &ada).await;
    assert_eq!(
        delivered(&app, &north, &held).await,
        ("dead".into(), json!("no_marketing_consent: restricted"))
    );

    // Essential mail still goes: a reset code is sent while she is restricted.
    request_reset(&app, &north.slug, "ada@north.example").await;
    let mut reset_status = String::new();
    for _ in 0..20 {
        app.state.identity.deliver_due_mail().await.unwrap();
        let list = app
            .get("/v1/messaging/deliveries?limit=200", &north.admin_token)
            .await;
        let newest_reset = list.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["kind"] == "password_reset")
            .cloned()
            .expect("a reset message");
        assert_eq!(newest_reset["purpose"], "essential");
        reset_status = newest_reset["status"].as_str().unwrap().to_string();
        if reset_status == "sent" || reset_status == "dead" {
            break;
        }
    }
    assert_eq!(reset_status, "sent");

    // Another institution's privacy officer cannot see, freeze or import for her.
    let foreign = format!("/v1/privacy/people/{ada}/consents");
    app.get(&foreign, &south.admin_token)
        .await
        .assert_problem(404, "person_not_found");
    set(false, south.admin_token.clone())
        .await
        .assert_problem(404, "person_not_found");
    app.post(
        &foreign,
        &south.admin_token,
        json!({"choices": [{"purpose": "marketing", "granted": false,
                            "recorded_at": "2026-01-01T00:00:00Z"}]}),
    )
    .await
    .assert_problem(404, "person_not_found");
    // The person cannot lift it herself.
    set(false, token.clone())
        .await
        .assert_problem(403, "insufficient_scope");
    assert_eq!(my_ledger(&app, &token).await["restricted"], true);

    // Resumed: her grants count again.
    let resumed = set(false, north.admin_token.clone()).await;
    assert_eq!(resumed.status, StatusCode::OK, "{}", resumed.body);
    let ledger = my_ledger(&app, &token).await;
    assert_eq!(
        decision(&ledger, "marketing"),
        (true, "consent_granted".into())
    );

    // Her own officer reads her ledger and imports earlier choices (source import, their
    // own time); a future time is refused.
    let officer_view = app.get(&foreign, &north.admin_token).await;
    assert_eq!(officer_view.status, StatusCode::OK, "{}", officer_view.body);
    assert_eq!(officer_view.body["history"].as_array().unwrap().len(), 4);
    let imported = app
        .post(
            &foreign,
            &north.admin_token,
            json!({"choices": [{"purpose": "marketing", "granted": false,
                                "recorded_at": "2026-01-01T00:00:00Z"}]}),
        )
        .await;
    assert_eq!(imported.status, StatusCode::OK, "{}", imported.body);
    let first = &imported.body["history"][0];
    assert_eq!(first["source"], "import");
    assert!(
        first["recorded_at"]
            .as_str()
            .unwrap()
            .starts_with("2026-01-01T00:00:00"),
        "{first}"
    );
    // Older than her own grant: the grant is still her current choice.
    assert_eq!(
        decision(&imported.body, "marketing"),
        (true, "consent_granted".into())
    );
    app.post(
        &foreign,
        &north.admin_token,
        json!({"choices": [{"purpose": "marketing", "granted": false,
                            "recorded_at": "2999-01-01T00:00:00Z"}]}),
    )
    .await
    .assert_problem(422, "validation_failed");
}

async fn promise_c9_data_kept_for_a_legal_obligation_is_marked(backend: Backend) {
    let app = spawn(backend).await;
    let (north, _ada, token) = institution_with_person(&app, "north").await;

    let map = app.get("/v1/privacy/data-map", &north.admin_token).await;
    assert_eq!(map.status, StatusCode::OK, "{}", map.body);
    let mut legal = Vec::new();
    for source in map.body["sources"].as_array().unwrap() {
        for field in source["fields"].as_array().unwrap() {
            assert_eq!(
                field["legal_obligation"].as_bool().unwrap(),
                field["purpose"] == "legal_obligation",
                "{field}"
            );
            if field["legal_obligation"] == true {
                legal.push(format!(
                    "{}.{}",
                    field["table"].as_str().unwrap(),
                    field["column"].as_str().unwrap()
                ));
            }
        }
    }
    assert!(
        legal.contains(&"people.birth_date".to_string()),
        "{legal:?}"
    );
    // The consent source is in the map too.
    assert!(
        map.body["sources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == "consent")
    );

    // The person's consent view names the same data: kept whatever consent says.
    let ledger = my_ledger(&app, &token).await;
    let mut marked: Vec<String> = ledger["legal_obligation"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            assert_eq!(f["legal_obligation"], true);
            format!(
                "{}.{}",
                f["table"].as_str().unwrap(),
                f["column"].as_str().unwrap()
            )
        })
        .collect();
    marked.sort();
    legal.sort();
    assert_eq!(marked, legal);
}

/// The ledger is the person's personal data: the `consent` source counts, exports and
/// erases it (records, acceptances, restriction) for one person, and restricts through the
/// same freeze the gate honours.
async fn promise_r5_the_consent_source_exports_and_erases_one_persons_ledger(backend: Backend) {
    let app = spawn(backend).await;
    let (north, ada, ada_token) = institution_with_person(&app, "north").await;
    let (grace, grace_token) = person(&app, &north, "grace@north.example").await;
    publish(
        &app,
        &north,
        json!({"purposes": ["analytics", "marketing"], "summary": "First."}),
    )
    .await;
    for token in [&ada_token, &grace_token] {
        choose(&app, token, &[("analytics", true), ("marketing", true)]).await;
        assert_eq!(accept(&app, token, 1).await.status, StatusCode::CREATED);
    }
    let Principal::Tenant(principal) = app
        .state
        .tenancy
        .authenticate(&north.admin_token)
        .await
        .unwrap()
    else {
        panic!("not a tenant key");
    };
    let source = sources()
        .into_iter()
        .find(|s| s.name() == "consent")
        .expect("the consent source is registered");
    let subject = DataSubject::person(
        ada.parse().unwrap(),
        vec![Pii::new("ada@north.example".into())],
    );

    // Restrict through the source: the gate refuses at once.
    let scope = app.state.tenancy.scope(&principal).await.unwrap();
    assert_eq!(
        source.restrict(&scope, &subject, true).await.unwrap(),
        Outcome::Restricted {
            records: 1,
            restricted: true
        }
    );
    scope.commit().await.unwrap();
    assert_eq!(
        decision(&my_ledger(&app, &ada_token).await, "marketing"),
        (false, "restricted".into())
    );

    let scope = app.state.tenancy.scope(&principal).await.unwrap();
    // Two records, one acceptance, one restriction.
    assert_eq!(source.summary(&scope, &subject).await.unwrap().records, 4);
    let exported = json!(source.export(&scope, &subject).await.unwrap());
    let kinds: Vec<&str> = exported
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        vec![
            "consent_record",
            "consent_record",
            "policy_acceptance",
            "processing_restriction"
        ]
    );
    assert!(!exported.to_string().contains(&grace), "{exported}");
    assert_eq!(
        source.erase(&scope, &subject).await.unwrap(),
        Outcome::Deleted { records: 4 }
    );
    // Idempotent.
    assert_eq!(
        source.erase(&scope, &subject).await.unwrap(),
        Outcome::Deleted { records: 0 }
    );
    scope.commit().await.unwrap();

    let erased = my_ledger(&app, &ada_token).await;
    assert!(erased["history"].as_array().unwrap().is_empty(), "{erased}");
    assert_eq!(erased["restricted"], false);
    assert!(erased["accepted_policy_version"].is_null());
    // Grace's ledger is intact.
    let kept = my_ledger(&app, &grace_token).await;
    assert_eq!(kept["history"].as_array().unwrap().len(), 2);
    assert_eq!(
        decision(&kept, "marketing"),
        (true, "consent_granted".into())
    );
}
