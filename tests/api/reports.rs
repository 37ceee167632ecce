//! De-identified reports through the public API (C7, U2, U5, D3): the profile's reports run
//! on their schedule and on request, once per period; their content holds counts only,
//! with small counts suppressed so that no report, nor two reports of the same records
//! together, gives away one learner; accreditation reports show only the fields the
//! profile names; periods are whole and over, and never overlap for the same records.
//!
//! The schedule is driven here with a clock a day ahead (`run_scheduled_reports`, the job
//! the gateway runs every sweep), so today's records make a period that is over; runs and
//! content are then read through the API as an institution would.

use crate::both_backends;
use crate::privacy_requests::{person, signed_in};
use crate::progress::{course, enroll, lesson, mark, module, set_rule};
use crate::support::{
    Backend, Institution, Reply, TestApp, spawn, spawn_on_same_storage_with, spawn_with,
};
use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

both_backends!(
    promise_c7_two_reports_of_one_period_do_not_give_away_a_learner_alone_in_a_cohort,
    promise_c7_periods_are_whole_over_reported_once_and_never_overlap,
    promise_u5_an_accreditation_report_shows_only_the_fields_the_profile_names,
    promise_u2_the_usage_report_counts_actions_by_area_and_never_names_an_actor,
    promise_d3_scheduled_reports_run_once_across_two_gateways,
);

/// Replaces the profile's reports (and cell size), keeping its retention rules.
async fn set_reports(app: &TestApp, admin: &str, reports: Value, min_cell_size: u32) -> Reply {
    let current = app.get("/v1/privacy-profile", admin).await;
    assert_eq!(current.status, StatusCode::OK, "{}", current.body);
    let etag = current.header("etag").unwrap();
    app.call_with(
        Method::PUT,
        "/v1/privacy-profile",
        Some(admin),
        Some(json!({
            "retention": current.body["retention"],
            "reports": reports,
            "min_cell_size": min_cell_size,
        })),
        &[("If-Match", &etag)],
    )
    .await
}

/// A daily report of `kind` in `format`, showing `fields`.
fn daily(name: &str, kind: &str, format: &str, fields: &[&str]) -> Value {
    json!({"name": name, "kind": kind, "cadence": "daily", "format": format, "fields": fields})
}

/// The scheduler's clock for today's period: early tomorrow.
fn tomorrow() -> DateTime<Utc> {
    let today = Utc::now().date_naive();
    (today + TimeDelta::days(1))
        .and_hms_opt(1, 0, 0)
        .unwrap()
        .and_utc()
}

async fn run_schedule(app: &TestApp, clock: DateTime<Utc>) -> usize {
    app.state
        .tenancy
        .run_scheduled_reports(clock)
        .await
        .unwrap()
}

/// The runs of the report named `name`, newest first.
async fn runs_of(app: &TestApp, token: &str, name: &str) -> Vec<Value> {
    let listed = app
        .get(
            &format!("/v1/reports/runs?report={}", urlencode(name)),
            token,
        )
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    listed.body["items"].as_array().unwrap().clone()
}

/// The runs of the report named `name` whose period starts at `start` (a prefix).
async fn runs_for(app: &TestApp, token: &str, name: &str, start: &str) -> Vec<Value> {
    runs_of(app, token, name)
        .await
        .into_iter()
        .filter(|r| r["period_start"].as_str().unwrap().starts_with(start))
        .collect()
}

/// The run of the report named `name` for today's period (the schedule driven with
/// [`tomorrow`]); the gateway's own schedule may add yesterday's beside it.
async fn todays_run(app: &TestApp, token: &str, name: &str) -> Value {
    let today = format!("{}T00:00:00", Utc::now().date_naive());
    runs_of(app, token, name)
        .await
        .into_iter()
        .find(|r| r["period_start"].as_str().unwrap().starts_with(&today))
        .unwrap_or_else(|| panic!("no run of {name} for today"))
}

fn urlencode(text: &str) -> String {
    text.replace(' ', "%20")
}

async fn content(app: &TestApp, token: &str, run: &Value) -> Reply {
    let id = run["id"].as_str().unwrap();
    app.get(&format!("/v1/reports/runs/{id}/content"), token)
        .await
}

async fn unit(app: &TestApp, admin: &str, code: &str) -> String {
    let made = app
        .post(
            "/v1/org-units",
            admin,
            json!({"code": code, "name": format!("Unit {code}")}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    made.body["id"].as_str().unwrap().to_string()
}

async fn place(app: &TestApp, admin: &str, person: &str, unit: &str) {
    let placed = app
        .call(
            Method::PUT,
            &format!("/v1/people/{person}/org-unit"),
            Some(admin),
            Some(json!({ "org_unit_id": unit })),
        )
        .await;
    assert_eq!(placed.status, StatusCode::OK, "{}", placed.body);
}

/// Every value a table shows, by line: each row with its total, each column with its
/// total. A line with exactly one hidden value and its other values shown gives it away.
fn lines(table: &Value) -> Vec<Vec<Value>> {
    let cells = table["cells"].as_array().unwrap();
    let row_totals = table["row_totals"].as_array().unwrap();
    let column_totals = table["column_totals"].as_array().unwrap();
    let mut out = Vec::new();
    for (r, row) in cells.iter().enumerate() {
        let mut line = row.as_array().unwrap().clone();
        line.push(row_totals[r].clone());
        out.push(line);
    }
    for (c, total) in column_totals.iter().enumerate() {
        let mut line: Vec<Value> = cells.iter().map(|row| row[c].clone()).collect();
        line.push(total.clone());
        out.push(line);
    }
    let mut totals = row_totals.clone();
    totals.push(table["total"].clone());
    out.push(totals);
    out
}

fn hidden_in(line: &[Value]) -> usize {
    line.iter().filter(|v| v.is_null()).count()
}

/// Institution `north`: course A with six learners of unit X and one alone in unit Y,
/// course B with five of unit X; all enrolled today. Returns the admin token and the lone
/// learner's id.
async fn a_cohort_of_one(app: &TestApp) -> (Institution, String, Vec<String>) {
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let x = unit(app, admin, "X").await;
    let y = unit(app, admin, "Y").await;
    let a = course(app, admin, "A").await;
    let b = course(app, admin, "B").await;
    let mut people = Vec::new();
    for i in 0..11 {
        let who = person(app, &north, &format!("x{i}")).await;
        place(app, admin, &who, &x).await;
        enroll(app, admin, if i < 6 { &a } else { &b }, &who).await;
        people.push(who);
    }
    let lone = person(app, &north, "lone").await;
    place(app, admin, &lone, &y).await;
    enroll(app, admin, &a, &lone).await;
    people.push(lone.clone());
    (north, lone, people)
}

async fn promise_c7_two_reports_of_one_period_do_not_give_away_a_learner_alone_in_a_cohort(
    backend: Backend,
) {
    let app = spawn(backend).await;
    let (north, lone, people) = a_cohort_of_one(&app).await;
    let admin = north.admin_token.as_str();
    let set = set_reports(
        &app,
        admin,
        json!([
            daily(
                "By course",
                "enrollment_summary",
                "json",
                &["course", "state"]
            ),
            daily(
                "By cohort",
                "enrollment_summary",
                "json",
                &["cohort", "state"]
            ),
            daily(
                "By cohort, CSV",
                "enrollment_summary",
                "csv",
                &["cohort", "state"]
            ),
        ]),
        5,
    )
    .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    assert_eq!(set.body["min_cell_size"], 5);
    assert_eq!(run_schedule(&app, tomorrow()).await, 3);

    let by_course = &todays_run(&app, admin, "By course").await;
    assert_eq!(by_course["trigger"], "schedule");
    assert_eq!(by_course["kind"], "enrollment_summary");
    let courses = content(&app, admin, by_course).await;
    assert_eq!(courses.status, StatusCode::OK, "{}", courses.body);
    let by_cohort = &todays_run(&app, admin, "By cohort").await;
    let cohorts = content(&app, admin, by_cohort).await;
    assert_eq!(cohorts.status, StatusCode::OK, "{}", cohorts.body);
    let course_table = &courses.body["tables"][0];
    let cohort_table = &cohorts.body["tables"][0];
    assert_eq!(course_table["breakdown"], "course");
    assert_eq!(cohort_table["breakdown"], "cohort");
    assert_eq!(cohort_table["rows"], json!(["X", "Y"]), "{cohorts:?}");
    let active = course_table["columns"]
        .as_array()
        .unwrap()
        .iter()
        .position(|c| c == "active")
        .unwrap();

    // By course every count is 5 or more: shown.
    assert_eq!(course_table["rows"], json!(["A", "B"]));
    assert_eq!(course_table["cells"][0][active], 7);
    assert_eq!(course_table["cells"][1][active], 5);
    assert_eq!(course_table["total"], 12);
    // By cohort, Y's one learner is hidden, and so is X's count: 12 − 11 would give it.
    assert!(cohort_table["cells"][1][active].is_null(), "{cohort_table}");
    assert!(cohort_table["row_totals"][1].is_null());
    assert!(cohort_table["cells"][0][active].is_null());
    assert!(cohort_table["row_totals"][0].is_null());

    // The attack: every line of either table, and the totals both share. No line has a
    // single hidden value, and the shared totals are shown or hidden alike in both.
    for table in [course_table, cohort_table] {
        for line in lines(table) {
            assert_ne!(
                hidden_in(&line),
                1,
                "a line gives its hidden value away: {line:?}"
            );
        }
    }
    assert_eq!(course_table["column_totals"], cohort_table["column_totals"]);
    assert_eq!(course_table["total"], cohort_table["total"]);

    // Counts only: no person's id, name or email in any format.
    let csv_run = &todays_run(&app, admin, "By cohort, CSV").await;
    let csv = content(&app, admin, csv_run).await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(
        csv.header("content-type").unwrap().starts_with("text/csv"),
        "{:?}",
        csv.header("content-type")
    );
    let csv_text = csv.body.as_str().unwrap().to_string();
    assert!(csv_text.starts_with("cohort,"), "{csv_text}");
    assert!(csv_text.contains("\nY,"), "{csv_text}");
    assert!(csv_text.contains("suppressed"), "{csv_text}");
    for text in [
        courses.body.to_string(),
        cohorts.body.to_string(),
        csv_text.clone(),
    ] {
        for who in &people {
            assert!(!text.contains(who.as_str()), "a person id in a report");
        }
        for name in ["lone", "x0 person", "@north.test"] {
            assert!(!text.contains(name), "{name} in a report");
        }
    }
    assert!(people.contains(&lone));

    // Erasing or changing records later changes no report of the period: it is stored.
    let again = content(&app, admin, by_cohort).await;
    assert_eq!(again.body, cohorts.body);
}

async fn promise_c7_periods_are_whole_over_reported_once_and_never_overlap(backend: Backend) {
    // The gateway's own schedule stays out of the way: every run here is on request.
    let app = spawn_with(backend, |c| c.deadline_sweep_secs = 3_600).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let set = set_reports(
        &app,
        admin,
        json!([{"name": "Monthly", "kind": "enrollment_summary", "cadence": "monthly",
                "format": "json"}]),
        5,
    )
    .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    let today = Utc::now().date_naive();
    let this_month = NaiveDate::from_ymd_opt(today.year(), today.month(), 1).unwrap();
    let last_month = this_month
        .checked_sub_months(chrono::Months::new(1))
        .unwrap();
    let run = |report: &str, start: NaiveDate| {
        let app = &app;
        let body = json!({"report": report, "period_start": start.to_string()});
        async move { app.post("/v1/reports/runs", admin, body).await }
    };

    let made = run("Monthly", last_month).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    assert_eq!(made.body["trigger"], "request");
    let id = made.body["id"].as_str().unwrap().to_string();
    assert_eq!(
        made.header("location").unwrap(),
        format!("/v1/reports/runs/{id}")
    );
    // Asked again: the same run, nothing new.
    let again = run("Monthly", last_month).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.body["id"], id.as_str());
    assert_eq!(runs_of(&app, admin, "Monthly").await.len(), 1);
    let read = app.get(&format!("/v1/reports/runs/{id}"), admin).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.body["period_start"], made.body["period_start"]);

    // Not a whole period, not over yet, not a report of the profile: 422, nothing stored.
    let mid_month = last_month + TimeDelta::days(14);
    let unaligned = run("Monthly", mid_month).await;
    unaligned.assert_problem(422, "validation_failed");
    assert_eq!(unaligned.error_fields(), ["period_start"]);
    run("Monthly", this_month)
        .await
        .assert_problem(422, "validation_failed");
    for ancient in ["1969-12-01", "-0001-01-01"] {
        let refused = app
            .post(
                "/v1/reports/runs",
                admin,
                json!({"report": "Monthly", "period_start": ancient}),
            )
            .await;
        assert!(
            refused.status.is_client_error(),
            "{ancient}: {} {}",
            refused.status,
            refused.body
        );
    }
    run("Nope", last_month)
        .await
        .assert_problem(404, "not_found");
    assert_eq!(runs_of(&app, admin, "Monthly").await.len(), 1);

    // One population, one cadence: a weekly report of the same records beside the monthly
    // is refused by the profile.
    let two = set_reports(
        &app,
        admin,
        json!([
            {"name": "Monthly", "kind": "enrollment_summary", "cadence": "monthly", "format": "json"},
            {"name": "Weekly", "kind": "enrollment_summary", "cadence": "weekly", "format": "json"},
        ]),
        5,
    )
    .await;
    two.assert_problem(422, "validation_failed");
    assert_eq!(two.error_fields(), ["reports[1].cadence"]);
    // Switched to weekly, a week inside the month already reported overlaps it: 409.
    let weekly = set_reports(
        &app,
        admin,
        json!([{"name": "Weekly", "kind": "enrollment_summary", "cadence": "weekly",
                "format": "json"}]),
        5,
    )
    .await;
    assert_eq!(weekly.status, StatusCode::OK, "{}", weekly.body);
    let monday = (0..7)
        .map(|d| last_month + TimeDelta::days(d))
        .find(|d| d.weekday() == chrono::Weekday::Mon)
        .unwrap();
    let overlapping = run("Weekly", monday).await;
    overlapping.assert_problem(409, "conflict");
    assert!(
        overlapping.body["detail"]
            .as_str()
            .unwrap()
            .contains("never overlap"),
        "{}",
        overlapping.body
    );

    // Certificates are completions too (every certificate comes with a completion of its
    // period): the two are suppressed together and share one cadence and their periods.
    let mixed = set_reports(
        &app,
        admin,
        json!([
            {"name": "Completions", "kind": "completions", "cadence": "weekly", "format": "json"},
            {"name": "Certificates", "kind": "certificates", "cadence": "monthly", "format": "json"},
        ]),
        5,
    )
    .await;
    mixed.assert_problem(422, "validation_failed");
    assert_eq!(mixed.error_fields(), ["reports[1].cadence"]);
    assert!(mixed.body.to_string().contains("linked"), "{}", mixed.body);
    let monthly = set_reports(
        &app,
        admin,
        json!([
            {"name": "Completions", "kind": "completions", "cadence": "monthly", "format": "json"},
            {"name": "Certificates", "kind": "certificates", "cadence": "monthly", "format": "json"},
        ]),
        5,
    )
    .await;
    assert_eq!(monthly.status, StatusCode::OK, "{}", monthly.body);
    let certificates = run("Certificates", last_month).await;
    assert_eq!(
        certificates.status,
        StatusCode::CREATED,
        "{}",
        certificates.body
    );
    let completions = run("Completions", last_month).await;
    assert_eq!(
        completions.status,
        StatusCode::CREATED,
        "{}",
        completions.body
    );
    let weekly_completions = set_reports(
        &app,
        admin,
        json!([{"name": "Weekly completions", "kind": "completions", "cadence": "weekly",
                "format": "json"}]),
        5,
    )
    .await;
    assert_eq!(
        weekly_completions.status,
        StatusCode::OK,
        "{}",
        weekly_completions.body
    );
    let linked = run("Weekly completions", monday).await;
    linked.assert_problem(409, "conflict");
    assert!(
        linked.body["detail"]
            .as_str()
            .unwrap()
            .contains("never overlap"),
        "{}",
        linked.body
    );

    // The cell size is bounded; a kind with no producer yet is refused when run.
    let tiny = set_reports(&app, admin, json!([]), 1).await;
    assert_eq!(tiny.status, StatusCode::BAD_REQUEST, "{}", tiny.body);
    assert!(
        tiny.body["detail"]
            .as_str()
            .unwrap()
            .contains("min_cell_size")
    );
    let billing = set_reports(
        &app,
        admin,
        json!([{"name": "Billing", "kind": "billing_history", "cadence": "monthly",
                "format": "csv"}]),
        5,
    )
    .await;
    assert_eq!(billing.status, StatusCode::OK, "{}", billing.body);
    run("Billing", last_month)
        .await
        .assert_problem(409, "conflict");

    // Reading needs reports:read; producing needs reports:run.
    let reader = app
        .post(
            "/v1/api-keys",
            admin,
            json!({"name": "reader", "scopes": ["reports:read"]}),
        )
        .await;
    assert_eq!(reader.status, StatusCode::CREATED, "{}", reader.body);
    let reader = reader.body["token"].as_str().unwrap().to_string();
    assert_eq!(
        app.get(&format!("/v1/reports/runs/{id}"), &reader)
            .await
            .status,
        StatusCode::OK
    );
    app.post(
        "/v1/reports/runs",
        &reader,
        json!({"report": "Billing", "period_start": last_month.to_string()}),
    )
    .await
    .assert_problem(403, "insufficient_scope");
    // Another institution sees none of it.
    let south = app.create_institution("south").await;
    app.get(&format!("/v1/reports/runs/{id}"), &south.admin_token)
        .await
        .assert_problem(404, "not_found");
}

async fn promise_u5_an_accreditation_report_shows_only_the_fields_the_profile_names(
    backend: Backend,
) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    // Fields are checked against what the records hold.
    for (fields, field) in [
        (json!(["email"]), "reports[0].fields[0]"),
        (json!([]), "reports[0].fields"),
        (json!(["course", "cohort"]), "reports[0].fields[1]"),
    ] {
        let refused = set_reports(
            &app,
            admin,
            json!([{"name": "Accreditation", "kind": "accreditation", "cadence": "daily",
                    "format": "json", "fields": fields}]),
            2,
        )
        .await;
        refused.assert_problem(422, "validation_failed");
        assert_eq!(refused.error_fields(), [field], "{fields}");
    }
    let set = set_reports(
        &app,
        admin,
        json!([
            daily("Accreditation", "accreditation", "json", &["course"]),
            daily("Completions", "completions", "json", &[]),
        ]),
        2,
    )
    .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);

    // Three learners complete a one-lesson course today.
    let id = course(&app, admin, "ACC-1").await;
    let m = module(&app, admin, &id, "Only").await;
    let l = lesson(&app, admin, &m, "The lesson", true).await;
    set_rule(
        &app,
        admin,
        &id,
        json!({"required_lessons": "all_required", "passing_quizzes": []}),
    )
    .await;
    for name in ["ana", "ben", "cai"] {
        let (who, token) = signed_in(&app, &north, name, &["learner"]).await;
        enroll(&app, admin, &id, &who).await;
        let done = mark(&app, &token, &id, &l, "completed").await;
        assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    }
    assert_eq!(run_schedule(&app, tomorrow()).await, 2);

    let accreditation = &todays_run(&app, admin, "Accreditation").await;
    assert_eq!(accreditation["fields"], json!(["course"]));
    let shown = content(&app, admin, accreditation).await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.body);
    // One table: completions per course, and nothing else (no cohort, no time taken).
    let tables = shown.body["tables"].as_array().unwrap();
    assert_eq!(tables.len(), 1, "{}", shown.body);
    assert_eq!(tables[0]["breakdown"], "course");
    assert_eq!(tables[0]["columns"], json!(["records"]));
    assert_eq!(tables[0]["rows"], json!(["ACC-1"]));
    assert_eq!(tables[0]["cells"], json!([[3]]));
    let text = shown.body.to_string();
    for absent in ["cohort", "(no unit)", "under_30_days", "ana"] {
        assert!(!text.contains(absent), "{absent} in {text}");
    }
    // The completions report of the same records shows every table, the same counts.
    let completions = &todays_run(&app, admin, "Completions").await;
    let full = content(&app, admin, completions).await;
    let full = full.body["tables"].as_array().unwrap();
    assert_eq!(
        full.iter()
            .map(|t| t["breakdown"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["course", "cohort"]
    );
    assert_eq!(full[0]["row_totals"], json!([3]));
    assert_eq!(full[0]["columns"][0], "under_30_days");
    assert_eq!(full[1]["rows"], json!(["(no unit)"]));
}

async fn promise_u2_the_usage_report_counts_actions_by_area_and_never_names_an_actor(
    backend: Backend,
) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let set = set_reports(
        &app,
        admin,
        json!([daily("Usage", "usage", "json", &[])]),
        2,
    )
    .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    for i in 0..4 {
        person(&app, &north, &format!("p{i}")).await;
    }
    assert_eq!(run_schedule(&app, tomorrow()).await, 1);
    let usage = &todays_run(&app, admin, "Usage").await;
    let shown = content(&app, admin, usage).await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.body);
    let table = &shown.body["tables"][0];
    assert_eq!(table["breakdown"], "area");
    assert_eq!(
        table["columns"],
        json!(["person", "api_key", "platform", "other"])
    );
    let rows = table["rows"].as_array().unwrap();
    assert_eq!(
        rows,
        &[json!("person"), json!("privacy_profile")],
        "{table}"
    );
    // Four people created and one profile change, all with the admin's API key: five
    // actions, shown in total. The lone profile change is below the cell size (2) and
    // hidden, and so are the four, or 5 − 4 would show it.
    assert_eq!(table["column_totals"][1], 5, "{table}");
    assert_eq!(table["total"], 5);
    assert!(table["cells"][1][1].is_null(), "{table}");
    assert!(table["cells"][0][1].is_null(), "{table}");
    for line in lines(table) {
        assert_ne!(hidden_in(&line), 1, "{line:?}");
    }
    let text = shown.body.to_string();
    assert!(!text.contains("api-key:"), "{text}");
    assert!(!text.contains("person:"), "{text}");
}

async fn promise_d3_scheduled_reports_run_once_across_two_gateways(backend: Backend) {
    // Both gateways run their schedule every second.
    let first = spawn_with(backend, |c| c.deadline_sweep_secs = 1).await;
    let second = spawn_on_same_storage_with(&first, |c| c.deadline_sweep_secs = 1).await;
    let north = first.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let set = set_reports(
        &first,
        admin,
        json!([
            daily("Enrollments", "enrollment_summary", "csv", &[]),
            daily("Usage", "usage", "json", &["area"]),
        ]),
        5,
    )
    .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    // Left to themselves, the two produce yesterday's run of each report, once.
    let yesterday = format!("{}T00:00:00", Utc::now().date_naive() - TimeDelta::days(1));
    for _ in 0..300 {
        if !runs_for(&second, admin, "Enrollments", &yesterday)
            .await
            .is_empty()
            && !runs_for(&second, admin, "Usage", &yesterday)
                .await
                .is_empty()
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // Three more sweeps of each: still one run per report and period.
    tokio::time::sleep(std::time::Duration::from_millis(3_500)).await;
    for name in ["Enrollments", "Usage"] {
        let runs = runs_for(&first, admin, name, &yesterday).await;
        assert_eq!(runs.len(), 1, "{name}: {runs:?}");
        assert_eq!(runs[0]["trigger"], "schedule");
        assert_eq!(runs[0]["cadence"], "daily");
    }
    // Driven at the same moment on both, today's period is produced once between them.
    let clock = tomorrow();
    let (a, b) = tokio::join!(run_schedule(&first, clock), run_schedule(&second, clock));
    assert_eq!(a + b, 2, "each report once between the two: {a} + {b}");
    assert_eq!(run_schedule(&first, clock).await, 0);
    assert_eq!(run_schedule(&second, clock).await, 0);
    for name in ["Enrollments", "Usage"] {
        todays_run(&second, admin, name).await;
    }
}
