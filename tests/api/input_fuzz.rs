//! Bad input, generated from the committed spec: for every operation, every string parameter
//! (path, query, header) and every string body field (at any depth, after `$ref`, `allOf` and
//! arrays) is sent NUL, other control characters, invalid UTF-8 where the carrier allows it,
//! an over-long value and wrong types, with credentials that pass the operation's security
//! and valid-looking values everywhere else. Every answer must be a 4xx problem (never a 5xx,
//! never a success) and the whole database (control plane and tenant) must be unchanged
//! afterwards. No randomness: the same spec gives the same requests.
//!
//! The walker (fixture, [`probes`], [`send`], [`table_rows`]) is shared: what goes into each
//! kind of field is a [`Mutations`], so tests/api/card_numbers.rs sends card numbers
//! through the same fields.

use crate::both_backends;
use crate::support::{Backend, TestApp, spawn, spawn_with};
use hub_tenant::Principal;
use reqwest::header::{HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

both_backends!(
    bad_text_and_wrong_types_in_any_field_are_4xx_problems_that_change_nothing,
    the_reported_inputs_are_refused_with_the_field_named
);

/// Stands in for ids of resources the run does not create (404 is a fine answer).
const ABSENT_ID: &str = "0190a0b0-0000-7000-8000-000000000001";
const PASSWORD: &str = "meadow-kettle-orbit-42";
/// Longer than any text field the API accepts (SAML metadata, 128 KiB, is the longest)
/// and well under the 1 MiB body limit.
const OVERSIZED_BODY_TEXT: usize = 300_000;
/// Longer than any path segment, query value or header the API accepts.
const OVERSIZED_URL_TEXT: usize = 10_000;

/// What the walker puts into each kind of field, each value with its label. Called once per
/// field, so an implementation may vary its values from field to field (deterministically).
pub trait Mutations {
    /// Path segments and query values, raw bytes before percent-encoding.
    fn url(&self) -> Vec<(String, Vec<u8>)>;
    /// A path or query parameter that is not text (a number, a boolean).
    fn url_not_text(&self, schema: &Value) -> Vec<(String, Vec<u8>)>;
    fn json_string(&self) -> Vec<(String, Value)>;
    fn json_number(&self) -> Vec<(String, Value)>;
    fn json_bool(&self) -> Vec<(String, Value)>;
    /// Form fields, raw bytes before percent-encoding.
    fn form(&self) -> Vec<(String, Vec<u8>)>;
    /// Declared header parameters.
    fn header(&self) -> Vec<(String, Vec<u8>)>;
    /// The stored headers the spec does not declare, on the sign-in that stores them.
    fn stored_header(&self) -> Vec<(String, Vec<u8>)>;
    /// A member name added to a JSON object body.
    fn member_name(&self) -> Vec<(String, String)>;
}

fn labelled<T>(values: Vec<(&'static str, T)>) -> Vec<(String, T)> {
    values
        .into_iter()
        .map(|(l, v)| (l.to_string(), v))
        .collect()
}

/// Bad text and wrong types: what this module's tests send.
pub struct BadInput;

impl Mutations for BadInput {
    fn url(&self) -> Vec<(String, Vec<u8>)> {
        labelled(url_values())
    }
    fn url_not_text(&self, schema: &Value) -> Vec<(String, Vec<u8>)> {
        let wrong = if schema["type"] == "boolean" {
            "maybe"
        } else {
            "not-a-number"
        };
        vec![("wrong type".into(), wrong.as_bytes().to_vec())]
    }
    fn json_string(&self) -> Vec<(String, Value)> {
        labelled(json_string_values())
    }
    fn json_number(&self) -> Vec<(String, Value)> {
        vec![("string for a number".into(), json!("12"))]
    }
    fn json_bool(&self) -> Vec<(String, Value)> {
        vec![("string for a boolean".into(), json!("true"))]
    }
    fn form(&self) -> Vec<(String, Vec<u8>)> {
        labelled(form_values())
    }
    fn header(&self) -> Vec<(String, Vec<u8>)> {
        labelled(header_values())
    }
    fn stored_header(&self) -> Vec<(String, Vec<u8>)> {
        // Over-long ones are cut to 512 bytes by design, so only bad characters are tried.
        labelled(header_values())
            .into_iter()
            .filter(|(l, _)| l != "oversized")
            .collect()
    }
    fn member_name(&self) -> Vec<(String, String)> {
        vec![("NUL".into(), "bad\u{0}key".into())]
    }
}

/// What goes into a path segment or query value, as raw bytes before percent-encoding.
fn url_values() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("NUL", b"a\0b".to_vec()),
        ("U+0001", b"\x01".to_vec()),
        ("ESC", b"\x1b[0m".to_vec()),
        ("DEL", b"\x7f".to_vec()),
        ("C1 NEL", "x\u{85}".as_bytes().to_vec()),
        ("invalid UTF-8", b"\xff\xfe".to_vec()),
        ("lone surrogate", b"\xed\xa0\x80".to_vec()),
        ("oversized", vec![b'a'; OVERSIZED_URL_TEXT]),
    ]
}

/// What goes into a JSON string; `LONE_SURROGATE` is spliced in as the raw escape `\ud800`.
const LONE_SURROGATE: &str = "__lone_surrogate__";
fn json_string_values() -> Vec<(&'static str, Value)> {
    vec![
        ("NUL", json!("a\u{0}b")),
        ("U+0001", json!("\u{1}")),
        ("ESC", json!("\u{1b}[0m")),
        ("DEL", json!("\u{7f}")),
        ("C1 NEL", json!("x\u{85}")),
        ("lone surrogate", json!(LONE_SURROGATE)),
        ("oversized", json!("a".repeat(OVERSIZED_BODY_TEXT))),
        ("number", json!(12345)),
        ("object", json!({"a": "b"})),
        ("array", json!(["a"])),
    ]
}

/// What goes into a form field, raw bytes before percent-encoding.
fn form_values() -> Vec<(&'static str, Vec<u8>)> {
    let mut values = url_values();
    values.retain(|(name, _)| *name != "oversized");
    values.push(("oversized", vec![b'a'; OVERSIZED_BODY_TEXT]));
    values
}

/// Header values an HTTP/1.1 client can send at all (hyper's parser answers a NUL, CR, LF or
/// DEL in a header with its own 400 before the application sees it).
fn header_values() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("TAB", b"a\tb".to_vec()),
        ("obs-text", b"a\xff\xfeb".to_vec()),
        ("oversized", vec![b'a'; OVERSIZED_URL_TEXT]),
    ]
}

/// Headers the service stores though the spec does not declare them (session records keep
/// them), tried on the sign-in that would store them.
const STORED_UNDECLARED_HEADERS: [&str; 2] = ["user-agent", "x-device-id"];

pub fn percent_encode(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

pub struct Spec(pub Value);

impl Spec {
    pub fn load() -> Self {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../openapi/openapi.json");
        let text = std::fs::read_to_string(&path).expect("the committed spec");
        Self(serde_json::from_str(&text).expect("spec is JSON"))
    }

    /// Follows `$ref` and single-element `allOf` (how poem-openapi wraps a described ref).
    fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        if let Some(reference) = schema["$ref"].as_str() {
            let name = reference.trim_start_matches("#/components/schemas/");
            return self.resolve(&self.0["components"]["schemas"][name]);
        }
        if let Some([only]) = schema["allOf"].as_array().map(Vec::as_slice) {
            return self.resolve(only);
        }
        if let Some(first) = schema["oneOf"].as_array().and_then(|a| a.first()) {
            return self.resolve(first);
        }
        schema
    }

    /// A valid-looking value for a schema: the schema's example where it has one, with every
    /// declared property present (so each can be mutated), else one built from the types.
    fn sample(&self, schema: &Value, name: &str) -> Value {
        let schema = self.resolve(schema);
        if let Some(hint) = hinted(name) {
            return hint;
        }
        if let Some(first) = schema["enum"].as_array().and_then(|e| e.first()) {
            return first.clone();
        }
        match schema["type"].as_str() {
            Some("object") | None if schema["properties"].is_object() => {
                let mut object = schema["example"].as_object().cloned().unwrap_or_default();
                for (key, property) in schema["properties"].as_object().into_iter().flatten() {
                    let missing = object.get(key).is_none_or(Value::is_null);
                    if let Some(hint) = hinted(key) {
                        object.insert(key.clone(), hint);
                    } else if missing {
                        object.insert(key.clone(), self.sample(property, key));
                    } else if let (Some(items), Some(values)) = (
                        self.resolve(property)["items"].as_object(),
                        object.get_mut(key).and_then(Value::as_array_mut),
                    ) {
                        // Items of an example array gain the properties the example left out.
                        for value in values.iter_mut() {
                            if value.is_object() {
                                let full = self.sample(&Value::Object(items.clone()), key);
                                merge_missing(value, &full);
                            }
                        }
                    }
                }
                Value::Object(object)
            }
            Some("array") => {
                let items = &schema["items"];
                if items.as_object().is_some_and(|i| !i.is_empty()) {
                    json!([self.sample(items, name)])
                } else {
                    json!([])
                }
            }
            Some("string") => match schema["format"].as_str() {
                Some("uuid") => json!(ABSENT_ID),
                Some("date-time") => json!("2026-12-01T00:00:00Z"),
                Some("date") => json!("2000-01-01"),
                _ => schema["example"]
                    .clone()
                    .as_str()
                    .map_or(json!("sample"), |s| json!(s)),
            },
            Some("integer") => schema["minimum"]
                .as_i64()
                .map_or(json!(1), |m| json!(m.max(1))),
            Some("number") => json!(1.5),
            Some("boolean") => json!(false),
            _ => schema["example"].clone(),
        }
    }
}

fn merge_missing(value: &mut Value, full: &Value) {
    if let (Some(target), Some(source)) = (value.as_object_mut(), full.as_object()) {
        for (key, v) in source {
            if target.get(key).is_none_or(Value::is_null) {
                target.insert(key.clone(), v.clone());
            }
        }
    }
}

/// Values that make a request pass the checks before the mutated field (the fixture's
/// institution and its person's sign-in).
fn hinted(name: &str) -> Option<Value> {
    match name {
        "tenant" => Some(json!("north")),
        "login" => Some(json!("ada")),
        "password" | "current_password" => Some(json!(PASSWORD)),
        "new_password" => Some(json!("another-strong-phrase-9")),
        _ => None,
    }
}

/// Every leaf of a JSON value with its pointer, for mutation.
fn leaves(value: &Value, pointer: String, out: &mut Vec<(String, Value)>) {
    match value {
        Value::Object(members) => {
            for (key, member) in members {
                leaves(
                    member,
                    format!("{pointer}/{}", key.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                leaves(item, format!("{pointer}/{i}"), out);
            }
        }
        leaf => out.push((pointer, leaf.clone())),
    }
}

/// One request of the run, described for the report.
pub struct Probe {
    pub operation: String,
    /// The carrier and the field, e.g. `query code`, `body /title`.
    pub field: String,
    /// The name the guard gives the field in its answer (`code`, `/title`, `if-match`).
    pub named: String,
    pub value: String,
    pub method: Method,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Option<(String, Vec<u8>)>,
    pub token: Option<String>,
}

pub struct Fixture {
    admin: String,
    scim: String,
    /// The signed-in person's session token.
    pub session: String,
    /// An LRS credential, as the `Authorization` value HTTP Basic sends.
    lrs: String,
    ids: BTreeMap<&'static str, String>,
}

async fn token_principal(app: &TestApp, token: &str) -> hub_tenant::TenantPrincipal {
    match app.state.tenancy.authenticate(token).await.unwrap() {
        Principal::Tenant(principal) => principal,
        Principal::Operator(_) => panic!("not a tenant key"),
    }
}

/// An institution with one of everything the paths name, a SCIM key and a signed-in person.
pub async fn fixture(app: &TestApp, spec: &Spec) -> Fixture {
    let north = app.create_institution("north").await;
    let admin = north.admin_token.clone();
    let example = |name: &str| spec.0["components"]["schemas"][name]["example"].clone();
    let created = |reply: crate::support::Reply| {
        assert!(
            reply.status.is_success(),
            "fixture: {} {}",
            reply.status,
            reply.body
        );
        reply.body["id"].as_str().unwrap().to_string()
    };
    let mut ids = BTreeMap::new();
    ids.insert("tenant_id", north.id.clone());
    ids.insert(
        "course_id",
        created(
            app.post("/v1/courses", &admin, example("CourseCreate"))
                .await,
        ),
    );
    ids.insert(
        "contact_id",
        created(
            app.post("/v1/contacts", &admin, example("ContactCreate"))
                .await,
        ),
    );
    let ada = app
        .post(
            "/v1/people",
            &admin,
            json!({"name": "Ada Lovelace", "username": "ada", "email": "ada@north.test", "roles": ["learner"]}),
        )
        .await;
    let ada_id = created(ada);
    ids.insert("person_id", ada_id.clone());
    let scim_key = app
        .post(
            "/v1/api-keys",
            &admin,
            json!({"name": "SCIM", "scopes": ["scim:provision"]}),
        )
        .await;
    assert_eq!(scim_key.status, StatusCode::CREATED, "{}", scim_key.body);
    let scim = scim_key.body["token"].as_str().unwrap().to_string();
    ids.insert(
        "key_id",
        scim_key.body["id"]
            .as_str()
            .unwrap_or(ABSENT_ID)
            .to_string(),
    );
    ids.insert(
        "user_id",
        created(
            app.post("/v1/scim/v2/Users", &scim, example("ScimUserCreate"))
                .await,
        ),
    );
    ids.insert(
        "group_id",
        created(
            app.post("/v1/scim/v2/Groups", &scim, example("ScimGroupCreate"))
                .await,
        ),
    );

    // Ada signs in with a local password (as in passwords.rs: enable, reset code, reset).
    app.allow_local_accounts(&admin).await;
    let requested = app
        .call(
            Method::POST,
            "/v1/auth/password-reset-requests",
            None,
            Some(json!({"tenant": "north", "email": "ada@north.test"})),
        )
        .await;
    assert!(requested.status.is_success(), "{}", requested.body);
    let principal = token_principal(app, &admin).await;
    let scope = app.state.tenancy.scope(&principal).await.unwrap();
    let messages = hub_identity::incidents::pending_messages(&scope, ada_id.parse().unwrap())
        .await
        .unwrap();
    drop(scope);
    let (_, text) = messages
        .iter()
        .rev()
        .find(|(kind, _)| kind == "password_reset")
        .expect("a reset message")
        .clone();
    let code = text
        .split("minutes: ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    let reset = app
        .call(
            Method::POST,
            "/v1/auth/password-resets",
            None,
            Some(json!({"tenant": "north", "token": code, "new_password": PASSWORD})),
        )
        .await;
    assert_eq!(reset.status, StatusCode::NO_CONTENT, "{}", reset.body);
    let signed_in = app
        .call(
            Method::POST,
            "/v1/auth/password",
            None,
            Some(json!({"tenant": "north", "login": "ada", "password": PASSWORD})),
        )
        .await;
    assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.body);
    let session = signed_in.body["session_token"]
        .as_str()
        .unwrap()
        .to_string();
    let lrs = crate::xapi::lrs_credential(app, &admin, &["all"]).await;
    // Used once here, so its last-used time is set before the run's snapshot.
    crate::xapi::xapi(
        app,
        &lrs,
        Method::GET,
        "/xapi/statements",
        None,
        Some("1.0.3"),
    )
    .await;
    let lrs = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("{}:{}", lrs.key, lrs.secret)
        )
    );
    Fixture {
        admin,
        scim,
        session,
        lrs,
        ids,
    }
}

/// The credential that passes an operation's security, or none for a public one.
fn credential(app: &TestApp, fx: &Fixture, path: &str, operation: &Value) -> Option<String> {
    let scheme = operation["security"][0].as_object()?.keys().next()?.clone();
    Some(match scheme.as_str() {
        "OperatorKey" => app.operator_token.clone(),
        "LrsCredential" => fx.lrs.clone(),
        _ if path.starts_with("/v1/me") => fx.session.clone(),
        _ if path.starts_with("/v1/scim/") => fx.scim.clone(),
        _ => fx.admin.clone(),
    })
}

/// Every probe for every operation of the spec, with the ETags the updates need.
pub async fn probes(
    app: &TestApp,
    spec: &Spec,
    fx: &Fixture,
    mutations: &impl Mutations,
) -> Vec<Probe> {
    let mut probes = Vec::new();
    for (template, operations) in spec.0["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            let method: Method = method.to_uppercase().parse().unwrap();
            let name = operation["operationId"]
                .as_str()
                .unwrap_or(template)
                .to_string();
            let token = credential(app, fx, template, operation);
            let parameters = operation["parameters"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let value_of = |p: &Value| -> String {
                let name = p["name"].as_str().unwrap();
                if let Some(id) = fx.ids.get(name) {
                    return id.clone();
                }
                match name {
                    "tenant_slug" => "north".into(),
                    _ => match spec.sample(&p["schema"], name) {
                        Value::String(s) => s,
                        other => other.to_string(),
                    },
                }
            };
            let mut path = template.clone();
            for p in parameters.iter().filter(|p| p["in"] == "path") {
                path = path.replace(
                    &format!("{{{}}}", p["name"].as_str().unwrap()),
                    &value_of(p),
                );
            }
            // Required query parameters only: an optional filter left out is still valid.
            let base_query: Vec<(String, String)> = parameters
                .iter()
                .filter(|p| p["in"] == "query" && p["required"] == true)
                .map(|p| (p["name"].as_str().unwrap().to_string(), value_of(p)))
                .collect();
            let mut base_headers: Vec<(String, Vec<u8>)> = Vec::new();
            if parameters.iter().any(|p| p["name"] == "If-Match") {
                let current = app
                    .call(Method::GET, &path, token.as_deref(), None)
                    .await
                    .header("etag")
                    .unwrap_or_else(|| "\"1\"".into());
                base_headers.push(("If-Match".into(), current.into_bytes()));
            }
            // Required headers carry a valid value too (the xAPI version the LRS speaks).
            for p in parameters
                .iter()
                .filter(|p| p["in"] == "header" && p["required"] == true)
            {
                let pname = p["name"].as_str().unwrap();
                let value = if pname == "X-Experience-API-Version" {
                    "1.0.3".to_string()
                } else {
                    value_of(p)
                };
                base_headers.push((pname.to_string(), value.into_bytes()));
            }
            let content = operation["requestBody"]["content"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            let (media, body_schema) = content
                .iter()
                .next()
                .map(|(m, c)| (m.clone(), c["schema"].clone()))
                .unzip();
            let base_body = body_schema.as_ref().map(|s| spec.sample(s, ""));
            let probe = |field: String, named: &str, value: String| Probe {
                operation: name.clone(),
                field,
                named: named.to_string(),
                value,
                method: method.clone(),
                path: path.clone(),
                query: base_query.clone(),
                headers: base_headers.clone(),
                body: match (&media, &base_body) {
                    (Some(media), Some(body)) => Some((media.clone(), encode_body(media, body))),
                    _ => None,
                },
                token: token.clone(),
            };

            for p in &parameters {
                let pname = p["name"].as_str().unwrap().to_string();
                let schema = spec.resolve(&p["schema"]);
                let is_text = schema["type"] == "string" || schema["enum"].is_array();
                let location = p["in"].as_str().unwrap();
                match (location, is_text) {
                    ("path", _) | ("query", _) => {
                        let values = if is_text {
                            mutations.url()
                        } else {
                            mutations.url_not_text(schema)
                        };
                        for (label, bytes) in values {
                            let mut probe = probe(format!("{location} {pname}"), &pname, label);
                            set_url_value(
                                &mut probe,
                                location,
                                &pname,
                                &template_of(template),
                                percent_encode(&bytes),
                            );
                            probes.push(probe);
                        }
                    }
                    ("header", _) => {
                        for (label, bytes) in mutations.header() {
                            let mut probe = probe(
                                format!("header {pname}"),
                                &pname.to_ascii_lowercase(),
                                label,
                            );
                            probe
                                .headers
                                .retain(|(n, _)| !n.eq_ignore_ascii_case(&pname));
                            probe.headers.push((pname.clone(), bytes));
                            probes.push(probe);
                        }
                    }
                    _ => {}
                }
            }

            if let (Some(media), Some(body)) = (&media, &base_body) {
                let mut fields = Vec::new();
                leaves(body, String::new(), &mut fields);
                for (pointer, leaf) in fields {
                    let values: Vec<(String, Value)> = match leaf {
                        Value::String(_) if media.contains("form") => Vec::new(),
                        Value::String(_) => mutations.json_string(),
                        Value::Number(_) => mutations.json_number(),
                        Value::Bool(_) => mutations.json_bool(),
                        _ => Vec::new(),
                    };
                    for (label, value) in values {
                        let mut mutated = body.clone();
                        *mutated.pointer_mut(&pointer).unwrap() = value;
                        // A body of another media type is scanned whole, as `body`.
                        let named = if media.contains("json") {
                            pointer.as_str()
                        } else {
                            "body"
                        };
                        let mut probe = probe(format!("body {pointer}"), named, label);
                        probe.body = Some((media.clone(), encode_body(media, &mutated)));
                        probes.push(probe);
                    }
                    if media.contains("form") {
                        let key = pointer.trim_start_matches('/').to_string();
                        for (label, bytes) in mutations.form() {
                            let mut probe = probe(format!("form {key}"), &key, label);
                            probe.body = Some((media.clone(), encode_form(body, &key, &bytes)));
                            probes.push(probe);
                        }
                    }
                }
                if body.is_object() && !media.contains("form") {
                    for (label, key) in mutations.member_name() {
                        let mut mutated = body.clone();
                        mutated
                            .as_object_mut()
                            .unwrap()
                            .insert(key.clone(), json!("x"));
                        let named = format!("/{}", key.replace('~', "~0").replace('/', "~1"));
                        let mut probe = probe("body member name".into(), &named, label);
                        probe.body = Some((media.clone(), encode_body(media, &mutated)));
                        probes.push(probe);
                    }
                }
            }

            if name == "signInWithPassword" || template == "/v1/auth/password" {
                for header in STORED_UNDECLARED_HEADERS {
                    for (label, bytes) in mutations.stored_header() {
                        let mut probe = probe(format!("header {header}"), header, label);
                        probe.headers.push((header.into(), bytes));
                        probes.push(probe);
                    }
                }
            }
        }
    }
    probes
}

/// The path template's segments, to put a value into the segment of one parameter.
fn template_of(template: &str) -> Vec<String> {
    template.split('/').map(str::to_string).collect()
}

fn set_url_value(
    probe: &mut Probe,
    location: &str,
    name: &str,
    template: &[String],
    encoded: String,
) {
    if location == "path" {
        let mut segments: Vec<String> = probe.path.split('/').map(str::to_string).collect();
        if let Some(i) = template.iter().position(|s| *s == format!("{{{name}}}")) {
            segments[i] = encoded;
        }
        probe.path = segments.join("/");
    } else {
        probe.query.retain(|(n, _)| n != name);
        probe.query.push((name.to_string(), encoded));
    }
}

fn encode_body(media: &str, body: &Value) -> Vec<u8> {
    if media.contains("form") {
        let pairs = body.as_object().cloned().unwrap_or_default();
        return pairs
            .iter()
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    percent_encode(k.as_bytes()),
                    percent_encode(v.as_str().unwrap_or("x").as_bytes())
                )
            })
            .collect::<Vec<_>>()
            .join("&")
            .into_bytes();
    }
    body.to_string()
        .replace(&format!("\"{LONE_SURROGATE}\""), "\"\\ud800\"")
        .into_bytes()
}

fn encode_form(body: &Value, key: &str, bytes: &[u8]) -> Vec<u8> {
    let mut pairs: Map<String, Value> = body.as_object().cloned().unwrap_or_default();
    pairs.remove(key);
    let mut encoded = String::from_utf8(encode_body("form", &Value::Object(pairs))).unwrap();
    if !encoded.is_empty() {
        encoded.push('&');
    }
    encoded.push_str(&format!(
        "{}={}",
        percent_encode(key.as_bytes()),
        percent_encode(bytes)
    ));
    encoded.into_bytes()
}

/// What an answer to a probe must be; `None` when it is right.
fn fault(status: StatusCode, content_type: &str, path: &str) -> Option<String> {
    if !status.is_client_error() {
        return Some(format!("status {status}"));
    }
    let problem = content_type.starts_with("application/problem+json")
        || (path.starts_with("/v1/scim/") && content_type.starts_with("application/scim+json"));
    (!problem).then(|| format!("{status} with content type `{content_type}`"))
}

/// What a probe was answered with.
pub struct Answer {
    pub status: StatusCode,
    pub content_type: String,
    /// The whole body.
    pub text: String,
    pub request_id: String,
}

pub async fn send(app: &TestApp, probe: &Probe) -> Answer {
    let mut url = format!("{}{}", app.base, probe.path);
    if !probe.query.is_empty() {
        let query: Vec<String> = probe
            .query
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect();
        url = format!("{url}?{}", query.join("&"));
    }
    let mut request = app.client.request(probe.method.clone(), url);
    match &probe.token {
        Some(basic) if basic.starts_with("Basic ") => {
            request = request.header("authorization", basic.as_str());
        }
        Some(token) => request = request.bearer_auth(token),
        None => {}
    }
    for (name, value) in &probe.headers {
        request = request.header(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_bytes(value).unwrap(),
        );
    }
    if let Some((media, bytes)) = &probe.body {
        request = request
            .header("content-type", media.as_str())
            .body(bytes.clone());
    }
    let response = request.send().await.expect("request sent");
    let status = response.status();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let content_type = header("content-type");
    let request_id = header("x-request-id");
    let text = response.text().await.unwrap_or_default();
    Answer {
        status,
        content_type,
        text,
        request_id,
    }
}

/// Every row of every table of the control plane and of each tenant, as text, by table;
/// the columns named in `omit` left out. PostgreSQL rows are `to_jsonb` texts (a `bytea` in
/// hex); SQLite columns are their text, or `x'…'` hex where they are not UTF-8.
pub async fn table_rows(app: &TestApp, omit: &[&str]) -> BTreeMap<String, Vec<String>> {
    let mut tables = BTreeMap::new();
    match app.backend {
        Backend::Postgres => {
            let db = Database::connect(app.database_url.clone().unwrap())
                .await
                .unwrap();
            let list = db
                .query_all_raw(Statement::from_string(
                    DbBackend::Postgres,
                    "SELECT table_schema, table_name FROM information_schema.tables \
                     WHERE table_type = 'BASE TABLE' \
                     AND table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2",
                ))
                .await
                .unwrap();
            let omitted: String = omit.iter().map(|c| format!(" - '{c}'")).collect();
            for row in list {
                let schema: String = row.try_get("", "table_schema").unwrap();
                let table: String = row.try_get("", "table_name").unwrap();
                let rows: Vec<String> = db
                    .query_all_raw(Statement::from_string(
                        DbBackend::Postgres,
                        format!(
                            "SELECT (to_jsonb(t){omitted})::text AS r \
                             FROM \"{schema}\".\"{table}\" t ORDER BY r"
                        ),
                    ))
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| r.try_get::<String>("", "r").unwrap())
                    .collect();
                tables.insert(format!("{schema}.{table}"), rows);
            }
        }
        Backend::Sqlite => {
            let mut files = vec![app.data_dir().join("control.db")];
            let mut tenant_files: Vec<_> = std::fs::read_dir(app.data_dir().join("tenants"))
                .unwrap()
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "db"))
                .collect();
            tenant_files.sort();
            files.extend(tenant_files);
            for file in files {
                let db = Database::connect(format!("sqlite://{}?mode=ro", file.display()))
                    .await
                    .unwrap();
                let list = db
                    .query_all_raw(Statement::from_string(
                        DbBackend::Sqlite,
                        "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
                    ))
                    .await
                    .unwrap();
                for row in list {
                    let table: String = row.try_get("", "name").unwrap();
                    let columns: Vec<String> = db
                        .query_all_raw(Statement::from_string(
                            DbBackend::Sqlite,
                            format!("SELECT name FROM pragma_table_info('{table}')"),
                        ))
                        .await
                        .unwrap()
                        .iter()
                        .map(|c| c.try_get::<String>("", "name").unwrap())
                        .filter(|c| !omit.contains(&c.as_str()))
                        .collect();
                    // Hex with a NULL marker, so every value comes back exactly.
                    let row_text = columns
                        .iter()
                        .map(|c| format!("coalesce(hex(\"{c}\"), 'NULL')"))
                        .collect::<Vec<_>>()
                        .join(" || ',' || ");
                    let mut rows: Vec<String> = db
                        .query_all_raw(Statement::from_string(
                            DbBackend::Sqlite,
                            format!("SELECT {row_text} AS r FROM \"{table}\""),
                        ))
                        .await
                        .unwrap()
                        .iter()
                        .map(|r| {
                            let hexes = r.try_get::<String>("", "r").unwrap();
                            hexes
                                .split(',')
                                .map(sqlite_value)
                                .collect::<Vec<_>>()
                                .join(",")
                        })
                        .collect();
                    rows.sort();
                    let name = file.file_name().unwrap().to_string_lossy().to_string();
                    tables.insert(format!("{name}:{table}"), rows);
                }
            }
        }
    }
    tables
}

/// One SQLite value from its hex: its text where it is UTF-8, else `x'…'`.
fn sqlite_value(hex_text: &str) -> String {
    if hex_text == "NULL" {
        return "NULL".into();
    }
    let bytes = hex::decode(hex_text).unwrap();
    match String::from_utf8(bytes) {
        Ok(text) => format!("{text:?}"),
        Err(_) => format!("x'{hex_text}'"),
    }
}

/// [`table_rows`] as one text per table. `last_used_at` is left out: authenticating writes it
/// at most once a minute, which is use of a credential, not a change made by refused input.
pub async fn snapshot(app: &TestApp) -> BTreeMap<String, String> {
    table_rows(app, &["last_used_at"])
        .await
        .into_iter()
        .map(|(table, rows)| {
            let text = format!("{} rows {}", rows.len(), rows.join("|"));
            (table, text)
        })
        .collect()
}

/// The tables that differ between two snapshots, shortened for a report.
pub fn changed_tables(
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
) -> Vec<String> {
    before
        .keys()
        .chain(after.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .filter(|t| before.get(*t) != after.get(*t))
        .map(|t| {
            let short = |s: Option<&String>| {
                s.map(|s| s.chars().take(80).collect::<String>())
                    .unwrap_or_default()
            };
            format!("{t}: {} -> {}", short(before.get(t)), short(after.get(t)))
        })
        .collect()
}

async fn bad_text_and_wrong_types_in_any_field_are_4xx_problems_that_change_nothing(
    backend: Backend,
) {
    // The state is compared before and after: the mail sender, which would deliver the
    // seeded reset code meanwhile, looks for due mail only at start, not during the run.
    let app = spawn_with(backend, |config| config.mail_poll_secs = 3600).await;
    let spec = Spec::load();
    let fx = fixture(&app, &spec).await;
    let probes = probes(&app, &spec, &fx, &BadInput).await;

    let before = snapshot(&app).await;
    let mut faults = Vec::new();
    let mut per_operation: BTreeMap<&str, (usize, std::collections::BTreeSet<&str>)> =
        BTreeMap::new();
    for probe in &probes {
        let answer = send(&app, probe).await;
        let entry = per_operation.entry(probe.operation.as_str()).or_default();
        entry.0 += 1;
        entry.1.insert(probe.field.as_str());
        if let Some(why) = fault(answer.status, &answer.content_type, &probe.path) {
            let text: String = answer.text.chars().take(300).collect();
            faults.push(format!(
                "{} {} [{}] = {}: {why}: {text}",
                probe.method, probe.operation, probe.field, probe.value
            ));
        }
    }
    let after = snapshot(&app).await;

    let fields: usize = per_operation.values().map(|(_, f)| f.len()).sum();
    println!(
        "input fuzz on {backend:?}: {} requests, {} operations with inputs, {fields} fields",
        probes.len(),
        per_operation.len()
    );
    for (operation, (requests, fields)) in &per_operation {
        println!(
            "  {operation}: {requests} requests over {} fields",
            fields.len()
        );
    }
    let changed = changed_tables(&before, &after);
    assert!(
        faults.is_empty() && changed.is_empty(),
        "{} of {} probes answered wrongly:\n{}\n\ntables changed by refused input:\n{}",
        faults.len(),
        probes.len(),
        faults.join("\n"),
        changed.join("\n")
    );
    assert!(
        probes.len() > 500,
        "the spec yields far fewer probes than it should"
    );
}

/// The inputs of the report (a NUL in a course code filter, in audit filters, in a SCIM
/// group name) and one of each other carrier: refused as 400 `invalid_input`, field named.
async fn the_reported_inputs_are_refused_with_the_field_named(backend: Backend) {
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
    let course = app
        .post(
            "/v1/courses",
            admin,
            json!({"code": "CS-101", "title": "Intro"}),
        )
        .await;
    let course_path = format!("/v1/courses/{}", course.body["id"].as_str().unwrap());
    let etag = course.header("etag").unwrap_or_else(|| "\"1\"".into());

    // SCIM answers in its own error schema: a refused value is 400 `invalidValue`, the
    // field named in `detail`.
    let scim_reply = app
        .call_with(
            Method::POST,
            "/v1/scim/v2/Groups",
            Some(&scim),
            Some(json!({"displayName": "staff\u{0}"})),
            &[("Content-Type", "application/scim+json")],
        )
        .await;
    assert_eq!(scim_reply.status.as_u16(), 400, "{}", scim_reply.body);
    assert_eq!(
        scim_reply.header("content-type").as_deref(),
        Some("application/scim+json"),
        "{}",
        scim_reply.body
    );
    assert_eq!(
        scim_reply.body["scimType"], "invalidValue",
        "{}",
        scim_reply.body
    );
    assert!(
        scim_reply.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("/displayName")),
        "{}",
        scim_reply.body
    );

    let cases: Vec<(crate::support::Reply, &str)> = vec![
        (app.get("/v1/courses?code=%00", admin).await, "code"),
        (
            app.get("/v1/audit/events?action=%00", admin).await,
            "action",
        ),
        (
            app.get("/v1/audit/events?subject=a%00b", admin).await,
            "subject",
        ),
        (app.get("/v1/courses?tag=%FF", admin).await, "tag"),
        (
            app.get(&format!("/v1/courses?code={}", "a".repeat(4097)), admin)
                .await,
            "code",
        ),
        (
            app.call(
                Method::GET,
                "/v1/sso/no%00rth/saml/0190a0b0-0000-7000-8000-000000000001/metadata",
                None,
                None,
            )
            .await,
            "tenant_slug",
        ),
        (
            app.call_with(
                Method::PATCH,
                &course_path,
                Some(admin),
                Some(json!({"title": 12345, "tags": ["ok", "b\u{1b}d"]})),
                &[("If-Match", etag.as_str())],
            )
            .await,
            "/tags/1",
        ),
        (
            app.call_with(
                Method::POST,
                "/v1/courses",
                Some(admin),
                Some(json!({"code": "CS-102", "title": "Intro"})),
                &[("Idempotency-Key", "a\tb")],
            )
            .await,
            "idempotency-key",
        ),
    ];
    for (reply, field) in cases {
        reply.assert_problem(400, "invalid_input");
        assert!(
            reply.error_fields().iter().any(|f| f == field),
            "{field}: {}",
            reply.body
        );
    }
    // A number where the schema wants a string is named too, next to the bad tag.
    let both = app
        .call_with(
            Method::PATCH,
            &course_path,
            Some(admin),
            Some(json!({"title": 12345, "tags": ["ok", "b\u{1b}d"]})),
            &[("If-Match", etag.as_str())],
        )
        .await;
    let mut fields = both.error_fields();
    fields.sort();
    assert_eq!(fields, ["/tags/1", "/title"], "{}", both.body);

    // What passes: layout whitespace in a description, emoji and other scripts everywhere.
    let fine = app
        .post(
            "/v1/courses",
            admin,
            json!({"code": "CS-103", "title": "Lernen 学习 🎓", "description": "Line one\n\tindented\r\nend"}),
        )
        .await;
    assert_eq!(fine.status, StatusCode::CREATED, "{}", fine.body);
    assert_eq!(fine.body["description"], "Line one\n\tindented\r\nend");
    let found = app.get("/v1/courses?code=CS-103", admin).await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.body);
}
