//! `/xapi/activities/state`, `/xapi/activities/profile`, `/xapi/agents/profile`
//! (xAPI-Communication 2.3, 2.6, 2.7): documents kept for an activity and an agent, an
//! activity, or an agent; with the concurrency rules of Communication 3.1 (`ETag`,
//! `If-Match`, `If-None-Match`). Also `/xapi/activities` and `/xapi/agents` (2.5, 2.4).

use super::{LrsCredential, check_version};
use crate::api::ApiTags;
use crate::problem::ApiError;
use crate::state::AppState;
use hub_course::xapi::documents::{
    self, Conditions, DocumentKey, DocumentKind, DocumentParameters,
};
use poem::web::Data;
use poem::{IntoResponse, Request, Response};
use poem_openapi::param::{Header, Query};
use poem_openapi::payload::{Binary, Json, Payload};
use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::{ApiResponse, OpenApi};
use serde_json::{Value, json};
use std::sync::Arc;

/// A document as stored, served with its own content type.
pub struct DocumentContent {
    pub content_type: String,
    pub bytes: Vec<u8>,
}

impl Payload for DocumentContent {
    const CONTENT_TYPE: &'static str = "application/octet-stream";

    fn check_content_type(_content_type: &str) -> bool {
        true
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            format: Some("binary"),
            ..MetaSchema::new("string")
        }))
    }
}

impl IntoResponse for DocumentContent {
    fn into_response(self) -> Response {
        Response::builder()
            .content_type(self.content_type)
            .body(self.bytes)
    }
}

#[derive(ApiResponse)]
pub enum DocumentStored {
    /// Stored.
    #[oai(status = 204)]
    NoContent(
        #[oai(header = "ETag")] String,
        #[oai(header = "X-Experience-API-Version")] String,
    ),
}

#[derive(ApiResponse)]
pub enum DocumentDeleted {
    /// Deleted (or there was none).
    #[oai(status = 204)]
    NoContent(#[oai(header = "X-Experience-API-Version")] String),
}

#[derive(ApiResponse)]
pub enum DocumentFound {
    /// With the document's id: the document, in its own content type, with its `ETag`.
    /// Without: a JSON array of the ids stored (`application/json`).
    #[oai(status = 200)]
    Ok(
        DocumentContent,
        #[oai(header = "ETag")] Option<String>,
        #[oai(header = "Last-Modified")] Option<String>,
        #[oai(header = "X-Experience-API-Version")] String,
    ),
}

#[derive(ApiResponse)]
pub enum ObjectFound {
    /// The object.
    #[oai(status = 200)]
    Ok(
        Json<Value>,
        #[oai(header = "X-Experience-API-Version")] String,
    ),
}

fn version_out() -> String {
    hub_course::xapi::VERSION.to_string()
}

fn content_type_of(req: &Request) -> String {
    req.header("content-type")
        .unwrap_or("application/octet-stream")
        .to_string()
}

async fn write(
    state: &AppState,
    auth: &LrsCredential,
    key: DocumentKey,
    req: &Request,
    body: Vec<u8>,
    conditions: Conditions,
    merge: bool,
) -> Result<DocumentStored, ApiError> {
    let scope = state.tenancy.scope(&auth.0).await?;
    let etag = documents::write(
        &state.tenancy,
        &scope,
        &key,
        &content_type_of(req),
        body,
        &conditions,
        merge,
    )
    .await?;
    scope.commit().await?;
    Ok(DocumentStored::NoContent(etag, version_out()))
}

async fn read(
    state: &AppState,
    auth: &LrsCredential,
    key: DocumentKey,
    single: bool,
    since: Option<String>,
) -> Result<DocumentFound, ApiError> {
    let (key, since) = (&key, &since);
    if single {
        // An audited read (the document is about its agent): a scope that may write.
        let scope = state.tenancy.scope(&auth.0).await?;
        let found = documents::get(&scope, key).await?;
        scope.commit().await?;
        return Ok(DocumentFound::Ok(
            DocumentContent {
                content_type: found.content_type,
                bytes: found.content,
            },
            Some(found.etag),
            Some(
                found
                    .updated_at
                    .format("%a, %d %b %Y %H:%M:%S GMT")
                    .to_string(),
            ),
            version_out(),
        ));
    }
    let scope = state.tenancy.scope(&auth.0).await?;
    let ids = documents::ids(&scope, key, since.as_deref()).await?;
    scope.commit().await?;
    Ok(DocumentFound::Ok(
        DocumentContent {
            content_type: "application/json".into(),
            bytes: json!(ids).to_string().into_bytes(),
        },
        None,
        None,
        version_out(),
    ))
}

async fn remove(
    state: &AppState,
    auth: &LrsCredential,
    key: DocumentKey,
    conditions: Conditions,
) -> Result<DocumentDeleted, ApiError> {
    let scope = state.tenancy.scope(&auth.0).await?;
    documents::delete(&scope, &key, &conditions).await?;
    scope.commit().await?;
    Ok(DocumentDeleted::NoContent(version_out()))
}

fn conditions(if_match: Option<String>, if_none_match: Option<String>) -> Conditions {
    Conditions {
        if_match,
        if_none_match,
    }
}

#[derive(Default)]
pub struct DocumentsApi;

#[OpenApi(tag = "ApiTags::Lrs")]
impl DocumentsApi {
    /// Store a state document
    ///
    /// Requires scope `xapi_state:write`. Replaces the state `stateId` of the activity and
    /// agent (and registration). `If-Match` / `If-None-Match` are honoured (412).
    #[oai(
        path = "/xapi/activities/state",
        method = "put",
        operation_id = "putXapiState"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn put_state(
        &self,
        state: Data<&Arc<AppState>>,
        auth: LrsCredential,
        req: &Request,
        /// The xAPI version the client speaks: 1.0.x.
        #[oai(name = "X-Experience-API-Version")]
        version: Header<String>,
        /// The activity (IRI).
        #[oai(name = "activityId")]
        activity_id: Query<String>,
        /// The agent (JSON).
        agent: Query<String>,
        /// A registration (UUID).
        registration: Query<Option<String>>,
        /// The state's id.
        #[oai(name = "stateId")]
        state_id: Query<String>,
        /// The ETag of the document this replaces.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        /// `*`: only if there is no such document.
        #[oai(name = "If-None-Match")]
        if_none_match: Header<Option<String>>,
        body: Binary<Vec<u8>>,
    ) -> Result<DocumentStored, ApiError> {
        check_version(&version.0)?;
        let key = DocumentParameters {
            activity_id: Some(activity_id.0),
            agent: Some(agent.0),
            registration: registration.0,
            document_id: Some(state_id.0),
        }
        .parse(DocumentKind::State, true)?;
        write(
            &state,
            &auth,
            key,
            req,
            body.0,
            conditions(if_match.0, if_none_match.0),
            false,
        )
        .await
    }

    /// Merge into a state document
    ///
    /// Requires scope `xapi_state:write`. A JSON object is merged into the stored JSON
    /// object (its top-level properties replaced); without a stored document, stored as
    /// sent. Anything else onto an existing document: 400.
    #[oai(
        path = "/xapi/activities/state",
        method = "post",
        operation_id = "postXapiState"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn post_state(
        &self,
        state: Data<&Arc<AppState>>,
        auth: LrsCredential,
        req: &Request,
        /// The xAPI version the client speaks: 1.0.x.
        #[oai(name = "X-Experience-API-Version")]
        version: Header<String>,
        /// The activity (IRI).
        #[oai(name = "activityId")]
        activity_id: Query<String>,
        /// The agent (JSON).
        agent: Query<String>,
        /// A registration (UUID).
        registration: Query<Option<String>>,
        /// The state's id.
        #[oai(name = "stateId")]
        state_id: Query<String>,
        /// The ETag of the document this changes.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        /// `*`: only if there is no such document.
        #[oai(name = "If-None-Match")]
        if_none_match: Header<Option<String>>,
        body: Binary<Vec<u8>>,
    ) -> Result<DocumentStored, ApiError> {
        check_version(&version.0)?;
        let key = DocumentParameters {
            activity_id: Some(activity_id.0),
            agent: Some(agent.0),
            registration: registration.0,
            document_id: Some(state_id.0),
        }
        .parse(DocumentKind::State, true)?;
        write(
            &state,
            &auth,
            key,
            req,
            body.0,
            conditions(if_match.0, if_none_match.0),
            true,
        )
        .await
    }

    /// Get state documents
    ///
    /// Requires scope `xapi_state:write`. With `stateId`, the document (200, its own
    /// content type, `ETag`); without, the ids of the activity and agent's states (203,
    /// JSON), changed after `since` if given.
    ///
    /// Returns other people's personal data: every call is recorded in the audit trail.
    #[oai(
        path = "/xapi/activities/state",
        method = "get",
        operation_id = "getXapiState"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn get_state(
        &self,
        state: Data<&Arc<AppState>>,
        auth: LrsCredential,
        /// The xAPI version the client speaks: 1.0.x.
        #[oai(name = "X-Experience-API-Version")]
        version: Header<String>,
        /// The activity (IRI).
        #[oai(name = "activityId")]
        activity_id: Query<String>,
        /// The agent (JSON).
        agent: Query<String>,
        /// A registration (UUID).
        registration: Query<Option<String>>,
        /// The state's id; without it, the list of ids.
        #[oai(name = "stateId")]
        state_id: Query<Option<String>>,
        /// With the list: only states changed after this time (ISO 8601).
        since: Query<Option<String>>,
    ) -> Result<DocumentFound, ApiError> {
        check_version(&version.0)?;
        let single = state_id.0.is_some();
        let key = DocumentParameters {
            activity_id: Some(activity_id.0),
            agent: Some(agent.0),
            registration: registration.0,
            document_id: state_id.0,
        }
        .parse(DocumentKind::State, false)?;
        read(&state, &auth, key, single, since.0).await
    }

    /// Delete state documents
    ///
    /// Requires scope `xapi_state:write`. With `stateId`, that document (`If-Match`
    /// honoured); without, every state of the activity and agent (and registration).
    #[oai(
        path = "/xapi/activities/state",
        method = "delete",
        operation_id = "deleteXapiState"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn delete_state(
        &self,
        state: Data<&Arc<AppState>>,
        auth: LrsCredential,
        /// The xAPI version the client speaks: 1.0.x.
        #[oai(name = "X-Experience-API-Version")]
        version: Header<String>,
        /// The activity (IRI).
        #[oai(name = "activityId")]
        activity_id: Query<String>,
        /// The agent (JSON).
        agent: Query<String>,
        /// A registration (UUID).
        registration: Query<Option<String>>,
        /// The state's id; without it, every state.
        #[oai(name = "stateId")]
        state_id: Query<Option<String>>,
        /// The ETag of the document to delete.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
    ) -> Result<DocumentDeleted, ApiError> {
        check_version(&version.0)?;
        let key = DocumentParameters {
            activity_id: Some(activity_id.0),
            agent: Some(agent.0),
            registration: registration.0,
            document_id: state_id.0,
        }
        .parse(DocumentKind::State, false)?;
        remove(&state, &auth, key, conditions(if_match.0, None)).await
    }

    /// Store an activity profile
    ///
    /// Requires scope `xapi_profiles:write`. Replacing an existing profile needs
    /// `If-Match` (its ETag) or `If-None-Match` (409 without either, 412 when it does not
    /// hold).
    #[oai(
        path = "/xapi/activities/profile",
        method = "put",
        operation_id = "putXapiActivityProfile"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn put_activity_profile(
        &self,
        state: Data<&Arc<AppState>>,
        auth: LrsCredential,
        req: &Request,
        /// The xAPI version the client speaks: 1.0.x.
        #[oai(name = "X-Experience-API-Version")]
        version: Header<String>,
        /// The activity (IRI).
        #[oai(name = "activityId")]
        activity_id: Query<String>,
        /// The profile's id.
        #[oai(name = "profileId")]
        profile_id: Query<String>,
        /// The ETag of the document this replaces.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        /// `*`: only if there is no such document.
        #[oai(name = "If-None-Match")]
        if_none_match: Header<Option<String>>,
        body: Binary<Vec<u8>>,
    ) -> Result<DocumentStored, ApiError> {
        check_version(&version.0)?;
        let key = DocumentParameters {
            activity_id: Some(activity_id.0),
            document_id: Some(profile_id.0),
            ..Default::default()
        }
        .parse(DocumentKind::ActivityProfile, true)?;
        write(
            &state,
            &auth,
            key,
            req,
            body.0,
            conditions(if_match.0, if_none_match.0),
            false,
        )
        .await
    }

    /// Merge into an activity profile
    ///
    /// Requires scope `xapi_profiles:write`. A JSON object merged into the stored one, as
    /// for state.
    #[oai(
        path = "/xapi/activities/profile",
        method = "post",
        operation_id = "postXapiActivityProfile"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn post_activity_profile(
        &self,
        state: Data<&Arc<AppState>>,
        auth: LrsCredential,
        req: &Request,
        /// The xAPI version the client speaks: 1.0.x.
        #[oai(name = "X-Experience-API-Version")]
        version: Header<String>,
        /// The activity (IRI).
        #[oai(name = "activityId")]
        activity_id: Query<String>,
        /// The profile's id.
        #[oai(name = "profileId")]
        profile_id: Query<String>,
        /// The ETag of the document this changes.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        /// `*`: only if there is no such document.
        #[oai(name = "If-None-Match")]
        if_none_match: Header<Option<String>>,
        body: Binary<Vec<u8>>,
    ) -> Result<DocumentStored, ApiError> {
        check_version(&version.0)?;
        let key = DocumentParameters {
            activity_id: Some(activity_id.0),
            document_id: Some(profile_id.0),
            ..Default::default()
        }
        .parse(DocumentKind::ActivityProfile, true)?;
        write(
            &state,
            &auth,
            key,
            req,
            body.0,
            conditions(if_match.0, if_none_match.0),
            true,
        )
        .await
    }

    /// Get activity profiles
    ///
    /// Requires scope `xapi_profiles:write`. With `profileId`, the document (200); without,
    /// the ids of the activity's profiles (JSON), changed after `since` if given.
    #[oai(
        path = "/xapi/activities/profile",
        method = "get",
        operation_id = "getXapiActivityProfile"
    )]
    async fn get_activity_profile(
        &self,
        state: Data<&Arc<AppState>>,
        auth: LrsCredential,
        /// The xAPI version the client speaks: 1.0.x.
        #[oai(name = "X-Experience-API-Version")]
        version: Header<String>,
        /// The activity (IRI).
        #[oai(name = "activityId")]
        activity_id: Query<String>,
        /// The profile's id; without it, the list of ids.
        #[oai(name = "profileId")]
        profile_id: Query<Option<String>>,
        /// With the list: only profiles changed after this time (ISO 8601).
        since: Query<Option<String>>,
    ) -> Result<DocumentFound, ApiError> {
        check_version(&version.0)?;
        let single = profile_id.0.is_some();
        let key = DocumentParameters {
            activity_id: Some(activity_id.0),
            document_id: profile_id.0,
            ..Default::default()
        }
        .parse(DocumentKind::ActivityProfile, false)?;
        read(&state, &auth, key, single, since.0).await
    }

    /// Delete an activity profile
    ///
    /// Requires scope `xapi_profiles:write`. `If-Match` honoured.
    #[oai(
        path = "/xapi/activities/profile",
        method = "delete",
        operation_id = "deleteXapiActivityProfile"
    )]
    async fn delete_activity_profile(
        &self,
        state: Data<&Arc<AppState>>,
        auth: LrsCredential,
        /// The xAPI version the client speaks: 1.0.x.
        #[oai(name = "X-Experience-API-Version")]
        version: Header<String>,
        /// The activity (IRI).
        #[oai(name = "activityId")]
        activity_id: Query<String>,
        /// The profile's id.
        #[oai(name = "profileId")]
        profile_id: Query<String>,
        /// The ETag of the document to delete.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
    ) -> Result<DocumentDeleted, ApiError> {
        check_version(&version.0)?;
        let key = DocumentParameters {
            activity_id: Some(activity_id.0),
            document_id: Some(profile_id.0),
            ..Default::default()
        }
        .parse(DocumentKind::ActivityProfile, true)?;
        remove(&state, &auth, key, conditions(if_match.0, None)).await
    }

    /// Store an agent profile
    ///
    /// Requires scope `xapi_profiles:write`. Replacing an existing profile needs
    /// `If-Match` or `If-None-Match` (409 without either, 412 when it does not hold).
    #[oai(
        path = "/xapi/agents/profile",
        method = "put",
        operation_id = "putXapiAgentProfile"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn put_agent_profile(
        &self,
        state: Data<&Arc<AppState>>,
        auth: LrsCredential,
        req: &Request,
        /// The xAPI version the client speaks: 1.0.x.
        #[oai(name = "X-Experience-API-Version")]
        version: Header<String>,
        /// The agent (JSON).
        agent: Query<String>,
        /// The profile's id.
        #[oai(name = "profileId")]
        profile_id: Query<String>,
        /// The ETag of the document this replaces.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        /// `*`: only if there is no such document.
        #[oai(name = "If-None-Match")]
        if_none_match: Header<Option<String>>,
        body: Binary<Vec<u8>>,
    ) -> Result<DocumentStored, ApiError> {
        check_version(&version.0)?;
        let key = DocumentParameters {
            agent: Some(agent.0),
            document_id: Some(profile_id.0),
            ..Default::default()
        }
        .parse(DocumentKind::AgentProfile, true)?;
        write(
            &state,
            &auth,
            key,
            req,
            body.0,
            conditions(if_match.0, if_none_match.0),
            false,
        )
        .await
    }

    /// Merge into an agent profile
    ///
    /// Requires scope `xapi_profiles:write`. A JSON object merged into the stored one, as
    /// for state.
    #[oai(
        path = "/xapi/agents/profile",
        method = "post",
        operation_id = "postXapiAgentProfile"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn post_agent_profile(
        &self,
        state: Data<&Arc<AppState>>,
        auth: LrsCredential,
        req: &Request,
        /// The xAPI version the client speaks: 1.0.x.
        #[oai(name = "X-Experience-API-Version")]
        version: Header<String>,
        /// The agent (JSON).
        agent: Query<String>,
        /// The profile's id.
        #[oai(name = "profileId")]
        profile_id: Query<String>,
        /// The ETag of the document this changes.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        /// `*`: only if there is no such document.
        #[oai(name = "If-None-Match")]
        if_none_match: Header<Option<String>>,
        body: Binary<Vec<u8>>,
    ) -> Result<DocumentStored, ApiError> {
        check_version(&version.0)?;
        let key = DocumentParameters {
            agent: Some(agent.0),
            document_id: Some(profile_id.0),
            ..Default::default()
        }
        .parse(DocumentKind::AgentProfile, true)?;
        write(
            &state,
            &auth,
            key,
            req,
            body.0,
            conditions(if_match.0, if_none_match.0),
            true,
        )
        .await
    }

    /// Get agent profiles
    ///
    /// Requires scope `xapi_profiles:write`. With `profileId`, the document (200); without,
    /// the ids of the agent's profiles (JSON), changed after `since` if given.
    ///
    /// Returns other people's personal data: every call is recorded in the audit trail.
    #[oai(
        path = "/xapi/agents/profile",
        method = "get",
        operation_id = "getXapiAgentProfile"
    )]
    async fn get_agent_profile(
        &self,
        state: Data<&Arc<AppState>>,
        auth: LrsCredential,
        /// The xAPI version the client speaks: 1.0.x.
        #[oai(name = "X-Experience-API-Version")]
        version: Header<String>,
        /// The agent (JSON).
        agent: Query<String>,
        /// The profile's id; without it, the list of ids.
        #[oai(name = "profileId")]
        profile_id: Query<Option<String>>,
        /// With the list: only profiles changed after this time (ISO 8601).
        since: Query<Option<String>>,
    ) -> Result<DocumentFound, ApiError> {
        check_version(&version.0)?;
        let single = profile_id.0.is_some();
        let key = DocumentParameters {
            agent: Some(agent.0),
            document_id: profile_id.0,
            ..Default::default()
        }
        .parse(DocumentKind::AgentProfile, false)?;
        read(&state, &auth, key, single, since.0).await
    }

    /// Delete an agent profile
    ///
    /// Requires scope `xapi_profiles:write`. `If-Match` honoured.
    #[oai(
        path = "/xapi/agents/profile",
        method = "delete",
        operation_id = "deleteXapiAgentProfile"
    )]
    async fn delete_agent_profile(
        &self,
        state: Data<&Arc<AppState>>,
        auth: LrsCredential,
        /// The xAPI version the client speaks: 1.0.x.
        #[oai(name = "X-Experience-API-Version")]
        version: Header<String>,
        /// The agent (JSON).
        agent: Query<String>,
        /// The profile's id.
        #[oai(name = "profileId")]
        profile_id: Query<String>,
        /// The ETag of the document to delete.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
    ) -> Result<DocumentDeleted, ApiError> {
        check_version(&version.0)?;
        let key = DocumentParameters {
            agent: Some(agent.0),
            document_id: Some(profile_id.0),
            ..Default::default()
        }
        .parse(DocumentKind::AgentProfile, true)?;
        remove(&state, &auth, key, conditions(if_match.0, None)).await
    }

    /// Get an activity
    ///
    /// Requires scope `xapi_profiles:write`. The activity as the latest statement naming
    /// it as its object defined it (xAPI-Communication 2.5); only its id if none did.
    #[oai(
        path = "/xapi/activities",
        method = "get",
        operation_id = "getXapiActivity"
    )]
    async fn get_activity(
        &self,
        state: Data<&Arc<AppState>>,
        auth: LrsCredential,
        /// The xAPI version the client speaks: 1.0.x.
        #[oai(name = "X-Experience-API-Version")]
        version: Header<String>,
        /// The activity (IRI).
        #[oai(name = "activityId")]
        activity_id: Query<String>,
    ) -> Result<ObjectFound, ApiError> {
        check_version(&version.0)?;
        let id = &activity_id.0;
        let activity = state
            .tenancy
            .read(&auth.0, move |scope| async move {
                hub_course::xapi::statements::activity(&scope, id).await
            })
            .await?;
        Ok(ObjectFound::Ok(Json(activity), version_out()))
    }

    /// Get an agent's Person object
    ///
    /// Requires scope `xapi_profiles:write`. The Person object of an agent
    /// (xAPI-Communication 2.4): its identifier and name, as arrays.
    #[oai(path = "/xapi/agents", method = "get", operation_id = "getXapiAgent")]
    async fn get_agent(
        &self,
        auth: LrsCredential,
        /// The xAPI version the client speaks: 1.0.x.
        #[oai(name = "X-Experience-API-Version")]
        version: Header<String>,
        /// The agent (JSON).
        agent: Query<String>,
    ) -> Result<ObjectFound, ApiError> {
        check_version(&version.0)?;
        auth.0.require(hub_course::xapi::PROFILES_WRITE)?;
        let person = hub_course::xapi::person_of(&agent.0)?;
        Ok(ObjectFound::Ok(Json(person), version_out()))
    }
}
