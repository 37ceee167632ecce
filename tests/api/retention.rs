//! Retention enforced (S4, D3) and legal holds: the sweeper applies the institution's
//! retention profile through the personal-data sources, legal holds win, every run leaves a
//! proof record, a second run expires nothing, a killed run resumes where it stopped, two
//! gateways on the same storage run each tenant once per due period, and `hub retention
//! run` does it from the command line. Time is driven without sleeping: the profile's
//! periods are 1 day and the test apps run the sweeper 3 days ahead of the wall clock
//! (`retention_clock_offset_secs`), so every deactivated person's contact and identity
//! fields are past their period.

use crate::both_backends;
use crate::keys::live_columns;
use crate::support::{Backend, Institution, TestApp, spawn_on_same_storage_with, spawn_with};
use hub_gateway::config::Config;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

both_backends!(
    promise_s4_a_run_expires_what_is_past_its_period_and_a_second_run_expires_nothing,
    promise_d3_legal_holds_keep_what_they_cover_until_released,
    promise_d3_legal_holds_are_validated_and_need_the_privacy_officer,
    promise_d3_an_erasure_keeps_an_active_hold_exports_it_and_removes_ended_ones,
    promise_s4_two_gateways_run_each_tenant_once_per_due_period,
    promise_s4_every_gateway_sweeps_on_schedule_and_runs_never_overlap,
    promise_s4_a_killed_run_resumes_where_it_stopped,
    promise_s4_hub_retention_run_runs_it_from_the_command_line,
    promise_s4_the_outbox_and_incidents_expire_by_age_queued_mail_and_held_people_stay,
    promise_s4_a_large_expiry_goes_in_batches_and_the_run_counts_every_one,
);

const DAY: i64 = 24 * 3600;

fn aged(c: &mut Config) {
    c.retention_clock_offset_secs = 3 * DAY;
    c.retention_batch_pause_ms = 0;
    c.retention_sweep_secs = 0;
}

async fn app(backend: Backend) -> TestApp {
    spawn_with(backend, aged).await
}

async fn key(app: &TestApp, admin: &str, scopes: Value) -> String {
    let reply = app
        .post(
            "/v1/api-keys",
            admin,
            json!({"name": "scoped key", "scopes": scopes}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body["token"].as_str().unwrap().to_string()
}

/// Contact and identity data kept 1 day (profile revision 2).
async fn short_profile(app: &TestApp, admin: &str) {
    let current = app.get("/v1/privacy-profile", admin).await;
    assert_eq!(current.status, StatusCode::OK, "{}", current.body);
    let mut retention = current.body["retention"].clone();
    retention["contact"]["period_days"] = json!(1);
    retention["identity"]["period_days"] = json!(1);
    let updated = app
        .call_with(
            Method::PUT,
            "/v1/privacy-profile",
            Some(admin),
            Some(json!({"retention": retention, "reports": current.body["reports"].clone()})),
            &[("If-Match", &current.header("etag").unwrap())],
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
}

async fn person(app: &TestApp, admin: &str, name: &str, deactivate: bool) -> String {
    let created = app
        .post(
            "/v1/people",
            admin,
            json!({
                "name": name,
                "username": name.to_lowercase(),
                "email": format!("{}@north.test", name.to_lowercase()),
                "phone": "+441632960961",
                "birth_date": "1990-01-02",
                "roles": ["learner"],
            }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_string();
    if deactivate {
        let current = app.get(&format!("/v1/people/{id}"), admin).await;
        let changed = app
            .call_with(
                Method::PATCH,
                &format!("/v1/people/{id}"),
                Some(admin),
                Some(json!({"status": "deactivated"})),
                &[("If-Match", &current.header("etag").unwrap())],
            )
            .await;
        assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    }
    id
}

/// An institution with the short profile, two deactivated people and one active one.
struct Setup {
    north: Institution,
    ada: String,
    grace: String,
    linus: String,
}

async fn setup(app: &TestApp, slug: &str) -> Setup {
    let north = app.create_institution(slug).await;
    let admin = north.admin_token.clone();
    short_profile(app, &admin).await;
    let ada = person(app, &admin, "Ada", true).await;
    let grace = person(app, &admin, "Grace", true).await;
    let linus = person(app, &admin, "Linus", false).await;
    Setup {
        north,
        ada,
        grace,
        linus,
    }
}

/// Starts a run through the API and follows it to its end.
async fn run_now(app: &TestApp, token: &str) -> Value {
    let started = app
        .call(
            Method::POST,
            "/v1/privacy/retention-runs",
            Some(token),
            None,
        )
        .await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.body);
    let location = started.header("location").unwrap();
    assert_eq!(
        location,
        format!(
            "/v1/privacy/retention-runs/{}",
            started.body["id"].as_str().unwrap()
        )
    );
    finished(app, token, &location).await
}

/// Polls a run until it is no longer running (the run goes on in the background).
async fn finished(app: &TestApp, token: &str, location: &str) -> Value {
    for _ in 0..600 {
        let run = app.get(location, token).await;
        assert_eq!(run.status, StatusCode::OK, "{}", run.body);
        if run.body["state"] != "running" {
            assert_eq!(run.body["state"], "succeeded", "{}", run.body);
            return run.body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the run did not finish");
}

/// Records the people source expired in a run (other sources may expire their own).
fn people_expired(run: &Value) -> u64 {
    run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["source"] == "people")
        .map(|s| s["records"].as_u64().unwrap())
        .sum()
}

fn step<'a>(run: &'a Value, source: &str, category: &str) -> &'a Value {
    run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["source"] == source && s["category"] == category)
        .unwrap_or_else(|| panic!("no step {source}/{category} in {run}"))
}

/// The people's sealed personal columns as stored (raw, past the application): per person
/// id, which of email, phone, username, birth date are still there.
async fn stored_people(app: &TestApp, tenant_id: &str) -> Vec<(String, [bool; 4])> {
    use sea_orm::{ConnectionTrait, Statement};
    let (db, _, prefix) = live_columns(app, tenant_id, "_sealed").await;
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            format!(
                "SELECT id, email_sealed IS NOT NULL AS e, phone_sealed IS NOT NULL AS p, \
                 username_sealed IS NOT NULL AS u, birth_date_sealed IS NOT NULL AS b \
                 FROM {prefix}people"
            ),
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| {
            let id: uuid::Uuid = r.try_get("", "id").unwrap();
            let flag = |c: &str| r.try_get::<bool>("", c).unwrap();
            (id.to_string(), [flag("e"), flag("p"), flag("u"), flag("b")])
        })
        .collect()
}

fn fields_of(stored: &[(String, [bool; 4])], id: &str) -> [bool; 4] {
    stored.iter().find(|(p, _)| p == id).unwrap().1
}

async fn promise_s4_a_run_expires_what_is_past_its_period_and_a_second_run_expires_nothing(
    backend: Backend,
) {
    let app = app(backend).await;
    let s = setup(&app, "north").await;
    let admin = s.north.admin_token.as_str();
    let officer = key(&app, admin, json!(["privacy:manage"])).await;
    let reader = key(&app, admin, json!(["people:read"])).await;
    let auditor = key(&app, admin, json!(["audit:read"])).await;

    // Neither a run nor the records without privacy:manage or tenant:admin.
    app.call(
        Method::POST,
        "/v1/privacy/retention-runs",
        Some(&reader),
        None,
    )
    .await
    .assert_problem(403, "insufficient_scope");
    app.get("/v1/privacy/retention-runs", &reader)
        .await
        .assert_problem(403, "insufficient_scope");

    let run = run_now(&app, &officer).await;
    assert_eq!(run["trigger"], "request");
    assert_eq!(run["profile_revision"], 2);
    assert!(run["finished_at"].is_string(), "{run}");
    assert_eq!(run["steps_done"], run["steps_total"]);
    // The run applied the profile 3 days ahead: the cutoff is as_of minus 1 day.
    let as_of: chrono::DateTime<chrono::Utc> = run["as_of"].as_str().unwrap().parse().unwrap();
    assert!(
        as_of > chrono::Utc::now() + chrono::Duration::days(2),
        "{run}"
    );
    let contact = step(&run, "people", "contact");
    let cutoff: chrono::DateTime<chrono::Utc> =
        contact["cutoff"].as_str().unwrap().parse().unwrap();
    assert_eq!(as_of - cutoff, chrono::Duration::days(1));
    assert_eq!(contact["period_days"], 1);
    assert_eq!(contact["action"], "delete");
    assert_eq!(contact["outcome"], "anonymised", "{run}");
    assert_eq!(contact["records"], 2, "{run}");
    let identity = step(&run, "people", "identity");
    assert_eq!(identity["records"], 2, "{run}");
    // A source that keeps its data for another reason says why.
    let contacts = step(&run, "contacts", "contact");
    assert_eq!(contacts["outcome"], "not_applicable");
    assert!(contacts["reason"].as_str().unwrap().contains("institution"));
    assert_eq!(people_expired(&run), 4, "{run}");
    assert!(run["records_expired"].as_u64().unwrap() >= 4, "{run}");

    // The expired fields are gone from the table itself; the active person keeps theirs.
    let stored = stored_people(&app, &s.north.id).await;
    assert_eq!(fields_of(&stored, &s.ada), [false; 4]);
    assert_eq!(fields_of(&stored, &s.grace), [false; 4]);
    assert_eq!(fields_of(&stored, &s.linus), [true; 4]);
    let ada = app.get(&format!("/v1/people/{}", s.ada), admin).await;
    assert_eq!(ada.body["name"], "Ada");
    assert!(ada.body["email"].is_null(), "{}", ada.body);

    // A second run (the institution's admin may start one too) finds nothing left.
    let again = run_now(&app, admin).await;
    assert_eq!(again["records_expired"], 0, "{again}");
    assert_ne!(again["id"], run["id"]);

    // Both proof records are listed, newest first, and each can be read.
    let list = app.get("/v1/privacy/retention-runs", &officer).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    let ids: Vec<&Value> = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["id"])
        .collect();
    assert_eq!(ids, [&again["id"], &run["id"]]);
    app.get(
        &format!("/v1/privacy/retention-runs/{}", uuid::Uuid::now_v7()),
        &officer,
    )
    .await
    .assert_problem(404, "not_found");

    // The runs are in the audit trail, and the trail still verifies.
    let events = app
        .get(
            "/v1/audit/events?limit=200&action=retention.run_finished",
            &auditor,
        )
        .await;
    assert_eq!(events.status, StatusCode::OK, "{}", events.body);
    assert_eq!(events.body["items"].as_array().unwrap().len(), 2);
    let verified = app.get("/v1/audit/verification", &auditor).await;
    assert_eq!(verified.body["intact"], true, "{}", verified.body);
}

async fn hold(app: &TestApp, officer: &str, body: Value) -> Value {
    let reply = app.post("/v1/privacy/legal-holds", officer, body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(
        reply.header("location").unwrap(),
        format!(
            "/v1/privacy/legal-holds/{}",
            reply.body["id"].as_str().unwrap()
        )
    );
    reply.body
}

fn in_days(days: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::days(days)).to_rfc3339()
}

async fn promise_d3_legal_holds_keep_what_they_cover_until_released(backend: Backend) {
    let app = app(backend).await;
    let s = setup(&app, "north").await;
    let admin = s.north.admin_token.as_str();
    let officer = key(&app, admin, json!(["privacy:manage"])).await;
    let auditor = key(&app, admin, json!(["audit:read"])).await;

    // Ada's contact data is held; the whole institution's identity data is held.
    let on_ada = hold(
        &app,
        &officer,
        json!({"person_id": s.ada, "categories": ["contact"],
               "reason": "Grade appeal, case 2026-114", "ends_at": in_days(30)}),
    )
    .await;
    assert_eq!(on_ada["active"], true);
    assert_eq!(on_ada["categories"], json!(["contact"]));
    assert!(on_ada["set_by"].as_str().unwrap().starts_with("api-key:"));
    let everyone = hold(
        &app,
        &officer,
        json!({"categories": ["identity"], "reason": "Regulator's inquiry", "ends_at": in_days(30)}),
    )
    .await;
    assert!(everyone["person_id"].is_null());

    let run = run_now(&app, &officer).await;
    let contact = step(&run, "people", "contact");
    assert_eq!(contact["records"], 1, "only Grace's: {run}");
    assert_eq!(contact["held_people"], 1, "{run}");
    let identity = step(&run, "people", "identity");
    assert_eq!(identity["outcome"], "skipped_by_hold", "{run}");
    assert_eq!(identity["records"], 0);
    let stored = stored_people(&app, &s.north.id).await;
    assert_eq!(fields_of(&stored, &s.ada), [true; 4], "held");
    assert_eq!(fields_of(&stored, &s.grace), [false, false, true, true]);

    // Released early, with a reason: the next run reaches what it kept.
    let release = format!(
        "/v1/privacy/legal-holds/{}/release",
        on_ada["id"].as_str().unwrap()
    );
    let released = app
        .post(&release, &officer, json!({"reason": "Appeal withdrawn"}))
        .await;
    assert_eq!(released.status, StatusCode::OK, "{}", released.body);
    assert_eq!(released.body["active"], false);
    assert_eq!(released.body["release_reason"], "Appeal withdrawn");
    assert!(released.body["released_at"].is_string());
    app.post(&release, &officer, json!({"reason": "Again"}))
        .await
        .assert_problem(409, "conflict");
    let everyone_release = format!(
        "/v1/privacy/legal-holds/{}/release",
        everyone["id"].as_str().unwrap()
    );
    let released = app
        .post(
            &everyone_release,
            &officer,
            json!({"reason": "Inquiry closed"}),
        )
        .await;
    assert_eq!(released.status, StatusCode::OK, "{}", released.body);

    let run = run_now(&app, &officer).await;
    assert_eq!(step(&run, "people", "contact")["records"], 1, "{run}");
    assert_eq!(step(&run, "people", "identity")["records"], 2, "{run}");
    let stored = stored_people(&app, &s.north.id).await;
    assert_eq!(fields_of(&stored, &s.ada), [false; 4]);
    assert_eq!(fields_of(&stored, &s.linus), [true; 4]);

    // Listed newest first; only the active ones on request; each can be read.
    let all = app.get("/v1/privacy/legal-holds", &officer).await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.body);
    let ids: Vec<&Value> = all.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| &h["id"])
        .collect();
    assert_eq!(ids, [&everyone["id"], &on_ada["id"]]);
    let active = app
        .get("/v1/privacy/legal-holds?active=true", &officer)
        .await;
    assert_eq!(active.body["items"], json!([]));
    let one = app
        .get(
            &format!("/v1/privacy/legal-holds/{}", on_ada["id"].as_str().unwrap()),
            &officer,
        )
        .await;
    assert_eq!(one.status, StatusCode::OK);
    assert_eq!(one.body["reason"], "Grade appeal, case 2026-114");

    // Setting and releasing are audited.
    for action in ["legal_hold.set", "legal_hold.released"] {
        let events = app
            .get(
                &format!("/v1/audit/events?limit=50&action={action}"),
                &auditor,
            )
            .await;
        assert_eq!(
            events.body["items"].as_array().unwrap().len(),
            2,
            "{action}"
        );
    }
}

async fn promise_d3_legal_holds_are_validated_and_need_the_privacy_officer(backend: Backend) {
    let app = app(backend).await;
    let s = setup(&app, "north").await;
    let admin = s.north.admin_token.as_str();
    let officer = key(&app, admin, json!(["privacy:manage"])).await;
    let reader = key(&app, admin, json!(["people:read"])).await;
    let body = json!({"person_id": s.ada, "reason": "Appeal", "ends_at": in_days(3)});

    app.post("/v1/privacy/legal-holds", &reader, body.clone())
        .await
        .assert_problem(403, "insufficient_scope");
    app.get("/v1/privacy/legal-holds", &reader)
        .await
        .assert_problem(403, "insufficient_scope");

    let bad = app
        .post(
            "/v1/privacy/legal-holds",
            &officer,
            json!({"person_id": uuid::Uuid::now_v7(), "reason": "  ",
                   "ends_at": in_days(-1)}),
        )
        .await;
    bad.assert_problem(422, "validation_failed");
    assert_eq!(bad.error_fields(), ["reason", "ends_at", "person_id"]);
    let twice = app
        .post(
            "/v1/privacy/legal-holds",
            &officer,
            json!({"categories": ["contact", "contact"], "reason": "x", "ends_at": in_days(1)}),
        )
        .await;
    twice.assert_problem(422, "validation_failed");
    assert_eq!(twice.error_fields(), ["categories[1]"]);
    let unknown = app
        .post(
            "/v1/privacy/legal-holds",
            &officer,
            json!({"reason": "x", "ends_at": in_days(1), "shoe_size": 9}),
        )
        .await;
    assert!(unknown.status.is_client_error(), "{}", unknown.body);
    // Nothing was set.
    let listed = app.get("/v1/privacy/legal-holds", &officer).await;
    assert_eq!(listed.body["items"], json!([]));

    // Another institution's hold is not found here.
    let south = app.create_institution("south").await;
    let theirs = hold(
        &app,
        &south.admin_token,
        json!({"reason": "South's matter", "ends_at": in_days(2)}),
    )
    .await;
    let path = format!("/v1/privacy/legal-holds/{}", theirs["id"].as_str().unwrap());
    app.get(&path, &officer)
        .await
        .assert_problem(404, "not_found");
    app.post(
        &format!("{path}/release"),
        &officer,
        json!({"reason": "not mine"}),
    )
    .await
    .assert_problem(404, "not_found");
    let _ = (s.grace, s.linus);
}

/// Every run of the institution, through the API. Two processes on one SQLite file (only
/// these tests run the embedded default that way) can answer 503 `storage_unavailable` with
/// `Retry-After` while the other process writes: a client retries it, and so does this.
async fn runs_of(app: &TestApp, admin: &str) -> Vec<Value> {
    for _ in 0..20 {
        let list = app.get("/v1/privacy/retention-runs", admin).await;
        if list.status == StatusCode::SERVICE_UNAVAILABLE
            && list.body["code"] == "storage_unavailable"
        {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        assert_eq!(list.status, StatusCode::OK, "{}", list.body);
        return list.body["items"].as_array().unwrap().clone();
    }
    panic!("the runs stayed unavailable for about 4 s");
}

async fn promise_s4_two_gateways_run_each_tenant_once_per_due_period(backend: Backend) {
    let first = spawn_with(backend, |c| {
        aged(c);
        c.retention_sweep_secs = 3600;
    })
    .await;
    let north = setup(&first, "north").await;
    let south = setup(&first, "south").await;
    // PostgreSQL: a second gateway on the same database, Redis and key. SQLite (one process
    // per data directory): two sweeps in the same gateway.
    let second = match backend {
        Backend::Postgres => Some(spawn_on_same_storage_with(&first, |_| {}).await),
        Backend::Sqlite => None,
    };
    let other = second.as_ref().unwrap_or(&first);

    let (a, b) = tokio::join!(
        first.state.privacy.sweep_due_tenants(),
        other.state.privacy.sweep_due_tenants()
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(a.failed.is_empty() && b.failed.is_empty(), "{a:?} {b:?}");
    assert_eq!(
        a.runs.len() + b.runs.len(),
        2,
        "one run per tenant: {a:?} {b:?}"
    );
    for s in [&north, &south] {
        let runs = runs_of(&first, &s.north.admin_token).await;
        assert_eq!(runs.len(), 1, "{runs:?}");
        assert_eq!(runs[0]["trigger"], "schedule");
        assert_eq!(runs[0]["state"], "succeeded");
        assert_eq!(people_expired(&runs[0]), 4, "nothing expired twice");
        let stored = stored_people(&first, &s.north.id).await;
        assert_eq!(fields_of(&stored, &s.ada), [false; 4]);
    }

    // The period is not due again: both gateways sweep and nothing runs.
    let (a, b) = tokio::join!(
        first.state.privacy.sweep_due_tenants(),
        other.state.privacy.sweep_due_tenants()
    );
    assert!(a.unwrap().runs.is_empty());
    assert!(b.unwrap().runs.is_empty());
    for s in [&north, &south] {
        assert_eq!(runs_of(&first, &s.north.admin_token).await.len(), 1);
    }
}

async fn promise_s4_every_gateway_sweeps_on_schedule_and_runs_never_overlap(backend: Backend) {
    // The background loops themselves, due every second: whatever their interleaving, runs
    // of a tenant never overlap and nothing is expired twice.
    let first = spawn_with(backend, aged).await;
    let s = setup(&first, "north").await;
    let admin = s.north.admin_token.clone();
    let every_second = |c: &mut Config| c.retention_sweep_secs = 1;
    let second = spawn_on_same_storage_with(&first, every_second).await;
    let third = match backend {
        Backend::Postgres => Some(spawn_on_same_storage_with(&first, every_second).await),
        Backend::Sqlite => None,
    };
    let mut runs = Vec::new();
    for _ in 0..600 {
        runs = runs_of(&second, &admin).await;
        if runs.len() >= 2 && runs.iter().all(|r| r["state"] == "succeeded") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(runs.len() >= 2, "{runs:?}");
    drop(third);
    let total: u64 = runs.iter().map(people_expired).sum();
    assert_eq!(total, 4, "each record expired once: {runs:?}");
    let stored = stored_people(&first, &s.north.id).await;
    assert_eq!(fields_of(&stored, &s.ada), [false; 4]);
    let mut spans: Vec<(String, String)> = runs
        .iter()
        .filter(|r| r["state"] == "succeeded")
        .map(|r| {
            assert_eq!(r["trigger"], "schedule");
            (
                r["started_at"].as_str().unwrap().to_string(),
                r["finished_at"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    spans.sort();
    for pair in spans.windows(2) {
        let end: chrono::DateTime<chrono::Utc> = pair[0].1.parse().unwrap();
        let next: chrono::DateTime<chrono::Utc> = pair[1].0.parse().unwrap();
        assert!(end <= next, "runs overlap: {spans:?}");
    }
}

async fn promise_s4_a_killed_run_resumes_where_it_stopped(backend: Backend) {
    // The first process "dies" after one step, its lease lapsing at once.
    let first = spawn_with(backend, |c| {
        aged(c);
        c.retention_stop_after_steps = 1;
        c.retention_lease_secs = 0;
    })
    .await;
    let s = setup(&first, "north").await;
    let admin = s.north.admin_token.as_str();
    let started = first
        .call(
            Method::POST,
            "/v1/privacy/retention-runs",
            Some(admin),
            None,
        )
        .await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.body);
    let location = started.header("location").unwrap();
    let total = started.body["steps_total"].as_u64().unwrap();
    assert!(total >= 3, "{}", started.body);
    let mut stopped = Value::Null;
    for _ in 0..600 {
        stopped = first.get(&location, admin).await.body;
        if stopped["steps_done"] == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(stopped["steps_done"], 1, "{stopped}");
    assert_eq!(stopped["state"], "running");

    // Another process takes the lapsed lease and finishes the same run.
    let second = spawn_on_same_storage_with(&first, |c| {
        c.retention_stop_after_steps = 0;
        c.retention_lease_secs = 60;
    })
    .await;
    let resumed = second
        .call(
            Method::POST,
            "/v1/privacy/retention-runs",
            Some(admin),
            None,
        )
        .await;
    assert_eq!(resumed.status, StatusCode::ACCEPTED, "{}", resumed.body);
    assert_eq!(resumed.body["id"], started.body["id"]);
    let run = finished(&second, admin, &location).await;
    assert_eq!(run["steps_done"], total);
    assert_eq!(people_expired(&run), 4, "each step once: {run}");
    let stored = stored_people(&second, &s.north.id).await;
    assert_eq!(fields_of(&stored, &s.grace), [false; 4]);
    assert_eq!(runs_of(&second, admin).await.len(), 1);
}

async fn promise_s4_hub_retention_run_runs_it_from_the_command_line(backend: Backend) {
    let app = app(backend).await;
    let s = setup(&app, "north").await;
    let other = app.create_institution("south").await;
    let config = &app.state.config;
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_hub"));
    command
        .args(["retention", "run", "--tenant", "north"])
        .env_clear()
        .current_dir(app.data_dir())
        .env("HUB_CONFIG", app.data_dir().join("no-such-hub.toml"))
        .env("HUB_DATA_DIR", app.data_dir())
        .env("HUB_RETENTION_CLOCK_OFFSET_SECS", (3 * DAY).to_string())
        .env("HUB_RETENTION_BATCH_PAUSE_MS", "0")
        .env(
            "HUB_KEK",
            config.kek.as_ref().map(hub_kernel::Secret::expose).unwrap(),
        );
    if let Some(url) = &app.database_url {
        command.env("DATABASE_URL", url);
    }
    if let Some(url) = &config.redis_url {
        command.env("REDIS_URL", url);
    }
    let output = command.output().await.expect("the hub binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("north: run") && stdout.contains("record(s) expired"),
        "{stdout}"
    );
    // Without a terminal the progress is plain lines on standard error.
    assert!(stderr.contains("steps"), "{stderr}");

    let runs = runs_of(&app, &s.north.admin_token).await;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["trigger"], "command_line");
    assert_eq!(people_expired(&runs[0]), 4);
    assert!(runs_of(&app, &other.admin_token).await.is_empty());
    let stored = stored_people(&app, &s.north.id).await;
    assert_eq!(fields_of(&stored, &s.ada), [false; 4]);
}

async fn promise_d3_an_erasure_keeps_an_active_hold_exports_it_and_removes_ended_ones(
    backend: Backend,
) {
    use hub_tenant::Principal;
    use hub_tenant::personal_data::{DataSubject, Outcome, sources};
    let app = app(backend).await;
    let s = setup(&app, "north").await;
    let admin = s.north.admin_token.as_str();
    let on_ada = hold(
        &app,
        admin,
        json!({"person_id": s.ada, "reason": "Appeal", "ends_at": in_days(30)}),
    )
    .await;
    let everyone = hold(
        &app,
        admin,
        json!({"categories": ["learning"], "reason": "Accreditation audit", "ends_at": in_days(9)}),
    )
    .await;
    let on_grace = hold(
        &app,
        admin,
        json!({"person_id": s.grace, "reason": "Complaint", "ends_at": in_days(30)}),
    )
    .await;
    let released = app
        .post(
            &format!(
                "/v1/privacy/legal-holds/{}/release",
                on_grace["id"].as_str().unwrap()
            ),
            admin,
            json!({"reason": "Complaint settled"}),
        )
        .await;
    assert_eq!(released.status, StatusCode::OK, "{}", released.body);

    let Principal::Tenant(principal) = app.state.tenancy.authenticate(admin).await.unwrap() else {
        panic!("not a tenant key");
    };
    let holds = sources()
        .into_iter()
        .find(|s| s.name() == "legal_holds")
        .expect("the legal holds are a registered source");
    assert_eq!(holds.tables(), ["legal_holds"]);
    let scope = app.state.tenancy.scope(&principal).await.unwrap();
    // What keeps Ada's data: her hold and the institution's, not Grace's.
    let keeping: Vec<String> =
        hub_privacy_addenda::holds::on_person(&scope, s.ada.parse().unwrap(), chrono::Utc::now())
            .await
            .unwrap()
            .iter()
            .map(|h| h.id.to_string())
            .collect();
    assert_eq!(
        keeping,
        [
            on_ada["id"].as_str().unwrap(),
            everyone["id"].as_str().unwrap()
        ]
    );
    let ada = DataSubject::person(s.ada.parse().unwrap(), Vec::new());
    let grace = DataSubject::person(s.grace.parse().unwrap(), Vec::new());
    // The export lists the person's own holds, with why and until when.
    let exported = holds.export(&scope, &ada).await.unwrap();
    assert_eq!(exported.len(), 1);
    assert_eq!(exported[0]["id"], on_ada["id"]);
    assert_eq!(exported[0]["reason"], "Appeal");
    assert_eq!(holds.summary(&scope, &grace).await.unwrap().records, 1);
    // An active hold is what an erasure must not remove; an ended one goes.
    assert!(matches!(
        holds.erase(&scope, &ada).await.unwrap(),
        Outcome::NotApplicable { reason } if reason.contains("legal hold")
    ));
    assert_eq!(
        holds.erase(&scope, &grace).await.unwrap(),
        Outcome::Deleted { records: 1 }
    );
    assert_eq!(
        holds.erase(&scope, &grace).await.unwrap(),
        Outcome::Deleted { records: 0 }
    );
    scope.commit().await.unwrap();
    let listed = app.get("/v1/privacy/legal-holds", admin).await;
    let ids: Vec<&Value> = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| &h["id"])
        .collect();
    assert_eq!(ids, [&everyone["id"], &on_ada["id"]]);
}

const PASSWORD: &str = "meadow-kettle-orbit-42";

/// The outbox as stored: `(person id, status)` per message.
async fn stored_outbox(app: &TestApp, tenant_id: &str) -> Vec<(String, String)> {
    use sea_orm::{ConnectionTrait, Statement};
    let (db, _, prefix) = live_columns(app, tenant_id, "_sealed").await;
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            format!("SELECT person_id, status FROM {prefix}outbox"),
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| {
            let person: Option<uuid::Uuid> = r.try_get("", "person_id").unwrap();
            let status: String = r.try_get("", "status").unwrap();
            (person.map(|p| p.to_string()).unwrap_or_default(), status)
        })
        .collect()
}

/// The password resets as stored: `(person id, used)` per code.
async fn stored_resets(app: &TestApp, tenant_id: &str) -> Vec<(String, bool)> {
    use sea_orm::{ConnectionTrait, Statement};
    let (db, _, prefix) = live_columns(app, tenant_id, "_sealed").await;
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            format!("SELECT person_id, used_at IS NOT NULL AS used FROM {prefix}password_resets"),
        ))
        .await
        .unwrap();
    let mut resets: Vec<(String, bool)> = rows
        .iter()
        .map(|r| {
            let person: uuid::Uuid = r.try_get("", "person_id").unwrap();
            let used: bool = r.try_get("", "used").unwrap();
            (person.to_string(), used)
        })
        .collect();
    resets.sort();
    resets
}

/// One incident as stored.
#[derive(Debug, Clone, PartialEq)]
struct StoredIncident {
    person_id: String,
    resolved_by: Option<String>,
    description: bool,
}

async fn stored_incident(app: &TestApp, tenant_id: &str, id: &str) -> StoredIncident {
    use sea_orm::{ConnectionTrait, Statement};
    let (db, _, prefix) = live_columns(app, tenant_id, "_sealed").await;
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            format!(
                "SELECT id, person_id, resolved_by, description_sealed IS NOT NULL AS d \
                 FROM {prefix}incidents"
            ),
        ))
        .await
        .unwrap();
    let row = rows
        .iter()
        .find(|r| r.try_get::<uuid::Uuid>("", "id").unwrap().to_string() == id)
        .unwrap();
    StoredIncident {
        person_id: row
            .try_get::<uuid::Uuid>("", "person_id")
            .unwrap()
            .to_string(),
        resolved_by: row.try_get("", "resolved_by").unwrap(),
        description: row.try_get("", "d").unwrap(),
    }
}

/// A person with a password, signed in: `(id, session token)`.
async fn signed_in(app: &TestApp, inst: &Institution, name: &str, role: &str) -> (String, String) {
    use crate::passwords::{request_reset, reset, reset_code, sign_in};
    let email = format!("{}@north.test", name.to_lowercase());
    let created = app
        .post(
            "/v1/people",
            &inst.admin_token,
            json!({"name": name, "email": email, "roles": [role]}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_string();
    request_reset(app, &inst.slug, &email).await;
    let code = reset_code(app, inst, &id).await;
    let done = reset(app, &inst.slug, &code, PASSWORD).await;
    assert_eq!(done.status, StatusCode::NO_CONTENT, "{}", done.body);
    let session = sign_in(app, &inst.slug, &email, PASSWORD).await;
    assert_eq!(session.status, StatusCode::OK, "{}", session.body);
    let token = session.body["session_token"].as_str().unwrap().to_string();
    (id, token)
}

async fn report(app: &TestApp, token: &str, description: &str) -> String {
    let reply = app
        .post(
            "/v1/me/compromise-report",
            token,
            json!({"description": description}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body["incident_id"].as_str().unwrap().to_string()
}

async fn resolve(app: &TestApp, token: &str, incident: &str) {
    let reply = app
        .call(
            Method::POST,
            &format!("/v1/incidents/{incident}/resolve"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

/// Delivers every due message (as the background job does, which this app runs only hourly).
async fn deliver_all(app: &TestApp, inst: &Institution) {
    for _ in 0..20 {
        app.state.identity.deliver_due_mail().await.unwrap();
        let stored = stored_outbox(app, &inst.id).await;
        if stored.iter().all(|(_, status)| status == "sent") {
            return;
        }
    }
    panic!(
        "mail not delivered: {:?}",
        stored_outbox(app, &inst.id).await
    );
}

/// The outbox and incidents by age (S4): past the contact period, messages whose delivery
/// is over are deleted and a queued one is kept whatever its age; past the technical period,
/// a resolved incident is kept as evidence but made anonymous (no description, a pseudonym
/// for the reporter and for the person who resolved it), an open one is left; a legal hold
/// keeps its person's messages and incidents. Used password-reset codes expire with
/// identity data (a source without classified fields still says which categories it
/// expires). A second run expires nothing.
async fn promise_s4_the_outbox_and_incidents_expire_by_age_queued_mail_and_held_people_stay(
    backend: Backend,
) {
    let app = spawn_with(backend, |c| {
        aged(c);
        c.mail_poll_secs = 3600;
    })
    .await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    short_profile(&app, admin).await;
    let current = app.get("/v1/privacy-profile", admin).await;
    let mut retention = current.body["retention"].clone();
    retention["technical"]["period_days"] = json!(1);
    let updated = app
        .call_with(
            Method::PUT,
            "/v1/privacy-profile",
            Some(admin),
            Some(json!({"retention": retention, "reports": current.body["reports"].clone()})),
            &[("If-Match", &current.header("etag").unwrap())],
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    app.allow_local_accounts(admin).await;
    let officer = key(&app, admin, json!(["privacy:manage"])).await;

    // Ada and Grace report compromises; Linus, an admin, resolves both and reports his own,
    // which stays open. Every message so far is sent; then Ada asks for a reset code, which
    // stays queued. Grace is under a legal hold.
    let (ada, ada_session) = signed_in(&app, &north, "Ada", "learner").await;
    let (grace, grace_session) = signed_in(&app, &north, "Grace", "learner").await;
    let (linus, linus_session) = signed_in(&app, &north, "Linus", "tenant_admin").await;
    let of_ada = report(&app, &ada_session, "my laptop was stolen at Bob's").await;
    let of_grace = report(&app, &grace_session, "a stranger knew my password").await;
    resolve(&app, &linus_session, &of_ada).await;
    resolve(&app, &linus_session, &of_grace).await;
    let of_linus = report(&app, &linus_session, "an odd sign-in alert").await;
    deliver_all(&app, &north).await;
    crate::passwords::request_reset(&app, &north.slug, "ada@north.test").await;
    hold(
        &app,
        &officer,
        json!({"person_id": grace, "categories": ["contact", "technical"],
               "reason": "Complaint 2026-7", "ends_at": in_days(30)}),
    )
    .await;

    let before = stored_outbox(&app, &north.id).await;
    let expiring = |(person, status): &(String, String)| status == "sent" && *person != grace;
    let expected_deleted = before.iter().filter(|&m| expiring(m)).count() as u64;
    assert!(expected_deleted >= 3, "{before:?}");
    assert!(
        before.iter().any(|(p, s)| *p == ada && s == "queued"),
        "{before:?}"
    );
    assert!(before.iter().any(|(p, _)| *p == grace), "{before:?}");
    let grace_incident = stored_incident(&app, &north.id, &of_grace).await;
    let linus_incident = stored_incident(&app, &north.id, &of_linus).await;
    assert_eq!(
        stored_incident(&app, &north.id, &of_ada).await,
        StoredIncident {
            person_id: ada.clone(),
            resolved_by: Some(format!("person:{linus}")),
            description: true,
        }
    );

    // Each of the three used a reset code to set a password; Ada's second code is unused.
    let resets = stored_resets(&app, &north.id).await;
    assert_eq!(
        resets.iter().filter(|(_, used)| *used).count(),
        3,
        "{resets:?}"
    );
    assert!(resets.contains(&(ada.clone(), false)), "{resets:?}");

    let run = run_now(&app, &officer).await;
    // Used reset codes name the person who asked: they age out as identity data (the hold
    // covers contact and technical data, not identity); the unused one is still live.
    let local = step(&run, "local_accounts", "identity");
    assert_eq!(local["outcome"], "deleted", "{run}");
    assert_eq!(local["records"], 3, "{run}");
    assert_eq!(
        stored_resets(&app, &north.id).await,
        vec![(ada.clone(), false)]
    );
    let outbox = step(&run, "outbox", "contact");
    assert_eq!(outbox["outcome"], "deleted", "{run}");
    assert_eq!(outbox["records"], expected_deleted, "{run}");
    assert_eq!(outbox["held_people"], 1, "{run}");
    let incidents = step(&run, "incidents", "technical");
    assert_eq!(incidents["outcome"], "anonymised", "{run}");
    assert_eq!(incidents["records"], 1, "{run}");

    // What is left of the outbox: the queued message and Grace's.
    let after = stored_outbox(&app, &north.id).await;
    let mut kept: Vec<_> = before.iter().filter(|&m| !expiring(m)).cloned().collect();
    let mut left = after.clone();
    kept.sort();
    left.sort();
    assert_eq!(left, kept);
    // Ada's incident is still there, naming nobody and saying nothing personal.
    let anonymous = stored_incident(&app, &north.id, &of_ada).await;
    assert!(!anonymous.description, "{anonymous:?}");
    assert_ne!(anonymous.person_id, ada);
    let found = app
        .get(&format!("/v1/people/{}", anonymous.person_id), admin)
        .await;
    found.assert_problem(404, "person_not_found");
    assert!(
        anonymous
            .resolved_by
            .as_deref()
            .unwrap()
            .starts_with("pseudonym:"),
        "{anonymous:?}"
    );
    let read = app.get(&format!("/v1/incidents/{of_ada}"), admin).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    assert_eq!(read.body["status"], "resolved");
    assert!(read.body["description"].is_null(), "{}", read.body);
    // The held person's incident and the open one are as they were.
    assert_eq!(
        stored_incident(&app, &north.id, &of_grace).await,
        grace_incident
    );
    assert_eq!(
        stored_incident(&app, &north.id, &of_linus).await,
        linus_incident
    );

    // A second run finds nothing more.
    let again = run_now(&app, &officer).await;
    assert_eq!(step(&again, "outbox", "contact")["records"], 0, "{again}");
    assert_eq!(
        step(&again, "incidents", "technical")["records"],
        0,
        "{again}"
    );
    assert_eq!(stored_outbox(&app, &north.id).await.len(), after.len());
}

/// `(entries up to now, the last entry's seq)` of the audit trail that still hold an IP.
async fn stored_ips(app: &TestApp, tenant_id: &str, up_to: Option<i64>) -> (u64, i64) {
    use sea_orm::{ConnectionTrait, Statement};
    let (db, _, prefix) = live_columns(app, tenant_id, "_sealed").await;
    let bound = up_to.map(|s| format!("AND seq <= {s}")).unwrap_or_default();
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            format!(
                "SELECT COUNT(*) AS n, MAX(seq) AS last FROM {prefix}audit_events \
                 WHERE ip_address_sealed IS NOT NULL {bound}"
            ),
        ))
        .await
        .unwrap()
        .unwrap();
    let last: Option<i64> = row.try_get("", "last").unwrap();
    (
        row.try_get::<i64>("", "n").unwrap() as u64,
        last.unwrap_or(0),
    )
}

/// More than one batch of expiry (`EXPIRE_BATCH`) in one source: the sweeper calls the
/// source again after each full batch, each batch its own transaction, and the step counts
/// them all; nothing past the cutoff is left.
async fn promise_s4_a_large_expiry_goes_in_batches_and_the_run_counts_every_one(backend: Backend) {
    let batch = hub_tenant::personal_data::EXPIRE_BATCH;
    let app = app(backend).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let current = app.get("/v1/privacy-profile", admin).await;
    let mut retention = current.body["retention"].clone();
    retention["technical"]["period_days"] = json!(1);
    let updated = app
        .call_with(
            Method::PUT,
            "/v1/privacy-profile",
            Some(admin),
            Some(json!({"retention": retention, "reports": current.body["reports"].clone()})),
            &[("If-Match", &current.header("etag").unwrap())],
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    let officer = key(&app, admin, json!(["privacy:manage"])).await;
    // Every read of a person is an audited entry with the client's IP.
    let ada = person(&app, admin, "Ada", false).await;
    let path = format!("/v1/people/{ada}");
    for _ in 0..batch.div_ceil(50) + 1 {
        let reads = futures::future::join_all((0..50).map(|_| app.get(&path, admin))).await;
        assert!(reads.iter().all(|r| r.status == StatusCode::OK));
    }
    let (before, last) = stored_ips(&app, &north.id, None).await;

    let run = run_now(&app, &officer).await;
    let audit = step(&run, "audit_events", "technical");
    assert_eq!(audit["outcome"], "anonymised", "{run}");
    // Entries the run's own requests added meanwhile are past the cutoff too.
    let records = audit["records"].as_u64().unwrap();
    assert!(records >= before && before > batch, "{records} of {before}");
    assert_eq!(stored_ips(&app, &north.id, Some(last)).await.0, 0);
    let again = run_now(&app, &officer).await;
    assert!(
        step(&again, "audit_events", "technical")["records"]
            .as_u64()
            .unwrap()
            < batch,
        "{again}"
    );
}
