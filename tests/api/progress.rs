//! Lesson progress and course completion through the public API: progress needs an active
//! enrollment; per-module and course percentages count the lessons the completion rule
//! requires; `completed` is final; completion happens exactly once when the rule is met
//! (lessons and a passed quiz), makes the enrollment `completed` and is audited; staff read
//! a learner's progress in the courses they teach only; another institution's ids are
//! unknown.

use crate::both_backends;
use crate::privacy_requests::{person, signed_in};
use crate::support::{Backend, Institution, Reply, TestApp, spawn};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

both_backends!(
    promise_u1_progress_needs_an_active_enrollment_and_counts_per_module,
    promise_c3_completion_happens_once_when_the_rule_is_met,
    promise_c3_staff_read_progress_only_in_the_courses_they_teach,
);

pub(crate) async fn course(app: &TestApp, admin: &str, code: &str) -> String {
    let made = app
        .post(
            "/v1/courses",
            admin,
            json!({"code": code, "title": format!("Course {code}"), "status": "published"}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    made.body["id"].as_str().unwrap().to_string()
}

pub(crate) async fn module(app: &TestApp, admin: &str, course: &str, title: &str) -> String {
    let made = app
        .post(
            &format!("/v1/courses/{course}/modules"),
            admin,
            json!({"title": title}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    made.body["id"].as_str().unwrap().to_string()
}

pub(crate) async fn lesson(
    app: &TestApp,
    admin: &str,
    module: &str,
    title: &str,
    required: bool,
) -> String {
    let made = app
        .post(
            &format!("/v1/modules/{module}/lessons"),
            admin,
            json!({"title": title, "required": required}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    made.body["id"].as_str().unwrap().to_string()
}

pub(crate) async fn enroll(app: &TestApp, admin: &str, course: &str, person: &str) -> String {
    let made = app
        .post(
            &format!("/v1/courses/{course}/enrollments"),
            admin,
            json!({"person_id": person}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    made.body["id"].as_str().unwrap().to_string()
}

pub(crate) async fn mark(
    app: &TestApp,
    token: &str,
    course: &str,
    lesson: &str,
    status: &str,
) -> Reply {
    app.call(
        Method::PUT,
        &format!("/v1/me/courses/{course}/lessons/{lesson}/progress"),
        Some(token),
        Some(json!({ "status": status })),
    )
    .await
}

pub(crate) async fn my_progress(app: &TestApp, token: &str, course: &str) -> Reply {
    app.get(&format!("/v1/me/courses/{course}/progress"), token)
        .await
}

pub(crate) async fn set_rule(app: &TestApp, admin: &str, course: &str, rule: Value) {
    let current = app
        .get(&format!("/v1/courses/{course}/completion-rule"), admin)
        .await;
    assert_eq!(current.status, StatusCode::OK, "{}", current.body);
    let set = app
        .call_with(
            Method::PUT,
            &format!("/v1/courses/{course}/completion-rule"),
            Some(admin),
            Some(rule),
            &[("If-Match", &format!("\"{}\"", current.body["revision"]))],
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
}

/// Every audit entry of the institution with this action.
pub(crate) async fn audited(app: &TestApp, admin: &str, action: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/audit/events?limit=200&cursor={c}"),
            None => "/v1/audit/events?limit=200".into(),
        };
        let page = app.get(&path, admin).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        all.extend(
            page.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| e["action"] == action)
                .cloned(),
        );
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return all,
        }
    }
}

/// A published course of two modules: [required, optional] and [required].
pub(crate) struct Course {
    pub id: String,
    pub lessons: Vec<String>,
}

pub(crate) async fn two_module_course(app: &TestApp, inst: &Institution, code: &str) -> Course {
    let admin = inst.admin_token.as_str();
    let id = course(app, admin, code).await;
    let first = module(app, admin, &id, "Basics").await;
    let second = module(app, admin, &id, "More").await;
    let lessons = vec![
        lesson(app, admin, &first, "One", true).await,
        lesson(app, admin, &first, "Two (optional)", false).await,
        lesson(app, admin, &second, "Three", true).await,
    ];
    Course { id, lessons }
}

fn percents(progress: &Value) -> Vec<(u64, u64, u64)> {
    progress["modules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["required_completed"].as_u64().unwrap(),
                m["required_lessons"].as_u64().unwrap(),
                m["percent"].as_u64().unwrap(),
            )
        })
        .collect()
}

async fn promise_u1_progress_needs_an_active_enrollment_and_counts_per_module(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let c = two_module_course(&app, &north, "PRG-1").await;
    let (ada, token) = signed_in(&app, &north, "ada", &["learner"]).await;

    // Not enrolled: nothing is recorded, and nothing read.
    mark(&app, &token, &c.id, &c.lessons[0], "started")
        .await
        .assert_problem(409, "not_enrolled");
    my_progress(&app, &token, &c.id)
        .await
        .assert_problem(404, "enrollment_not_found");

    let enrollment = enroll(&app, admin, &c.id, &ada).await;
    let fresh = my_progress(&app, &token, &c.id).await;
    assert_eq!(fresh.status, StatusCode::OK, "{}", fresh.body);
    assert_eq!(percents(&fresh.body), vec![(0, 1, 0), (0, 1, 0)]);
    assert_eq!(fresh.body["required_lessons"], 2);
    assert_eq!(fresh.body["percent"], 0);
    assert_eq!(fresh.body["enrollment_id"], enrollment.as_str());
    assert!(fresh.body["modules"][0]["lessons"][0]["status"].is_null());

    let started = mark(&app, &token, &c.id, &c.lessons[0], "started").await;
    assert_eq!(started.status, StatusCode::OK, "{}", started.body);
    assert_eq!(started.body["status"], "started");
    assert_eq!(started.body["source"], "learner");
    assert_eq!(started.body["person_id"], ada.as_str());
    assert!(started.body["completed_at"].is_null());
    let after_start = my_progress(&app, &token, &c.id).await;
    assert_eq!(percents(&after_start.body), vec![(0, 1, 0), (0, 1, 0)]);
    assert_eq!(
        after_start.body["modules"][0]["lessons"][0]["status"],
        "started"
    );

    // The optional lesson counts as done, not toward the percentage.
    let optional = mark(&app, &token, &c.id, &c.lessons[1], "completed").await;
    assert_eq!(optional.status, StatusCode::OK, "{}", optional.body);
    let done = mark(&app, &token, &c.id, &c.lessons[0], "completed").await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(done.body["status"], "completed");
    assert_eq!(done.body["revision"], 2);
    let completed_at = done.body["completed_at"].clone();
    assert!(completed_at.is_string());
    let halfway = my_progress(&app, &token, &c.id).await;
    assert_eq!(percents(&halfway.body), vec![(1, 1, 100), (0, 1, 0)]);
    assert_eq!(halfway.body["modules"][0]["lessons_completed"], 2);
    assert_eq!(halfway.body["required_completed"], 1);
    assert_eq!(halfway.body["percent"], 50);
    assert!(halfway.body["completed_at"].is_null());

    // `completed` is final.
    let again = mark(&app, &token, &c.id, &c.lessons[0], "started").await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.body["status"], "completed");
    assert_eq!(again.body["completed_at"], completed_at);
    assert_eq!(again.body["revision"], 2);

    // A lesson of another course, an unknown status, an unknown course.
    let other = two_module_course(&app, &north, "PRG-2").await;
    mark(&app, &token, &c.id, &other.lessons[0], "started")
        .await
        .assert_problem(404, "lesson_not_found");
    mark(&app, &token, &c.id, &c.lessons[2], "finished")
        .await
        .assert_problem(400, "bad_request");
    mark(
        &app,
        &token,
        &uuid::Uuid::now_v7().to_string(),
        &c.lessons[2],
        "started",
    )
    .await
    .assert_problem(404, "course_not_found");
    // An API key is no learner.
    mark(&app, admin, &c.id, &c.lessons[2], "started")
        .await
        .assert_problem(403, "person_credential_required");
    let unchanged = my_progress(&app, &token, &c.id).await;
    assert_eq!(percents(&unchanged.body), vec![(1, 1, 100), (0, 1, 0)]);

    // Withdrawn: nothing more is recorded; what was done stays readable.
    let withdrawn = app
        .call(
            Method::POST,
            &format!("/v1/me/enrollments/{enrollment}/withdraw"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(withdrawn.status, StatusCode::OK, "{}", withdrawn.body);
    mark(&app, &token, &c.id, &c.lessons[2], "completed")
        .await
        .assert_problem(409, "not_enrolled");
    let kept = my_progress(&app, &token, &c.id).await;
    assert_eq!(kept.status, StatusCode::OK, "{}", kept.body);
    assert_eq!(kept.body["enrollment_state"], "withdrawn");
    assert_eq!(percents(&kept.body), vec![(1, 1, 100), (0, 1, 0)]);
}

async fn promise_c3_completion_happens_once_when_the_rule_is_met(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let c = two_module_course(&app, &north, "CMP-1").await;
    let quiz = crate::attempts::one_question_quiz(&app, admin, &c.id, json!({})).await;
    set_rule(
        &app,
        admin,
        &c.id,
        json!({"required_lessons": "all_required", "passing_quizzes": [quiz]}),
    )
    .await;
    let (ada, token) = signed_in(&app, &north, "ada", &["learner"]).await;
    let enrollment = enroll(&app, admin, &c.id, &ada).await;

    // The lessons alone are not enough: the quiz is named too.
    for l in [&c.lessons[0], &c.lessons[2]] {
        let done = mark(&app, &token, &c.id, l, "completed").await;
        assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    }
    let waiting = my_progress(&app, &token, &c.id).await;
    assert_eq!(waiting.body["percent"], 100);
    assert!(waiting.body["completed_at"].is_null(), "{}", waiting.body);
    assert_eq!(waiting.body["enrollment_state"], "active");
    assert_eq!(waiting.body["quizzes"][0]["required"], true);
    assert!(audited(&app, admin, "course.completed").await.is_empty());

    // A failed attempt changes nothing; a passing one completes the course.
    let failed = crate::attempts::take(&app, &token, &quiz, "a").await;
    assert_eq!(failed.body["passed"], false, "{}", failed.body);
    assert!(my_progress(&app, &token, &c.id).await.body["completed_at"].is_null());
    let passed = crate::attempts::take(&app, &token, &quiz, "b").await;
    assert_eq!(passed.body["passed"], true, "{}", passed.body);

    let done = my_progress(&app, &token, &c.id).await;
    assert!(done.body["completed_at"].is_string(), "{}", done.body);
    assert_eq!(done.body["enrollment_state"], "completed");
    assert_eq!(done.body["quizzes"][0]["passed"], true);
    let enrollment_now = app
        .get(&format!("/v1/enrollments/{enrollment}"), admin)
        .await;
    assert_eq!(
        enrollment_now.body["state"], "completed",
        "{}",
        enrollment_now.body
    );
    let history = app
        .get(&format!("/v1/enrollments/{enrollment}/history"), admin)
        .await;
    let last = history.body["items"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["to"], "completed");
    assert_eq!(last["reason"], "the course's completion rule is met");
    let events = audited(&app, admin, "course.completed").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["subject"], format!("person:{ada}"));

    // Once: the course is done, nothing more moves it, and nothing completes it again.
    mark(&app, &token, &c.id, &c.lessons[1], "completed")
        .await
        .assert_problem(409, "not_enrolled");
    app.post(
        &format!("/v1/me/quizzes/{quiz}/attempts"),
        &token,
        json!({}),
    )
    .await
    .assert_problem(409, "not_enrolled");
    assert_eq!(audited(&app, admin, "course.completed").await.len(), 1);
    let still = my_progress(&app, &token, &c.id).await;
    assert_eq!(still.body["completed_at"], done.body["completed_at"]);

    // A course whose rule asks for nothing completes no one by itself.
    let empty = course(&app, admin, "CMP-EMPTY").await;
    let m = module(&app, admin, &empty, "Only").await;
    let optional = lesson(&app, admin, &m, "Optional", false).await;
    enroll(&app, admin, &empty, &ada).await;
    let marked = mark(&app, &token, &empty, &optional, "completed").await;
    assert_eq!(marked.status, StatusCode::OK, "{}", marked.body);
    let open = my_progress(&app, &token, &empty).await;
    assert!(open.body["completed_at"].is_null(), "{}", open.body);
    assert_eq!(open.body["enrollment_state"], "active");
}

async fn promise_c3_staff_read_progress_only_in_the_courses_they_teach(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let taught = two_module_course(&app, &north, "MINE-1").await;
    let other = two_module_course(&app, &north, "THEIRS-1").await;
    let (teacher, teacher_token) = signed_in(&app, &north, "tina", &["instructor"]).await;
    let assigned = app
        .call(
            Method::PUT,
            &format!("/v1/courses/{}/instructors/{teacher}", taught.id),
            Some(admin),
            None,
        )
        .await;
    assert_eq!(assigned.status, StatusCode::NO_CONTENT, "{}", assigned.body);
    let (ada, token) = signed_in(&app, &north, "ada", &["learner"]).await;
    let never = person(&app, &north, "neville").await;
    enroll(&app, admin, &taught.id, &ada).await;
    enroll(&app, admin, &other.id, &ada).await;
    let done = mark(&app, &token, &taught.id, &taught.lessons[0], "completed").await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);

    let read = |course: String, who: String, token: String| {
        let app = &app;
        async move {
            app.get(
                &format!("/v1/courses/{course}/learners/{who}/progress"),
                &token,
            )
            .await
        }
    };
    let seen = read(taught.id.clone(), ada.clone(), teacher_token.clone()).await;
    assert_eq!(seen.status, StatusCode::OK, "{}", seen.body);
    assert_eq!(seen.body["person_id"], ada.as_str());
    assert_eq!(seen.body["required_completed"], 1);
    // The admin reads every course; the instructor only theirs.
    let by_admin = read(other.id.clone(), ada.clone(), admin.to_string()).await;
    assert_eq!(by_admin.status, StatusCode::OK, "{}", by_admin.body);
    read(other.id.clone(), ada.clone(), teacher_token.clone())
        .await
        .assert_problem(404, "course_not_found");
    read(taught.id.clone(), never.clone(), teacher_token.clone())
        .await
        .assert_problem(404, "enrollment_not_found");
    // A learner reads only their own.
    read(taught.id.clone(), ada.clone(), token.clone())
        .await
        .assert_problem(403, "insufficient_scope");

    // Another institution's course and lessons are unknown there.
    let south = app.create_institution("south").await;
    let foreign = two_module_course(&app, &south, "MINE-1").await;
    read(foreign.id.clone(), ada.clone(), admin.to_string())
        .await
        .assert_problem(404, "course_not_found");
    my_progress(&app, &token, &foreign.id)
        .await
        .assert_problem(404, "course_not_found");
    mark(&app, &token, &taught.id, &foreign.lessons[0], "completed")
        .await
        .assert_problem(404, "lesson_not_found");
    mark(&app, &token, &foreign.id, &foreign.lessons[0], "completed")
        .await
        .assert_problem(404, "course_not_found");
}
