//! The OpenAPI document as served and committed: poem-openapi's output, finished in one
//! place so that it says exactly what the server does.
//!
//! poem-openapi lists one error enum ([`crate::problem::ApiError`]) on every operation and
//! cannot write `security: []`. [`finish`] therefore
//! - keeps on each operation only the error statuses it can answer with: those that follow
//!   from its declaration ([`derived_errors`]) plus those its domain rules add (each
//!   domain's `DOMAIN_ERRORS` in [`crate::modules`]: conflicts with the current state (409),
//!   a mandatory `If-Match` (428), look-ups not named by a path parameter (404), and the
//!   sign-in flows that answer 401/403 without taking a credential);
//! - writes `security: []` on the operations that take no credential;
//! - marks `If-Match` required on the operations that answer 428 without it;
//! - declares the conditional read [`crate::caching`] implements: on every `GET` whose 200
//!   answer carries an `ETag`, an `If-None-Match` parameter and a 304 answer;
//! - declares the limits the domain enforces on request fields and parameters
//!   ([`schema_limits`], [`parameter_limits`]), taken from the domain's own constants, so a
//!   generated client can validate before sending. The domain stays the one that enforces
//!   them (a 422 naming the field); tests/api/spec.rs sends a value past each declared limit.
//!
//! The document is handled as a `serde_yaml::Value`, whose mappings keep their order, so the
//! JSON and YAML texts keep poem-openapi's layout.

use serde_yaml::{Mapping, Value};

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// The error statuses an operation's declaration implies.
/// - Every request: 429 (the per-IP limit runs before routing), 500, 503 (a dependency),
///   400 and 422 (the input guard reads the stored headers, User-Agent and X-Device-Id, of
///   every request: 400 for a character no header may hold, 422 for a card number; SCIM
///   answers both with 400).
/// - A credential: 401 (missing, unknown, revoked), 403 (scope, suspended institution).
/// - Any parameter: 400 (it does not parse); a query parameter: 422 (a bad page or filter).
/// - A path parameter: 404 (no such resource for this caller).
/// - A body: 400, 413 (size limit), 415 (media type), 422 (validation; SCIM: 400).
/// - An `If-Match` parameter: 412 (not the current revision).
/// - An `Idempotency-Key` parameter: 409 (the key was used for another request).
pub fn derived_errors(operation: &Mapping) -> Vec<u16> {
    let mut statuses = vec![400, 429, 500, 503];
    // SCIM answers a refused value with 400 `invalidValue` (RFC 7644 §3.12), not 422.
    if !answers_in_scim_schema(operation) {
        statuses.push(422);
    }
    let secured = operation
        .get("security")
        .and_then(Value::as_sequence)
        .is_some_and(|s| !s.is_empty());
    if secured {
        statuses.extend([401, 403]);
    }
    let params = operation
        .get("parameters")
        .and_then(Value::as_sequence)
        .cloned()
        .unwrap_or_default();
    let param_in = |place: &str| {
        params
            .iter()
            .any(|p| p.get("in").and_then(Value::as_str) == Some(place))
    };
    let param_named = |name: &str| {
        params.iter().any(|p| {
            p.get("name")
                .and_then(Value::as_str)
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
    };
    if param_in("query") {
        statuses.push(422);
    }
    if param_in("path") {
        statuses.push(404);
    }
    if operation.contains_key("requestBody") {
        statuses.extend([413, 415]);
    }
    if param_named("If-Match") {
        statuses.push(412);
    }
    if param_named("Idempotency-Key") {
        statuses.push(409);
    }
    statuses.sort_unstable();
    statuses.dedup();
    statuses
}

/// Whether the operation's errors are SCIM's error schema (`application/scim+json`).
fn answers_in_scim_schema(operation: &Mapping) -> bool {
    operation
        .get("responses")
        .and_then(Value::as_mapping)
        .is_some_and(|responses| {
            responses.iter().any(|(status, response)| {
                status.as_str().is_some_and(|s| s.starts_with('4'))
                    && response
                        .get("content")
                        .and_then(Value::as_mapping)
                        .is_some_and(|c| c.contains_key("application/scim+json"))
            })
        })
}

/// The error statuses the finished document lists for `operation_id`.
pub fn declared_errors(operation: &Mapping) -> Vec<u16> {
    let mut statuses = derived_errors(operation);
    let id = operation.get("operationId").and_then(Value::as_str);
    if let Some((_, extra)) = crate::modules::domain_errors().find(|(op, _)| Some(*op) == id) {
        statuses.extend(extra.iter());
    }
    statuses.sort_unstable();
    statuses.dedup();
    statuses
}

/// A limit the server enforces, as a JSON Schema keyword.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Limit {
    MinLength(usize),
    MaxLength(usize),
    Pattern(&'static str),
    Minimum(i64),
    Maximum(i64),
    MaxItems(usize),
    /// The values a string takes, where the domain (not the body's parser) refuses the
    /// others with a 422 naming the field.
    Enum(&'static [&'static str]),
}

impl Limit {
    fn keyword(self) -> (&'static str, Value) {
        match self {
            Self::MinLength(n) => ("minLength", Value::from(n as u64)),
            Self::MaxLength(n) => ("maxLength", Value::from(n as u64)),
            Self::Pattern(p) => ("pattern", Value::from(p)),
            Self::Minimum(n) => ("minimum", Value::from(n)),
            Self::Maximum(n) => ("maximum", Value::from(n)),
            Self::MaxItems(n) => ("maxItems", Value::from(n as u64)),
            Self::Enum(values) => (
                "enum",
                Value::Sequence(values.iter().map(|v| Value::from(*v)).collect()),
            ),
        }
    }
}

/// `(schema, property, limits)`: the limits the domain validates request bodies against.
/// A property written `name[]` means the items of the array `name`.
pub fn schema_limits() -> Vec<(&'static str, &'static str, Vec<Limit>)> {
    use Limit::*;
    use hub_course::catalog::model as course;
    let mut limits = Vec::new();
    for schema in ["CourseCreate", "CourseUpdate"] {
        limits.extend([
            (
                schema,
                "code",
                vec![
                    MinLength(1),
                    MaxLength(course::MAX_CODE),
                    Pattern(course::CODE_PATTERN),
                ],
            ),
            (
                schema,
                "title",
                vec![MinLength(1), MaxLength(course::MAX_TITLE)],
            ),
            (
                schema,
                "description",
                vec![MaxLength(course::MAX_DESCRIPTION)],
            ),
            (schema, "tags", vec![MaxItems(course::MAX_TAGS)]),
            (
                schema,
                "tags[]",
                vec![
                    MinLength(1),
                    MaxLength(course::MAX_TAG),
                    Pattern(course::TAG_PATTERN),
                ],
            ),
            (
                schema,
                "minimum_age",
                vec![
                    Minimum(i64::from(course::MIN_AGE)),
                    Maximum(i64::from(course::MAX_AGE)),
                ],
            ),
            (
                schema,
                "seat_limit",
                vec![
                    Minimum(i64::from(course::MIN_SEATS)),
                    Maximum(i64::from(course::MAX_SEATS)),
                ],
            ),
        ]);
    }
    // A course's structure and quizzes (hub-course).
    {
        use hub_course::quiz::model as quiz;
        use hub_course::structure::model as structure;
        for schema in [
            "ModuleCreate",
            "ModuleUpdate",
            "LessonCreate",
            "LessonUpdate",
        ] {
            limits.extend([
                (
                    schema,
                    "title",
                    vec![MinLength(1), MaxLength(structure::MAX_TITLE)],
                ),
                (
                    schema,
                    "description",
                    vec![MaxLength(structure::MAX_DESCRIPTION)],
                ),
            ]);
        }
        for schema in ["LessonCreate", "LessonUpdate"] {
            limits.push((
                schema,
                "activity_id",
                vec![
                    MaxLength(structure::MAX_ACTIVITY_ID),
                    Pattern(structure::ACTIVITY_ID_PATTERN),
                ],
            ));
        }
        for schema in ["QuizCreate", "QuizUpdate"] {
            limits.extend([
                (
                    schema,
                    "title",
                    vec![MinLength(1), MaxLength(quiz::MAX_TITLE)],
                ),
                (
                    schema,
                    "description",
                    vec![MaxLength(quiz::MAX_DESCRIPTION)],
                ),
                (
                    schema,
                    "max_attempts",
                    vec![
                        Minimum(i64::from(quiz::MIN_ATTEMPTS)),
                        Maximum(i64::from(quiz::MAX_ATTEMPTS)),
                    ],
                ),
                (
                    schema,
                    "time_limit_seconds",
                    vec![
                        Minimum(i64::from(quiz::MIN_TIME_LIMIT)),
                        Maximum(i64::from(quiz::MAX_TIME_LIMIT)),
                    ],
                ),
                (
                    schema,
                    "passing_score",
                    vec![
                        Minimum(i64::from(quiz::MIN_PASSING_SCORE)),
                        Maximum(i64::from(quiz::MAX_PASSING_SCORE)),
                    ],
                ),
                (schema, "questions", vec![MaxItems(quiz::MAX_QUESTIONS)]),
            ]);
        }
        let key_id = || {
            vec![
                MinLength(1),
                MaxLength(quiz::MAX_KEY_ID),
                Pattern(quiz::KEY_ID_PATTERN),
            ]
        };
        let number = || vec![Minimum(-quiz::MAX_NUMBER), Maximum(quiz::MAX_NUMBER)];
        limits.extend([
            ("QuestionInput", "id", key_id()),
            (
                "QuestionInput",
                "prompt",
                vec![MinLength(1), MaxLength(quiz::MAX_PROMPT)],
            ),
            (
                "QuestionInput",
                "points",
                vec![
                    Minimum(i64::from(quiz::MIN_POINTS)),
                    Maximum(i64::from(quiz::MAX_POINTS)),
                ],
            ),
            (
                "QuestionInput",
                "options",
                vec![MaxItems(quiz::MAX_OPTIONS)],
            ),
            ("QuestionInput", "answer", number()),
            (
                "QuestionInput",
                "tolerance",
                vec![Minimum(0), Maximum(quiz::MAX_NUMBER)],
            ),
            ("QuestionInput", "rules", vec![MaxItems(quiz::MAX_RULES)]),
            ("OptionInput", "id", key_id()),
            (
                "OptionInput",
                "text",
                vec![MinLength(1), MaxLength(quiz::MAX_OPTION_TEXT)],
            ),
            (
                "TextRuleInput",
                "value",
                vec![MinLength(1), MaxLength(quiz::MAX_RULE_VALUE)],
            ),
            ("AnswerSet", "answers", vec![MaxItems(quiz::MAX_QUESTIONS)]),
            ("AnswerItem", "number", number()),
            ("AnswerItem", "text", vec![MaxLength(quiz::MAX_TEXT_ANSWER)]),
        ]);
    }
    // Enrollments and organisational units (hub-course).
    {
        use hub_course::enrollment::model as enrollment;
        use hub_course::organisation::service as unit;
        let reason = || vec![MinLength(1), MaxLength(enrollment::MAX_REASON)];
        limits.extend([
            ("EnrollmentCreate", "reason", reason()),
            ("BulkEnrollmentCreate", "reason", reason()),
            (
                "BulkEnrollmentCreate",
                "person_ids",
                vec![MaxItems(enrollment::MAX_BULK)],
            ),
            ("EnrollmentUpdate", "reason", reason()),
        ]);
        for schema in ["OrgUnitCreate", "OrgUnitUpdate"] {
            limits.extend([
                (
                    schema,
                    "code",
                    vec![
                        MinLength(1),
                        MaxLength(unit::MAX_UNIT_CODE),
                        Pattern(unit::UNIT_CODE_PATTERN),
                    ],
                ),
                (
                    schema,
                    "name",
                    vec![MinLength(1), MaxLength(unit::MAX_NAME)],
                ),
            ]);
        }
    }
    // Grade changes of quiz attempts (hub-course).
    {
        use hub_course::attempts::MAX_GRADE_REASON;
        limits.extend([
            ("GradeChangeCreate", "score", vec![Minimum(0)]),
            (
                "GradeChangeCreate",
                "reason",
                vec![MinLength(1), MaxLength(MAX_GRADE_REASON)],
            ),
        ]);
    }
    // The institution's digital-consent ages (hub-identity, A1).
    {
        use hub_identity::minors;
        limits.extend([
            (
                "DigitalConsentAge",
                "country",
                vec![MinLength(2), MaxLength(2), Pattern(minors::COUNTRY_PATTERN)],
            ),
            (
                "DigitalConsentAge",
                "age",
                vec![
                    Minimum(i64::from(minors::MIN_DIGITAL_CONSENT_AGE)),
                    Maximum(i64::from(minors::MAX_DIGITAL_CONSENT_AGE)),
                ],
            ),
            (
                "DigitalConsentAgesUpdate",
                "ages",
                vec![MaxItems(minors::MAX_COUNTRIES)],
            ),
        ]);
    }
    // Institutions, their contacts and API keys (hub-tenant).
    use hub_tenant::model::limits as tenant;
    let slug = vec![
        MinLength(tenant::TENANT_SLUG_MIN),
        MaxLength(tenant::TENANT_SLUG_MAX),
        Pattern(tenant::TENANT_SLUG_PATTERN),
    ];
    let tenant_name = vec![MinLength(1), MaxLength(tenant::TENANT_NAME_MAX)];
    let reason = vec![MinLength(1), MaxLength(tenant::STATUS_REASON_MAX)];
    limits.extend([
        ("TenantCreate", "slug", slug),
        ("TenantCreate", "name", tenant_name.clone()),
        ("TenantUpdate", "name", tenant_name),
        // Not OffboardRequest's: its handler refuses a wrong `confirm_slug` before the
        // domain reads `reason`, so a probe of `reason` alone cannot be told apart.
        ("SuspendRequest", "reason", reason),
        (
            "ApiKeyCreate",
            "name",
            vec![MinLength(1), MaxLength(tenant::API_KEY_NAME_MAX)],
        ),
        // An LRS credential is an API key (hub_course::xapi::credentials).
        (
            "LrsCredentialCreate",
            "name",
            vec![MinLength(1), MaxLength(tenant::API_KEY_NAME_MAX)],
        ),
    ]);
    for schema in ["ContactCreate", "ContactUpdate"] {
        limits.extend([
            (
                schema,
                "name",
                vec![MinLength(1), MaxLength(tenant::CONTACT_NAME_MAX)],
            ),
            (schema, "phone", vec![Pattern(tenant::PHONE_PATTERN)]),
        ]);
    }
    // SSO connections, access reviews, the sender identity (hub-identity).
    use hub_identity::connections as sso;
    let connection_name = vec![MinLength(1), MaxLength(sso::NAME_MAX)];
    limits.extend([
        ("SsoConnectionCreate", "name", connection_name.clone()),
        (
            "SsoConnectionCreate",
            "client_id",
            vec![MinLength(1), MaxLength(sso::CLIENT_ID_MAX)],
        ),
        (
            "SsoConnectionCreate",
            "client_secret",
            vec![MinLength(1), MaxLength(sso::CLIENT_SECRET_MAX)],
        ),
        ("SamlConnectionCreate", "name", connection_name),
        (
            "SamlConnectionCreate",
            "group_attribute",
            vec![
                MinLength(1),
                MaxLength(hub_identity::saml::GROUP_ATTRIBUTE_MAX),
            ],
        ),
        (
            "AccessReviewCreate",
            "name",
            vec![MinLength(1), MaxLength(hub_identity::reviews::NAME_MAX)],
        ),
        (
            "AccessReviewCreate",
            "duration_seconds",
            vec![
                Minimum(1),
                Maximum(hub_identity::reviews::MAX_DURATION_SECS),
            ],
        ),
        (
            "MessageSenderInput",
            "from_name",
            vec![
                MinLength(1),
                MaxLength(hub_identity::outbox::DISPLAY_NAME_MAX),
            ],
        ),
    ]);
    // People (identity): what people::store checks.
    {
        use hub_identity::people;
        limits.extend([
            (
                "PersonCreate",
                "name",
                vec![MinLength(1), MaxLength(people::MAX_NAME)],
            ),
            (
                "PersonCreate",
                "username",
                vec![MinLength(1), MaxLength(people::MAX_USERNAME)],
            ),
            (
                "PersonCreate",
                "phone",
                vec![Pattern(people::PHONE_PATTERN)],
            ),
        ]);
        for schema in ["PersonCreate", "PersonAdminUpdate", "ProfileUpdate"] {
            limits.push((schema, "country", vec![Pattern(people::COUNTRY_PATTERN)]));
        }
    }
    // Privacy requests (hub-privacy-addenda): a rectification's corrections.
    limits.push((
        "CorrectionInput",
        "value",
        vec![MaxLength(
            hub_privacy_addenda::requests::effects::CORRECTION_VALUE_MAX,
        )],
    ));
    limits.push((
        "CorrectionInput",
        "field",
        vec![Enum(hub_tenant::personal_data::CorrectableField::NAMES)],
    ));
    // SCIM (identity): what the users and groups of hub_identity::scim check.
    {
        use hub_identity::{people, scim};
        limits.extend([
            (
                "ScimUserCreate",
                "userName",
                vec![MinLength(1), MaxLength(people::MAX_USERNAME)],
            ),
            (
                "ScimUserCreate",
                "displayName",
                vec![MinLength(1), MaxLength(people::MAX_NAME)],
            ),
            (
                "ScimUserCreate",
                "externalId",
                vec![MinLength(1), MaxLength(scim::users::MAX_EXTERNAL_ID)],
            ),
            (
                "ScimGroupCreate",
                "displayName",
                vec![MinLength(1), MaxLength(scim::MAX_GROUP_NAME)],
            ),
            (
                "ScimGroupCreate",
                "externalId",
                vec![MinLength(1), MaxLength(scim::users::MAX_EXTERNAL_ID)],
            ),
        ]);
    }
    limits.extend([
        (
            "LearningPreferencesUpdate",
            "topics",
            vec![MaxItems(hub_course::recommendations::service::MAX_TOPICS)],
        ),
        (
            "LearningPreferencesUpdate",
            "topics[]",
            vec![
                MinLength(1),
                MaxLength(course::MAX_TAG),
                Pattern(course::TAG_PATTERN),
            ],
        ),
    ]);
    limits
}

/// `(operation, parameter, limits)`: the limits of a parameter, on the operation named or,
/// for `None`, on every operation that takes it (the first match applies).
pub fn parameter_limits() -> Vec<(Option<&'static str>, &'static str, Vec<Limit>)> {
    use Limit::*;
    vec![
        (
            Some("listAuditEvents"),
            "limit",
            vec![
                Minimum(1),
                Maximum(crate::api::audit::MAX_AUDIT_PAGE as i64),
            ],
        ),
        // xAPI's `limit` refuses nothing: 0 and anything above the maximum ask for the
        // maximum (Communication 2.1.3).
        (Some("getXapiStatements"), "limit", vec![]),
        (
            None,
            "limit",
            vec![Minimum(1), Maximum(hub_kernel::page::MAX_PAGE_SIZE as i64)],
        ),
        (
            None,
            "Idempotency-Key",
            vec![
                MinLength(1),
                MaxLength(hub_tenant::idempotency::MAX_KEY_LEN),
                Pattern(hub_tenant::idempotency::KEY_PATTERN),
            ],
        ),
    ]
}

fn declare_limits(schema: &mut Mapping, limits: &[Limit]) {
    for limit in limits {
        let (keyword, value) = limit.keyword();
        schema.insert(key(keyword), value);
    }
}

fn declare_schema_limits(document: &mut Value) {
    let Some(schemas) = document
        .get_mut("components")
        .and_then(|c| c.get_mut("schemas"))
        .and_then(Value::as_mapping_mut)
    else {
        return;
    };
    for (schema, property, limits) in schema_limits() {
        let (name, items) = match property.strip_suffix("[]") {
            Some(name) => (name, true),
            None => (property, false),
        };
        let Some(mut target) = schemas
            .get_mut(schema)
            .and_then(|s| s.get_mut("properties"))
            .and_then(|p| p.get_mut(name))
        else {
            // tests/api/spec.rs fails on a limit whose schema or property is gone.
            continue;
        };
        if items {
            match target.get_mut("items") {
                Some(inner) => target = inner,
                None => continue,
            }
        }
        if let Some(target) = target.as_mapping_mut() {
            declare_limits(target, &limits);
        }
    }
}

fn key(text: &str) -> Value {
    Value::String(text.to_string())
}

fn string_schema() -> Value {
    let mut schema = Mapping::new();
    schema.insert(key("type"), key("string"));
    Value::Mapping(schema)
}

/// Finishes poem-openapi's document (see the module documentation).
pub fn finish(document: &mut Value) {
    declare_schema_limits(document);
    let parameter_limits = parameter_limits();
    let Some(paths) = document.get_mut("paths").and_then(Value::as_mapping_mut) else {
        return;
    };
    for (_, item) in paths.iter_mut() {
        let Some(item) = item.as_mapping_mut() else {
            continue;
        };
        for (method, operation) in item.iter_mut() {
            let Some(method) = method.as_str() else {
                continue;
            };
            let Some(operation) = operation.as_mapping_mut() else {
                continue;
            };
            if !METHODS.contains(&method) {
                continue;
            }
            let id = operation
                .get("operationId")
                .and_then(Value::as_str)
                .map(str::to_string);
            if let Some(params) = operation
                .get_mut("parameters")
                .and_then(Value::as_sequence_mut)
            {
                for param in params.iter_mut() {
                    let name = param
                        .get("name")
                        .and_then(Value::as_str)
                        .map(str::to_string);
                    let Some((_, _, limits)) = parameter_limits.iter().find(|(op, n, _)| {
                        Some(*n) == name.as_deref() && op.is_none_or(|op| Some(op) == id.as_deref())
                    }) else {
                        continue;
                    };
                    if let Some(schema) = param.get_mut("schema").and_then(Value::as_mapping_mut) {
                        declare_limits(schema, limits);
                    }
                }
            }
            if !operation.contains_key("security") {
                operation.insert(key("security"), Value::Sequence(Vec::new()));
            }
            if method == "get" {
                declare_conditional_read(operation);
            }
            let keep = declared_errors(operation);
            if keep.contains(&428) {
                require_if_match(operation);
            }
            if let Some(responses) = operation
                .get_mut("responses")
                .and_then(Value::as_mapping_mut)
            {
                responses.retain(|status, _| {
                    let code = status
                        .as_str()
                        .and_then(|s| s.parse::<u16>().ok())
                        .unwrap_or(0);
                    code < 400 || keep.contains(&code)
                });
                sort_by_status(responses);
            }
        }
    }
}

/// An operation that answers 428 without `If-Match` requires the header: the spec says so,
/// and clients generated from it send it.
fn require_if_match(operation: &mut Mapping) {
    let Some(params) = operation
        .get_mut("parameters")
        .and_then(Value::as_sequence_mut)
    else {
        return;
    };
    for param in params.iter_mut() {
        let is_if_match = param
            .get("name")
            .and_then(Value::as_str)
            .is_some_and(|n| n.eq_ignore_ascii_case("If-Match"));
        if is_if_match && let Some(param) = param.as_mapping_mut() {
            param.insert(key("required"), Value::Bool(true));
        }
    }
}

fn sort_by_status(responses: &mut Mapping) {
    let mut entries: Vec<(Value, Value)> = std::mem::take(responses).into_iter().collect();
    entries.sort_by(|a, b| a.0.as_str().cmp(&b.0.as_str()));
    responses.extend(entries);
}

/// A `GET` whose 200 answer carries an `ETag` answers 304 to a matching `If-None-Match`.
fn declare_conditional_read(operation: &mut Mapping) {
    let Some(responses) = operation.get("responses").and_then(Value::as_mapping) else {
        return;
    };
    let Some(ok) = responses.get("200").and_then(Value::as_mapping) else {
        return;
    };
    let Some(headers) = ok.get("headers").and_then(Value::as_mapping) else {
        return;
    };
    let Some(etag) = headers
        .iter()
        .find(|(name, _)| {
            name.as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case("ETag"))
        })
        .map(|(name, value)| (name.clone(), value.clone()))
    else {
        return;
    };

    let declared = operation
        .get("parameters")
        .and_then(Value::as_sequence)
        .is_some_and(|params| {
            params.iter().any(|p| {
                p.get("name")
                    .and_then(Value::as_str)
                    .is_some_and(|n| n.eq_ignore_ascii_case("If-None-Match"))
            })
        });
    let mut param = Mapping::new();
    param.insert(key("name"), key("If-None-Match"));
    param.insert(
        key("description"),
        key("The `ETag` last read: 304 without a body while it is still the current one."),
    );
    param.insert(key("schema"), string_schema());
    param.insert(key("in"), key("header"));
    param.insert(key("required"), Value::Bool(false));
    param.insert(key("deprecated"), Value::Bool(false));
    param.insert(key("explode"), Value::Bool(true));
    match operation
        .get_mut("parameters")
        .and_then(Value::as_sequence_mut)
    {
        // An operation that reads `If-None-Match` itself (SCIM) declares it already.
        Some(_) if declared => {}
        Some(params) => params.push(Value::Mapping(param)),
        None => {
            operation.insert(
                key("parameters"),
                Value::Sequence(vec![Value::Mapping(param)]),
            );
        }
    }

    let mut not_modified = Mapping::new();
    not_modified.insert(
        key("description"),
        key("Not modified: the `If-None-Match` ETag is the current revision."),
    );
    let mut headers = Mapping::new();
    headers.insert(etag.0, etag.1);
    not_modified.insert(key("headers"), Value::Mapping(headers));
    if let Some(responses) = operation
        .get_mut("responses")
        .and_then(Value::as_mapping_mut)
    {
        responses.insert(key("304"), Value::Mapping(not_modified));
    }
}
