//! Data-subject requests (issue 10, item 2) through the public API: made by the person or on
//! their behalf (verified by a one-time code), decided by a privacy officer who is not the
//! requester, clocked per jurisdiction (paused while verification is pending), run as one
//! task per personal-data source with per-task retry, an erasure completing only after the
//! completeness scan, with a receipt and no identity kept beyond it.

use crate::both_backends;
use crate::passwords;
use crate::support::{
    Backend, Institution, Reply, TestApp, spawn, spawn_on_same_storage, spawn_with,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

both_backends!(
    promise_r6_a_request_on_a_persons_behalf_is_verified_by_a_one_time_code,
    promise_r6_nobody_decides_their_own_request_and_decisions_are_audited,
    promise_l1_the_clock_pauses_while_unverified_and_extends_by_jurisdiction,
    promise_r6_overdue_and_soon_due_requests_are_listed,
    promise_r7_every_right_is_accepted_whatever_the_jurisdiction,
    promise_r1_an_access_request_summarises_every_source_with_counts,
    promise_r4_an_export_request_bundles_every_source_as_json,
    promise_r3_an_erasure_runs_every_source_passes_the_scan_and_keeps_no_identity,
    promise_r3_a_failed_task_is_retried_alone_and_a_switched_off_source_is_skipped,
    promise_r3_a_restriction_freezes_every_source,
    another_institutions_person_or_request_is_not_found,
    promise_r3_an_erasure_killed_midway_is_resumed_by_another_process_and_finishes,
    promise_r3_an_erasure_keeps_what_a_legal_hold_covers_and_says_so,
    promise_l1_a_request_naming_no_jurisdiction_gets_the_institutions_default,
    promise_r6_officers_are_alerted_once_per_request_when_due_soon_and_when_overdue,
    promise_r3_the_erasure_receipt_arrives_by_email_and_the_address_is_then_forgotten,
    promise_r3_people_who_asked_or_decided_themselves_are_erased_from_the_requests_too,
    promise_r3_no_request_about_a_person_is_made_or_decided_once_their_erasure_started,
    promise_r5_an_objection_withdraws_its_purposes_marketing_at_once_the_rest_on_approval,
    promise_r2_an_approved_rectification_corrects_the_email_the_person_cannot_edit,
    purposes_and_corrections_only_on_their_own_kinds_and_nothing_is_stored_otherwise,
    promise_l1_a_request_gets_the_jurisdiction_on_the_persons_profile,
    promise_r1_the_access_summary_counts_what_the_schema_scan_finds,
);

/// A person of `inst` signed in with a local account: `(person id, session token)`.
pub(crate) async fn signed_in(
    app: &TestApp,
    inst: &Institution,
    username: &str,
    roles: &[&str],
) -> (String, String) {
    let admin = inst.admin_token.as_str();
    let slug = inst.slug.as_str();
    let email = format!("{username}@{slug}.test");
    let person = app
        .post(
            "/v1/people",
            admin,
            json!({"name": format!("{username} person"), "username": username,
                   "email": email, "roles": roles}),
        )
        .await;
    assert_eq!(person.status, StatusCode::CREATED, "{}", person.body);
    let id = person.body["id"].as_str().unwrap().to_string();
    app.allow_local_accounts(admin).await;
    passwords::request_reset(app, slug, &email).await;
    let code = passwords::reset_code(app, inst, &id).await;
    let password = "meadow-kettle-orbit-42";
    let reset = passwords::reset(app, slug, &code, password).await;
    assert_eq!(reset.status, StatusCode::NO_CONTENT, "{}", reset.body);
    let signed = passwords::sign_in(app, slug, username, password).await;
    assert_eq!(signed.status, StatusCode::OK, "{}", signed.body);
    (
        id,
        signed.body["session_token"].as_str().unwrap().to_string(),
    )
}

/// A person without an account: their id.
pub(crate) async fn person(app: &TestApp, inst: &Institution, username: &str) -> String {
    let reply = app
        .post(
            "/v1/people",
            &inst.admin_token,
            json!({"name": format!("{username} person"), "username": username,
                   "email": format!("{username}@{}.test", inst.slug), "roles": ["learner"]}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body["id"].as_str().unwrap().to_string()
}

/// The newest verification code sent to the person.
pub(crate) async fn code_sent(app: &TestApp, inst: &Institution, person_id: &str) -> String {
    let messages = passwords::outbox_of(app, inst, person_id).await;
    let (_, text) = messages
        .iter()
        .rev()
        .find(|(kind, _)| kind == "privacy.verification_code")
        .expect("a verification code in the outbox")
        .clone();
    text.split("hours: ").nth(1).unwrap()[..8].to_string()
}

/// Confirms a request made on `person_id`'s behalf with the code mailed to them.
pub(crate) async fn verify_with_code(
    app: &TestApp,
    inst: &Institution,
    token: &str,
    person_id: &str,
    request_id: &str,
) {
    let code = code_sent(app, inst, person_id).await;
    let ok = app
        .post(
            &format!("/v1/privacy-requests/{request_id}/verification"),
            token,
            json!({"code": code}),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
}

async fn on_behalf(app: &TestApp, token: &str, person_id: &str, kind: &str, j: &str) -> Reply {
    app.post(
        "/v1/privacy-requests",
        token,
        json!({"person_id": person_id, "kind": kind, "jurisdiction": j}),
    )
    .await
}

pub(crate) async fn decide(app: &TestApp, token: &str, id: &str, decision: &str) -> Reply {
    app.post(
        &format!("/v1/privacy-requests/{id}/decision"),
        token,
        json!({"decision": decision, "reason": "Checked against the records."}),
    )
    .await
}

/// A request made on the person's behalf, verified with the code sent to them.
pub(crate) async fn verified(
    app: &TestApp,
    inst: &Institution,
    person_id: &str,
    kind: &str,
) -> String {
    let admin = inst.admin_token.as_str();
    let made = on_behalf(app, admin, person_id, kind, "eu").await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let id = made.body["id"].as_str().unwrap().to_string();
    verify_with_code(app, inst, admin, person_id, &id).await;
    id
}

/// Polls a request until it leaves the running states (bounded: about ten seconds).
pub(crate) async fn settled(app: &TestApp, token: &str, id: &str) -> Value {
    for _ in 0..200 {
        let reply = app.get(&format!("/v1/privacy-requests/{id}"), token).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        if !["approved", "in_progress"].contains(&reply.body["status"].as_str().unwrap()) {
            return reply.body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("request {id} still running after about ten seconds");
}

pub(crate) fn task<'a>(request: &'a Value, source: &str) -> &'a Value {
    request["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["source"] == source)
        .unwrap_or_else(|| panic!("no {source} task in {request}"))
}

async fn source_names(app: &TestApp, token: &str) -> Vec<String> {
    let map = app.get("/v1/privacy/data-map", token).await;
    assert_eq!(map.status, StatusCode::OK, "{}", map.body);
    map.body["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect()
}

async fn promise_r6_a_request_on_a_persons_behalf_is_verified_by_a_one_time_code(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let ada = person(&app, &north, "ada").await;
    let made = on_behalf(&app, admin, &ada, "access", "eu").await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    assert_eq!(made.body["status"], "identity_unverified");
    assert_eq!(made.body["on_behalf"], true);
    assert_eq!(made.body["clock"]["paused"], true);
    let id = made.body["id"].as_str().unwrap().to_string();
    let path = format!("/v1/privacy-requests/{id}/verification");
    let code = code_sent(&app, &north, &ada).await;
    // Nobody can decide it before it is verified.
    decide(&app, admin, &id, "approve")
        .await
        .assert_problem(409, "request_not_pending_approval");
    // A forged code is refused and changes nothing but the attempt count.
    let forged = if code == "00000000" {
        "11111111"
    } else {
        "00000000"
    };
    app.post(&path, admin, json!({"code": forged}))
        .await
        .assert_problem(422, "verification_code_invalid");
    let still = app.get(&format!("/v1/privacy-requests/{id}"), admin).await;
    assert_eq!(still.body["status"], "identity_unverified");
    // The right code verifies it, once.
    let ok = app.post(&path, admin, json!({"code": code})).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(ok.body["status"], "pending_approval");
    assert!(ok.body["verified_at"].is_string());
    app.post(&path, admin, json!({"code": code}))
        .await
        .assert_problem(409, "request_already_verified");

    // An expired code (25 hours later) is refused.
    let made = on_behalf(&app, admin, &ada, "export", "uk").await;
    let late = made.body["id"].as_str().unwrap().to_string();
    let code = code_sent(&app, &north, &ada).await;
    app.state.privacy.advance_clock(chrono::Duration::hours(25));
    app.post(
        &format!("/v1/privacy-requests/{late}/verification"),
        admin,
        json!({"code": code}),
    )
    .await
    .assert_problem(422, "verification_code_expired");

    // Attempts are bounded: after five wrong codes even the right one is refused.
    let made = on_behalf(&app, admin, &ada, "restriction", "other").await;
    let guessed = made.body["id"].as_str().unwrap().to_string();
    let code = code_sent(&app, &north, &ada).await;
    let path = format!("/v1/privacy-requests/{guessed}/verification");
    let wrong = if code == "00000000" {
        "11111111"
    } else {
        "00000000"
    };
    for _ in 0..5 {
        app.post(&path, admin, json!({"code": wrong}))
            .await
            .assert_problem(422, "verification_code_invalid");
    }
    app.post(&path, admin, json!({"code": code}))
        .await
        .assert_problem(422, "verification_code_exhausted");
    let reply = app
        .post(&path, admin, json!({"code": "x", "extra": 1}))
        .await;
    assert_eq!(reply.status.as_u16() / 100, 4, "{}", reply.body);
}

async fn promise_r6_nobody_decides_their_own_request_and_decisions_are_audited(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let (_, officer) = signed_in(&app, &north, "olive", &["privacy_officer"]).await;
    // The officer's own request: a session verifies it, so it waits for a decision.
    let own = app
        .post(
            "/v1/me/privacy-requests",
            &officer,
            json!({"kind": "objection", "purposes": ["personalisation"],
                   "details": "No profiling for recommendations."}),
        )
        .await;
    assert_eq!(own.status, StatusCode::CREATED, "{}", own.body);
    assert_eq!(own.body["status"], "pending_approval");
    assert_eq!(own.body["on_behalf"], false);
    let id = own.body["id"].as_str().unwrap().to_string();
    decide(&app, &officer, &id, "approve")
        .await
        .assert_problem(403, "own_request_decision");
    let unchanged = app.get(&format!("/v1/privacy-requests/{id}"), admin).await;
    assert_eq!(unchanged.body["status"], "pending_approval");
    // Someone else decides it; a decision needs a reason.
    let reply = app
        .post(
            &format!("/v1/privacy-requests/{id}/decision"),
            admin,
            json!({"decision": "deny", "reason": "  "}),
        )
        .await;
    reply.assert_problem(422, "validation_failed");
    let denied = decide(&app, admin, &id, "deny").await;
    assert_eq!(denied.status, StatusCode::OK, "{}", denied.body);
    assert_eq!(denied.body["status"], "denied");
    assert_eq!(
        denied.body["decision_reason"],
        "Checked against the records."
    );
    decide(&app, admin, &id, "approve")
        .await
        .assert_problem(409, "request_not_pending_approval");
    // The officer sees it among their own, with its outcome.
    let mine = app.get("/v1/me/privacy-requests", &officer).await;
    assert_eq!(mine.status, StatusCode::OK, "{}", mine.body);
    assert_eq!(mine.body["items"][0]["status"], "denied");
    // An API key has no requests of its own.
    app.get("/v1/me/privacy-requests", admin)
        .await
        .assert_problem(403, "person_credential_required");
    // A learner may not decide others' requests.
    let (_, learner) = signed_in(&app, &north, "lee", &["learner"]).await;
    let theirs = on_behalf(
        &app,
        admin,
        &person(&app, &north, "ada").await,
        "access",
        "eu",
    )
    .await;
    let reply = decide(
        &app,
        &learner,
        theirs.body["id"].as_str().unwrap(),
        "approve",
    )
    .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.body);
    // Both the submission and the decision are in the audit trail.
    for action in ["privacy_request.submitted", "privacy_request.denied"] {
        let audit = app
            .get(&format!("/v1/audit/events?action={action}"), admin)
            .await;
        assert_eq!(audit.status, StatusCode::OK, "{}", audit.body);
        assert!(
            !audit.body["items"].as_array().unwrap().is_empty(),
            "{action}"
        );
    }
}

async fn promise_l1_the_clock_pauses_while_unverified_and_extends_by_jurisdiction(
    backend: Backend,
) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let ada = person(&app, &north, "ada").await;
    let made = on_behalf(&app, admin, &ada, "access", "eu").await;
    let id = made.body["id"].as_str().unwrap().to_string();
    let received: chrono::DateTime<chrono::Utc> =
        made.body["received_at"].as_str().unwrap().parse().unwrap();
    let due = |body: &Value| -> chrono::DateTime<chrono::Utc> {
        body["clock"]["due_at"].as_str().unwrap().parse().unwrap()
    };
    let paused_due = due(&made.body) - (received + chrono::Duration::days(30));
    assert!(paused_due < chrono::Duration::minutes(1), "{paused_due}");
    // Verification takes twenty hours: the due date moves by twenty hours.
    let code = code_sent(&app, &north, &ada).await;
    app.state.privacy.advance_clock(chrono::Duration::hours(20));
    let ok = app
        .post(
            &format!("/v1/privacy-requests/{id}/verification"),
            admin,
            json!({"code": code}),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    let resumed = due(&ok.body);
    let paused_for = resumed - (received + chrono::Duration::days(30));
    assert!(
        paused_for >= chrono::Duration::hours(20)
            && paused_for < chrono::Duration::hours(20) + chrono::Duration::minutes(1),
        "{paused_for}"
    );
    assert_eq!(ok.body["clock"]["paused"], false);
    // GDPR: up to two further months, the reason told to the person.
    let extension = format!("/v1/privacy-requests/{id}/extension");
    let extend = |days: u32| {
        app.post(
            &extension,
            admin,
            json!({"days": days, "reason": "Records are held by several departments."}),
        )
    };
    extend(61).await.assert_problem(422, "validation_failed");
    let extended = extend(40).await;
    assert_eq!(extended.status, StatusCode::OK, "{}", extended.body);
    assert_eq!(due(&extended.body), resumed + chrono::Duration::days(40));
    assert_eq!(extended.body["clock"]["extension_days_left"], 20);
    assert_eq!(
        extended.body["extension_reason"],
        "Records are held by several departments."
    );
    extend(21).await.assert_problem(422, "validation_failed");
    let told = passwords::outbox_of(&app, &north, &ada).await;
    assert!(
        told.iter()
            .any(|(kind, text)| kind == "privacy.request_extended"
                && text.contains("several departments")),
        "{told:?}"
    );
    // CCPA: 45 days by law, but our 30 is stricter; one further 45 days.
    let ca = app
        .post(
            "/v1/me/privacy-requests",
            &signed_in(&app, &north, "cal", &["learner"]).await.1,
            json!({"kind": "erasure", "jurisdiction": "us_ca"}),
        )
        .await;
    assert_eq!(ca.status, StatusCode::CREATED, "{}", ca.body);
    let ca_received: chrono::DateTime<chrono::Utc> =
        ca.body["received_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(due(&ca.body), ca_received + chrono::Duration::days(30));
    assert_eq!(ca.body["clock"]["extension_days_left"], 45);
    let ca_id = ca.body["id"].as_str().unwrap();
    let reply = app
        .post(
            &format!("/v1/privacy-requests/{ca_id}/extension"),
            admin,
            json!({"days": 46, "reason": "Complex."}),
        )
        .await;
    reply.assert_problem(422, "validation_failed");
    // No jurisdiction's law: no extension.
    let other = on_behalf(&app, admin, &ada, "export", "other").await;
    assert_eq!(other.body["jurisdiction"], "other");
    assert_eq!(other.body["clock"]["extension_days_left"], 0);
    let default = app
        .post(
            "/v1/privacy-requests",
            admin,
            json!({"person_id": ada, "kind": "access"}),
        )
        .await;
    assert_eq!(default.body["jurisdiction"], "other", "{}", default.body);
}

async fn promise_r6_overdue_and_soon_due_requests_are_listed(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let ada = person(&app, &north, "ada").await;
    let first = verified(&app, &north, &ada, "access").await;
    let unverified = on_behalf(&app, admin, &ada, "export", "eu").await;
    let unverified = unverified.body["id"].as_str().unwrap().to_string();
    let ids = |reply: &Reply| -> Vec<String> {
        reply.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(ids(&app.get("/v1/privacy-requests?clock=overdue", admin).await).is_empty());
    // 25 days on: due within a week.
    app.state.privacy.advance_clock(chrono::Duration::days(25));
    let soon = app.get("/v1/privacy-requests?clock=due_soon", admin).await;
    assert_eq!(soon.status, StatusCode::OK, "{}", soon.body);
    assert_eq!(ids(&soon), vec![first.clone()]);
    assert_eq!(soon.body["items"][0]["clock"]["due_soon"], true);
    // 31 days on: overdue. The unverified one's clock is paused: in neither list.
    app.state.privacy.advance_clock(chrono::Duration::days(6));
    let overdue = app.get("/v1/privacy-requests?clock=overdue", admin).await;
    assert_eq!(ids(&overdue), vec![first.clone()]);
    assert_eq!(overdue.body["items"][0]["clock"]["overdue"], true);
    assert!(!ids(&overdue).contains(&unverified));
    let before = (chrono::Utc::now() + chrono::Duration::days(40)).to_rfc3339();
    let due = app
        .get(
            &format!(
                "/v1/privacy-requests?due_before={}",
                before.replace('+', "%2B")
            ),
            admin,
        )
        .await;
    assert_eq!(due.status, StatusCode::OK, "{}", due.body);
    assert_eq!(ids(&due), vec![first.clone()]);
    // Filters and pagination.
    let all = app.get("/v1/privacy-requests?limit=1", admin).await;
    assert_eq!(ids(&all), vec![first.clone()]);
    let cursor = all.body["next_cursor"].as_str().unwrap();
    let next = app
        .get(
            &format!("/v1/privacy-requests?limit=1&cursor={cursor}"),
            admin,
        )
        .await;
    assert_eq!(ids(&next), vec![unverified.clone()]);
    let by_status = app
        .get(
            "/v1/privacy-requests?status=identity_unverified&kind=export",
            admin,
        )
        .await;
    assert_eq!(ids(&by_status), [unverified]);
    let reply = app.get("/v1/privacy-requests?clock=someday", admin).await;
    assert_eq!(reply.status.as_u16() / 100, 4, "{}", reply.body);
}

async fn promise_r7_every_right_is_accepted_whatever_the_jurisdiction(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let (_, token) = signed_in(&app, &north, "ada", &["learner"]).await;
    let profile = "/v1/me/profile";
    for jurisdiction in ["eu", "uk", "us_ca", "other"] {
        // Wherever the person lives (their profile's law), the consent rights (R5) are the
        // same: a consent given from the account counts at once, and an objection to direct
        // marketing withdraws it at once.
        let moved = patch_record(
            &app,
            profile,
            profile,
            &token,
            json!({"jurisdiction": jurisdiction}),
        )
        .await;
        assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
        grant(&app, &token, "marketing").await;
        assert!(gate(&app, &token, "marketing").await.0, "{jurisdiction}");
        for kind in [
            "access",
            "export",
            "rectification",
            "restriction",
            "objection",
        ] {
            let mut body = json!({"kind": kind, "jurisdiction": jurisdiction});
            if kind == "objection" {
                body["purposes"] = json!(["marketing"]);
            }
            let reply = app.post("/v1/me/privacy-requests", &token, body).await;
            assert_eq!(
                reply.status,
                StatusCode::CREATED,
                "{kind} {jurisdiction}: {}",
                reply.body
            );
            assert_eq!(reply.body["status"], "pending_approval");
            assert_eq!(reply.body["kind"], kind);
            if kind == "objection" {
                let id = reply.body["id"].as_str().unwrap();
                assert_eq!(
                    objection_records(&app, &token, id).await,
                    vec![("marketing".to_string(), false)],
                    "{jurisdiction}"
                );
                assert_eq!(
                    gate(&app, &token, "marketing").await,
                    (false, "consent_withdrawn".to_string()),
                    "{jurisdiction}"
                );
            }
        }
    }
    let erasure = app
        .post(
            "/v1/me/privacy-requests",
            &token,
            json!({"kind": "erasure", "jurisdiction": "other"}),
        )
        .await;
    assert_eq!(erasure.status, StatusCode::CREATED, "{}", erasure.body);
    let mine = app.get("/v1/me/privacy-requests?limit=200", &token).await;
    assert_eq!(mine.body["items"].as_array().unwrap().len(), 21);
}

async fn promise_r1_an_access_request_summarises_every_source_with_counts(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let (ada, token) = signed_in(&app, &north, "ada", &["learner"]).await;
    let made = app
        .post("/v1/me/privacy-requests", &token, json!({"kind": "access"}))
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let id = made.body["id"].as_str().unwrap().to_string();
    let approved = decide(&app, admin, &id, "approve").await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.body);
    let done = settled(&app, admin, &id).await;
    assert_eq!(done["status"], "complete", "{done}");
    let sources = source_names(&app, admin).await;
    let tasks: Vec<&str> = done["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["source"].as_str().unwrap())
        .collect();
    assert_eq!(tasks, sources, "one task per source, in order");
    let summary = done["result"]["sources"].as_array().unwrap();
    assert_eq!(summary.len(), sources.len());
    let people = summary.iter().find(|s| s["source"] == "people").unwrap();
    assert_eq!(people["records"], 1, "{people}");
    assert!(
        people["categories"]
            .as_array()
            .unwrap()
            .contains(&json!("contact"))
    );
    assert!(!people["purposes"].as_array().unwrap().is_empty());
    assert!(!people["retention"].as_array().unwrap().is_empty());
    assert!(people["recipients"].is_array());
    // The person reads their own request and its summary; not someone else's.
    let own = app
        .get(&format!("/v1/me/privacy-requests/{id}"), &token)
        .await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.body);
    assert_eq!(own.body["result"], done["result"]);
    assert_eq!(own.body["person_id"], ada.as_str());
    let (_, other) = signed_in(&app, &north, "bob", &["learner"]).await;
    app.get(&format!("/v1/me/privacy-requests/{id}"), &other)
        .await
        .assert_problem(404, "privacy_request_not_found");
    let told = passwords::outbox_of(&app, &north, &ada).await;
    assert!(
        told.iter().any(|(k, _)| k == "privacy.request_complete"),
        "{told:?}"
    );
}

async fn promise_r4_an_export_request_bundles_every_source_as_json(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let (ada, token) = signed_in(&app, &north, "ada", &["learner"]).await;
    let contact = app
        .post(
            "/v1/contacts",
            admin,
            json!({"role": "technical", "name": "Ada", "email": "ada@north.test"}),
        )
        .await;
    assert_eq!(contact.status, StatusCode::CREATED, "{}", contact.body);
    let made = app
        .post("/v1/me/privacy-requests", &token, json!({"kind": "export"}))
        .await;
    let id = made.body["id"].as_str().unwrap().to_string();
    assert_eq!(
        decide(&app, admin, &id, "approve").await.status,
        StatusCode::OK
    );
    let done = settled(&app, admin, &id).await;
    assert_eq!(done["status"], "complete", "{done}");
    // The result is the bundle's manifest; the records come through the download link.
    let manifest = &done["result"];
    assert_eq!(manifest["format"], "application/json");
    let link = app
        .post(
            &format!("/v1/me/privacy-requests/{id}/download-link"),
            &token,
            json!({}),
        )
        .await;
    assert_eq!(link.status, StatusCode::CREATED, "{}", link.body);
    let bundle = app
        .call(
            reqwest::Method::GET,
            link.body["url"].as_str().unwrap(),
            None,
            None,
        )
        .await;
    assert_eq!(bundle.status, StatusCode::OK, "{}", bundle.body);
    let bundle = bundle.body;
    assert_eq!(&bundle["manifest"], manifest);
    let people = bundle["sources"]["people"].as_array().unwrap();
    assert_eq!(people[0]["id"], ada.as_str(), "{bundle}");
    assert_eq!(bundle["sources"]["contacts"][0]["email"], "ada@north.test");
    for source in source_names(&app, admin).await {
        assert!(
            bundle["sources"].get(&source).is_some(),
            "{source} missing: {bundle}"
        );
    }
}

async fn promise_r3_an_erasure_runs_every_source_passes_the_scan_and_keeps_no_identity(
    backend: Backend,
) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let ada = person(&app, &north, "ada").await;
    let grace = person(&app, &north, "grace").await;
    let contact = app
        .post(
            "/v1/contacts",
            admin,
            json!({"role": "technical", "name": "Ada", "email": "ada@north.test"}),
        )
        .await;
    assert_eq!(contact.status, StatusCode::CREATED, "{}", contact.body);
    // An earlier request of hers is pseudonymised too.
    let earlier = verified(&app, &north, &ada, "access").await;
    let id = verified(&app, &north, &ada, "erasure").await;
    // One erasure per person.
    on_behalf(&app, admin, &ada, "erasure", "eu")
        .await
        .assert_problem(409, "erasure_already_requested");
    assert_eq!(
        decide(&app, admin, &id, "approve").await.status,
        StatusCode::OK
    );
    let done = settled(&app, admin, &id).await;
    assert_eq!(done["status"], "complete", "{done}");
    for task in done["tasks"].as_array().unwrap() {
        assert_eq!(task["status"], "done", "{task}");
        assert_eq!(task["attempts"], 1, "{task}");
    }
    assert_eq!(task(&done, "people")["outcome"]["anonymised"]["records"], 1);
    assert_eq!(task(&done, "contacts")["outcome"]["deleted"]["records"], 1);
    // No identity beyond the receipt.
    assert!(done["person_id"].is_null(), "{done}");
    let receipt = &done["receipt"];
    assert_eq!(receipt["request_id"], id.as_str());
    assert_eq!(receipt["tenant_id"], north.id.as_str());
    let entries = receipt["sources"].as_array().unwrap();
    assert_eq!(entries.len(), done["tasks"].as_array().unwrap().len());
    let people = entries.iter().find(|e| e["source"] == "people").unwrap();
    assert_eq!(people["action"], "anonymised");
    assert!(
        !receipt.to_string().contains(&ada),
        "the receipt names the person: {receipt}"
    );
    let earlier = app
        .get(&format!("/v1/privacy-requests/{earlier}"), admin)
        .await;
    assert!(earlier.body["person_id"].is_null(), "{}", earlier.body);
    // Her data is gone; the other person's is not.
    let found = app.get(&format!("/v1/people/{ada}"), admin).await;
    assert!(found.body["email"].is_null(), "{}", found.body);
    let kept = app.get(&format!("/v1/people/{grace}"), admin).await;
    assert_eq!(kept.body["email"], "grace@north.test");
    assert!(
        app.get("/v1/contacts?email=ada@north.test", admin)
            .await
            .body["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    // Already erased: a second erasure is refused, nothing changes.
    on_behalf(&app, admin, &ada, "erasure", "eu")
        .await
        .assert_problem(409, "erasure_already_requested");
    let told = passwords::outbox_of(&app, &north, &ada).await;
    assert!(
        told.iter()
            .any(|(k, t)| k == "privacy.erasure_receipt" && t.contains(&id)),
        "{told:?}"
    );
}

async fn promise_r3_a_failed_task_is_retried_alone_and_a_switched_off_source_is_skipped(
    backend: Backend,
) {
    let app = spawn_with(backend, |config| {
        config.privacy_drill_failing_sources = vec!["contacts".into()];
        config.privacy_switched_off_sources = vec!["privacy_requests".into()];
    })
    .await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let ada = person(&app, &north, "ada").await;
    let contact = app
        .post(
            "/v1/contacts",
            admin,
            json!({"role": "technical", "name": "Ada", "email": "ada@north.test"}),
        )
        .await;
    assert_eq!(contact.status, StatusCode::CREATED, "{}", contact.body);
    let id = verified(&app, &north, &ada, "erasure").await;
    assert_eq!(
        decide(&app, admin, &id, "approve").await.status,
        StatusCode::OK
    );
    let failed = settled(&app, admin, &id).await;
    assert_eq!(failed["status"], "error", "{failed}");
    assert_eq!(task(&failed, "contacts")["status"], "failed");
    assert!(
        task(&failed, "contacts")["error"]
            .as_str()
            .unwrap()
            .contains("unreachable")
    );
    assert_eq!(task(&failed, "people")["status"], "done");
    assert_eq!(task(&failed, "privacy_requests")["status"], "skipped");
    assert!(
        task(&failed, "privacy_requests")["outcome"]["reason"]
            .as_str()
            .unwrap()
            .contains("switched off")
    );
    // Nothing of the failed source was half-done: the contact is still there.
    let still = app.get("/v1/contacts?email=ada@north.test", admin).await;
    assert_eq!(still.body["items"].as_array().unwrap().len(), 1);
    // Only a failed task can be retried; an unknown one is not found.
    app.post(
        &format!("/v1/privacy-requests/{id}/tasks/people/retry"),
        admin,
        json!({}),
    )
    .await
    .assert_problem(409, "task_not_failed");
    app.post(
        &format!("/v1/privacy-requests/{id}/tasks/nowhere/retry"),
        admin,
        json!({}),
    )
    .await
    .assert_problem(404, "privacy_request_task_not_found");
    // The source is back: its task alone runs again.
    app.state.privacy.set_failing_sources(Vec::new());
    retry_task(&app, admin, &id, "contacts").await;
    let done = settled(&app, admin, &id).await;
    assert_eq!(done["status"], "complete", "{done}");
    assert_eq!(task(&done, "contacts")["status"], "done");
    assert_eq!(task(&done, "contacts")["attempts"], 2);
    for other in done["tasks"].as_array().unwrap() {
        if other["source"] != "contacts" {
            assert_eq!(other["attempts"], 1, "ran again: {other}");
        }
    }
    let receipt = &done["receipt"]["sources"];
    let kept = receipt
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["source"] == "privacy_requests")
        .unwrap();
    assert_eq!(kept["action"], "kept");
    assert!(kept["reason"].as_str().unwrap().contains("switched off"));
}

async fn promise_r3_a_restriction_freezes_every_source(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let ada = person(&app, &north, "ada").await;
    let id = verified(&app, &north, &ada, "restriction").await;
    assert_eq!(
        decide(&app, admin, &id, "approve").await.status,
        StatusCode::OK
    );
    let done = settled(&app, admin, &id).await;
    assert_eq!(done["status"], "complete", "{done}");
    assert_eq!(
        task(&done, "people")["outcome"]["restricted"]["restricted"],
        true,
        "{done}"
    );
    let found = app.get(&format!("/v1/people/{ada}"), admin).await;
    assert_eq!(found.body["status"], "deactivated", "{}", found.body);
    // Lifting it resumes processing everywhere; only a restriction can be lifted.
    let reply = app
        .post(
            "/v1/privacy-requests",
            admin,
            json!({"person_id": ada, "kind": "access", "lift_restriction": true}),
        )
        .await;
    reply.assert_problem(422, "validation_failed");
    let lift = app
        .post(
            "/v1/privacy-requests",
            admin,
            json!({"person_id": ada, "kind": "restriction", "lift_restriction": true}),
        )
        .await;
    assert_eq!(lift.status, StatusCode::CREATED, "{}", lift.body);
    assert_eq!(lift.body["lift_restriction"], true);
    let lift_id = lift.body["id"].as_str().unwrap().to_string();
    verify_with_code(&app, &north, admin, &ada, &lift_id).await;
    assert_eq!(
        decide(&app, admin, &lift_id, "approve").await.status,
        StatusCode::OK
    );
    let lifted = settled(&app, admin, &lift_id).await;
    assert_eq!(lifted["status"], "complete", "{lifted}");
    assert_eq!(
        task(&lifted, "people")["outcome"]["restricted"]["restricted"],
        false,
        "{lifted}"
    );
    let found = app.get(&format!("/v1/people/{ada}"), admin).await;
    assert_eq!(found.body["status"], "active", "{}", found.body);
}

async fn another_institutions_person_or_request_is_not_found(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let south = app.create_institution("south").await;
    let ada = person(&app, &north, "ada").await;
    on_behalf(&app, &south.admin_token, &ada, "access", "eu")
        .await
        .assert_problem(404, "person_not_found");
    let made = on_behalf(&app, &north.admin_token, &ada, "access", "eu").await;
    let id = made.body["id"].as_str().unwrap().to_string();
    let south_admin = south.admin_token.as_str();
    app.get(&format!("/v1/privacy-requests/{id}"), south_admin)
        .await
        .assert_problem(404, "privacy_request_not_found");
    let code = code_sent(&app, &north, &ada).await;
    app.post(
        &format!("/v1/privacy-requests/{id}/verification"),
        south_admin,
        json!({"code": code}),
    )
    .await
    .assert_problem(404, "privacy_request_not_found");
    decide(&app, south_admin, &id, "approve")
        .await
        .assert_problem(404, "privacy_request_not_found");
    let listed = app.get("/v1/privacy-requests", south_admin).await;
    assert!(listed.body["items"].as_array().unwrap().is_empty());
    let still = app
        .get(&format!("/v1/privacy-requests/{id}"), &north.admin_token)
        .await;
    assert_eq!(still.body["status"], "identity_unverified");
}

async fn promise_r3_an_erasure_killed_midway_is_resumed_by_another_process_and_finishes(
    backend: Backend,
) {
    let first = spawn(backend).await;
    let north = first.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let ada = person(&first, &north, "ada").await;
    let contact = first
        .post(
            "/v1/contacts",
            admin,
            json!({"role": "technical", "name": "Ada", "email": "ada@north.test"}),
        )
        .await;
    assert_eq!(contact.status, StatusCode::CREATED, "{}", contact.body);
    let id = verified(&first, &north, &ada, "erasure").await;
    // The first process dies after one task: the request says so (one task done, the rest
    // pending), nothing is half-erased without it saying so.
    first.state.privacy.set_request_kill_drill(1);
    assert_eq!(
        decide(&first, admin, &id, "approve").await.status,
        StatusCode::OK
    );
    let mut stopped = Value::Null;
    for _ in 0..200 {
        if first.state.privacy.requests_stopped_by_drill() > 0 {
            stopped = first
                .get(&format!("/v1/privacy-requests/{id}"), admin)
                .await
                .body;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(stopped["status"], "in_progress", "{stopped}");
    let statuses: Vec<&str> = stopped["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses[0], "done", "{stopped}");
    assert!(statuses[1..].iter().all(|s| *s == "pending"), "{stopped}");
    // Another process on the same storage takes the request once the dead one's lease has
    // lapsed (moved to now here rather than waited for) and finishes it from where it was.
    let second = spawn_on_same_storage(&first).await;
    second
        .state
        .tenancy
        .reschedule_deadline(
            north.id.parse().unwrap(),
            hub_privacy_addenda::requests::execution::RUN_DEADLINE,
            id.parse().unwrap(),
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    let ran = second.state.privacy.run_due_requests().await.unwrap();
    assert_eq!(ran, 1);
    let done = settled(&second, admin, &id).await;
    assert_eq!(done["status"], "complete", "{done}");
    for task in done["tasks"].as_array().unwrap() {
        assert_eq!(task["status"], "done", "{task}");
        assert_eq!(task["attempts"], 1, "a task ran twice: {task}");
    }
    let verified = second
        .post(
            "/v1/privacy/receipts/verification",
            admin,
            json!({"jws": done["receipt"]["jws"]}),
        )
        .await;
    assert_eq!(verified.body["valid"], true, "{}", verified.body);
}

/// A legal hold on the person's contact data: the erasure completes, every source holding a
/// contact field is left alone and its task says why, the others erase, and the completeness
/// scan does not count what the hold keeps.
async fn promise_r3_an_erasure_keeps_what_a_legal_hold_covers_and_says_so(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let ada = person(&app, &north, "ada").await;
    let ends_at = (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339();
    let hold = app
        .post(
            "/v1/privacy/legal-holds",
            admin,
            json!({"person_id": ada, "categories": ["contact"],
                   "reason": "Grade appeal, case 2026-114", "ends_at": ends_at}),
        )
        .await;
    assert_eq!(hold.status, StatusCode::CREATED, "{}", hold.body);
    let id = verified(&app, &north, &ada, "erasure").await;
    assert_eq!(
        decide(&app, admin, &id, "approve").await.status,
        StatusCode::OK
    );
    let done = settled(&app, admin, &id).await;
    assert_eq!(done["status"], "complete", "{done}");
    // The people record holds contact fields: kept, with the hold named as the reason.
    let people = task(&done, "people");
    assert_eq!(people["status"], "skipped", "{done}");
    assert!(
        people["outcome"]["reason"]
            .as_str()
            .unwrap()
            .contains("legal hold"),
        "{done}"
    );
    // A source with no contact field ran (local accounts: credentials are identity data).
    assert_eq!(task(&done, "local_accounts")["status"], "done", "{done}");
    let kept = app.get(&format!("/v1/people/{ada}"), admin).await;
    assert_eq!(kept.status, StatusCode::OK, "{}", kept.body);
    assert_ne!(kept.body["name"], "Erased person", "{}", kept.body);
}

async fn promise_l1_a_request_naming_no_jurisdiction_gets_the_institutions_default(
    backend: Backend,
) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let ada = person(&app, &north, "ada").await;
    let set = app
        .call_with(
            reqwest::Method::PUT,
            "/v1/privacy/contact",
            Some(admin),
            Some(json!({"default_jurisdiction": "us_ca"})),
            &[("If-Match", "\"0\"")],
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    // None named: the institution's default, with its law's extension.
    let defaulted = app
        .post(
            "/v1/privacy-requests",
            admin,
            json!({"person_id": ada, "kind": "access"}),
        )
        .await;
    assert_eq!(defaulted.status, StatusCode::CREATED, "{}", defaulted.body);
    assert_eq!(defaulted.body["jurisdiction"], "us_ca");
    assert_eq!(defaulted.body["clock"]["extension_days_left"], 45);
    // The person's own stated jurisdiction wins.
    let (_, token) = signed_in(&app, &north, "cal", &["learner"]).await;
    let stated = app
        .post(
            "/v1/me/privacy-requests",
            &token,
            json!({"kind": "export", "jurisdiction": "uk"}),
        )
        .await;
    assert_eq!(stated.body["jurisdiction"], "uk", "{}", stated.body);
    // Every right is still accepted under the default (R7).
    for kind in [
        "access",
        "export",
        "rectification",
        "erasure",
        "restriction",
        "objection",
    ] {
        let mut body = json!({"kind": kind});
        if kind == "objection" {
            body["purposes"] = json!(["analytics"]);
        }
        let reply = app.post("/v1/me/privacy-requests", &token, body).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{kind}: {}", reply.body);
        assert_eq!(reply.body["jurisdiction"], "us_ca");
    }
    // Another institution keeps its own default.
    let south = app.create_institution("south").await;
    let bea = person(&app, &south, "bea").await;
    let other = app
        .post(
            "/v1/privacy-requests",
            &south.admin_token,
            json!({"person_id": bea, "kind": "access"}),
        )
        .await;
    assert_eq!(other.body["jurisdiction"], "other", "{}", other.body);
}

/// A person of `inst` with these roles (no account): their id.
async fn person_with_roles(
    app: &TestApp,
    inst: &Institution,
    username: &str,
    roles: &[&str],
) -> String {
    let reply = app
        .post(
            "/v1/people",
            &inst.admin_token,
            json!({"name": format!("{username} person"), "username": username,
                   "email": format!("{username}@{}.test", inst.slug), "roles": roles}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body["id"].as_str().unwrap().to_string()
}

/// How many messages of `kind` naming `request` the person has.
async fn alerts_of(
    app: &TestApp,
    inst: &Institution,
    person: &str,
    kind: &str,
    request: &str,
) -> usize {
    passwords::outbox_of(app, inst, person)
        .await
        .iter()
        .filter(|(k, t)| k == kind && t.contains(request))
        .count()
}

async fn promise_r6_officers_are_alerted_once_per_request_when_due_soon_and_when_overdue(
    backend: Backend,
) {
    let first = spawn(backend).await;
    let north = first.create_institution("north").await;
    let south = first.create_institution("south").await;
    let olive = person_with_roles(&first, &north, "olive", &["privacy_officer"]).await;
    let adam = person_with_roles(&first, &north, "adam", &["tenant_admin"]).await;
    // South has no privacy officer: its admins are alerted.
    let sam = person_with_roles(&first, &south, "sam", &["tenant_admin"]).await;
    let ada = person(&first, &north, "ada").await;
    let bea = person(&first, &south, "bea").await;
    let id = verified(&first, &north, &ada, "access").await;
    let south_id = verified(&first, &south, &bea, "export").await;
    // Paused (identity unverified): never due, never alerted.
    let paused = on_behalf(&first, &north.admin_token, &ada, "export", "eu").await;
    let paused = paused.body["id"].as_str().unwrap().to_string();
    let second = spawn_on_same_storage(&first).await;
    let both = |by: chrono::Duration| {
        first.state.privacy.advance_clock(by);
        second.state.privacy.advance_clock(by);
    };
    let pass = || async {
        let (a, b) = tokio::join!(
            first.state.privacy.send_request_alerts(),
            second.state.privacy.send_request_alerts()
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert!(a.failed.is_empty() && b.failed.is_empty(), "{a:?} {b:?}");
        a.alerts + b.alerts
    };
    // Nothing due yet.
    pass().await;
    assert_eq!(
        alerts_of(&first, &north, &olive, "privacy.request_due_soon", &id).await,
        0
    );
    // 25 days on: due within a week. Two replicas run the pass at once: one alert each.
    both(chrono::Duration::days(25));
    assert!(pass().await <= 2);
    assert_eq!(
        alerts_of(&first, &north, &olive, "privacy.request_due_soon", &id).await,
        1
    );
    assert_eq!(
        alerts_of(&first, &north, &adam, "privacy.request_due_soon", &id).await,
        0
    );
    assert_eq!(
        alerts_of(&first, &south, &sam, "privacy.request_due_soon", &south_id).await,
        1
    );
    // The next pass (an hour later) sends nothing again.
    both(chrono::Duration::hours(2));
    assert_eq!(pass().await, 0);
    assert_eq!(
        alerts_of(&first, &north, &olive, "privacy.request_due_soon", &id).await,
        1
    );
    // 31 days on: overdue, told once.
    both(chrono::Duration::days(6));
    pass().await;
    both(chrono::Duration::hours(2));
    assert_eq!(pass().await, 0);
    assert_eq!(
        alerts_of(&first, &north, &olive, "privacy.request_overdue", &id).await,
        1
    );
    assert_eq!(
        alerts_of(&first, &north, &olive, "privacy.request_due_soon", &id).await,
        1
    );
    assert_eq!(
        alerts_of(&first, &south, &sam, "privacy.request_overdue", &south_id).await,
        1
    );
    for kind in ["privacy.request_due_soon", "privacy.request_overdue"] {
        assert_eq!(
            alerts_of(&first, &north, &olive, kind, &paused).await,
            0,
            "{kind}"
        );
    }
    let audit = first
        .get(
            "/v1/audit/events?action=privacy_request.alerts_sent",
            &north.admin_token,
        )
        .await;
    assert_eq!(
        audit.body["items"].as_array().unwrap().len(),
        2,
        "{}",
        audit.body
    );
}

async fn promise_r3_the_erasure_receipt_arrives_by_email_and_the_address_is_then_forgotten(
    backend: Backend,
) {
    let sink = crate::smtp::SmtpSink::start();
    let port = sink.port;
    let app = spawn_with(backend, |c| crate::mail::smtp_config(c, port)).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let ada = person(&app, &north, "ada").await;
    let id = verified(&app, &north, &ada, "erasure").await;
    assert_eq!(
        decide(&app, admin, &id, "approve").await.status,
        StatusCode::OK
    );
    let done = settled(&app, admin, &id).await;
    assert_eq!(done["status"], "complete", "{done}");
    let mut receipt = None;
    for _ in 0..150 {
        app.state.identity.deliver_due_mail().await.unwrap();
        receipt = sink
            .delivered()
            .into_iter()
            .find(|m| m.subject == "Your data was erased");
        if receipt.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let receipt = receipt.expect("the receipt arrives by mail");
    assert!(receipt.to.contains("ada@north.test"), "{receipt:?}");
    assert!(receipt.text.contains(&id), "{receipt:?}");
    assert!(receipt.text.contains("\"request_id\""), "{receipt:?}");
    let deliveries = app.get("/v1/messaging/deliveries", admin).await;
    let sent = deliveries.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["kind"] == "privacy.erasure_receipt")
        .cloned()
        .unwrap();
    assert_eq!(sent["channel"], "email", "{sent}");
    assert_eq!(sent["status"], "sent", "{sent}");
    // Afterwards nothing of the address is kept: not in the outbox, not in the request, and
    // the completeness scan finds no index of it anywhere.
    let hub_tenant::Principal::Tenant(principal) =
        app.state.tenancy.authenticate(admin).await.unwrap()
    else {
        panic!("not a tenant key")
    };
    let scope = app.state.tenancy.scope(&principal).await.unwrap();
    use sea_orm::ConnectionTrait;
    let kept = scope
        .db()
        .query_one_raw(sea_orm::Statement::from_string(
            scope.db().get_database_backend(),
            "SELECT COUNT(*) AS n FROM outbox WHERE recipient_sealed IS NOT NULL \
             AND kind = 'privacy.erasure_receipt'",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.try_get::<i64>("", "n").unwrap(), 0);
    let subject = hub_tenant::personal_data::DataSubject::person(
        ada.parse().unwrap(),
        vec![hub_kernel::Pii::new("ada@north.test".to_string())],
    );
    let findings = hub_tenant::subject_scan::scan_for_subject(&scope, &subject)
        .await
        .unwrap();
    // Only the receipt itself names her, as the message addressed to her (in-app copy).
    assert!(
        findings
            .iter()
            .all(|f| f.table == "outbox" && f.column == "person_id" && f.rows == 1),
        "{findings:?}"
    );
    drop(scope);
    let request = app.get(&format!("/v1/privacy-requests/{id}"), admin).await;
    assert!(request.body["person_id"].is_null(), "{}", request.body);
    // The people source had cleared her email before the receipt went to it (read last: the
    // read is audited under her reference).
    let found = app.get(&format!("/v1/people/{ada}"), admin).await;
    assert!(found.body["email"].is_null(), "{}", found.body);
}

/// The `code_hash` of the one request with a code out, as stored.
async fn stored_code_hash(app: &TestApp, tenant_id: &str) -> Option<String> {
    use sea_orm::{ConnectionTrait, Statement};
    let (db, _, prefix) = crate::keys::live_columns(app, tenant_id, "_sealed").await;
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            format!("SELECT code_hash FROM {prefix}privacy_requests WHERE code_hash IS NOT NULL"),
        ))
        .await
        .unwrap()
        .expect("a request with a code out");
    row.try_get("", "code_hash").unwrap()
}

/// A request names who submitted and who decided it. Erasing a person who asked about her
/// own data herself (an access request, then the erasure) completes: the completeness scan
/// finds her nowhere, her requests say only that the data subject asked. Erasing an officer
/// who submitted and decided someone else's request completes too, the request keeping a
/// pseudonym for them. The one-time code sent for a request on someone's behalf is stored
/// only under the institution's key: not as a plain hash a dump could test eight digits
/// against.
async fn promise_r3_people_who_asked_or_decided_themselves_are_erased_from_the_requests_too(
    backend: Backend,
) {
    use sha2::{Digest, Sha256};
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let (ada, ada_session) = signed_in(&app, &north, "ada", &["learner"]).await;
    let (linus, linus_session) = signed_in(&app, &north, "linus", &["privacy_officer"]).await;
    let grace = person(&app, &north, "grace").await;

    // Linus asks on Grace's behalf; the code is stored keyed, then he decides it.
    let made = on_behalf(&app, &linus_session, &grace, "access", "eu").await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let for_grace = made.body["id"].as_str().unwrap().to_string();
    assert_eq!(made.body["submitted_by"], format!("person:{linus}"));
    let code = code_sent(&app, &north, &grace).await;
    let stored = stored_code_hash(&app, &north.id)
        .await
        .expect("a code is out");
    let plain = hex::encode(Sha256::digest(
        format!("dxh-privacy-code|{for_grace}|{code}").as_bytes(),
    ));
    assert_ne!(stored, plain, "the code's digest is unkeyed");
    assert_ne!(stored, hex::encode(Sha256::digest(code.as_bytes())));
    let ok = app
        .post(
            &format!("/v1/privacy-requests/{for_grace}/verification"),
            &linus_session,
            json!({"code": code}),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(
        decide(&app, &linus_session, &for_grace, "approve")
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(settled(&app, admin, &for_grace).await["status"], "complete");

    // Ada asks herself, twice: an access request, then her erasure.
    let mut own = Vec::new();
    for kind in ["access", "erasure"] {
        let made = app
            .post(
                "/v1/me/privacy-requests",
                &ada_session,
                json!({"kind": kind}),
            )
            .await;
        assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
        assert_eq!(made.body["submitted_by"], format!("person:{ada}"));
        let id = made.body["id"].as_str().unwrap().to_string();
        assert_eq!(
            decide(&app, admin, &id, "approve").await.status,
            StatusCode::OK
        );
        own.push(id);
    }
    let erased = settled(&app, admin, &own[1]).await;
    assert_eq!(erased["status"], "complete", "{erased}");
    for id in &own {
        let read = app.get(&format!("/v1/privacy-requests/{id}"), admin).await;
        assert_eq!(read.body["submitted_by"], "data-subject", "{}", read.body);
        assert!(!read.body.to_string().contains(&ada), "{}", read.body);
    }

    // Linus is erased on his own behalf too; Grace's request keeps a pseudonym for him.
    let made = app
        .post(
            "/v1/me/privacy-requests",
            &linus_session,
            json!({"kind": "erasure"}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let his = made.body["id"].as_str().unwrap().to_string();
    assert_eq!(
        decide(&app, admin, &his, "approve").await.status,
        StatusCode::OK
    );
    let done = settled(&app, admin, &his).await;
    assert_eq!(done["status"], "complete", "{done}");
    let of_grace = app
        .get(&format!("/v1/privacy-requests/{for_grace}"), admin)
        .await;
    assert_eq!(of_grace.body["person_id"], grace.as_str());
    for field in ["submitted_by", "decided_by"] {
        let by = of_grace.body[field].as_str().unwrap();
        assert!(by.starts_with("pseudonym:"), "{field}: {}", of_grace.body);
    }
    assert_eq!(of_grace.body["submitted_by"], of_grace.body["decided_by"]);
}

/// What the gate answers now for `purpose`, from `GET /v1/me/consents`: `(allowed, reason)`.
async fn gate(app: &TestApp, token: &str, purpose: &str) -> (bool, String) {
    let ledger = app.get("/v1/me/consents", token).await;
    assert_eq!(ledger.status, StatusCode::OK, "{}", ledger.body);
    let state = ledger.body["purposes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["purpose"] == purpose)
        .unwrap_or_else(|| panic!("no {purpose} in {}", ledger.body))
        .clone();
    (
        state["decision"]["allowed"].as_bool().unwrap(),
        state["decision"]["reason"].as_str().unwrap().to_string(),
    )
}

/// The consent records of the person made for `request` (source objection), as
/// `(purpose, granted)`.
async fn objection_records(app: &TestApp, token: &str, request: &str) -> Vec<(String, bool)> {
    let ledger = app.get("/v1/me/consents", token).await;
    assert_eq!(ledger.status, StatusCode::OK, "{}", ledger.body);
    ledger.body["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["source"] == "objection" && r["request_id"] == request)
        .map(|r| {
            (
                r["purpose"].as_str().unwrap().to_string(),
                r["granted"].as_bool().unwrap(),
            )
        })
        .collect()
}

fn outcome<'a>(request: &'a Value, purpose: &str) -> &'a Value {
    request["result"]["purposes"]
        .as_array()
        .unwrap_or_else(|| panic!("no purposes in the result of {request}"))
        .iter()
        .find(|p| p["purpose"] == purpose)
        .unwrap_or_else(|| panic!("no {purpose} in the result of {request}"))
}

async fn promise_r5_an_objection_withdraws_its_purposes_marketing_at_once_the_rest_on_approval(
    backend: Backend,
) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let (ada, token) = signed_in(&app, &north, "ada", &["learner"]).await;
    let granted = app
        .call_with(
            reqwest::Method::PUT,
            "/v1/me/consents",
            Some(&token),
            Some(json!({"choices": [
                {"purpose": "analytics", "granted": true},
                {"purpose": "personalisation", "granted": true},
                {"purpose": "marketing", "granted": true},
                {"purpose": "integrations", "granted": true},
            ]})),
            &[],
        )
        .await;
    assert_eq!(granted.status, StatusCode::OK, "{}", granted.body);
    for purpose in ["analytics", "personalisation", "marketing", "integrations"] {
        assert!(gate(&app, &token, purpose).await.0, "{purpose}");
    }
    // The person's own objection: the session verified it, so direct marketing stops now.
    let made = app
        .post(
            "/v1/me/privacy-requests",
            &token,
            json!({"kind": "objection", "purposes": ["marketing", "analytics"]}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    assert_eq!(made.body["status"], "pending_approval");
    assert_eq!(made.body["purposes"], json!(["marketing", "analytics"]));
    let id = made.body["id"].as_str().unwrap().to_string();
    assert_eq!(outcome(&made.body, "marketing")["withdrawn"], true);
    assert_eq!(
        outcome(&made.body, "marketing")["applied_on"],
        "verification"
    );
    assert_eq!(outcome(&made.body, "analytics")["withdrawn"], false);
    assert_eq!(
        gate(&app, &token, "marketing").await,
        (false, "consent_withdrawn".to_string())
    );
    assert!(gate(&app, &token, "analytics").await.0);
    assert_eq!(
        objection_records(&app, &token, &id).await,
        [("marketing".to_string(), false)]
    );
    // Approval withdraws the rest, and the request is complete, saying what was applied.
    let approved = decide(&app, admin, &id, "approve").await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.body);
    assert_eq!(approved.body["status"], "complete");
    let analytics = outcome(&approved.body, "analytics");
    assert_eq!(analytics["withdrawn"], true);
    assert_eq!(analytics["applied_on"], "approval");
    assert!(analytics["consent_record_id"].is_string(), "{analytics}");
    assert_eq!(
        gate(&app, &token, "analytics").await,
        (false, "consent_withdrawn".to_string())
    );
    assert_eq!(
        objection_records(&app, &token, &id).await,
        [
            ("marketing".to_string(), false),
            ("analytics".to_string(), false)
        ]
    );
    let mine = app
        .get(&format!("/v1/me/privacy-requests/{id}"), &token)
        .await;
    assert_eq!(outcome(&mine.body, "analytics")["withdrawn"], true);
    // An objection made on the person's behalf: nothing until the person confirms the code,
    // marketing then; a denial leaves the other purposes as they were.
    grant(&app, &token, "marketing").await;
    let behalf = app
        .post(
            "/v1/privacy-requests",
            admin,
            json!({"person_id": ada, "kind": "objection",
                   "purposes": ["personalisation", "marketing", "integrations"]}),
        )
        .await;
    assert_eq!(behalf.status, StatusCode::CREATED, "{}", behalf.body);
    let other = behalf.body["id"].as_str().unwrap().to_string();
    assert!(gate(&app, &token, "marketing").await.0);
    assert!(objection_records(&app, &token, &other).await.is_empty());
    verify_with_code(&app, &north, admin, &ada, &other).await;
    assert_eq!(
        gate(&app, &token, "marketing").await,
        (false, "consent_withdrawn".to_string())
    );
    let denied = decide(&app, admin, &other, "deny").await;
    assert_eq!(denied.status, StatusCode::OK, "{}", denied.body);
    assert_eq!(denied.body["status"], "denied");
    assert_eq!(
        denied.body["decision_reason"],
        "Checked against the records."
    );
    assert_eq!(outcome(&denied.body, "marketing")["withdrawn"], true);
    for purpose in ["personalisation", "integrations"] {
        assert_eq!(outcome(&denied.body, purpose)["withdrawn"], false);
        assert_eq!(
            gate(&app, &token, purpose).await,
            (true, "consent_granted".to_string()),
            "{purpose}"
        );
    }
    assert_eq!(
        objection_records(&app, &token, &other).await,
        [("marketing".to_string(), false)]
    );
}

/// The person's email as their own profile shows it.
async fn profile_email(app: &TestApp, token: &str) -> Value {
    let profile = app.get("/v1/me/profile", token).await;
    assert_eq!(profile.status, StatusCode::OK, "{}", profile.body);
    profile.body["email"].clone()
}

async fn promise_r2_an_approved_rectification_corrects_the_email_the_person_cannot_edit(
    backend: Backend,
) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let (_, token) = signed_in(&app, &north, "ada", &["learner"]).await;
    let before = profile_email(&app, &token).await;
    assert_eq!(before, "ada@north.test");
    // The profile does not let the person change it themselves.
    let refused = app
        .call_with(
            reqwest::Method::PATCH,
            "/v1/me/profile",
            Some(&token),
            Some(json!({"email": "ada.lovelace@north.test"})),
            &[("If-Match", "*")],
        )
        .await;
    assert!(refused.status.is_client_error(), "{}", refused.body);
    assert_eq!(profile_email(&app, &token).await, before);
    // An email another person of the institution has: the decision is refused, nothing
    // changes, the request still waits.
    person(&app, &north, "bea").await;
    let taken = app
        .post(
            "/v1/me/privacy-requests",
            &token,
            json!({"kind": "rectification",
                   "corrections": [{"field": "email", "value": "bea@north.test"}]}),
        )
        .await;
    assert_eq!(taken.status, StatusCode::CREATED, "{}", taken.body);
    assert_eq!(
        taken.body["corrections"],
        json!([{"field": "email", "value": "bea@north.test"}])
    );
    let taken_id = taken.body["id"].as_str().unwrap().to_string();
    decide(&app, admin, &taken_id, "approve")
        .await
        .assert_problem(409, "correction_conflict");
    let still = app
        .get(&format!("/v1/privacy-requests/{taken_id}"), admin)
        .await;
    assert_eq!(still.body["status"], "pending_approval", "{}", still.body);
    assert!(still.body["decided_at"].is_null());
    assert_eq!(profile_email(&app, &token).await, before);
    assert_eq!(
        decide(&app, admin, &taken_id, "deny").await.status,
        StatusCode::OK
    );
    // A field the person edits themselves, or none at all, is refused at submission.
    app.post(
        "/v1/me/privacy-requests",
        &token,
        json!({"kind": "rectification",
               "corrections": [{"field": "phone", "value": "+441632960961"}]}),
    )
    .await
    .assert_problem(422, "validation_failed");
    app.post(
        "/v1/me/privacy-requests",
        &token,
        json!({"kind": "rectification",
               "corrections": [{"field": "email", "value": "not an address"}]}),
    )
    .await
    .assert_problem(422, "validation_failed");
    // A free email: approved, applied, the request complete with what it corrected.
    let made = app
        .post(
            "/v1/me/privacy-requests",
            &token,
            json!({"kind": "rectification", "details": "I married; my address changed.",
                   "corrections": [{"field": "email", "value": "ada.lovelace@north.test"}]}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let id = made.body["id"].as_str().unwrap().to_string();
    let approved = decide(&app, admin, &id, "approve").await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.body);
    assert_eq!(approved.body["status"], "complete");
    assert_eq!(approved.body["result"]["corrected"], json!(["email"]));
    assert_eq!(profile_email(&app, &token).await, "ada.lovelace@north.test");
    // The change went through the people record's own path: audited, found by the new email.
    let audit = app
        .get("/v1/audit/events?action=person.rectified", admin)
        .await;
    assert_eq!(audit.status, StatusCode::OK, "{}", audit.body);
    assert_eq!(
        audit.body["items"].as_array().unwrap().len(),
        1,
        "{}",
        audit.body
    );
    let found = app
        .get("/v1/people?email=ada.lovelace@north.test", admin)
        .await;
    assert_eq!(
        found.body["items"].as_array().unwrap().len(),
        1,
        "{}",
        found.body
    );
    // The person sees their corrections in their own request.
    let mine = app
        .get(&format!("/v1/me/privacy-requests/{id}"), &token)
        .await;
    assert_eq!(
        mine.body["corrections"],
        json!([{"field": "email", "value": "ada.lovelace@north.test"}])
    );
    // A rectification with free text only is the officer's to handle, as before.
    let text = app
        .post(
            "/v1/me/privacy-requests",
            &token,
            json!({"kind": "rectification", "details": "My enrolment year is wrong."}),
        )
        .await;
    assert_eq!(text.status, StatusCode::CREATED, "{}", text.body);
    let text_id = text.body["id"].as_str().unwrap().to_string();
    let done = decide(&app, admin, &text_id, "approve").await;
    assert_eq!(done.body["status"], "complete", "{}", done.body);
    assert!(done.body["result"].is_null(), "{}", done.body);
    assert_eq!(profile_email(&app, &token).await, "ada.lovelace@north.test");
    // While a person's processing is restricted their record is not changed: the decision
    // is refused and the request waits for the restriction to be lifted.
    let cal = person(&app, &north, "cal").await;
    let restriction = verified(&app, &north, &cal, "restriction").await;
    assert_eq!(
        decide(&app, admin, &restriction, "approve").await.status,
        StatusCode::OK
    );
    assert_eq!(
        settled(&app, admin, &restriction).await["status"],
        "complete"
    );
    let behalf = app
        .post(
            "/v1/privacy-requests",
            admin,
            json!({"person_id": cal, "kind": "rectification",
                   "corrections": [{"field": "username", "value": "cal.jones"}]}),
        )
        .await;
    assert_eq!(behalf.status, StatusCode::CREATED, "{}", behalf.body);
    let behalf_id = behalf.body["id"].as_str().unwrap().to_string();
    verify_with_code(&app, &north, admin, &cal, &behalf_id).await;
    decide(&app, admin, &behalf_id, "approve")
        .await
        .assert_problem(409, "correction_refused_restricted");
    let waiting = app
        .get(&format!("/v1/privacy-requests/{behalf_id}"), admin)
        .await;
    assert_eq!(
        waiting.body["status"], "pending_approval",
        "{}",
        waiting.body
    );
    let record = app.get(&format!("/v1/people/{cal}"), admin).await;
    assert_eq!(record.body["username"], "cal", "{}", record.body);
}

async fn purposes_and_corrections_only_on_their_own_kinds_and_nothing_is_stored_otherwise(
    backend: Backend,
) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let (ada, token) = signed_in(&app, &north, "ada", &["learner"]).await;
    let own = |body: Value| {
        let app = &app;
        let token = token.clone();
        async move { app.post("/v1/me/privacy-requests", &token, body).await }
    };
    own(json!({"kind": "access", "purposes": ["marketing"]}))
        .await
        .assert_problem(422, "validation_failed");
    own(json!({"kind": "objection"}))
        .await
        .assert_problem(422, "validation_failed");
    own(json!({"kind": "objection", "purposes": ["analytics", "analytics"]}))
        .await
        .assert_problem(422, "validation_failed");
    let essential = own(json!({"kind": "objection", "purposes": ["marketing", "essential"]})).await;
    essential.assert_problem(422, "purpose_not_consentable");
    assert_eq!(essential.body["errors"][0]["field"], "purposes[1]");
    own(json!({"kind": "erasure",
               "corrections": [{"field": "email", "value": "a@north.test"}]}))
    .await
    .assert_problem(422, "validation_failed");
    own(json!({"kind": "rectification", "corrections": [
            {"field": "email", "value": "a@north.test"},
            {"field": "email", "value": "b@north.test"}]}))
    .await
    .assert_problem(422, "validation_failed");
    let long = format!("{}@north.test", "a".repeat(250));
    let refused = own(json!({"kind": "rectification",
                             "corrections": [{"field": "email", "value": long}]}))
    .await;
    refused.assert_problem(422, "validation_failed");
    assert_eq!(refused.body["errors"][0]["field"], "corrections[0].value");
    let username = own(json!({"kind": "rectification",
                              "corrections": [{"field": "username", "value": "two words"}]}))
    .await;
    username.assert_problem(422, "validation_failed");
    assert_eq!(username.body["errors"][0]["field"], "corrections[0].value");
    // On a person's behalf, the same rules.
    app.post(
        "/v1/privacy-requests",
        admin,
        json!({"person_id": ada, "kind": "restriction", "purposes": ["marketing"]}),
    )
    .await
    .assert_problem(422, "validation_failed");
    app.post(
        "/v1/privacy-requests",
        admin,
        json!({"person_id": ada, "kind": "objection", "purposes": ["essential"]}),
    )
    .await
    .assert_problem(422, "purpose_not_consentable");
    // Nothing was stored: no request, no consent record, marketing still as it was.
    let mine = app.get("/v1/me/privacy-requests", &token).await;
    assert_eq!(mine.body["items"], json!([]), "{}", mine.body);
    let all = app.get("/v1/privacy-requests", admin).await;
    assert_eq!(all.body["items"], json!([]), "{}", all.body);
    let ledger = app.get("/v1/me/consents", &token).await;
    assert_eq!(ledger.body["history"], json!([]), "{}", ledger.body);
    assert_eq!(
        gate(&app, &token, "marketing").await,
        (false, "no_consent".to_string())
    );
}

/// Changes `path` (a person record) with `If-Match` set to its current `ETag`.
async fn patch_record(app: &TestApp, read: &str, path: &str, token: &str, body: Value) -> Reply {
    let current = app.get(read, token).await;
    assert_eq!(current.status, StatusCode::OK, "{}", current.body);
    app.call_with(
        reqwest::Method::PATCH,
        path,
        Some(token),
        Some(body),
        &[("If-Match", &current.header("etag").unwrap())],
    )
    .await
}

async fn promise_l1_a_request_gets_the_jurisdiction_on_the_persons_profile(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let set = app
        .call_with(
            reqwest::Method::PUT,
            "/v1/privacy/contact",
            Some(admin),
            Some(json!({"default_jurisdiction": "uk"})),
            &[("If-Match", "\"0\"")],
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    let (cal, token) = signed_in(&app, &north, "cal", &["learner"]).await;
    let profile = "/v1/me/profile";
    assert_eq!(
        app.get(profile, &token).await.body["jurisdiction"],
        Value::Null
    );
    // The person keeps California on their profile; an unknown value changes nothing.
    patch_record(
        &app,
        profile,
        profile,
        &token,
        json!({"jurisdiction": "mars"}),
    )
    .await
    .assert_problem(400, "bad_request");
    let kept = patch_record(
        &app,
        profile,
        profile,
        &token,
        json!({"jurisdiction": "us_ca"}),
    )
    .await;
    assert_eq!(kept.status, StatusCode::OK, "{}", kept.body);
    assert_eq!(kept.body["jurisdiction"], "us_ca");
    assert_eq!(kept.body["name"], "cal person", "other fields stay");
    let person = format!("/v1/people/{cal}");
    assert_eq!(app.get(&person, admin).await.body["jurisdiction"], "us_ca");
    // A request that states none is under the profile's law: the CCPA clock.
    let own = app
        .post("/v1/me/privacy-requests", &token, json!({"kind": "access"}))
        .await;
    assert_eq!(own.status, StatusCode::CREATED, "{}", own.body);
    assert_eq!(own.body["jurisdiction"], "us_ca");
    assert_eq!(own.body["clock"]["extension_days_left"], 45);
    let behalf = app
        .post(
            "/v1/privacy-requests",
            admin,
            json!({"person_id": cal, "kind": "objection", "purposes": ["analytics"]}),
        )
        .await;
    assert_eq!(behalf.status, StatusCode::CREATED, "{}", behalf.body);
    assert_eq!(behalf.body["jurisdiction"], "us_ca");
    // A stated jurisdiction wins over the profile.
    let stated = app
        .post(
            "/v1/me/privacy-requests",
            &token,
            json!({"kind": "export", "jurisdiction": "eu"}),
        )
        .await;
    assert_eq!(stated.body["jurisdiction"], "eu", "{}", stated.body);
    assert_eq!(stated.body["clock"]["extension_days_left"], 60);
    // Cleared: the institution's default again.
    let cleared = patch_record(
        &app,
        profile,
        profile,
        &token,
        json!({"jurisdiction": null}),
    )
    .await;
    assert_eq!(cleared.status, StatusCode::OK, "{}", cleared.body);
    assert_eq!(cleared.body["jurisdiction"], Value::Null);
    let defaulted = app
        .post("/v1/me/privacy-requests", &token, json!({"kind": "access"}))
        .await;
    assert_eq!(defaulted.body["jurisdiction"], "uk", "{}", defaulted.body);
    // An admin sets it through the people API (read back there and on the person's own).
    let by_admin = patch_record(&app, &person, &person, admin, json!({"jurisdiction": "eu"})).await;
    assert_eq!(by_admin.status, StatusCode::OK, "{}", by_admin.body);
    assert_eq!(by_admin.body["jurisdiction"], "eu");
    assert_eq!(by_admin.body["roles"], json!(["learner"]), "roles stay");
    assert_eq!(app.get(profile, &token).await.body["jurisdiction"], "eu");
    let after = app
        .post(
            "/v1/privacy-requests",
            admin,
            json!({"person_id": cal, "kind": "access"}),
        )
        .await;
    assert_eq!(after.body["jurisdiction"], "eu", "{}", after.body);
    // Another person's profile is theirs alone: Bea's requests keep the default.
    let (_, bea) = signed_in(&app, &north, "bea", &["learner"]).await;
    let hers = app
        .post("/v1/me/privacy-requests", &bea, json!({"kind": "access"}))
        .await;
    assert_eq!(hers.body["jurisdiction"], "uk", "{}", hers.body);
}

async fn promise_r1_the_access_summary_counts_what_the_schema_scan_finds(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let (ada, token) = signed_in(&app, &north, "ada", &["learner"]).await;
    // Two of the institution's contacts carry her email; an admin reads her record twice.
    for role in ["technical", "billing"] {
        let contact = app
            .post(
                "/v1/contacts",
                admin,
                json!({"role": role, "name": "Ada person", "email": "ada@north.test"}),
            )
            .await;
        assert_eq!(contact.status, StatusCode::CREATED, "{}", contact.body);
    }
    for _ in 0..2 {
        let read = app.get(&format!("/v1/people/{ada}"), admin).await;
        assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    }
    // Someone else's data is not counted as hers.
    signed_in(&app, &north, "bob", &["learner"]).await;
    let made = app
        .post("/v1/me/privacy-requests", &token, json!({"kind": "access"}))
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let id = made.body["id"].as_str().unwrap().to_string();
    assert_eq!(
        decide(&app, admin, &id, "approve").await.status,
        StatusCode::OK
    );
    let done = settled(&app, admin, &id).await;
    assert_eq!(done["status"], "complete", "{done}");
    let result = &done["result"];
    let found = result["schema_scan"]["found"].as_array().unwrap();
    let scanned = |table: &str, column: &str| -> Value {
        found
            .iter()
            .find(|f| f["table"] == table && f["column"] == column)
            .cloned()
            .unwrap_or_else(|| panic!("no {table}.{column} in {found:?}"))
    };
    // What the test made, as the scan of the live schema counts it.
    assert_eq!(
        scanned("contacts", "email_index"),
        json!({"table": "contacts", "column": "email_index", "rows": 2, "source": "contacts"})
    );
    assert_eq!(scanned("people", "email_index")["rows"], 1);
    assert_eq!(scanned("local_credentials", "person_id")["rows"], 1);
    let audit_subject = scanned("audit_events", "subject");
    // Created, read twice, her reset and sign-in: at least those entries are about her.
    assert!(
        audit_subject["rows"].as_u64().unwrap() >= 3,
        "{audit_subject}"
    );
    assert_eq!(audit_subject["source"], "audit_events");
    assert_eq!(result["schema_scan"]["unclaimed"], json!([]), "{result}");
    // Per source: the scan's rows in its tables, and whether its own count covers them.
    let entry = |name: &str| -> Value {
        result["sources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["source"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} in {result}"))
    };
    let contacts = entry("contacts");
    assert_eq!(contacts["records"], 2, "{contacts}");
    assert_eq!(
        contacts["schema_scan"],
        json!({"tables": [{"table": "contacts", "rows": 2}], "rows": 2, "agrees": true})
    );
    let people = entry("people");
    assert_eq!(people["records"], 1);
    assert_eq!(people["schema_scan"]["rows"], 1);
    assert_eq!(people["schema_scan"]["agrees"], true);
    let audit = entry("audit_events");
    assert!(
        audit["schema_scan"]["rows"].as_u64().unwrap() >= audit_subject["rows"].as_u64().unwrap()
    );
    assert_eq!(audit["schema_scan"]["agrees"], true, "{audit}");
    for source in result["sources"].as_array().unwrap() {
        assert_ne!(source["schema_scan"]["agrees"], false, "{source}");
        let tables = source["schema_scan"]["tables"].as_array().unwrap();
        let declared_rows: u64 = found
            .iter()
            .filter(|f| f["source"] == source["source"])
            .map(|f| f["rows"].as_u64().unwrap())
            .max()
            .unwrap_or(0);
        assert_eq!(tables.is_empty(), declared_rows == 0, "{source}");
    }
    // The sessions live in the session store, out of the schema: nothing to compare.
    assert_eq!(entry("sessions")["schema_scan"]["agrees"], Value::Null);
}

/// Once a person's erasure has started, nothing more is written about them through a request:
/// a new one is refused, and so is a decision on one made before (either would write after
/// the erasure's sources ran, and its completeness scan would fail); once the erasure is
/// complete, a request made before can only be denied. An erasure merely requested blocks
/// nothing: the person may still ask for their export first.
async fn promise_r3_no_request_about_a_person_is_made_or_decided_once_their_erasure_started(
    backend: Backend,
) {
    let app = spawn_with(backend, |config| {
        config.privacy_drill_failing_sources = vec!["privacy_requests".into()];
    })
    .await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let ada = person(&app, &north, "ada").await;
    let erasure = verified(&app, &north, &ada, "erasure").await;
    // Requested, not yet approved: an export still goes in, and another one waits.
    let first = verified(&app, &north, &ada, "export").await;
    let waiting = verified(&app, &north, &ada, "access").await;
    assert_eq!(
        decide(&app, admin, &erasure, "approve").await.status,
        StatusCode::OK
    );
    let stopped = settled(&app, admin, &erasure).await;
    assert_eq!(stopped["status"], "error", "{stopped}");
    assert_eq!(task(&stopped, "privacy_requests")["status"], "failed");
    let before = request_count(&app, admin).await;
    on_behalf(&app, admin, &ada, "access", "eu")
        .await
        .assert_problem(409, "subject_erasure_under_way");
    for decision in ["approve", "deny"] {
        decide(&app, admin, &first, decision)
            .await
            .assert_problem(409, "subject_erasure_under_way");
    }
    assert_eq!(
        request_count(&app, admin).await,
        before,
        "nothing was added"
    );
    let first_now = app
        .get(&format!("/v1/privacy-requests/{first}"), admin)
        .await;
    assert_eq!(first_now.body["status"], "pending_approval");
    // The source is back: the erasure completes, and the requests made before are now
    // about nobody.
    app.state.privacy.set_failing_sources(Vec::new());
    retry_task(&app, admin, &erasure, "privacy_requests").await;
    let done = settled(&app, admin, &erasure).await;
    assert_eq!(done["status"], "complete", "{done}");
    decide(&app, admin, &first, "approve")
        .await
        .assert_problem(409, "subject_erased");
    assert_eq!(
        decide(&app, admin, &waiting, "deny").await.status,
        StatusCode::OK
    );
    let after = on_behalf(&app, admin, &ada, "access", "eu").await;
    assert!(
        after.status == StatusCode::CONFLICT || after.status == StatusCode::NOT_FOUND,
        "{}",
        after.body
    );
}

async fn request_count(app: &TestApp, admin: &str) -> usize {
    let all = app.get("/v1/privacy-requests?limit=100", admin).await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.body);
    all.body["items"].as_array().unwrap().len()
}

/// Retries one failed task of a request.
pub(crate) async fn retry_task(app: &TestApp, admin: &str, id: &str, source: &str) {
    let retried = app
        .post(
            &format!("/v1/privacy-requests/{id}/tasks/{source}/retry"),
            admin,
            json!({}),
        )
        .await;
    assert_eq!(retried.status, StatusCode::OK, "{}", retried.body);
}

/// The person grants `purpose` from their account.
async fn grant(app: &TestApp, token: &str, purpose: &str) {
    let granted = app
        .call_with(
            reqwest::Method::PUT,
            "/v1/me/consents",
            Some(token),
            Some(json!({"choices": [{"purpose": purpose, "granted": true}]})),
            &[],
        )
        .await;
    assert_eq!(granted.status, StatusCode::OK, "{}", granted.body);
}
