//! Promise D1, generated from the committed spec (openapi/openapi.json): whatever one
//! institution creates, another institution's credential cannot read, change or delete it,
//! and cannot see it in any listing. A new endpoint is covered the day it is added to the
//! spec, without a new test.
//!
//! Which operations take part, by rule (nothing is left out silently):
//! - every operation whose `security` names `TenantCredential`: these act inside the caller's
//!   institution, so a foreign id must look exactly like a missing one (404);
//! - operations secured by `OperatorKey` are skipped: the platform operator manages the
//!   registry of institutions across tenants by design and cannot reach institution data
//!   (that is tested in tenants.rs and access.rs);
//! - operations with no security requirement (`/healthz`, `/readyz`) are skipped: they
//!   carry no tenant at all.
//!
//! - operations secured by `LrsCredential` (the xAPI LRS) are skipped: xapi.rs checks them
//!   across institutions.
//!
//! Any other security scheme makes the test fail until someone decides which rule applies.

// Test code: a failed unwrap is a failed test with its reason, which is what we want.

use crate::both_backends;
use crate::support::{Backend, Institution, TestApp, spawn};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

const JSON: &str = "application/json; charset=utf-8";
const TENANT_SCHEME: &str = "TenantCredential";
const OPERATOR_SCHEME: &str = "OperatorKey";

both_backends!(promise_d1_cross_tenant_access_is_not_found);

/// One operation of the spec.
#[derive(Debug, Clone)]
struct Operation {
    method: Method,
    path: String,
    id: String,
    op: Value,
}

impl Operation {
    fn name(&self) -> String {
        format!("{} {} ({})", self.method, self.path, self.id)
    }

    fn path_params(&self) -> Vec<String> {
        path_params(&self.path)
    }

    fn schemes(&self) -> Vec<String> {
        self.op["security"]
            .as_array()
            .map(|reqs| {
                reqs.iter()
                    .filter_map(Value::as_object)
                    .flat_map(|r| r.keys().cloned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn path_params(path: &str) -> Vec<String> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(str::to_string)
        .collect()
}

fn load_spec() -> Value {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../openapi/openapi.json");
    serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap()
}

fn operations(spec: &Value) -> Vec<Operation> {
    let mut all = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Ok(parsed) = Method::from_bytes(method.to_uppercase().as_bytes()) else {
                continue;
            };
            if op.get("responses").is_none() {
                continue; // not an operation (e.g. path-level `parameters`)
            }
            all.push(Operation {
                method: parsed,
                path: path.clone(),
                id: op["operationId"].as_str().unwrap_or("?").to_string(),
                op: op.clone(),
            });
        }
    }
    all
}

fn schema_of<'a>(spec: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference.rsplit('/').next().unwrap();
            &spec["components"]["schemas"][name]
        }
        None => schema,
    }
}

/// The request body to send: the body schema's example. A body without an example cannot be
/// generated, so that is a failure the developer fixes with `#[oai(example)]`.
fn request_example(spec: &Value, op: &Operation) -> Result<Option<Value>, String> {
    let Some(body) = op.op.get("requestBody") else {
        return Ok(None);
    };
    let Some(content) = body["content"].get(JSON) else {
        return Err(format!(
            "{} takes a body but not as {JSON}; this suite cannot send it",
            op.name()
        ));
    };
    let schema = schema_of(spec, &content["schema"]);
    match schema.get("example") {
        Some(example) => Ok(Some(example.clone())),
        None => Err(format!(
            "{} takes a request body ({}) without an example: add `#[oai(example)]` and an \
             `Example` impl to its type so the cross-tenant suite (and SDK users) can build one",
            op.name(),
            content["schema"]["$ref"]
                .as_str()
                .unwrap_or("inline schema")
        )),
    }
}

/// Required parameters this suite cannot fill: path parameters are filled from ids, and
/// every call sends `If-Match` (required where the operation answers 428 without it) and a
/// fresh `Idempotency-Key` (required where a retry must never act twice: refunds).
fn unfillable_params(op: &Operation) -> Vec<String> {
    op.op["parameters"]
        .as_array()
        .map(|params| {
            params
                .iter()
                .filter(|p| p["in"] != "path" && p["required"] == true)
                .filter(|p| {
                    !(p["in"] == "header"
                        && (p["name"] == "If-Match" || p["name"] == "Idempotency-Key"))
                })
                .map(|p| format!("{} in {}", p["name"], p["in"]))
                .collect()
        })
        .unwrap_or_default()
}

/// The schema of the operation's JSON success answer, resolved.
fn success_schema<'a>(spec: &'a Value, op: &'a Operation) -> Option<&'a Value> {
    op.op["responses"]
        .as_object()?
        .iter()
        .find(|(status, _)| status.starts_with('2'))
        .and_then(|(_, response)| response["content"].get(JSON))
        .map(|content| schema_of(spec, &content["schema"]))
}

fn is_listing(spec: &Value, op: &Operation) -> bool {
    op.method == Method::GET
        && op.path_params().is_empty()
        && success_schema(spec, op).is_some_and(|s| s["properties"].get("items").is_some())
}

/// What one institution created, by the path parameter each id fills.
#[derive(Debug, Default)]
struct Seeded {
    by_param: BTreeMap<String, String>,
    /// The id each create operation's own collection path should list.
    by_collection: BTreeMap<String, String>,
    all: BTreeSet<String>,
}

/// The single-segment child of `collection` that takes a parameter: `/v1/courses` →
/// `course_id` from `/v1/courses/{course_id}`.
fn item_param(spec: &Value, collection: &str) -> Option<String> {
    let prefix = format!("{collection}/");
    spec["paths"].as_object()?.keys().find_map(|path| {
        let rest = path.strip_prefix(&prefix)?;
        let name = rest.strip_prefix('{')?.strip_suffix('}')?;
        (!name.contains('/')).then(|| name.to_string())
    })
}

async fn seed(app: &TestApp, spec: &Value, ops: &[Operation], who: &Institution) -> Seeded {
    let mut seeded = Seeded::default();
    // Names, not ids: a personal-data source of a request's tasks is the same in every
    // institution (the request id is what another institution cannot name).
    seeded.by_param.insert("source".into(), "people".into());
    // A create whose body names another resource (`person_id`: a request on a person's
    // behalf, a legal hold, a marketing message) runs after those that make it, with the id
    // this institution's own create returned in place of the example's.
    let names_another = |op: &&Operation| {
        request_example(spec, op)
            .ok()
            .flatten()
            .and_then(|b| b.as_object().cloned())
            .is_some_and(|b| b.keys().any(|k| k.ends_with("_id")))
    };
    let creates: Vec<&Operation> = ops
        .iter()
        .filter(|op| op.method == Method::POST && op.path_params().is_empty())
        .collect();
    let (later, first): (Vec<&Operation>, Vec<&Operation>) =
        creates.into_iter().partition(names_another);
    for op in first.into_iter().chain(later) {
        let mut body = request_example(spec, op).unwrap_or_else(|e| panic!("{e}"));
        if let Some(fields) = body.as_mut().and_then(Value::as_object_mut) {
            for (name, value) in fields.iter_mut() {
                if let Some(id) = seeded.by_param.get(name) {
                    *value = Value::String(id.clone());
                }
            }
        }
        let reply = app
            .call(Method::POST, &op.path, Some(&who.admin_token), body)
            .await;
        assert!(
            reply.status.is_success(),
            "seeding {} for {} failed: {} {}",
            op.name(),
            who.slug,
            reply.status,
            reply.body
        );
        if let Some(id) = reply.body["id"].as_str() {
            seeded.all.insert(id.to_string());
            seeded.by_collection.insert(op.path.clone(), id.to_string());
            if let Some(param) = item_param(spec, &op.path) {
                seeded.by_param.entry(param).or_insert(id.to_string());
            }
        }
        for (name, value) in reply.body.as_object().into_iter().flatten() {
            if let Some(id) = value.get("id").and_then(Value::as_str) {
                seeded.all.insert(id.to_string());
                seeded
                    .by_param
                    .entry(format!("{name}_id"))
                    .or_insert(id.to_string());
            }
        }
        // 202: the work goes on in the background. Let it finish, so that what is compared
        // before and after the attack can only have changed through the attack.
        if reply.status == StatusCode::ACCEPTED
            && let Some(location) = reply.header("location")
        {
            settle(app, &location, &who.admin_token).await;
        }
    }
    // Creates nested under a resource made above (an enrollment in a course): the item
    // they make is named by the `Location` they answer with.
    for op in ops
        .iter()
        .filter(|op| op.method == Method::POST && NESTED_CREATES.contains(&op.path.as_str()))
    {
        let path = fill(&op.path, &seeded.by_param).unwrap_or_else(|e| panic!("{e}"));
        let mut body = request_example(spec, op).unwrap_or_else(|e| panic!("{e}"));
        if let Some(fields) = body.as_mut().and_then(Value::as_object_mut) {
            for (name, value) in fields.iter_mut() {
                if let Some(id) = seeded.by_param.get(name) {
                    *value = Value::String(id.clone());
                }
            }
        }
        let reply = app
            .call(Method::POST, &path, Some(&who.admin_token), body)
            .await;
        assert!(
            reply.status.is_success(),
            "seeding {} for {} failed: {} {}",
            op.name(),
            who.slug,
            reply.status,
            reply.body
        );
        let location = reply.header("location").unwrap_or_default();
        let (param, id) = item_of_location(spec, &location)
            .unwrap_or_else(|| panic!("{}: its Location {location} names no item", op.name()));
        seeded.all.insert(id.clone());
        seeded.by_param.entry(param).or_insert(id);
    }
    // A quiz attempt is made by a learner, not by a create of the admin's: a learner of this
    // institution takes one (the learner is `fixture.learner`, so one per institution).
    let attempt = crate::attempts::submitted_attempt(app, who).await;
    seeded.all.insert(attempt.clone());
    seeded.by_param.insert("attempt_id".into(), attempt);
    // So is a certificate: a learner of this institution completes a course and reads it.
    let (_, learner, _) = crate::certificates::completed(app, who, "ISO-CRT").await;
    let certificates = app.get("/v1/me/certificates", &learner).await;
    let certificate = certificates.body[0]["id"].as_str().unwrap().to_string();
    seeded.all.insert(certificate.clone());
    seeded.by_param.insert("certificate_id".into(), certificate);
    // And an automated decision: a rule records it when a learner fails a required quiz.
    let decision = crate::decisions::pending_decision(app, who).await;
    seeded.all.insert(decision.clone());
    seeded.by_param.insert("decision_id".into(), decision);
    seeded
}

/// Creates under an item's path (`/v1/courses/{course_id}/enrollments`) that the seeding
/// runs once the items they need exist.
/// In the spec's (path) order, so a module exists before its lessons.
const NESTED_CREATES: &[&str] = &[
    "/v1/courses/{course_id}/enrollments",
    "/v1/courses/{course_id}/modules",
    "/v1/courses/{course_id}/quizzes",
    "/v1/modules/{module_id}/lessons",
];

/// The path parameter and id a `Location` names: `/v1/enrollments/<id>` is the item of
/// `/v1/enrollments/{enrollment_id}`.
fn item_of_location(spec: &Value, location: &str) -> Option<(String, String)> {
    spec["paths"].as_object()?.keys().find_map(|path| {
        let (prefix, param) = path.rsplit_once('/')?;
        let name = param.strip_prefix('{')?.strip_suffix('}')?;
        if prefix.contains('{') {
            return None;
        }
        let id = location.strip_prefix(&format!("{prefix}/"))?;
        (!id.is_empty() && !id.contains('/')).then(|| (name.to_string(), id.to_string()))
    })
}

async fn settle(app: &TestApp, location: &str, token: &str) {
    for _ in 0..600 {
        let reply = app.get(location, token).await;
        assert_eq!(reply.status, StatusCode::OK, "{location}: {}", reply.body);
        if reply.body["state"] != "running" {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{location} is still running after 30 s");
}

fn fill(path: &str, ids: &BTreeMap<String, String>) -> Result<String, String> {
    let mut filled = path.to_string();
    for param in path_params(path) {
        let id = ids
            .get(&param)
            .ok_or_else(|| format!("no create operation yields {param} (for {path})"))?;
        filled = filled.replace(&format!("{{{param}}}"), id);
    }
    Ok(filled)
}

fn strings_in(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::String(s) => {
            out.insert(s.clone());
        }
        Value::Array(items) => items.iter().for_each(|v| strings_in(v, out)),
        Value::Object(map) => map.values().for_each(|v| strings_in(v, out)),
        _ => {}
    }
}

/// The listed items whose id is one of `ids`, by id.
fn listed(body: &Value, ids: &BTreeSet<String>) -> BTreeMap<String, Value> {
    body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| {
            let id = item["id"].as_str()?;
            ids.contains(id).then(|| (id.to_string(), timeless(item)))
        })
        .collect()
}

async fn promise_d1_cross_tenant_access_is_not_found(backend: Backend) {
    let spec = load_spec();
    let all = operations(&spec);
    let mut tenant_ops = Vec::new();
    let mut unclassified = Vec::new();
    for op in &all {
        let schemes = op.schemes();
        if op.path.contains("{incident_id}") {
            // Incidents are opened only by a signed-in person's own report, never by an API
            // key; incidents.rs tries another institution's admin on them.
            println!("skipped by rule (made by a person's report): {}", op.name());
        } else if op.path.starts_with("/v1/billing/reconciliations") {
            // A comparison with the institution's Stripe account: it makes no resource and
            // needs Stripe; billing.rs runs it and checks one institution's finance sees
            // only its own payments. Its recorded runs are made only by such a comparison:
            // billing_reconciliation.rs tries another institution's finance on them.
            println!("skipped by rule (computed from Stripe): {}", op.name());
        } else if op.path.contains("{payment_id}") {
            // Payments are made only by a purchase Stripe confirmed, and this suite has no
            // Stripe; billing.rs tries another institution's finance on them.
            println!("skipped by rule (made by a paid purchase): {}", op.name());
        } else if op.path.contains("{version}") {
            // Versions (of an institution's privacy addendum) are numbers counted per
            // institution, not ids: every institution has its own version 1, so naming one
            // reaches the caller's own. addenda.rs checks another institution's are unseen.
            println!(
                "skipped by rule (per-institution version numbers): {}",
                op.name()
            );
        } else if ["/ServiceProviderConfig", "/ResourceTypes", "/Schemas"]
            .iter()
            .any(|doc| op.path.starts_with(&format!("/v1/scim/v2{doc}")))
        {
            // SCIM discovery: the same documents for every institution, named by fixed
            // resource-type names and schema URNs, not by ids of anyone's data.
            println!("skipped by rule (SCIM discovery): {}", op.name());
        } else if op.path.starts_with("/v1/guardians/me/") {
            // A signed-in guardian's own minors (A1): an API key is no guardian, and
            // minors.rs tries another child and another guardian.
            println!("skipped by rule (a guardian's own minors): {}", op.name());
        } else if op.path.starts_with("/v1/me/") {
            // A signed-in person's own record and sessions: no id of another tenant can be
            // named there except a session id, which sso.rs tries across people and tenants.
            println!("skipped by rule (own records): {}", op.name());
        } else if schemes.iter().all(|s| s == "LrsCredential") && !schemes.is_empty() {
            // The xAPI LRS: its resources are named by the client's own ids (statement ids,
            // activity IRIs, agents), not by path ids; xapi.rs stores the same statement id
            // and documents in two institutions and reads each with the other's credential.
            println!(
                "skipped by rule (xAPI, ids chosen by the client): {}",
                op.name()
            );
        } else if schemes.iter().any(|s| s == TENANT_SCHEME) {
            tenant_ops.push(op.clone());
        } else if schemes.is_empty() || schemes.iter().all(|s| s == OPERATOR_SCHEME) {
            println!("skipped by rule ({schemes:?}): {}", op.name());
        } else {
            unclassified.push(format!("{} uses {schemes:?}", op.name()));
        }
    }
    assert!(
        unclassified.is_empty(),
        "operations under a security scheme this suite has no rule for (add one in isolation.rs):\n  {}",
        unclassified.join("\n  ")
    );
    let mut targeted: Vec<&Operation> = tenant_ops
        .iter()
        .filter(|op| !op.path_params().is_empty())
        .collect();
    // Reads first and deletes last: a leaking delete would otherwise hide every later leak
    // behind an honest 404.
    targeted.sort_by_key(|op| match op.method {
        Method::GET | Method::HEAD => 0,
        Method::DELETE => 2,
        _ => 1,
    });
    assert!(
        !targeted.is_empty(),
        "the spec has no institution operation that takes an id"
    );

    // Every problem with the spec itself first: it names the fix.
    let mut spec_gaps = Vec::new();
    for op in &tenant_ops {
        if let Err(e) = request_example(&spec, op) {
            spec_gaps.push(e);
        }
        let unfillable = unfillable_params(op);
        if !unfillable.is_empty() {
            spec_gaps.push(format!(
                "{} has required parameters this suite cannot fill: {}",
                op.name(),
                unfillable.join(", ")
            ));
        }
    }
    assert!(spec_gaps.is_empty(), "{}", spec_gaps.join("\n"));

    let app = spawn(backend).await;
    let a = app.create_institution("alpha").await;
    let b = app.create_institution("bravo").await;
    // B holds data of its own (with the same examples), so its listings are not trivially
    // empty and unique values such as a course code are unique per institution only.
    let seeded_a = seed(&app, &spec, &tenant_ops, &a).await;
    let seeded_b = seed(&app, &spec, &tenant_ops, &b).await;
    assert!(!seeded_a.all.is_empty(), "seeding created nothing");
    assert!(seeded_a.all.is_disjoint(&seeded_b.all));

    let unfilled: Vec<String> = targeted
        .iter()
        .filter_map(|op| fill(&op.path, &seeded_a.by_param).err())
        .collect();
    assert!(unfilled.is_empty(), "{}", unfilled.join("\n"));

    // What A sees before B tries anything.
    let reads: Vec<&Operation> = targeted
        .iter()
        .copied()
        .filter(|op| op.method == Method::GET)
        .collect();
    let listings: Vec<&Operation> = tenant_ops
        .iter()
        .filter(|op| is_listing(&spec, op))
        .collect();
    let mut before = BTreeMap::new();
    for op in &reads {
        let path = fill(&op.path, &seeded_a.by_param).unwrap();
        let reply = app.get(&path, &a.admin_token).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "A reads {path}: {}",
            reply.body
        );
        before.insert(path, reply.body);
    }
    let mut listed_before = BTreeMap::new();
    for op in &listings {
        let reply = app.get(&op.path, &a.admin_token).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "{}: {}",
            op.name(),
            reply.body
        );
        listed_before.insert(op.path.clone(), listed(&reply.body, &seeded_a.all));
    }

    // B aims every id-taking operation at A's resources.
    let mut leaks = Vec::new();
    for (n, op) in targeted.iter().enumerate() {
        let path = fill(&op.path, &seeded_a.by_param).unwrap();
        let body = request_example(&spec, op).unwrap();
        let key = format!("isolation-{n}");
        let reply = app
            .call_with(
                op.method.clone(),
                &path,
                Some(&b.admin_token),
                body,
                &[("If-Match", "\"1\""), ("Idempotency-Key", &key)],
            )
            .await;
        // SCIM answers in SCIM's own error schema (`status` as a string); the rest of the API
        // in problem+json.
        let content_type = reply.header("content-type");
        let absent = if op.path.starts_with("/v1/scim/v2/") {
            content_type
                .as_deref()
                .is_some_and(|t| t.starts_with("application/scim+json"))
                && reply.body["status"] == "404"
        } else {
            content_type.as_deref() == Some("application/problem+json")
                && reply.body["status"] == 404
        };
        if reply.status != StatusCode::NOT_FOUND || !absent {
            leaks.push(format!(
                "{} {path} with B's key answered {} {}",
                op.method, reply.status, reply.body
            ));
        }
    }
    assert!(
        leaks.is_empty(),
        "another institution's resources must look absent (404 problem+json, or SCIM's error):\n  {}",
        leaks.join("\n  ")
    );

    // Nothing of A's changed, and A still reads it all.
    for (path, was) in &before {
        let reply = app.get(path, &a.admin_token).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "A reads {path}: {}",
            reply.body
        );
        assert_eq!(
            &timeless(&reply.body),
            &timeless(was),
            "{path} changed during B's attempts"
        );
    }

    // Listings: B's shows none of A's ids; A's still shows what A created, unchanged.
    for op in &listings {
        let of_b = app.get(&op.path, &b.admin_token).await;
        assert_eq!(of_b.status, StatusCode::OK, "{}: {}", op.name(), of_b.body);
        let mut seen_by_b = BTreeSet::new();
        strings_in(&of_b.body, &mut seen_by_b);
        let foreign: Vec<_> = seen_by_b.intersection(&seeded_a.all).collect();
        assert!(
            foreign.is_empty(),
            "{} lists A's {foreign:?} to B",
            op.name()
        );
        let of_a = app.get(&op.path, &a.admin_token).await;
        assert_eq!(of_a.status, StatusCode::OK);
        if let Some(own) = seeded_a.by_collection.get(&op.path) {
            assert!(
                listed(&of_a.body, &seeded_a.all).contains_key(own),
                "{} does not list A's own {own}",
                op.name()
            );
            let b_own = &seeded_b.by_collection[&op.path];
            assert!(
                listed(&of_b.body, &seeded_b.all).contains_key(b_own),
                "{} does not list B's own {b_own}",
                op.name()
            );
        }
        assert_eq!(
            listed(&of_a.body, &seeded_a.all),
            listed_before[&op.path],
            "A's items in {} changed during B's attempts",
            op.name()
        );
    }
    println!(
        "{} operations aimed at another institution's ids, {} reads and {} listings compared",
        targeted.len(),
        reads.len(),
        listings.len()
    );
}

/// A body without what is computed from the time of the read (a data-subject request's
/// `clock`: while identity verification is pending its due date moves with the pause), so
/// that comparing two reads compares what is stored.
fn timeless(body: &Value) -> Value {
    let mut body = body.clone();
    if let Some(fields) = body.as_object_mut() {
        fields.remove("clock");
    }
    body
}
