//! Sessions of signed-in people: opaque tokens (`dxs_<session id>_<secret>`), kept in the
//! shared ephemeral store with an absolute lifetime, listed and revoked by their owner, ended
//! all at once by an admin's deactivation or a role change. A session opens only for a person
//! who passed the reauthentication rule (`reauthentication::check`), whatever the sign-in path.
//!
//! Ending sessions after a role or status change is a rule of the domain, kept once here: the
//! functions that write a person's roles or status note the person in [`SessionsToEnd`], and
//! their result is a [`Change`] whose value is reached only through [`crate::Identity::commit`],
//! which commits the unit of work and then ends those sessions. A caller cannot take the value
//! and forget the sessions.
//!
//! Only a hash of the secret is stored. The technical data of a session (IP address, user
//! agent, device id: C5) is personal data, so it is sealed under the institution's key before
//! it reaches Redis; the person listing their sessions sees it decrypted. Key rotation
//! re-seals it like the tables ([`SessionContexts`], a `hub_tenant::SealedStore`), so the
//! retired key can be destroyed with live sessions still listing their context.

use crate::ephemeral::Ephemeral;
use crate::error::IdentityError;
use crate::reauthentication::Authenticated;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use hub_kernel::Secret;
use hub_kernel::classification::{DataCategory, FieldClassification, Purpose, RetentionClass};
use hub_tenant::{Scope, TenantScope};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::time::Duration;
use subtle::ConstantTimeEq;
use uuid::Uuid;

const PREFIX: &str = "dxs";
const SEALED_AS: &str = "sessions";

const fn technical(column: &'static str, optional: bool) -> FieldClassification {
    FieldClassification {
        table: SEALED_AS,
        column,
        category: DataCategory::Technical,
        purpose: Purpose::Security,
        retention: RetentionClass::Ephemeral,
        identifying: true,
        blind_index: false,
        optional,
    }
}

/// Technical data kept with each session (in the session store, not in a table), for the
/// person's own "where am I signed in" view and for security review. Gone when the session
/// expires or is revoked.
pub const SESSION_FIELDS: &[FieldClassification] = &[
    technical("ip_address", false),
    technical("user_agent", true),
    technical("device_id", true),
];

/// Where a sign-in came from, as the gateway saw it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ClientContext {
    pub ip_address: String,
    pub user_agent: Option<String>,
    pub device_id: Option<String>,
}

impl ClientContext {
    /// Bounds what a client can make us store.
    pub fn bounded(mut self) -> Self {
        fn clip(s: &mut String, max: usize) {
            if s.len() > max {
                let mut end = max;
                while !s.is_char_boundary(end) {
                    end -= 1;
                }
                s.truncate(end);
            }
        }
        clip(&mut self.ip_address, 64);
        if let Some(ua) = &mut self.user_agent {
            clip(ua, 512);
        }
        if let Some(d) = &mut self.device_id {
            clip(d, 128);
        }
        self
    }
}

/// The stored record. `scopes` are those of the person's roles at sign-in.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionRecord {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub person_id: Uuid,
    pub scopes: Vec<String>,
    pub connection_id: Option<Uuid>,
    secret_hash: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// `ClientContext` as JSON, sealed under the tenant's key, base64.
    context_sealed: String,
}

impl SessionRecord {
    pub fn scopes(&self) -> Vec<Scope> {
        self.scopes.iter().filter_map(|s| Scope::parse(s)).collect()
    }
}

/// A session as its owner sees it.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub context: ClientContext,
    pub current: bool,
}

/// A new session: the only moment the token exists outside its holder.
#[derive(Debug, Clone)]
pub struct IssuedSession {
    pub token: Secret,
    pub id: Uuid,
    pub expires_at: DateTime<Utc>,
}

/// People whose sessions must end when the unit of work that changed their roles or status
/// commits: a session carries the scopes of the roles held at sign-in, so it must not outlive
/// a change of roles or a deactivation.
#[derive(Debug, Default)]
pub struct SessionsToEnd(Vec<Uuid>);

impl SessionsToEnd {
    pub(crate) fn add(&mut self, person_id: Uuid) {
        if !self.0.contains(&person_id) {
            self.0.push(person_id);
        }
    }

    /// The people noted so far (for the audit trail).
    pub fn people(&self) -> &[Uuid] {
        &self.0
    }
}

/// The result of a change that may have changed people's roles or status. Its value is
/// reached only through [`crate::Identity::commit`], which ends the noted sessions once the
/// change is committed.
#[must_use = "commit it with Identity::commit, which ends the sessions the change requires"]
pub struct Change<T> {
    value: T,
    ending: SessionsToEnd,
}

impl<T> Change<T> {
    pub(crate) fn new(value: T, ending: SessionsToEnd) -> Self {
        Self { value, ending }
    }

    /// Whose sessions end when this change is committed.
    pub fn sessions_to_end(&self) -> &[Uuid] {
        self.ending.people()
    }
}

impl crate::Identity {
    /// Commits the unit of work behind `change`, then ends the sessions it requires. After a
    /// failed commit nothing changed and no session ends.
    pub async fn commit<T>(
        &self,
        scope: TenantScope,
        change: Change<T>,
    ) -> Result<T, IdentityError> {
        let tenant_id = scope.tenant_id();
        scope.commit().await?;
        for person in change.ending.0 {
            self.sessions.revoke_all(tenant_id, person).await?;
        }
        Ok(change.value)
    }
}

pub struct Sessions {
    store: std::sync::Arc<Ephemeral>,
    lifetime: Duration,
}

fn record_key(id: Uuid) -> String {
    format!("hub:session:{}", id.simple())
}

/// Every session id of an institution, for key rotation to find its sealed contexts.
fn tenant_key(tenant_id: Uuid) -> String {
    format!("hub:tenant-sessions:{}", tenant_id.simple())
}

fn person_key(tenant_id: Uuid, person_id: Uuid) -> String {
    format!(
        "hub:person-sessions:{}:{}",
        tenant_id.simple(),
        person_id.simple()
    )
}

fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn parse_token(token: &str) -> Option<(Uuid, &str)> {
    let rest = token.strip_prefix(PREFIX)?.strip_prefix('_')?;
    let (id, secret) = rest.split_once('_')?;
    if secret.is_empty() || id.len() != 32 {
        return None;
    }
    Some((Uuid::try_parse(id).ok()?, secret))
}

impl Sessions {
    pub fn new(store: std::sync::Arc<Ephemeral>, lifetime: Duration) -> Self {
        Self { store, lifetime }
    }

    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// Starts a session in the scope's institution for a person who passed the
    /// reauthentication rule ([`Authenticated`] has no other maker).
    pub async fn open(
        &self,
        scope: &TenantScope,
        who: &Authenticated,
        scopes: &[Scope],
        context: ClientContext,
    ) -> Result<IssuedSession, IdentityError> {
        if who.tenant_id() != scope.tenant_id() {
            return Err(IdentityError::Unauthenticated);
        }
        let person_id = who.person_id();
        let id = Uuid::now_v7();
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        let secret = URL_SAFE_NO_PAD.encode(secret);
        let now = Utc::now();
        let lifetime = chrono::Duration::from_std(self.lifetime)
            .map_err(|e| IdentityError::SessionStore(e.to_string()))?;
        let context = serde_json::to_string(&context.bounded())
            .map_err(|e| IdentityError::SessionStore(e.to_string()))?;
        let record = SessionRecord {
            id,
            tenant_id: scope.tenant_id(),
            person_id,
            scopes: scopes.iter().map(|s| s.as_str().to_string()).collect(),
            connection_id: who.connection_id(),
            secret_hash: hash_secret(&secret),
            created_at: now,
            expires_at: now + lifetime,
            context_sealed: STANDARD
                .encode(scope.keys().seal_str(SEALED_AS, "context", id, &context)),
        };
        let text = serde_json::to_string(&record)
            .map_err(|e| IdentityError::SessionStore(e.to_string()))?;
        self.store
            .put(&record_key(id), &text, self.lifetime)
            .await?;
        self.store
            .add_member(
                &person_key(record.tenant_id, person_id),
                &id.simple().to_string(),
                self.lifetime,
            )
            .await?;
        self.store
            .add_member(
                &tenant_key(record.tenant_id),
                &id.simple().to_string(),
                self.lifetime,
            )
            .await?;
        Ok(IssuedSession {
            token: Secret::new(format!("{PREFIX}_{}_{secret}", id.simple())),
            id,
            expires_at: record.expires_at,
        })
    }

    /// Ends the noted sessions before the change that requires it is committed: for a
    /// sign-in, which opens a new session right after and must not end that one too.
    pub(crate) async fn end_before(
        &self,
        tenant_id: Uuid,
        ending: SessionsToEnd,
    ) -> Result<(), IdentityError> {
        for person in ending.0 {
            self.revoke_all(tenant_id, person).await?;
        }
        Ok(())
    }

    /// The live session behind a token, or `Unauthenticated`.
    pub async fn resolve(&self, token: &str) -> Result<SessionRecord, IdentityError> {
        let (id, secret) = parse_token(token).ok_or(IdentityError::Unauthenticated)?;
        let text = self
            .store
            .get(&record_key(id))
            .await?
            .ok_or(IdentityError::Unauthenticated)?;
        let record: SessionRecord =
            serde_json::from_str(&text).map_err(|_| IdentityError::Unauthenticated)?;
        let matches: bool = record
            .secret_hash
            .as_bytes()
            .ct_eq(hash_secret(secret).as_bytes())
            .into();
        if !matches || record.expires_at <= Utc::now() {
            return Err(IdentityError::Unauthenticated);
        }
        Ok(record)
    }

    /// The person's live sessions, newest first, with their technical data decrypted.
    pub async fn list(
        &self,
        scope: &TenantScope,
        person_id: Uuid,
        current: Option<Uuid>,
    ) -> Result<Vec<SessionInfo>, IdentityError> {
        let index = person_key(scope.tenant_id(), person_id);
        let mut sessions = Vec::new();
        for member in self.store.members(&index).await? {
            let Ok(id) = Uuid::try_parse(&member) else {
                continue;
            };
            let Some(text) = self.store.get(&record_key(id)).await? else {
                // Expired: tidy the index.
                self.store.remove_member(&index, &member).await?;
                continue;
            };
            let Ok(record) = serde_json::from_str::<SessionRecord>(&text) else {
                continue;
            };
            if record.tenant_id != scope.tenant_id() || record.person_id != person_id {
                continue;
            }
            let sealed = STANDARD
                .decode(&record.context_sealed)
                .map_err(|e| IdentityError::SessionStore(e.to_string()))?;
            // Key rotation re-seals contexts before it destroys a version; a session opened
            // before the session index existed may still be under a destroyed one: it keeps
            // working, without its context.
            let context = match scope.keys().open_str(SEALED_AS, "context", id, &sealed) {
                Err(hub_kernel::crypto::CryptoError::UnknownKeyVersion(_)) => String::new(),
                opened => opened?,
            };
            sessions.push(SessionInfo {
                id,
                created_at: record.created_at,
                expires_at: record.expires_at,
                context: serde_json::from_str(&context).unwrap_or_default(),
                current: Some(id) == current,
            });
        }
        sessions.sort_by_key(|s| std::cmp::Reverse(s.created_at));
        Ok(sessions)
    }

    /// Ends one of the person's sessions. Another person's session id is "not found".
    pub async fn revoke(
        &self,
        tenant_id: Uuid,
        person_id: Uuid,
        session_id: Uuid,
    ) -> Result<(), IdentityError> {
        let key = record_key(session_id);
        let owned = match self.store.get(&key).await? {
            Some(text) => serde_json::from_str::<SessionRecord>(&text)
                .is_ok_and(|r| r.tenant_id == tenant_id && r.person_id == person_id),
            None => false,
        };
        if !owned {
            return Err(IdentityError::NotFound("session"));
        }
        self.store.delete(&key).await?;
        self.store
            .remove_member(
                &person_key(tenant_id, person_id),
                &session_id.simple().to_string(),
            )
            .await
    }

    /// Ends every session of a person, and takes their ids out of the person's and the
    /// institution's sets; returns how many were live.
    pub async fn revoke_all(
        &self,
        tenant_id: Uuid,
        person_id: Uuid,
    ) -> Result<usize, IdentityError> {
        let index = person_key(tenant_id, person_id);
        let tenant_index = tenant_key(tenant_id);
        let mut ended = 0;
        for member in self.store.members(&index).await? {
            if let Ok(id) = Uuid::try_parse(&member) {
                if self.store.get(&record_key(id)).await?.is_some() {
                    ended += 1;
                }
                self.store.delete(&record_key(id)).await?;
            }
            self.store.remove_member(&tenant_index, &member).await?;
            self.store.remove_member(&index, &member).await?;
        }
        Ok(ended)
    }
}

/// The session contexts of the session store, as key rotation re-seals them.
pub struct SessionContexts {
    store: std::sync::Arc<Ephemeral>,
}

impl SessionContexts {
    pub fn new(store: std::sync::Arc<Ephemeral>) -> Self {
        Self { store }
    }

    /// Each live session of the tenant, with its sealed context; expired ones leave the index.
    async fn each(
        &self,
        tenant_id: Uuid,
    ) -> Result<Vec<(Uuid, SessionRecord, Vec<u8>)>, IdentityError> {
        let index = tenant_key(tenant_id);
        let mut live = Vec::new();
        for member in self.store.members(&index).await? {
            let Ok(id) = Uuid::try_parse(&member) else {
                continue;
            };
            let Some(text) = self.store.get(&record_key(id)).await? else {
                self.store.remove_member(&index, &member).await?;
                continue;
            };
            let Ok(record) = serde_json::from_str::<SessionRecord>(&text) else {
                continue;
            };
            if record.tenant_id != tenant_id {
                continue;
            }
            let sealed = STANDARD
                .decode(&record.context_sealed)
                .map_err(|e| IdentityError::SessionStore(e.to_string()))?;
            live.push((id, record, sealed));
        }
        Ok(live)
    }
}

#[async_trait::async_trait]
impl hub_tenant::SealedStore for SessionContexts {
    fn name(&self) -> &'static str {
        "session contexts"
    }

    async fn reseal(&self, keys: &hub_kernel::crypto::TenantKeyRing) -> Result<u64, String> {
        let active = keys.active_version();
        let mut resealed = 0;
        for (id, mut record, sealed) in self.each(keys.tenant()).await.map_err(|e| e.to_string())? {
            if hub_kernel::crypto::sealed_key_version(&sealed).ok() == Some(active) {
                continue;
            }
            // A context under a version already destroyed cannot be read by anyone: it is
            // replaced by an empty one, so the scan ends.
            let context = keys
                .open_str(SEALED_AS, "context", id, &sealed)
                .unwrap_or_default();
            record.context_sealed =
                STANDARD.encode(keys.seal_str(SEALED_AS, "context", id, &context));
            let text = serde_json::to_string(&record).map_err(|e| e.to_string())?;
            // Only while the session lives: a revocation meanwhile stays a revocation.
            if self
                .store
                .replace(&record_key(id), &text)
                .await
                .map_err(|e| e.to_string())?
            {
                resealed += 1;
            }
        }
        Ok(resealed)
    }

    async fn count_stale(&self, tenant: Uuid, version: u32) -> Result<u64, String> {
        let live = self.each(tenant).await.map_err(|e| e.to_string())?;
        Ok(live
            .iter()
            .filter(|(_, _, sealed)| {
                hub_kernel::crypto::sealed_key_version(sealed).ok() != Some(version)
            })
            .count() as u64)
    }
}

/// The session store as a tenant footprint: offboarding ends every session of the
/// institution's people (their records name it, and its index keys do).
struct TenantSessions {
    store: std::sync::Arc<Ephemeral>,
}

impl hub_tenant::EphemeralFootprint for TenantSessions {
    fn name(&self) -> &'static str {
        "sessions"
    }

    fn erase_tenant(
        &self,
        tenant: Uuid,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<u64, String>> + Send + '_>> {
        Box::pin(async move {
            end_all_of_tenant(&self.store, tenant)
                .await
                .map_err(|e| e.to_string())
        })
    }
}

/// Deletes every session of the tenant's people, found through the per-person indexes (whose
/// keys name the tenant), and the indexes. Returns how many entries were deleted.
async fn end_all_of_tenant(store: &Ephemeral, tenant_id: Uuid) -> Result<u64, IdentityError> {
    let prefix = format!("hub:person-sessions:{}:", tenant_id.simple());
    let mut erased = 0;
    for index in store.keys_with_prefix(&prefix).await? {
        for member in store.members(&index).await? {
            if let Ok(id) = Uuid::try_parse(&member) {
                store.delete(&record_key(id)).await?;
                erased += 1;
            }
        }
        store.delete_set(&index).await?;
        erased += 1;
    }
    // The per-tenant index key rotation re-seals through names the tenant too.
    store.delete_set(&tenant_key(tenant_id)).await?;
    Ok(erased)
}

impl Sessions {
    /// This store as a footprint for offboarding to erase
    /// ([`hub_tenant::Tenancy::register_ephemeral_footprint`]).
    pub fn tenant_footprint(&self) -> std::sync::Arc<dyn hub_tenant::EphemeralFootprint> {
        std::sync::Arc::new(TenantSessions {
            store: self.store.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_parse_only_in_their_own_shape() {
        let id = Uuid::now_v7();
        assert_eq!(
            parse_token(&format!("dxs_{}_abc_def", id.simple())),
            Some((id, "abc_def"))
        );
        assert!(parse_token(&format!("dxh_{}_abc", id.simple())).is_none());
        assert!(parse_token(&format!("dxs_{}_", id.simple())).is_none());
        assert!(parse_token("dxs_x_y").is_none());
    }

    #[test]
    fn promise_c5_session_technical_data_is_classified_and_ephemeral() {
        assert!(
            SESSION_FIELDS
                .iter()
                .all(|f| f.category == DataCategory::Technical
                    && f.retention == RetentionClass::Ephemeral
                    && f.purpose == Purpose::Security)
        );
        let long = ClientContext {
            ip_address: "1".repeat(100),
            user_agent: Some("é".repeat(400)),
            device_id: None,
        }
        .bounded();
        assert_eq!(long.ip_address.len(), 64);
        assert!(long.user_agent.unwrap().len() <= 512);
    }
}
