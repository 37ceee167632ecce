//! Idempotency keys for creates: a client that retries a create with the same
//! `Idempotency-Key` gets the resource the first attempt made, not a duplicate. Records live
//! in the tenant's own schema and are written in the same transaction as the resource, so a
//! rolled-back create leaves no record behind.
//!
//! The request is remembered only as a keyed fingerprint (the tenant's blind-index key over
//! the SHA-256 of the body): a body can hold personal data (a new person's email), and a
//! plain hash would let a database dump confirm a guessed body.

use crate::entities::idempotency_key;
use crate::error::TenantError;
use crate::scope::TenantScope;
use chrono::Utc;
use hub_kernel::crypto::blind_index_version;
use hub_kernel::problem::Violations;
use sea_orm::{ActiveValue::Set, EntityTrait, SqlErr};
use sha2::{Digest, Sha256};
use uuid::Uuid;

pub const MAX_KEY_LEN: usize = 200;
/// Visible ASCII only, as a regex (the OpenAPI document declares it; `new` enforces it).
pub const KEY_PATTERN: &str = "^[!-~]+$";

/// A validated key plus the digest of the request it came with (held in memory only; what
/// is stored is [`IdempotencyKey::stored_fingerprint`]).
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    key: String,
    operation: &'static str,
    request_digest: String,
}

/// The column the fingerprint is keyed for (blind indexes are bound to table and column).
const FINGERPRINT: (&str, &str) = ("idempotency_keys", "request_hash");

impl IdempotencyKey {
    /// The fingerprint stored with the key: under the tenant's active blind-index key.
    fn stored_fingerprint(&self, scope: &TenantScope) -> String {
        let (table, column) = FINGERPRINT;
        hex::encode(
            scope
                .keys()
                .blind_index(table, column, &self.request_digest),
        )
    }

    /// Whether a stored fingerprint is this request's, under any index-key version held
    /// (a key remembered before an index-key rotation still replays). A fingerprint made
    /// under a version since destroyed cannot be checked: the key alone decides (a retry
    /// replays, as it would for a client that reuses keys only for retries); a record from
    /// before fingerprints were keyed holds the plain digest.
    fn fingerprint_matches(&self, scope: &TenantScope, stored: &str) -> bool {
        let (table, column) = FINGERPRINT;
        let candidates = scope
            .keys()
            .blind_index_candidates(table, column, &self.request_digest);
        if candidates.iter().any(|c| hex::encode(c) == stored) || stored == self.request_digest {
            return true;
        }
        let Some(version) = hex::decode(stored)
            .ok()
            .and_then(|bytes| blind_index_version(&bytes).ok())
        else {
            return false;
        };
        !candidates
            .iter()
            .filter_map(|c| blind_index_version(c).ok())
            .any(|held| held == version)
    }
}

impl IdempotencyKey {
    pub fn new(
        key: &str,
        operation: &'static str,
        request: &impl serde::Serialize,
    ) -> Result<Self, TenantError> {
        let mut v = Violations::new();
        v.check(
            !key.is_empty()
                && key.len() <= MAX_KEY_LEN
                && key.bytes().all(|b| b.is_ascii_graphic()),
            "Idempotency-Key",
            "1 to 200 visible ASCII characters",
        );
        v.finish().map_err(TenantError::Invalid)?;
        let body = serde_json::to_vec(request).unwrap_or_default();
        Ok(Self {
            key: key.to_string(),
            operation,
            request_digest: hex::encode(Sha256::digest(&body)),
        })
    }
}

/// The resource an earlier attempt with this key created, if any. A key reused with a
/// different request or for another operation is refused.
pub async fn replayed(
    scope: &TenantScope,
    key: &IdempotencyKey,
) -> Result<Option<Uuid>, TenantError> {
    match idempotency_key::Entity::find_by_id(key.key.clone())
        .one(scope.db())
        .await?
    {
        None => Ok(None),
        Some(row)
            if row.operation == key.operation
                && key.fingerprint_matches(scope, &row.request_hash) =>
        {
            Ok(Some(row.resource_id))
        }
        Some(_) => Err(TenantError::IdempotencyKeyReused),
    }
}

pub async fn remember(
    scope: &TenantScope,
    key: &IdempotencyKey,
    resource_id: Uuid,
) -> Result<(), TenantError> {
    let result = idempotency_key::Entity::insert(idempotency_key::ActiveModel {
        key: Set(key.key.clone()),
        operation: Set(key.operation.to_string()),
        request_hash: Set(key.stored_fingerprint(scope)),
        resource_id: Set(resource_id),
        created_at: Set(Utc::now()),
    })
    .exec_without_returning(scope.db())
    .await;
    match result {
        Ok(_) => Ok(()),
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            Err(TenantError::Conflict(
                "another request with this Idempotency-Key is in progress; retry it".into(),
            ))
        }
        Err(e) => Err(e.into()),
    }
}
