//! Sessions in the session store (Redis, or the in-process map of the embedded default): each
//! session's record (`hub:session:<id>`, naming the person, with the sealed technical data of
//! C5), the person's set of session ids (`hub:person-sessions:<tenant>:<person>`) and the
//! institution's (`hub:tenant-sessions:<tenant>`, used by key rotation). The export lists the
//! live sessions as `GET /v1/me/sessions` shows them; erasure and restriction end every
//! session of the person (as a deactivation does) and remove their ids from both sets; while
//! restricted the person may sign in to a session reaching only their own record, and lifting
//! the restriction ends those too (the next sign-in carries the person's roles again). Nothing expires here: the store's
//! time-to-live ends every session at its lifetime.
//!
//! This source runs after the people source (`runs_after`), which deactivates the person
//! first, so no session can start in between. Sign-in flows in progress
//! (`hub:sso-flow:`, `hub:saml-flow:`, `hub:saml-flow-used:`) and the memory of consumed SAML
//! assertions (`hub:saml-assertion:`) name no person: they hold the institution, the
//! connection, nonces and request ids, keyed by hashes, and last at most minutes; the
//! person is known only once the IdP's answer is verified, when the session opens. They are
//! not this source's.

use super::{NOT_A_PERSON, audit_erased, person_of};
use crate::ephemeral::Ephemeral;
use crate::sessions::{SESSION_FIELDS, Sessions};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hub_kernel::classification::{DataCategory, FieldClassification};
use hub_tenant::personal_data::{DataSubject, Outcome, PersonalDataSource, SourceError, Summary};
use hub_tenant::{Scope, TenantScope};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

pub struct SessionsSource {
    sessions: Sessions,
}

impl SessionsSource {
    pub fn new(store: Arc<Ephemeral>) -> Self {
        // The lifetime is only for opening sessions, which this source never does.
        Self {
            sessions: Sessions::new(store, Duration::ZERO),
        }
    }

    async fn end_all(&self, scope: &TenantScope, id: Uuid) -> Result<u64, SourceError> {
        Ok(self.sessions.revoke_all(scope.tenant_id(), id).await? as u64)
    }
}

#[async_trait]
impl PersonalDataSource for SessionsSource {
    fn name(&self) -> &'static str {
        "sessions"
    }

    fn fields(&self) -> Vec<FieldClassification> {
        SESSION_FIELDS.to_vec()
    }

    fn tables(&self) -> &'static [&'static str] {
        &[]
    }

    fn redis_families(&self) -> &'static [&'static str] {
        &[
            "hub:session:",
            "hub:person-sessions:",
            "hub:tenant-sessions:",
        ]
    }

    fn runs_after(&self) -> &'static [&'static str] {
        &["people"]
    }

    async fn summary(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Summary, SourceError> {
        let Some(id) = person_of(scope, subject, Scope::PeopleRead)? else {
            return Ok(Summary { records: 0 });
        };
        let records = self.sessions.list(scope, id, None).await?.len() as u64;
        Ok(Summary { records })
    }

    async fn export(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Vec<serde_json::Value>, SourceError> {
        let Some(id) = person_of(scope, subject, Scope::PeopleRead)? else {
            return Ok(Vec::new());
        };
        Ok(self
            .sessions
            .list(scope, id, None)
            .await?
            .into_iter()
            .map(|s| {
                serde_json::json!({
                    "id": s.id,
                    "created_at": s.created_at,
                    "expires_at": s.expires_at,
                    "ip_address": s.context.ip_address,
                    "user_agent": s.context.user_agent,
                    "device_id": s.context.device_id,
                })
            })
            .collect())
    }

    async fn erase(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Outcome, SourceError> {
        let Some(id) = person_of(scope, subject, Scope::PeopleWrite)? else {
            return Ok(NOT_A_PERSON);
        };
        let records = self.end_all(scope, id).await?;
        audit_erased(scope, "sessions.erased", id, records).await?;
        Ok(Outcome::Deleted { records })
    }

    async fn expire(
        &self,
        scope: &TenantScope,
        _category: DataCategory,
        _cutoff: DateTime<Utc>,
        _keep: &[Uuid],
    ) -> Result<Outcome, SourceError> {
        scope.require(Scope::PeopleWrite)?;
        Ok(Outcome::NotApplicable {
            reason: "the session store ends every session at its lifetime (time-to-live)",
        })
    }

    async fn restrict(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
        restricted: bool,
    ) -> Result<Outcome, SourceError> {
        let Some(id) = person_of(scope, subject, Scope::PeopleWrite)? else {
            return Ok(NOT_A_PERSON);
        };
        // Restricting ends every session; lifting ends those opened meanwhile, which carry no
        // role's scopes (`people::session_scopes`): the next sign-in carries the person's roles.
        let records = self.end_all(scope, id).await?;
        Ok(Outcome::Restricted {
            records,
            restricted,
        })
    }
}
