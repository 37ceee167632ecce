//! Quizzes through the public API: strict authoring validation per question kind, preview
//! grading of every kind (tolerance bounds, text rules, all-or-nothing choices), answers
//! that do not fit refused by field, the learner's view without answer keys, If-Match on
//! updates, and bad input that changes nothing.

// Test code: a failed unwrap is a failed test with its reason, which is what we want.
// Decimals as authors write them (3.14 is a quiz answer here, not π).
#![allow(clippy::approx_constant)]

use crate::both_backends;
use crate::structure::course;
use crate::support::{Backend, Reply, TestApp, spawn};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

both_backends!(
    authoring_is_strict_for_every_question_kind,
    preview_grading_scores_every_kind_at_its_edges,
    answers_that_do_not_fit_the_quiz_are_refused_by_field,
    a_learner_sees_a_quiz_without_its_answer_keys,
    quiz_updates_need_if_match_and_replace_the_questions
);

/// A quiz of one question of each kind (4 + 1 + 2 + 1 + 1 points).
pub(crate) fn quiz_body() -> Value {
    json!({
        "title": "Week 1 check",
        "max_attempts": 3,
        "time_limit_seconds": 900,
        "due_at": "2027-01-31T23:59:59Z",
        "passing_score": 60,
        "kept_score": "latest",
        "questions": [
            {"id": "single", "kind": "single_choice", "prompt": "2 + 2?", "points": 4,
             "options": [{"id": "a", "text": "3"}, {"id": "b", "text": "4", "correct": true}]},
            {"id": "multi", "kind": "multiple_choice", "prompt": "Primes?",
             "options": [{"id": "two", "text": "2", "correct": true},
                         {"id": "three", "text": "3", "correct": true},
                         {"id": "four", "text": "4"}]},
            {"id": "pi", "kind": "numeric", "prompt": "Pi to two decimals?", "points": 2,
             "answer": 3.14, "tolerance": 0.01},
            {"id": "city", "kind": "short_text", "prompt": "Capital of France?",
             "rules": [{"match": "case_insensitive", "value": "Paris"},
                       {"match": "regex", "value": "(?i)paris,? france"}]},
            {"id": "one", "kind": "numeric", "prompt": "One?", "answer": 1.0, "tolerance": 0.01}
        ]
    })
}

pub(crate) async fn create_quiz(app: &TestApp, token: &str, course: &str) -> String {
    let made = app
        .post(&format!("/v1/courses/{course}/quizzes"), token, quiz_body())
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    made.body["id"].as_str().unwrap().to_string()
}

async fn preview(app: &TestApp, token: &str, quiz: &str, answers: Value) -> Reply {
    app.post(
        &format!("/v1/quizzes/{quiz}/preview-grade"),
        token,
        json!({ "answers": answers }),
    )
    .await
}

/// A body whose one question is `question`.
fn with_question(question: Value) -> Value {
    let mut body = quiz_body();
    body["questions"] = json!([question]);
    body
}

async fn authoring_is_strict_for_every_question_kind(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let token = north.admin_token.as_str();
    let cs = course(&app, token, "CS-101").await;
    let path = format!("/v1/courses/{cs}/quizzes");
    let choice = |kind: &str, options: Value| json!({"id": "q", "kind": kind, "prompt": "?", "options": options});
    let numeric = |extra: Value| {
        let mut q = json!({"id": "q", "kind": "numeric", "prompt": "?"});
        q.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        q
    };
    let text =
        |rules: Value| json!({"id": "q", "kind": "short_text", "prompt": "?", "rules": rules});
    let cases: Vec<(&str, Value, Vec<&str>)> = vec![
        (
            "no correct option",
            with_question(choice(
                "single_choice",
                json!([{"id": "a", "text": "A"}, {"id": "b", "text": "B"}]),
            )),
            vec!["questions[0].options"],
        ),
        (
            "two correct options for a single choice",
            with_question(choice(
                "single_choice",
                json!([{"id": "a", "text": "A", "correct": true}, {"id": "b", "text": "B", "correct": true}]),
            )),
            vec!["questions[0].options"],
        ),
        (
            "no correct option for a multiple choice",
            with_question(choice(
                "multiple_choice",
                json!([{"id": "a", "text": "A"}, {"id": "b", "text": "B"}]),
            )),
            vec!["questions[0].options"],
        ),
        (
            "duplicate option ids",
            with_question(choice(
                "multiple_choice",
                json!([{"id": "a", "text": "A", "correct": true}, {"id": "a", "text": "B"}]),
            )),
            vec!["questions[0].options[1].id"],
        ),
        (
            "an empty option text",
            with_question(choice(
                "single_choice",
                json!([{"id": "a", "text": " ", "correct": true}, {"id": "b", "text": "B"}]),
            )),
            vec!["questions[0].options[0].text"],
        ),
        (
            "a negative tolerance",
            with_question(numeric(json!({"answer": 1.5, "tolerance": -0.1}))),
            vec!["questions[0].tolerance"],
        ),
        (
            "no numeric answer",
            with_question(numeric(json!({}))),
            vec!["questions[0].answer"],
        ),
        (
            "seven decimals",
            with_question(numeric(json!({"answer": 0.1234567}))),
            vec!["questions[0].answer"],
        ),
        (
            "options on a numeric question",
            with_question(numeric(
                json!({"answer": 1, "options": [{"id": "a", "text": "A", "correct": true}]}),
            )),
            vec!["questions[0].options"],
        ),
        (
            "an invalid regex",
            with_question(text(json!([{"match": "regex", "value": "(unclosed"}]))),
            vec!["questions[0].rules[0].value"],
        ),
        (
            "a regex longer than 200 characters",
            with_question(text(json!([{"match": "regex", "value": "a".repeat(201)}]))),
            vec!["questions[0].rules[0].value"],
        ),
        (
            "no rules",
            with_question(text(json!([]))),
            vec!["questions[0].rules"],
        ),
        (
            "zero points",
            with_question(
                json!({"id": "q", "kind": "numeric", "prompt": "?", "answer": 1, "points": 0}),
            ),
            vec!["questions[0].points"],
        ),
        (
            "a bad question id",
            with_question(
                json!({"id": "no spaces", "kind": "numeric", "prompt": "?", "answer": 1}),
            ),
            vec!["questions[0].id"],
        ),
    ];
    for (what, body, fields) in cases {
        let refused = app.post(&path, token, body).await;
        refused.assert_problem(422, "validation_failed");
        assert_eq!(refused.error_fields(), fields, "{what}");
    }
    // Settings and question counts.
    let mut body = quiz_body();
    body["passing_score"] = json!(101);
    body["max_attempts"] = json!(0);
    body["time_limit_seconds"] = json!(604_801);
    body["title"] = json!("");
    let refused = app.post(&path, token, body).await;
    refused.assert_problem(422, "validation_failed");
    assert_eq!(
        refused.error_fields(),
        [
            "title",
            "max_attempts",
            "time_limit_seconds",
            "passing_score"
        ]
    );
    let mut body = quiz_body();
    let dup = body["questions"][0].clone();
    body["questions"].as_array_mut().unwrap().push(dup);
    let refused = app.post(&path, token, body).await;
    assert_eq!(refused.error_fields(), ["questions[5].id"]);
    let question =
        |i: usize| json!({"id": format!("q{i}"), "kind": "numeric", "prompt": "?", "answer": i});
    let mut body = quiz_body();
    body["questions"] = Value::Array((0..101).map(question).collect());
    app.post(&path, token, body.clone())
        .await
        .assert_problem(422, "validation_failed");
    body["questions"] = json!([]);
    let refused = app.post(&path, token, body).await;
    assert_eq!(refused.error_fields(), ["questions"]);
    // Shapes the parser refuses: an unknown kind, an unknown field.
    let mut body = quiz_body();
    body["questions"][0]["kind"] = json!("essay");
    app.post(&path, token, body)
        .await
        .assert_problem(400, "bad_request");
    let mut body = quiz_body();
    body["questions"][0]["hint"] = json!("think");
    app.post(&path, token, body)
        .await
        .assert_problem(400, "bad_request");

    let listed = app.get(&path, token).await;
    assert_eq!(listed.body["items"], json!([]), "nothing was created");

    // At the limits: 100 questions, a 200-character regex.
    let mut body = quiz_body();
    body["questions"] = Value::Array((0..100).map(question).collect());
    let made = app.post(&path, token, body).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    assert_eq!(made.body["max_points"], 100);
    let made = app
        .post(
            &path,
            token,
            with_question(text(json!([{"match": "regex", "value": "a".repeat(200)}]))),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
}

async fn preview_grading_scores_every_kind_at_its_edges(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let token = north.admin_token.as_str();
    let cs = course(&app, token, "CS-101").await;
    let quiz = create_quiz(&app, token, &cs).await;
    let before = app
        .get(&format!("/v1/quizzes/{quiz}/authoring"), token)
        .await;

    let all_right = preview(
        &app,
        token,
        &quiz,
        json!([
            {"question_id": "single", "option_ids": ["b"]},
            {"question_id": "multi", "option_ids": ["three", "two"]},
            {"question_id": "pi", "number": 3.15},
            {"question_id": "city", "text": "  pARIS "},
            {"question_id": "one", "number": 1.01}
        ]),
    )
    .await;
    assert_eq!(all_right.status, StatusCode::OK, "{}", all_right.body);
    assert_eq!(all_right.body["score"], 9);
    assert_eq!(all_right.body["max"], 9);
    assert_eq!(all_right.body["percent"], 100.0);
    assert_eq!(all_right.body["passed"], true);
    assert_eq!(all_right.body["quiz_id"], quiz.as_str());
    let per: Vec<&str> = all_right.body["per_question"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["question_id"].as_str().unwrap())
        .collect();
    assert_eq!(per, ["single", "multi", "pi", "city", "one"]);

    let grade_of = |reply: &Reply, question: &str| -> (bool, i64) {
        let g = reply.body["per_question"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["question_id"] == question)
            .unwrap()
            .clone();
        (
            g["correct"].as_bool().unwrap(),
            g["points"].as_i64().unwrap(),
        )
    };
    let one = |question: &str, answer: Value| {
        let mut a = answer;
        a["question_id"] = json!(question);
        json!([a])
    };
    let cases: Vec<(&str, Value, bool)> = vec![
        ("pi", json!({"number": 3.13}), true),
        ("pi", json!({"number": 3.150001}), false),
        ("pi", json!({"number": 3.129999}), false),
        ("pi", json!({"number": 3.1500004}), true),
        ("pi", json!({"number": 3.1500005}), false),
        ("one", json!({"number": 0.99}), true),
        ("one", json!({"number": 1.01}), true),
        ("one", json!({"number": 1.0100001}), true),
        ("one", json!({"number": 1.010001}), false),
        ("multi", json!({"option_ids": ["two"]}), false),
        (
            "multi",
            json!({"option_ids": ["two", "three", "four"]}),
            false,
        ),
        ("multi", json!({"option_ids": []}), false),
        ("single", json!({"option_ids": ["a"]}), false),
        ("city", json!({"text": "Paris, France"}), true),
        ("city", json!({"text": "paris france"}), true),
        ("city", json!({"text": "I think Paris"}), false),
        ("city", json!({"text": "Lyon"}), false),
    ];
    for (question, answer, correct) in cases {
        let reply = preview(&app, token, &quiz, one(question, answer.clone())).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let (got, points) = grade_of(&reply, question);
        assert_eq!(got, correct, "{question}: {answer}");
        assert_eq!(points > 0, correct);
        assert_eq!(reply.body["max"], 9);
    }

    // 5 of 9 points is 55.56 %: below the 60 % passing score; 6 of 9 passes.
    let some = preview(
        &app,
        token,
        &quiz,
        json!([{"question_id": "single", "option_ids": ["b"]}, {"question_id": "city", "text": "paris"}]),
    )
    .await;
    assert_eq!(
        (some.body["score"].as_i64(), some.body["passed"].as_bool()),
        (Some(5), Some(false))
    );
    assert_eq!(some.body["percent"], 55.56);
    let enough = preview(
        &app,
        token,
        &quiz,
        json!([{"question_id": "single", "option_ids": ["b"]}, {"question_id": "pi", "number": 3.14}]),
    )
    .await;
    assert_eq!(
        (
            enough.body["score"].as_i64(),
            enough.body["passed"].as_bool()
        ),
        (Some(6), Some(true))
    );
    let nothing = preview(&app, token, &quiz, json!([])).await;
    assert_eq!(nothing.body["score"], 0);
    assert_eq!(nothing.body["per_question"][0]["answered"], false);

    // A preview records nothing.
    let after = app
        .get(&format!("/v1/quizzes/{quiz}/authoring"), token)
        .await;
    assert_eq!(after.body, before.body);
    assert_eq!(after.header("etag"), before.header("etag"));
}

async fn answers_that_do_not_fit_the_quiz_are_refused_by_field(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let token = north.admin_token.as_str();
    let cs = course(&app, token, "CS-101").await;
    let quiz = create_quiz(&app, token, &cs).await;
    for (answers, fields) in [
        (
            json!([{"question_id": "nope", "number": 1}]),
            vec!["answers[0].question_id"],
        ),
        (
            json!([{"question_id": "pi", "text": "3.14"}]),
            vec!["answers[0]"],
        ),
        (
            json!([{"question_id": "single", "number": 1}]),
            vec!["answers[0]"],
        ),
        (json!([{"question_id": "pi"}]), vec!["answers[0]"]),
        (
            json!([{"question_id": "pi", "number": 3.14, "text": "x"}]),
            vec!["answers[0]"],
        ),
        (
            json!([{"question_id": "single", "option_ids": ["a", "b"]}]),
            vec!["answers[0].option_ids"],
        ),
        (
            json!([{"question_id": "multi", "option_ids": ["two", "five"]}]),
            vec!["answers[0].option_ids[1]"],
        ),
        (
            json!([{"question_id": "multi", "option_ids": ["two", "two"]}]),
            vec!["answers[0].option_ids[1]"],
        ),
        (
            json!([{"question_id": "pi", "number": 3.14}, {"question_id": "pi", "number": 3.0}]),
            vec!["answers[1].question_id"],
        ),
        (
            json!([{"question_id": "pi", "number": 2e12}]),
            vec!["answers[0].number"],
        ),
        (
            json!([{"question_id": "city", "text": "x".repeat(1001)}]),
            vec!["answers[0].text"],
        ),
    ] {
        let refused = preview(&app, token, &quiz, answers.clone()).await;
        refused.assert_problem(422, "validation_failed");
        assert_eq!(refused.error_fields(), fields, "{answers}");
    }
    preview(
        &app,
        token,
        &quiz,
        json!([{"question_id": "pi", "number": "3.14"}]),
    )
    .await
    .assert_problem(400, "bad_request");
    preview(
        &app,
        token,
        &quiz,
        json!([{"question_id": "pi", "guess": 3}]),
    )
    .await
    .assert_problem(400, "bad_request");
    app.post(
        "/v1/quizzes/01890a5d-ac96-774b-bcce-b302099a8057/preview-grade",
        token,
        json!({"answers": []}),
    )
    .await
    .assert_problem(404, "quiz_not_found");
}

fn has_key(value: &Value, keys: &[&str]) -> Option<String> {
    match value {
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            if keys.contains(&k.as_str()) {
                Some(k.clone())
            } else {
                has_key(v, keys)
            }
        }),
        Value::Array(items) => items.iter().find_map(|v| has_key(v, keys)),
        _ => None,
    }
}

/// What a learner reads of a quiz says nothing of its keys (no `correct`, `answer`,
/// `tolerance`, `rules`, nor their values); the authoring view and previews need
/// `courses:write`, which an instructor has and a learner has not.
async fn a_learner_sees_a_quiz_without_its_answer_keys(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let cs = course(&app, &north.admin_token, "CS-101").await;
    let quiz = create_quiz(&app, &north.admin_token, &cs).await;
    let (_, learner) = crate::privacy_requests::signed_in(&app, &north, "lena", &["learner"]).await;
    let (_, instructor) =
        crate::privacy_requests::signed_in(&app, &north, "ivan", &["instructor"]).await;
    let keys = ["correct", "answer", "tolerance", "rules"];

    let seen = app.get(&format!("/v1/quizzes/{quiz}"), &learner).await;
    assert_eq!(seen.status, StatusCode::OK, "{}", seen.body);
    assert_eq!(has_key(&seen.body, &keys), None, "{}", seen.body);
    // The text rules' values either (numbers could be part of a timestamp).
    let text = seen.body.to_string();
    for secret in ["Paris", "paris"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    assert_eq!(seen.body["questions"][0]["options"][1]["text"], "4");
    assert_eq!(seen.body["questions"][2]["options"], json!([]));
    assert_eq!(seen.body["max_points"], 9);
    assert_eq!(seen.body["kept_score"], "latest");
    assert_eq!(seen.body["max_attempts"], 3);
    let listed = app
        .get(&format!("/v1/courses/{cs}/quizzes"), &learner)
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    assert_eq!(has_key(&listed.body, &keys), None, "{}", listed.body);
    let outline = app
        .get(&format!("/v1/courses/{cs}/outline"), &learner)
        .await;
    assert_eq!(outline.body["quizzes"][0]["id"], quiz.as_str());

    app.get(&format!("/v1/quizzes/{quiz}/authoring"), &learner)
        .await
        .assert_problem(403, "insufficient_scope");
    preview(
        &app,
        &learner,
        &quiz,
        json!([{"question_id": "pi", "number": 3.14}]),
    )
    .await
    .assert_problem(403, "insufficient_scope");

    let authoring = app
        .get(&format!("/v1/quizzes/{quiz}/authoring"), &instructor)
        .await;
    assert_eq!(authoring.status, StatusCode::OK, "{}", authoring.body);
    assert_eq!(
        authoring.body["questions"][0]["options"][1]["correct"],
        true
    );
    assert_eq!(authoring.body["questions"][2]["answer"], 3.14);
    assert_eq!(authoring.body["questions"][2]["tolerance"], 0.01);
    assert_eq!(
        authoring.body["questions"][3]["rules"][0]["match"],
        "case_insensitive"
    );
    let graded = preview(
        &app,
        &instructor,
        &quiz,
        json!([{"question_id": "pi", "number": 3.14}]),
    )
    .await;
    assert_eq!(graded.status, StatusCode::OK, "{}", graded.body);
    assert_eq!(graded.body["score"], 2);
}

async fn quiz_updates_need_if_match_and_replace_the_questions(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let token = north.admin_token.as_str();
    let cs = course(&app, token, "CS-101").await;
    let quiz = create_quiz(&app, token, &cs).await;
    let path = format!("/v1/quizzes/{quiz}");
    let authoring = app.get(&format!("{path}/authoring"), token).await;
    assert_eq!(authoring.header("etag").as_deref(), Some("\"1\""));
    let change = json!({"max_attempts": null, "passing_score": 80,
                        "questions": [{"id": "only", "kind": "numeric", "prompt": "Zero?", "answer": 0}]});
    app.call(Method::PATCH, &path, Some(token), Some(change.clone()))
        .await
        .assert_problem(428, "if_match_required");
    app.call_with(
        Method::PATCH,
        &path,
        Some(token),
        Some(change.clone()),
        &[("If-Match", "\"4\"")],
    )
    .await
    .assert_problem(412, "revision_mismatch");
    let bad = app
        .call_with(
            Method::PATCH,
            &path,
            Some(token),
            Some(json!({"passing_score": -1, "questions": [{"id": "q", "kind": "numeric", "prompt": "?", "answer": 1, "tolerance": -1}]})),
            &[("If-Match", "\"1\"")],
        )
        .await;
    bad.assert_problem(422, "validation_failed");
    assert_eq!(
        bad.error_fields(),
        ["passing_score", "questions[0].tolerance"]
    );
    assert_eq!(
        app.get(&format!("{path}/authoring"), token).await.body,
        authoring.body,
        "nothing changed"
    );

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
    assert_eq!(updated.body["max_attempts"], Value::Null);
    assert_eq!(updated.body["time_limit_seconds"], 900, "untouched");
    assert_eq!(updated.body["passing_score"], 80);
    assert_eq!(updated.body["questions"].as_array().unwrap().len(), 1);
    assert_eq!(updated.body["questions"][0]["tolerance"], 0.0);
    let graded = preview(
        &app,
        token,
        &quiz,
        json!([{"question_id": "only", "number": -0.0000004}]),
    )
    .await;
    assert_eq!(graded.body["passed"], true, "{}", graded.body);
    preview(
        &app,
        token,
        &quiz,
        json!([{"question_id": "pi", "number": 3.14}]),
    )
    .await
    .assert_problem(422, "validation_failed");
}
