//! Privacy concerns (L2, issue 10 item 2) through the public API: where to raise one (the
//! institution's privacy contact and the regulator per jurisdiction, read by anyone signed
//! in and by anyone at all by the institution's slug, written by a privacy officer or the
//! admin), and concerns themselves: privacy requests of kind `concern`, with the requests'
//! clock, listing and audit, answered by a privacy officer with a response told to the
//! person.

use crate::both_backends;
use crate::passwords;
use crate::privacy_requests::{person, signed_in, verify_with_code};
use crate::support::{Backend, Reply, TestApp, spawn};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

both_backends!(
    promise_l2_where_to_raise_a_concern_is_published_to_people_and_by_slug,
    promise_l2_a_concern_is_clocked_like_a_request_and_answered_to_the_person,
    promise_l2_the_privacy_contact_changes_only_from_the_revision_last_read,
);

async fn put_contact(app: &TestApp, token: &str, body: Value) -> Reply {
    app.call(Method::PUT, "/v1/privacy/contact", Some(token), Some(body))
        .await
}

/// [`put_contact`] with `If-Match`.
async fn put_contact_if(app: &TestApp, token: &str, if_match: &str, body: Value) -> Reply {
    app.call_with(
        Method::PUT,
        "/v1/privacy/contact",
        Some(token),
        Some(body),
        &[("If-Match", if_match)],
    )
    .await
}

fn entry<'a>(contacts: &'a Value, jurisdiction: &str) -> &'a Value {
    contacts["regulators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["jurisdiction"] == jurisdiction)
        .unwrap_or_else(|| panic!("no {jurisdiction} entry in {contacts}"))
}

async fn promise_l2_where_to_raise_a_concern_is_published_to_people_and_by_slug(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    // Published with no credential, by slug: the built-in table before anything is set.
    let public = app
        .call(
            Method::GET,
            "/v1/institutions/north/privacy-contact",
            None,
            None,
        )
        .await;
    assert_eq!(public.status, StatusCode::OK, "{}", public.body);
    assert!(public.body["contact"].is_null());
    assert_eq!(public.body["default_jurisdiction"], "other");
    assert_eq!(public.body["revision"], 0);
    assert_eq!(public.body["regulators"].as_array().unwrap().len(), 4);
    assert_eq!(public.body["regulators"][0]["jurisdiction"], "other");
    let uk = entry(&public.body, "uk");
    assert_eq!(uk["source"], "built_in");
    assert!(uk["regulator"]["name"].as_str().unwrap().contains("ICO"));
    assert!(
        uk["regulator"]["url"]
            .as_str()
            .unwrap()
            .starts_with("https://ico.org.uk/")
    );
    let ca = entry(&public.body, "us_ca");
    assert!(
        ca["regulator"]["name"]
            .as_str()
            .unwrap()
            .contains("California Privacy Protection Agency")
    );
    let eu = entry(&public.body, "eu");
    assert_eq!(eu["source"], "built_in");
    assert!(
        eu["regulator"]["url"]
            .as_str()
            .unwrap()
            .contains("edpb.europa.eu")
    );
    assert!(
        eu["note"]
            .as_str()
            .unwrap()
            .contains("lead supervisory authority")
    );
    let other = entry(&public.body, "other");
    assert!(other["regulator"].is_null());
    assert_eq!(other["source"], "none");
    assert!(
        other["note"]
            .as_str()
            .unwrap()
            .contains("No regulator is built in")
    );
    app.call(
        Method::GET,
        "/v1/institutions/nowhere/privacy-contact",
        None,
        None,
    )
    .await
    .assert_problem(404, "tenant_not_found");
    // A suspended institution publishes nothing, answering as an unknown one does.
    let south = app.create_institution("south").await;
    let suspended = app
        .post(
            &format!("/v1/tenants/{}/suspend", south.id),
            &app.operator_token,
            json!({"reason": "contract paused"}),
        )
        .await;
    assert_eq!(suspended.status, StatusCode::OK, "{}", suspended.body);
    app.call(
        Method::GET,
        "/v1/institutions/south/privacy-contact",
        None,
        None,
    )
    .await
    .assert_problem(404, "tenant_not_found");

    // Any signed-in person reads it; only a privacy officer or the admin writes it.
    let (_, learner) = signed_in(&app, &north, "lee", &["learner"]).await;
    let read = app.get("/v1/privacy/contact", &learner).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    assert_eq!(read.body, public.body);
    let body = json!({
        "contact": {"name": "Data Protection Officer", "email": "dpo@north.test",
                    "postal_address": "North University\n1 College Road", "url": "https://north.test/privacy"},
        "default_jurisdiction": "eu",
        "regulators": [{"jurisdiction": "eu", "name": "Data Protection Commission",
                        "url": "https://www.dataprotection.ie/"}],
    });
    let refused = put_contact_if(&app, &learner, "\"0\"", body.clone()).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    let set = put_contact_if(&app, admin, "\"0\"", body.clone()).await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    assert_eq!(set.body["revision"], 1);
    assert_eq!(set.body["contact"]["email"], "dpo@north.test");
    assert_eq!(set.body["default_jurisdiction"], "eu");
    // The lead supervisory authority the institution names replaces the EDPB pointer.
    assert_eq!(set.body["regulators"][0]["jurisdiction"], "eu");
    assert_eq!(set.body["regulators"][0]["source"], "institution");
    assert_eq!(
        set.body["regulators"][0]["regulator"]["name"],
        "Data Protection Commission"
    );
    assert_eq!(entry(&set.body, "uk")["source"], "built_in");
    let (_, officer) = signed_in(&app, &north, "olive", &["privacy_officer"]).await;
    let tag = set.header("etag").unwrap();
    let by_officer = put_contact_if(&app, &officer, &tag, body.clone()).await;
    assert_eq!(by_officer.status, StatusCode::OK, "{}", by_officer.body);
    assert_eq!(by_officer.body["revision"], 2);

    // Bad input: a clear 4xx naming the fields, nothing changed.
    let current = by_officer.header("etag").unwrap();
    let bad = put_contact_if(
        &app,
        admin,
        &current,
        json!({
            "contact": {"name": " ", "email": "not an address", "url": "ftp://north.test"},
            "default_jurisdiction": "uk",
            "regulators": [
                {"jurisdiction": "uk", "name": "ICO", "url": "https://ico.org.uk/"},
                {"jurisdiction": "uk", "name": "Again", "url": "javascript:alert(1)"},
            ],
        }),
    )
    .await;
    bad.assert_problem(422, "validation_failed");
    let fields = bad.error_fields();
    for field in [
        "contact.name",
        "contact.email",
        "contact.url",
        "regulators[1].jurisdiction",
        "regulators[1].url",
    ] {
        assert!(fields.iter().any(|f| f == field), "{field}: {fields:?}");
    }
    let unknown = put_contact_if(
        &app,
        admin,
        &current,
        json!({"default_jurisdiction": "mars"}),
    )
    .await;
    assert_eq!(unknown.status.as_u16() / 100, 4, "{}", unknown.body);
    let extra = put_contact_if(
        &app,
        admin,
        &current,
        json!({"default_jurisdiction": "eu", "extra": true}),
    )
    .await;
    assert_eq!(extra.status.as_u16() / 100, 4, "{}", extra.body);
    let after = app
        .call(
            Method::GET,
            "/v1/institutions/north/privacy-contact",
            None,
            None,
        )
        .await;
    assert_eq!(after.body["revision"], 2, "{}", after.body);
    assert_eq!(after.body["default_jurisdiction"], "eu");
    assert_eq!(after.body["contact"]["name"], "Data Protection Officer");
    let audit = app
        .get("/v1/audit/events?action=privacy_contact.updated", admin)
        .await;
    assert_eq!(
        audit.body["items"].as_array().unwrap().len(),
        2,
        "{}",
        audit.body
    );
}

async fn promise_l2_a_concern_is_clocked_like_a_request_and_answered_to_the_person(
    backend: Backend,
) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let set = put_contact_if(
        &app,
        admin,
        "\"0\"",
        json!({"contact": {"name": "Privacy Office", "email": "privacy@north.test"},
               "default_jurisdiction": "uk"}),
    )
    .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    let (ada, token) = signed_in(&app, &north, "ada", &["learner"]).await;
    let (_, officer) = signed_in(&app, &north, "olive", &["privacy_officer"]).await;
    // A concern needs its text.
    for details in [None, Some("   ")] {
        let mut body = json!({"kind": "concern"});
        if let Some(d) = details {
            body["details"] = json!(d);
        }
        let reply = app.post("/v1/me/privacy-requests", &token, body).await;
        reply.assert_problem(422, "validation_failed");
        assert_eq!(reply.error_fields(), vec!["details"]);
    }
    let text = "Lecture recordings show my face and are kept for years.";
    let raised = app
        .post(
            "/v1/me/privacy-requests",
            &token,
            json!({"kind": "concern", "details": text}),
        )
        .await;
    assert_eq!(raised.status, StatusCode::CREATED, "{}", raised.body);
    assert_eq!(raised.body["kind"], "concern");
    assert_eq!(raised.body["status"], "pending_approval");
    // The institution's default jurisdiction, and the requests' clock: 30 days.
    assert_eq!(raised.body["jurisdiction"], "uk");
    let received: chrono::DateTime<chrono::Utc> = raised.body["received_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let due: chrono::DateTime<chrono::Utc> = raised.body["clock"]["due_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(due, received + chrono::Duration::days(30));
    assert!(raised.body["tasks"].as_array().unwrap().is_empty());
    let id = raised.body["id"].as_str().unwrap().to_string();
    // Listed, extended with a reason told, and not decided but answered.
    let listed = app.get("/v1/privacy-requests?kind=concern", &officer).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    assert_eq!(listed.body["items"][0]["id"], id.as_str());
    assert_eq!(listed.body["items"][0]["details"], text);
    let extended = app
        .post(
            &format!("/v1/privacy-requests/{id}/extension"),
            &officer,
            json!({"days": 14, "reason": "The recordings are held by the media service."}),
        )
        .await;
    assert_eq!(extended.status, StatusCode::OK, "{}", extended.body);
    assert_eq!(extended.body["clock"]["extension_days_left"], 46);
    app.post(
        &format!("/v1/privacy-requests/{id}/decision"),
        &officer,
        json!({"decision": "approve", "reason": "ok"}),
    )
    .await
    .assert_problem(409, "concern_needs_response");
    let respond = |token: String, id: String, response: &'static str| {
        let app = &app;
        async move {
            app.post(
                &format!("/v1/privacy-requests/{id}/response"),
                &token,
                json!({"response": response}),
            )
            .await
        }
    };
    respond(officer.clone(), id.clone(), "  ")
        .await
        .assert_problem(422, "validation_failed");
    let (_, learner) = signed_in(&app, &north, "lee", &["learner"]).await;
    let refused = respond(learner, id.clone(), "No.").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    let answered = respond(
        officer.clone(),
        id.clone(),
        "Recordings are now deleted at the end of each term.",
    )
    .await;
    assert_eq!(answered.status, StatusCode::OK, "{}", answered.body);
    assert_eq!(answered.body["status"], "complete");
    assert_eq!(
        answered.body["decision_reason"],
        "Recordings are now deleted at the end of each term."
    );
    assert!(answered.body["completed_at"].is_string());
    respond(officer.clone(), id.clone(), "Again.")
        .await
        .assert_problem(409, "concern_not_open");
    let told = passwords::outbox_of(&app, &north, &ada).await;
    assert!(
        told.iter().any(|(k, t)| k == "privacy.concern_answered"
            && t.contains("deleted at the end of each term")),
        "{told:?}"
    );
    assert!(
        told.iter()
            .any(|(k, t)| k == "privacy.request_extended" && t.contains("media service")),
        "{told:?}"
    );
    let mine = app
        .get(&format!("/v1/me/privacy-requests/{id}"), &token)
        .await;
    assert_eq!(mine.body["status"], "complete", "{}", mine.body);
    // A request of another kind is decided, not answered.
    let access = app
        .post("/v1/me/privacy-requests", &token, json!({"kind": "access"}))
        .await;
    respond(
        officer.clone(),
        access.body["id"].as_str().unwrap().to_string(),
        "Here.",
    )
    .await
    .assert_problem(409, "not_a_concern");
    // Nobody answers their own concern.
    let own = app
        .post(
            "/v1/me/privacy-requests",
            &officer,
            json!({"kind": "concern", "details": "My own data was shared.", "jurisdiction": "eu"}),
        )
        .await;
    assert_eq!(
        own.body["jurisdiction"], "eu",
        "the stated one wins: {}",
        own.body
    );
    respond(
        officer.clone(),
        own.body["id"].as_str().unwrap().to_string(),
        "Fine.",
    )
    .await
    .assert_problem(403, "own_request_decision");
    // Raised on a person's behalf by the admin: verified by the code sent to them first.
    let bob = person(&app, &north, "bob").await;
    let behalf = app
        .post(
            "/v1/privacy-requests",
            admin,
            json!({"person_id": bob, "kind": "concern", "details": "Bob wrote to us by post."}),
        )
        .await;
    assert_eq!(behalf.status, StatusCode::CREATED, "{}", behalf.body);
    assert_eq!(behalf.body["status"], "identity_unverified");
    let behalf_id = behalf.body["id"].as_str().unwrap().to_string();
    respond(officer.clone(), behalf_id.clone(), "Not yet.")
        .await
        .assert_problem(409, "concern_not_open");
    verify_with_code(&app, &north, admin, &bob, &behalf_id).await;
    let closed = respond(officer, behalf_id, "We replied to Bob by post as well.").await;
    assert_eq!(closed.status, StatusCode::OK, "{}", closed.body);
    let audit = app
        .get(
            "/v1/audit/events?action=privacy_request.concern_answered",
            admin,
        )
        .await;
    assert_eq!(
        audit.body["items"].as_array().unwrap().len(),
        2,
        "{}",
        audit.body
    );
}

/// Two people editing where to raise a concern do not lose each other's change: the read
/// carries an `ETag` (`"0"` before anything is set), and every change names the revision it
/// was based on (428 without, 412 when another change came first, nothing changed either
/// way); `*` overwrites whatever is current on purpose.
async fn promise_l2_the_privacy_contact_changes_only_from_the_revision_last_read(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let (_, officer) = signed_in(&app, &north, "olive", &["privacy_officer"]).await;
    let contact = |name: &str| json!({"contact": {"name": name, "email": "dpo@north.test"}, "default_jurisdiction": "eu"});
    let read = app.get("/v1/privacy/contact", admin).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    let unset = read.header("etag").unwrap();
    assert_eq!(unset, "\"0\"");
    put_contact(&app, admin, contact("Unconditional"))
        .await
        .assert_problem(428, "if_match_required");

    let first = put_contact_if(&app, admin, &unset, contact("First Officer")).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(first.header("etag").as_deref(), Some("\"1\""));
    let read = app.get("/v1/privacy/contact", &officer).await;
    let tag = read.header("etag").unwrap();
    assert_eq!(tag, "\"1\"");

    // Set once: a change must say what it was based on.
    put_contact(&app, admin, contact("Unconditional"))
        .await
        .assert_problem(428, "if_match_required");
    put_contact_if(&app, admin, &unset, contact("From nothing"))
        .await
        .assert_problem(412, "revision_mismatch");
    // The officer changes it from what she read; the admin's change from the same read is
    // then stale.
    let by_officer = put_contact_if(&app, &officer, &tag, contact("Second Officer")).await;
    assert_eq!(by_officer.status, StatusCode::OK, "{}", by_officer.body);
    assert_eq!(by_officer.body["revision"], 2);
    assert_eq!(by_officer.header("etag").as_deref(), Some("\"2\""));
    put_contact_if(&app, admin, &tag, contact("Lost Update"))
        .await
        .assert_problem(412, "revision_mismatch");
    put_contact_if(&app, admin, "\"abc\"", contact("Not a revision"))
        .await
        .assert_problem(412, "revision_mismatch");
    let now = app.get("/v1/privacy/contact", admin).await;
    assert_eq!(now.body["revision"], 2, "{}", now.body);
    assert_eq!(now.body["contact"]["name"], "Second Officer");
    assert_eq!(now.header("etag").as_deref(), Some("\"2\""));

    // `*`: a deliberate overwrite of whatever is current.
    let overwrite = put_contact_if(&app, admin, "*", contact("Overwritten")).await;
    assert_eq!(overwrite.status, StatusCode::OK, "{}", overwrite.body);
    assert_eq!(overwrite.body["revision"], 3);
    let audit = app
        .get("/v1/audit/events?action=privacy_contact.updated", admin)
        .await;
    assert_eq!(
        audit.body["items"].as_array().unwrap().len(),
        3,
        "only the changes that went through: {}",
        audit.body
    );
}
