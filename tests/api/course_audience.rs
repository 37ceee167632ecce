//! The catalogue's one decision about what a minor may see (A1), applied beyond the
//! catalogue: every learner operation of the OpenAPI document that names a course (or an
//! item of one) answers a minor about a restricted course exactly as about an unknown one
//! and records nothing; an xAPI `completed` statement moves nothing for them; a SCIM group
//! mapped to the course skips them.

use crate::both_backends;
use crate::minors::{born_years_ago, institution, person};
use crate::support::scim;
use crate::support::{Backend, Reply, TestApp, spawn};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeSet;

both_backends!(
    promise_a1_every_learner_operation_naming_a_hidden_course_answers_a_minor_404_and_records_nothing,
    promise_a1_a_scim_group_mapped_to_a_course_skips_a_minor_it_is_hidden_from
);

/// The path parameters that name a course or an item of one course.
const COURSE_SCOPED: &[&str] = &["course_id", "module_id", "lesson_id", "quiz_id"];

/// A learner operation naming a course, from the committed spec: method, path template,
/// operation id and the example of its request body, if it has one.
struct Operation {
    method: Method,
    path: String,
    id: String,
    body: Option<Value>,
}

fn resolve<'a>(spec: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => {
            let name = r.rsplit('/').next().unwrap();
            &spec["components"]["schemas"][name]
        }
        None => schema,
    }
}

/// Every operation a learner may call (the learner role holds `courses:read` only, and the
/// spec says the scope each operation requires) with a course-scoped path parameter.
fn learner_operations_naming_a_course() -> Vec<Operation> {
    let text = std::fs::read_to_string(
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../openapi/openapi.json"),
    )
    .unwrap();
    let spec: Value = serde_json::from_str(&text).unwrap();
    let mut found = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Ok(method) = method.to_uppercase().parse::<Method>() else {
                continue;
            };
            let params: Vec<&str> = op["parameters"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .filter(|p| p["in"] == "path")
                        .filter_map(|p| p["name"].as_str())
                        .collect()
                })
                .unwrap_or_default();
            let description: Vec<&str> = op["description"]
                .as_str()
                .unwrap_or("")
                .split_whitespace()
                .collect();
            let learner = description
                .join(" ")
                .contains("Requires scope `courses:read`");
            if !learner || !params.iter().any(|p| COURSE_SCOPED.contains(p)) {
                continue;
            }
            assert!(
                params.iter().all(|p| COURSE_SCOPED.contains(p)),
                "{method} {path}: a learner operation naming a course with another path \
                 parameter ({params:?}); teach this test how to fill it"
            );
            let body = op["requestBody"]["content"]
                .as_object()
                .and_then(|c| c.values().next())
                .map(|media| {
                    let schema = resolve(&spec, &media["schema"]);
                    assert!(
                        !schema["example"].is_null(),
                        "{method} {path}: the request body's schema has no example"
                    );
                    schema["example"].clone()
                });
            found.push(Operation {
                method,
                path: format!("/v1{}", path.strip_prefix("/v1").unwrap_or(path)),
                id: op["operationId"].as_str().unwrap().to_string(),
                body,
            });
        }
    }
    found
}

fn fill(template: &str, ids: &[(&str, &str)]) -> String {
    let mut path = template.to_string();
    for (name, id) in ids {
        path = path.replace(&format!("{{{name}}}"), id);
    }
    path
}

async fn call(app: &TestApp, op: &Operation, path: &str, token: &str) -> Reply {
    app.call(op.method.clone(), path, Some(token), op.body.clone())
        .await
}

/// The admin's view of a learner's lesson statuses in the course's first module.
async fn lesson_statuses(app: &TestApp, admin: &str, course: &str, learner: &str) -> Vec<Value> {
    let progress = app
        .get(
            &format!("/v1/courses/{course}/learners/{learner}/progress"),
            admin,
        )
        .await;
    assert_eq!(progress.status, StatusCode::OK, "{}", progress.body);
    progress.body["modules"][0]["lessons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["status"].clone())
        .collect()
}

async fn attempts_of(app: &TestApp, admin: &str, quiz: &str, learner: &str) -> usize {
    let listed = app
        .get(
            &format!("/v1/quizzes/{quiz}/attempts?person_id={learner}"),
            admin,
        )
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    listed.body["items"].as_array().unwrap().len()
}

fn completed_statement(email: &str, activity: &str) -> Value {
    json!({
        "actor": {"objectType": "Agent", "name": "Learner", "mbox": format!("mailto:{email}")},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/completed", "display": {"en-US": "completed"}},
        "object": {"objectType": "Activity", "id": activity,
                   "definition": {"name": {"en-US": "A lesson"}}},
    })
}

async fn promise_a1_every_learner_operation_naming_a_hidden_course_answers_a_minor_404_and_records_nothing(
    backend: Backend,
) {
    let app = spawn(backend).await;
    let inst = institution(&app, "audience").await;
    let admin = inst.admin_token.as_str();
    let (kid, kid_token) =
        person(&app, &inst, "kid@audience.test", Some(&born_years_ago(12))).await;
    let (adult, adult_token) = person(
        &app,
        &inst,
        "adult@audience.test",
        Some(&born_years_ago(30)),
    )
    .await;
    // Both enrolled while the course was open to everyone; then it is marked restricted,
    // so only the audience decision (not the lack of an enrollment) can refuse the minor.
    let course = crate::progress::course(&app, admin, "HIDDEN-1").await;
    let module = crate::progress::module(&app, admin, &course, "One").await;
    let activity = "http://audience.test/lessons/one";
    let made = app
        .post(
            &format!("/v1/modules/{module}/lessons"),
            admin,
            json!({"title": "Lesson", "activity_id": activity, "required": true}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let lesson = made.body["id"].as_str().unwrap().to_string();
    // A second required lesson, so completing the first does not complete the course.
    crate::progress::lesson(&app, admin, &module, "Second", true).await;
    let quiz = crate::attempts::one_question_quiz(&app, admin, &course, json!({})).await;
    for learner in [&kid, &adult] {
        crate::progress::enroll(&app, admin, &course, learner).await;
    }
    let current = app.get(&format!("/v1/courses/{course}"), admin).await;
    let etag = current.header("etag").unwrap();
    let restricted = app
        .call_with(
            Method::PATCH,
            &format!("/v1/courses/{course}"),
            Some(admin),
            Some(json!({"restricted_content": true})),
            &[("If-Match", etag.as_str())],
        )
        .await;
    assert_eq!(restricted.status, StatusCode::OK, "{}", restricted.body);

    let ops = learner_operations_naming_a_course();
    let named: BTreeSet<&str> = ops.iter().map(|o| o.id.as_str()).collect();
    // The enumeration finds the operations known today (a new one joins it by itself).
    for known in [
        "getCourse",
        "getCourseOutline",
        "getCourseModule",
        "getLesson",
        "getCompletionRule",
        "listQuizzes",
        "getQuiz",
        "startMyQuizAttempt",
        "listMyQuizAttempts",
        "recordMyLessonProgress",
        "getMyCourseProgress",
    ] {
        assert!(named.contains(known), "{known} not enumerated: {named:?}");
    }
    let hidden = [
        ("course_id", course.as_str()),
        ("module_id", module.as_str()),
        ("lesson_id", lesson.as_str()),
        ("quiz_id", quiz.as_str()),
    ];
    let unknown_ids: Vec<String> = (0..4).map(|_| uuid::Uuid::now_v7().to_string()).collect();
    let unknown: Vec<(&str, &str)> = COURSE_SCOPED
        .iter()
        .zip(&unknown_ids)
        .map(|(n, id)| (*n, id.as_str()))
        .collect();

    // The minor: 404, the very answer an unknown course (or item) gets.
    for op in &ops {
        let seen = call(&app, op, &fill(&op.path, &hidden), &kid_token).await;
        let none = call(&app, op, &fill(&op.path, &unknown), &kid_token).await;
        assert_eq!(
            seen.status,
            StatusCode::NOT_FOUND,
            "{} {}: {}",
            op.method,
            op.id,
            seen.body
        );
        assert_eq!(
            (seen.status, &seen.body["code"]),
            (none.status, &none.body["code"]),
            "{}: a hidden course answers unlike an unknown one",
            op.id
        );
    }
    // A learning tool's `completed` statement about the minor is stored and moves nothing;
    // the adult's completes the lesson.
    let lrs = crate::xapi::lrs_credential(&app, admin, &["all"]).await;
    let sent = crate::xapi::xapi(
        &app,
        &lrs,
        Method::POST,
        "/xapi/statements",
        Some(json!([
            completed_statement("kid@audience.test", activity),
            completed_statement("adult@audience.test", activity),
        ])),
        Some("1.0.3"),
    )
    .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
    // Nothing recorded for the minor: no lesson started or completed, no attempt.
    for status in lesson_statuses(&app, admin, &course, &kid).await {
        assert!(
            status != "completed" && status != "started",
            "recorded for the minor: {status}"
        );
    }
    assert_eq!(attempts_of(&app, admin, &quiz, &kid).await, 0);
    assert_eq!(
        lesson_statuses(&app, admin, &course, &adult).await[0],
        json!("completed")
    );

    // The adult: every one of the same calls succeeds.
    for op in &ops {
        let seen = call(&app, op, &fill(&op.path, &hidden), &adult_token).await;
        assert!(
            seen.status.is_success(),
            "{} {} as an adult: {} {}",
            op.method,
            op.id,
            seen.status,
            seen.body
        );
    }
    assert_eq!(attempts_of(&app, admin, &quiz, &adult).await, 1);
}

async fn enrolled(app: &TestApp, admin: &str, course: &str) -> BTreeSet<String> {
    let listed = app
        .get(&format!("/v1/courses/{course}/enrollments"), admin)
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["person_id"].as_str().unwrap().to_string())
        .collect()
}

async fn refusals(app: &TestApp, admin: &str) -> Vec<(String, String)> {
    let audit = app
        .get(
            "/v1/audit/events?limit=100&action=enrollment.group_refused",
            admin,
        )
        .await;
    assert_eq!(audit.status, StatusCode::OK, "{}", audit.body);
    audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["detail"]["code"].as_str().unwrap_or("").to_string(),
                e.to_string(),
            )
        })
        .collect()
}

async fn promise_a1_a_scim_group_mapped_to_a_course_skips_a_minor_it_is_hidden_from(
    backend: Backend,
) {
    let app = spawn(backend).await;
    let inst = institution(&app, "cohorts").await;
    let admin = inst.admin_token.as_str();
    let (kid, _) = person(&app, &inst, "kid@cohorts.test", Some(&born_years_ago(12))).await;
    let (teen, _) = person(&app, &inst, "teen@cohorts.test", Some(&born_years_ago(13))).await;
    let (adult, _) = person(&app, &inst, "adult@cohorts.test", Some(&born_years_ago(30))).await;
    let made = app
        .post(
            "/v1/courses",
            admin,
            json!({"code": "AGE-18", "title": "Over 18", "status": "published",
                   "minimum_age": 18}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let course = made.body["id"].as_str().unwrap().to_string();
    let key = app
        .post(
            "/v1/api-keys",
            admin,
            json!({"name": "IdP SCIM", "scopes": ["scim:provision"]}),
        )
        .await;
    assert_eq!(key.status, StatusCode::CREATED, "{}", key.body);
    let idp = key.body["token"].as_str().unwrap().to_string();
    let group = scim(
        &app,
        Method::POST,
        "/Groups",
        &idp,
        json!({"displayName": "cohort", "members": [{"value": kid}, {"value": adult}]}),
    )
    .await;
    assert_eq!(group.status, StatusCode::CREATED, "{}", group.body);
    let group_id = group.body["id"].as_str().unwrap().to_string();

    // Mapping the group enrolls the adult and skips the minor, on record.
    let mapped = app
        .call(
            Method::PUT,
            &format!("/v1/courses/{course}/groups/{group_id}"),
            Some(admin),
            None,
        )
        .await;
    assert!(mapped.status.is_success(), "{}", mapped.body);
    assert_eq!(
        enrolled(&app, admin, &course).await,
        BTreeSet::from([adult.clone()])
    );
    let refused = refusals(&app, admin).await;
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].0, "learner_under_age");
    assert!(refused[0].1.contains(&kid), "{refused:?}");

    // A minor the IdP adds later is skipped too; the IdP's push itself succeeds.
    let patched = scim(
        &app,
        Method::PATCH,
        &format!("/Groups/{group_id}"),
        &idp,
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
               "Operations": [{"op": "add", "path": "members", "value": [{"value": teen}]}]}),
    )
    .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    assert_eq!(
        enrolled(&app, admin, &course).await,
        BTreeSet::from([adult.clone()])
    );
    let refused = refusals(&app, admin).await;
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert!(
        refused
            .iter()
            .any(|(code, e)| code == "learner_under_age" && e.contains(&teen)),
        "{refused:?}"
    );
}
