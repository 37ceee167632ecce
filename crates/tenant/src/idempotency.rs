//! Idempotency keys for creates: a client that retries a create with the same
//! `Idempotency-Key` gets the resource the first attempt made, not a duplicate. Records live
//! in the tenant's own schema and are written in the same transaction as the resource, so a
//! rolled-back create leaves no record behind.

use crate::entities::idempotency_key;
use crate::error::TenantError;
use crate::scope::TenantScope;
use chrono::Utc;
use hub_kernel::problem::Violations;
use sea_orm::{ActiveValue::Set, EntityTrait, SqlErr};
use sha2::{Digest, Sha256};
use uuid::Uuid;

pub const MAX_KEY_LEN: usize = 200;
/// Visible ASCII only, as a regex (the OpenAPI document declares it; `new` enforces it).
pub const KEY_PATTERN: &str = "^[!-~]+$";

/// A validated key plus the fingerprint of the request it came with.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    key: String,
    operation: &'static str,
    request_hash: String,
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
            request_hash: hex::encode(Sha256::digest(&body)),
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
        Some(row) if row.operation == key.operation && row.request_hash == key.request_hash => {
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
        request_hash: Set(key.request_hash.clone()),
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
