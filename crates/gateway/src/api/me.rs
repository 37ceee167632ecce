//! `/v1/me/…`: a signed-in person's own record and sessions. A person reads and corrects
//! their own data here (R2, U9) whatever their roles; an API key has no "own" record.

use crate::api::described::Described;
use crate::api::people::{PersonFound, person_found};
use crate::api::privacy::requests::JurisdictionView;
use crate::api::{ApiTags, require_if_match};
use crate::auth::TenantCredential;
use crate::problem::ApiError;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use hub_identity::IdentityError;
use hub_identity::people::{self, SelfPatch};
use hub_kernel::Pii;
use hub_tenant::TenantPrincipal;
use poem::web::Data;
use poem_openapi::param::{Header, Path};
use poem_openapi::payload::Json;
use poem_openapi::types::{Example, MaybeUndefined};
use poem_openapi::{ApiResponse, Object, OpenApi};
use std::sync::Arc;
use uuid::Uuid;

/// Corrections to one's own record; omitted fields stay, `null` clears an optional one.
#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct ProfileUpdate {
    #[oai(skip_serializing_if_is_none)]
    pub name: Option<String>,
    #[oai(nullable)]
    pub phone: MaybeUndefined<String>,
    /// `YYYY-MM-DD`.
    #[oai(nullable)]
    pub birth_date: MaybeUndefined<String>,
    /// Which law's rules my privacy requests follow when one states none (L1); `null`:
    /// the institution's default.
    #[oai(nullable)]
    pub jurisdiction: MaybeUndefined<Described<JurisdictionView>>,
    /// My country, ISO 3166-1 alpha-2 in upper case (A1): the age of digital consent I am
    /// under follows it. `null`: none kept.
    #[oai(nullable)]
    pub country: MaybeUndefined<String>,
}

impl Example for ProfileUpdate {
    fn example() -> Self {
        Self {
            name: Some("Ada King".into()),
            phone: MaybeUndefined::Null,
            birth_date: MaybeUndefined::Undefined,
            jurisdiction: MaybeUndefined::Value(Described(JurisdictionView::Eu)),
            country: MaybeUndefined::Undefined,
        }
    }
}

/// One of the caller's sessions, with where it was opened from.
#[derive(Debug, Clone, Object)]
pub struct SessionView {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub ip_address: String,
    #[oai(nullable)]
    pub user_agent: Option<String>,
    #[oai(nullable)]
    pub device_id: Option<String>,
    /// The session this request was made with.
    pub current: bool,
}

#[derive(Debug, Clone, Object)]
pub struct SessionList {
    pub items: Vec<SessionView>,
}

#[derive(ApiResponse)]
pub enum SessionsListed {
    #[oai(status = 200)]
    Ok(Json<SessionList>),
}

#[derive(ApiResponse)]
pub enum SessionEnded {
    #[oai(status = 204)]
    NoContent,
}

fn person_of(principal: &TenantPrincipal) -> Result<(Uuid, Uuid), ApiError> {
    match principal.actor {
        hub_tenant::Actor::Person {
            person_id,
            session_id,
        } => Ok((person_id, session_id)),
        hub_tenant::Actor::ApiKey { .. } => Err(IdentityError::PersonOnly.into()),
    }
}

#[derive(Default)]
pub struct MeApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Me")]
impl MeApi {
    /// My record
    ///
    /// Any signed-in person, whatever their roles (R1, R2). Not available to API keys.
    #[oai(path = "/me/profile", method = "get", operation_id = "getMyProfile")]
    async fn get_my_profile(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
    ) -> Result<PersonFound, ApiError> {
        person_of(&auth.0)?;
        let scope = state.tenancy.scope(&auth.0).await?;
        let person = people::get_self(&scope).await?;
        scope.commit().await?;
        Ok(person_found(person))
    }

    /// Correct my record
    ///
    /// Any signed-in person (R2). Needs `If-Match` with the `ETag` last read. Email and
    /// username come from the institution's identity provider and are corrected there. The
    /// jurisdiction kept here is what my privacy requests follow when one states none (L1).
    #[oai(
        path = "/me/profile",
        method = "patch",
        operation_id = "updateMyProfile"
    )]
    async fn update_my_profile(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        /// The `ETag` of the revision this change is based on.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        body: Json<ProfileUpdate>,
    ) -> Result<PersonFound, ApiError> {
        person_of(&auth.0)?;
        let expected = require_if_match(if_match.0.as_deref())?;
        let optional = |value: MaybeUndefined<String>| match value {
            MaybeUndefined::Undefined => None,
            MaybeUndefined::Null => Some(None),
            MaybeUndefined::Value(v) => Some(Some(Pii::new(v))),
        };
        let patch = SelfPatch {
            name: body.0.name.map(Pii::new),
            phone: optional(body.0.phone),
            birth_date: optional(body.0.birth_date),
            jurisdiction: match body.0.jurisdiction {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(j) => Some(Some(j.0.into())),
            },
            country: optional(body.0.country),
        };
        let scope = state.tenancy.scope(&auth.0).await?;
        let person = people::correct_self(&scope, patch, expected).await?;
        scope.commit().await?;
        Ok(person_found(person))
    }

    /// My sessions
    ///
    /// Any signed-in person: where they are signed in, newest first.
    #[oai(path = "/me/sessions", method = "get", operation_id = "listMySessions")]
    async fn list_my_sessions(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
    ) -> Result<SessionsListed, ApiError> {
        let (person_id, session_id) = person_of(&auth.0)?;
        let scope = state.tenancy.scope(&auth.0).await?;
        let sessions = state
            .identity
            .sessions
            .list(&scope, person_id, Some(session_id))
            .await?;
        scope.commit().await?;
        Ok(SessionsListed::Ok(Json(SessionList {
            items: sessions
                .into_iter()
                .map(|s| SessionView {
                    id: s.id,
                    created_at: s.created_at,
                    expires_at: s.expires_at,
                    ip_address: s.context.ip_address,
                    user_agent: s.context.user_agent,
                    device_id: s.context.device_id,
                    current: s.current,
                })
                .collect(),
        })))
    }

    /// End one of my sessions
    ///
    /// Any signed-in person; ending the current session signs out.
    #[oai(
        path = "/me/sessions/:session_id",
        method = "delete",
        operation_id = "endMySession"
    )]
    async fn end_my_session(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        session_id: Path<Uuid>,
    ) -> Result<SessionEnded, ApiError> {
        let (person_id, _) = person_of(&auth.0)?;
        state
            .identity
            .sessions
            .revoke(auth.0.tenant_id(), person_id, session_id.0)
            .await?;
        Ok(SessionEnded::NoContent)
    }

    /// Sign out
    ///
    /// Any signed-in person: ends the session this request was made with.
    #[oai(path = "/me/session", method = "delete", operation_id = "signOut")]
    async fn sign_out(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
    ) -> Result<SessionEnded, ApiError> {
        let (person_id, session_id) = person_of(&auth.0)?;
        state
            .identity
            .sessions
            .revoke(auth.0.tenant_id(), person_id, session_id)
            .await?;
        Ok(SessionEnded::NoContent)
    }
}
