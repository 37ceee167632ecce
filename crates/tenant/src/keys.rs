//! Per-tenant key store: versioned data keys and versioned blind-index keys, stored only
//! wrapped by the key-encryption key, unwrapped on first use and cached in memory. Both kinds
//! rotate the same way: a new active version, the previous ones retired (still opening, still
//! found by lookups) until a job has moved every stored value and they are destroyed.

use crate::entities::tenant_key;
use crate::error::TenantError;
use chrono::Utc;
use hub_kernel::crypto::{BlindIndexKey, DataKey, KeyEncryptionKey, KeyMaterial, TenantKeyRing};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, SqlErr,
};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// What a stored key is for: data keys seal, blind-index keys index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyPurpose {
    Data,
    BlindIndex,
}

impl KeyPurpose {
    fn as_str(self) -> &'static str {
        match self {
            KeyPurpose::Data => PURPOSE_DATA,
            KeyPurpose::BlindIndex => PURPOSE_BLIND_INDEX,
        }
    }
}

const PURPOSE_DATA: &str = "data";
const PURPOSE_BLIND_INDEX: &str = "blind_index";
const STATE_ACTIVE: &str = "active";
const STATE_RETIRED: &str = "retired";
/// Other gateway replicas learn of a rotation within this time; until then they keep sealing
/// under the previous version, which therefore is destroyed only after this time has passed.
const CACHE_TTL: Duration = Duration::from_secs(300);
const CACHE_CAPACITY: usize = 20_000;

/// One data-key version as an operator sees it (never the key itself).
#[derive(Debug, Clone)]
pub struct KeyVersionInfo {
    pub version: i32,
    pub state: String,
    pub created_at: chrono::DateTime<Utc>,
}

pub struct KeyStore {
    kek: Arc<dyn KeyEncryptionKey>,
    cache: RwLock<HashMap<Uuid, (Arc<TenantKeyRing>, Instant)>>,
    /// [`CACHE_TTL`] in milliseconds unless a test or drill shortens it.
    cache_ttl_ms: AtomicU64,
}

fn wrap_context(tenant: Uuid, purpose: &str, version: i32) -> Vec<u8> {
    format!("dxh-key|{tenant}|{purpose}|{version}").into_bytes()
}

impl KeyStore {
    pub fn new(kek: Arc<dyn KeyEncryptionKey>) -> Self {
        Self {
            kek,
            cache: RwLock::new(HashMap::new()),
            cache_ttl_ms: AtomicU64::new(CACHE_TTL.as_millis() as u64),
        }
    }

    /// How long an unwrapped key ring is used before it is read again.
    pub fn cache_ttl(&self) -> Duration {
        Duration::from_millis(self.cache_ttl_ms.load(Ordering::Relaxed))
    }

    /// Shortens (or restores) the cache lifetime: for a single-process deployment or a test,
    /// where no other replica can hold a stale ring.
    pub fn set_cache_ttl(&self, ttl: Duration) {
        self.cache_ttl_ms
            .store(ttl.as_millis() as u64, Ordering::Relaxed);
    }

    /// Fresh keys for a new tenant: the wrapped rows to store and the ready key ring.
    pub(crate) async fn generate(
        &self,
        tenant: Uuid,
    ) -> Result<(Vec<tenant_key::ActiveModel>, TenantKeyRing), TenantError> {
        let data = KeyMaterial::generate();
        let index = KeyMaterial::generate();
        let rows = vec![
            self.wrapped_row(tenant, PURPOSE_DATA, 1, &data).await?,
            self.wrapped_row(tenant, PURPOSE_BLIND_INDEX, 1, &index)
                .await?,
        ];
        let ring = TenantKeyRing::new(
            tenant,
            1,
            vec![DataKey::new(1, &data)?],
            BlindIndexKey::new(&index)?,
        )?;
        Ok((rows, ring))
    }

    async fn wrapped_row(
        &self,
        tenant: Uuid,
        purpose: &str,
        version: i32,
        material: &KeyMaterial,
    ) -> Result<tenant_key::ActiveModel, TenantError> {
        let wrapped = self
            .kek
            .wrap(material, &wrap_context(tenant, purpose, version))
            .await?;
        Ok(tenant_key::ActiveModel {
            tenant_id: Set(tenant),
            purpose: Set(purpose.to_string()),
            version: Set(version),
            wrapped_key: Set(wrapped),
            kek_id: Set(self.kek.id().to_string()),
            state: Set(STATE_ACTIVE.to_string()),
            created_at: Set(Utc::now()),
        })
    }

    pub(crate) fn remember(&self, ring: TenantKeyRing) -> Arc<TenantKeyRing> {
        let ring = Arc::new(ring);
        if let Ok(mut cache) = self.cache.write() {
            if cache.len() >= CACHE_CAPACITY {
                let oldest = cache
                    .iter()
                    .min_by_key(|(_, (_, at))| *at)
                    .map(|(id, _)| *id);
                if let Some(id) = oldest {
                    cache.remove(&id);
                }
            }
            cache.insert(ring.tenant(), (ring.clone(), Instant::now()));
        }
        ring
    }

    pub(crate) fn forget(&self, tenant: Uuid) {
        if let Ok(mut cache) = self.cache.write() {
            cache.remove(&tenant);
        }
    }

    /// The tenant's key ring, from memory or unwrapped from the control plane.
    pub async fn ring<C: ConnectionTrait>(
        &self,
        control: &C,
        tenant: Uuid,
    ) -> Result<Arc<TenantKeyRing>, TenantError> {
        if let Ok(cache) = self.cache.read()
            && let Some((ring, at)) = cache.get(&tenant)
            && at.elapsed() < self.cache_ttl()
        {
            return Ok(ring.clone());
        }
        let rows = tenant_key::Entity::find()
            .filter(tenant_key::Column::TenantId.eq(tenant))
            .order_by_asc(tenant_key::Column::Version)
            .all(control)
            .await?;
        let mut data_keys = Vec::new();
        let mut active = None;
        let mut index = None;
        let mut retired_indexes = Vec::new();
        for row in rows {
            let material = self
                .kek
                .unwrap(
                    &row.wrapped_key,
                    &wrap_context(tenant, &row.purpose, row.version),
                )
                .await?;
            match row.purpose.as_str() {
                PURPOSE_DATA => {
                    if row.state == STATE_ACTIVE {
                        active = Some(row.version as u32);
                    }
                    data_keys.push(DataKey::new(row.version as u32, &material)?);
                }
                PURPOSE_BLIND_INDEX => {
                    let key = BlindIndexKey::versioned(row.version as u32, &material)?;
                    if row.state == STATE_ACTIVE {
                        index = Some(key);
                    } else {
                        retired_indexes.push(key);
                    }
                }
                _ => {}
            }
        }
        // No keys means the tenant was offboarded (crypto-shredded) or never existed.
        let (Some(active), Some(index)) = (active, index) else {
            return Err(TenantError::NotFound("tenant"));
        };
        let ring = TenantKeyRing::new(tenant, active, data_keys, index)?
            .with_retired_index_keys(retired_indexes);
        Ok(self.remember(ring))
    }

    /// Adds a new data-key version and makes it the one that encrypts; older versions are
    /// retired but kept so existing ciphertexts still open. Run it in a transaction: the
    /// retirement and the new version must land together, or the tenant is left with no
    /// active data key. The caller commits, then [`Self::forget`]s the cached ring (forgetting
    /// earlier would let a concurrent request cache the pre-rotation ring again).
    pub(crate) async fn rotate<C: ConnectionTrait>(
        &self,
        control: &C,
        tenant: Uuid,
        purpose: KeyPurpose,
    ) -> Result<i32, TenantError> {
        let current = self.versions(control, tenant, purpose).await?;
        let next = current.iter().map(|k| k.version).max().unwrap_or(0) + 1;
        tenant_key::Entity::update_many()
            .col_expr(
                tenant_key::Column::State,
                sea_orm::sea_query::Expr::value(STATE_RETIRED),
            )
            .filter(tenant_key::Column::TenantId.eq(tenant))
            .filter(tenant_key::Column::Purpose.eq(purpose.as_str()))
            .exec(control)
            .await?;
        let row = self
            .wrapped_row(tenant, purpose.as_str(), next, &KeyMaterial::generate())
            .await?;
        tenant_key::Entity::insert(row)
            .exec_without_returning(control)
            .await
            .map_err(|e| match e.sql_err() {
                // A concurrent rotation took this version number first.
                Some(SqlErr::UniqueConstraintViolation(_)) => TenantError::RotationRunning,
                _ => TenantError::Database(e),
            })?;
        Ok(next)
    }

    pub(crate) async fn versions<C: ConnectionTrait>(
        &self,
        control: &C,
        tenant: Uuid,
        purpose: KeyPurpose,
    ) -> Result<Vec<KeyVersionInfo>, TenantError> {
        Ok(tenant_key::Entity::find()
            .filter(tenant_key::Column::TenantId.eq(tenant))
            .filter(tenant_key::Column::Purpose.eq(purpose.as_str()))
            .order_by_asc(tenant_key::Column::Version)
            .all(control)
            .await?
            .into_iter()
            .map(|k| KeyVersionInfo {
                version: k.version,
                state: k.state,
                created_at: k.created_at,
            })
            .collect())
    }

    /// When the active version of `purpose` was made (its last rotation).
    pub(crate) async fn rotated_at<C: ConnectionTrait>(
        &self,
        control: &C,
        tenant: Uuid,
        purpose: KeyPurpose,
    ) -> Result<chrono::DateTime<Utc>, TenantError> {
        tenant_key::Entity::find()
            .filter(tenant_key::Column::TenantId.eq(tenant))
            .filter(tenant_key::Column::Purpose.eq(purpose.as_str()))
            .filter(tenant_key::Column::State.eq(STATE_ACTIVE))
            .one(control)
            .await?
            .map(|k| k.created_at)
            .ok_or(TenantError::NotFound("tenant"))
    }

    /// Deletes the tenant's retired versions of `purpose`. The caller has established that
    /// no stored value references them. Returns how many were destroyed.
    pub(crate) async fn destroy_retired<C: ConnectionTrait>(
        &self,
        control: &C,
        tenant: Uuid,
        purpose: KeyPurpose,
    ) -> Result<u64, TenantError> {
        let result = tenant_key::Entity::delete_many()
            .filter(tenant_key::Column::TenantId.eq(tenant))
            .filter(tenant_key::Column::Purpose.eq(purpose.as_str()))
            .filter(tenant_key::Column::State.eq(STATE_RETIRED))
            .exec(control)
            .await?;
        self.forget(tenant);
        Ok(result.rows_affected)
    }

    /// Crypto-shredding: deletes every wrapped key of the tenant. Returns how many.
    pub(crate) async fn destroy<C: ConnectionTrait>(
        &self,
        control: &C,
        tenant: Uuid,
    ) -> Result<u64, TenantError> {
        let result = tenant_key::Entity::delete_many()
            .filter(tenant_key::Column::TenantId.eq(tenant))
            .exec(control)
            .await?;
        self.forget(tenant);
        Ok(result.rows_affected)
    }
}
