//! Promise D4 at the gateway: no card number is ever stored or logged. Stripe's test card
//! numbers, plain, spaced and hyphenated, go into every field of every operation of the
//! committed spec (the walker of tests/api/input_fuzz.rs: every path, query and header
//! parameter, every body field at any depth, form fields, a JSON member name, the stored
//! headers of the sign-in), with credentials that pass each operation's security. Every
//! answer must be the 422 `card_number` problem naming the field (SCIM: its 400
//! `invalidValue`, the field in `detail`) and echo no digits of the number; then the whole
//! database (every table of the control plane and of the tenant, PostgreSQL and SQLite),
//! every Redis key and value and every line the gateway logged are searched for the numbers,
//! with and without separators. The input guard refuses before any handler runs, so no
//! operation refuses earlier (a 401 or 404 would mean the guard did not run first, and is a
//! failure). No randomness: the numbers rotate over the fields in spec order.

use crate::both_backends;
use crate::input_fuzz::{self, Mutations, Probe, Spec};
use crate::support::{Backend, TestApp, captured_logs, spawn, spawn_with};
use reqwest::Method;
use serde_json::{Value, json};
use std::cell::Cell;

both_backends!(
    promise_d4_card_numbers_in_any_field_are_refused_and_never_stored_or_logged,
    promise_d4_a_card_number_is_refused_where_it_is_typed_and_other_digits_pass
);

/// Stripe's test card numbers (docs.stripe.com/testing): Visa, Visa debit, Mastercard (5- and
/// 2-series, debit), American Express, Discover, Diners Club (14 and 16 digits), JCB,
/// UnionPay (16 and 19 digits), and 3-D Secure cards.
const CARDS: [&str; 16] = [
    "4242424242424242",
    "4000056655665556",
    "5555555555554444",
    "2223003122003222",
    "5200828282828210",
    "378282246310005",
    "371449635398431",
    "6011111111111117",
    "3056930009020004",
    "36227206271667",
    "6555900000604105",
    "3566002020360505",
    "6200000000000005",
    "6205500000000000004",
    "4000002500003155",
    "4000000000003220",
];

/// The groups a card is printed in: Amex 4-6-5, Diners 4-6-4, 19 digits 4-4-4-4-3.
fn grouped(number: &str, separator: &str) -> String {
    let layout: &[usize] = match number.len() {
        15 => &[4, 6, 5],
        14 => &[4, 6, 4],
        19 => &[4, 4, 4, 4, 3],
        _ => &[4, 4, 4, 4],
    };
    let mut groups = Vec::new();
    let mut at = 0;
    for len in layout {
        groups.push(&number[at..at + len]);
        at += len;
    }
    groups.join(separator)
}

/// How each number is written into a field.
fn written(number: &str) -> [(String, String); 3] {
    [
        (format!("{number} plain"), number.to_string()),
        (format!("{number} spaced"), grouped(number, " ")),
        (format!("{number} hyphenated"), grouped(number, "-")),
    ]
}

/// What must appear nowhere: each number plain, grouped by each separator (as typed, as a
/// URL or form encodes it), and its digits in hex (a PostgreSQL `bytea`, an SQLite blob).
fn needles() -> Vec<String> {
    CARDS
        .iter()
        .flat_map(|n| {
            [
                n.to_string(),
                grouped(n, " "),
                grouped(n, "-"),
                grouped(n, "%20"),
                grouped(n, "+"),
                hex::encode(n),
            ]
        })
        .collect()
}

fn needles_in(text: &str) -> Vec<String> {
    let lower = text.to_lowercase();
    needles()
        .into_iter()
        .filter(|n| lower.contains(&n.to_lowercase()))
        .collect()
}

/// The card numbers, one per field in turn, in all three writings.
#[derive(Default)]
struct CardNumbers {
    next: Cell<usize>,
}

impl CardNumbers {
    fn number(&self) -> &'static str {
        let i = self.next.get();
        self.next.set(i + 1);
        CARDS[i % CARDS.len()]
    }

    fn texts(&self) -> Vec<(String, Vec<u8>)> {
        written(self.number())
            .into_iter()
            .map(|(label, text)| (label, text.into_bytes()))
            .collect()
    }
}

impl Mutations for CardNumbers {
    fn url(&self) -> Vec<(String, Vec<u8>)> {
        self.texts()
    }
    /// A number or boolean parameter takes the digits too (`limit=4242…`).
    fn url_not_text(&self, _schema: &Value) -> Vec<(String, Vec<u8>)> {
        self.texts()
    }
    fn json_string(&self) -> Vec<(String, Value)> {
        written(self.number())
            .into_iter()
            .map(|(label, text)| (label, json!(text)))
            .collect()
    }
    /// An integer field would keep the number as given.
    fn json_number(&self) -> Vec<(String, Value)> {
        let number = self.number();
        vec![(
            format!("{number} as a JSON integer"),
            json!(number.parse::<u64>().unwrap()),
        )]
    }
    fn json_bool(&self) -> Vec<(String, Value)> {
        self.json_string()
    }
    fn form(&self) -> Vec<(String, Vec<u8>)> {
        self.texts()
    }
    fn header(&self) -> Vec<(String, Vec<u8>)> {
        self.texts()
    }
    fn stored_header(&self) -> Vec<(String, Vec<u8>)> {
        self.texts()
    }
    fn member_name(&self) -> Vec<(String, String)> {
        let number = self.number();
        vec![(format!("{number} as a member name"), number.to_string())]
    }
}

/// What is wrong with the answer to a probe; `None` when it is the refusal naming the field.
fn fault(probe: &Probe, answer: &input_fuzz::Answer) -> Option<String> {
    let echoed = needles_in(&answer.text);
    if !echoed.is_empty() {
        return Some(format!("the answer echoes {echoed:?}"));
    }
    // A field whose name is itself a card number is named with it removed.
    let named = hub_kernel::pan::redact(&probe.named).into_owned();
    let body: Value = serde_json::from_str(&answer.text).unwrap_or_default();
    if probe.path.starts_with("/v1/scim/") {
        let ok = answer.status == 400
            && answer.content_type.starts_with("application/scim+json")
            && body["scimType"] == "invalidValue"
            && body["detail"]
                .as_str()
                .is_some_and(|d| d.contains(&format!("{named}: ")));
        return (!ok).then(|| {
            format!(
                "{}, not SCIM 400 invalidValue naming {named}",
                answer.status
            )
        });
    }
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["field"].as_str())
        .collect();
    let ok = answer.status == 422
        && answer.content_type.starts_with("application/problem+json")
        && body["code"] == "card_number"
        && fields.contains(&named.as_str());
    (!ok).then(|| format!("{}, not 422 card_number naming {named}", answer.status))
}

/// Every table row, Redis entry and log line holding one of the numbers, described.
async fn found_anywhere(app: &TestApp) -> Vec<String> {
    let mut found = Vec::new();
    for (table, rows) in input_fuzz::table_rows(app, &[]).await {
        for row in rows {
            let hits = needles_in(&row);
            if !hits.is_empty() {
                found.push(format!("table {table}: {hits:?} in {row}"));
            }
        }
    }
    // The embedded default keeps short-lived state in process memory, not in Redis.
    if app.backend == Backend::Postgres {
        for (key, value) in crate::support::redis_entries(app).await {
            let hits = needles_in(&format!("{key} {value}"));
            if !hits.is_empty() {
                found.push(format!("redis {key}: {hits:?}"));
            }
        }
    }
    let logs = std::fs::read_to_string(captured_logs()).unwrap();
    for line in logs.lines() {
        let hits = needles_in(line);
        if !hits.is_empty() {
            found.push(format!("log line: {hits:?} in {line}"));
        }
    }
    found
}

/// The signed-in person's sessions: id, user agent and device id of each.
async fn sessions(app: &TestApp, fx: &input_fuzz::Fixture) -> Vec<String> {
    let listed = app.get("/v1/me/sessions", &fx.session).await;
    // The run signed the person out: a change too.
    if listed.status.as_u16() != 200 {
        return vec![format!("listing answered {}", listed.status)];
    }
    let mut sessions: Vec<String> = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| format!("{} {} {}", s["id"], s["user_agent"], s["device_id"]))
        .collect();
    sessions.sort();
    sessions
}

/// The captured log lines of one request.
fn logged_lines(request_id: &str) -> Vec<String> {
    std::fs::read_to_string(captured_logs())
        .unwrap()
        .lines()
        .filter(|l| l.contains(&format!("\"request_id\":\"{request_id}\"")))
        .map(str::to_string)
        .collect()
}

async fn promise_d4_card_numbers_in_any_field_are_refused_and_never_stored_or_logged(
    backend: Backend,
) {
    captured_logs();
    // As in input_fuzz: the mail sender, which would deliver the seeded reset code during the
    // run, looks for due mail only at start.
    let app = spawn_with(backend, |config| config.mail_poll_secs = 3600).await;
    let spec = Spec::load();
    let fx = input_fuzz::fixture(&app, &spec).await;
    let probes = input_fuzz::probes(&app, &spec, &fx, &CardNumbers::default()).await;
    let before = input_fuzz::snapshot(&app).await;
    let sessions_before = sessions(&app, &fx).await;

    let mut faults = Vec::new();
    let mut path_requests = Vec::new();
    for probe in &probes {
        let answer = input_fuzz::send(&app, probe).await;
        if let Some(why) = fault(probe, &answer) {
            let text: String = answer.text.chars().take(300).collect();
            faults.push(format!(
                "{} {} [{}] = {}: {why}: {text}",
                probe.method, probe.operation, probe.field, probe.value
            ));
        }
        if probe.field.starts_with("path ") {
            path_requests.push((probe.value.clone(), answer.request_id));
        }
    }
    let after = input_fuzz::snapshot(&app).await;
    let mut changed = input_fuzz::changed_tables(&before, &after);
    // The session store seals what it keeps of a sign-in (its User-Agent, device id), so no
    // search of Redis could read a number there: the person's sessions, as the API lists
    // them, are the same ones.
    let sessions_after = sessions(&app, &fx).await;
    if sessions_after != sessions_before {
        changed.push(format!(
            "sessions of the signed-in person: {sessions_before:?} -> {sessions_after:?}"
        ));
    }
    let found = found_anywhere(&app).await;
    println!(
        "card numbers on {backend:?}: {} requests, {} into path segments",
        probes.len(),
        path_requests.len()
    );
    assert!(
        faults.is_empty() && changed.is_empty() && found.is_empty(),
        "{} of {} probes answered wrongly:\n{}\n\ntables changed:\n{}\n\nnumbers found:\n{}",
        faults.len(),
        probes.len(),
        faults.join("\n"),
        changed.join("\n"),
        found.join("\n")
    );
    // The search saw logging happen: each request with a number in its path was logged, the
    // number removed (the access log writes the path of every request, refused or not).
    for (value, request_id) in &path_requests {
        let lines = logged_lines(request_id);
        assert!(
            lines
                .iter()
                .any(|l| l.contains("[card number removed, last4 ")),
            "{value}: the request {request_id} was not logged with the number removed: {lines:?}"
        );
    }
    assert!(
        probes.len() > 300 && !path_requests.is_empty(),
        "the spec yields far fewer probes than it should"
    );
}

/// One of each carrier, as a person would type a card number into it, and digit runs that
/// are not card numbers, which pass and are kept.
async fn promise_d4_a_card_number_is_refused_where_it_is_typed_and_other_digits_pass(
    backend: Backend,
) {
    captured_logs();
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let scim = app
        .post(
            "/v1/api-keys",
            admin,
            json!({"name": "SCIM", "scopes": ["scim:provision"]}),
        )
        .await;
    let scim = scim.body["token"].as_str().unwrap().to_string();
    let before = input_fuzz::snapshot(&app).await;

    let cases: Vec<(crate::support::Reply, &str)> =
        vec![
        (
            app.post(
                "/v1/courses",
                admin,
                json!({"code": "CS-101", "title": "Paid with 4242 4242 4242 4242, exp 12/28"}),
            )
            .await,
            "/title",
        ),
        (
            app.post(
                "/v1/courses",
                admin,
                json!({"code": "CS-101", "title": "Intro", "tags": ["ok", "5555-5555-5555-4444"]}),
            )
            .await,
            "/tags/1",
        ),
        (
            app.get("/v1/courses?code=3782%20822463%2010005", admin).await,
            "code",
        ),
        (app.get("/v1/courses/6011111111111117", admin).await, "course_id"),
        (
            app.call_with(
                Method::POST,
                "/v1/courses",
                Some(admin),
                Some(json!({"code": "CS-102", "title": "Intro"})),
                &[("Idempotency-Key", "3566002020360505")],
            )
            .await,
            "idempotency-key",
        ),
        // A stored header, on an operation with no parameter at all.
        (
            app.call_with(
                Method::GET,
                "/v1/me",
                Some(admin),
                None,
                &[("User-Agent", "pay 6200 0000 0000 0005")],
            )
            .await,
            "user-agent",
        ),
    ];
    for (reply, field) in &cases {
        reply.assert_problem(422, "card_number");
        assert!(
            reply.error_fields().iter().any(|f| f == field),
            "{field}: {}",
            reply.body
        );
        assert!(
            needles_in(&reply.body.to_string()).is_empty(),
            "{}",
            reply.body
        );
    }

    // A form (the SAML binding), an xAPI document stored as sent (any media type), a JSON
    // member name: refused before any credential is looked at.
    let raw = |method: Method, path: &str, content_type: &str, body: &str| {
        app.client
            .request(method, format!("{}{path}", app.base))
            .header("content-type", content_type)
            .body(body.to_string())
            .send()
    };
    let form = raw(
        Method::POST,
        "/v1/sso/saml/acs",
        "application/x-www-form-urlencoded",
        "SAMLResponse=PHNhbWw%2B&RelayState=4000+0566+5566+5556",
    )
    .await
    .unwrap();
    let document = raw(
        Method::PUT,
        "/xapi/activities/state?activityId=http%3A%2F%2Fx.test%2Fa&agent=%7B%22mbox%22%3A%22mailto%3Aa%40x.test%22%7D&stateId=s",
        "application/octet-stream",
        "suspend_data=card:2223003122003222;",
    )
    .await
    .unwrap();
    let member = raw(
        Method::POST,
        "/v1/courses",
        "application/json",
        r#"{"code":"CS-103","title":"Intro","5200828282828210":"x"}"#,
    )
    .await
    .unwrap();
    for (response, field) in [
        (form, "RelayState"),
        (document, "body"),
        (member, "/[card number removed, last4 8210]"),
    ] {
        assert_eq!(response.status(), 422);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "card_number", "{body}");
        assert_eq!(body["errors"][0]["field"], field, "{body}");
        assert!(needles_in(&body.to_string()).is_empty(), "{body}");
    }

    // SCIM answers in its own schema: 400 invalidValue, the field in `detail`.
    let group = crate::support::scim(
        &app,
        Method::POST,
        "/Groups",
        &scim,
        json!({"displayName": "6011 1111 1111 1117"}),
    )
    .await;
    assert_eq!(group.status.as_u16(), 400, "{}", group.body);
    assert_eq!(group.body["scimType"], "invalidValue", "{}", group.body);
    let detail = group.body["detail"].as_str().unwrap();
    assert!(detail.contains("/displayName: "), "{detail}");
    assert!(needles_in(detail).is_empty(), "{detail}");

    // A caller's request id that is a card number is not echoed: the answer has its own.
    let traced = app
        .call_with(
            Method::GET,
            "/v1/courses",
            Some(admin),
            None,
            &[("X-Request-Id", "4242424242424242")],
        )
        .await;
    assert_eq!(traced.status.as_u16(), 200, "{}", traced.body);
    let id = traced.header("x-request-id").unwrap();
    assert!(needles_in(&id).is_empty() && !id.is_empty(), "{id}");
    assert_eq!(
        input_fuzz::snapshot(&app).await,
        before,
        "refused input changed storage"
    );

    // Digit runs that are no card number pass and are kept as sent: a number failing Luhn,
    // Luhn-valid ones no network issues (a time in milliseconds, an ISBN), a date, a UUID, a
    // phone number, a decimal with a long fraction.
    let description = "order 1234567890123456, at 1764806400008, ISBN 9780306406156, on 2026-12-04, \
                       ref 0190a0b0-0000-7000-8000-000000000001, call +4915112345678, \
                       score 0.8571428571428571";
    let course = app
        .post(
            "/v1/courses",
            admin,
            json!({"code": "CS-104", "title": "Card 4242 4242 4242 4241", "description": description}),
        )
        .await;
    assert_eq!(course.status.as_u16(), 201, "{}", course.body);
    assert_eq!(course.body["description"], description);
    assert_eq!(course.body["title"], "Card 4242 4242 4242 4241");

    // The refused requests were logged, their numbers nowhere.
    let refused_path = cases[3].0.header("x-request-id").unwrap();
    let lines = logged_lines(&refused_path);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("/v1/courses/[card number removed, last4 1117]")),
        "{lines:?}"
    );
    let found = found_anywhere(&app).await;
    assert!(found.is_empty(), "numbers found:\n{}", found.join("\n"));
}
