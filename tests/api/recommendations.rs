//! Recommendations and course reminders (U3, C2), through the public API on both backends:
//! recommendations are computed at each request from enrollments, progress and stated
//! preferences, only while the person's consent covers personalisation and their processing
//! is not restricted (a withdrawal or a restriction empties the very next answer); course
//! reminders go through the essential channel, once each, without any consent, and are
//! tailored (the next lesson, how the quiz attempts stand) only while personalisation is
//! consented to; an adaptive quiz puts a learner's missed questions first under the same
//! consent, and its own order otherwise.

use crate::both_backends;
use crate::passwords::outbox_of;
use crate::privacy_requests::signed_in;
use crate::progress::{audited, enroll, lesson, mark, module, set_rule};
use crate::support::{Backend, Institution, TestApp, spawn};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

both_backends!(
    promise_u3_recommendations_stop_at_once_when_consent_is_withdrawn,
    promise_u3_a_restricted_person_gets_no_recommendations,
    promise_c2_course_reminders_go_through_the_essential_channel_once,
    promise_u3_reminders_are_tailored_only_with_personalisation_consent,
    promise_u3_an_adaptive_quiz_puts_missed_questions_first_only_with_consent,
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

/// The `course.reminder*` messages in the person's outbox, oldest first: `(kind, text)`.
async fn reminders_of(app: &TestApp, inst: &Institution, person: &str) -> Vec<(String, String)> {
    outbox_of(app, inst, person)
        .await
        .into_iter()
        .filter(|(kind, _)| kind.starts_with("course.reminder"))
        .collect()
}

/// A quiz of the course due at `due_at`: 3 attempts, 60% to pass.
async fn due_quiz(
    app: &TestApp,
    admin: &str,
    course: &str,
    title: &str,
    due_at: chrono::DateTime<chrono::Utc>,
) -> String {
    let made = app
        .post(
            &format!("/v1/courses/{course}/quizzes"),
            admin,
            json!({"title": title, "passing_score": 60, "max_attempts": 3,
                   "due_at": due_at.to_rfc3339(),
                   "questions": [{"id": "q", "kind": "single_choice", "prompt": "Which?",
                                  "options": [{"id": "a", "text": "A"},
                                              {"id": "b", "text": "B", "correct": true}]}]}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    made.body["id"].as_str().unwrap().to_string()
}

async fn promise_u3_reminders_are_tailored_only_with_personalisation_consent(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    // Ada consents to personalisation and has done the first lesson; Bob never consented.
    let (ada, ada_token) = signed_in(&app, &north, "ada", &["learner"]).await;
    let (bob, _) = signed_in(&app, &north, "bob", &["learner"]).await;
    consent(&app, &ada_token, true).await;
    let course = tagged_course(&app, admin, "CS-201", &["computing"]).await;
    let m = module(&app, admin, &course, "Only").await;
    let first = lesson(&app, admin, &m, "Variables", true).await;
    lesson(&app, admin, &m, "Loops", true).await;
    let now = chrono::Utc::now();
    due_quiz(
        &app,
        admin,
        &course,
        "Week 1",
        now + chrono::Duration::days(9),
    )
    .await;
    due_quiz(
        &app,
        admin,
        &course,
        "Week 2",
        now + chrono::Duration::days(20),
    )
    .await;
    enroll(&app, admin, &course, &ada).await;
    enroll(&app, admin, &course, &bob).await;
    let done = mark(&app, &ada_token, &course, &first, "completed").await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);

    // Eight days on: both idle, week 1 due tomorrow. Ada's reminders say what is next for
    // her; Bob's are the generic ones.
    assert_eq!(
        run_reminders(&app, now + chrono::Duration::days(8)).await,
        4
    );
    let told = reminders_of(&app, &north, &ada).await;
    assert_eq!(told.len(), 2, "{told:?}");
    let (inactive, quiz_due) = (&told[0], &told[1]);
    assert_eq!(inactive.0, "course.reminder.inactive");
    assert!(
        inactive.1.contains("Your next lesson is \"Loops\"."),
        "{}",
        inactive.1
    );
    assert_eq!(quiz_due.0, "course.reminder.quiz_due");
    assert!(quiz_due.1.contains("\"Week 1\""), "{}", quiz_due.1);
    assert!(
        quiz_due
            .1
            .contains("You have used 0 of your 3 attempts: 3 left."),
        "{}",
        quiz_due.1
    );
    assert!(
        quiz_due.1.contains("60% of the points passes"),
        "{}",
        quiz_due.1
    );
    let generic = reminders_of(&app, &north, &bob).await;
    assert_eq!(generic.len(), 2, "{generic:?}");
    assert!(
        generic[0]
            .1
            .ends_with("You can continue where you left off."),
        "{}",
        generic[0].1
    );
    assert!(!generic[0].1.contains("Variables"), "{}", generic[0].1);
    assert!(generic[1].1.ends_with(" UTC."), "{}", generic[1].1);
    assert!(!generic[1].1.contains("attempt"), "{}", generic[1].1);
    // Essential either way: about this course only, nothing else offered.
    for (_, text) in told.iter().chain(&generic) {
        assert!(text.contains("\"Course CS-201\""), "{text}");
    }

    // Ada withdraws: her next reminder (week 2 due) is the generic one.
    consent(&app, &ada_token, false).await;
    assert_eq!(
        run_reminders(&app, now + chrono::Duration::days(19)).await,
        2
    );
    let told = reminders_of(&app, &north, &ada).await;
    assert_eq!(told.len(), 3, "{told:?}");
    assert_eq!(told[2].0, "course.reminder.quiz_due");
    assert!(told[2].1.contains("\"Week 2\""), "{}", told[2].1);
    assert!(told[2].1.ends_with(" UTC."), "{}", told[2].1);
    assert!(!told[2].1.contains("attempt"), "{}", told[2].1);

    // Each pass's audit entry counts who was tailored and why the others were not.
    let passes = audited(&app, admin, "course.reminders_sent").await;
    let details: Vec<&Value> = passes.iter().map(|e| &e["detail"]).collect();
    assert!(
        details
            .iter()
            .any(|d| d["tailored_learners"] == 1
                && d["untailored_learners"] == json!({"no_consent": 1})),
        "{details:?}"
    );
    assert!(
        details.iter().any(|d| d["tailored_learners"] == 0
            && d["untailored_learners"] == json!({"consent_withdrawn": 1, "no_consent": 1})),
        "{details:?}"
    );
}

/// Starts an attempt: `(attempt id, question_order)`.
async fn start_attempt(app: &TestApp, token: &str, quiz: &str) -> (String, Value) {
    let started = app
        .call(
            Method::POST,
            &format!("/v1/me/quizzes/{quiz}/attempts"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.body);
    (
        started.body["id"].as_str().unwrap().to_string(),
        started.body["question_order"].clone(),
    )
}

/// Submits `b` (right) to every question but those in `wrong` (`a`): the score.
async fn answer(app: &TestApp, token: &str, attempt: &str, wrong: &[&str]) -> Value {
    let answers: Vec<Value> = ["q1", "q2", "q3", "q4"]
        .iter()
        .map(|q| {
            let option = if wrong.contains(q) { "a" } else { "b" };
            json!({"question_id": q, "option_ids": [option]})
        })
        .collect();
    let submitted = app
        .post(
            &format!("/v1/me/attempts/{attempt}/submission"),
            token,
            json!({ "answers": answers }),
        )
        .await;
    assert_eq!(submitted.status, StatusCode::OK, "{}", submitted.body);
    assert_eq!(submitted.body["question_order"], Value::Null);
    submitted.body["score"].clone()
}

fn order(ids: &[&str], personalised: bool, withheld: Option<&str>) -> Value {
    json!({"question_ids": ids, "personalised": personalised, "withheld": withheld})
}

async fn promise_u3_an_adaptive_quiz_puts_missed_questions_first_only_with_consent(
    backend: Backend,
) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let (ada, token) = signed_in(&app, &north, "ada", &["learner"]).await;
    let (bob, bob_token) = signed_in(&app, &north, "bob", &["learner"]).await;
    consent(&app, &token, true).await;
    let course = tagged_course(&app, admin, "ADAPT", &["computing"]).await;
    let question = |id: &str| {
        json!({"id": id, "kind": "single_choice", "prompt": format!("Question {id}?"),
               "options": [{"id": "a", "text": "A"}, {"id": "b", "text": "B", "correct": true}]})
    };
    let questions: Vec<Value> = ["q1", "q2", "q3", "q4"].map(question).to_vec();
    let made = app
        .post(
            &format!("/v1/courses/{course}/quizzes"),
            admin,
            json!({"title": "Adaptive", "passing_score": 100, "adaptive": true,
                   "questions": questions}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    assert_eq!(made.body["adaptive"], true);
    let quiz = made.body["id"].as_str().unwrap().to_string();
    let seen = app.get(&format!("/v1/quizzes/{quiz}"), &token).await;
    assert_eq!(seen.body["adaptive"], true, "{}", seen.body);
    enroll(&app, admin, &course, &ada).await;
    enroll(&app, admin, &course, &bob).await;
    let quiz_order = ["q1", "q2", "q3", "q4"];

    // No history yet: personalised, and so the quiz's order. Question 3 is missed.
    let (first, shown) = start_attempt(&app, &token, &quiz).await;
    assert_eq!(shown, order(&quiz_order, true, None));
    assert_eq!(answer(&app, &token, &first, &["q3"]).await, 3);

    // The next attempt starts with question 3; grading is the same whatever the order.
    let (second, shown) = start_attempt(&app, &token, &quiz).await;
    assert_eq!(shown, order(&["q3", "q1", "q2", "q4"], true, None));
    assert_eq!(answer(&app, &token, &second, &["q3"]).await, 3);
    // Nowhere else is the order shown (it is not stored).
    let mine = app
        .get(&format!("/v1/me/quizzes/{quiz}/attempts"), &token)
        .await;
    assert_eq!(mine.body["items"][0]["question_order"], Value::Null);

    // Withdrawn: the very next attempt is in the quiz's order, and says why.
    consent(&app, &token, false).await;
    let (third, shown) = start_attempt(&app, &token, &quiz).await;
    assert_eq!(shown, order(&quiz_order, false, Some("consent_withdrawn")));
    assert_eq!(answer(&app, &token, &third, &["q3"]).await, 3);

    // Bob never consented: the quiz's order, whatever he missed.
    let (bobs, shown) = start_attempt(&app, &bob_token, &quiz).await;
    assert_eq!(shown, order(&quiz_order, false, Some("no_consent")));
    answer(&app, &bob_token, &bobs, &["q4"]).await;
    let (_, shown) = start_attempt(&app, &bob_token, &quiz).await;
    assert_eq!(shown, order(&quiz_order, false, Some("no_consent")));

    // A minor's own grant is not enough without a guardian's consent (A1).
    app.allow_local_accounts(admin).await;
    let (sam, sam_token) = crate::minors::person(
        &app,
        &north,
        "sam@north.example",
        Some(&crate::minors::born_years_ago(13)),
    )
    .await;
    consent(&app, &sam_token, true).await;
    enroll(&app, admin, &course, &sam).await;
    let (_, shown) = start_attempt(&app, &sam_token, &quiz).await;
    assert_eq!(
        shown,
        order(&quiz_order, false, Some("guardian_consent_required"))
    );

    // Consent again, but the quiz no longer adaptive: its order, no gate asked.
    consent(&app, &token, true).await;
    let current = app
        .get(&format!("/v1/quizzes/{quiz}/authoring"), admin)
        .await;
    let tag = current.headers["etag"].to_str().unwrap().to_string();
    let changed = app
        .call_with(
            Method::PATCH,
            &format!("/v1/quizzes/{quiz}"),
            Some(admin),
            Some(json!({"adaptive": false})),
            &[("If-Match", tag.as_str())],
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    assert_eq!(changed.body["adaptive"], false);
    let (_, shown) = start_attempt(&app, &token, &quiz).await;
    assert_eq!(shown, order(&quiz_order, false, None));
}
