//! Minors and guardians (A1), through the public API on both backends: the institution's
//! table of digital-consent ages by country, the consent gate refusing every consentable
//! purpose for a minor until a guardian confirms with a single-use mailed code, and the
//! catalogue hiding restricted and under-age courses from a minor in its own queries.

use crate::both_backends;
use crate::passwords::{outbox_of, request_reset, reset, reset_code, sign_in};
use crate::support::{Backend, Institution, Reply, TestApp, spawn};
use chrono::{Datelike, Utc};
use hub_tenant::Principal;
use hub_tenant::consent_gate::ConsentPurpose;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

both_backends!(
    promise_a1_a_minor_needs_verified_guardian_consent_beyond_essential_processing,
    promise_a1_a_guardians_code_confirms_once_and_a_wrong_one_changes_nothing,
    promise_a1_the_digital_consent_age_follows_the_persons_country,
    promise_a1_a_minor_cannot_see_a_restricted_courses_id_in_any_listing_or_filter,
    promise_a1_the_guardian_observes_only_their_minors_progress,
    promise_a1_a_persons_own_country_sets_their_digital_consent_age,
    promise_a1_confirming_guardian_consent_creates_the_guardian_with_the_guardian_role
);

const PASSWORD: &str = "meadow-kettle-orbit-42";

/// A birth date `years` years ago on the first of January: the person is `years` old, or
/// `years - 1` on New Year's Day itself (either way the checks below hold).
pub(crate) fn born_years_ago(years: i32) -> String {
    format!("{}-01-01", Utc::now().year() - years)
}

/// A person with a live session: `(id, token)`. `birth_date: None` keeps no birth date.
pub(crate) async fn person(
    app: &TestApp,
    inst: &Institution,
    email: &str,
    birth_date: Option<&str>,
) -> (String, String) {
    person_with_roles(app, inst, email, birth_date, &["learner"]).await
}

async fn person_with_roles(
    app: &TestApp,
    inst: &Institution,
    email: &str,
    birth_date: Option<&str>,
    roles: &[&str],
) -> (String, String) {
    let mut body = json!({"name": "Sam Learner", "email": email, "roles": roles});
    if let Some(date) = birth_date {
        body["birth_date"] = json!(date);
    }
    let created = app.post("/v1/people", &inst.admin_token, body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_string();
    let token = password_session(app, inst, &id, email).await;
    (id, token)
}

/// A person created without a password gets in: they set one with a reset code mailed to
/// their address, then sign in with it. Returns the session token.
async fn password_session(app: &TestApp, inst: &Institution, id: &str, email: &str) -> String {
    request_reset(app, &inst.slug, email).await;
    let code = reset_code(app, inst, id).await;
    let done = reset(app, &inst.slug, &code, PASSWORD).await;
    assert_eq!(done.status, StatusCode::NO_CONTENT, "{}", done.body);
    let signed_in = sign_in(app, &inst.slug, email, PASSWORD).await;
    assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.body);
    signed_in.body["session_token"]
        .as_str()
        .unwrap()
        .to_string()
}

pub(crate) async fn institution(app: &TestApp, slug: &str) -> Institution {
    let inst = app.create_institution(slug).await;
    app.allow_local_accounts(&inst.admin_token).await;
    inst
}

async fn grant_everything(app: &TestApp, token: &str) -> Value {
    let choices: Vec<Value> = ["analytics", "personalisation", "marketing", "integrations"]
        .iter()
        .map(|p| json!({"purpose": p, "granted": true}))
        .collect();
    let reply = app
        .call(
            Method::PUT,
            "/v1/me/consents",
            Some(token),
            Some(json!({ "choices": choices })),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body
}

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

/// What the gate answers processors ([`hub_tenant::Tenancy::may_use`]) for this person.
async fn may_use(
    app: &TestApp,
    inst: &Institution,
    person: &str,
    purpose: ConsentPurpose,
) -> String {
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
    let decision = app
        .state
        .tenancy
        .may_use(&scope, person.parse().unwrap(), purpose, Utc::now())
        .await
        .unwrap();
    scope.commit().await.unwrap();
    format!("{}:{}", decision.allowed, decision.reason)
}

async fn ask_guardian(app: &TestApp, token: &str, person: &str, email: &str) -> Reply {
    app.post(
        &format!("/v1/people/{person}/guardian-consents"),
        token,
        json!({"guardian_email": email}),
    )
    .await
}

/// The code in the newest guardian-consent message about the minor.
async fn guardian_code(app: &TestApp, inst: &Institution, minor: &str) -> String {
    let messages = outbox_of(app, inst, minor).await;
    let (_, text) = messages
        .iter()
        .rev()
        .find(|(kind, _)| kind == "guardian_consent")
        .expect("a guardian-consent message in the outbox")
        .clone();
    text.split("code: ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

async fn confirm(app: &TestApp, slug: &str, token: &str) -> Reply {
    app.call(
        Method::POST,
        "/v1/guardian-consents/confirmations",
        None,
        Some(json!({"tenant": slug, "token": token})),
    )
    .await
}

async fn promise_a1_a_minor_needs_verified_guardian_consent_beyond_essential_processing(
    backend: Backend,
) {
    let app = spawn(backend).await;
    let inst = institution(&app, "minor-consent").await;
    let twelve = born_years_ago(13);
    let (minor, minor_token) =
        person(&app, &inst, "sam@minor-consent.example", Some(&twelve)).await;
    let (adult, adult_token) = person(&app, &inst, "ada@minor-consent.example", None).await;

    // Both grant every consentable purpose themselves; only the adult's grant counts.
    let ledger = grant_everything(&app, &minor_token).await;
    for purpose in ["analytics", "personalisation", "marketing", "integrations"] {
        assert_eq!(
            decision(&ledger, purpose),
            (false, "guardian_consent_required".into()),
            "{purpose}: {ledger}"
        );
    }
    assert_eq!(decision(&ledger, "essential"), (true, "essential".into()));
    let ledger = grant_everything(&app, &adult_token).await;
    assert_eq!(
        decision(&ledger, "marketing"),
        (true, "consent_granted".into())
    );
    for purpose in [
        ConsentPurpose::Marketing,
        ConsentPurpose::Personalisation,
        ConsentPurpose::Analytics,
        ConsentPurpose::Integrations,
    ] {
        assert_eq!(
            may_use(&app, &inst, &minor, purpose).await,
            "false:guardian_consent_required"
        );
        assert_eq!(
            may_use(&app, &inst, &adult, purpose).await,
            "true:consent_granted"
        );
    }
    assert_eq!(
        may_use(&app, &inst, &minor, ConsentPurpose::Essential).await,
        "true:essential"
    );

    // The minor asks a guardian; the code reaches the guardian's address, not the minor's.
    let asked = ask_guardian(&app, &minor_token, &minor, "parent@elsewhere.example").await;
    assert_eq!(asked.status, StatusCode::CREATED, "{}", asked.body);
    assert_eq!(asked.body["minor_person_id"], minor.as_str());
    let code = guardian_code(&app, &inst, &minor).await;
    // Still refused until the guardian confirms.
    assert_eq!(
        may_use(&app, &inst, &minor, ConsentPurpose::Marketing).await,
        "false:guardian_consent_required"
    );
    let confirmed = confirm(&app, &inst.slug, &code).await;
    assert_eq!(
        confirmed.status,
        StatusCode::NO_CONTENT,
        "{}",
        confirmed.body
    );
    // Now the minor's own choices decide, as an adult's do.
    let ledger = app.get("/v1/me/consents", &minor_token).await.body;
    assert_eq!(
        decision(&ledger, "marketing"),
        (true, "consent_granted".into())
    );
    assert_eq!(
        may_use(&app, &inst, &minor, ConsentPurpose::Personalisation).await,
        "true:consent_granted"
    );

    // An adult needs no guardian; another learner cannot ask for someone else.
    ask_guardian(&app, &inst.admin_token, &adult, "parent@elsewhere.example")
        .await
        .assert_problem(409, "conflict");
    ask_guardian(&app, &adult_token, &minor, "parent@elsewhere.example")
        .await
        .assert_problem(403, "insufficient_scope");
    let bad = ask_guardian(&app, &inst.admin_token, &minor, "not an address").await;
    bad.assert_problem(422, "validation_failed");
    assert_eq!(bad.error_fields(), ["guardian_email"]);
}

async fn promise_a1_a_guardians_code_confirms_once_and_a_wrong_one_changes_nothing(
    backend: Backend,
) {
    let app = spawn(backend).await;
    let inst = institution(&app, "guardian-code").await;
    let ten = born_years_ago(11);
    let (minor, _) = person(&app, &inst, "kim@guardian-code.example", Some(&ten)).await;
    let asked = ask_guardian(
        &app,
        &inst.admin_token,
        &minor,
        "guardian@guardian-code.example",
    )
    .await;
    assert_eq!(asked.status, StatusCode::CREATED, "{}", asked.body);
    let code = guardian_code(&app, &inst, &minor).await;

    // A wrong code, or the right one for another institution, changes nothing.
    confirm(&app, &inst.slug, "not-the-code")
        .await
        .assert_problem(401, "guardian_token_invalid");
    confirm(&app, "no-such-institution", &code)
        .await
        .assert_problem(401, "guardian_token_invalid");
    assert_eq!(
        may_use(&app, &inst, &minor, ConsentPurpose::Marketing).await,
        "false:guardian_consent_required"
    );
    // The right one once; a replay is refused.
    let first = confirm(&app, &inst.slug, &code).await;
    assert_eq!(first.status, StatusCode::NO_CONTENT, "{}", first.body);
    confirm(&app, &inst.slug, &code)
        .await
        .assert_problem(401, "guardian_token_invalid");
    // The consent is now verified: the gate goes on to the minor's own ledger (empty).
    assert_eq!(
        may_use(&app, &inst, &minor, ConsentPurpose::Marketing).await,
        "false:no_consent"
    );
}

async fn promise_a1_the_digital_consent_age_follows_the_persons_country(backend: Backend) {
    let app = spawn(backend).await;
    let inst = institution(&app, "consent-ages").await;
    let empty = app.get("/v1/digital-consent-ages", &inst.admin_token).await;
    assert_eq!(empty.status, StatusCode::OK, "{}", empty.body);
    assert_eq!(empty.body, json!({"ages": [], "default_age": 16}));

    // Fourteen: a minor by the default (16), not in the UK (13).
    let fourteen = born_years_ago(15);
    let (uk, uk_token) = person(&app, &inst, "uk@consent-ages.example", Some(&fourteen)).await;
    let current = app
        .get(&format!("/v1/people/{uk}"), &inst.admin_token)
        .await;
    let etag = current.header("etag").unwrap();
    let patched = app
        .call_with(
            Method::PATCH,
            &format!("/v1/people/{uk}"),
            Some(&inst.admin_token),
            Some(json!({"jurisdiction": "uk"})),
            &[("If-Match", etag.as_str())],
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    let (home, _) = person(&app, &inst, "home@consent-ages.example", Some(&fourteen)).await;
    grant_everything(&app, &uk_token).await;
    assert_eq!(
        may_use(&app, &inst, &uk, ConsentPurpose::Marketing).await,
        "false:guardian_consent_required"
    );

    let replaced = app
        .call(
            Method::PUT,
            "/v1/digital-consent-ages",
            Some(&inst.admin_token),
            Some(json!({"ages": [
                {"country": "GB", "age": 13},
                {"country": "AT", "age": 14, "home": true},
            ]})),
        )
        .await;
    assert_eq!(replaced.status, StatusCode::OK, "{}", replaced.body);
    assert_eq!(
        replaced.body["ages"],
        json!([
            {"country": "AT", "age": 14, "home": true},
            {"country": "GB", "age": 13, "home": false},
        ])
    );
    // The UK person is no minor now; the one under the home country (AT, 14) is none
    // either at fourteen. A home country of 16 makes them a minor again.
    assert_eq!(
        may_use(&app, &inst, &uk, ConsentPurpose::Marketing).await,
        "true:consent_granted"
    );
    let ask = ask_guardian(&app, &inst.admin_token, &home, "g@consent-ages.example").await;
    ask.assert_problem(409, "conflict");
    let again = app
        .call(
            Method::PUT,
            "/v1/digital-consent-ages",
            Some(&inst.admin_token),
            Some(json!({"ages": [{"country": "GB", "age": 13}, {"country": "DE", "age": 16, "home": true}]})),
        )
        .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    let ask = ask_guardian(&app, &inst.admin_token, &home, "g@consent-ages.example").await;
    assert_eq!(ask.status, StatusCode::CREATED, "{}", ask.body);

    // Bad rows are named and nothing changes.
    let bad = app
        .call(
            Method::PUT,
            "/v1/digital-consent-ages",
            Some(&inst.admin_token),
            Some(json!({"ages": [
                {"country": "gb", "age": 13},
                {"country": "FR", "age": 12},
                {"country": "IT", "age": 22, "home": true},
                {"country": "IT", "age": 14, "home": true},
            ]})),
        )
        .await;
    bad.assert_problem(422, "validation_failed");
    assert_eq!(
        bad.error_fields(),
        [
            "ages[0].country",
            "ages[1].age",
            "ages[2].age",
            "ages[3].country",
            "ages[3].home"
        ]
    );
    let kept = app.get("/v1/digital-consent-ages", &inst.admin_token).await;
    assert_eq!(kept.body["ages"], again.body["ages"]);
}

/// Every page of `path` (a listing with `cursor`/`limit`), as one text.
async fn every_page(app: &TestApp, token: &str, path: &str) -> String {
    let mut text = String::new();
    let mut cursor: Option<String> = None;
    let join = if path.contains('?') { '&' } else { '?' };
    loop {
        let url = match &cursor {
            Some(c) => format!("{path}{join}limit=1&cursor={c}"),
            None => format!("{path}{join}limit=1"),
        };
        let reply = app.get(&url, token).await;
        assert_eq!(reply.status, StatusCode::OK, "{url}: {}", reply.body);
        text.push_str(&reply.body.to_string());
        match reply.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return text,
        }
    }
}

async fn promise_a1_a_minor_cannot_see_a_restricted_courses_id_in_any_listing_or_filter(
    backend: Backend,
) {
    let app = spawn(backend).await;
    let inst = institution(&app, "minor-catalogue").await;
    let course = |code: &str, extra: Value| {
        let mut body = json!({"code": code, "title": code, "status": "published",
                              "tags": ["science"]});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let mut ids = Vec::new();
    for (code, extra) in [
        ("OPEN-1", json!({})),
        ("RESTRICTED-1", json!({"restricted_content": true})),
        ("ADULTS-1", json!({"minimum_age": 18})),
        ("TEENS-1", json!({"minimum_age": 10})),
    ] {
        let made = app
            .post("/v1/courses", &inst.admin_token, course(code, extra))
            .await;
        assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
        ids.push(made.body["id"].as_str().unwrap().to_string());
    }
    let (open, restricted, adults, teens) = (&ids[0], &ids[1], &ids[2], &ids[3]);
    assert_eq!(
        app.get(&format!("/v1/courses/{restricted}"), &inst.admin_token)
            .await
            .body["restricted_content"],
        true
    );
    let thirteen = born_years_ago(14);
    let (minor, minor_token) =
        person(&app, &inst, "lee@minor-catalogue.example", Some(&thirteen)).await;
    let (adult, adult_token) = person(&app, &inst, "max@minor-catalogue.example", None).await;

    // The minor enrols in what they may see, and is refused (without a trace) the rest.
    let enrolled = app
        .post(
            "/v1/me/enrollments",
            &minor_token,
            json!({"course_id": open}),
        )
        .await;
    assert_eq!(enrolled.status, StatusCode::CREATED, "{}", enrolled.body);
    for hidden in [restricted, adults] {
        app.post(
            "/v1/me/enrollments",
            &minor_token,
            json!({"course_id": hidden}),
        )
        .await
        .assert_problem(404, "course_not_found");
        app.post(
            &format!("/v1/courses/{hidden}/enrollments"),
            &inst.admin_token,
            json!({"person_id": minor, "state": "active"}),
        )
        .await
        .assert_problem(409, "learner_under_age");
        let bulk = app
            .post(
                &format!("/v1/courses/{hidden}/enrollments/bulk"),
                &inst.admin_token,
                json!({"person_ids": [minor], "state": "active"}),
            )
            .await;
        assert!(bulk.status.is_success(), "{}", bulk.body);
        assert!(
            bulk.body.to_string().contains("learner_under_age"),
            "{}",
            bulk.body
        );
        let listed = app
            .get(
                &format!("/v1/courses/{hidden}/enrollments"),
                &inst.admin_token,
            )
            .await;
        assert_eq!(listed.body["items"], json!([]), "{}", listed.body);
    }
    // An adult enrols in the restricted course (so it appears in enrollment listings).
    let adult_in = app
        .post(
            "/v1/me/enrollments",
            &adult_token,
            json!({"course_id": restricted}),
        )
        .await;
    assert_eq!(adult_in.status, StatusCode::CREATED, "{}", adult_in.body);

    // Every listing and filter the minor can call, every page of each.
    let mut seen = String::new();
    for path in [
        "/v1/courses".to_string(),
        "/v1/courses?status=published".to_string(),
        "/v1/courses?tag=science".to_string(),
        "/v1/courses?code=RESTRICTED-1".to_string(),
        "/v1/courses?code=ADULTS-1".to_string(),
        "/v1/courses?status=published&tag=science".to_string(),
        "/v1/me/enrollments".to_string(),
    ] {
        seen.push_str(&every_page(&app, &minor_token, &path).await);
    }
    for hidden in [restricted, adults] {
        assert!(!seen.contains(hidden.as_str()), "{hidden} in {seen}");
        let got = app
            .get(&format!("/v1/courses/{hidden}"), &minor_token)
            .await;
        // Answered as a course that does not exist is (the problem names only the path
        // the caller sent).
        got.assert_problem(404, "course_not_found");
        let unknown = app
            .get(
                &format!("/v1/courses/{}", uuid::Uuid::now_v7()),
                &minor_token,
            )
            .await;
        assert_eq!(got.body["detail"], unknown.body["detail"]);
    }
    assert!(
        seen.contains(open.as_str()) && seen.contains(teens.as_str()),
        "{seen}"
    );
    // The adult and the admin see the whole catalogue.
    for token in [&adult_token, &inst.admin_token] {
        let all = every_page(&app, token, "/v1/courses").await;
        for id in &ids {
            assert!(
                all.contains(id.as_str()),
                "{id} missing for an adult: {all}"
            );
        }
    }
    let _ = adult;
}

async fn promise_a1_the_guardian_observes_only_their_minors_progress(backend: Backend) {
    let app = spawn(backend).await;
    let inst = institution(&app, "guardians").await;
    let young = born_years_ago(12);
    let (child, child_token) = person(&app, &inst, "kid@guardians.example", Some(&young)).await;
    let (other_child, other_token) =
        person(&app, &inst, "other@guardians.example", Some(&young)).await;
    let (_, parent_token) =
        person_with_roles(&app, &inst, "parent@guardians.example", None, &["guardian"]).await;
    let (_, stranger_token) = person_with_roles(
        &app,
        &inst,
        "stranger@guardians.example",
        None,
        &["guardian"],
    )
    .await;
    let course_id = a_course_both_take(
        &app,
        &inst.admin_token,
        "KIDS-1",
        [&child_token, &other_token],
    )
    .await;
    let progress_of = |minor: &str| format!("/v1/guardians/me/minors/{minor}/progress");

    // Before consent is verified, the named guardian sees nothing.
    let asked = ask_guardian(&app, &inst.admin_token, &child, "parent@guardians.example").await;
    assert_eq!(asked.status, StatusCode::CREATED, "{}", asked.body);
    app.get(&progress_of(&child), &parent_token)
        .await
        .assert_problem(404, "person_not_found");
    let code = guardian_code(&app, &inst, &child).await;
    let confirmed = confirm(&app, &inst.slug, &code).await;
    assert_eq!(
        confirmed.status,
        StatusCode::NO_CONTENT,
        "{}",
        confirmed.body
    );

    // Their own child's progress, course by course.
    let seen = app.get(&progress_of(&child), &parent_token).await;
    assert_eq!(seen.status, StatusCode::OK, "{}", seen.body);
    let items = seen.body.as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", seen.body);
    assert_eq!(items[0]["course_id"], course_id.as_str());
    assert_eq!(items[0]["person_id"], child.as_str());
    // Another child, another guardian, the child themselves: 404 or 403, nothing shown.
    app.get(&progress_of(&other_child), &parent_token)
        .await
        .assert_problem(404, "person_not_found");
    app.get(&progress_of(&child), &stranger_token)
        .await
        .assert_problem(404, "person_not_found");
    app.get(&progress_of(&child), &child_token)
        .await
        .assert_problem(403, "insufficient_scope");
    // The read is in the audit trail, naming the child.
    let audit = app
        .get(
            "/v1/audit/events?limit=100&action=guardian.progress_read",
            &inst.admin_token,
        )
        .await;
    assert_eq!(audit.status, StatusCode::OK, "{}", audit.body);
    let reads = audit.body["items"].as_array().unwrap();
    assert_eq!(reads.len(), 1, "{}", audit.body);
    assert!(
        audit.body.to_string().contains(child.as_str()),
        "{}",
        audit.body
    );
}

/// Changes the person record at `path` with `If-Match` set to its current `ETag`.
async fn patch_person(app: &TestApp, token: &str, path: &str, body: Value) -> Reply {
    let current = app.get(path, token).await;
    assert_eq!(current.status, StatusCode::OK, "{}", current.body);
    app.call_with(
        Method::PATCH,
        path,
        Some(token),
        Some(body),
        &[("If-Match", current.header("etag").unwrap().as_str())],
    )
    .await
}

/// A published course both learners (by their session tokens) enroll in themselves; its id.
async fn a_course_both_take(app: &TestApp, admin: &str, code: &str, learners: [&str; 2]) -> String {
    let course = app
        .post(
            "/v1/courses",
            admin,
            json!({"code": code, "title": "Kids", "status": "published"}),
        )
        .await;
    assert_eq!(course.status, StatusCode::CREATED, "{}", course.body);
    let course_id = course.body["id"].as_str().unwrap().to_string();
    for token in learners {
        let enrolled = app
            .post("/v1/me/enrollments", token, json!({"course_id": course_id}))
            .await;
        assert_eq!(enrolled.status, StatusCode::CREATED, "{}", enrolled.body);
    }
    course_id
}

/// The people source's export of the person, then their erasure (what a privacy request
/// runs for them).
async fn export_then_erase(app: &TestApp, inst: &Institution, person: &str) -> Value {
    use hub_tenant::personal_data::{DataSubject, PersonalDataSource};
    let scope = app.tenant_scope(&inst.admin_token).await;
    let subject = DataSubject::person(person.parse().unwrap(), Vec::new());
    let source = hub_identity::people::PeopleSource;
    let exported = json!(source.export(&scope, &subject).await.unwrap());
    source.erase(&scope, &subject).await.unwrap();
    scope.commit().await.unwrap();
    exported
}

async fn promise_a1_a_persons_own_country_sets_their_digital_consent_age(backend: Backend) {
    let app = spawn(backend).await;
    let inst = institution(&app, "own-country").await;
    let admin = inst.admin_token.as_str();
    let ages = app
        .call(
            Method::PUT,
            "/v1/digital-consent-ages",
            Some(admin),
            Some(json!({"ages": [
                {"country": "DE", "age": 16},
                {"country": "ES", "age": 14},
                {"country": "GB", "age": 13},
            ]})),
        )
        .await;
    assert_eq!(ages.status, StatusCode::OK, "{}", ages.body);

    // Fourteen (fifteen after New Year's Day): a minor in Germany, not in Spain.
    let fourteen = born_years_ago(15);
    let created = app
        .post(
            "/v1/people",
            admin,
            json!({"name": "Lena", "email": "lena@own-country.example",
                   "birth_date": fourteen, "country": "DE", "roles": ["learner"]}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["country"], "DE");
    let lena = created.body["id"].as_str().unwrap().to_string();
    let path = format!("/v1/people/{lena}");
    assert_eq!(app.get(&path, admin).await.body["country"], "DE");
    // A minor: the gate asks for a guardian's consent before her own (empty) ledger.
    assert_eq!(
        may_use(&app, &inst, &lena, ConsentPurpose::Marketing).await,
        "false:guardian_consent_required"
    );
    // Her own country comes before her jurisdiction's (the UK's 13).
    let uk = patch_person(&app, admin, &path, json!({"jurisdiction": "uk"})).await;
    assert_eq!(uk.status, StatusCode::OK, "{}", uk.body);
    assert_eq!(uk.body["country"], "DE", "the country stays: {}", uk.body);
    assert_eq!(
        may_use(&app, &inst, &lena, ConsentPurpose::Marketing).await,
        "false:guardian_consent_required"
    );
    // Spain (14): no minor; the gate goes on to her own ledger.
    let spain = patch_person(&app, admin, &path, json!({"country": "ES"})).await;
    assert_eq!(spain.status, StatusCode::OK, "{}", spain.body);
    assert_eq!(spain.body["country"], "ES");
    assert_eq!(spain.body["jurisdiction"], "uk", "the jurisdiction stays");
    assert_eq!(
        may_use(&app, &inst, &lena, ConsentPurpose::Marketing).await,
        "false:no_consent"
    );
    ask_guardian(&app, admin, &lena, "parent@own-country.example")
        .await
        .assert_problem(409, "conflict");
    // Back to Germany: a minor again, and a guardian can be asked.
    let back = patch_person(&app, admin, &path, json!({"country": "DE"})).await;
    assert_eq!(back.status, StatusCode::OK, "{}", back.body);
    let asked = ask_guardian(&app, admin, &lena, "parent@own-country.example").await;
    assert_eq!(asked.status, StatusCode::CREATED, "{}", asked.body);
    // Cleared: her jurisdiction's country decides (the UK, 13).
    let cleared = patch_person(&app, admin, &path, json!({"country": null})).await;
    assert_eq!(cleared.status, StatusCode::OK, "{}", cleared.body);
    assert_eq!(cleared.body["country"], Value::Null);
    assert_eq!(
        may_use(&app, &inst, &lena, ConsentPurpose::Marketing).await,
        "false:no_consent"
    );
    // The same birth date with no country and no jurisdiction has the default (16).
    let (plain, _) = person(&app, &inst, "plain@own-country.example", Some(&fourteen)).await;
    assert_eq!(
        may_use(&app, &inst, &plain, ConsentPurpose::Marketing).await,
        "false:guardian_consent_required"
    );
    // The person keeps it on their own profile too.
    let (kim, kim_token) = person(&app, &inst, "kim@own-country.example", Some(&fourteen)).await;
    let own = patch_person(&app, &kim_token, "/v1/me/profile", json!({"country": "ES"})).await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.body);
    assert_eq!(own.body["country"], "ES");
    assert_eq!(
        may_use(&app, &inst, &kim, ConsentPurpose::Marketing).await,
        "false:no_consent"
    );

    // A country that is not an upper-case ISO 3166-1 alpha-2 code is named; nothing changes.
    for bad in ["de", "DEU", "D", "1A", ""] {
        let refused = app
            .post(
                "/v1/people",
                admin,
                json!({"name": "Nobody", "email": "nobody@own-country.example",
                       "country": bad}),
            )
            .await;
        refused.assert_problem(422, "validation_failed");
        assert_eq!(refused.error_fields(), ["country"], "{bad}");
        let patched = patch_person(&app, admin, &path, json!({"country": bad})).await;
        patched.assert_problem(422, "validation_failed");
        assert_eq!(patched.error_fields(), ["country"], "{bad}");
    }
    let nobody = app
        .get("/v1/people?email=nobody@own-country.example", admin)
        .await;
    assert_eq!(nobody.body["items"], json!([]), "{}", nobody.body);
    assert_eq!(app.get(&path, admin).await.body["country"], Value::Null);

    // Her country is hers: in her export, and gone with her erasure.
    patch_person(&app, admin, &path, json!({"country": "DE"})).await;
    let exported = export_then_erase(&app, &inst, &lena).await;
    assert_eq!(exported[0]["country"], "DE", "{exported}");
    let erased = app.get(&path, admin).await;
    assert_eq!(erased.body["country"], Value::Null, "{}", erased.body);
    assert_eq!(erased.body["name"], hub_identity::people::ERASED_NAME);
}

/// The audit entries with this action naming `person`.
async fn audited(app: &TestApp, inst: &Institution, action: &str, person: &str) -> usize {
    let audit = app
        .get(
            &format!("/v1/audit/events?limit=200&action={action}"),
            &inst.admin_token,
        )
        .await;
    assert_eq!(audit.status, StatusCode::OK, "{}", audit.body);
    audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e.to_string().contains(person))
        .count()
}

async fn promise_a1_confirming_guardian_consent_creates_the_guardian_with_the_guardian_role(
    backend: Backend,
) {
    let app = spawn(backend).await;
    let inst = institution(&app, "guardian-made").await;
    let admin = inst.admin_token.as_str();
    let young = born_years_ago(12);
    let (child, child_token) = person(&app, &inst, "kid@guardian-made.example", Some(&young)).await;
    let (sibling, sibling_token) =
        person(&app, &inst, "sib@guardian-made.example", Some(&young)).await;
    let course_id = a_course_both_take(&app, admin, "KIDS-2", [&child_token, &sibling_token]).await;
    let progress_of = |minor: &str| format!("/v1/guardians/me/minors/{minor}/progress");

    // Nobody of the institution has the guardian's address when the code is asked for.
    let mum_email = "mum@guardian-made.example";
    let by_email = format!("/v1/people?email={mum_email}");
    let asked = ask_guardian(&app, &child_token, &child, mum_email).await;
    assert_eq!(asked.status, StatusCode::CREATED, "{}", asked.body);
    assert_eq!(app.get(&by_email, admin).await.body["items"], json!([]));
    let code = guardian_code(&app, &inst, &child).await;
    let confirmed = confirm(&app, &inst.slug, &code).await;
    assert_eq!(
        confirmed.status,
        StatusCode::NO_CONTENT,
        "{}",
        confirmed.body
    );
    // Now there is one, with the guardian role only, made by the confirmation.
    let found = app.get(&by_email, admin).await;
    let items = found.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", found.body);
    let mum = items[0]["id"].as_str().unwrap().to_string();
    assert_eq!(items[0]["roles"], json!(["guardian"]));
    assert_eq!(items[0]["source"], "guardian_consent");
    assert_eq!(items[0]["status"], "active");
    assert_eq!(audited(&app, &inst, "person.created", &mum).await, 1);
    // A replay is refused and makes nobody twice.
    confirm(&app, &inst.slug, &code)
        .await
        .assert_problem(401, "guardian_token_invalid");
    let again = app.get(&by_email, admin).await;
    assert_eq!(again.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(audited(&app, &inst, "person.created", &mum).await, 1);
    assert_eq!(
        audited(&app, &inst, "guardian_consent.confirmed", &child).await,
        1
    );

    // She has no password: she sets one with a reset code mailed to her address (local
    // accounts are allowed here), signs in, and observes her child's progress only.
    let mum_token = password_session(&app, &inst, &mum, mum_email).await;
    let seen = app.get(&progress_of(&child), &mum_token).await;
    assert_eq!(seen.status, StatusCode::OK, "{}", seen.body);
    let courses = seen.body.as_array().unwrap();
    assert_eq!(courses.len(), 1, "{}", seen.body);
    assert_eq!(courses[0]["person_id"], child.as_str());
    assert_eq!(courses[0]["course_id"], course_id.as_str());
    app.get(&progress_of(&sibling), &mum_token)
        .await
        .assert_problem(404, "person_not_found");

    // An existing person with the address and no guardian role is granted it at
    // confirmation (their session, which carried the old roles, ends) and linked.
    let dad_email = "dad@guardian-made.example";
    let (dad, dad_token) = person(&app, &inst, dad_email, None).await;
    let asked = ask_guardian(&app, admin, &sibling, dad_email).await;
    assert_eq!(asked.status, StatusCode::CREATED, "{}", asked.body);
    let code = guardian_code(&app, &inst, &sibling).await;
    let confirmed = confirm(&app, &inst.slug, &code).await;
    assert_eq!(
        confirmed.status,
        StatusCode::NO_CONTENT,
        "{}",
        confirmed.body
    );
    let dad_now = app.get(&format!("/v1/people/{dad}"), admin).await;
    assert_eq!(dad_now.body["roles"], json!(["learner", "guardian"]));
    assert_eq!(dad_now.body["source"], "admin");
    let old_session = app.get("/v1/me/profile", &dad_token).await;
    assert_eq!(
        old_session.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        old_session.body
    );
    let signed_in = sign_in(&app, &inst.slug, dad_email, PASSWORD).await;
    assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.body);
    let dad_token = signed_in.body["session_token"].as_str().unwrap();
    let seen = app.get(&progress_of(&sibling), dad_token).await;
    assert_eq!(seen.status, StatusCode::OK, "{}", seen.body);
    assert_eq!(seen.body[0]["person_id"], sibling.as_str());
    app.get(&progress_of(&child), dad_token)
        .await
        .assert_problem(404, "person_not_found");
    // A guardian confirming for a second child keeps what they have: nobody is created.
    let asked = ask_guardian(&app, admin, &sibling, mum_email).await;
    assert_eq!(asked.status, StatusCode::CREATED, "{}", asked.body);
    let code = guardian_code(&app, &inst, &sibling).await;
    assert_eq!(
        confirm(&app, &inst.slug, &code).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(audited(&app, &inst, "person.created", &mum).await, 1);
    let mum_now = app.get(&format!("/v1/people/{mum}"), admin).await;
    assert_eq!(mum_now.body["roles"], json!(["guardian"]));
    let seen = app.get(&progress_of(&sibling), &mum_token).await;
    assert_eq!(seen.status, StatusCode::OK, "{}", seen.body);
}
