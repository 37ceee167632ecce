//! `/xapi/statements` (xAPI-Communication 2.1): store one statement (PUT, with
//! `statementId`), one or a batch (POST, all or none), and fetch one (`statementId`,
//! `voidedStatementId`) or query them with the resource's filters, in pages linked by
//! `more`. PUT and POST take application/json or multipart/mixed (statements with their
//! attachments' contents, Communication 1.5.2, [`super::multipart`]); GET answers
//! multipart/mixed with `attachments=true`.

use super::multipart::{self, MULTIPART_MIXED, MultipartMixed};
use super::{LrsCredential, check_version};
use crate::api::ApiTags;
use crate::problem::ApiError;
use crate::state::AppState;
use chrono::{SecondsFormat, Utc};
use hub_course::CourseError;
use hub_course::xapi::attachments::{self, AttachmentPart};
use hub_course::xapi::statements::{self, Format, QueryParameters};
use hub_course::xapi::validation::parse_uuid;
use hub_kernel::FieldViolation;
use poem::web::Data;
use poem::{IntoResponse, Response};
use poem_openapi::param::{Header, Query};
use poem_openapi::payload::Json;
use poem_openapi::registry::{MetaMediaType, MetaResponses, Registry};
use poem_openapi::{ApiRequest, ApiResponse, OpenApi};
use serde_json::{Value, json};
use std::sync::Arc;
use uuid::Uuid;

#[derive(ApiResponse)]
pub enum StatementStored {
    /// Stored, or the same statement was already stored (nothing changed).
    #[oai(status = 204)]
    NoContent(#[oai(header = "X-Experience-API-Version")] String),
}

#[derive(ApiResponse)]
pub enum StatementsStored {
    /// The ids of the statements, in the order sent (an id already stored with the same
    /// statement is answered as stored).
    #[oai(status = 200)]
    Ok(
        Json<Vec<String>>,
        #[oai(header = "X-Experience-API-Version")] String,
    ),
}

#[derive(ApiResponse)]
pub enum StatementsFound {
    /// One statement (with `statementId` or `voidedStatementId`), or a StatementResult:
    /// `statements`, and `more`, the URL of the next page (empty on the last).
    #[oai(status = 200)]
    Ok(
        Json<Value>,
        #[oai(header = "X-Experience-API-Version")] String,
        /// Every statement stored before this time is in the answer's reach.
        #[oai(header = "X-Experience-API-Consistent-Through")]
        String,
        /// When the statement asked for by id was stored.
        #[oai(header = "Last-Modified")]
        Option<String>,
    ),
}

/// The statement(s): application/json (every attachment with a `fileUrl`), or RFC 2046
/// multipart/mixed (Communication 1.5.2): first an application/json part holding the
/// statement(s), then one part per attachment content, with `Content-Type`,
/// `Content-Transfer-Encoding: binary` and `X-Experience-API-Hash` (the content's SHA-2, the
/// `sha2` of its attachment). Every attachment without a `fileUrl` needs its part; a part no
/// attachment declares, a hash that is not the content's, or a length or media type other
/// than declared is a 400, nothing stored. An attachment part is at most 512 KiB and the
/// request at most the server's body limit (1 MiB by default): 413 beyond, nothing stored.
#[derive(ApiRequest)]
pub enum StatementsBody {
    Json(Json<Value>),
    Multipart(MultipartMixed),
}

impl StatementsBody {
    fn read(self) -> Result<(Value, Option<Vec<AttachmentPart>>), ApiError> {
        match self {
            Self::Json(json) => Ok((json.0, None)),
            Self::Multipart(body) => {
                let (statements, parts) = multipart::read(&body)?;
                Ok((statements, Some(parts)))
            }
        }
    }
}

/// A GET's answer: JSON, or with `attachments=true` multipart/mixed (the JSON first, then
/// each attachment's content with its `X-Experience-API-Hash`).
pub enum StatementsAnswer {
    Json(StatementsFound),
    WithAttachments {
        content_type: String,
        body: Vec<u8>,
        consistent: String,
        last_modified: Option<String>,
    },
}

impl ApiResponse for StatementsAnswer {
    fn meta() -> MetaResponses {
        let mut meta = StatementsFound::meta();
        for response in &mut meta.responses {
            if response.status == Some(200) {
                response.content.push(MetaMediaType {
                    content_type: MULTIPART_MIXED,
                    schema: multipart::binary_schema(),
                });
            }
        }
        meta
    }

    fn register(registry: &mut Registry) {
        StatementsFound::register(registry);
    }
}

impl IntoResponse for StatementsAnswer {
    fn into_response(self) -> Response {
        match self {
            Self::Json(found) => found.into_response(),
            Self::WithAttachments {
                content_type,
                body,
                consistent,
                last_modified,
            } => {
                let mut response = Response::builder()
                    .content_type(content_type)
                    .header(super::VERSION_HEADER, version_out())
                    .header("X-Experience-API-Consistent-Through", consistent);
                if let Some(last_modified) = last_modified {
                    response = response.header("Last-Modified", last_modified);
                }
                response.body(body)
            }
        }
    }
}

fn invalid(field: &str, message: &str) -> ApiError {
    ApiError::from(CourseError::XapiInvalid(vec![FieldViolation::new(
        field, message,
    )]))
}

fn version_out() -> String {
    hub_course::xapi::VERSION.to_string()
}

#[derive(Default)]
pub struct StatementsApi;

#[OpenApi(tag = "ApiTags::Lrs")]
impl StatementsApi {
    /// Store a statement with its id
    ///
    /// Requires scope `xapi_statements:write`. Stores the statement under `statementId`
    /// (its `id`, if it has one, must be the same). The statement is validated strictly
    /// (xAPI-Data 2.2): a rule broken is a 400 naming the field and the rule. The same
    /// statement again is a no-op (204); another statement with a stored id is a 409.
    /// Attachments' contents come in a multipart/mixed body (Communication 1.5.2); a signed
    /// statement (an attachment of usageType `http://adlnet.gov/expapi/attachments/signature`)
    /// must carry a JWS (RS256, RS384 or RS512) whose payload is the statement and which
    /// verifies with its `x5c` certificate when it names one (Data 2.6): 400 otherwise.
    #[oai(
        path = "/xapi/statements",
        method = "put",
        operation_id = "putXapiStatement"
    )]
    async fn put_statement(
        &self,
        state: Data<&Arc<AppState>>,
        auth: LrsCredential,
        /// The xAPI version the client speaks: 1.0.x.
        #[oai(name = "X-Experience-API-Version")]
        version: Header<String>,
        /// The statement's id (a UUID).
        #[oai(name = "statementId")]
        statement_id: Query<String>,
        body: StatementsBody,
    ) -> Result<StatementStored, ApiError> {
        check_version(&version.0)?;
        let (body, parts) = body.read()?;
        let id = parse_uuid(&statement_id.0).ok_or_else(|| {
            invalid(
                "statementId",
                "must be a UUID (xAPI 1.0.3, Communication 2.1.1)",
            )
        })?;
        let scope = state.tenancy.scope(&auth.0).await?;
        statements::store(
            &state.tenancy,
            &super::super::certificate_signer(&state),
            &scope,
            vec![body],
            Some(id),
            false,
            parts,
        )
        .await?;
        scope.commit().await?;
        Ok(StatementStored::NoContent(version_out()))
    }

    /// Store statements
    ///
    /// Requires scope `xapi_statements:write`. One statement or an array of them; a batch
    /// is stored whole or not at all (any statement breaking a rule: 400, nothing stored).
    /// Statements without an id get one. Answers the ids in the order sent. Attachments and
    /// signed statements as for PUT.
    #[oai(
        path = "/xapi/statements",
        method = "post",
        operation_id = "postXapiStatements"
    )]
    async fn post_statements(
        &self,
        state: Data<&Arc<AppState>>,
        auth: LrsCredential,
        /// The xAPI version the client speaks: 1.0.x.
        #[oai(name = "X-Experience-API-Version")]
        version: Header<String>,
        body: StatementsBody,
    ) -> Result<StatementsStored, ApiError> {
        check_version(&version.0)?;
        let (body, parts) = body.read()?;
        let (sent, batch) = match body {
            Value::Array(items) => (items, true),
            statement @ Value::Object(_) => (vec![statement], false),
            _ => {
                return Err(invalid(
                    "",
                    "must be a statement or an array of statements (xAPI 1.0.3, Communication 2.1.2)",
                ));
            }
        };
        let scope = state.tenancy.scope(&auth.0).await?;
        let ids = statements::store(
            &state.tenancy,
            &super::super::certificate_signer(&state),
            &scope,
            sent,
            None,
            batch,
            parts,
        )
        .await?;
        scope.commit().await?;
        Ok(StatementsStored::Ok(
            Json(ids.into_iter().map(|id| id.to_string()).collect()),
            version_out(),
        ))
    }

    /// Get statements
    ///
    /// Requires scope `xapi_statements:read`. With `statementId`, that statement (a voided
    /// one is not found); with `voidedStatementId`, a voided statement; otherwise the
    /// statements matching every filter given, newest stored first (`ascending=true`:
    /// oldest first), voided ones left out, `limit` at a time (0 or more than 500: 500),
    /// and in `more` the URL of the next page. `statementId` and `voidedStatementId` take
    /// no other parameter than `format` and `attachments`. A statement whose object is a
    /// StatementRef matches the filters other than `since`, `until` and `limit` when the
    /// statement it targets does, recursively (Communication 2.1.3 "Filter Conditions for
    /// StatementRefs"). With `attachments=true` the answer is multipart/mixed: the JSON
    /// first, then each stored attachment content of the statements answered, once per
    /// SHA-2, with its `Content-Type`, `Content-Transfer-Encoding: binary` and
    /// `X-Experience-API-Hash`.
    ///
    /// Returns other people's personal data: every call is recorded in the audit trail.
    #[oai(
        path = "/xapi/statements",
        method = "get",
        operation_id = "getXapiStatements"
    )]
    // poem-openapi takes every query parameter as an argument of its own.
    #[allow(clippy::too_many_arguments)]
    async fn get_statements(
        &self,
        state: Data<&Arc<AppState>>,
        auth: LrsCredential,
        /// The xAPI version the client speaks: 1.0.x.
        #[oai(name = "X-Experience-API-Version")]
        version: Header<String>,
        /// One statement by id.
        #[oai(name = "statementId")]
        statement_id: Query<Option<String>>,
        /// One voided statement by id.
        #[oai(name = "voidedStatementId")]
        voided_statement_id: Query<Option<String>>,
        /// An Agent or identified Group (JSON): statements whose actor or object it is.
        agent: Query<Option<String>>,
        /// A verb id (IRI).
        verb: Query<Option<String>>,
        /// An activity id (IRI): statements whose object it is.
        activity: Query<Option<String>>,
        /// A registration (UUID).
        registration: Query<Option<String>>,
        /// `activity` matches anywhere in the statement (context activities, a
        /// SubStatement's object), not only the object.
        related_activities: Query<Option<bool>>,
        /// `agent` matches anywhere in the statement (instructor, team, group members, a
        /// SubStatement), not only the actor or object.
        related_agents: Query<Option<bool>>,
        /// Only statements stored after this time (ISO 8601).
        since: Query<Option<String>>,
        /// Only statements stored at or before this time (ISO 8601).
        until: Query<Option<String>>,
        /// At most this many statements (0: the server's maximum, 500).
        limit: Query<Option<u64>>,
        /// `ids`, `exact` (default) or `canonical` (as stored, every language map
        /// reduced to the one language `Accept-Language` prefers, else its first).
        format: Query<Option<String>>,
        /// Answer multipart/mixed with the attachments' contents (default false:
        /// application/json, no contents).
        attachments: Query<Option<bool>>,
        /// Oldest stored first.
        ascending: Query<Option<bool>>,
        /// The next page of an earlier query (from its `more`).
        more: Query<Option<String>>,
        /// The languages preferred for `format=canonical` (RFC 9110).
        #[oai(name = "Accept-Language")]
        accept_language: Header<Option<String>>,
    ) -> Result<StatementsAnswer, ApiError> {
        check_version(&version.0)?;
        let languages = statements::language_ranges(accept_language.0.as_deref());
        let languages = &languages;
        let with_attachments = attachments.0.unwrap_or(false);
        let consistent = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
        let parameters = QueryParameters {
            agent: agent.0,
            verb: verb.0,
            activity: activity.0,
            registration: registration.0,
            related_activities: related_activities.0,
            related_agents: related_agents.0,
            since: since.0,
            until: until.0,
            limit: limit.0,
            format: format.0.clone(),
            ascending: ascending.0,
        };
        let single = match (statement_id.0, voided_statement_id.0) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "voidedStatementId",
                    "cannot be used with statementId (xAPI 1.0.3, Communication 2.1.3)",
                ));
            }
            (Some(id), None) => Some(("statementId", id, false)),
            (None, Some(id)) => Some(("voidedStatementId", id, true)),
            (None, None) => None,
        };
        if let Some((field, id, voided)) = single {
            let filtered = parameters.agent.is_some()
                || parameters.verb.is_some()
                || parameters.activity.is_some()
                || parameters.registration.is_some()
                || parameters.related_activities.is_some()
                || parameters.related_agents.is_some()
                || parameters.since.is_some()
                || parameters.until.is_some()
                || parameters.limit.is_some()
                || parameters.ascending.is_some()
                || more.0.is_some();
            if filtered {
                return Err(invalid(
                    field,
                    "takes no other parameter than format and attachments (xAPI 1.0.3, Communication 2.1.3)",
                ));
            }
            let id: Uuid = parse_uuid(&id).ok_or_else(|| {
                invalid(field, "must be a UUID (xAPI 1.0.3, Communication 2.1.3)")
            })?;
            let format = match format.0.as_deref() {
                None => Format::Exact,
                Some(text) => Format::parse(text).ok_or_else(|| {
                    invalid(
                        "format",
                        "must be ids, exact or canonical (xAPI 1.0.3, Communication 2.1.3)",
                    )
                })?,
            };
            // An audited read (S2): a scope that may write.
            let scope = state.tenancy.scope(&auth.0).await?;
            let (statement, stored) =
                statements::get(&scope, id, voided, format, languages).await?;
            let contents = if with_attachments {
                attachments::contents_of(&scope, &[id]).await?
            } else {
                Vec::new()
            };
            scope.commit().await?;
            let last_modified = stored.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
            if with_attachments {
                let (content_type, body) = multipart::write(&statement, &contents);
                return Ok(StatementsAnswer::WithAttachments {
                    content_type,
                    body,
                    consistent,
                    last_modified: Some(last_modified),
                });
            }
            return Ok(StatementsAnswer::Json(StatementsFound::Ok(
                Json(statement),
                version_out(),
                consistent,
                Some(last_modified),
            )));
        }
        let more_token = more.0;
        let parameters = &parameters;
        let more_token = &more_token;
        let scope = state.tenancy.scope(&auth.0).await?;
        let query = match more_token {
            Some(token) => statements::decode_more(&scope, token)?,
            None => parameters.clone().parse()?,
        };
        let page = statements::query(&scope, &query, languages).await?;
        let next = page
            .more
            .as_ref()
            .map(|q| statements::encode_more(&scope, q));
        let contents = if with_attachments {
            let ids: Vec<Uuid> = page
                .statements
                .iter()
                .filter_map(|s| s.get("id").and_then(Value::as_str))
                .filter_map(parse_uuid)
                .collect();
            attachments::contents_of(&scope, &ids).await?
        } else {
            Vec::new()
        };
        scope.commit().await?;
        let more_url = next
            .map(|token| format!("/xapi/statements?more={token}"))
            .unwrap_or_default();
        let result = json!({"statements": page.statements, "more": more_url});
        if with_attachments {
            let (content_type, body) = multipart::write(&result, &contents);
            return Ok(StatementsAnswer::WithAttachments {
                content_type,
                body,
                consistent,
                last_modified: None,
            });
        }
        Ok(StatementsAnswer::Json(StatementsFound::Ok(
            Json(result),
            version_out(),
            consistent,
            None,
        )))
    }
}
