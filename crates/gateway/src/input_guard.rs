//! The edge check on text: every string a request carries that can reach storage (decoded path
//! segments, query values, JSON body strings and object keys at any depth, form fields, and
//! the headers that are stored) is refused with a 400 problem naming the field when it holds
//! characters no field of this API accepts. PostgreSQL cannot store NUL and SQLite can, so
//! without this the two backends disagree and PostgreSQL answers 500.
//!
//! The rule, per kind of value:
//! - path segments and query values: valid UTF-8 after percent-decoding, no control character
//!   (C0, DEL, C1) at all, at most [`MAX_URL_VALUE_BYTES`] bytes;
//! - JSON strings and keys, and form fields: no control character except TAB, LF and CR;
//!   JSON strings at most [`MAX_BODY_TEXT_BYTES`];
//! - header parameters of the spec and stored headers ([`STORED_HEADERS`]): printable ASCII
//!   only (what the handlers read and keep); declared ones at most [`MAX_URL_VALUE_BYTES`];
//! - a JSON number or boolean where the operation's schema declares a string is refused
//!   (poem-openapi would silently turn `12345` into `"12345"`).
//!
//! A JSON body is parsed here only when a byte scan finds something that could decode to a
//! refused character (a `\u` escape, DEL, a C1 code point), a number or boolean token, a run
//! of digits long enough to be a card number, or the body is longer than
//! [`MAX_BODY_TEXT_BYTES`]; a short body of plain strings passes untouched.
//!
//! Card numbers (promise D4: payments go through Stripe, no card number is ever stored or
//! logged): a request whose values hold what [`hub_kernel::pan`] finds a card number in is
//! refused with a 422 problem `card_number` naming the field, the value never echoed (a field
//! name that is itself a card number is named with the number removed). The carriers are
//! the same as above plus JSON integers (an integer field would store a number as given) and
//! bodies of every other media type, scanned as bytes and named `body` (xAPI documents and
//! multipart statements are stored as sent). An encoded value is scanned as the text it is:
//! a base64 `SAMLResponse` or a bearer token is not decoded, and a card number's digits
//! inside base64 glue to letters, so such blobs pass (what a SAML assertion says about a
//! person reaches storage through the identity crate, not through this guard). Headers that
//! are neither stored nor declared (`Authorization`, `Cookie`) are not read.

use crate::problem::{ApiError, Problem};
use hub_kernel::{FieldViolation, pan};
use poem::http::StatusCode;
use poem::{Endpoint, IntoResponse, Middleware, Request, Response};
use serde_json::Value;

/// Longer path segments or query values are refused: no identifier, slug, filter or
/// protocol parameter of this API comes near it.
pub const MAX_URL_VALUE_BYTES: usize = 4096;

/// Longer JSON strings are refused: the longest text field, SAML metadata, is 128 KiB.
pub const MAX_BODY_TEXT_BYTES: usize = 128 * 1024;

/// Request headers whose values are stored (idempotency records, session records).
pub const STORED_HEADERS: [&str; 3] = ["idempotency-key", "user-agent", "x-device-id"];

/// What a refused card number is told (never the value).
pub const CARD_NUMBER_MESSAGE: &str =
    "must not hold a payment card number: card payments go through Stripe, never through this API";

/// What the guard found: values it refuses for their characters, type or length (400), and
/// values that hold a card number (422).
#[derive(Debug, Default)]
pub struct Findings {
    pub invalid: Vec<FieldViolation>,
    pub cards: Vec<FieldViolation>,
}

impl Findings {
    fn card(&mut self, field: impl Into<String>) {
        self.cards
            .push(FieldViolation::new(field, CARD_NUMBER_MESSAGE));
    }

    /// Looks for a card number in a value already found well-formed.
    fn scan(&mut self, field: impl Into<String>, text: &str) {
        if pan::contains(text) {
            self.card(field);
        }
    }
}

/// Which characters a kind of value may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextRule {
    /// Path segments, query values: no control character at all.
    UrlValue,
    /// Form fields: TAB, LF and CR allowed (base64 wrapped by an IdP), no other control
    /// character.
    BodyText,
    /// JSON strings and keys: as [`TextRule::BodyText`] (descriptions, XML), and at most
    /// [`MAX_BODY_TEXT_BYTES`].
    JsonText,
    /// Stored header values: printable ASCII (U+0020–U+007E) only.
    HeaderValue,
}

/// Why a value is refused, or `None` when it is fine.
pub fn text_violation(text: &str, rule: TextRule) -> Option<String> {
    if rule == TextRule::UrlValue && text.len() > MAX_URL_VALUE_BYTES {
        return Some(format!("must be at most {MAX_URL_VALUE_BYTES} bytes"));
    }
    if rule == TextRule::JsonText && text.len() > MAX_BODY_TEXT_BYTES {
        return Some(format!("must be at most {MAX_BODY_TEXT_BYTES} bytes"));
    }
    let refused = |c: char| match rule {
        TextRule::UrlValue => c.is_control(),
        TextRule::BodyText | TextRule::JsonText => {
            c.is_control() && !matches!(c, '\t' | '\n' | '\r')
        }
        TextRule::HeaderValue => !(' '..='~').contains(&c),
    };
    text.chars().position(refused).map(|at| {
        let c = text.chars().nth(at).unwrap_or_default();
        format!(
            "must not contain the character U+{:04X} (at character {at})",
            c as u32
        )
    })
}

/// [`TextRule::HeaderValue`] for a header's raw bytes (which need not be UTF-8).
fn header_violation(bytes: &[u8]) -> Option<String> {
    bytes
        .iter()
        .position(|b| !(b' '..=b'~').contains(b))
        .map(|at| {
            format!(
                "must be printable ASCII (byte 0x{:02X} at {at} is not)",
                bytes[at]
            )
        })
}

/// Like [`text_violation`] for raw bytes, which must also be valid UTF-8.
fn bytes_violation(bytes: &[u8], rule: TextRule) -> Option<String> {
    match std::str::from_utf8(bytes) {
        Ok(text) => text_violation(text, rule),
        Err(_) => Some("must be valid UTF-8".into()),
    }
}

/// Percent-decodes one URL component; `plus_is_space` for query strings and form bodies.
/// A `%` not followed by two hex digits stays as it is (as in the WHATWG URL parser).
fn percent_decode(raw: &str, plus_is_space: bool) -> Vec<u8> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let hex = |c: u8| (c as char).to_digit(16);
        match b {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push((hi * 16 + lo) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b),
            },
            b'+' if plus_is_space => out.push(b' '),
            _ => out.push(b),
        }
        i += 1;
    }
    out
}

/// Checks `a=1&b=2` pairs (a query string or a form body); the field is the decoded name.
fn check_pairs(encoded: &str, rule: TextRule, name_rule: TextRule, findings: &mut Findings) {
    for pair in encoded.split('&').filter(|p| !p.is_empty()) {
        let (raw_name, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = percent_decode(raw_name, true);
        if let Some(why) = bytes_violation(&name, name_rule) {
            findings.invalid.push(FieldViolation::new(
                String::from_utf8_lossy(&name),
                format!("the parameter name {why}"),
            ));
            continue;
        }
        let name = String::from_utf8_lossy(&name).into_owned();
        findings.scan(&name, &name);
        let value = percent_decode(raw_value, true);
        match bytes_violation(&value, rule) {
            Some(why) => findings.invalid.push(FieldViolation::new(name, why)),
            None => findings.scan(name, &String::from_utf8_lossy(&value)),
        }
    }
}

/// One segment of a spec path template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum TemplateSegment {
    Literal(String),
    Parameter(String),
}

/// What the guard reads from the spec: the path templates (to name the parameter a refused
/// segment fills and to find an operation's body schema) and the header parameters.
#[derive(Debug, Clone, Default)]
pub struct PathTemplates {
    templates: Vec<(Vec<TemplateSegment>, String)>,
    header_parameters: Vec<String>,
    spec: std::sync::Arc<Value>,
}

impl PathTemplates {
    /// From an OpenAPI document (e.g. paths like `/v1/courses/{course_id}`).
    pub fn from_spec(spec: &Value) -> Self {
        let mut header_parameters = Vec::new();
        let mut templates = Vec::new();
        for (template, operations) in spec["paths"].as_object().into_iter().flatten() {
            let segments = template
                .split('/')
                .map(
                    |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                        Some(name) => TemplateSegment::Parameter(name.to_string()),
                        None => TemplateSegment::Literal(s.to_string()),
                    },
                )
                .collect();
            templates.push((segments, template.clone()));
            for operation in operations.as_object().into_iter().flat_map(|o| o.values()) {
                for parameter in operation["parameters"].as_array().into_iter().flatten() {
                    if let (Some("header"), Some(name)) =
                        (parameter["in"].as_str(), parameter["name"].as_str())
                    {
                        let name = name.to_ascii_lowercase();
                        if !header_parameters.contains(&name) {
                            header_parameters.push(name);
                        }
                    }
                }
            }
        }
        Self {
            templates,
            header_parameters,
            spec: std::sync::Arc::new(spec.clone()),
        }
    }

    fn matching(&self, segments: &[&str]) -> Option<&(Vec<TemplateSegment>, String)> {
        self.templates
            .iter()
            .filter(|(t, _)| t.len() == segments.len())
            .find(|(t, _)| {
                t.iter().zip(segments).all(|(t, s)| match t {
                    TemplateSegment::Literal(l) => l == s,
                    TemplateSegment::Parameter(_) => true,
                })
            })
    }

    /// The parameter the segment at `index` of `segments` fills, if a template matches.
    fn parameter_at(&self, segments: &[&str], index: usize) -> Option<&str> {
        self.matching(segments).and_then(|(t, _)| match &t[index] {
            TemplateSegment::Parameter(name) => Some(name.as_str()),
            TemplateSegment::Literal(_) => None,
        })
    }

    /// The JSON request body schema of the operation at this method and path.
    fn body_schema(&self, method: &str, path: &str) -> Option<&Value> {
        let segments: Vec<&str> = path.split('/').collect();
        let (_, template) = self.matching(&segments)?;
        let content =
            self.spec["paths"][template][method.to_ascii_lowercase()]["requestBody"]["content"]
                .as_object()?;
        content
            .iter()
            .find(|(media, _)| is_json(media))
            .map(|(_, c)| &c["schema"])
    }

    /// Follows `$ref` and a single-element `allOf` (how poem-openapi wraps a described ref).
    fn resolve<'a>(&'a self, mut schema: &'a Value) -> &'a Value {
        for _ in 0..32 {
            if let Some(reference) = schema["$ref"].as_str() {
                let name = reference.trim_start_matches("#/components/schemas/");
                schema = &self.spec["components"]["schemas"][name];
            } else if let Some([only]) = schema["allOf"].as_array().map(Vec::as_slice) {
                schema = only;
            } else {
                break;
            }
        }
        schema
    }

    /// Numbers and booleans where the schema declares a string, named by JSON pointer.
    fn type_violations(
        &self,
        schema: &Value,
        value: &Value,
        pointer: &mut String,
        out: &mut Vec<FieldViolation>,
    ) {
        let schema = self.resolve(schema);
        let declares_string = schema["type"] == "string"
            || schema["enum"]
                .as_array()
                .is_some_and(|e| e.iter().all(Value::is_string) && !e.is_empty());
        match value {
            Value::Number(_) | Value::Bool(_) if declares_string => {
                let kind = if value.is_number() {
                    "a number"
                } else {
                    "a boolean"
                };
                out.push(FieldViolation::new(
                    pointer.clone(),
                    format!("must be a string, not {kind}"),
                ));
            }
            Value::Object(members) => {
                for (key, member) in members {
                    let property = match schema["properties"].get(key) {
                        Some(property) => property,
                        None if schema["additionalProperties"].is_object() => {
                            &schema["additionalProperties"]
                        }
                        None => continue,
                    };
                    let len = pointer.len();
                    pointer.push('/');
                    pointer.push_str(&pointer_token(key));
                    self.type_violations(property, member, pointer, out);
                    pointer.truncate(len);
                }
            }
            Value::Array(items) if schema["items"].is_object() => {
                for (i, item) in items.iter().enumerate() {
                    let len = pointer.len();
                    pointer.push_str(&format!("/{i}"));
                    self.type_violations(&schema["items"], item, pointer, out);
                    pointer.truncate(len);
                }
            }
            _ => {}
        }
    }
}

fn check_path(path: &str, templates: &PathTemplates, findings: &mut Findings) {
    let segments: Vec<&str> = path.split('/').collect();
    for (index, segment) in segments.iter().enumerate() {
        let decoded = percent_decode(segment, false);
        let field = || templates.parameter_at(&segments, index).unwrap_or("path");
        match bytes_violation(&decoded, TextRule::UrlValue) {
            Some(why) => findings.invalid.push(FieldViolation::new(field(), why)),
            None => findings.scan(field(), &String::from_utf8_lossy(&decoded)),
        }
    }
}

/// Could this JSON text hold a refused value? Raw control bytes below U+0020 are not valid
/// JSON inside strings (the body parser refuses them), so what is left to find is an escape,
/// a raw DEL, a raw C1 code point (UTF-8 `C2 80`–`C2 9F`), a number or boolean (which the
/// schema may want as a string), or a body long enough to hold an over-long string.
fn json_needs_walk(body: &[u8]) -> bool {
    // A body shorter than the cap cannot hold an over-long string.
    body.len() > MAX_BODY_TEXT_BYTES
        || has_scalar_token(body)
        || body.windows(2).any(|w| {
            (w[0] == b'\\' && w[1] == b'u') || (w[0] == 0xC2 && (0x80..=0x9F).contains(&w[1]))
        })
        || body.contains(&0x7F)
}

/// Whether a number or boolean appears outside strings: the only values whose type the
/// string check has to look at.
fn has_scalar_token(body: &[u8]) -> bool {
    let (mut in_string, mut escaped) = (false, false);
    for &b in body {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
        } else {
            match b {
                b'"' => in_string = true,
                b'0'..=b'9' | b'-' | b't' | b'f' => return true,
                _ => {}
            }
        }
    }
    false
}

fn pointer_token(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// Every string, key or integer of a JSON document that holds a card number, named by its
/// JSON pointer (a key that is one is named with it removed).
pub fn json_card_fields(value: &Value) -> Vec<FieldViolation> {
    fn walk(value: &Value, pointer: &mut String, findings: &mut Findings) {
        match value {
            Value::String(text) => findings.scan(pointer.as_str(), text),
            // Only integers: a float of 13 or more digits is not exact, and its fraction
            // (`0.8571428571428571`, a scaled score) is no card.
            Value::Number(n) if n.is_u64() || n.is_i64() => {
                findings.scan(pointer.as_str(), &n.to_string());
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let len = pointer.len();
                    pointer.push_str(&format!("/{i}"));
                    walk(item, pointer, findings);
                    pointer.truncate(len);
                }
            }
            Value::Object(members) => {
                for (key, member) in members {
                    let len = pointer.len();
                    pointer.push('/');
                    pointer.push_str(&pointer_token(key));
                    if pan::contains(key) {
                        findings.card(pointer.as_str());
                    } else {
                        walk(member, pointer, findings);
                    }
                    pointer.truncate(len);
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }
    let mut findings = Findings::default();
    walk(value, &mut String::new(), &mut findings);
    findings.cards
}

/// Every refused string or key in a JSON document, named by its JSON pointer.
pub fn json_violations(value: &Value) -> Vec<FieldViolation> {
    fn walk(value: &Value, pointer: &mut String, violations: &mut Vec<FieldViolation>) {
        match value {
            Value::String(text) => {
                if let Some(why) = text_violation(text, TextRule::JsonText) {
                    violations.push(FieldViolation::new(pointer.clone(), why));
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let len = pointer.len();
                    pointer.push_str(&format!("/{i}"));
                    walk(item, pointer, violations);
                    pointer.truncate(len);
                }
            }
            Value::Object(members) => {
                for (key, member) in members {
                    let len = pointer.len();
                    pointer.push('/');
                    pointer.push_str(&pointer_token(key));
                    if let Some(why) = text_violation(key, TextRule::JsonText) {
                        violations.push(FieldViolation::new(
                            pointer.clone(),
                            format!("the member name {why}"),
                        ));
                    } else {
                        walk(member, pointer, violations);
                    }
                    pointer.truncate(len);
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }
    let mut violations = Vec::new();
    walk(value, &mut String::new(), &mut violations);
    violations
}

fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json" || essence.ends_with("+json")
}

fn is_form(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .eq_ignore_ascii_case("application/x-www-form-urlencoded")
}

/// No field name the guard reports carries a card number, whatever the field is refused for
/// (a query parameter or JSON member can be named by one).
fn without_card_numbers(mut violations: Vec<FieldViolation>) -> Vec<FieldViolation> {
    for v in &mut violations {
        if let std::borrow::Cow::Owned(field) = pan::redact(&v.field) {
            v.field = field;
        }
    }
    violations
}

fn holds_card_numbers(violations: Vec<FieldViolation>) -> poem::Error {
    ApiError::from_problem(
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "card_number",
            "the request holds what looks like a payment card number; card payments go \
             through Stripe's own forms, and this service neither takes nor keeps card numbers",
        )
        .with_violations(without_card_numbers(violations)),
    )
    .into()
}

fn refused(violations: Vec<FieldViolation>) -> poem::Error {
    let violations = without_card_numbers(violations);
    ApiError::from_problem(
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_input",
            "the request holds values this service does not accept (control characters, \
             invalid UTF-8, over-long text, or a number or boolean where text belongs)",
        )
        .with_violations(violations),
    )
    .into()
}

/// The middleware; composed once in [`crate::app::build_app`], inside the body-size limit (so
/// it only ever reads a bounded body).
pub struct InputGuard(pub PathTemplates);

impl<E: Endpoint> Middleware<E> for InputGuard {
    type Output = InputGuardEndpoint<E>;
    fn transform(&self, ep: E) -> Self::Output {
        InputGuardEndpoint {
            ep,
            templates: self.0.clone(),
        }
    }
}

pub struct InputGuardEndpoint<E> {
    ep: E,
    templates: PathTemplates,
}

impl<E: Endpoint> Endpoint for InputGuardEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Self::Output> {
        let mut findings = Findings::default();
        check_path(req.uri().path(), &self.templates, &mut findings);
        if let Some(query) = req.uri().query() {
            check_pairs(query, TextRule::UrlValue, TextRule::UrlValue, &mut findings);
        }
        let declared = (self.templates.header_parameters.iter())
            .map(String::as_str)
            .filter(|name| !STORED_HEADERS.contains(name));
        for name in STORED_HEADERS.into_iter().chain(declared.clone()) {
            for value in req.headers().get_all(name) {
                match header_violation(value.as_bytes()) {
                    Some(why) => findings.invalid.push(FieldViolation::new(name, why)),
                    // Printable ASCII, so text.
                    None => findings.scan(name, &String::from_utf8_lossy(value.as_bytes())),
                }
            }
        }
        // Declared header parameters are values like query parameters, with the same bound
        // (stored headers such as User-Agent are cut to length where they are stored).
        for name in declared {
            for value in req.headers().get_all(name) {
                if value.len() > MAX_URL_VALUE_BYTES {
                    findings.invalid.push(FieldViolation::new(
                        name,
                        format!("must be at most {MAX_URL_VALUE_BYTES} bytes"),
                    ));
                }
            }
        }
        let content_type = req.content_type().unwrap_or_default().to_string();
        // Every body is read (the body-size limit, outside, bounds it): any media type can
        // carry a card number to storage.
        let body = req
            .take_body()
            .into_bytes()
            .await
            .map_err(|e| poem::Error::from_string(e.to_string(), StatusCode::BAD_REQUEST))?;
        if is_form(&content_type) {
            match std::str::from_utf8(&body) {
                Ok(text) => {
                    check_pairs(text, TextRule::BodyText, TextRule::UrlValue, &mut findings)
                }
                Err(_) => findings
                    .invalid
                    .push(FieldViolation::new("body", "must be valid UTF-8")),
            }
        } else if is_json(&content_type) && (json_needs_walk(&body) || pan::might_contain(&body)) {
            // A body that does not parse is left to the payload extractor's 400.
            if let Ok(value) = serde_json::from_slice::<Value>(&body) {
                findings.invalid.extend(json_violations(&value));
                if let Some(schema) = self
                    .templates
                    .body_schema(req.method().as_str(), req.uri().path())
                {
                    self.templates.type_violations(
                        schema,
                        &value,
                        &mut String::new(),
                        &mut findings.invalid,
                    );
                }
                findings.cards.extend(json_card_fields(&value));
            }
        } else if !is_json(&content_type) && !pan::find(&body).is_empty() {
            // Another media type (an xAPI document, a multipart statement, an upload) is
            // stored as sent: its bytes are scanned as they are.
            findings.card("body");
        }
        req.set_body(body);
        if !findings.invalid.is_empty() {
            return Err(refused(findings.invalid));
        }
        if !findings.cards.is_empty() {
            return Err(holds_card_numbers(findings.cards));
        }
        Ok(self.ep.call(req).await?.into_response())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn body_text_allows_layout_whitespace_and_any_printable_unicode() {
        for fine in [
            "A course\n\twith a description\r\n",
            "emoji 🎓📚 and accents éñ, CJK 学习, RTL שלום",
            "",
            "\u{200B}zero-width and \u{FEFF}BOM are not controls",
        ] {
            assert_eq!(text_violation(fine, TextRule::BodyText), None, "{fine:?}");
        }
    }

    #[test]
    fn body_text_refuses_every_other_control_character() {
        for bad in [
            "a\0b",
            "\u{1}",
            "esc \u{1b}[31m",
            "del \u{7f}",
            "c1 \u{85}",
            "\u{9f}",
        ] {
            let why = text_violation(bad, TextRule::BodyText).expect(bad);
            assert!(why.contains("U+"), "{why}");
        }
        assert_eq!(
            text_violation("ab\0", TextRule::BodyText).as_deref(),
            Some("must not contain the character U+0000 (at character 2)")
        );
    }

    #[test]
    fn url_values_refuse_all_controls_and_over_long_values() {
        assert_eq!(text_violation("CS-101 é🎓", TextRule::UrlValue), None);
        for bad in ["a\tb", "line\n", "\r", "\0"] {
            assert!(text_violation(bad, TextRule::UrlValue).is_some(), "{bad:?}");
        }
        assert_eq!(
            text_violation(&"x".repeat(MAX_URL_VALUE_BYTES), TextRule::UrlValue),
            None
        );
        assert!(text_violation(&"x".repeat(MAX_URL_VALUE_BYTES + 1), TextRule::UrlValue).is_some());
    }

    #[test]
    fn stored_headers_are_printable_ascii() {
        assert_eq!(
            text_violation("Mozilla/5.0 (X11; Linux) ~!", TextRule::HeaderValue),
            None
        );
        assert_eq!(header_violation(b"Mozilla/5.0 (X11)"), None);
        assert_eq!(
            header_violation(b"a\xffb").as_deref(),
            Some("must be printable ASCII (byte 0xFF at 1 is not)")
        );
        for bad in ["a\tb", "caf\u{e9}", "\u{7f}"] {
            assert!(header_violation(bad.as_bytes()).is_some(), "{bad:?}");
            assert!(
                text_violation(bad, TextRule::HeaderValue).is_some(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn percent_decoding_keeps_raw_bytes_so_invalid_utf8_is_seen() {
        assert_eq!(percent_decode("a%00b", false), b"a\0b");
        assert_eq!(percent_decode("a+b%2B", true), b"a b+");
        assert_eq!(percent_decode("a+b", false), b"a+b");
        assert_eq!(percent_decode("100%", false), b"100%");
        assert_eq!(percent_decode("%zz%4", false), b"%zz%4");
        assert_eq!(percent_decode("%ff", false), [0xFF]);
        assert!(bytes_violation(&percent_decode("%ED%A0%80", false), TextRule::UrlValue).is_some());
        assert_eq!(
            bytes_violation(&percent_decode("%C3%A9", false), TextRule::UrlValue),
            None
        );
    }

    #[test]
    fn query_and_form_pairs_name_the_parameter() {
        let mut findings = Findings::default();
        check_pairs(
            "limit=10&code=%00&tag=ok+fine&subject=a%ffb",
            TextRule::UrlValue,
            TextRule::UrlValue,
            &mut findings,
        );
        let fields: Vec<_> = findings.invalid.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["code", "subject"]);
        let mut findings = Findings::default();
        check_pairs(
            "SAMLResponse=PHNhbWw%0D%0Aw%3D&RelayState=x%1B",
            TextRule::BodyText,
            TextRule::UrlValue,
            &mut findings,
        );
        assert_eq!(findings.invalid.len(), 1);
        assert_eq!(findings.invalid[0].field, "RelayState");
    }

    #[test]
    fn path_segments_are_named_after_the_template_parameter() {
        let templates = PathTemplates::from_spec(&json!({"paths": {
            "/v1/courses/{course_id}": {},
            "/v1/sso/{tenant_slug}/oidc/{connection_id}/login": {},
        }}));
        let mut findings = Findings::default();
        check_path("/v1/sso/no%00rth/oidc/abc/login", &templates, &mut findings);
        assert_eq!(findings.invalid.len(), 1);
        assert_eq!(findings.invalid[0].field, "tenant_slug");
        let mut findings = Findings::default();
        check_path("/v1/unknown/%1b", &templates, &mut findings);
        assert_eq!(findings.invalid[0].field, "path");
        let mut findings = Findings::default();
        check_path("/v1/courses/%F0%9F%8E%93", &templates, &mut findings);
        assert!(findings.invalid.is_empty() && findings.cards.is_empty());
    }

    #[test]
    fn json_walk_names_strings_and_keys_by_pointer() {
        let body = json!({
            "title": "fine\ttab",
            "tags": ["ok", "bad\u{0}"],
            "nested": {"a/b": {"c~d": "\u{1b}"}},
            "k\u{7f}": 1,
            "n": 3, "b": true, "z": null
        });
        let mut fields: Vec<_> = json_violations(&body)
            .into_iter()
            .map(|v| v.field)
            .collect();
        fields.sort();
        assert_eq!(fields, ["/k\u{7f}", "/nested/a~1b/c~0d", "/tags/1"]);
    }

    #[test]
    fn json_strings_have_a_length_cap() {
        let long = "a".repeat(MAX_BODY_TEXT_BYTES);
        assert_eq!(text_violation(&long, TextRule::JsonText), None);
        assert!(text_violation(&format!("{long}a"), TextRule::JsonText).is_some());
        assert_eq!(
            text_violation(&format!("{long}a"), TextRule::BodyText),
            None
        );
    }

    #[test]
    fn numbers_and_booleans_are_refused_where_the_schema_declares_a_string() {
        let templates = PathTemplates::from_spec(&json!({
            "paths": {"/v1/things": {"post": {"requestBody": {"content": {
                "application/json; charset=utf-8": {"schema": {"$ref": "#/components/schemas/Thing"}}
            }}}}},
            "components": {"schemas": {
                "Thing": {"type": "object", "properties": {
                    "name": {"type": "string"},
                    "age": {"type": "integer"},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "status": {"allOf": [{"$ref": "#/components/schemas/Status"}]},
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}}
                }},
                "Status": {"type": "string", "enum": ["draft", "published"]}
            }}
        }));
        let schema = templates.body_schema("POST", "/v1/things").unwrap();
        let body = json!({
            "name": 12345, "age": 3, "tags": ["ok", true], "status": 1,
            "labels": {"a": false, "b": "fine"}, "unknown": 7
        });
        let mut violations = Vec::new();
        templates.type_violations(schema, &body, &mut String::new(), &mut violations);
        let mut fields: Vec<_> = violations.iter().map(|v| v.field.as_str()).collect();
        fields.sort();
        assert_eq!(fields, ["/labels/a", "/name", "/status", "/tags/1"]);
        assert_eq!(
            violations
                .iter()
                .find(|v| v.field == "/name")
                .unwrap()
                .message,
            "must be a string, not a number"
        );
        assert!(templates.body_schema("GET", "/v1/things").is_none());
    }

    #[test]
    fn the_byte_scan_passes_clean_bodies_without_parsing() {
        assert!(!json_needs_walk(
            br#"{"title":"Caf\xc3\xa9 \xf0\x9f\x8e\x93 2026-12","n":[null]}"#
        ));
        assert!(!json_needs_walk(br#"{"t":"true or false, -1"}"#));
        assert!(json_needs_walk(br#"{"n":12}"#));
        assert!(json_needs_walk(br#"{"b":false}"#));
        assert!(json_needs_walk(br#"{"t":"a\"","n":-1}"#));
        assert!(!json_needs_walk(
            "{\"t\":\"line\\nbreak \\\" quote\"}".as_bytes()
        ));
        assert!(json_needs_walk(br#"{"t":"\u0000"}"#));
        assert!(json_needs_walk("{\"t\":\"\u{7f}\"}".as_bytes()));
        assert!(json_needs_walk("{\"t\":\"\u{85}\"}".as_bytes()));
    }

    #[test]
    fn card_numbers_are_found_in_every_carrier_and_named() {
        let templates = PathTemplates::from_spec(&json!({"paths": {
            "/v1/courses/{course_id}": {},
        }}));
        let mut findings = Findings::default();
        check_path(
            "/v1/courses/4242%204242%204242%204242",
            &templates,
            &mut findings,
        );
        check_path(
            "/v1/courses/0190a0b0-0000-7000-8000-000000000001",
            &templates,
            &mut findings,
        );
        check_pairs(
            "code=5555-5555-5555-4444&tag=4242424242424241&since=2026-12-04&q=4242+4242+4242+4242",
            TextRule::UrlValue,
            TextRule::UrlValue,
            &mut findings,
        );
        check_pairs(
            "378282246310005=x",
            TextRule::UrlValue,
            TextRule::UrlValue,
            &mut findings,
        );
        assert!(findings.invalid.is_empty());
        let fields: Vec<_> = findings.cards.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["course_id", "code", "q", "378282246310005"]);
        // The field that is itself a number is named with it removed.
        let named = without_card_numbers(findings.cards);
        assert_eq!(named[3].field, "[card number removed, last4 0005]");
        assert!(named.iter().all(|v| v.message == CARD_NUMBER_MESSAGE));
    }

    #[test]
    fn json_card_numbers_are_named_by_pointer_in_strings_keys_and_integers() {
        let body = json!({
            "title": "Intro",
            "notes": ["fine", "card 6011 1111 1111 1117 exp 12/28"],
            "nested": {"pan": 4242424242424242_u64, "score": 0.8571428571428571},
            "4000056655665556": "key",
            "id": "0190a0b0-0000-7000-8000-000000000001",
            "n": 4242424242424241_u64
        });
        let mut fields: Vec<_> = json_card_fields(&body)
            .into_iter()
            .map(|v| v.field)
            .collect();
        fields.sort();
        assert_eq!(fields, ["/4000056655665556", "/nested/pan", "/notes/1"]);
        // What a body carries raw is seen by the byte scan, so such a body is parsed.
        assert!(!json_needs_walk(br#"{"t":"4242 4242 4242 4242"}"#));
        assert!(pan::might_contain(br#"{"t":"4242 4242 4242 4242"}"#));
        assert!(!pan::might_contain(
            br#"{"title":"Intro 2026-12","code":"CS-101"}"#
        ));
    }
}
