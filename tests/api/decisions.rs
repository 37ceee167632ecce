//! Automated decisions (U7) through the public API: a learner who used the last allowed
//! attempt of a quiz the course's completion rule requires, without passing it, is not
//! failed by the rule: a `course_failed` decision is recorded with its rule and inputs and
//! the enrollment stays active until a reviewer (the course's instructor, an admin)
//! confirms it with a reason. The learner sees the decision and why, and contests it into
//! the review queue with a deadline; an overturn gives a fresh attempt. Passing applies at
//! once. Reviewers without the scope or of another course see nothing; bad input is a 4xx
//! that changes nothing. A completion after the course's certificate deadline completes at
//! once, but its certificate waits on a `certificate_denied` decision: confirmed, none is
//! ever issued; overturned, it is issued and verifies. A learner who enrolls themselves in
//! a course whose prerequisites they have not completed is not refused by the rule alone:
//! the request is held (no enrollment) on an `enrollment_refused` decision; confirmed, they
//! stay unenrolled; overturned, they are enrolled, a seat claimed.

use crate::attempts::{one_question_quiz, take};
use crate::both_backends;
use crate::passwords::outbox_of;
use crate::privacy_requests::signed_in;
use crate::progress::{audited, course, enroll, lesson, mark, module, set_rule};
use crate::support::{Backend, Institution, Reply, TestApp, spawn};
use chrono::{DateTime, Duration, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

both_backends!(
    promise_u7_an_adverse_automated_outcome_takes_effect_only_when_a_person_confirms_it,
    promise_u7_a_learner_sees_why_and_contests_into_a_review_queue_with_a_deadline,
    promise_u7_a_favourable_outcome_applies_at_once_and_records_no_decision,
    promise_u7_only_a_reviewer_of_the_course_reviews_and_bad_input_changes_nothing,
    promise_u7_a_certificate_denied_by_a_deadline_takes_effect_only_when_a_person_confirms_it,
    promise_u7_an_enrollment_refused_by_prerequisites_takes_effect_only_when_a_person_confirms_it,
    promise_u7_a_learner_who_completed_the_prerequisites_enrolls_at_once,
    promise_u7_bad_prerequisites_are_refused_by_field_and_change_nothing,
    promise_u7_a_held_enrollment_is_asked_once_and_an_overturn_needs_a_free_seat,
);

/// A course whose completion rule requires one quiz (`b` is right) allowing `attempts`,
/// with an instructor and an enrolled learner.
struct Setup {
    course: String,
    quiz: String,
    enrollment: String,
    learner: String,
    learner_token: String,
    teacher_token: String,
}

async fn setup(app: &TestApp, inst: &Institution, code: &str, attempts: i32) -> Setup {
    let admin = inst.admin_token.as_str();
    let c = course(app, admin, code).await;
    let quiz = one_question_quiz(
        app,
        admin,
        &c,
        json!({"title": "Final check", "max_attempts": attempts}),
    )
    .await;
    set_rule(
        app,
        admin,
        &c,
        json!({"required_lessons": "none", "passing_quizzes": [quiz]}),
    )
    .await;
    let login = format!("{}.teacher", code.to_lowercase());
    let (teacher, teacher_token) = signed_in(app, inst, &login, &["instructor"]).await;
    let assigned = app
        .call(
            Method::PUT,
            &format!("/v1/courses/{c}/instructors/{teacher}"),
            Some(admin),
            None,
        )
        .await;
    assert_eq!(assigned.status, StatusCode::NO_CONTENT, "{}", assigned.body);
    let login = format!("{}.learner", code.to_lowercase());
    let (learner, learner_token) = signed_in(app, inst, &login, &["learner"]).await;
    let enrollment = enroll(app, admin, &c, &learner).await;
    Setup {
        course: c,
        quiz,
        enrollment,
        learner,
        learner_token,
        teacher_token,
    }
}

/// A `course_failed` decision in `pending_review` about a learner of `inst`, for the spec
/// tests' fixtures (isolation, personal reads).
pub(crate) async fn pending_decision(app: &TestApp, inst: &Institution) -> String {
    let s = setup(app, inst, "DEC-FIX", 1).await;
    take(app, &s.learner_token, &s.quiz, "a").await;
    let mine = my_decisions(app, &s.learner_token).await;
    mine[0]["id"].as_str().unwrap().to_string()
}

async fn my_decisions(app: &TestApp, token: &str) -> Vec<Value> {
    let reply = app.get("/v1/me/decisions", token).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body.as_array().unwrap().clone()
}

async fn enrollment_state(app: &TestApp, admin: &str, enrollment: &str) -> String {
    let reply = app
        .get(&format!("/v1/enrollments/{enrollment}"), admin)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["state"].as_str().unwrap().to_string()
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

fn at(value: &Value) -> DateTime<Utc> {
    value.as_str().unwrap().parse().unwrap()
}

async fn promise_u7_an_adverse_automated_outcome_takes_effect_only_when_a_person_confirms_it(
    backend: Backend,
) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let s = setup(&app, &north, "U7-A", 2).await;

    // The first failed attempt leaves one: no decision.
    take(&app, &s.learner_token, &s.quiz, "a").await;
    assert!(my_decisions(&app, &s.learner_token).await.is_empty());
    // The last allowed attempt fails too: the rule would fail the course, but only records
    // that it would.
    let last = take(&app, &s.learner_token, &s.quiz, "a").await;
    assert_eq!(last.body["passed"], false, "{}", last.body);
    let mine = my_decisions(&app, &s.learner_token).await;
    assert_eq!(mine.len(), 1, "{mine:?}");
    let decision = mine[0]["id"].as_str().unwrap().to_string();
    assert_eq!(mine[0]["kind"], "course_failed");
    assert_eq!(mine[0]["state"], "pending_review");
    assert_eq!(mine[0]["course_id"], s.course.as_str());
    assert!(mine[0]["reviewed_at"].is_null());
    assert_eq!(audited(&app, admin, "decision.recorded").await.len(), 1);
    // Nothing took effect: the enrollment is still active, its history only its creation.
    assert_eq!(enrollment_state(&app, admin, &s.enrollment).await, "active");
    let history = app
        .get(&format!("/v1/enrollments/{}/history", s.enrollment), admin)
        .await;
    assert_eq!(history.status, StatusCode::OK, "{}", history.body);
    assert_eq!(history.body["items"].as_array().unwrap().len(), 1);
    // No further attempt: the limit still holds.
    start(&app, &s.learner_token, &s.quiz)
        .await
        .assert_problem(409, "attempt_limit_reached");

    // The reviewer's queue holds it.
    let queue = app
        .get("/v1/decisions?state=pending_review", &s.teacher_token)
        .await;
    assert_eq!(queue.status, StatusCode::OK, "{}", queue.body);
    let items = queue.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", queue.body);
    assert_eq!(items[0]["id"], decision.as_str());
    assert_eq!(items[0]["person_id"], s.learner.as_str());
    assert!(!audited(&app, admin, "decision.listed").await.is_empty());

    // A confirmation without a reason is refused and changes nothing.
    let confirm = format!("/v1/decisions/{decision}/confirm");
    for body in [json!({}), json!({"reason": "   "})] {
        let refused = app.post(&confirm, &s.teacher_token, body).await;
        refused.assert_problem(422, "validation_failed");
        assert_eq!(refused.error_fields(), vec!["reason"]);
    }
    assert_eq!(enrollment_state(&app, admin, &s.enrollment).await, "active");
    assert!(audited(&app, admin, "decision.confirmed").await.is_empty());

    // A person confirms it: only now does it apply.
    let confirmed = app
        .post(
            &confirm,
            &s.teacher_token,
            json!({"reason": "Both attempts were graded correctly"}),
        )
        .await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.body);
    assert_eq!(confirmed.body["state"], "confirmed");
    assert_eq!(
        confirmed.body["review_note"],
        "Both attempts were graded correctly"
    );
    assert!(
        confirmed.body["reviewed_by"]
            .as_str()
            .unwrap()
            .starts_with("person:"),
        "{}",
        confirmed.body
    );
    assert!(confirmed.body["reviewed_at"].is_string());
    assert_eq!(enrollment_state(&app, admin, &s.enrollment).await, "failed");
    let history = app
        .get(&format!("/v1/enrollments/{}/history", s.enrollment), admin)
        .await;
    let events = history.body["items"].as_array().unwrap();
    assert_eq!(events.len(), 2, "{}", history.body);
    assert_eq!(events[1]["from"], "active");
    assert_eq!(events[1]["to"], "failed");
    let entries = audited(&app, admin, "decision.confirmed").await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["detail"]["old_state"], "pending_review");
    assert_eq!(entries[0]["detail"]["new_state"], "confirmed");
    assert_eq!(entries[0]["detail"]["decision_id"], decision.as_str());
    // The learner is told, with the reason, and sees the review.
    let told = outbox_of(&app, &north, &s.learner).await;
    let (_, text) = told
        .iter()
        .find(|(kind, _)| kind == "decision.confirmed")
        .expect("the learner is told");
    assert!(
        text.contains("Both attempts were graded correctly"),
        "{text}"
    );
    let mine = my_decisions(&app, &s.learner_token).await;
    assert_eq!(mine[0]["state"], "confirmed");

    // Reviewed once.
    for action in ["confirm", "overturn"] {
        app.post(
            &format!("/v1/decisions/{decision}/{action}"),
            &s.teacher_token,
            json!({"reason": "Again"}),
        )
        .await
        .assert_problem(409, "decision_already_reviewed");
    }
}

async fn promise_u7_a_learner_sees_why_and_contests_into_a_review_queue_with_a_deadline(
    backend: Backend,
) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let s = setup(&app, &north, "U7-B", 1).await;
    let attempt = take(&app, &s.learner_token, &s.quiz, "a").await;
    let attempt_id = attempt.body["id"].as_str().unwrap().to_string();

    // Why: the rule, in words, and what it read.
    let mine = my_decisions(&app, &s.learner_token).await;
    let d = &mine[0];
    let decision = d["id"].as_str().unwrap().to_string();
    assert_eq!(d["rule"], "required_quiz_attempts_exhausted");
    assert_eq!(d["quiz_id"], s.quiz.as_str());
    let explanation = d["explanation"].as_str().unwrap();
    assert!(explanation.contains("Final check"), "{explanation}");
    assert!(explanation.contains("100%"), "{explanation}");
    assert_eq!(d["inputs"]["quiz_id"], s.quiz.as_str());
    assert_eq!(d["inputs"]["passing_score_percent"], 100);
    assert_eq!(d["inputs"]["attempts_allowed"], 1);
    assert_eq!(d["inputs"]["attempts_used"], 1);
    assert_eq!(
        d["inputs"]["attempts"][0]["attempt_id"],
        attempt_id.as_str()
    );
    assert_eq!(d["inputs"]["attempts"][0]["score"], 0);
    assert_eq!(d["inputs"]["attempts"][0]["max_score"], 1);
    assert_eq!(
        at(&d["review_due_at"]),
        at(&d["created_at"]) + Duration::days(14)
    );

    // Another learner cannot contest it; a statement is required.
    let (_, grace) = signed_in(&app, &north, "grace", &["learner"]).await;
    let contest = format!("/v1/me/decisions/{decision}/contest");
    app.post(&contest, &grace, json!({"statement": "Not mine"}))
        .await
        .assert_problem(404, "decision_not_found");
    assert!(my_decisions(&app, &grace).await.is_empty());
    for body in [json!({}), json!({"statement": " "})] {
        let refused = app.post(&contest, &s.learner_token, body).await;
        refused.assert_problem(422, "validation_failed");
        assert_eq!(refused.error_fields(), vec!["statement"]);
    }
    let too_long = app
        .post(
            &contest,
            &s.learner_token,
            json!({"statement": "x".repeat(2001)}),
        )
        .await;
    assert!(too_long.status.is_client_error(), "{}", too_long.body);
    assert_eq!(
        my_decisions(&app, &s.learner_token).await[0]["state"],
        "pending_review"
    );

    // Contested: into the queue, with a new deadline.
    let contested = app
        .post(
            &contest,
            &s.learner_token,
            json!({"statement": "The network dropped during my attempt"}),
        )
        .await;
    assert_eq!(contested.status, StatusCode::OK, "{}", contested.body);
    assert_eq!(contested.body["state"], "contested");
    assert_eq!(
        contested.body["statement"],
        "The network dropped during my attempt"
    );
    assert_eq!(
        at(&contested.body["review_due_at"]),
        at(&contested.body["contested_at"]) + Duration::days(14)
    );
    app.post(&contest, &s.learner_token, json!({"statement": "Again"}))
        .await
        .assert_problem(409, "decision_already_contested");
    assert_eq!(audited(&app, admin, "decision.contested").await.len(), 1);
    // Still nothing applied.
    assert_eq!(enrollment_state(&app, admin, &s.enrollment).await, "active");

    let queue = app
        .get(
            &format!("/v1/decisions?state=contested&course_id={}", s.course),
            &s.teacher_token,
        )
        .await;
    assert_eq!(queue.status, StatusCode::OK, "{}", queue.body);
    let items = queue.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", queue.body);
    assert_eq!(
        items[0]["statement"],
        "The network dropped during my attempt"
    );
    let pending = app
        .get("/v1/decisions?state=pending_review", &s.teacher_token)
        .await;
    assert!(pending.body["items"].as_array().unwrap().is_empty());

    // Overturned: it never applies and the learner gets a fresh attempt, which passing
    // completes at once.
    let overturned = app
        .post(
            &format!("/v1/decisions/{decision}/overturn"),
            &s.teacher_token,
            json!({"reason": "The outage is confirmed in our logs"}),
        )
        .await;
    assert_eq!(overturned.status, StatusCode::OK, "{}", overturned.body);
    assert_eq!(overturned.body["state"], "overturned");
    assert_eq!(enrollment_state(&app, admin, &s.enrollment).await, "active");
    let told = outbox_of(&app, &north, &s.learner).await;
    let (_, text) = told
        .iter()
        .find(|(kind, _)| kind == "decision.overturned")
        .expect("the learner is told");
    assert!(
        text.contains("The outage is confirmed in our logs"),
        "{text}"
    );
    let entries = audited(&app, admin, "decision.overturned").await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["detail"]["old_state"], "contested");
    let fresh = take(&app, &s.learner_token, &s.quiz, "b").await;
    assert_eq!(fresh.body["passed"], true, "{}", fresh.body);
    assert_eq!(
        enrollment_state(&app, admin, &s.enrollment).await,
        "completed"
    );
    assert_eq!(my_decisions(&app, &s.learner_token).await.len(), 1);
}

async fn promise_u7_a_favourable_outcome_applies_at_once_and_records_no_decision(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let s = setup(&app, &north, "U7-C", 2).await;
    // A quiz the rule does not require, failed on its only attempt: nothing to decide.
    let extra = one_question_quiz(&app, admin, &s.course, json!({"max_attempts": 1})).await;
    take(&app, &s.learner_token, &extra, "a").await;
    assert!(my_decisions(&app, &s.learner_token).await.is_empty());
    // The required quiz, failed once then passed on the last attempt: completed at once.
    take(&app, &s.learner_token, &s.quiz, "a").await;
    let passed = take(&app, &s.learner_token, &s.quiz, "b").await;
    assert_eq!(passed.body["passed"], true, "{}", passed.body);
    assert_eq!(
        enrollment_state(&app, admin, &s.enrollment).await,
        "completed"
    );
    assert!(my_decisions(&app, &s.learner_token).await.is_empty());
    assert!(audited(&app, admin, "decision.recorded").await.is_empty());
    assert_eq!(audited(&app, admin, "course.completed").await.len(), 1);
}

async fn promise_u7_only_a_reviewer_of_the_course_reviews_and_bad_input_changes_nothing(
    backend: Backend,
) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let south = app.create_institution("south").await;
    let admin = north.admin_token.as_str();
    let s = setup(&app, &north, "U7-D", 1).await;
    take(&app, &s.learner_token, &s.quiz, "a").await;
    let decision = my_decisions(&app, &s.learner_token).await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let confirm = format!("/v1/decisions/{decision}/confirm");
    let reason = json!({"reason": "Checked"});

    // The learner holds no `decisions:review`.
    let listed = app.get("/v1/decisions", &s.learner_token).await;
    assert_eq!(listed.status, StatusCode::FORBIDDEN, "{}", listed.body);
    let by_learner = app.post(&confirm, &s.learner_token, reason.clone()).await;
    assert_eq!(
        by_learner.status,
        StatusCode::FORBIDDEN,
        "{}",
        by_learner.body
    );

    // An instructor of another course sees nothing of this one.
    let other = course(&app, admin, "U7-D2").await;
    let (stranger, stranger_token) = signed_in(&app, &north, "stranger", &["instructor"]).await;
    let assigned = app
        .call(
            Method::PUT,
            &format!("/v1/courses/{other}/instructors/{stranger}"),
            Some(admin),
            None,
        )
        .await;
    assert_eq!(assigned.status, StatusCode::NO_CONTENT, "{}", assigned.body);
    let theirs = app.get("/v1/decisions", &stranger_token).await;
    assert_eq!(theirs.status, StatusCode::OK, "{}", theirs.body);
    assert!(theirs.body["items"].as_array().unwrap().is_empty());
    app.get(
        &format!("/v1/decisions?course_id={}", s.course),
        &stranger_token,
    )
    .await
    .assert_problem(404, "course_not_found");
    app.post(&confirm, &stranger_token, reason.clone())
        .await
        .assert_problem(404, "decision_not_found");
    // Another institution's admin: unknown.
    app.post(&confirm, &south.admin_token, reason.clone())
        .await
        .assert_problem(404, "decision_not_found");
    let south_list = app.get("/v1/decisions", &south.admin_token).await;
    assert_eq!(south_list.status, StatusCode::OK, "{}", south_list.body);
    assert!(south_list.body["items"].as_array().unwrap().is_empty());

    // Bad input: a 4xx naming it, never a 5xx.
    for path in [
        "/v1/decisions?state=failed".to_string(),
        "/v1/decisions?course_id=not-a-uuid".to_string(),
        "/v1/decisions?limit=0".to_string(),
    ] {
        let reply = app.get(&path, admin).await;
        assert!(reply.status.is_client_error(), "{path}: {}", reply.status);
    }
    app.post(
        &format!("/v1/decisions/{}/confirm", uuid::Uuid::now_v7()),
        admin,
        reason.clone(),
    )
    .await
    .assert_problem(404, "decision_not_found");
    let too_long = app
        .post(&confirm, admin, json!({"reason": "x".repeat(1001)}))
        .await;
    assert!(too_long.status.is_client_error(), "{}", too_long.body);
    let unknown_field = app
        .post(
            &confirm,
            admin,
            json!({"reason": "ok", "state": "confirmed"}),
        )
        .await;
    assert!(
        unknown_field.status.is_client_error(),
        "{}",
        unknown_field.body
    );

    // Nothing of that changed it; the admin reviews every course.
    assert_eq!(
        my_decisions(&app, &s.learner_token).await[0]["state"],
        "pending_review"
    );
    assert_eq!(enrollment_state(&app, admin, &s.enrollment).await, "active");
    let everything = app.get("/v1/decisions", admin).await;
    assert_eq!(everything.body["items"].as_array().unwrap().len(), 1);
    let confirmed = app.post(&confirm, admin, reason).await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.body);
    assert_eq!(enrollment_state(&app, admin, &s.enrollment).await, "failed");
}

async fn my_certificates(app: &TestApp, token: &str) -> Vec<Value> {
    let reply = app.get("/v1/me/certificates", token).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body.as_array().unwrap().clone()
}

async fn patch_course(app: &TestApp, admin: &str, course: &str, body: Value) -> Reply {
    let read = app.get(&format!("/v1/courses/{course}"), admin).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    app.call_with(
        Method::PATCH,
        &format!("/v1/courses/{course}"),
        Some(admin),
        Some(body),
        &[("If-Match", &read.header("etag").unwrap())],
    )
    .await
}

fn assert_refused(reply: &Reply) {
    assert!(
        matches!(reply.status.as_u16(), 400 | 422),
        "{}: {}",
        reply.status,
        reply.body
    );
    assert_eq!(
        reply.header("content-type").as_deref(),
        Some("application/problem+json"),
        "{}",
        reply.body
    );
}

async fn promise_u7_a_certificate_denied_by_a_deadline_takes_effect_only_when_a_person_confirms_it(
    backend: Backend,
) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let s = setup(&app, &north, "U7-E", 2).await;
    let (second, second_token) = signed_in(&app, &north, "u7-e.second", &["learner"]).await;
    let second_enrollment = enroll(&app, admin, &s.course, &second).await;

    // Bad input: a deadline that is not a timestamp is a problem answer and changes nothing.
    let before = app.get(&format!("/v1/courses/{}", s.course), admin).await;
    for bad in [
        json!("next friday"),
        json!(20_270_101),
        json!("2026-13-01T00:00:00Z"),
    ] {
        let refused = patch_course(
            &app,
            admin,
            &s.course,
            json!({ "certificate_deadline": bad.clone() }),
        )
        .await;
        assert_refused(&refused);
        let created = app
            .post(
                "/v1/courses",
                admin,
                json!({"code": "U7-BAD", "title": "Bad", "certificate_deadline": bad}),
            )
            .await;
        assert_refused(&created);
    }
    let after = app.get(&format!("/v1/courses/{}", s.course), admin).await;
    assert_eq!(after.body["revision"], before.body["revision"]);
    assert!(
        after.body["certificate_deadline"].is_null(),
        "{}",
        after.body
    );
    let none = app.get("/v1/courses?code=U7-BAD", admin).await;
    assert!(none.body["items"].as_array().unwrap().is_empty());

    // A deadline in the past.
    let deadline = "2026-01-01T00:00:00Z";
    let set = patch_course(
        &app,
        admin,
        &s.course,
        json!({ "certificate_deadline": deadline }),
    )
    .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    assert_eq!(at(&set.body["certificate_deadline"]), at(&json!(deadline)));

    // The learner completes after it: the completion applies at once, the certificate not.
    let passed = take(&app, &s.learner_token, &s.quiz, "b").await;
    assert_eq!(passed.body["passed"], true, "{}", passed.body);
    assert_eq!(
        enrollment_state(&app, admin, &s.enrollment).await,
        "completed"
    );
    assert_eq!(audited(&app, admin, "course.completed").await.len(), 1);
    // Reading the certificates repairs nothing: the decision withholds it.
    assert!(my_certificates(&app, &s.learner_token).await.is_empty());
    assert!(audited(&app, admin, "certificate.issued").await.is_empty());
    let mine = my_decisions(&app, &s.learner_token).await;
    assert_eq!(mine.len(), 1, "{mine:?}");
    let d = &mine[0];
    let decision = d["id"].as_str().unwrap().to_string();
    assert_eq!(d["kind"], "certificate_denied");
    assert_eq!(d["state"], "pending_review");
    assert_eq!(d["rule"], "completed_after_certificate_deadline");
    assert_eq!(d["course_id"], s.course.as_str());
    assert!(d["quiz_id"].is_null(), "{d}");
    let explanation = d["explanation"].as_str().unwrap();
    assert!(explanation.contains("Course U7-E"), "{explanation}");
    assert!(
        explanation.contains("2026-01-01T00:00:00Z"),
        "{explanation}"
    );
    assert_eq!(
        at(&d["inputs"]["certificate_deadline"]),
        at(&json!(deadline))
    );
    assert!(
        at(&d["inputs"]["completed_at"]) > at(&json!(deadline)),
        "{d}"
    );
    assert_eq!(
        at(&d["review_due_at"]),
        at(&d["created_at"]) + Duration::days(14)
    );
    let recorded = audited(&app, admin, "decision.recorded").await;
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0]["detail"]["kind"], "certificate_denied");

    // A reviewer overturns it: the certificate is issued, and verifies like any other.
    let overturned = app
        .post(
            &format!("/v1/decisions/{decision}/overturn"),
            &s.teacher_token,
            json!({"reason": "The deadline was extended for this cohort"}),
        )
        .await;
    assert_eq!(overturned.status, StatusCode::OK, "{}", overturned.body);
    assert_eq!(overturned.body["state"], "overturned");
    assert_eq!(audited(&app, admin, "certificate.issued").await.len(), 1);
    let certificates = my_certificates(&app, &s.learner_token).await;
    assert_eq!(certificates.len(), 1, "{certificates:?}");
    assert_eq!(certificates[0]["course_id"], s.course.as_str());
    let verification_id = certificates[0]["verification_id"].as_str().unwrap();
    let verified = app
        .call(
            Method::GET,
            &format!("/v1/institutions/north/certificates/{verification_id}"),
            None,
            None,
        )
        .await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.body);
    assert_eq!(verified.body["valid"], true, "{}", verified.body);
    let told = outbox_of(&app, &north, &s.learner).await;
    let (_, text) = told
        .iter()
        .find(|(kind, _)| kind == "decision.overturned")
        .expect("the learner is told");
    assert!(text.contains("certificate is issued"), "{text}");

    // A second learner, late too: contests, and a reviewer confirms. No certificate, ever.
    take(&app, &second_token, &s.quiz, "b").await;
    assert_eq!(
        enrollment_state(&app, admin, &second_enrollment).await,
        "completed"
    );
    let theirs = my_decisions(&app, &second_token).await;
    assert_eq!(theirs.len(), 1, "{theirs:?}");
    assert_eq!(theirs[0]["kind"], "certificate_denied");
    assert_eq!(theirs[0]["state"], "pending_review");
    let second_decision = theirs[0]["id"].as_str().unwrap().to_string();
    let contested = app
        .post(
            &format!("/v1/me/decisions/{second_decision}/contest"),
            &second_token,
            json!({"statement": "The platform was down the week before the deadline"}),
        )
        .await;
    assert_eq!(contested.status, StatusCode::OK, "{}", contested.body);
    assert_eq!(contested.body["state"], "contested");
    assert!(my_certificates(&app, &second_token).await.is_empty());
    let confirmed = app
        .post(
            &format!("/v1/decisions/{second_decision}/confirm"),
            &s.teacher_token,
            json!({"reason": "No outage was recorded that week"}),
        )
        .await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.body);
    assert_eq!(confirmed.body["state"], "confirmed");
    for _ in 0..2 {
        assert!(my_certificates(&app, &second_token).await.is_empty());
    }
    assert_eq!(
        my_decisions(&app, &second_token).await[0]["state"],
        "confirmed"
    );
    assert_eq!(
        enrollment_state(&app, admin, &second_enrollment).await,
        "completed"
    );
    assert_eq!(audited(&app, admin, "certificate.issued").await.len(), 1);
    let told = outbox_of(&app, &north, &second).await;
    let (_, text) = told
        .iter()
        .find(|(kind, _)| kind == "decision.confirmed")
        .expect("the learner is told");
    assert!(text.contains("no certificate is issued"), "{text}");
}

/// A published course with these prerequisites (and `extra` fields).
async fn course_needing(
    app: &TestApp,
    admin: &str,
    code: &str,
    prerequisites: &[&str],
    extra: Value,
) -> String {
    let mut body = json!({
        "code": code,
        "title": format!("Course {code}"),
        "status": "published",
        "prerequisites": prerequisites,
    });
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let made = app.post("/v1/courses", admin, body).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    assert_eq!(made.body["prerequisites"], json!(prerequisites));
    made.body["id"].as_str().unwrap().to_string()
}

async fn enroll_myself(app: &TestApp, token: &str, course: &str) -> Reply {
    app.post("/v1/me/enrollments", token, json!({ "course_id": course }))
        .await
}

/// The caller's own enrollments, as (course id, state).
async fn my_enrollments(app: &TestApp, token: &str) -> Vec<(String, String)> {
    let reply = app.get("/v1/me/enrollments", token).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["course_id"].as_str().unwrap().to_string(),
                e["state"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Moves an enrollment (at revision 1) to `state`, by the admin.
async fn move_enrollment(app: &TestApp, admin: &str, enrollment: &str, state: &str) {
    let moved = app
        .call_with(
            Method::PATCH,
            &format!("/v1/enrollments/{enrollment}"),
            Some(admin),
            Some(json!({ "state": state })),
            &[("If-Match", "\"1\"")],
        )
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
}

async fn teacher_of(app: &TestApp, inst: &Institution, login: &str, course: &str) -> String {
    let (teacher, token) = signed_in(app, inst, login, &["instructor"]).await;
    let assigned = app
        .call(
            Method::PUT,
            &format!("/v1/courses/{course}/instructors/{teacher}"),
            Some(inst.admin_token.as_str()),
            None,
        )
        .await;
    assert_eq!(assigned.status, StatusCode::NO_CONTENT, "{}", assigned.body);
    token
}

async fn promise_u7_an_enrollment_refused_by_prerequisites_takes_effect_only_when_a_person_confirms_it(
    backend: Backend,
) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let basics = course(&app, admin, "U7-P0").await;
    let advanced = course_needing(&app, admin, "U7-P1", &[&basics], json!({})).await;
    let read = app.get(&format!("/v1/courses/{advanced}"), admin).await;
    assert_eq!(read.body["prerequisites"], json!([basics]), "{}", read.body);
    let unit = module(&app, admin, &advanced, "Unit 1").await;
    let first = lesson(&app, admin, &unit, "First", true).await;
    let _second = lesson(&app, admin, &unit, "Second", true).await;
    let teacher = teacher_of(&app, &north, "u7-p.teacher", &advanced).await;
    let (ada, ada_token) = signed_in(&app, &north, "u7-p.ada", &["learner"]).await;

    // Ada has not completed the prerequisite: the request is held, not refused, and she is
    // told why, in a decision waiting for a reviewer.
    let held = enroll_myself(&app, &ada_token, &advanced).await;
    assert_eq!(held.status, StatusCode::ACCEPTED, "{}", held.body);
    let d = &held.body;
    let decision = d["id"].as_str().unwrap().to_string();
    assert_eq!(d["kind"], "enrollment_refused");
    assert_eq!(d["state"], "pending_review");
    assert_eq!(d["rule"], "prerequisites_not_completed");
    assert_eq!(d["course_id"], advanced.as_str());
    assert_eq!(d["person_id"], ada.as_str());
    assert!(d["quiz_id"].is_null(), "{d}");
    assert_eq!(
        d["inputs"]["prerequisites"][0]["course_id"],
        basics.as_str()
    );
    assert_eq!(
        d["inputs"]["prerequisites"][0]["learner_state"],
        "not_enrolled"
    );
    let explanation = d["explanation"].as_str().unwrap();
    assert!(explanation.contains("Course U7-P0"), "{explanation}");
    assert!(explanation.contains("Course U7-P1"), "{explanation}");
    assert_eq!(
        at(&d["review_due_at"]),
        at(&d["created_at"]) + Duration::days(14)
    );
    assert_eq!(
        my_decisions(&app, &ada_token).await[0]["id"],
        decision.as_str()
    );
    let recorded = audited(&app, admin, "decision.recorded").await;
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0]["detail"]["kind"], "enrollment_refused");
    // Held, not enrolled: no enrollment, no progress.
    assert!(my_enrollments(&app, &ada_token).await.is_empty());
    assert!(audited(&app, admin, "enrollment.created").await.is_empty());
    mark(&app, &ada_token, &advanced, &first, "started")
        .await
        .assert_problem(409, "not_enrolled");
    let queue = app
        .get("/v1/decisions?state=pending_review", &teacher)
        .await;
    assert_eq!(queue.status, StatusCode::OK, "{}", queue.body);
    let items = queue.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", queue.body);
    assert_eq!(items[0]["id"], decision.as_str());

    // A person confirms it: only now is the enrollment refused. She stays unenrolled.
    let confirmed = app
        .post(
            &format!("/v1/decisions/{decision}/confirm"),
            &teacher,
            json!({"reason": "Basics are needed for the labs"}),
        )
        .await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.body);
    assert_eq!(confirmed.body["state"], "confirmed");
    assert!(my_enrollments(&app, &ada_token).await.is_empty());
    mark(&app, &ada_token, &advanced, &first, "started")
        .await
        .assert_problem(409, "not_enrolled");
    let entries = audited(&app, admin, "decision.confirmed").await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["detail"]["kind"], "enrollment_refused");
    assert_eq!(entries[0]["detail"]["old_state"], "pending_review");
    let told = outbox_of(&app, &north, &ada).await;
    let (_, text) = told
        .iter()
        .find(|(kind, _)| kind == "decision.confirmed")
        .expect("the learner is told");
    assert!(text.contains("Basics are needed for the labs"), "{text}");
    assert!(text.contains("you are not enrolled"), "{text}");

    // Another learner, enrolled in the prerequisite but not through it: held too; they
    // contest and a reviewer overturns. They are enrolled, active, the history saying why.
    let (bob, bob_token) = signed_in(&app, &north, "u7-p.bob", &["learner"]).await;
    enroll(&app, admin, &basics, &bob).await;
    let held = enroll_myself(&app, &bob_token, &advanced).await;
    assert_eq!(held.status, StatusCode::ACCEPTED, "{}", held.body);
    assert_eq!(
        held.body["inputs"]["prerequisites"][0]["learner_state"],
        "active"
    );
    let bobs = held.body["id"].as_str().unwrap().to_string();
    let contested = app
        .post(
            &format!("/v1/me/decisions/{bobs}/contest"),
            &bob_token,
            json!({"statement": "I took the basics course at my previous school"}),
        )
        .await;
    assert_eq!(contested.status, StatusCode::OK, "{}", contested.body);
    assert_eq!(contested.body["state"], "contested");
    assert_eq!(
        my_enrollments(&app, &bob_token).await,
        vec![(basics.clone(), "active".to_string())]
    );
    let overturned = app
        .post(
            &format!("/v1/decisions/{bobs}/overturn"),
            &teacher,
            json!({"reason": "Prior learning recognised"}),
        )
        .await;
    assert_eq!(overturned.status, StatusCode::OK, "{}", overturned.body);
    assert_eq!(overturned.body["state"], "overturned");
    let enrolled = app.get("/v1/me/enrollments", &bob_token).await;
    let row = enrolled.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["course_id"] == advanced.as_str())
        .cloned()
        .expect("enrolled by the overturn");
    assert_eq!(row["state"], "active");
    assert_eq!(row["source"], "self");
    let history = app
        .get(
            &format!("/v1/enrollments/{}/history", row["id"].as_str().unwrap()),
            admin,
        )
        .await;
    assert_eq!(history.status, StatusCode::OK, "{}", history.body);
    let events = history.body["items"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{}", history.body);
    assert_eq!(events[0]["to"], "active");
    assert!(
        events[0]["reason"].as_str().unwrap().contains("overturned"),
        "{}",
        history.body
    );
    let started = mark(&app, &bob_token, &advanced, &first, "started").await;
    assert_eq!(started.status, StatusCode::OK, "{}", started.body);
    let entries = audited(&app, admin, "decision.overturned").await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["detail"]["old_state"], "contested");
    let told = outbox_of(&app, &north, &bob).await;
    let (_, text) = told
        .iter()
        .find(|(kind, _)| kind == "decision.overturned")
        .expect("the learner is told");
    assert!(text.contains("Prior learning recognised"), "{text}");
    assert!(text.contains("you are enrolled"), "{text}");
    // Ada's refusal stands as confirmed.
    assert_eq!(
        my_decisions(&app, &ada_token).await[0]["state"],
        "confirmed"
    );
}

async fn promise_u7_a_learner_who_completed_the_prerequisites_enrolls_at_once(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let basics = course(&app, admin, "U7-Q0").await;
    let advanced = course_needing(&app, admin, "U7-Q1", &[&basics], json!({})).await;

    // Completed the prerequisite: the favourable outcome applies at once.
    let (ada, ada_token) = signed_in(&app, &north, "u7-q.ada", &["learner"]).await;
    let done = enroll(&app, admin, &basics, &ada).await;
    move_enrollment(&app, admin, &done, "completed").await;
    let enrolled = enroll_myself(&app, &ada_token, &advanced).await;
    assert_eq!(enrolled.status, StatusCode::CREATED, "{}", enrolled.body);
    assert_eq!(enrolled.body["state"], "active");
    assert_eq!(enrolled.body["course_id"], advanced.as_str());
    assert!(my_decisions(&app, &ada_token).await.is_empty());

    // A person's enrollment is that person's act: no rule. An admin enrolls Bob, and
    // invites Carol, who takes the invitation up herself.
    let (bob, bob_token) = signed_in(&app, &north, "u7-q.bob", &["learner"]).await;
    enroll(&app, admin, &advanced, &bob).await;
    assert!(my_decisions(&app, &bob_token).await.is_empty());
    let (carol, carol_token) = signed_in(&app, &north, "u7-q.carol", &["learner"]).await;
    let invited = app
        .post(
            &format!("/v1/courses/{advanced}/enrollments"),
            admin,
            json!({"person_id": carol, "state": "invited"}),
        )
        .await;
    assert_eq!(invited.status, StatusCode::CREATED, "{}", invited.body);
    let taken_up = enroll_myself(&app, &carol_token, &advanced).await;
    assert_eq!(taken_up.status, StatusCode::CREATED, "{}", taken_up.body);
    assert_eq!(taken_up.body["state"], "active");
    assert!(my_decisions(&app, &carol_token).await.is_empty());
    // A course without prerequisites: no rule either.
    let (_, dora_token) = signed_in(&app, &north, "u7-q.dora", &["learner"]).await;
    let plain = enroll_myself(&app, &dora_token, &basics).await;
    assert_eq!(plain.status, StatusCode::CREATED, "{}", plain.body);
    assert!(audited(&app, admin, "decision.recorded").await.is_empty());
}

async fn promise_u7_bad_prerequisites_are_refused_by_field_and_change_nothing(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let south = app.create_institution("south").await;
    let admin = north.admin_token.as_str();
    let a = course(&app, admin, "U7-R-A").await;
    let b = course_needing(&app, admin, "U7-R-B", &[&a], json!({})).await;
    let c = course_needing(&app, admin, "U7-R-C", &[&b], json!({})).await;
    let theirs = course(&app, south.admin_token.as_str(), "U7-R-S").await;
    let unknown = uuid::Uuid::now_v7().to_string();

    // On create: an unknown course, another institution's, one listed twice, too many.
    let many: Vec<String> = (0..21).map(|_| a.clone()).collect();
    for (prerequisites, field) in [
        (json!([unknown]), "prerequisites[0]"),
        (json!([a, theirs]), "prerequisites[1]"),
        (json!([a, b, a]), "prerequisites[2]"),
        (json!(many), "prerequisites"),
    ] {
        let refused = app
            .post(
                "/v1/courses",
                admin,
                json!({"code": "U7-R-BAD", "title": "Bad", "prerequisites": prerequisites}),
            )
            .await;
        refused.assert_problem(422, "validation_failed");
        assert!(
            refused.error_fields().contains(&field.to_string()),
            "{field}: {}",
            refused.body
        );
    }
    for bad in [json!(["not-a-uuid"]), json!("U7-R-A"), json!([1])] {
        let refused = app
            .post(
                "/v1/courses",
                admin,
                json!({"code": "U7-R-BAD", "title": "Bad", "prerequisites": bad}),
            )
            .await;
        assert_refused(&refused);
    }
    let none = app.get("/v1/courses?code=U7-R-BAD", admin).await;
    assert!(none.body["items"].as_array().unwrap().is_empty());

    // On update: itself, a direct cycle, a cycle through another course, unknown ids.
    let before = app.get(&format!("/v1/courses/{a}"), admin).await;
    for (prerequisites, field) in [
        (json!([a]), "prerequisites[0]"),
        (json!([b]), "prerequisites[0]"),
        (json!([unknown, c]), "prerequisites[1]"),
        (json!([theirs]), "prerequisites[0]"),
    ] {
        let refused =
            patch_course(&app, admin, &a, json!({ "prerequisites": prerequisites })).await;
        refused.assert_problem(422, "validation_failed");
        assert!(
            refused.error_fields().contains(&field.to_string()),
            "{field}: {}",
            refused.body
        );
    }
    let after = app.get(&format!("/v1/courses/{a}"), admin).await;
    assert_eq!(after.body["revision"], before.body["revision"]);
    assert_eq!(after.body["prerequisites"], json!([]));
    let listed = app.get("/v1/courses?code=U7-R-C", admin).await;
    assert_eq!(listed.body["items"][0]["prerequisites"], json!([b]));

    // A course another names is not deleted; once no longer named, it is.
    app.call(
        Method::DELETE,
        &format!("/v1/courses/{a}"),
        Some(admin),
        None,
    )
    .await
    .assert_problem(409, "course_is_prerequisite");
    let cleared = patch_course(&app, admin, &b, json!({ "prerequisites": [] })).await;
    assert_eq!(cleared.status, StatusCode::OK, "{}", cleared.body);
    assert_eq!(cleared.body["prerequisites"], json!([]));
    // Without it, the other direction is no cycle.
    let reversed = patch_course(&app, admin, &a, json!({ "prerequisites": [b] })).await;
    assert_eq!(reversed.status, StatusCode::OK, "{}", reversed.body);
    assert_eq!(reversed.body["prerequisites"], json!([b]));
    let gone = app
        .call(
            Method::DELETE,
            &format!("/v1/courses/{c}"),
            Some(admin),
            None,
        )
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT, "{}", gone.body);
}

async fn promise_u7_a_held_enrollment_is_asked_once_and_an_overturn_needs_a_free_seat(
    backend: Backend,
) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let basics = course(&app, admin, "U7-S0").await;
    let advanced = course_needing(&app, admin, "U7-S1", &[&basics], json!({"seat_limit": 1})).await;
    let (_, ada_token) = signed_in(&app, &north, "u7-s.ada", &["learner"]).await;

    // Two requests at once, then a third: one decision, the others 409.
    let (one, two) = tokio::join!(
        enroll_myself(&app, &ada_token, &advanced),
        enroll_myself(&app, &ada_token, &advanced)
    );
    let mut statuses = vec![one.status.as_u16(), two.status.as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, vec![202, 409], "{} / {}", one.body, two.body);
    let refused = if one.status == StatusCode::CONFLICT {
        one
    } else {
        two
    };
    refused.assert_problem(409, "enrollment_under_review");
    enroll_myself(&app, &ada_token, &advanced)
        .await
        .assert_problem(409, "enrollment_under_review");
    let mine = my_decisions(&app, &ada_token).await;
    assert_eq!(mine.len(), 1, "{mine:?}");
    let decision = mine[0]["id"].as_str().unwrap().to_string();
    assert_eq!(audited(&app, admin, "decision.recorded").await.len(), 1);
    assert!(my_enrollments(&app, &ada_token).await.is_empty());

    // The only seat goes to someone an admin enrolls; the overturn finds none and is
    // refused: the decision stays open, Ada unenrolled.
    let (bob, _) = signed_in(&app, &north, "u7-s.bob", &["learner"]).await;
    let bobs = enroll(&app, admin, &advanced, &bob).await;
    let overturn = format!("/v1/decisions/{decision}/overturn");
    app.post(
        &overturn,
        admin,
        json!({"reason": "Prior learning recognised"}),
    )
    .await
    .assert_problem(409, "seats_exhausted");
    assert_eq!(
        my_decisions(&app, &ada_token).await[0]["state"],
        "pending_review"
    );
    assert!(my_enrollments(&app, &ada_token).await.is_empty());
    assert!(audited(&app, admin, "decision.overturned").await.is_empty());
    // A seat frees: the overturn enrolls her.
    move_enrollment(&app, admin, &bobs, "withdrawn").await;
    let overturned = app
        .post(
            &overturn,
            admin,
            json!({"reason": "Prior learning recognised"}),
        )
        .await;
    assert_eq!(overturned.status, StatusCode::OK, "{}", overturned.body);
    assert_eq!(
        my_enrollments(&app, &ada_token).await,
        vec![(advanced.clone(), "active".to_string())]
    );
    // Enrolled now: asking again is the enrollment she has.
    let again = enroll_myself(&app, &ada_token, &advanced).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(my_decisions(&app, &ada_token).await.len(), 1);
}
