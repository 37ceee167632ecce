//! Account-compromise reports (S6): `/v1/me/compromise-report` for the person, `/v1/incidents`
//! for the institution's admins.

use crate::api::ApiTags;
use crate::auth::TenantCredential;
use crate::problem::ApiError;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use hub_identity::incidents::{self, Incident};
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Object, OpenApi};
use std::sync::Arc;
use uuid::Uuid;

/// What the person suspects; optional.
#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct CompromiseReport {
    /// Up to 2000 characters, stored encrypted.
    pub description: Option<String>,
}

impl Example for CompromiseReport {
    fn example() -> Self {
        Self {
            description: Some("I got a sign-in alert from a country I have never been to.".into()),
        }
    }
}

/// An account-compromise incident.
#[derive(Debug, Clone, Object)]
pub struct IncidentView {
    pub id: Uuid,
    /// `account_compromise`.
    pub kind: String,
    pub person_id: Uuid,
    /// `open` or `resolved`.
    pub status: String,
    #[oai(nullable)]
    pub description: Option<String>,
    pub sessions_revoked: i32,
    pub api_keys_revoked: i32,
    pub reported_at: DateTime<Utc>,
    /// The breach notification deadline: reported + the privacy addendum's window in force
    /// at the report (72 hours without one, GDPR Art. 33).
    pub notify_by: DateTime<Utc>,
    /// Seconds since the report, until resolved: the incident's clock.
    pub open_for_seconds: i64,
    #[oai(nullable)]
    pub resolved_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub resolved_by: Option<String>,
}

impl From<Incident> for IncidentView {
    fn from(i: Incident) -> Self {
        let until = i.resolved_at.unwrap_or_else(Utc::now);
        Self {
            id: i.id,
            kind: i.kind,
            person_id: i.person_id,
            status: i.status,
            description: i.description,
            sessions_revoked: i.sessions_revoked,
            api_keys_revoked: i.api_keys_revoked,
            open_for_seconds: (until - i.reported_at).num_seconds().max(0),
            reported_at: i.reported_at,
            notify_by: i.notify_by,
            resolved_at: i.resolved_at,
            resolved_by: i.resolved_by,
        }
    }
}

/// The person's confirmation.
#[derive(Debug, Clone, Object)]
pub struct CompromiseReceipt {
    pub incident_id: Uuid,
    pub reported_at: DateTime<Utc>,
    pub sessions_revoked: i32,
    pub api_keys_revoked: i32,
    /// Whether the person's local password must be reset before it signs in again.
    pub password_reset_required: bool,
    /// How many of the institution's admins were sent a message about the incident (admins
    /// without an email address cannot be; the reporter is not counted).
    pub admins_notified: i32,
    /// What was done and what happens now, in words (also the confirmation message).
    pub next_steps: String,
}

#[derive(Debug, Clone, Object)]
pub struct IncidentList {
    pub items: Vec<IncidentView>,
}

/// A message sent to the person (an in-app copy; email goes out through the outbox).
#[derive(Debug, Clone, Object)]
pub struct MessageView {
    pub kind: String,
    pub text: String,
}

#[derive(Debug, Clone, Object)]
pub struct MessageList {
    pub items: Vec<MessageView>,
}

#[derive(ApiResponse)]
pub enum CompromiseReported {
    #[oai(status = 201)]
    Created(Json<CompromiseReceipt>),
}

#[derive(ApiResponse)]
pub enum IncidentsListed {
    #[oai(status = 200)]
    Ok(Json<IncidentList>),
}

#[derive(ApiResponse)]
pub enum IncidentFound {
    #[oai(status = 200)]
    Ok(Json<IncidentView>),
}

#[derive(ApiResponse)]
pub enum MessagesListed {
    #[oai(status = 200)]
    Ok(Json<MessageList>),
}

#[derive(Default)]
pub struct IncidentsApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Incidents")]
impl IncidentsApi {
    /// Report my account compromised
    ///
    /// Any signed-in person. Ends every session of theirs (this one too) and revokes every API
    /// key made in their name at once; their local password, if any, no longer signs in
    /// (`password_reset_required`) until reset with a reset code; their next SSO sign-in must
    /// be a fresh authentication at the identity provider (`force_authentication=true`); an
    /// incident opens and every other tenant admin with an email address is sent a message;
    /// a confirmation saying what was done is queued for the person.
    #[oai(
        path = "/me/compromise-report",
        method = "post",
        operation_id = "reportCompromise"
    )]
    async fn report_compromise(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        body: Json<CompromiseReport>,
    ) -> Result<CompromiseReported, ApiError> {
        let reported = state
            .identity
            .report_compromise(&auth.0, body.0.description)
            .await?;
        Ok(CompromiseReported::Created(Json(CompromiseReceipt {
            incident_id: reported.incident.id,
            reported_at: reported.incident.reported_at,
            sessions_revoked: reported.incident.sessions_revoked,
            api_keys_revoked: reported.incident.api_keys_revoked,
            password_reset_required: reported.password_reset_required,
            admins_notified: i32::try_from(reported.admins_notified).unwrap_or(i32::MAX),
            next_steps: reported.next_steps,
        })))
    }

    /// My messages
    ///
    /// Any signed-in person: every message sent to them, oldest first (confirmations,
    /// security notices), whether or not its email has been delivered yet.
    #[oai(path = "/me/messages", method = "get", operation_id = "listMyMessages")]
    async fn list_my_messages(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
    ) -> Result<MessagesListed, ApiError> {
        let person_id = auth
            .0
            .actor
            .person_id()
            .ok_or(hub_identity::IdentityError::PersonOnly)?;
        let scope = state.tenancy.scope(&auth.0).await?;
        let messages = incidents::pending_messages(&scope, person_id).await?;
        scope.commit().await?;
        Ok(MessagesListed::Ok(Json(MessageList {
            items: messages
                .into_iter()
                .map(|(kind, text)| MessageView { kind, text })
                .collect(),
        })))
    }

    /// List incidents
    ///
    /// Requires scope `people:write`. Open incidents first, newest first (at most 200).
    ///
    /// Returns other people's personal data: every call is recorded in the audit trail.
    #[oai(path = "/incidents", method = "get", operation_id = "listIncidents")]
    async fn list_incidents(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
    ) -> Result<IncidentsListed, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let found = incidents::list(&scope, 200).await?;
        scope.commit().await?;
        Ok(IncidentsListed::Ok(Json(IncidentList {
            items: found.into_iter().map(Into::into).collect(),
        })))
    }

    /// Get an incident
    ///
    /// Requires scope `people:write`.
    ///
    /// Returns other people's personal data: every call is recorded in the audit trail.
    #[oai(
        path = "/incidents/:incident_id",
        method = "get",
        operation_id = "getIncident"
    )]
    async fn get_incident(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        incident_id: Path<Uuid>,
    ) -> Result<IncidentFound, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let incident = incidents::get(&scope, incident_id.0).await?;
        scope.commit().await?;
        Ok(IncidentFound::Ok(Json(incident.into())))
    }

    /// Resolve an incident
    ///
    /// Requires scope `people:write`. Stops the incident's clock.
    #[oai(
        path = "/incidents/:incident_id/resolve",
        method = "post",
        operation_id = "resolveIncident"
    )]
    async fn resolve_incident(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        incident_id: Path<Uuid>,
    ) -> Result<IncidentFound, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let incident = incidents::resolve(&scope, incident_id.0).await?;
        scope.commit().await?;
        Ok(IncidentFound::Ok(Json(incident.into())))
    }
}
