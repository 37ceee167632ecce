//! S2, "every read of another person's data is audited", checked from the committed spec
//! rather than from a hand list. An institution is seeded with people, a contact, SCIM users
//! and groups, an incident and an access review, every sealed personal value (names, emails,
//! phones, usernames, birth dates, a person's own words) carrying a marker (`zq…`). Then
//! every read operation of the spec (every `GET`, and SCIM's `POST /.search` when it exists)
//! is called with a credential that may call it, and for each one:
//!
//! - if the answer carries another person's personal data (a marker of someone other than the
//!   caller), the operation must declare it — its description says [`DECLARATION`], in code
//!   next to the scope it needs — and the call must have appended an entry to the audit trail;
//! - an operation that declares it must append an entry whatever it returned.
//!
//! The client IP is personal data too (C5): the loopback peer is a trusted proxy here, and
//! every seeding request names [`MARKER_IP`] in `X-Forwarded-For`, so audit entries, incidents
//! and sessions of other people hold it, and a read that returns it is held to the same rule.
//! (The `/v1/me` caller signs in without it: their own IP is theirs to read.)
//!
//! A new operation that returns personal data and writes no entry therefore fails here without
//! anyone adding a line; a new path parameter this test cannot fill fails it too, naming it.

use crate::idp::{OidcProvider, UserAgent, idp_user};
use crate::support::{Backend, Reply, TestApp, spawn_with};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The sentence an operation's description carries when it returns other people's personal
/// data. Kept in one place so the spec and this test cannot disagree on it.
const DECLARATION: &str =
    "Returns other people's personal data: every call is recorded in the audit trail.";

crate::both_backends!(promise_s2_every_read_of_another_persons_data_is_declared_and_audited);

/// The client IP of every seeding request (TEST-NET-3, RFC 5737), through the trusted
/// loopback proxy.
const MARKER_IP: &str = "203.0.113.77";

/// The agent and activity of the seeded xAPI records.
const XAPI_AGENT: &str =
    r#"{"objectType":"Agent","name":"Zqxapi","mbox":"mailto:zqxapi@north.test"}"#;
const XAPI_AGENT_ID: &str = r#"{"objectType":"Agent","mbox":"mailto:zqxapi@north.test"}"#;
const XAPI_ACTIVITY: &str = "http://north.test/zq/activity";

/// Reads this test cannot make succeed, and why; every other read must answer 2xx, so a
/// read whose data this test never reaches cannot pass unseen.
const UNREACHED: &[(&str, &str)] = &[
    (
        "GET /v1/sso/oidc/callback",
        "a sign-in flow's redirect, with the IdP's code",
    ),
    (
        "GET /v1/sso/{tenant_slug}/oidc/{connection_id}/login",
        "a browser's sign-in flow",
    ),
    (
        "GET /v1/sso/{tenant_slug}/saml/{connection_id}/login",
        "a SAML connection's flow",
    ),
    (
        "GET /v1/sso/{tenant_slug}/saml/{connection_id}/metadata",
        "needs a SAML connection",
    ),
    (
        "GET /v1/me/privacy-requests/{request_id}",
        "the seeded request is another person's",
    ),
    (
        "GET /v1/me/services/{service}/access",
        "needs a service account of the caller",
    ),
    (
        "GET /v1/privacy/addenda/current",
        "no addendum is accepted in this seeding",
    ),
    (
        "GET /v1/guardians/me/minors/{person_id}/progress",
        "a verified guardian's own read (declared and audited; minors.rs makes one)",
    ),
];

/// The query each xAPI read needs (the resource's required parameters, naming the seeded
/// agent and activity, and the document's id so the document itself is read).
fn xapi_query(path: &str) -> Option<String> {
    // By its identifier only: the name is what the LRS keeps, not what the query sends.
    let agent = crate::xapi::encode(XAPI_AGENT_ID);
    let activity = crate::xapi::encode(XAPI_ACTIVITY);
    Some(match path {
        "/xapi/statements" => String::new(),
        "/xapi/activities/state" => format!("?activityId={activity}&agent={agent}&stateId=zq"),
        "/xapi/agents/profile" => format!("?agent={agent}&profileId=zq"),
        "/xapi/activities/profile" => format!("?activityId={activity}&profileId=zq"),
        "/xapi/activities" => format!("?activityId={activity}"),
        "/xapi/agents" => format!("?agent={agent}"),
        "/xapi/about" => String::new(),
        _ => return None,
    })
}

struct Seeded {
    /// Path parameter name → a value that exists.
    ids: BTreeMap<&'static str, String>,
    /// Operations whose parameters must belong together (a learner's progress in a course
    /// they are enrolled in): path → parameter → value, taking precedence over `ids`.
    together: BTreeMap<&'static str, BTreeMap<&'static str, String>>,
    /// A learner holding learning records (enrollments, progress, a certificate), for the
    /// `/v1/me` reads of `together` that only such a learner can make.
    learner: String,
    /// An LRS credential (HTTP Basic) for the `/xapi/` resources.
    lrs: crate::xapi::Lrs,
    /// Marker values of people other than the signed-in caller used for `/v1/me` reads.
    others: Vec<String>,
    admin: String,
    scim: String,
    /// A signed-in person's session (`/v1/me…` reads are theirs).
    me: String,
    operator: String,
}

async fn created(app: &TestApp, path: &str, token: &str, body: Value) -> Value {
    let reply = app
        .call_with(
            Method::POST,
            path,
            Some(token),
            Some(body),
            &[
                ("Content-Type", "application/json"),
                ("X-Forwarded-For", MARKER_IP),
            ],
        )
        .await;
    assert!(
        reply.status.is_success(),
        "seeding {path}: {} {}",
        reply.status,
        reply.body
    );
    reply.body
}

async fn scim_created(app: &TestApp, path: &str, token: &str, body: Value) -> Value {
    let reply = app
        .call_with(
            Method::POST,
            &format!("/v1/scim/v2{path}"),
            Some(token),
            Some(body),
            &[
                ("Content-Type", "application/scim+json"),
                ("X-Forwarded-For", MARKER_IP),
            ],
        )
        .await;
    assert!(
        reply.status.is_success(),
        "seeding SCIM {path}: {} {}",
        reply.status,
        reply.body
    );
    reply.body
}

async fn seed(app: &TestApp) -> (Seeded, OidcProvider) {
    let north = app.create_institution("north").await;
    let admin = north.admin_token.clone();
    let mut ids = BTreeMap::new();
    ids.insert("tenant_slug", north.slug.clone());
    ids.insert("tenant_id", north.id.clone());
    // SCIM discovery documents (no personal data): a resource type and a schema by id.
    ids.insert("name", "User".to_string());
    // A service with its own privacy notice (A3): names a service, not a person.
    ids.insert("service", "peer_forums".to_string());
    // No payment exists without Stripe: the read answers 404 (UNREACHED says where one is
    // read, declared and audited).
    ids.insert(
        "payment_id",
        "0190a0b0-0000-7000-8000-00000000beef".to_string(),
    );
    ids.insert(
        "urn",
        "urn:ietf:params:scim:schemas:core:2.0:User".to_string(),
    );

    let person = created(
        app,
        "/v1/people",
        &admin,
        json!({"name": "Zqperson Alpha", "username": "zqalpha", "email": "zqalpha@north.test",
               "phone": "+15550100901", "birth_date": "1990-01-02", "roles": ["instructor"]}),
    )
    .await;
    ids.insert("person_id", person["id"].as_str().unwrap().to_string());
    ids.insert(
        "payment_id",
        // No Stripe here: a payment as its confirmation leaves it, stored directly.
        crate::billing::ledger_only_payment(
            app,
            &admin,
            person["id"].as_str().unwrap(),
            "ch_personal_reads",
        )
        .await,
    );
    // No Stripe here: a reconciliation run as the job leaves it, stored directly.
    ids.insert(
        "reconciliation_id",
        crate::billing_reconciliation::recorded_run(app, &admin).await,
    );
    let contact = created(
        app,
        "/v1/contacts",
        &admin,
        json!({"role": "billing", "name": "Zqcontact Beta", "email": "zqbeta@north.test",
               "phone": "+15550100902"}),
    )
    .await;
    ids.insert("contact_id", contact["id"].as_str().unwrap().to_string());
    let course = created(
        app,
        "/v1/courses",
        &admin,
        json!({"code": "ZQ-1", "title": "Markers"}),
    )
    .await;
    ids.insert("course_id", course["id"].as_str().unwrap().to_string());

    let scim = created(
        app,
        "/v1/api-keys",
        &admin,
        json!({"name": "SCIM", "scopes": ["scim:provision"]}),
    )
    .await["token"]
        .as_str()
        .unwrap()
        .to_string();
    let scim_user = scim_created(
        app,
        "/Users",
        &scim,
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
               "userName": "zqgamma@north.test",
               "name": {"formatted": "Zqscim Gamma", "givenName": "Zqscim", "familyName": "Gamma"},
               "emails": [{"value": "zqgamma@north.test", "primary": true}],
               "active": true}),
    )
    .await;
    let scim_user_id = scim_user["id"].as_str().unwrap().to_string();
    ids.insert("user_id", scim_user_id.clone());
    let group = scim_created(
        app,
        "/Groups",
        &scim,
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
               "displayName": "zq-group", "members": [{"value": scim_user_id}]}),
    )
    .await;
    ids.insert("group_id", group["id"].as_str().unwrap().to_string());

    // Two people sign in through the institution's IdP: one reports a compromise (an
    // incident about them), the other is the caller of the `/v1/me` reads.
    let idp = OidcProvider::start(
        app,
        &[("hub-north", "secret")],
        vec![
            idp_user(
                "zqdelta",
                "zqdelta@north.test",
                "Zqdelta Reporter",
                &["staff"],
            ),
            idp_user("zqself", "zqself@north.test", "Zqself Caller", &["admins"]),
        ],
    );
    let connection = created(
        app,
        "/v1/sso/connections",
        &admin,
        json!({"name": "IdP", "issuer": idp.issuer, "client_id": "hub-north",
               "client_secret": "secret", "scopes": ["openid", "email", "profile", "groups"],
               "group_roles": {"staff": "instructor", "admins": "tenant_admin"}}),
    )
    .await;
    ids.insert(
        "connection_id",
        connection["id"].as_str().unwrap().to_string(),
    );
    let login_path = connection["login_path"].as_str().unwrap().to_string();
    let sign_in = |login: &'static str| {
        let login_path = login_path.clone();
        async move {
            let agent = UserAgent::new();
            let callback = agent
                .authorize(app, &login_path, login, &format!("{login} correct horse"))
                .await;
            let reply = agent.callback(&callback).await;
            assert_eq!(reply.status, StatusCode::OK, "{login}: {}", reply.body);
            reply.body["session_token"].as_str().unwrap().to_string()
        }
    };
    let reporter = sign_in("zqdelta").await;
    let report = created(
        app,
        "/v1/me/compromise-report",
        &reporter,
        json!({"description": "zqincident: an odd sign-in alert"}),
    )
    .await;
    ids.insert(
        "incident_id",
        report["incident_id"].as_str().unwrap().to_string(),
    );
    let me = sign_in("zqself").await;
    // A data-subject request on another person's behalf, and the caller's own export with
    // its download link (approved and run in the background).
    let request = created(
        app,
        "/v1/privacy-requests",
        &admin,
        json!({"person_id": ids["person_id"], "kind": "access"}),
    )
    .await;
    ids.insert("request_id", request["id"].as_str().unwrap().to_string());
    // The caller's own requests are made without the marker IP: their IP is theirs to read.
    let export = app
        .post("/v1/me/privacy-requests", &me, json!({"kind": "export"}))
        .await;
    assert_eq!(export.status, StatusCode::CREATED, "{}", export.body);
    let export_id = export.body["id"].as_str().unwrap().to_string();
    let decided = app
        .post(
            &format!("/v1/privacy-requests/{export_id}/decision"),
            &admin,
            json!({"decision": "approve", "reason": "zq checked"}),
        )
        .await;
    assert_eq!(decided.status, StatusCode::OK, "{}", decided.body);
    let mut status = String::new();
    for _ in 0..400 {
        let reply = app
            .get(&format!("/v1/privacy-requests/{export_id}"), &admin)
            .await;
        status = reply.body["status"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if status == "complete" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(status, "complete", "the caller's export did not complete");
    let link = app
        .post(
            &format!("/v1/me/privacy-requests/{export_id}/download-link"),
            &me,
            json!({}),
        )
        .await;
    assert_eq!(link.status, StatusCode::CREATED, "{}", link.body);
    let token = link.body["url"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap();
    ids.insert("token", token.to_string());

    let review = created(
        app,
        "/v1/access-reviews",
        &admin,
        json!({"name": "zq review", "duration_seconds": 3600}),
    )
    .await;
    ids.insert("review_id", review["id"].as_str().unwrap().to_string());
    // Learning records (hub-course): a learner completes a course and holds its certificate,
    // another takes a quiz; the course's structure, an enrollment and a unit. The staff's
    // words about a learner (an enrollment's reason, a grade change's) carry markers, so a
    // staff read of them that is not declared and audited fails here.
    let (ada, learner, learned) = crate::certificates::completed(app, &north, "ZQ-CRT").await;
    let certificates = app.get("/v1/me/certificates", &learner).await;
    assert_eq!(certificates.status, StatusCode::OK, "{}", certificates.body);
    let certificate = &certificates.body[0];
    ids.insert(
        "certificate_id",
        certificate["id"].as_str().unwrap().to_string(),
    );
    ids.insert(
        "verification_id",
        certificate["verification_id"].as_str().unwrap().to_string(),
    );
    let attempt = crate::attempts::submitted_attempt(app, &north).await;
    let regraded = created(
        app,
        &format!("/v1/attempts/{attempt}/grade-changes"),
        &admin,
        json!({"score": 0, "reason": "zqregrade"}),
    )
    .await;
    let attempted_quiz = regraded["attempt"]["quiz_id"].as_str().unwrap().to_string();
    ids.insert("attempt_id", attempt);
    let module = crate::progress::module(app, &admin, &learned, "Zq module").await;
    let lesson = crate::progress::lesson(app, &admin, &module, "Zq lesson", false).await;
    ids.insert("module_id", module);
    ids.insert("lesson_id", lesson);
    ids.insert(
        "quiz_id",
        crate::quizzes::create_quiz(app, &admin, &learned).await,
    );
    let second = crate::progress::course(app, &admin, "ZQ-ENR").await;
    let enrolled = created(
        app,
        &format!("/v1/courses/{second}/enrollments"),
        &admin,
        json!({"person_id": ada, "reason": "zqenrolled"}),
    )
    .await;
    // An automated decision about a learner, so the review queue has one to show.
    ids.insert(
        "decision_id",
        crate::decisions::pending_decision(app, &north).await,
    );
    ids.insert(
        "enrollment_id",
        enrolled["id"].as_str().unwrap().to_string(),
    );
    let unit = created(
        app,
        "/v1/org-units",
        &admin,
        json!({"code": "ZQ-UNIT", "name": "Units"}),
    )
    .await;
    ids.insert("org_unit_id", unit["id"].as_str().unwrap().to_string());
    let rotation = app
        .call(
            Method::POST,
            "/v1/encryption-keys/rotate",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(rotation.status, StatusCode::ACCEPTED, "{}", rotation.body);
    ids.insert(
        "job_id",
        rotation.body["job"]["id"].as_str().unwrap().to_string(),
    );
    let domain = created(
        app,
        "/v1/sso/domains",
        &admin,
        json!({"domain": "zq.north.test"}),
    )
    .await;
    ids.insert("domain_id", domain["id"].as_str().unwrap().to_string());
    let ends_at = (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339();
    let hold = created(
        app,
        "/v1/privacy/legal-holds",
        &admin,
        json!({"person_id": ids["person_id"], "categories": ["contact"],
               "reason": "zq appeal", "ends_at": ends_at}),
    )
    .await;
    ids.insert("hold_id", hold["id"].as_str().unwrap().to_string());
    let run = app
        .call(
            Method::POST,
            "/v1/privacy/retention-runs",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(run.status, StatusCode::ACCEPTED, "{}", run.body);
    ids.insert("run_id", run.body["id"].as_str().unwrap().to_string());
    // The default profile's monthly report, for last month.
    let today = chrono::Utc::now().date_naive();
    let month = chrono::NaiveDate::from_ymd_opt(
        chrono::Datelike::year(&today),
        chrono::Datelike::month(&today),
        1,
    )
    .unwrap()
    .checked_sub_months(chrono::Months::new(1))
    .unwrap();
    let report = created(
        app,
        "/v1/reports/runs",
        &admin,
        json!({"report": "Retention actions", "period_start": month.to_string()}),
    )
    .await;
    ids.insert("report_run_id", report["id"].as_str().unwrap().to_string());

    let others = [
        "Zqperson",
        "zqalpha",
        "5550100901",
        "1990-01-02",
        "Zqcontact",
        "zqbeta",
        "5550100902",
        "Zqscim",
        "zqgamma",
        "Zqdelta",
        "zqdelta@",
        "zqincident",
        "zqregrade",
        "zqenrolled",
        "Zqxapi",
        "zqstate",
        "zqprofile",
        MARKER_IP,
    ]
    .into_iter()
    .map(str::to_string)
    .collect();
    // xAPI: an LRS client stores a statement, a state and an agent profile about a learner
    // the institution does not know by email (the marker is their name and words).
    let lrs = crate::xapi::lrs_credential(app, &admin, &["all"]).await;
    let agent = crate::xapi::encode(XAPI_AGENT_ID);
    let stored = crate::xapi::xapi(
        app,
        &lrs,
        Method::POST,
        "/xapi/statements",
        Some(json!({
            "actor": serde_json::from_str::<Value>(XAPI_AGENT).unwrap(),
            "verb": {"id": "http://adlnet.gov/expapi/verbs/experienced"},
            "object": {"id": XAPI_ACTIVITY},
        })),
        Some("1.0.3"),
    )
    .await;
    assert_eq!(stored.status, StatusCode::OK, "{}", stored.body);
    let activity = crate::xapi::encode(XAPI_ACTIVITY);
    for (path, words) in [
        (
            format!("/xapi/activities/state?activityId={activity}&agent={agent}&stateId=zq"),
            &br#"{"note":"zqstate"}"#[..],
        ),
        (
            format!("/xapi/agents/profile?agent={agent}&profileId=zq"),
            &br#"{"note":"zqprofile"}"#[..],
        ),
        (
            format!("/xapi/activities/profile?activityId={activity}&profileId=zq"),
            &br#"{"note":"the activity's"}"#[..],
        ),
    ] {
        let put = crate::xapi::doc(
            app,
            &lrs,
            Method::PUT,
            &path,
            Some(("application/json", words)),
            &[("If-None-Match", "*")],
        )
        .await;
        assert_eq!(put.status, StatusCode::NO_CONTENT, "{path}: {}", put.body);
    }
    // A learner's own reads of their course and certificate are theirs, not `me`'s.
    let mut together = BTreeMap::new();
    // A staff listing names the learners it lists: those of a course and a quiz they took.
    together.insert(
        "/v1/courses/{course_id}/enrollments",
        BTreeMap::from([("course_id", learned.clone())]),
    );
    together.insert(
        "/v1/quizzes/{quiz_id}/attempts",
        BTreeMap::from([("quiz_id", attempted_quiz)]),
    );
    for path in [
        "/v1/courses/{course_id}/learners/{person_id}/progress",
        "/v1/me/courses/{course_id}/progress",
        "/v1/me/certificates/{certificate_id}",
    ] {
        together.insert(
            path,
            BTreeMap::from([
                ("course_id", learned.clone()),
                ("person_id", ada.clone()),
                ("certificate_id", ids["certificate_id"].clone()),
            ]),
        );
    }
    let seeded = Seeded {
        ids,
        together,
        learner,
        lrs,
        others,
        admin,
        scim,
        me,
        operator: app.operator_token.clone(),
    };
    (seeded, idp)
}

struct ReadOp {
    name: String,
    method: Method,
    path: String,
    declared: bool,
    credential: Credential,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Credential {
    Operator,
    Admin,
    Scim,
    Me,
    Learner,
    Lrs,
    Public,
}

fn read_ops(seeded: &Seeded) -> Vec<ReadOp> {
    let ids = &seeded.ids;
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../openapi/openapi.json"
    ))
    .unwrap();
    let spec: Value = serde_json::from_str(&text).unwrap();
    let mut ops = Vec::new();
    let mut unfillable = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let is_read = method == "get" || (method == "post" && path.ends_with("/.search"));
            if !is_read {
                continue;
            }
            let security: Vec<String> = op["security"]
                .as_array()
                .map(|reqs| {
                    reqs.iter()
                        .flat_map(|r| r.as_object().unwrap().keys().cloned())
                        .collect()
                })
                .unwrap_or_default();
            let description = op["description"]
                .as_str()
                .unwrap_or("")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            let together = seeded.together.get(path.as_str());
            let credential = if security.iter().any(|s| s == "OperatorKey") {
                Credential::Operator
            } else if together.is_some() && path.starts_with("/v1/me") {
                Credential::Learner
            } else if path.starts_with("/xapi/") && !security.is_empty() {
                Credential::Lrs
            } else if security.is_empty() {
                Credential::Public
            } else if path.starts_with("/v1/scim/") {
                Credential::Scim
            } else if path.starts_with("/v1/me") {
                Credential::Me
            } else {
                Credential::Admin
            };
            let mut filled = path.clone();
            while let Some(start) = filled.find('{') {
                let end = filled[start..].find('}').unwrap() + start;
                let name = filled[start + 1..end].to_string();
                match together
                    .and_then(|t| t.get(name.as_str()))
                    .or_else(|| ids.get(name.as_str()))
                {
                    Some(value) => filled.replace_range(start..=end, value),
                    None => {
                        unfillable.push(format!("{path}: {{{name}}}"));
                        break;
                    }
                }
            }
            if path.starts_with("/xapi/") {
                match xapi_query(path) {
                    Some(query) => filled.push_str(&query),
                    None => unfillable.push(format!("{path}: its query (add it to `xapi_query`)")),
                }
            }
            ops.push(ReadOp {
                name: format!("{} {path}", method.to_uppercase()),
                method: method.to_uppercase().parse().unwrap(),
                path: filled,
                declared: description.contains(DECLARATION),
                credential,
            });
        }
    }
    assert!(
        unfillable.is_empty(),
        "read operations with a path parameter this test does not seed (add it to `seed`):\n  {}",
        unfillable.join("\n  ")
    );
    assert!(ops.len() > 20, "only {} read operations found", ops.len());
    ops
}

/// The audit trail's head, read through the API (verification returns no personal data and
/// appends nothing).
async fn audit_head(app: &TestApp, admin: &str) -> i64 {
    let reply = app.get("/v1/audit/verification", admin).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["head_seq"].as_i64().unwrap()
}

async fn call(app: &TestApp, seeded: &Seeded, op: &ReadOp) -> Reply {
    if op.credential == Credential::Lrs {
        return crate::xapi::doc(app, &seeded.lrs, op.method.clone(), &op.path, None, &[]).await;
    }
    let token = match op.credential {
        Credential::Operator => Some(seeded.operator.as_str()),
        Credential::Admin => Some(seeded.admin.as_str()),
        Credential::Scim => Some(seeded.scim.as_str()),
        Credential::Me => Some(seeded.me.as_str()),
        Credential::Learner => Some(seeded.learner.as_str()),
        Credential::Lrs => unreachable!("answered above"),
        Credential::Public => None,
    };
    let body = (op.method == Method::POST).then(|| json!({}));
    let content_type = if op.credential == Credential::Scim {
        "application/scim+json"
    } else {
        "application/json"
    };
    app.call_with(
        op.method.clone(),
        &op.path,
        token,
        body,
        &[("Content-Type", content_type)],
    )
    .await
}

async fn promise_s2_every_read_of_another_persons_data_is_declared_and_audited(backend: Backend) {
    // The test client connects from loopback: a proxy this app trusts.
    let app = spawn_with(backend, |config| {
        config.trusted_proxies = vec!["127.0.0.1/32".into(), "::1/128".into()];
    })
    .await;
    let (seeded, _idp) = seed(&app).await;
    let ops = read_ops(&seeded);
    let mut wrong = Vec::new();
    let mut audited = Vec::new();
    for op in &ops {
        let before = audit_head(&app, &seeded.admin).await;
        let reply = call(&app, &seeded, op).await;
        let after = audit_head(&app, &seeded.admin).await;
        assert!(
            !reply.status.is_server_error(),
            "{}: {} {}",
            op.name,
            reply.status,
            reply.body
        );
        let text = reply.body.to_string();
        let leaked: Vec<&String> = seeded
            .others
            .iter()
            .filter(|m| text.contains(m.as_str()))
            .collect();
        let wrote_entry = after > before;
        if !leaked.is_empty() && !op.declared {
            wrong.push(format!(
                "{} returns other people's personal data ({leaked:?}) but does not declare it",
                op.name
            ));
        }
        if (op.declared || !leaked.is_empty()) && !wrote_entry {
            wrong.push(format!(
                "{} ({}) returns other people's personal data but wrote no audit entry",
                op.name, reply.status
            ));
        }
        if op.declared && !reply.status.is_success() {
            wrong.push(format!(
                "{} declares personal data but could not be called: {} {}",
                op.name, reply.status, reply.body
            ));
        }
        if op.declared {
            audited.push(op.name.clone());
        }
        if !reply.status.is_success() && !UNREACHED.iter().any(|(name, _)| *name == op.name) {
            wrong.push(format!(
                "{} could not be called ({} {}): seed what it needs, or say in UNREACHED why not",
                op.name, reply.status, reply.body
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "personal-data reads:\n  {}",
        wrong.join("\n  ")
    );
    // The people and contact reads were audited before this test; the set must only grow.
    for expected in [
        "GET /v1/people",
        "GET /v1/people/{person_id}",
        "GET /v1/contacts",
    ] {
        assert!(
            audited.iter().any(|name| name == expected),
            "{expected} no longer declared: {audited:?}"
        );
    }
}
