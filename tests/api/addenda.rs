//! A2: an institution's privacy addendum is versioned, drafted and accepted by a tenant admin
//! with an effective date, its history kept and one version in force at a time; and the
//! runtime refuses to break each duty where the mechanism exists: the retention profile
//! (maximum per category, required reports), residency (the institution's cluster), the
//! incident clock (the breach notification window). The record of processing (GDPR Art. 30)
//! is generated from the stores' declarations, the profile and the addendum, as JSON and
//! CSV.

// Test code: a failed unwrap is a failed test with its reason, which is what we want.

use crate::both_backends;
use crate::passwords::{request_reset, reset, reset_code, sign_in};
use crate::support::{Backend, Institution, Reply, TestApp, create_database_on, spawn, spawn_with};
use chrono::{DateTime, Duration, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

both_backends!(
    promise_a2_addenda_are_versioned_accepted_by_an_admin_and_one_is_in_force,
    promise_a2_d3_the_profile_cannot_break_the_addendum_retention_or_reports,
    promise_a2_residency_refuses_a_cluster_the_addendum_does_not_allow,
    promise_a2_the_incident_clock_runs_on_the_addendum_breach_window,
    promise_a2_d3_the_record_of_processing_matches_the_declarations,
    promise_a2_r6_a_shorter_request_deadline_in_the_addendum_sets_the_due_date
);

const PASSWORD: &str = "meadow-kettle-orbit-42";

async fn draft(app: &TestApp, token: &str, duties: Value) -> Reply {
    app.post(
        "/v1/privacy/addenda",
        token,
        json!({"duties": duties, "summary": "Data processing addendum"}),
    )
    .await
}

async fn accept(app: &TestApp, token: &str, version: i64, body: Value) -> Reply {
    app.post(
        &format!("/v1/privacy/addenda/{version}/acceptance"),
        token,
        body,
    )
    .await
}

/// Drafts and accepts (now); returns the version.
async fn in_force(app: &TestApp, token: &str, duties: Value) -> i64 {
    let drafted = draft(app, token, duties).await;
    assert_eq!(drafted.status, StatusCode::CREATED, "{}", drafted.body);
    let version = drafted.body["version"].as_i64().unwrap();
    let accepted = accept(app, token, version, json!({})).await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);
    assert_eq!(accepted.body["status"], "in_force");
    version
}

fn statuses(list: &Reply) -> Vec<(i64, String)> {
    list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["version"].as_i64().unwrap(),
                a["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn fields(reply: &Reply) -> Vec<String> {
    reply.error_fields()
}

async fn profile(app: &TestApp, token: &str) -> Reply {
    let reply = app.get("/v1/privacy-profile", token).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply
}

/// PUTs the profile read last with `change` applied.
async fn put_profile(app: &TestApp, token: &str, change: impl FnOnce(&mut Value)) -> Reply {
    let current = profile(app, token).await;
    let mut body = json!({"retention": current.body["retention"].clone(),
                          "reports": current.body["reports"].clone()});
    change(&mut body);
    app.call_with(
        Method::PUT,
        "/v1/privacy-profile",
        Some(token),
        Some(body),
        &[("If-Match", &current.header("etag").unwrap())],
    )
    .await
}

async fn key_with(app: &TestApp, inst: &Institution, scopes: &[&str]) -> String {
    let key = app
        .post(
            "/v1/api-keys",
            &inst.admin_token,
            json!({"name": "privacy office", "scopes": scopes}),
        )
        .await;
    assert_eq!(key.status, StatusCode::CREATED, "{}", key.body);
    key.body["token"].as_str().unwrap().to_string()
}

async fn promise_a2_addenda_are_versioned_accepted_by_an_admin_and_one_is_in_force(
    backend: Backend,
) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let south = app.create_institution("south").await;
    let admin = north.admin_token.as_str();

    // None in force: the platform defaults hold.
    app.get("/v1/privacy/addenda/current", admin)
        .await
        .assert_problem(404, "addendum_not_found");

    let v1 = draft(
        &app,
        admin,
        json!({"request_deadline_days": 20, "breach_notification_hours": 48,
               "allowed_subprocessors": [{"name": "Mail relay", "service": "transactional email", "location": "EU"}]}),
    )
    .await;
    assert_eq!(v1.status, StatusCode::CREATED, "{}", v1.body);
    assert_eq!(v1.body["version"], 1);
    assert_eq!(v1.body["status"], "draft");
    assert_eq!(v1.body["duties"]["request_deadline_days"], 20);
    // A draft binds nothing.
    app.get("/v1/privacy/addenda/current", admin)
        .await
        .assert_problem(404, "addendum_not_found");

    // Bad duties: field by field, nothing drafted.
    let bad = draft(
        &app,
        admin,
        json!({"request_deadline_days": 45, "breach_notification_hours": 96,
               "max_retention_days": {"shoe_size": 10}, "allowed_clusters": ["mars"]}),
    )
    .await;
    bad.assert_problem(422, "validation_failed");
    for field in [
        "duties.request_deadline_days",
        "duties.breach_notification_hours",
        "duties.max_retention_days.shoe_size",
        "duties.allowed_clusters[0]",
    ] {
        assert!(
            fields(&bad).contains(&field.to_string()),
            "{field}: {}",
            bad.body
        );
    }

    // A privacy officer (not a tenant admin) reads addenda but neither drafts nor accepts.
    let officer = key_with(&app, &north, &["privacy:manage"]).await;
    draft(&app, &officer, json!({}))
        .await
        .assert_problem(403, "insufficient_scope");
    accept(&app, &officer, 1, json!({}))
        .await
        .assert_problem(403, "insufficient_scope");
    let listed = app.get("/v1/privacy/addenda", &officer).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    assert_eq!(statuses(&listed), [(1, "draft".to_string())]);

    // An effective date in the past is refused.
    let past = (Utc::now() - Duration::days(2)).to_rfc3339();
    accept(&app, admin, 1, json!({"effective_from": past}))
        .await
        .assert_problem(422, "validation_failed");

    let accepted = accept(&app, admin, 1, json!({})).await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);
    assert_eq!(accepted.body["status"], "in_force");
    assert!(
        accepted.body["accepted_by"]
            .as_str()
            .unwrap()
            .starts_with("api-key:")
    );
    let current = app.get("/v1/privacy/addenda/current", &officer).await;
    assert_eq!(current.body["version"], 1, "{}", current.body);
    // Accepted once only.
    accept(&app, admin, 1, json!({}))
        .await
        .assert_problem(409, "conflict");
    accept(&app, admin, 9, json!({}))
        .await
        .assert_problem(404, "addendum_not_found");

    // v2 takes over now; v3 is scheduled for later and v2 stays in force until then.
    in_force(&app, admin, json!({"request_deadline_days": 14})).await;
    let v3 = draft(&app, admin, json!({"request_deadline_days": 10})).await;
    let later = accept(
        &app,
        admin,
        v3.body["version"].as_i64().unwrap(),
        json!({"effective_from": "2099-01-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(later.status, StatusCode::OK, "{}", later.body);
    assert_eq!(later.body["status"], "scheduled");
    let history = app.get("/v1/privacy/addenda", admin).await;
    assert_eq!(
        statuses(&history),
        [
            (1, "superseded".to_string()),
            (2, "in_force".to_string()),
            (3, "scheduled".to_string())
        ]
    );
    let current = app.get("/v1/privacy/addenda/current", admin).await;
    assert_eq!(current.body["version"], 2);
    assert_eq!(current.body["duties"]["request_deadline_days"], 14);
    // The request clock's deadline comes from the one in force.
    let scope_principal = app.state.tenancy.authenticate(admin).await.unwrap();
    let hub_tenant::Principal::Tenant(principal) = scope_principal else {
        panic!("a tenant key")
    };
    let scope = app.state.tenancy.scope(&principal).await.unwrap();
    assert_eq!(
        app.state
            .privacy
            .addendum_request_deadline(&scope)
            .await
            .unwrap(),
        Some(14)
    );
    drop(scope);

    // Audited.
    let audit = app.get("/v1/audit/events?limit=100", admin).await;
    let actions: Vec<&str> = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == "privacy_addendum.accepted")
            .count(),
        3,
        "{actions:?}"
    );
    assert!(actions.contains(&"privacy_addendum.drafted"));

    // Another institution sees none of it, and cannot accept north's versions.
    let theirs = app.get("/v1/privacy/addenda", &south.admin_token).await;
    assert_eq!(theirs.body["items"], json!([]));
    app.get("/v1/privacy/addenda/current", &south.admin_token)
        .await
        .assert_problem(404, "addendum_not_found");
    accept(&app, &south.admin_token, 2, json!({}))
        .await
        .assert_problem(404, "addendum_not_found");
}

async fn promise_a2_d3_the_profile_cannot_break_the_addendum_retention_or_reports(
    backend: Backend,
) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let south = app.create_institution("south").await;
    let admin = north.admin_token.as_str();

    // The default profile keeps technical data 90 days: an addendum allowing 30 is refused
    // until the profile changes, and the refusal names what must change.
    let v1 = draft(
        &app,
        admin,
        json!({"max_retention_days": {"technical": 30}}),
    )
    .await;
    let refused = accept(&app, admin, 1, json!({})).await;
    refused.assert_problem(409, "addendum_duty_breached");
    assert_eq!(
        fields(&refused),
        ["retention.technical.period_days"],
        "{}",
        refused.body
    );
    assert_eq!(v1.body["version"], 1);
    app.get("/v1/privacy/addenda/current", admin)
        .await
        .assert_problem(404, "addendum_not_found");

    let lowered = put_profile(&app, admin, |p| {
        p["retention"]["technical"]["period_days"] = json!(30)
    })
    .await;
    assert_eq!(lowered.status, StatusCode::OK, "{}", lowered.body);
    let accepted = accept(&app, admin, 1, json!({})).await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);

    // Now a longer period is refused, naming the category; nothing changes.
    let before = profile(&app, admin).await;
    let longer = put_profile(&app, admin, |p| {
        p["retention"]["technical"]["period_days"] = json!(31)
    })
    .await;
    longer.assert_problem(409, "addendum_duty_breached");
    assert_eq!(fields(&longer), ["retention.technical.period_days"]);
    assert!(
        longer.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("technical"),
        "{}",
        longer.body
    );
    let after = profile(&app, admin).await;
    assert_eq!(after.body["revision"], before.body["revision"]);
    assert_eq!(after.body["retention"]["technical"]["period_days"], 30);
    // Other categories are not bounded.
    let identity = put_profile(&app, admin, |p| {
        p["retention"]["identity"]["period_days"] = json!(1000)
    })
    .await;
    assert_eq!(identity.status, StatusCode::OK, "{}", identity.body);

    // Required reports: the profile lacks `privacy_requests`, so v2 is refused first.
    draft(
        &app,
        admin,
        json!({"max_retention_days": {"technical": 30}, "required_reports": ["privacy_requests"]}),
    )
    .await;
    let refused = accept(&app, admin, 2, json!({})).await;
    refused.assert_problem(409, "addendum_duty_breached");
    assert_eq!(fields(&refused), ["reports"]);
    assert!(
        refused.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("privacy_requests")
    );
    let with_report = put_profile(&app, admin, |p| {
        p["reports"].as_array_mut().unwrap().push(json!({
            "name": "Privacy requests", "kind": "privacy_requests",
            "cadence": "monthly", "format": "csv"}))
    })
    .await;
    assert_eq!(with_report.status, StatusCode::OK, "{}", with_report.body);
    let accepted = accept(&app, admin, 2, json!({})).await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);
    // Dropping the required report is refused.
    let dropped = put_profile(&app, admin, |p| {
        p["reports"]
            .as_array_mut()
            .unwrap()
            .retain(|r| r["kind"] != "privacy_requests")
    })
    .await;
    dropped.assert_problem(409, "addendum_duty_breached");
    assert_eq!(fields(&dropped), ["reports"]);

    // With no addendum in force nothing changes: south keeps what it likes.
    let free = put_profile(&app, &south.admin_token, |p| {
        p["retention"]["technical"]["period_days"] = json!(365);
        p["reports"] = json!([]);
    })
    .await;
    assert_eq!(free.status, StatusCode::OK, "{}", free.body);
}

/// Residency: the platform cannot move a tenant between clusters, and provisioning places a
/// tenant before it can have an addendum; so the duty is enforced where a placement meets an
/// addendum: accepting one whose allowed clusters exclude the institution's own is refused.
/// On PostgreSQL with two clusters a tenant on the second is refused an addendum allowing only
/// the primary; on SQLite there is one cluster (`primary`), so an addendum naming any other
/// is refused as naming an unknown cluster, and one allowing `primary` is accepted.
async fn promise_a2_residency_refuses_a_cluster_the_addendum_does_not_allow(backend: Backend) {
    let app = match backend {
        Backend::Postgres => {
            let admin_url = std::env::var("HUB_TEST_SECOND_DATABASE_URL")
                .expect("HUB_TEST_SECOND_DATABASE_URL must point at the second PostgreSQL cluster");
            let second_url = create_database_on(&admin_url).await;
            spawn_with(backend, |c| {
                c.clusters.insert("second".into(), second_url.clone());
            })
            .await
        }
        Backend::Sqlite => spawn(backend).await,
    };
    let north = app.create_institution("north").await;
    let primary_only = json!({"allowed_clusters": ["primary"]});
    match backend {
        Backend::Postgres => {
            let south = app
                .post(
                    "/v1/tenants",
                    &app.operator_token,
                    json!({"slug": "south", "name": "South College", "cluster": "second"}),
                )
                .await;
            assert_eq!(south.status, StatusCode::CREATED, "{}", south.body);
            let south_admin = south.body["admin_api_key"]["token"].as_str().unwrap();
            let drafted = draft(&app, south_admin, primary_only.clone()).await;
            assert_eq!(drafted.status, StatusCode::CREATED, "{}", drafted.body);
            let refused = accept(&app, south_admin, 1, json!({})).await;
            refused.assert_problem(409, "addendum_duty_breached");
            assert_eq!(fields(&refused), ["cluster"]);
            assert!(
                refused.body["errors"][0]["message"]
                    .as_str()
                    .unwrap()
                    .contains("`second`")
            );
            app.get("/v1/privacy/addenda/current", south_admin)
                .await
                .assert_problem(404, "addendum_not_found");
            // Allowing its own cluster is fine.
            in_force(&app, south_admin, json!({"allowed_clusters": ["second"]})).await;
        }
        Backend::Sqlite => {
            draft(
                &app,
                &north.admin_token,
                json!({"allowed_clusters": ["second"]}),
            )
            .await
            .assert_problem(422, "validation_failed");
        }
    }
    in_force(&app, &north.admin_token, primary_only).await;
    let record = app
        .get("/v1/privacy/records-of-processing", &north.admin_token)
        .await;
    assert_eq!(record.body["residency"]["cluster"], "primary");
    assert_eq!(
        record.body["residency"]["allowed_clusters"],
        json!(["primary"])
    );
}

/// A person with a live session: `(id, token)`.
async fn person(app: &TestApp, inst: &Institution, email: &str) -> (String, String) {
    let created = app
        .post(
            "/v1/people",
            &inst.admin_token,
            json!({"name": "Ada Learner", "email": email, "roles": ["learner"]}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_string();
    request_reset(app, &inst.slug, email).await;
    let code = reset_code(app, inst, &id).await;
    let done = reset(app, &inst.slug, &code, PASSWORD).await;
    assert_eq!(done.status, StatusCode::NO_CONTENT, "{}", done.body);
    let signed_in = sign_in(app, &inst.slug, email, PASSWORD).await;
    assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.body);
    let token = signed_in.body["session_token"]
        .as_str()
        .unwrap()
        .to_string();
    (id, token)
}

/// Reports a compromise with the person's session; returns the incident's window in hours.
async fn reported_window(app: &TestApp, inst: &Institution, token: &str) -> i64 {
    let report = app.post("/v1/me/compromise-report", token, json!({})).await;
    assert_eq!(report.status, StatusCode::CREATED, "{}", report.body);
    let id = report.body["incident_id"].as_str().unwrap();
    let incident = app
        .get(&format!("/v1/incidents/{id}"), &inst.admin_token)
        .await;
    assert_eq!(incident.status, StatusCode::OK, "{}", incident.body);
    let at =
        |field: &str| -> DateTime<Utc> { incident.body[field].as_str().unwrap().parse().unwrap() };
    (at("notify_by") - at("reported_at")).num_minutes() / 60
}

async fn promise_a2_the_incident_clock_runs_on_the_addendum_breach_window(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    app.allow_local_accounts(&north.admin_token).await;
    let (_, ada) = person(&app, &north, "ada@north.example").await;
    let (_, grace) = person(&app, &north, "grace@north.example").await;

    // Without an addendum: GDPR's 72 hours.
    assert_eq!(reported_window(&app, &north, &ada).await, 72);
    in_force(
        &app,
        &north.admin_token,
        json!({"breach_notification_hours": 24}),
    )
    .await;
    assert_eq!(reported_window(&app, &north, &grace).await, 24);
    // The incident opened before keeps the window it opened with.
    let listed = app.get("/v1/incidents", &north.admin_token).await;
    let windows: BTreeSet<i64> = listed.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", listed.body))
        .iter()
        .map(|i| {
            let at = |f: &str| -> DateTime<Utc> { i[f].as_str().unwrap().parse().unwrap() };
            (at("notify_by") - at("reported_at")).num_minutes() / 60
        })
        .collect();
    assert_eq!(windows, BTreeSet::from([24, 72]));
}

/// A minimal CSV reader (quoted cells, doubled quotes) for the record's rows.
fn csv_rows(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut cell = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                cell.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut cell)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => cell.push(c),
        }
    }
    rows
}

async fn promise_a2_d3_the_record_of_processing_matches_the_declarations(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let officer = key_with(&app, &north, &["privacy:manage"]).await;
    let learner_key = key_with(&app, &north, &["courses:read"]).await;
    app.get("/v1/privacy/records-of-processing", &learner_key)
        .await
        .assert_problem(403, "insufficient_scope");

    in_force(
        &app,
        admin,
        json!({"max_retention_days": {"contact": 730},
               "allowed_subprocessors": [{"name": "Mail relay", "service": "transactional email", "location": "EU"}]}),
    )
    .await;
    let record = app.get("/v1/privacy/records-of-processing", &officer).await;
    assert_eq!(record.status, StatusCode::OK, "{}", record.body);
    let map = app.get("/v1/privacy/data-map", &officer).await;
    let profile = profile(&app, admin).await;

    // Every declared field is in the activity of its category and purpose, and only there.
    let mut declared: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    let mut map_recipients = BTreeSet::new();
    for source in map.body["sources"].as_array().unwrap() {
        for r in source["recipients"].as_array().unwrap() {
            map_recipients.insert(r.as_str().unwrap().to_string());
        }
        for f in source["fields"].as_array().unwrap() {
            declared
                .entry((
                    f["category"].as_str().unwrap().into(),
                    f["purpose"].as_str().unwrap().into(),
                ))
                .or_default()
                .insert(format!(
                    "{}.{}",
                    f["table"].as_str().unwrap(),
                    f["column"].as_str().unwrap()
                ));
        }
    }
    let activities = record.body["activities"].as_array().unwrap();
    let mut recorded: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for a in activities {
        let category = a["category"].as_str().unwrap().to_string();
        let purpose = a["purpose"].as_str().unwrap().to_string();
        let (basis, article) = match purpose.as_str() {
            "service_delivery" | "essential_communication" => ("contract", "GDPR Art. 6(1)(b)"),
            "security" => ("legitimate_interests", "GDPR Art. 6(1)(f)"),
            "legal_obligation" => ("legal_obligation", "GDPR Art. 6(1)(c)"),
            "personalisation" => ("consent", "GDPR Art. 6(1)(a)"),
            other => panic!("undeclared purpose {other}"),
        };
        assert_eq!(a["lawful_basis"], basis, "{a}");
        assert_eq!(a["article"], article, "{a}");
        if a["retention"]["classes"]
            .as_array()
            .unwrap()
            .contains(&json!("category_period"))
        {
            assert_eq!(
                a["retention"]["period_days"], profile.body["retention"][&category]["period_days"],
                "{a}"
            );
        }
        let max = if category == "contact" {
            json!(730)
        } else {
            Value::Null
        };
        assert_eq!(a["retention"]["addendum_max_days"], max, "{a}");
        recorded.insert(
            (category, purpose),
            a["fields"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f.as_str().unwrap().to_string())
                .collect(),
        );
    }
    assert_eq!(recorded, declared);
    assert!(!recorded.is_empty());
    let recipients: BTreeSet<String> = record.body["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(recipients, map_recipients);
    assert_eq!(record.body["subprocessors"][0]["name"], "Mail relay");
    assert_eq!(record.body["addendum_version"], 1);
    assert_eq!(record.body["profile_revision"], profile.body["revision"]);

    // Security measures from the declarations: every identifying field is sealed, every
    // blind-indexed one listed; the audit chain and key store apart are named.
    let measures: BTreeMap<String, Value> = record.body["security_measures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap().to_string(),
                m["applies_to"].clone(),
            )
        })
        .collect();
    for name in [
        "sealed_at_rest",
        "blind_index",
        "key_store_apart",
        "audit_chain",
        "tenant_isolation",
    ] {
        assert!(measures.contains_key(name), "{name}: {measures:?}");
    }
    let sealed = measures["sealed_at_rest"].as_array().unwrap();
    for source in map.body["sources"].as_array().unwrap() {
        for f in source["fields"].as_array().unwrap() {
            let name = json!(format!(
                "{}.{}",
                f["table"].as_str().unwrap(),
                f["column"].as_str().unwrap()
            ));
            assert_eq!(sealed.contains(&name), f["identifying"] == true, "{name}");
        }
    }
    assert!(
        measures["blind_index"]
            .as_array()
            .unwrap()
            .contains(&json!("people.email"))
    );

    // CSV, by query or by Accept: one row per activity, the same content.
    for reply in [
        app.get("/v1/privacy/records-of-processing?format=csv", &officer)
            .await,
        app.call_with(
            Method::GET,
            "/v1/privacy/records-of-processing",
            Some(&officer),
            None,
            &[("Accept", "text/csv")],
        )
        .await,
    ] {
        assert_eq!(reply.status, StatusCode::OK);
        assert!(
            reply
                .header("content-type")
                .unwrap()
                .starts_with("text/csv"),
            "{:?}",
            reply.header("content-type")
        );
        let rows = csv_rows(reply.body.as_str().unwrap());
        assert_eq!(rows[0][0], "category");
        assert_eq!(rows[0][2], "lawful_basis");
        assert_eq!(rows.len(), activities.len() + 1);
        let col = |name: &str| rows[0].iter().position(|c| c == name).unwrap();
        for (row, a) in rows[1..].iter().zip(activities) {
            assert_eq!(row.len(), rows[0].len());
            assert_eq!(row[col("category")], a["category"].as_str().unwrap());
            assert_eq!(row[col("purpose")], a["purpose"].as_str().unwrap());
            assert_eq!(
                row[col("lawful_basis")],
                a["lawful_basis"].as_str().unwrap()
            );
            let fields: Vec<&str> = a["fields"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f.as_str().unwrap())
                .collect();
            assert_eq!(row[col("fields")], fields.join("; "));
            assert_eq!(
                row[col("subprocessors")],
                "Mail relay (transactional email, EU)"
            );
        }
    }
}

/// An addendum promising answers within 10 days: a data-subject request received while it is
/// in force is due 10 days after receipt, not 30; one promising more than 30 leaves ours.
async fn promise_a2_r6_a_shorter_request_deadline_in_the_addendum_sets_the_due_date(
    backend: Backend,
) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let person = app
        .post(
            "/v1/people",
            admin,
            json!({"name": "Ada", "email": "ada@north.test", "roles": ["learner"]}),
        )
        .await;
    assert_eq!(person.status, StatusCode::CREATED, "{}", person.body);
    let ada = person.body["id"].as_str().unwrap().to_string();
    let due_days = |reply: &Reply| {
        let parse = |v: &Value| {
            chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap())
                .unwrap()
                .with_timezone(&chrono::Utc)
        };
        (parse(&reply.body["clock"]["due_at"]) - parse(&reply.body["received_at"])).num_days()
    };
    let request = |kind: &'static str| {
        let ada = ada.clone();
        let app = &app;
        async move {
            let reply = app
                .post(
                    "/v1/privacy-requests",
                    admin,
                    json!({"person_id": ada, "kind": kind, "jurisdiction": "other"}),
                )
                .await;
            assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
            reply
        }
    };
    // Before any addendum: our 30 days (the clock pauses while unverified, so the due date
    // is read as received + the base period).
    assert_eq!(due_days(&request("access").await), 30);
    in_force(&app, admin, json!({"request_deadline_days": 10})).await;
    assert_eq!(due_days(&request("export").await), 10);
}
