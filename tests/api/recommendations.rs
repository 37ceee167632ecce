//! Recommendations and course reminders (U3, C2), through the public API on both backends:
//! recommendations are computed at each request from enrollments, progress and stated
//! preferences, only while the person's consent covers personalisation and their processing
//! is not restricted (a withdrawal or a restriction empties the very next answer); course
//! reminders go through the essential channel, once each, without any consent.

use crate::both_backends;
use crate::passwords::outbox_of;
use crate::privacy_requests::signed_in;
use crate::progress::{enroll, lesson, mark, module, set_rule};
use crate::support::{Backend, Institution, TestApp, spawn};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

both_backends!(
    promise_u3_recommendations_stop_at_once_when_consent_is_withdrawn,
    promise_u3_a_restricted_person_gets_no_recommendations,
    promise_c2_course_reminders_go_through_the_essential_channel_once,
);

/// A published course with these tags: its id.
async fn tagged_course(app: &TestApp, admin: &str, code: &str, tags: &[&str]) -> String {
    let made = app
        .post(
            "/v1/courses",
            admin,
            json!({"code": code, "title": format!("Course {code}"), "status": "published",
                   "tags": tags}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    made.body["id"].as_str().unwrap().to_string()
}

async fn consent(app: &TestApp, token: &str, granted: bool) {
    let reply = app
        .call(
            Method::PUT,
            "/v1/me/consents",
            Some(token),
            Some(json!({"choices": [{"purpose": "personalisation", "granted": granted}]})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

async fn recommendations(app: &TestApp, token: &str) -> Value {
    let reply = app.get("/v1/me/recommendations", token).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body
}

/// `(course_id, reason)` of each recommendation, in order.
fn listed(answer: &Value) -> Vec<(String, String)> {
    answer["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["course_id"].as_str().unwrap().to_string(),
                i["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

struct Catalogue {
    /// Enrolled, two lessons, the first done: to continue at the second.
    ongoing: String,
    second_lesson: String,
    /// Completed, tagged `statistics`.
    completed: String,
    /// Not taken, tagged `statistics` (the completed one's topic).
    related: String,
    /// Not taken, tagged `poetry` (a stated topic).
    preferred: String,
    /// Not taken, tagged `poetry` but a draft: never recommended.
    draft: String,
    /// Not taken, tagged `cooking`: matches nothing.
    unrelated: String,
}

/// A learner of `inst` with progress in one course, one completed, a stated topic, and
/// personalisation granted: `(person, token, catalogue)`.
async fn learner_with_history(app: &TestApp, inst: &Institution) -> (String, String, Catalogue) {
    let admin = inst.admin_token.as_str();
    let (person, token) = signed_in(app, inst, "ada", &["learner"]).await;
    let ongoing = tagged_course(app, admin, "ONGOING", &["computing"]).await;
    let m = module(app, admin, &ongoing, "Only").await;
    let first = lesson(app, admin, &m, "First", true).await;
    let second_lesson = lesson(app, admin, &m, "Second", true).await;
    let completed = tagged_course(app, admin, "DONE", &["statistics"]).await;
    let dm = module(app, admin, &completed, "Only").await;
    let dl = lesson(app, admin, &dm, "The lesson", true).await;
    set_rule(
        app,
        admin,
        &completed,
        json!({"required_lessons": "all_required", "passing_quizzes": []}),
    )
    .await;
    let related = tagged_course(app, admin, "RELATED", &["statistics", "r"]).await;
    let preferred = tagged_course(app, admin, "PREFERRED", &["poetry"]).await;
    let draft = app
        .post(
            "/v1/courses",
            admin,
            json!({"code": "DRAFT", "title": "Draft", "tags": ["poetry"]}),
        )
        .await;
    assert_eq!(draft.status, StatusCode::CREATED, "{}", draft.body);
    let draft = draft.body["id"].as_str().unwrap().to_string();
    let unrelated = tagged_course(app, admin, "UNRELATED", &["cooking"]).await;
    enroll(app, admin, &ongoing, &person).await;
    enroll(app, admin, &completed, &person).await;
    let done = mark(app, &token, &ongoing, &first, "completed").await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    let done = mark(app, &token, &completed, &dl, "completed").await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    let stated = app
        .call(
            Method::PUT,
            "/v1/me/learning-preferences",
            Some(&token),
            Some(json!({"topics": ["poetry", "poetry"]})),
        )
        .await;
    assert_eq!(stated.status, StatusCode::OK, "{}", stated.body);
    assert_eq!(stated.body["topics"], json!(["poetry"]));
    let read = app.get("/v1/me/learning-preferences", &token).await;
    assert_eq!(read.body["topics"], json!(["poetry"]), "{}", read.body);
    consent(app, &token, true).await;
    (
        person,
        token,
        Catalogue {
            ongoing,
            second_lesson,
            completed,
            related,
            preferred,
            draft,
            unrelated,
        },
    )
}

/// What a learner with that history is recommended, in order.
fn expected(c: &Catalogue) -> Vec<(String, String)> {
    vec![
        (c.ongoing.clone(), "continue_course".into()),
        (c.preferred.clone(), "matches_preferences".into()),
        (c.related.clone(), "related_to_completed".into()),
    ]
}

async fn promise_u3_recommendations_stop_at_once_when_consent_is_withdrawn(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let (_, token, c) = learner_with_history(&app, &north).await;

    let answer = recommendations(&app, &token).await;
    assert_eq!(answer["withheld"], Value::Null, "{answer}");
    assert_eq!(listed(&answer), expected(&c), "{answer}");
    assert_eq!(
        answer["items"][0]["next_lesson_id"],
        c.second_lesson.as_str()
    );
    assert_eq!(answer["items"][1]["topics"], json!(["poetry"]));
    assert_eq!(answer["items"][2]["topics"], json!(["statistics"]));
    for never in [&c.completed, &c.draft, &c.unrelated] {
        assert!(
            !listed(&answer).iter().any(|(id, _)| id == never),
            "{answer}"
        );
    }

    // Withdrawn: the very next request computes nothing and says why.
    consent(&app, &token, false).await;
    let answer = recommendations(&app, &token).await;
    assert_eq!(answer["items"], json!([]), "{answer}");
    assert_eq!(answer["withheld"], "consent_withdrawn");

    // Granted again: back at once (nothing was stored, nothing needs rebuilding).
    consent(&app, &token, true).await;
    assert_eq!(listed(&recommendations(&app, &token).await), expected(&c));

    // A person who never consented gets none, and an API key is not a person.
    let (_, other) = signed_in(&app, &north, "bob", &["learner"]).await;
    let answer = recommendations(&app, &other).await;
    assert_eq!(answer["items"], json!([]));
    assert_eq!(answer["withheld"], "no_consent");
    app.get("/v1/me/recommendations", &north.admin_token)
        .await
        .assert_problem(403, "person_credential_required");

    // Bad preferences are refused naming the entry, and change nothing.
    app.call(
        Method::PUT,
        "/v1/me/learning-preferences",
        Some(&token),
        Some(json!({"topics": ["fine", "Not A Tag"]})),
    )
    .await
    .assert_problem(422, "validation_failed");
    let read = app.get("/v1/me/learning-preferences", &token).await;
    assert_eq!(read.body["topics"], json!(["poetry"]));
}

async fn promise_u3_a_restricted_person_gets_no_recommendations(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let (ada, token, c) = learner_with_history(&app, &north).await;
    assert_eq!(listed(&recommendations(&app, &token).await), expected(&c));

    let restrict = |restricted: bool| {
        let (app, admin, path) = (
            &app,
            north.admin_token.clone(),
            format!("/v1/privacy/people/{ada}/restriction"),
        );
        async move {
            let reply = app
                .call(
                    Method::PUT,
                    &path,
                    Some(&admin),
                    Some(json!({ "restricted": restricted })),
                )
                .await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        }
    };
    restrict(true).await;
    let answer = recommendations(&app, &token).await;
    assert_eq!(answer["items"], json!([]), "{answer}");
    assert_eq!(answer["withheld"], "restricted");
    // Nor may the restricted person's preferences change.
    app.call(
        Method::PUT,
        "/v1/me/learning-preferences",
        Some(&token),
        Some(json!({"topics": ["cooking"]})),
    )
    .await
    .assert_problem(409, "learner_restricted");

    restrict(false).await;
    assert_eq!(listed(&recommendations(&app, &token).await), expected(&c));
}

/// Runs the reminder job as of `now` (the job takes the clock so a test can move it).
async fn run_reminders(app: &TestApp, now: chrono::DateTime<chrono::Utc>) -> usize {
    let report = hub_course::reminders::send_due(
        &app.state.tenancy,
        app.state.privacy.messages().as_ref(),
        now,
    )
    .await
    .unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    report.sent
}

async fn promise_c2_course_reminders_go_through_the_essential_channel_once(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    // Ada is enrolled, has made no progress and has granted nothing: reminders are
    // essential, they need no consent. Bob completed the course: nothing to remind him of.
    let (ada, _) = signed_in(&app, &north, "ada", &["learner"]).await;
    let (bob, bob_token) = signed_in(&app, &north, "bob", &["learner"]).await;
    let course = tagged_course(&app, admin, "CS-101", &["computing"]).await;
    let m = module(&app, admin, &course, "Only").await;
    let l = lesson(&app, admin, &m, "The lesson", true).await;
    lesson(&app, admin, &m, "Optional reading", false).await;
    enroll(&app, admin, &course, &ada).await;
    enroll(&app, admin, &course, &bob).await;
    let done = mark(&app, &bob_token, &course, &l, "completed").await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    let reminders = |person: String| {
        let (app, north) = (&app, &north);
        async move {
            outbox_of(app, north, &person)
                .await
                .into_iter()
                .filter(|(kind, _)| kind.starts_with("course.reminder"))
                .collect::<Vec<_>>()
        }
    };

    // A fresh enrollment is not idle: nothing is due in two hours.
    let now = chrono::Utc::now();
    assert_eq!(
        run_reminders(&app, now + chrono::Duration::hours(2)).await,
        0
    );
    assert!(reminders(ada.clone()).await.is_empty());

    // Eight days without progress: Ada is reminded, once, of her course only.
    let later = now + chrono::Duration::days(8);
    assert_eq!(run_reminders(&app, later).await, 1);
    let told = reminders(ada.clone()).await;
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0].0, "course.reminder.inactive");
    assert!(told[0].1.contains("\"Course CS-101\""), "{}", told[0].1);
    assert!(reminders(bob.clone()).await.is_empty());

    // Once: later passes (each claimed anew) send nothing more.
    assert_eq!(
        run_reminders(&app, later + chrono::Duration::hours(2)).await,
        0
    );
    assert_eq!(
        run_reminders(&app, later + chrono::Duration::days(9)).await,
        0
    );
    assert_eq!(reminders(ada.clone()).await.len(), 1);

    // Through the essential channel: the delivery list says so.
    let deliveries = app.get("/v1/messaging/deliveries?limit=200", admin).await;
    assert_eq!(deliveries.status, StatusCode::OK, "{}", deliveries.body);
    let sent: Vec<&Value> = deliveries.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["kind"] == "course.reminder.inactive")
        .collect();
    assert_eq!(sent.len(), 1, "{}", deliveries.body);
    assert_eq!(sent[0]["purpose"], "essential", "{}", sent[0]);
}
