//! Per-tenant key store: versioned data keys and versioned blind-index keys, stored only
//! wrapped by the key-encryption key, unwrapped on first use and cached in memory. Both kinds
//! rotate the same way: a new active version, the previous ones retired (still opening, still
//! found by lookups) until a job has moved every stored value and they are destroyed.
//!
//! The wrapped keys live in a database of their own, never in the data database: a backup of
//! the data (a `pg_dump` of the data database, a copy of `control.db` and `tenants/`) holds no
//! key, so once offboarding destroys a tenant's keys here, every copy of its data anywhere is
//! unreadable (crypto-shredding that reaches backups). On PostgreSQL that is a separate
//! database (`key_database_url`; by default `<data database>_keys` on the same server, created
//! on first start), on the embedded default the file `keys.db` beside `control.db`. Back it up
//! apart from the data, on its own schedule: a restore of an old key-store backup would bring
//! offboarded tenants' keys back. The keys stay wrapped by the platform KEK here too, so a copy
//! of the key store alone opens nothing either. A KMS behind [`KeyEncryptionKey`] was the other
//! choice; a database of our own needs no outside service and keeps `make run` zero-setup.
//!
//! Before this store existed the wrapped keys were rows of the control plane's `tenant_keys`;
//! [`KeyStore::move_from_control_plane`] (run by `hub migrate`) moves them here.

use crate::entities::tenant_key;
use crate::error::TenantError;
use chrono::Utc;
use hub_kernel::crypto::{BlindIndexKey, DataKey, KeyEncryptionKey, KeyMaterial, TenantKeyRing};
use hub_migrations::{KeyStoreMigrator, MigratorTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectOptions, ConnectionTrait, Database, DatabaseConnection,
    DbBackend, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, SqlErr,
    Statement, TransactionTrait,
};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// What a stored key is for: data keys seal, blind-index keys index, the signing key signs
/// the institution's statements (erasure receipts; an Ed25519 seed, made at first use). The
/// signing key rotates like the others, but its retired versions are never destroyed before
/// offboarding: they keep verifying what they signed ([`crate::signing`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyPurpose {
    Data,
    BlindIndex,
    Signing,
}

impl KeyPurpose {
    fn as_str(self) -> &'static str {
        match self {
            KeyPurpose::Data => PURPOSE_DATA,
            KeyPurpose::BlindIndex => PURPOSE_BLIND_INDEX,
            KeyPurpose::Signing => PURPOSE_SIGNING,
        }
    }
}

const PURPOSE_DATA: &str = "data";
const PURPOSE_BLIND_INDEX: &str = "blind_index";
const PURPOSE_SIGNING: &str = "signing";
const STATE_ACTIVE: &str = "active";
const STATE_RETIRED: &str = "retired";
/// Other gateway replicas learn of a rotation within this time; until then they keep sealing
/// under the previous version, which therefore is destroyed only after this time has passed.
const CACHE_TTL: Duration = Duration::from_secs(300);
const CACHE_CAPACITY: usize = 20_000;
/// Rows moved from the control plane per statement by [`KeyStore::move_from_control_plane`].
const MOVE_BATCH: u64 = 500;

/// One data-key version as an operator sees it (never the key itself).
#[derive(Debug, Clone)]
pub struct KeyVersionInfo {
    pub version: i32,
    pub state: String,
    pub created_at: chrono::DateTime<Utc>,
}

/// Where the wrapped keys are kept: a database apart from the data.
#[derive(Debug, Clone)]
pub enum KeyStoreLocation {
    /// A PostgreSQL database of its own. With `create_from` (a URL on the same server that
    /// may create databases) it is created when missing.
    Postgres {
        url: String,
        create_from: Option<String>,
    },
    /// A SQLite file.
    Sqlite { path: PathBuf },
}

impl KeyStoreLocation {
    /// A `postgres://` or `sqlite://` URL as configured (`key_database_url`).
    pub fn from_url(url: &str) -> Result<Self, String> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres {
                url: url.to_string(),
                create_from: None,
            })
        } else if let Some(path) = url.strip_prefix("sqlite://") {
            let path = path.split('?').next().unwrap_or(path);
            if path.is_empty() {
                return Err("a sqlite:// URL needs a file path".into());
            }
            Ok(Self::Sqlite {
                path: PathBuf::from(path),
            })
        } else {
            Err("must be a postgres:// or sqlite:// URL".into())
        }
    }

    /// The default beside a PostgreSQL data database: database `<name>_keys` on the same
    /// server, created on first start.
    pub fn beside_postgres(data_url: &str) -> Result<Self, String> {
        let name = database_name(data_url).ok_or("database_url names no database")?;
        Ok(Self::Postgres {
            url: with_database(data_url, &format!("{name}_keys")),
            create_from: Some(data_url.to_string()),
        })
    }

    /// The default of the embedded data plane: `keys.db` beside `control.db`.
    pub fn beside_sqlite(data_dir: &std::path::Path) -> Self {
        Self::Sqlite {
            path: data_dir.join("keys.db"),
        }
    }
}

/// The database name of a PostgreSQL URL.
fn database_name(url: &str) -> Option<String> {
    let (_, tail) = url.split_once("://")?;
    let (_, rest) = tail.split_once('/')?;
    let name = rest.split('?').next().unwrap_or(rest);
    (!name.is_empty()).then(|| name.to_string())
}

/// The same PostgreSQL URL naming another database.
fn with_database(url: &str, name: &str) -> String {
    let Some((head, tail)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, rest) = tail.split_once('/').unwrap_or((tail, ""));
    let query = rest
        .split_once('?')
        .map(|(_, q)| format!("?{q}"))
        .unwrap_or_default();
    format!("{head}://{authority}/{name}{query}")
}

async fn connect(location: &KeyStoreLocation) -> Result<DatabaseConnection, TenantError> {
    let db = match location {
        KeyStoreLocation::Postgres { url, create_from } => {
            if let Some(admin_url) = create_from {
                create_postgres_database(admin_url, url).await?;
            }
            let mut options = ConnectOptions::new(url.clone());
            options
                .max_connections(4)
                .min_connections(0)
                .sqlx_logging(false);
            let db = Database::connect(options).await?;
            // The point of the key store is to be elsewhere than the data: refuse to start
            // on the data database itself.
            let shared = db
                .query_one_raw(Statement::from_string(
                    DbBackend::Postgres,
                    "SELECT (to_regnamespace('hub_control') IS NOT NULL) AS shared",
                ))
                .await?
                .map(|row| row.try_get::<bool>("", "shared"))
                .transpose()?
                .unwrap_or(false);
            if shared {
                return Err(TenantError::Conflict(
                    "key_database_url points at the data database; the key store needs a database of its own".into(),
                ));
            }
            db
        }
        KeyStoreLocation::Sqlite { path } => {
            if let Some(dir) = path.parent()
                && !dir.as_os_str().is_empty()
            {
                std::fs::create_dir_all(dir).map_err(|e| {
                    TenantError::Conflict(format!("cannot create {}: {e}", dir.display()))
                })?;
            }
            let mut options = ConnectOptions::new(format!("sqlite://{}?mode=rwc", path.display()));
            options
                .max_connections(2)
                .min_connections(0)
                .sqlx_logging(false);
            let db = Database::connect(options).await?;
            db.execute_unprepared("PRAGMA journal_mode=WAL").await?;
            db.execute_unprepared("PRAGMA busy_timeout=5000").await?;
            // Nor on the control plane's file.
            let shared = db
                .query_one_raw(Statement::from_string(
                    DbBackend::Sqlite,
                    "SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'tenants'",
                ))
                .await?
                .map(|row| row.try_get::<i64>("", "n"))
                .transpose()?
                .unwrap_or(0);
            if shared > 0 {
                return Err(TenantError::Conflict(
                    "key_database_url points at the control plane's file; the key store needs a file of its own".into(),
                ));
            }
            db
        }
    };
    KeyStoreMigrator::up(&db, None).await?;
    Ok(db)
}

/// Creates the key database beside the data database unless it exists.
async fn create_postgres_database(admin_url: &str, url: &str) -> Result<(), TenantError> {
    let name = database_name(url).unwrap_or_default();
    if name.contains('"') {
        return Err(TenantError::Conflict(format!(
            "database name {name} is not usable"
        )));
    }
    let mut options = ConnectOptions::new(admin_url.to_string());
    options
        .max_connections(1)
        .min_connections(0)
        .sqlx_logging(false);
    let admin = Database::connect(options).await?;
    let exists = admin
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT 1 AS one FROM pg_database WHERE datname = $1",
            [name.clone().into()],
        ))
        .await?
        .is_some();
    if !exists
        && let Err(error) = admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
    {
        // Another process starting at the same time may have created it first.
        let raced = admin
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT 1 AS one FROM pg_database WHERE datname = $1",
                [name.clone().into()],
            ))
            .await?
            .is_some();
        if !raced {
            return Err(TenantError::Conflict(format!(
                "cannot create the key database {name} ({error}); create it, or set key_database_url"
            )));
        }
    }
    let _ = admin.close().await;
    Ok(())
}

pub struct KeyStore {
    kek: Arc<dyn KeyEncryptionKey>,
    /// The key store's own database.
    db: DatabaseConnection,
    cache: RwLock<HashMap<Uuid, (Arc<TenantKeyRing>, Instant)>>,
    /// [`CACHE_TTL`] in milliseconds unless a test or drill shortens it.
    cache_ttl_ms: AtomicU64,
    /// The public halves of each tenant's signing-key versions ([`Self::signing_public_keys`]).
    signing_public: RwLock<HashMap<Uuid, SigningPublicKeys>>,
}

/// A tenant's signing-key versions (oldest first) with each one's public key.
pub(crate) type SigningPublicKeys = Arc<Vec<(KeyVersionInfo, Vec<u8>)>>;

fn wrap_context(tenant: Uuid, purpose: &str, version: i32) -> Vec<u8> {
    format!("dxh-key|{tenant}|{purpose}|{version}").into_bytes()
}

impl KeyStore {
    /// Opens the key store and brings its database to the latest migration.
    pub async fn open(
        location: &KeyStoreLocation,
        kek: Arc<dyn KeyEncryptionKey>,
    ) -> Result<Self, TenantError> {
        Ok(Self {
            kek,
            db: connect(location).await?,
            cache: RwLock::new(HashMap::new()),
            cache_ttl_ms: AtomicU64::new(CACHE_TTL.as_millis() as u64),
            signing_public: RwLock::new(HashMap::new()),
        })
    }

    /// The key store's own database, for the tombstone journal kept beside the keys (kept
    /// and backed up apart from the data, like them: [`crate::tombstones`]).
    pub(crate) fn database(&self) -> &DatabaseConnection {
        &self.db
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

    /// Fresh keys for a new tenant, stored wrapped; returns the ready key ring. Stored before
    /// the tenant is registered, so a registered tenant always has keys; a provisioning that
    /// fails afterwards [`Self::destroy`]s them.
    pub(crate) async fn generate(&self, tenant: Uuid) -> Result<TenantKeyRing, TenantError> {
        let data = KeyMaterial::generate();
        let index = KeyMaterial::generate();
        let rows = vec![
            self.wrapped_row(tenant, PURPOSE_DATA, 1, &data).await?,
            self.wrapped_row(tenant, PURPOSE_BLIND_INDEX, 1, &index)
                .await?,
        ];
        tenant_key::Entity::insert_many(rows)
            .exec_without_returning(&self.db)
            .await?;
        let ring = TenantKeyRing::new(
            tenant,
            1,
            vec![DataKey::new(1, &data)?],
            BlindIndexKey::new(&index)?,
        )?;
        Ok(ring)
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
        if let Ok(mut cache) = self.signing_public.write() {
            cache.remove(&tenant);
        }
    }

    /// The tenant's key ring, from memory or unwrapped from the key store.
    pub async fn ring(&self, tenant: Uuid) -> Result<Arc<TenantKeyRing>, TenantError> {
        if let Ok(cache) = self.cache.read()
            && let Some((ring, at)) = cache.get(&tenant)
            && at.elapsed() < self.cache_ttl()
        {
            return Ok(ring.clone());
        }
        let rows = tenant_key::Entity::find()
            .filter(tenant_key::Column::TenantId.eq(tenant))
            .order_by_asc(tenant_key::Column::Version)
            .all(&self.db)
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
    /// retired but kept so existing ciphertexts still open. One transaction: the retirement
    /// and the new version land together, or the tenant would be left with no active key of
    /// that purpose. The caller then [`Self::forget`]s the cached ring (forgetting earlier
    /// would let a concurrent request cache the pre-rotation ring again).
    pub(crate) async fn rotate(
        &self,
        tenant: Uuid,
        purpose: KeyPurpose,
    ) -> Result<i32, TenantError> {
        let txn = self.db.begin().await?;
        let current = self.versions_on(&txn, tenant, purpose).await?;
        let next = current.iter().map(|k| k.version).max().unwrap_or(0) + 1;
        tenant_key::Entity::update_many()
            .col_expr(
                tenant_key::Column::State,
                sea_orm::sea_query::Expr::value(STATE_RETIRED),
            )
            .filter(tenant_key::Column::TenantId.eq(tenant))
            .filter(tenant_key::Column::Purpose.eq(purpose.as_str()))
            .exec(&txn)
            .await?;
        let row = self
            .wrapped_row(tenant, purpose.as_str(), next, &KeyMaterial::generate())
            .await?;
        tenant_key::Entity::insert(row)
            .exec_without_returning(&txn)
            .await
            .map_err(|e| match e.sql_err() {
                // A concurrent rotation took this version number first.
                Some(SqlErr::UniqueConstraintViolation(_)) => TenantError::RotationRunning,
                _ => TenantError::Database(e),
            })?;
        txn.commit().await?;
        Ok(next)
    }

    pub(crate) async fn versions(
        &self,
        tenant: Uuid,
        purpose: KeyPurpose,
    ) -> Result<Vec<KeyVersionInfo>, TenantError> {
        self.versions_on(&self.db, tenant, purpose).await
    }

    async fn versions_on<C: ConnectionTrait>(
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
    pub(crate) async fn rotated_at(
        &self,
        tenant: Uuid,
        purpose: KeyPurpose,
    ) -> Result<chrono::DateTime<Utc>, TenantError> {
        tenant_key::Entity::find()
            .filter(tenant_key::Column::TenantId.eq(tenant))
            .filter(tenant_key::Column::Purpose.eq(purpose.as_str()))
            .filter(tenant_key::Column::State.eq(STATE_ACTIVE))
            .one(&self.db)
            .await?
            .map(|k| k.created_at)
            .ok_or(TenantError::NotFound("tenant"))
    }

    /// Deletes the tenant's retired versions of `purpose`. The caller has established that
    /// no stored value references them. Returns how many were destroyed.
    pub(crate) async fn destroy_retired(
        &self,
        tenant: Uuid,
        purpose: KeyPurpose,
    ) -> Result<u64, TenantError> {
        let result = tenant_key::Entity::delete_many()
            .filter(tenant_key::Column::TenantId.eq(tenant))
            .filter(tenant_key::Column::Purpose.eq(purpose.as_str()))
            .filter(tenant_key::Column::State.eq(STATE_RETIRED))
            .exec(&self.db)
            .await?;
        self.forget(tenant);
        Ok(result.rows_affected)
    }

    /// The tenant's active signing key (its version and seed), made and stored wrapped at
    /// first use. Two processes making it at once: the second's insert conflicts on the
    /// version and it reads the first's.
    pub(crate) async fn signing_key(
        &self,
        tenant: Uuid,
    ) -> Result<(i32, KeyMaterial), TenantError> {
        for _ in 0..2 {
            let row = tenant_key::Entity::find()
                .filter(tenant_key::Column::TenantId.eq(tenant))
                .filter(tenant_key::Column::Purpose.eq(KeyPurpose::Signing.as_str()))
                .filter(tenant_key::Column::State.eq(STATE_ACTIVE))
                .one(&self.db)
                .await?;
            if let Some(row) = row {
                let material = self
                    .kek
                    .unwrap(
                        &row.wrapped_key,
                        &wrap_context(tenant, PURPOSE_SIGNING, row.version),
                    )
                    .await?;
                return Ok((row.version, material));
            }
            // A tenant without its other keys was crypto-shredded: no new key for it.
            if self.versions(tenant, KeyPurpose::Data).await?.is_empty() {
                return Err(TenantError::NotFound("tenant"));
            }
            let row = self
                .wrapped_row(tenant, PURPOSE_SIGNING, 1, &KeyMaterial::generate())
                .await?;
            tenant_key::Entity::insert(row)
                .on_conflict_do_nothing()
                .exec_without_returning(&self.db)
                .await?;
        }
        Err(TenantError::Conflict(
            "the signing key could not be stored".into(),
        ))
    }

    /// Every stored version of the tenant's signing key (the active one that signs and the
    /// retired ones kept so that what they signed still verifies), oldest first, with its
    /// seed. Makes none: a tenant that never signed has none.
    pub(crate) async fn signing_versions(
        &self,
        tenant: Uuid,
    ) -> Result<Vec<(KeyVersionInfo, KeyMaterial)>, TenantError> {
        let rows = tenant_key::Entity::find()
            .filter(tenant_key::Column::TenantId.eq(tenant))
            .filter(tenant_key::Column::Purpose.eq(PURPOSE_SIGNING))
            .order_by_asc(tenant_key::Column::Version)
            .all(&self.db)
            .await?;
        let mut versions = Vec::with_capacity(rows.len());
        for row in rows {
            let material = self
                .kek
                .unwrap(
                    &row.wrapped_key,
                    &wrap_context(tenant, PURPOSE_SIGNING, row.version),
                )
                .await?;
            versions.push((
                KeyVersionInfo {
                    version: row.version,
                    state: row.state,
                    created_at: row.created_at,
                },
                material,
            ));
        }
        Ok(versions)
    }

    /// The public halves of the tenant's signing-key versions (`public_of` derives one from a
    /// seed), oldest first; none for a tenant that never signed. Kept in memory while the
    /// versions stored are the same: each call reads the version list (numbers and states,
    /// nothing to unwrap), so a rotation made by any replica is seen at once, and only a
    /// changed list unwraps the seeds again.
    pub(crate) async fn signing_public_keys(
        &self,
        tenant: Uuid,
        public_of: impl Fn(&KeyMaterial) -> Result<Vec<u8>, TenantError>,
    ) -> Result<SigningPublicKeys, TenantError> {
        let listed = self.versions(tenant, KeyPurpose::Signing).await?;
        let same = |cached: &SigningPublicKeys| {
            cached.len() == listed.len()
                && cached
                    .iter()
                    .zip(&listed)
                    .all(|((c, _), l)| c.version == l.version && c.state == l.state)
        };
        if let Ok(cache) = self.signing_public.read()
            && let Some(cached) = cache.get(&tenant)
            && same(cached)
        {
            return Ok(cached.clone());
        }
        let mut keys = Vec::with_capacity(listed.len());
        for (info, seed) in self.signing_versions(tenant).await? {
            keys.push((info, public_of(&seed)?));
        }
        let keys: SigningPublicKeys = Arc::new(keys);
        if let Ok(mut cache) = self.signing_public.write() {
            if cache.len() >= CACHE_CAPACITY {
                cache.clear();
            }
            cache.insert(tenant, keys.clone());
        }
        Ok(keys)
    }

    /// Crypto-shredding: deletes every wrapped key of the tenant from the key store, the one
    /// place any exists. Returns how many.
    pub(crate) async fn destroy(&self, tenant: Uuid) -> Result<u64, TenantError> {
        let result = tenant_key::Entity::delete_many()
            .filter(tenant_key::Column::TenantId.eq(tenant))
            .exec(&self.db)
            .await?;
        self.forget(tenant);
        Ok(result.rows_affected)
    }

    /// Wrapped keys stored for one tenant, or for every tenant with `None`.
    pub async fn stored_count(&self, tenant: Option<Uuid>) -> Result<u64, TenantError> {
        let mut query = tenant_key::Entity::find();
        if let Some(tenant) = tenant {
            query = query.filter(tenant_key::Column::TenantId.eq(tenant));
        }
        Ok(query.count(&self.db).await?)
    }

    /// Wrapped keys still in the control plane's `tenant_keys`, where they were kept before
    /// the key store existed. Serving refuses to start while any are left.
    pub async fn left_in_control_plane<C: ConnectionTrait>(
        &self,
        control: &C,
    ) -> Result<u64, TenantError> {
        Ok(tenant_key::Entity::find().count(control).await?)
    }

    /// Moves every wrapped key from the control plane into the key store, batch by batch:
    /// copied (a row already here is kept as is), then deleted from the control plane.
    /// Idempotent: a run that stopped midway is finished by the next. Returns how many rows
    /// left the control plane.
    pub async fn move_from_control_plane<C: ConnectionTrait>(
        &self,
        control: &C,
    ) -> Result<u64, TenantError> {
        let mut moved = 0;
        loop {
            let rows = tenant_key::Entity::find()
                .order_by_asc(tenant_key::Column::TenantId)
                .order_by_asc(tenant_key::Column::Purpose)
                .order_by_asc(tenant_key::Column::Version)
                .limit(MOVE_BATCH)
                .all(control)
                .await?;
            if rows.is_empty() {
                return Ok(moved);
            }
            let txn = self.db.begin().await?;
            for row in &rows {
                let copy: tenant_key::ActiveModel = row.clone().into();
                tenant_key::Entity::insert(copy)
                    .on_conflict_do_nothing()
                    .exec_without_returning(&txn)
                    .await?;
            }
            txn.commit().await?;
            for row in &rows {
                tenant_key::Entity::delete_many()
                    .filter(tenant_key::Column::TenantId.eq(row.tenant_id))
                    .filter(tenant_key::Column::Purpose.eq(row.purpose.clone()))
                    .filter(tenant_key::Column::Version.eq(row.version))
                    .exec(control)
                    .await?;
            }
            moved += rows.len() as u64;
        }
    }
}
