//! Quiz attempts through the public API: attempt limits, the quiz's due date and the
//! attempt's time limit refuse with a clear 409 and record nothing; a submission is taken
//! once and auto-graded without showing the keys; the kept score follows each quiz's policy
//! (highest, latest, first); an instructor's grade change records who, old, new and why, is
//! audited, moves the kept score and can complete the course; staff of other courses and
//! other institutions see nothing; a learner's attempts export page by page (answers opened
//! from their seals) and erase with them, leaving others' alone.

use crate::both_backends;
use crate::privacy_requests::signed_in;
use crate::progress::{audited, course, enroll, my_progress, set_rule};
use crate::support::{Backend, Reply, TestApp, spawn};
use hub_kernel::Pii;
use hub_tenant::Principal;
use hub_tenant::personal_data::{DataSubject, Outcome};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

both_backends!(
    promise_c3_attempt_limits_and_deadlines_refuse_and_record_nothing,
    promise_c3_the_kept_score_follows_each_quizs_policy,
    promise_c3_a_grade_change_is_recorded_audited_and_moves_the_kept_score,
    promise_u1_a_learners_attempts_export_by_page_and_erase,
);

/// A quiz of one single-choice question (`b` is right, 1 point) that needs 100% to pass;
/// `settings` adds or replaces fields.
pub(crate) async fn one_question_quiz(
    app: &TestApp,
    admin: &str,
    course: &str,
    settings: Value,
) -> String {
    let mut body = json!({
        "title": "Check",
        "passing_score": 100,
        "questions": [
            {"id": "q", "kind": "single_choice", "prompt": "Which?", "points": 1,
             "options": [{"id": "a", "text": "A"}, {"id": "b", "text": "B", "correct": true}]}
        ]
    });
    for (k, v) in settings.as_object().unwrap() {
        body[k] = v.clone();
    }
    let made = app
        .post(&format!("/v1/courses/{course}/quizzes"), admin, body)
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    made.body["id"].as_str().unwrap().to_string()
}

/// A submitted attempt (score 0 of 1) of a learner of a new course of `inst`, for the spec
/// tests' fixtures.
pub(crate) async fn submitted_attempt(app: &TestApp, inst: &crate::support::Institution) -> String {
    let admin = inst.admin_token.as_str();
    let c = course(app, admin, "ATT-FIX").await;
    let quiz = one_question_quiz(app, admin, &c, json!({})).await;
    let (learner, token) = signed_in(app, inst, "fixture.learner", &["learner"]).await;
    enroll(app, admin, &c, &learner).await;
    take(app, &token, &quiz, "a").await.body["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn start(app: &TestApp, token: &str, quiz: &str) -> Reply {
    app.call(
        Method::POST,
        &format!("/v1/me/quizzes/{quiz}/attempts"),
        Some(token),
        None,
    )
    .await
}

async fn submit(app: &TestApp, token: &str, attempt: &str, answers: Value) -> Reply {
    app.post(
        &format!("/v1/me/attempts/{attempt}/submission"),
        token,
        json!({ "answers": answers }),
    )
    .await
}

/// Starts and submits an attempt answering `q` with `option`; the submission's reply.
pub(crate) async fn take(app: &TestApp, token: &str, quiz: &str, option: &str) -> Reply {
    let started = start(app, token, quiz).await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.body);
    let id = started.body["id"].as_str().unwrap().to_string();
    let submitted = submit(
        app,
        token,
        &id,
        json!([{"question_id": "q", "option_ids": [option]}]),
    )
    .await;
    assert_eq!(submitted.status, StatusCode::OK, "{}", submitted.body);
    submitted
}

async fn mine(app: &TestApp, token: &str, quiz: &str) -> Value {
    let listed = app
        .get(&format!("/v1/me/quizzes/{quiz}/attempts"), token)
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    listed.body
}

async fn promise_c3_attempt_limits_and_deadlines_refuse_and_record_nothing(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let c = course(&app, admin, "ATT-1").await;
    let limited = one_question_quiz(&app, admin, &c, json!({"max_attempts": 2})).await;
    let closed =
        one_question_quiz(&app, admin, &c, json!({"due_at": "2020-01-01T00:00:00Z"})).await;
    let timed = one_question_quiz(&app, admin, &c, json!({"time_limit_seconds": 1})).await;
    let (ada, token) = signed_in(&app, &north, "ada", &["learner"]).await;
    let (_, grace_token) = signed_in(&app, &north, "grace", &["learner"]).await;

    // Not enrolled: no attempt.
    start(&app, &token, &limited)
        .await
        .assert_problem(409, "not_enrolled");
    enroll(&app, admin, &c, &ada).await;

    let first = start(&app, &token, &limited).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert_eq!(first.body["number"], 1);
    assert_eq!(first.body["state"], "in_progress");
    assert!(first.body["deadline_at"].is_null());
    assert!(first.body["score"].is_null());
    let first_id = first.body["id"].as_str().unwrap().to_string();
    assert_eq!(
        first.header("location").unwrap(),
        format!("/v1/me/attempts/{first_id}")
    );
    // One at a time.
    start(&app, &token, &limited)
        .await
        .assert_problem(409, "attempt_in_progress");
    // Another learner's attempt is unknown to them; a bad answer is named and changes
    // nothing.
    submit(&app, &grace_token, &first_id, json!([]))
        .await
        .assert_problem(404, "attempt_not_found");
    let bad = submit(
        &app,
        &token,
        &first_id,
        json!([{"question_id": "q", "option_ids": ["zz"]}]),
    )
    .await;
    bad.assert_problem(422, "validation_failed");
    assert_eq!(bad.error_fields(), vec!["answers[0].option_ids[0]"]);

    let graded = submit(
        &app,
        &token,
        &first_id,
        json!([{"question_id": "q", "option_ids": ["b"]}]),
    )
    .await;
    assert_eq!(graded.status, StatusCode::OK, "{}", graded.body);
    assert_eq!(graded.body["state"], "submitted");
    assert_eq!(graded.body["score"], 1);
    assert_eq!(graded.body["max_score"], 1);
    assert_eq!(graded.body["passed"], true);
    assert_eq!(graded.body["per_question"][0]["correct"], true);
    // The keys are not shown.
    let text = graded.body.to_string();
    assert!(
        !text.contains("\"correct_option") && !text.contains("options"),
        "{text}"
    );
    // Once.
    submit(
        &app,
        &token,
        &first_id,
        json!([{"question_id": "q", "option_ids": ["a"]}]),
    )
    .await
    .assert_problem(409, "attempt_already_submitted");
    assert_eq!(mine(&app, &token, &limited).await["items"][0]["score"], 1);

    take(&app, &token, &limited, "a").await;
    start(&app, &token, &limited)
        .await
        .assert_problem(409, "attempt_limit_reached");
    let listed = mine(&app, &token, &limited).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 2, "{listed}");

    // After the quiz's due date no attempt starts, and none is recorded.
    start(&app, &token, &closed)
        .await
        .assert_problem(409, "quiz_closed");
    assert!(
        mine(&app, &token, &closed).await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // After an attempt's time limit its answers are refused and nothing is recorded.
    let timed_attempt = start(&app, &token, &timed).await;
    assert_eq!(
        timed_attempt.status,
        StatusCode::CREATED,
        "{}",
        timed_attempt.body
    );
    assert!(timed_attempt.body["deadline_at"].is_string());
    let timed_id = timed_attempt.body["id"].as_str().unwrap().to_string();
    tokio::time::sleep(std::time::Duration::from_millis(1_300)).await;
    submit(
        &app,
        &token,
        &timed_id,
        json!([{"question_id": "q", "option_ids": ["b"]}]),
    )
    .await
    .assert_problem(409, "attempt_expired");
    let expired = mine(&app, &token, &timed).await;
    assert_eq!(expired["items"][0]["state"], "expired", "{expired}");
    assert!(expired["items"][0]["score"].is_null());
    assert!(expired["kept_score"].is_null());
    // An expired attempt no longer blocks the next one.
    let next = start(&app, &token, &timed).await;
    assert_eq!(next.status, StatusCode::CREATED, "{}", next.body);
    assert_eq!(next.body["number"], 2);

    // Two starts at once: one attempt, the other refused (the number is unique per quiz
    // and person), never a 5xx.
    let racing = one_question_quiz(&app, admin, &c, json!({})).await;
    let (a, b) = tokio::join!(start(&app, &token, &racing), start(&app, &token, &racing));
    let mut statuses = vec![a.status.as_u16(), b.status.as_u16()];
    statuses.sort();
    assert_eq!(statuses, vec![201, 409], "{} / {}", a.body, b.body);
    let loser = if a.status == StatusCode::CONFLICT {
        &a
    } else {
        &b
    };
    assert_eq!(loser.body["code"], "attempt_in_progress", "{}", loser.body);
    let raced = mine(&app, &token, &racing).await;
    assert_eq!(raced["items"].as_array().unwrap().len(), 1, "{raced}");

    // Another institution's quiz is unknown.
    let south = app.create_institution("south").await;
    let foreign_course = course(&app, &south.admin_token, "ATT-1").await;
    let foreign = one_question_quiz(&app, &south.admin_token, &foreign_course, json!({})).await;
    start(&app, &token, &foreign)
        .await
        .assert_problem(404, "quiz_not_found");
}

async fn promise_c3_the_kept_score_follows_each_quizs_policy(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let c = course(&app, admin, "KEPT-1").await;
    let (ada, token) = signed_in(&app, &north, "ada", &["learner"]).await;
    enroll(&app, admin, &c, &ada).await;
    // Two questions: `q1` (1 point, `b`) and `q2` (2 points, `y`): scores 2, 3, 1 in turn.
    let answers = [
        json!([{"question_id": "q1", "option_ids": ["a"]}, {"question_id": "q2", "option_ids": ["y"]}]),
        json!([{"question_id": "q1", "option_ids": ["b"]}, {"question_id": "q2", "option_ids": ["y"]}]),
        json!([{"question_id": "q1", "option_ids": ["b"]}]),
    ];
    let mut expected = Vec::new();
    for (policy, kept_number, kept_score) in [("highest", 2, 3), ("latest", 3, 1), ("first", 1, 2)]
    {
        let made = app
            .post(
                &format!("/v1/courses/{c}/quizzes"),
                admin,
                json!({
                    "title": format!("Kept {policy}"),
                    "passing_score": 60,
                    "kept_score": policy,
                    "questions": [
                        {"id": "q1", "kind": "single_choice", "prompt": "One?", "points": 1,
                         "options": [{"id": "a", "text": "A"}, {"id": "b", "text": "B", "correct": true}]},
                        {"id": "q2", "kind": "single_choice", "prompt": "Two?", "points": 2,
                         "options": [{"id": "x", "text": "X"}, {"id": "y", "text": "Y", "correct": true}]}
                    ]
                }),
            )
            .await;
        assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
        let quiz = made.body["id"].as_str().unwrap().to_string();
        let mut ids = Vec::new();
        for (i, set) in answers.iter().enumerate() {
            let started = start(&app, &token, &quiz).await;
            assert_eq!(started.status, StatusCode::CREATED, "{}", started.body);
            let id = started.body["id"].as_str().unwrap().to_string();
            let done = submit(&app, &token, &id, set.clone()).await;
            assert_eq!(done.status, StatusCode::OK, "{}", done.body);
            assert_eq!(done.body["score"], [2, 3, 1][i]);
            ids.push(id);
        }
        let listed = mine(&app, &token, &quiz).await;
        assert_eq!(
            listed["kept_attempt_id"],
            ids[kept_number - 1].as_str(),
            "{policy}: {listed}"
        );
        assert_eq!(listed["kept_score"], kept_score, "{policy}");
        // 60% of 3 points: 2 passes, 1 does not.
        assert_eq!(listed["passed"], kept_score >= 2, "{policy}");
        expected.push((quiz, kept_score));
    }
    let progress = my_progress(&app, &token, &c).await;
    assert_eq!(progress.status, StatusCode::OK, "{}", progress.body);
    for (quiz, score) in expected {
        let standing = progress.body["quizzes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|q| q["quiz_id"] == quiz.as_str())
            .unwrap()
            .clone();
        assert_eq!(standing["kept_score"], score, "{standing}");
        assert_eq!(standing["attempts"], 3);
        assert_eq!(standing["max_score"], 3);
    }
}

async fn grade_change(app: &TestApp, token: &str, attempt: &str, body: Value) -> Reply {
    app.post(
        &format!("/v1/attempts/{attempt}/grade-changes"),
        token,
        body,
    )
    .await
}

async fn promise_c3_a_grade_change_is_recorded_audited_and_moves_the_kept_score(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let c = course(&app, admin, "GRD-1").await;
    let other = course(&app, admin, "GRD-2").await;
    let quiz = one_question_quiz(&app, admin, &c, json!({"kept_score": "latest"})).await;
    set_rule(
        &app,
        admin,
        &c,
        json!({"required_lessons": "none", "passing_quizzes": [quiz]}),
    )
    .await;
    let (teacher, teacher_token) = signed_in(&app, &north, "tina", &["instructor"]).await;
    let (stranger, stranger_token) = signed_in(&app, &north, "sam", &["instructor"]).await;
    for (course_id, who) in [(&c, &teacher), (&other, &stranger)] {
        let assigned = app
            .call(
                Method::PUT,
                &format!("/v1/courses/{course_id}/instructors/{who}"),
                Some(admin),
                None,
            )
            .await;
        assert_eq!(assigned.status, StatusCode::NO_CONTENT, "{}", assigned.body);
    }
    let (ada, token) = signed_in(&app, &north, "ada", &["learner"]).await;
    let enrollment = enroll(&app, admin, &c, &ada).await;
    let failed = take(&app, &token, &quiz, "a").await;
    assert_eq!(failed.body["score"], 0);
    let attempt = failed.body["id"].as_str().unwrap().to_string();
    assert!(my_progress(&app, &token, &c).await.body["completed_at"].is_null());

    // The instructor finds it among the quiz's attempts.
    let listed = app
        .get(
            &format!("/v1/quizzes/{quiz}/attempts?person_id={ada}"),
            &teacher_token,
        )
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    assert_eq!(listed.body["items"][0]["id"], attempt.as_str());
    app.get(&format!("/v1/quizzes/{quiz}/attempts"), &stranger_token)
        .await
        .assert_problem(404, "quiz_not_found");

    // Refused, changing nothing: past the maximum, no reason, another course's instructor,
    // a learner, an unknown attempt.
    let over = grade_change(
        &app,
        &teacher_token,
        &attempt,
        json!({"score": 2, "reason": "x"}),
    )
    .await;
    over.assert_problem(422, "validation_failed");
    assert_eq!(over.error_fields(), vec!["score"]);
    let blank = grade_change(
        &app,
        &teacher_token,
        &attempt,
        json!({"score": 1, "reason": " "}),
    )
    .await;
    assert_eq!(blank.error_fields(), vec!["reason"]);
    grade_change(
        &app,
        &stranger_token,
        &attempt,
        json!({"score": 1, "reason": "Mine"}),
    )
    .await
    .assert_problem(404, "attempt_not_found");
    grade_change(
        &app,
        &token,
        &attempt,
        json!({"score": 1, "reason": "Please"}),
    )
    .await
    .assert_problem(403, "insufficient_scope");
    grade_change(
        &app,
        &teacher_token,
        &uuid::Uuid::now_v7().to_string(),
        json!({"score": 1, "reason": "Nobody's"}),
    )
    .await
    .assert_problem(404, "attempt_not_found");
    assert_eq!(mine(&app, &token, &quiz).await["kept_score"], 0);
    assert!(
        audited(&app, admin, "quiz_attempt.grade_changed")
            .await
            .is_empty()
    );

    let changed = grade_change(
        &app,
        &teacher_token,
        &attempt,
        json!({"score": 1, "reason": "Option A is also right as worded"}),
    )
    .await;
    assert_eq!(changed.status, StatusCode::CREATED, "{}", changed.body);
    assert_eq!(changed.body["change"]["old_score"], 0);
    assert_eq!(changed.body["change"]["new_score"], 1);
    assert_eq!(
        changed.body["change"]["changed_by"],
        format!("person:{teacher}")
    );
    assert_eq!(changed.body["attempt"]["score"], 1);
    assert_eq!(changed.body["attempt"]["auto_score"], 0);
    assert_eq!(changed.body["attempt"]["passed"], true);

    let history = app
        .get(
            &format!("/v1/attempts/{attempt}/grade-changes"),
            &teacher_token,
        )
        .await;
    assert_eq!(history.status, StatusCode::OK, "{}", history.body);
    let items = history.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["reason"], "Option A is also right as worded");
    assert_eq!(items[0]["person_id"], ada.as_str());
    app.get(
        &format!("/v1/attempts/{attempt}/grade-changes"),
        &stranger_token,
    )
    .await
    .assert_problem(404, "attempt_not_found");

    let events = audited(&app, admin, "quiz_attempt.grade_changed").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["actor"], format!("person:{teacher}"));
    assert_eq!(events[0]["subject"], format!("person:{ada}"));
    let detail: Value = match &events[0]["detail"] {
        Value::String(text) => serde_json::from_str(text).unwrap(),
        other => other.clone(),
    };
    assert_eq!(detail["old_score"], 0);
    assert_eq!(detail["new_score"], 1);
    assert_eq!(detail["attempt_id"], attempt.as_str());

    // The kept score follows, and the course's rule (pass the quiz) is met now.
    let kept = mine(&app, &token, &quiz).await;
    assert_eq!(kept["kept_score"], 1);
    assert_eq!(kept["passed"], true);
    let progress = my_progress(&app, &token, &c).await;
    assert!(
        progress.body["completed_at"].is_string(),
        "{}",
        progress.body
    );
    let state = app
        .get(&format!("/v1/enrollments/{enrollment}"), admin)
        .await;
    assert_eq!(state.body["state"], "completed");

    // Lowering it again never un-completes the course.
    let lowered = grade_change(
        &app,
        &teacher_token,
        &attempt,
        json!({"score": 0, "reason": "Second look"}),
    )
    .await;
    assert_eq!(lowered.status, StatusCode::CREATED, "{}", lowered.body);
    assert_eq!(lowered.body["change"]["old_score"], 1);
    assert_eq!(mine(&app, &token, &quiz).await["kept_score"], 0);
    let after = my_progress(&app, &token, &c).await;
    assert_eq!(after.body["completed_at"], progress.body["completed_at"]);
    assert_eq!(after.body["enrollment_state"], "completed");
    assert_eq!(audited(&app, admin, "course.completed").await.len(), 1);

    // Another institution's admin does not find the attempt.
    let south = app.create_institution("south").await;
    grade_change(
        &app,
        &south.admin_token,
        &attempt,
        json!({"score": 1, "reason": "Foreign"}),
    )
    .await
    .assert_problem(404, "attempt_not_found");
}

async fn promise_u1_a_learners_attempts_export_by_page_and_erase(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let c = course(&app, admin, "EXP-1").await;
    let made = app
        .post(
            &format!("/v1/courses/{c}/quizzes"),
            admin,
            json!({
                "title": "Words",
                "passing_score": 50,
                "questions": [
                    {"id": "city", "kind": "short_text", "prompt": "Capital of France?",
                     "rules": [{"match": "case_insensitive", "value": "Paris"}]}
                ]
            }),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let quiz = made.body["id"].as_str().unwrap().to_string();
    let (teacher, teacher_token) = signed_in(&app, &north, "tina", &["instructor"]).await;
    let assigned = app
        .call(
            Method::PUT,
            &format!("/v1/courses/{c}/instructors/{teacher}"),
            Some(admin),
            None,
        )
        .await;
    assert_eq!(assigned.status, StatusCode::NO_CONTENT, "{}", assigned.body);
    let (ada, token) = signed_in(&app, &north, "ada", &["learner"]).await;
    let (grace, grace_token) = signed_in(&app, &north, "grace", &["learner"]).await;
    enroll(&app, admin, &c, &ada).await;
    enroll(&app, admin, &c, &grace).await;
    let mut ada_attempts = Vec::new();
    for answer in ["Lyon, says Ada", "Paris"] {
        let started = start(&app, &token, &quiz).await;
        let id = started.body["id"].as_str().unwrap().to_string();
        let done = submit(
            &app,
            &token,
            &id,
            json!([{"question_id": "city", "text": answer}]),
        )
        .await;
        assert_eq!(done.status, StatusCode::OK, "{}", done.body);
        ada_attempts.push(id);
    }
    let started = start(&app, &grace_token, &quiz).await;
    let grace_attempt = started.body["id"].as_str().unwrap().to_string();
    let done = submit(
        &app,
        &grace_token,
        &grace_attempt,
        json!([{"question_id": "city", "text": "Grace's own answer"}]),
    )
    .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    let changed = grade_change(
        &app,
        &teacher_token,
        &ada_attempts[0],
        json!({"score": 1, "reason": "Ada named a city of France"}),
    )
    .await;
    assert_eq!(changed.status, StatusCode::CREATED, "{}", changed.body);

    let Principal::Tenant(principal) = app.state.tenancy.authenticate(admin).await.unwrap() else {
        panic!("not a tenant key");
    };
    let sources = app.state.tenancy.personal_data_sources().unwrap();
    let attempts = sources
        .iter()
        .find(|s| s.name() == "quiz_attempts")
        .unwrap();
    let subject =
        |id: &str| DataSubject::person(id.parse().unwrap(), vec![Pii::new(String::new())]);
    let scope = app.state.tenancy.scope(&principal).await.unwrap();

    // Ada's export, one record a page: her attempts in order, answers opened, the change.
    let mut pages = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = attempts
            .export_page(&scope, &subject(&ada), after.as_deref(), 1)
            .await
            .unwrap();
        assert!(page.records.len() <= 1);
        pages.extend(page.records);
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(pages.len(), 2, "{pages:?}");
    assert_eq!(pages[0]["attempt_id"], ada_attempts[0].as_str());
    assert_eq!(pages[0]["answers"][0]["text"], "Lyon, says Ada");
    assert_eq!(
        pages[0]["grade_changes"][0]["reason"],
        "Ada named a city of France"
    );
    assert_eq!(pages[0]["grade_changes"][0]["new_score"], 1);
    assert_eq!(pages[1]["answers"][0]["text"], "Paris");
    let text = serde_json::to_string(&pages).unwrap();
    assert!(!text.contains("Grace") && !text.contains(&grace), "{text}");
    // The instructor's export holds the change she made, not whose attempt it was.
    let made_by_teacher = attempts.export(&scope, &subject(&teacher)).await.unwrap();
    assert_eq!(made_by_teacher.len(), 1, "{made_by_teacher:?}");
    assert_eq!(made_by_teacher[0]["record"], "grade_change_made");
    assert!(
        !serde_json::to_string(&made_by_teacher)
            .unwrap()
            .contains(&ada)
    );
    assert_eq!(
        attempts
            .summary(&scope, &subject(&ada))
            .await
            .unwrap()
            .records,
        2
    );

    // Erasing Ada removes her attempts and the change to them; Grace's stay.
    let outcome = attempts.erase(&scope, &subject(&ada)).await.unwrap();
    assert_eq!(outcome, Outcome::Deleted { records: 3 });
    assert_eq!(
        attempts.erase(&scope, &subject(&ada)).await.unwrap(),
        Outcome::Deleted { records: 0 }
    );
    assert_eq!(
        attempts
            .summary(&scope, &subject(&ada))
            .await
            .unwrap()
            .records,
        0
    );
    assert_eq!(
        attempts
            .summary(&scope, &subject(&grace))
            .await
            .unwrap()
            .records,
        1
    );
    scope.commit().await.unwrap();
    assert!(
        mine(&app, &token, &quiz).await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        mine(&app, &grace_token, &quiz).await["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(audited(&app, admin, "quiz_attempts.erased").await.len(), 1);

    // Erasing the instructor leaves one pseudonym where she changed Grace's score.
    let changed = grade_change(
        &app,
        &teacher_token,
        &grace_attempt,
        json!({"score": 0, "reason": "Not a city"}),
    )
    .await;
    assert_eq!(changed.status, StatusCode::CREATED, "{}", changed.body);
    let scope = app.state.tenancy.scope(&principal).await.unwrap();
    assert_eq!(
        attempts.erase(&scope, &subject(&teacher)).await.unwrap(),
        Outcome::Deleted { records: 1 }
    );
    scope.commit().await.unwrap();
    let history = app
        .get(
            &format!("/v1/attempts/{grace_attempt}/grade-changes"),
            admin,
        )
        .await;
    let by = history.body["items"][0]["changed_by"].as_str().unwrap();
    assert!(by.starts_with("pseudonym:"), "{by}");
    assert_eq!(history.body["items"][0]["reason"], "Not a city");
}
