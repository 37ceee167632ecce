//! A course's structure through the public API: the outline in order, atomic reorders that
//! keep positions dense, If-Match on updates, lesson activity ids unique in the institution,
//! the completion rule and its validation, another institution's ids not found, and bad
//! input that changes nothing.

// Test code: a failed unwrap is a failed test with its reason, which is what we want.

use crate::both_backends;
use crate::support::{Backend, Reply, TestApp, spawn};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

both_backends!(
    the_outline_keeps_its_order_and_reorders_are_dense_and_atomic,
    updates_need_if_match_and_a_current_revision,
    promise_d1_another_institutions_structure_and_quizzes_are_not_found,
    a_lesson_activity_id_is_unique_in_the_institution,
    the_completion_rule_names_only_the_courses_own_quizzes,
    bad_structure_input_changes_nothing,
    concurrent_additions_take_distinct_places
);

pub(crate) async fn course(app: &TestApp, token: &str, code: &str) -> String {
    let made = app
        .post(
            "/v1/courses",
            token,
            json!({"code": code, "title": format!("Course {code}")}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    made.body["id"].as_str().unwrap().to_string()
}

async fn module(app: &TestApp, token: &str, course: &str, title: &str) -> String {
    let made = app
        .post(
            &format!("/v1/courses/{course}/modules"),
            token,
            json!({"title": title}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    assert_eq!(
        made.header("location").unwrap(),
        format!("/v1/modules/{}", made.body["id"].as_str().unwrap())
    );
    made.body["id"].as_str().unwrap().to_string()
}

async fn add_lesson(app: &TestApp, token: &str, module: &str, body: Value) -> Reply {
    app.post(&format!("/v1/modules/{module}/lessons"), token, body)
        .await
}

async fn lesson(app: &TestApp, token: &str, module: &str, title: &str) -> String {
    let made = add_lesson(app, token, module, json!({"title": title})).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    made.body["id"].as_str().unwrap().to_string()
}

async fn put(app: &TestApp, path: &str, token: &str, body: Value) -> Reply {
    app.call(Method::PUT, path, Some(token), Some(body)).await
}

/// `(module title, [lesson titles])` in outline order, checking positions are 0, 1, 2, …
async fn shape(app: &TestApp, token: &str, course: &str) -> Vec<(String, Vec<String>)> {
    let outline = app
        .get(&format!("/v1/courses/{course}/outline"), token)
        .await;
    assert_eq!(outline.status, StatusCode::OK, "{}", outline.body);
    outline.body["modules"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, m)| {
            assert_eq!(m["position"], i, "dense module positions: {}", outline.body);
            let lessons = m["lessons"]
                .as_array()
                .unwrap()
                .iter()
                .enumerate()
                .map(|(j, l)| {
                    assert_eq!(l["position"], j, "dense lesson positions: {}", outline.body);
                    l["title"].as_str().unwrap().to_string()
                })
                .collect();
            (m["title"].as_str().unwrap().to_string(), lessons)
        })
        .collect()
}

fn owned(items: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
    items
        .iter()
        .map(|(m, ls)| (m.to_string(), ls.iter().map(|l| l.to_string()).collect()))
        .collect()
}

async fn the_outline_keeps_its_order_and_reorders_are_dense_and_atomic(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let token = north.admin_token.as_str();
    let cs = course(&app, token, "CS-101").await;
    let a = module(&app, token, &cs, "A").await;
    let b = module(&app, token, &cs, "B").await;
    let c = module(&app, token, &cs, "C").await;
    let a1 = lesson(&app, token, &a, "a1").await;
    let a2 = lesson(&app, token, &a, "a2").await;
    let a3 = lesson(&app, token, &a, "a3").await;
    lesson(&app, token, &c, "c1").await;
    assert_eq!(
        shape(&app, token, &cs).await,
        owned(&[("A", &["a1", "a2", "a3"]), ("B", &[]), ("C", &["c1"])])
    );

    let reordered = put(
        &app,
        &format!("/v1/courses/{cs}/module-order"),
        token,
        json!({"module_ids": [c, a, b]}),
    )
    .await;
    assert_eq!(reordered.status, StatusCode::OK, "{}", reordered.body);
    assert_eq!(reordered.body["modules"][0]["id"], c.as_str());
    let lessons = put(
        &app,
        &format!("/v1/modules/{a}/lesson-order"),
        token,
        json!({"lesson_ids": [a3, a1, a2]}),
    )
    .await;
    assert_eq!(lessons.status, StatusCode::OK, "{}", lessons.body);
    assert_eq!(lessons.body["items"][0]["id"], a3.as_str());
    let expected = owned(&[("C", &["c1"]), ("A", &["a3", "a1", "a2"]), ("B", &[])]);
    assert_eq!(shape(&app, token, &cs).await, expected);

    // An order that is not exactly the course's modules is refused whole: nothing moves.
    let stranger = module(&app, token, &course(&app, token, "OTHER").await, "X").await;
    for (body, field) in [
        (json!({"module_ids": [a, b]}), "module_ids"),
        (json!({"module_ids": [a, a, b]}), "module_ids[1]"),
        (json!({"module_ids": [a, b, stranger]}), "module_ids[2]"),
        (json!({"module_ids": ["nope", a, b]}), "module_ids[0]"),
    ] {
        let refused = put(&app, &format!("/v1/courses/{cs}/module-order"), token, body).await;
        refused.assert_problem(422, "validation_failed");
        assert_eq!(refused.error_fields(), [field]);
    }
    let refused = put(
        &app,
        &format!("/v1/modules/{a}/lesson-order"),
        token,
        json!({"lesson_ids": [a1, a2]}),
    )
    .await;
    refused.assert_problem(422, "validation_failed");
    assert_eq!(refused.error_fields(), ["lesson_ids"]);
    assert_eq!(shape(&app, token, &cs).await, expected);

    // Deleting closes the gap; a module goes with its lessons.
    let gone = app
        .call(
            Method::DELETE,
            &format!("/v1/lessons/{a1}"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    let gone = app
        .call(
            Method::DELETE,
            &format!("/v1/modules/{c}"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    assert_eq!(
        shape(&app, token, &cs).await,
        owned(&[("A", &["a3", "a2"]), ("B", &[])])
    );
    app.get(&format!("/v1/modules/{c}"), token)
        .await
        .assert_problem(404, "module_not_found");
    app.get(&format!("/v1/lessons/{a1}"), token)
        .await
        .assert_problem(404, "lesson_not_found");
    // New items go last, after the gap closed.
    lesson(&app, token, &a, "a4").await;
    module(&app, token, &cs, "D").await;
    assert_eq!(
        shape(&app, token, &cs).await,
        owned(&[("A", &["a3", "a2", "a4"]), ("B", &[]), ("D", &[])])
    );

    // Deleting the course deletes its structure.
    let deleted = app
        .call(
            Method::DELETE,
            &format!("/v1/courses/{cs}"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    app.get(&format!("/v1/modules/{a}"), token)
        .await
        .assert_problem(404, "module_not_found");
    app.get(&format!("/v1/lessons/{a3}"), token)
        .await
        .assert_problem(404, "lesson_not_found");
    app.get(&format!("/v1/courses/{cs}/outline"), token)
        .await
        .assert_problem(404, "course_not_found");
}

async fn updates_need_if_match_and_a_current_revision(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let token = north.admin_token.as_str();
    let cs = course(&app, token, "CS-101").await;
    let m = module(&app, token, &cs, "Week 1").await;
    let l = lesson(&app, token, &m, "Intro").await;
    for (path, change, field, value) in [
        (
            format!("/v1/modules/{m}"),
            json!({"title": "Week one"}),
            "title",
            json!("Week one"),
        ),
        (
            format!("/v1/lessons/{l}"),
            json!({"required": false}),
            "required",
            json!(false),
        ),
    ] {
        let read = app.get(&path, token).await;
        assert_eq!(read.header("etag").as_deref(), Some("\"1\""));
        let before = read.body.clone();
        app.call(Method::PATCH, &path, Some(token), Some(change.clone()))
            .await
            .assert_problem(428, "if_match_required");
        app.call_with(
            Method::PATCH,
            &path,
            Some(token),
            Some(change.clone()),
            &[("If-Match", "\"7\"")],
        )
        .await
        .assert_problem(412, "revision_mismatch");
        assert_eq!(app.get(&path, token).await.body, before, "nothing changed");
        let updated = app
            .call_with(
                Method::PATCH,
                &path,
                Some(token),
                Some(change),
                &[("If-Match", "\"1\"")],
            )
            .await;
        assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
        assert_eq!(updated.header("etag").as_deref(), Some("\"2\""));
        assert_eq!(updated.body[field], value);
        // A delete naming a stale revision is refused too.
        app.call_with(
            Method::DELETE,
            &path,
            Some(token),
            None,
            &[("If-Match", "\"1\"")],
        )
        .await
        .assert_problem(412, "revision_mismatch");
    }

    let path = format!("/v1/courses/{cs}/completion-rule");
    let rule = app.get(&path, token).await;
    assert_eq!(rule.status, StatusCode::OK, "{}", rule.body);
    assert_eq!(rule.header("etag").as_deref(), Some("\"0\""));
    assert_eq!(rule.body["required_lessons"], "all_required");
    let body = json!({"required_lessons": "all"});
    put(&app, &path, token, body.clone())
        .await
        .assert_problem(428, "if_match_required");
    app.call_with(
        Method::PUT,
        &path,
        Some(token),
        Some(body.clone()),
        &[("If-Match", "\"3\"")],
    )
    .await
    .assert_problem(412, "revision_mismatch");
    let set = app
        .call_with(
            Method::PUT,
            &path,
            Some(token),
            Some(body.clone()),
            &[("If-Match", "\"0\"")],
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    assert_eq!(set.header("etag").as_deref(), Some("\"1\""));
    assert_eq!(set.body["required_lessons"], "all");
    // The default's ETag no longer matches.
    app.call_with(
        Method::PUT,
        &path,
        Some(token),
        Some(json!({"required_lessons": "none"})),
        &[("If-Match", "\"0\"")],
    )
    .await
    .assert_problem(412, "revision_mismatch");
    assert_eq!(app.get(&path, token).await.body["required_lessons"], "all");
}

/// Every id of another institution answers 404, reads and writes alike, and nothing of it
/// changes.
async fn promise_d1_another_institutions_structure_and_quizzes_are_not_found(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let south = app.create_institution("south").await;
    let token = north.admin_token.as_str();
    let cs = course(&app, token, "CS-101").await;
    let m = module(&app, token, &cs, "Week 1").await;
    let l = lesson(&app, token, &m, "Intro").await;
    let quiz = crate::quizzes::create_quiz(&app, token, &cs).await;
    let outline = app.get(&format!("/v1/courses/{cs}/outline"), token).await;
    let theirs = south.admin_token.as_str();
    let refusals = [
        (
            Method::GET,
            format!("/v1/courses/{cs}/outline"),
            None,
            "course_not_found",
        ),
        (
            Method::POST,
            format!("/v1/courses/{cs}/modules"),
            Some(json!({"title": "Theirs"})),
            "course_not_found",
        ),
        (
            Method::PUT,
            format!("/v1/courses/{cs}/module-order"),
            Some(json!({"module_ids": [m]})),
            "course_not_found",
        ),
        (
            Method::GET,
            format!("/v1/courses/{cs}/completion-rule"),
            None,
            "course_not_found",
        ),
        (
            Method::PUT,
            format!("/v1/courses/{cs}/completion-rule"),
            Some(json!({"required_lessons": "none"})),
            "course_not_found",
        ),
        (
            Method::GET,
            format!("/v1/modules/{m}"),
            None,
            "module_not_found",
        ),
        (
            Method::PATCH,
            format!("/v1/modules/{m}"),
            Some(json!({"title": "Theirs"})),
            "module_not_found",
        ),
        (
            Method::DELETE,
            format!("/v1/modules/{m}"),
            None,
            "module_not_found",
        ),
        (
            Method::POST,
            format!("/v1/modules/{m}/lessons"),
            Some(json!({"title": "Theirs"})),
            "module_not_found",
        ),
        (
            Method::PUT,
            format!("/v1/modules/{m}/lesson-order"),
            Some(json!({"lesson_ids": [l]})),
            "module_not_found",
        ),
        (
            Method::GET,
            format!("/v1/lessons/{l}"),
            None,
            "lesson_not_found",
        ),
        (
            Method::PATCH,
            format!("/v1/lessons/{l}"),
            Some(json!({"title": "Theirs"})),
            "lesson_not_found",
        ),
        (
            Method::DELETE,
            format!("/v1/lessons/{l}"),
            None,
            "lesson_not_found",
        ),
        (
            Method::GET,
            format!("/v1/courses/{cs}/quizzes"),
            None,
            "course_not_found",
        ),
        (
            Method::POST,
            format!("/v1/courses/{cs}/quizzes"),
            Some(crate::quizzes::quiz_body()),
            "course_not_found",
        ),
        (
            Method::GET,
            format!("/v1/quizzes/{quiz}"),
            None,
            "quiz_not_found",
        ),
        (
            Method::GET,
            format!("/v1/quizzes/{quiz}/authoring"),
            None,
            "quiz_not_found",
        ),
        (
            Method::PATCH,
            format!("/v1/quizzes/{quiz}"),
            Some(json!({"title": "Theirs"})),
            "quiz_not_found",
        ),
        (
            Method::POST,
            format!("/v1/quizzes/{quiz}/preview-grade"),
            Some(json!({"answers": []})),
            "quiz_not_found",
        ),
        (
            Method::DELETE,
            format!("/v1/quizzes/{quiz}"),
            None,
            "quiz_not_found",
        ),
    ];
    for (method, path, body, code) in refusals {
        let reply = app
            .call_with(
                method.clone(),
                &path,
                Some(theirs),
                body,
                &[("If-Match", "*")],
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "{method} {path}: {}",
            reply.body
        );
        reply.assert_problem(404, code);
    }
    assert_eq!(
        app.get(&format!("/v1/courses/{cs}/outline"), token)
            .await
            .body,
        outline.body,
        "nothing of north's changed"
    );
    assert_eq!(
        app.get(&format!("/v1/quizzes/{quiz}"), token).await.status,
        StatusCode::OK
    );
}

async fn a_lesson_activity_id_is_unique_in_the_institution(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let south = app.create_institution("south").await;
    let token = north.admin_token.as_str();
    let iri = "https://courses.example.edu/cs-101/variables";
    let cs = course(&app, token, "CS-101").await;
    let week1 = module(&app, token, &cs, "Week 1").await;
    let first = add_lesson(
        &app,
        token,
        &week1,
        json!({"title": "Variables", "activity_id": iri}),
    )
    .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert_eq!(first.body["activity_id"], iri);
    assert_eq!(first.body["required"], true);
    let first_id = first.body["id"].as_str().unwrap().to_string();

    // In the same module, another module, another course: taken.
    let other_course = course(&app, token, "CS-102").await;
    let elsewhere = module(&app, token, &other_course, "Week 1").await;
    for target in [&week1, &elsewhere] {
        add_lesson(
            &app,
            token,
            target,
            json!({"title": "Again", "activity_id": iri}),
        )
        .await
        .assert_problem(409, "activity_id_taken");
    }
    let second = lesson(&app, token, &elsewhere, "Second").await;
    app.call_with(
        Method::PATCH,
        &format!("/v1/lessons/{second}"),
        Some(token),
        Some(json!({"activity_id": iri})),
        &[("If-Match", "\"1\"")],
    )
    .await
    .assert_problem(409, "activity_id_taken");
    assert_eq!(
        app.get(&format!("/v1/lessons/{second}"), token).await.body["activity_id"],
        Value::Null
    );
    // Keeping its own id is no clash.
    let same = app
        .call_with(
            Method::PATCH,
            &format!("/v1/lessons/{first_id}"),
            Some(token),
            Some(json!({"activity_id": iri, "title": "Variables!"})),
            &[("If-Match", "\"1\"")],
        )
        .await;
    assert_eq!(same.status, StatusCode::OK, "{}", same.body);

    // Another institution has its own activity ids.
    let theirs = course(&app, &south.admin_token, "CS-101").await;
    let their_module = module(&app, &south.admin_token, &theirs, "W").await;
    let there = add_lesson(
        &app,
        &south.admin_token,
        &their_module,
        json!({"title": "Variables", "activity_id": iri}),
    )
    .await;
    assert_eq!(there.status, StatusCode::CREATED, "{}", there.body);

    // Freed when the lesson lets go of it, and when its course is deleted.
    let released = app
        .call_with(
            Method::PATCH,
            &format!("/v1/lessons/{first_id}"),
            Some(token),
            Some(json!({"activity_id": null})),
            &[("If-Match", "\"2\"")],
        )
        .await;
    assert_eq!(released.status, StatusCode::OK, "{}", released.body);
    assert_eq!(released.body["activity_id"], Value::Null);
    let taken = add_lesson(
        &app,
        token,
        &elsewhere,
        json!({"title": "Now", "activity_id": iri}),
    )
    .await;
    assert_eq!(taken.status, StatusCode::CREATED, "{}", taken.body);
    let deleted = app
        .call(
            Method::DELETE,
            &format!("/v1/courses/{other_course}"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let again = add_lesson(
        &app,
        token,
        &week1,
        json!({"title": "Back", "activity_id": iri}),
    )
    .await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.body);
}

async fn the_completion_rule_names_only_the_courses_own_quizzes(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let token = north.admin_token.as_str();
    let cs = course(&app, token, "CS-101").await;
    let other = course(&app, token, "CS-102").await;
    let own = crate::quizzes::create_quiz(&app, token, &cs).await;
    let foreign = crate::quizzes::create_quiz(&app, token, &other).await;
    let path = format!("/v1/courses/{cs}/completion-rule");
    let set = |body: Value, tag: &'static str| {
        let app = &app;
        let path = path.clone();
        async move {
            app.call_with(
                Method::PUT,
                &path,
                Some(token),
                Some(body),
                &[("If-Match", tag)],
            )
            .await
        }
    };
    for (quizzes, field) in [
        (json!([foreign]), "passing_quizzes[0]"),
        (
            json!([own, "01890a5d-ac96-774b-bcce-b302099a8057"]),
            "passing_quizzes[1]",
        ),
        (json!([own, own]), "passing_quizzes[1]"),
        (json!(["not-an-id"]), "passing_quizzes[0]"),
    ] {
        let refused = set(
            json!({"required_lessons": "all_required", "passing_quizzes": quizzes}),
            "*",
        )
        .await;
        refused.assert_problem(422, "validation_failed");
        assert_eq!(refused.error_fields(), [field]);
    }
    let unknown = set(json!({"required_lessons": "some"}), "*").await;
    unknown.assert_problem(400, "bad_request");
    assert_eq!(
        app.get(&path, token).await.body["revision"],
        0,
        "nothing was set"
    );

    let ok = set(
        json!({"required_lessons": "none", "passing_quizzes": [own]}),
        "\"0\"",
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(ok.body["passing_quizzes"], json!([own]));
    assert_eq!(ok.body["required_lessons"], "none");
    let read = app.get(&path, token).await;
    assert_eq!(read.body, ok.body);

    // A quiz the rule requires cannot be deleted; once the rule lets go, it can.
    let quiz_path = format!("/v1/quizzes/{own}");
    app.call(Method::DELETE, &quiz_path, Some(token), None)
        .await
        .assert_problem(409, "quiz_in_completion_rule");
    assert_eq!(app.get(&quiz_path, token).await.status, StatusCode::OK);
    let cleared = set(json!({"required_lessons": "all_required"}), "\"1\"").await;
    assert_eq!(cleared.status, StatusCode::OK, "{}", cleared.body);
    assert_eq!(cleared.body["passing_quizzes"], json!([]));
    let deleted = app
        .call(Method::DELETE, &quiz_path, Some(token), None)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    app.get(&quiz_path, token)
        .await
        .assert_problem(404, "quiz_not_found");
}

async fn bad_structure_input_changes_nothing(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let token = north.admin_token.as_str();
    let cs = course(&app, token, "CS-101").await;
    let m = module(&app, token, &cs, "Week 1").await;
    let before = app.get(&format!("/v1/courses/{cs}/outline"), token).await;

    let refused = app
        .post(
            &format!("/v1/courses/{cs}/modules"),
            token,
            json!({"title": " ", "description": "x".repeat(10_001)}),
        )
        .await;
    refused.assert_problem(422, "validation_failed");
    assert_eq!(refused.error_fields(), ["title", "description"]);
    for bad in [
        "lesson-1",
        "/relative/path",
        "https://example.edu/a b",
        "https://example.edu/%zz",
        "https://example.edu/<script>",
        "1http://example.edu",
    ] {
        let refused = add_lesson(&app, token, &m, json!({"title": "L", "activity_id": bad})).await;
        refused.assert_problem(422, "validation_failed");
        assert_eq!(refused.error_fields(), ["activity_id"], "{bad}");
    }
    let long = format!("https://example.edu/{}", "a".repeat(500));
    add_lesson(&app, token, &m, json!({"title": "L", "activity_id": long}))
        .await
        .assert_problem(422, "validation_failed");
    add_lesson(&app, token, &m, json!({"title": "L", "colour": "red"}))
        .await
        .assert_problem(400, "bad_request");
    add_lesson(&app, token, &m, json!({"title": "L", "required": "yes"}))
        .await
        .assert_problem(400, "bad_request");
    app.post(
        "/v1/courses/01890a5d-ac96-774b-bcce-b302099a8057/modules",
        token,
        json!({"title": "Nowhere"}),
    )
    .await
    .assert_problem(404, "course_not_found");
    app.post(
        "/v1/modules/01890a5d-ac96-774b-bcce-b302099a8057/lessons",
        token,
        json!({"title": "Nowhere"}),
    )
    .await
    .assert_problem(404, "module_not_found");
    app.get("/v1/courses/not-a-uuid/outline", token)
        .await
        .assert_problem(400, "bad_request");
    assert_eq!(
        app.get(&format!("/v1/courses/{cs}/outline"), token)
            .await
            .body,
        before.body,
        "no bad request left anything behind"
    );
}

/// Modules and lessons added at the same moment each get a place of their own: the parent's
/// row is locked while a place is chosen.
async fn concurrent_additions_take_distinct_places(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let token = north.admin_token.as_str();
    let cs = course(&app, token, "CS-101").await;
    let first = module(&app, token, &cs, "M0").await;
    let modules = (1..6).map(|i| {
        let app = &app;
        let cs = cs.clone();
        async move {
            app.post(
                &format!("/v1/courses/{cs}/modules"),
                token,
                json!({"title": format!("M{i}")}),
            )
            .await
        }
    });
    let lessons = (0..5).map(|i| {
        let app = &app;
        let first = first.clone();
        async move { add_lesson(app, token, &first, json!({"title": format!("L{i}")})).await }
    });
    let (modules, lessons) = tokio::join!(
        futures::future::join_all(modules),
        futures::future::join_all(lessons)
    );
    for reply in modules.iter().chain(lessons.iter()) {
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }
    // `shape` checks the places are 0, 1, 2, … in both lists.
    let outline = shape(&app, token, &cs).await;
    assert_eq!(outline.len(), 6);
    assert_eq!(outline[0].1.len(), 5);
}
