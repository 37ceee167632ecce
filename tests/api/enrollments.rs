//! Enrollments through the public API: a learner enrolls in published courses only; admins
//! and instructors enroll, invite and enroll in bulk; seat limits hold (also for two
//! enrollments racing for the last seat); states change only as allowed, each change in the
//! history; an instructor sees only the courses they teach; SCIM groups mapped to a course
//! enroll and withdraw their members; organisational units filter a course's learners; a
//! restricted person is enrolled nowhere anew; another institution's course is unknown.

use crate::both_backends;
use crate::privacy_requests::{person, signed_in};
use crate::support::scim;
use crate::support::{Backend, Institution, Reply, TestApp, spawn};
use hub_tenant::Principal;
use hub_tenant::personal_data::{DataSubject, sources};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

both_backends!(
    promise_u1_a_learner_enrolls_in_published_courses_only,
    admins_enroll_invite_and_enroll_in_bulk,
    promise_c3_seat_limits_hold_and_the_last_seat_goes_to_one,
    state_changes_follow_the_rules_and_are_kept_in_the_history,
    instructors_see_only_the_courses_they_teach,
    promise_u1_a_scim_group_mapped_to_a_course_enrolls_and_withdraws_its_members,
    promise_c3_organisational_units_filter_a_courses_learners,
    promise_c3_a_restricted_learner_is_enrolled_nowhere_anew,
);

async fn course(app: &TestApp, admin: &str, code: &str, extra: Value) -> String {
    let mut body = json!({"code": code, "title": format!("Course {code}"), "status": "published"});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let created = app.post("/v1/courses", admin, body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    created.body["id"].as_str().unwrap().to_string()
}

async fn enroll(app: &TestApp, token: &str, course: &str, body: Value) -> Reply {
    app.post(&format!("/v1/courses/{course}/enrollments"), token, body)
        .await
}

async fn patch(app: &TestApp, token: &str, id: &str, revision: i64, body: Value) -> Reply {
    app.call_with(
        Method::PATCH,
        &format!("/v1/enrollments/{id}"),
        Some(token),
        Some(body),
        &[("If-Match", &format!("\"{revision}\""))],
    )
    .await
}

/// The states of a course's enrollments, by person id.
async fn states(app: &TestApp, token: &str, course: &str, query: &str) -> Vec<(String, String)> {
    let listed = app
        .get(&format!("/v1/courses/{course}/enrollments{query}"), token)
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    let mut found: Vec<(String, String)> = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["person_id"].as_str().unwrap().to_string(),
                e["state"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    found.sort();
    found
}

fn sorted(mut pairs: Vec<(String, String)>) -> Vec<(String, String)> {
    pairs.sort();
    pairs
}

async fn promise_u1_a_learner_enrolls_in_published_courses_only(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let published = course(&app, admin, "PUB-1", json!({})).await;
    let draft = course(&app, admin, "DRAFT-1", json!({"status": "draft"})).await;
    let archived = course(&app, admin, "OLD-1", json!({"status": "archived"})).await;
    let (ada, token) = signed_in(&app, &north, "ada", &["learner"]).await;

    let enrolled = app
        .post(
            "/v1/me/enrollments",
            &token,
            json!({"course_id": published}),
        )
        .await;
    assert_eq!(enrolled.status, StatusCode::CREATED, "{}", enrolled.body);
    assert_eq!(enrolled.body["state"], "active");
    assert_eq!(enrolled.body["source"], "self");
    assert_eq!(enrolled.body["person_id"], ada.as_str());
    let id = enrolled.body["id"].as_str().unwrap().to_string();
    assert_eq!(
        enrolled.header("location").unwrap(),
        format!("/v1/enrollments/{id}")
    );
    // Again: the same enrollment, nothing new.
    let again = app
        .post(
            "/v1/me/enrollments",
            &token,
            json!({"course_id": published}),
        )
        .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.body["id"], id.as_str());

    // A draft, an archived, an unknown and another institution's course look alike.
    let south = app.create_institution("south").await;
    let foreign = course(&app, &south.admin_token, "PUB-1", json!({})).await;
    for other in [
        &draft,
        &archived,
        &foreign,
        &uuid::Uuid::now_v7().to_string(),
    ] {
        app.post("/v1/me/enrollments", &token, json!({"course_id": other}))
            .await
            .assert_problem(404, "course_not_found");
    }
    let mine = app.get("/v1/me/enrollments", &token).await;
    assert_eq!(mine.status, StatusCode::OK, "{}", mine.body);
    let items = mine.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", mine.body);
    assert_eq!(items[0]["course_id"], published.as_str());

    // The learner withdraws, and comes back.
    let withdrawn = app
        .post(
            &format!("/v1/me/enrollments/{id}/withdraw"),
            &token,
            json!({}),
        )
        .await;
    assert_eq!(withdrawn.status, StatusCode::OK, "{}", withdrawn.body);
    assert_eq!(withdrawn.body["state"], "withdrawn");
    app.post(
        &format!("/v1/me/enrollments/{id}/withdraw"),
        &token,
        json!({}),
    )
    .await
    .assert_problem(409, "invalid_transition");
    let back = app
        .post(
            "/v1/me/enrollments",
            &token,
            json!({"course_id": published}),
        )
        .await;
    assert_eq!(back.status, StatusCode::CREATED, "{}", back.body);
    assert_eq!(back.body["id"], id.as_str());
    assert_eq!(back.body["state"], "active");
    let history = app
        .get(&format!("/v1/enrollments/{id}/history"), admin)
        .await;
    let moves: Vec<(Value, Value)> = history.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["from"].clone(), e["to"].clone()))
        .collect();
    assert_eq!(
        moves,
        [
            (Value::Null, json!("active")),
            (json!("active"), json!("withdrawn")),
            (json!("withdrawn"), json!("active"))
        ]
    );

    // Someone else's enrollment cannot be withdrawn by the learner; a learner cannot list
    // a course's learners; an API key has no "own" enrollments.
    let (_, grace) = signed_in(&app, &north, "grace", &["learner"]).await;
    app.post(
        &format!("/v1/me/enrollments/{id}/withdraw"),
        &grace,
        json!({}),
    )
    .await
    .assert_problem(404, "enrollment_not_found");
    app.get(&format!("/v1/courses/{published}/enrollments"), &token)
        .await
        .assert_problem(403, "insufficient_scope");
    app.get("/v1/me/enrollments", admin)
        .await
        .assert_problem(403, "person_credential_required");
    // A course with enrollments is archived, not deleted.
    app.call(
        Method::DELETE,
        &format!("/v1/courses/{published}"),
        Some(admin),
        None,
    )
    .await
    .assert_problem(409, "course_has_enrollments");
    let deleted = app
        .call(
            Method::DELETE,
            &format!("/v1/courses/{draft}"),
            Some(admin),
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
}

async fn admins_enroll_invite_and_enroll_in_bulk(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let cs = course(&app, admin, "CS-1", json!({"status": "draft"})).await;
    let (a, b, c, d) = (
        person(&app, &north, "alan").await,
        person(&app, &north, "barbara").await,
        person(&app, &north, "claude").await,
        person(&app, &north, "donald").await,
    );

    let enrolled = enroll(
        &app,
        admin,
        &cs,
        json!({"person_id": a, "reason": "Cohort 7"}),
    )
    .await;
    assert_eq!(enrolled.status, StatusCode::CREATED, "{}", enrolled.body);
    assert_eq!(enrolled.body["state"], "active");
    assert_eq!(enrolled.body["source"], "admin");
    let invited = enroll(
        &app,
        admin,
        &cs,
        json!({"person_id": b, "state": "invited"}),
    )
    .await;
    assert_eq!(invited.status, StatusCode::CREATED, "{}", invited.body);
    assert_eq!(invited.body["state"], "invited");
    enroll(&app, admin, &cs, json!({"person_id": a}))
        .await
        .assert_problem(409, "already_enrolled");
    let nobody = uuid::Uuid::now_v7().to_string();
    enroll(&app, admin, &cs, json!({"person_id": nobody}))
        .await
        .assert_problem(404, "person_not_found");
    let bad = enroll(&app, admin, &cs, json!({"person_id": c, "reason": " "})).await;
    bad.assert_problem(422, "validation_failed");
    assert_eq!(bad.error_fields(), ["reason"]);
    enroll(
        &app,
        admin,
        &cs,
        json!({"person_id": c, "state": "completed"}),
    )
    .await
    .assert_problem(400, "bad_request");
    // The reason is kept, opened from its seal, in the history.
    let id = enrolled.body["id"].as_str().unwrap();
    let history = app
        .get(&format!("/v1/enrollments/{id}/history"), admin)
        .await;
    assert_eq!(history.body["items"][0]["reason"], "Cohort 7");
    assert!(
        history.body["items"][0]["actor"]
            .as_str()
            .unwrap()
            .starts_with("api-key:"),
        "{}",
        history.body
    );

    // Bulk: each person's own result, in order.
    let bulk = app
        .post(
            &format!("/v1/courses/{cs}/enrollments/bulk"),
            admin,
            json!({"person_ids": [c, d, a, nobody, c, b]}),
        )
        .await;
    assert_eq!(bulk.status, StatusCode::OK, "{}", bulk.body);
    let results: Vec<(String, Value)> = bulk.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["result"].as_str().unwrap().to_string(), i["code"].clone()))
        .collect();
    assert_eq!(
        results,
        [
            ("created".to_string(), Value::Null),
            ("created".to_string(), Value::Null),
            ("unchanged".to_string(), Value::Null),
            ("refused".to_string(), json!("person_not_found")),
            ("refused".to_string(), json!("duplicate")),
            // Barbara's invitation is taken up.
            ("changed".to_string(), Value::Null),
        ]
    );
    assert_eq!(bulk.body["items"][0]["enrollment"]["source"], "bulk");
    assert_eq!(
        states(&app, admin, &cs, "").await,
        sorted(vec![
            (a.clone(), "active".into()),
            (b.clone(), "active".into()),
            (c.clone(), "active".into()),
            (d.clone(), "active".into()),
        ])
    );
    let too_many: Vec<String> = (0..201).map(|_| uuid::Uuid::now_v7().to_string()).collect();
    let refused = app
        .post(
            &format!("/v1/courses/{cs}/enrollments/bulk"),
            admin,
            json!({"person_ids": too_many}),
        )
        .await;
    refused.assert_problem(422, "validation_failed");
    assert_eq!(refused.error_fields(), ["person_ids"]);
    // Filters and pages.
    assert_eq!(states(&app, admin, &cs, "?state=invited").await, vec![]);
    let page = app
        .get(&format!("/v1/courses/{cs}/enrollments?limit=3"), admin)
        .await;
    assert_eq!(page.body["items"].as_array().unwrap().len(), 3);
    let cursor = page.body["next_cursor"].as_str().unwrap();
    let rest = app
        .get(
            &format!("/v1/courses/{cs}/enrollments?limit=3&cursor={cursor}"),
            admin,
        )
        .await;
    assert_eq!(rest.body["items"].as_array().unwrap().len(), 1);
    assert!(rest.body["next_cursor"].is_null());
    // Another institution's admin knows nothing of the course or its enrollments.
    let south = app.create_institution("south").await;
    app.get(&format!("/v1/courses/{cs}/enrollments"), &south.admin_token)
        .await
        .assert_problem(404, "course_not_found");
    app.get(&format!("/v1/enrollments/{id}"), &south.admin_token)
        .await
        .assert_problem(404, "enrollment_not_found");
    enroll(&app, &south.admin_token, &cs, json!({"person_id": a}))
        .await
        .assert_problem(404, "course_not_found");
}

async fn promise_c3_seat_limits_hold_and_the_last_seat_goes_to_one(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let small = course(&app, admin, "SMALL-1", json!({"seat_limit": 2})).await;
    let mut people = Vec::new();
    for name in ["ann", "ben", "cat", "dan", "eve", "fay"] {
        people.push(person(&app, &north, name).await);
    }
    let first = enroll(&app, admin, &small, json!({"person_id": people[0]})).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    // An invitation holds a seat too.
    let second = enroll(
        &app,
        admin,
        &small,
        json!({"person_id": people[1], "state": "invited"}),
    )
    .await;
    assert_eq!(second.status, StatusCode::CREATED, "{}", second.body);
    let full = enroll(&app, admin, &small, json!({"person_id": people[2]})).await;
    full.assert_problem(409, "seats_exhausted");
    let bulk = app
        .post(
            &format!("/v1/courses/{small}/enrollments/bulk"),
            admin,
            json!({"person_ids": [people[2], people[3]]}),
        )
        .await;
    bulk.assert_problem(409, "seats_exhausted");
    let (_, learner) = signed_in(&app, &north, "gus", &["learner"]).await;
    app.post("/v1/me/enrollments", &learner, json!({"course_id": small}))
        .await
        .assert_problem(409, "seats_exhausted");
    assert_eq!(states(&app, admin, &small, "").await.len(), 2);

    // A withdrawal frees a seat; withdrawn learners do not count.
    let invited_id = second.body["id"].as_str().unwrap();
    let withdrawn = patch(&app, admin, invited_id, 1, json!({"state": "withdrawn"})).await;
    assert_eq!(withdrawn.status, StatusCode::OK, "{}", withdrawn.body);
    let third = enroll(&app, admin, &small, json!({"person_id": people[2]})).await;
    assert_eq!(third.status, StatusCode::CREATED, "{}", third.body);
    // Coming back into a full course is refused too.
    patch(&app, admin, invited_id, 2, json!({"state": "active"}))
        .await
        .assert_problem(409, "seats_exhausted");

    // One seat left, two enrollments at once: exactly one gets it.
    let read = app.get(&format!("/v1/courses/{small}"), admin).await;
    let grown = app
        .call_with(
            Method::PATCH,
            &format!("/v1/courses/{small}"),
            Some(admin),
            Some(json!({"seat_limit": 3})),
            &[("If-Match", &read.header("etag").unwrap())],
        )
        .await;
    assert_eq!(grown.status, StatusCode::OK, "{}", grown.body);
    assert_eq!(grown.body["seat_limit"], 3);
    let (one, other) = tokio::join!(
        enroll(&app, admin, &small, json!({"person_id": people[4]})),
        enroll(&app, admin, &small, json!({"person_id": people[5]})),
    );
    let mut statuses = [one.status.as_u16(), other.status.as_u16()];
    statuses.sort();
    assert_eq!(statuses, [201, 409], "{} / {}", one.body, other.body);
    let loser = if one.status == StatusCode::CONFLICT {
        one
    } else {
        other
    };
    loser.assert_problem(409, "seats_exhausted");
    let held: Vec<_> = states(&app, admin, &small, "")
        .await
        .into_iter()
        .filter(|(_, s)| s == "active" || s == "invited")
        .collect();
    assert_eq!(held.len(), 3, "{held:?}");

    // The limit is validated and declared.
    let bad = app
        .post(
            "/v1/courses",
            admin,
            json!({"code": "BAD-1", "title": "Bad", "seat_limit": 0}),
        )
        .await;
    bad.assert_problem(422, "validation_failed");
    assert_eq!(bad.error_fields(), ["seat_limit"]);
}

async fn state_changes_follow_the_rules_and_are_kept_in_the_history(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let cs = course(&app, admin, "CS-2", json!({})).await;
    let ada = person(&app, &north, "ada").await;
    let invited = enroll(
        &app,
        admin,
        &cs,
        json!({"person_id": ada, "state": "invited"}),
    )
    .await;
    let id = invited.body["id"].as_str().unwrap().to_string();
    assert_eq!(invited.header("etag").unwrap(), "\"1\"");

    let path = format!("/v1/enrollments/{id}");
    app.call(
        Method::PATCH,
        &path,
        Some(admin),
        Some(json!({"state": "active"})),
    )
    .await
    .assert_problem(428, "if_match_required");
    patch(&app, admin, &id, 7, json!({"state": "active"}))
        .await
        .assert_problem(412, "revision_mismatch");
    // An invitation cannot be completed.
    patch(&app, admin, &id, 1, json!({"state": "completed"}))
        .await
        .assert_problem(409, "invalid_transition");
    let active = patch(&app, admin, &id, 1, json!({"state": "active"})).await;
    assert_eq!(active.status, StatusCode::OK, "{}", active.body);
    assert_eq!(active.header("etag").unwrap(), "\"2\"");
    let done = patch(
        &app,
        admin,
        &id,
        2,
        json!({"state": "completed", "reason": "Passed the final assessment"}),
    )
    .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(done.body["state"], "completed");
    // A completion is final.
    for next in ["active", "withdrawn", "invited"] {
        patch(&app, admin, &id, 3, json!({"state": next}))
            .await
            .assert_problem(409, "invalid_transition");
    }
    let read = app.get(&path, admin).await;
    assert_eq!(read.body["state"], "completed");
    assert_eq!(read.body["revision"], 3);
    let history = app.get(&format!("{path}/history"), admin).await;
    assert_eq!(history.status, StatusCode::OK, "{}", history.body);
    let moves: Vec<(Value, Value, Value)> = history.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["from"].clone(), e["to"].clone(), e["reason"].clone()))
        .collect();
    assert_eq!(
        moves,
        [
            (Value::Null, json!("invited"), Value::Null),
            (json!("invited"), json!("active"), Value::Null),
            (
                json!("active"),
                json!("completed"),
                json!("Passed the final assessment")
            ),
        ]
    );
    // Each change is in the audit trail.
    let audit = app.get("/v1/audit/events?limit=500", admin).await;
    assert_eq!(audit.status, StatusCode::OK, "{}", audit.body);
    let actions: Vec<&str> = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .filter(|a| a.starts_with("enrollment."))
        .collect();
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == "enrollment.state_changed")
            .count(),
        2,
        "{actions:?}"
    );
    assert!(actions.contains(&"enrollment.created"), "{actions:?}");
}

async fn instructors_see_only_the_courses_they_teach(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let taught = course(&app, admin, "MINE-1", json!({})).await;
    let other = course(&app, admin, "THEIRS-1", json!({})).await;
    let (teacher, token) = signed_in(&app, &north, "tina", &["instructor"]).await;
    let learner = person(&app, &north, "leo").await;
    let elsewhere = enroll(&app, admin, &other, json!({"person_id": learner})).await;
    let elsewhere_id = elsewhere.body["id"].as_str().unwrap().to_string();

    let assign = |course: String, who: String| {
        let app = &app;
        async move {
            app.call(
                Method::PUT,
                &format!("/v1/courses/{course}/instructors/{who}"),
                Some(admin),
                None,
            )
            .await
        }
    };
    let assigned = assign(taught.clone(), teacher.clone()).await;
    assert_eq!(assigned.status, StatusCode::NO_CONTENT, "{}", assigned.body);
    assign(taught.clone(), uuid::Uuid::now_v7().to_string())
        .await
        .assert_problem(404, "person_not_found");
    // Only admins choose instructors.
    app.call(
        Method::PUT,
        &format!("/v1/courses/{other}/instructors/{teacher}"),
        Some(&token),
        None,
    )
    .await
    .assert_problem(403, "insufficient_scope");

    // On the course they teach: enroll, list, change, read history.
    let mine = enroll(&app, &token, &taught, json!({"person_id": learner})).await;
    assert_eq!(mine.status, StatusCode::CREATED, "{}", mine.body);
    let mine_id = mine.body["id"].as_str().unwrap().to_string();
    assert_eq!(
        states(&app, &token, &taught, "").await,
        vec![(learner.clone(), "active".to_string())]
    );
    let instructors = app
        .get(&format!("/v1/courses/{taught}/instructors"), &token)
        .await;
    assert_eq!(instructors.body["person_ids"], json!([teacher]));
    let moved = patch(&app, &token, &mine_id, 1, json!({"state": "withdrawn"})).await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    let history = app
        .get(&format!("/v1/enrollments/{mine_id}/history"), &token)
        .await;
    assert_eq!(
        history.body["items"][1]["actor"],
        format!("person:{teacher}")
    );

    // Another course is unknown to them: 404, never 403.
    app.get(&format!("/v1/courses/{other}/enrollments"), &token)
        .await
        .assert_problem(404, "course_not_found");
    enroll(&app, &token, &other, json!({"person_id": teacher}))
        .await
        .assert_problem(404, "course_not_found");
    app.get(&format!("/v1/enrollments/{elsewhere_id}"), &token)
        .await
        .assert_problem(404, "enrollment_not_found");
    app.get(&format!("/v1/enrollments/{elsewhere_id}/history"), &token)
        .await
        .assert_problem(404, "enrollment_not_found");
    patch(
        &app,
        &token,
        &elsewhere_id,
        1,
        json!({"state": "withdrawn"}),
    )
    .await
    .assert_problem(404, "enrollment_not_found");
    let untouched = app
        .get(&format!("/v1/enrollments/{elsewhere_id}"), admin)
        .await;
    assert_eq!(untouched.body["state"], "active");
    // An auditor reads every course, and changes none.
    let (_, auditor) = signed_in(&app, &north, "audrey", &["auditor"]).await;
    assert_eq!(states(&app, &auditor, &other, "").await.len(), 1);
    enroll(&app, &auditor, &other, json!({"person_id": teacher}))
        .await
        .assert_problem(403, "insufficient_scope");
    // Removed as instructor, the course is unknown to them again.
    let removed = app
        .call(
            Method::DELETE,
            &format!("/v1/courses/{taught}/instructors/{teacher}"),
            Some(admin),
            None,
        )
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT, "{}", removed.body);
    app.get(&format!("/v1/courses/{taught}/enrollments"), &token)
        .await
        .assert_problem(404, "course_not_found");
}

async fn scim_user(app: &TestApp, token: &str, name: &str) -> String {
    let created = scim(
        app,
        Method::POST,
        "/Users",
        token,
        json!({"userName": format!("{name}@north.test"), "displayName": name}),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    created.body["id"].as_str().unwrap().to_string()
}

async fn members(app: &TestApp, token: &str, group: &str, op: &str, who: &[&str]) {
    let value: Vec<Value> = who.iter().map(|id| json!({"value": id})).collect();
    let patched = scim(
        app,
        Method::PATCH,
        &format!("/Groups/{group}"),
        token,
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
               "Operations": [{"op": op, "path": "members", "value": value}]}),
    )
    .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
}

async fn promise_u1_a_scim_group_mapped_to_a_course_enrolls_and_withdraws_its_members(
    backend: Backend,
) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let key = app
        .post(
            "/v1/api-keys",
            admin,
            json!({"name": "IdP SCIM", "scopes": ["scim:provision"]}),
        )
        .await;
    let idp = key.body["token"].as_str().unwrap().to_string();
    let cs = course(&app, admin, "GRP-1", json!({})).await;
    let (u1, u2, u3) = (
        scim_user(&app, &idp, "uma").await,
        scim_user(&app, &idp, "ugo").await,
        scim_user(&app, &idp, "una").await,
    );
    // u3 was enrolled by the admin before; the group must not withdraw that enrollment.
    let by_admin = enroll(&app, admin, &cs, json!({"person_id": u3})).await;
    assert_eq!(by_admin.status, StatusCode::CREATED, "{}", by_admin.body);
    let group = scim(
        &app,
        Method::POST,
        "/Groups",
        &idp,
        json!({"displayName": "cohort-a", "members": [{"value": u1}]}),
    )
    .await;
    assert_eq!(group.status, StatusCode::CREATED, "{}", group.body);
    let group_id = group.body["id"].as_str().unwrap().to_string();
    // Only admins map groups.
    let (_, teacher) = signed_in(&app, &north, "tom", &["instructor"]).await;
    app.call(
        Method::PUT,
        &format!("/v1/courses/{cs}/groups/{group_id}"),
        Some(&teacher),
        None,
    )
    .await
    .assert_problem(403, "insufficient_scope");
    app.call(
        Method::PUT,
        &format!("/v1/courses/{cs}/groups/{}", uuid::Uuid::now_v7()),
        Some(admin),
        None,
    )
    .await
    .assert_problem(404, "group_not_found");
    let mapped = app
        .call(
            Method::PUT,
            &format!("/v1/courses/{cs}/groups/{group_id}"),
            Some(admin),
            None,
        )
        .await;
    assert_eq!(mapped.status, StatusCode::NO_CONTENT, "{}", mapped.body);
    // The member the group already had is enrolled by the mapping.
    assert_eq!(
        states(&app, admin, &cs, "").await,
        sorted(vec![
            (u1.clone(), "active".into()),
            (u3.clone(), "active".into()),
        ])
    );

    // The IdP adds two members: both enrolled, from the group.
    members(&app, &idp, &group_id, "add", &[&u2, &u3]).await;
    let listed = app
        .get(&format!("/v1/courses/{cs}/enrollments"), admin)
        .await;
    let items = listed.body["items"].as_array().unwrap();
    let of = |who: &str| {
        items
            .iter()
            .find(|e| e["person_id"] == who)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(of(&u2)["state"], "active", "{}", listed.body);
    assert_eq!(of(&u2)["source"], "scim_group");
    assert_eq!(of(&u2)["source_group_id"], group_id.as_str());
    // Already enrolled by the admin: left as it was.
    assert_eq!(of(&u3)["source"], "admin");
    assert_eq!(of(&u1)["source"], "scim_group");

    // The IdP removes u2 and u3: u2 is withdrawn, u3's admin enrollment stays.
    members(&app, &idp, &group_id, "remove", &[&u2, &u3]).await;
    assert_eq!(
        states(&app, admin, &cs, "").await,
        sorted(vec![
            (u1.clone(), "active".into()),
            (u2.clone(), "withdrawn".into()),
            (u3.clone(), "active".into()),
        ])
    );
    let u2_id = of(&u2)["id"].as_str().unwrap().to_string();
    let history = app
        .get(&format!("/v1/enrollments/{u2_id}/history"), admin)
        .await;
    assert_eq!(
        history.body["items"][1]["reason"],
        "removed from the SCIM group mapped to the course"
    );
    // Added again: enrolled again; the group deleted: its members withdrawn.
    members(&app, &idp, &group_id, "add", &[&u2]).await;
    let deleted = app
        .call(
            Method::DELETE,
            &format!("/v1/scim/v2/Groups/{group_id}"),
            Some(&idp),
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
    assert_eq!(
        states(&app, admin, &cs, "").await,
        sorted(vec![
            (u1.clone(), "withdrawn".into()),
            (u2.clone(), "withdrawn".into()),
            (u3.clone(), "active".into()),
        ])
    );
    let history = app
        .get(&format!("/v1/enrollments/{u2_id}/history"), admin)
        .await;
    let moves: Vec<&str> = history.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["to"].as_str().unwrap())
        .collect();
    assert_eq!(moves, ["active", "withdrawn", "active", "withdrawn"]);

    // Deprovisioned by the IdP, a person leaves their groups and the enrollments they made.
    let cohort_c = scim(
        &app,
        Method::POST,
        "/Groups",
        &idp,
        json!({"displayName": "cohort-c", "members": [{"value": u2}]}),
    )
    .await;
    let cohort_c_id = cohort_c.body["id"].as_str().unwrap().to_string();
    let mapped = app
        .call(
            Method::PUT,
            &format!("/v1/courses/{cs}/groups/{cohort_c_id}"),
            Some(admin),
            None,
        )
        .await;
    assert_eq!(mapped.status, StatusCode::NO_CONTENT, "{}", mapped.body);
    assert!(
        states(&app, admin, &cs, "")
            .await
            .contains(&(u2.clone(), "active".to_string()))
    );
    let gone = app
        .call(
            Method::DELETE,
            &format!("/v1/scim/v2/Users/{u2}"),
            Some(&idp),
            None,
        )
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT, "{}", gone.body);
    assert!(
        states(&app, admin, &cs, "")
            .await
            .contains(&(u2.clone(), "withdrawn".to_string()))
    );

    // A full course: the IdP's push still succeeds, the enrollment is not made and the
    // refusal is audited.
    let full = course(&app, admin, "FULL-1", json!({"seat_limit": 1})).await;
    let cohort = scim(
        &app,
        Method::POST,
        "/Groups",
        &idp,
        json!({"displayName": "cohort-b"}),
    )
    .await;
    let cohort_id = cohort.body["id"].as_str().unwrap().to_string();
    app.call(
        Method::PUT,
        &format!("/v1/courses/{full}/groups/{cohort_id}"),
        Some(admin),
        None,
    )
    .await;
    members(&app, &idp, &cohort_id, "add", &[&u1, &u3]).await;
    assert_eq!(states(&app, admin, &full, "").await.len(), 1);
    let audit = app.get("/v1/audit/events?limit=500", admin).await;
    assert!(
        audit.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "enrollment.group_refused"
                && e["detail"]["code"] == "seats_exhausted"),
        "{}",
        audit.body
    );
}

async fn promise_c3_organisational_units_filter_a_courses_learners(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let unit = |code: &str, parent: Option<&str>| {
        let app = &app;
        let body = json!({"code": code, "name": format!("Unit {code}"), "parent_id": parent});
        async move { app.post("/v1/org-units", admin, body).await }
    };
    let eng = unit("ENG", None).await;
    assert_eq!(eng.status, StatusCode::CREATED, "{}", eng.body);
    let eng = eng.body["id"].as_str().unwrap().to_string();
    let cs = unit("ENG-CS", Some(&eng)).await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let law = unit("LAW", None).await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    unit("ENG", None)
        .await
        .assert_problem(409, "org_unit_code_taken");
    let orphan = unit("X", Some(&uuid::Uuid::now_v7().to_string())).await;
    orphan.assert_problem(422, "validation_failed");
    assert_eq!(orphan.error_fields(), ["parent_id"]);
    let children = app
        .get(&format!("/v1/org-units?parent_id={eng}"), admin)
        .await;
    assert_eq!(children.body["items"].as_array().unwrap().len(), 1);

    let (a, b, c) = (
        person(&app, &north, "amy").await,
        person(&app, &north, "bob").await,
        person(&app, &north, "cy").await,
    );
    let place = |who: String, unit: String| {
        let app = &app;
        async move {
            app.call(
                Method::PUT,
                &format!("/v1/people/{who}/org-unit"),
                Some(admin),
                Some(json!({"org_unit_id": unit})),
            )
            .await
        }
    };
    let placed = place(a.clone(), cs.clone()).await;
    assert_eq!(placed.status, StatusCode::OK, "{}", placed.body);
    assert_eq!(placed.body["org_unit_id"], cs.as_str());
    place(b.clone(), law.clone()).await;
    place(uuid::Uuid::now_v7().to_string(), law.clone())
        .await
        .assert_problem(404, "person_not_found");
    let bad = place(c.clone(), uuid::Uuid::now_v7().to_string()).await;
    assert_eq!(bad.error_fields(), ["org_unit_id"]);
    let read = app.get(&format!("/v1/people/{b}/org-unit"), admin).await;
    assert_eq!(read.body["org_unit_id"], law.as_str());

    let course_id = course(&app, admin, "ORG-1", json!({})).await;
    for who in [&a, &b, &c] {
        let enrolled = enroll(&app, admin, &course_id, json!({"person_id": who})).await;
        assert_eq!(enrolled.status, StatusCode::CREATED, "{}", enrolled.body);
    }
    // A unit includes its sub-units.
    assert_eq!(
        states(&app, admin, &course_id, &format!("?org_unit={eng}")).await,
        vec![(a.clone(), "active".to_string())]
    );
    assert_eq!(
        states(&app, admin, &course_id, &format!("?org_unit={cs}")).await,
        vec![(a.clone(), "active".to_string())]
    );
    assert_eq!(
        states(
            &app,
            admin,
            &course_id,
            &format!("?org_unit={law}&state=active")
        )
        .await,
        vec![(b.clone(), "active".to_string())]
    );
    let unknown = app
        .get(
            &format!(
                "/v1/courses/{course_id}/enrollments?org_unit={}",
                uuid::Uuid::now_v7()
            ),
            admin,
        )
        .await;
    unknown.assert_problem(422, "validation_failed");
    assert_eq!(unknown.error_fields(), ["org_unit"]);

    // No unit below itself; a unit in use is not deleted.
    let eng_read = app.get(&format!("/v1/org-units/{eng}"), admin).await;
    let cycle = app
        .call_with(
            Method::PATCH,
            &format!("/v1/org-units/{eng}"),
            Some(admin),
            Some(json!({"parent_id": cs})),
            &[("If-Match", &eng_read.header("etag").unwrap())],
        )
        .await;
    cycle.assert_problem(422, "validation_failed");
    assert_eq!(cycle.error_fields(), ["parent_id"]);
    app.call(
        Method::DELETE,
        &format!("/v1/org-units/{eng}"),
        Some(admin),
        None,
    )
    .await
    .assert_problem(409, "org_unit_in_use");
    // Moving Amy out of ENG-CS takes her out of ENG's listing.
    let cleared = app
        .call(
            Method::DELETE,
            &format!("/v1/people/{a}/org-unit"),
            Some(admin),
            None,
        )
        .await;
    assert_eq!(cleared.status, StatusCode::NO_CONTENT, "{}", cleared.body);
    assert_eq!(
        states(&app, admin, &course_id, &format!("?org_unit={eng}")).await,
        vec![]
    );
    let none = app.get(&format!("/v1/people/{a}/org-unit"), admin).await;
    assert_eq!(none.status, StatusCode::OK, "{}", none.body);
    assert!(none.body["org_unit_id"].is_null(), "{}", none.body);
    // Another institution sees none of it.
    let south = app.create_institution("south").await;
    app.get(&format!("/v1/org-units/{eng}"), &south.admin_token)
        .await
        .assert_problem(404, "org_unit_not_found");
    // A learner reads no units.
    let (_, learner) = signed_in(&app, &north, "lou", &["learner"]).await;
    app.get("/v1/org-units", &learner)
        .await
        .assert_problem(403, "insufficient_scope");
}

/// Restricts (or lifts) processing of the person's data through every source, as a
/// restriction request does.
async fn restrict(app: &TestApp, inst: &Institution, person: &str, restricted: bool) {
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
    let subject = DataSubject::person(person.parse().unwrap(), Vec::new());
    for source in sources() {
        source.restrict(&scope, &subject, restricted).await.unwrap();
    }
    scope.commit().await.unwrap();
}

async fn promise_c3_a_restricted_learner_is_enrolled_nowhere_anew(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let first = course(&app, admin, "R-1", json!({})).await;
    let second = course(&app, admin, "R-2", json!({})).await;
    let ada = person(&app, &north, "ada").await;
    let enrolled = enroll(&app, admin, &first, json!({"person_id": ada})).await;
    let id = enrolled.body["id"].as_str().unwrap().to_string();

    restrict(&app, &north, &ada, true).await;
    enroll(&app, admin, &second, json!({"person_id": ada}))
        .await
        .assert_problem(409, "learner_restricted");
    let bulk = app
        .post(
            &format!("/v1/courses/{second}/enrollments/bulk"),
            admin,
            json!({"person_ids": [ada]}),
        )
        .await;
    assert_eq!(bulk.body["items"][0]["code"], "learner_restricted");
    // Their enrollments stay as they are while it holds.
    patch(&app, admin, &id, 1, json!({"state": "completed"}))
        .await
        .assert_problem(409, "learner_restricted");
    assert_eq!(states(&app, admin, &second, "").await, vec![]);

    restrict(&app, &north, &ada, false).await;
    let people_row = app.get(&format!("/v1/people/{ada}"), admin).await;
    let reactivated = app
        .call_with(
            Method::PATCH,
            &format!("/v1/people/{ada}"),
            Some(admin),
            Some(json!({"status": "active"})),
            &[("If-Match", &people_row.header("etag").unwrap())],
        )
        .await;
    assert_eq!(reactivated.status, StatusCode::OK, "{}", reactivated.body);
    let now = enroll(&app, admin, &second, json!({"person_id": ada})).await;
    assert_eq!(now.status, StatusCode::CREATED, "{}", now.body);
    let done = patch(&app, admin, &id, 1, json!({"state": "completed"})).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
}
