//! `/v1/encryption-keys`, `/v1/blind-index-keys`, `/v1/signing-keys` and `/v1/jobs`: the
//! institution's data keys, blind-index keys and signing key, their rotation, and the
//! progress of the re-encryption or re-indexing job a rotation starts. Key material never
//! leaves the server; the signing key's public halves are published to anyone at
//! `/v1/institutions/{tenant_slug}/jwks.json`.

use crate::api::ApiTags;
use crate::api::described::Described;
use crate::auth::TenantCredential;
use crate::problem::ApiError;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use hub_tenant::jobs::{JobInfo, Rotation};
use hub_tenant::keys::KeyVersionInfo;
use hub_tenant::signing::{Jwk, SigningKeyVersion};
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use std::sync::Arc;
use uuid::Uuid;

/// One version of one of the institution's keys (data encryption or blind index).
#[derive(Debug, Clone, Object)]
pub struct KeyVersionView {
    pub version: i32,
    /// `active` encrypts (or indexes) new data; `retired` versions still decrypt older data
    /// (or still find rows not yet re-indexed) until the rotation's job has finished.
    pub state: String,
    pub created_at: DateTime<Utc>,
}

impl From<KeyVersionInfo> for KeyVersionView {
    fn from(k: KeyVersionInfo) -> Self {
        Self {
            version: k.version,
            state: k.state,
            created_at: k.created_at,
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct KeyVersionList {
    pub items: Vec<KeyVersionView>,
}

/// A background job and how far it got.
#[derive(Debug, Clone, Object)]
pub struct JobView {
    pub id: Uuid,
    /// `key_rotation_reencrypt` (after a data-key rotation) or `index_key_rotation_reindex`
    /// (after a blind-index key rotation).
    pub kind: String,
    /// `running`, `succeeded` or `failed`.
    pub state: String,
    /// Rows to process, counted when the job started.
    pub total: i64,
    pub done: i64,
    #[oai(nullable)]
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<JobInfo> for JobView {
    fn from(j: JobInfo) -> Self {
        Self {
            id: j.id,
            kind: j.kind,
            state: j.state,
            total: j.total,
            done: j.done,
            error: j.error,
            created_at: j.created_at,
            updated_at: j.updated_at,
        }
    }
}

/// The outcome of a rotation.
#[derive(Debug, Clone, Object)]
pub struct RotationView {
    /// The version that now encrypts (or indexes).
    pub active_version: i32,
    /// Re-encrypts (or re-indexes) existing personal data under the new version; poll
    /// `/v1/jobs/{job_id}`.
    pub job: Described<JobView>,
}

#[derive(ApiResponse)]
pub enum KeysListed {
    #[oai(status = 200)]
    Ok(Json<KeyVersionList>),
}

#[derive(ApiResponse)]
pub enum KeysRotated {
    /// Rotated; re-encryption runs in the background.
    #[oai(status = 202)]
    Accepted(Json<RotationView>, #[oai(header = "Location")] String),
}

impl KeysListed {
    fn of(versions: Vec<KeyVersionInfo>) -> Self {
        Self::Ok(Json(KeyVersionList {
            items: versions.into_iter().map(Into::into).collect(),
        }))
    }
}

impl KeysRotated {
    /// The new version and the job moving existing values to it, which `Location` names.
    fn of(rotation: Rotation) -> Self {
        let location = format!("/v1/jobs/{}", rotation.job.id);
        Self::Accepted(
            Json(RotationView {
                active_version: rotation.new_version,
                job: Described(rotation.job.into()),
            }),
            location,
        )
    }
}

/// One version of the institution's signing key.
#[derive(Debug, Clone, Object)]
pub struct SigningKeyVersionView {
    pub version: i32,
    /// Names this version in signatures (a JWS header's `kid`) and in the JWKS.
    pub kid: String,
    /// `active` signs new statements; `retired` versions never sign again but stay, so that
    /// what they signed still verifies, until the institution is offboarded.
    pub state: String,
    pub created_at: DateTime<Utc>,
}

impl From<SigningKeyVersion> for SigningKeyVersionView {
    fn from(k: SigningKeyVersion) -> Self {
        Self {
            version: k.version,
            kid: k.kid,
            state: k.state,
            created_at: k.created_at,
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct SigningKeyVersionList {
    pub items: Vec<SigningKeyVersionView>,
}

#[derive(ApiResponse)]
pub enum SigningKeysListed {
    #[oai(status = 200)]
    Ok(Json<SigningKeyVersionList>),
}

#[derive(ApiResponse)]
pub enum SigningKeyRotated {
    /// Rotated: the returned version signs from now on.
    #[oai(status = 200)]
    Ok(Json<SigningKeyVersionView>),
}

/// A public key as a JWK (RFC 8037).
#[derive(Debug, Clone, Object)]
pub struct JwkView {
    pub kid: String,
    /// `OKP`.
    pub kty: String,
    /// `Ed25519`.
    pub crv: String,
    /// `EdDSA`.
    pub alg: String,
    /// `sig`.
    #[oai(rename = "use")]
    pub usage: String,
    /// The public key, base64url.
    pub x: String,
}

impl From<Jwk> for JwkView {
    fn from(k: Jwk) -> Self {
        Self {
            kid: k.kid,
            kty: k.kty.into(),
            crv: k.crv.into(),
            alg: k.alg.into(),
            usage: k.usage.into(),
            x: k.x,
        }
    }
}

/// A JWKS (RFC 7517): the institution's signing keys, every version not destroyed.
#[derive(Debug, Clone, Object)]
pub struct JwkSet {
    pub keys: Vec<JwkView>,
}

impl JwkSet {
    pub fn of(keys: Vec<Jwk>) -> Self {
        Self {
            keys: keys.into_iter().map(Into::into).collect(),
        }
    }
}

/// How long a cache may keep a published key set. A rotation only adds a key (a verifier
/// meeting an unknown `kid` fetches again), so a stale copy never fails an older statement;
/// the same bound as the key-ring cache of the replicas.
pub const PUBLISHED_JWKS_CACHE_CONTROL: &str = "public, max-age=300";

#[derive(ApiResponse)]
pub enum PublishedJwksFound {
    /// The key set; caches may keep it (`Cache-Control: public, max-age=300`).
    #[oai(status = 200)]
    Ok(Json<JwkSet>, #[oai(header = "Cache-Control")] String),
}

#[derive(ApiResponse)]
pub enum JobFound {
    #[oai(status = 200)]
    Ok(Json<JobView>),
}

#[derive(Default)]
pub struct KeysApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::EncryptionKeys")]
impl KeysApi {
    /// List encryption key versions
    ///
    /// Requires scope `tenant:admin`. Shows versions and states, never key material.
    #[oai(
        path = "/encryption-keys",
        method = "get",
        operation_id = "listEncryptionKeys"
    )]
    async fn list_encryption_keys(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
    ) -> Result<KeysListed, ApiError> {
        let versions = state.tenancy.key_versions(&auth.0).await?;
        Ok(KeysListed::of(versions))
    }

    /// Rotate the data-encryption key
    ///
    /// Requires scope `tenant:admin`. A new key version encrypts from now on; older versions
    /// still decrypt; a background job re-encrypts existing personal data under the new
    /// version and reports its progress. One rotation (of either key) at a time (409 while
    /// one runs).
    #[oai(
        path = "/encryption-keys/rotate",
        method = "post",
        operation_id = "rotateEncryptionKey"
    )]
    async fn rotate_encryption_key(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
    ) -> Result<KeysRotated, ApiError> {
        let rotation = state.tenancy.rotate_keys(&auth.0).await?;
        Ok(KeysRotated::of(rotation))
    }

    /// List blind-index key versions
    ///
    /// Requires scope `tenant:admin`. The keys that make the blind indexes equality lookups
    /// (email, username) use; shows versions and states, never key material.
    #[oai(
        path = "/blind-index-keys",
        method = "get",
        operation_id = "listBlindIndexKeys"
    )]
    async fn list_blind_index_keys(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
    ) -> Result<KeysListed, ApiError> {
        let versions = state.tenancy.index_key_versions(&auth.0).await?;
        Ok(KeysListed::of(versions))
    }

    /// Rotate the blind-index key
    ///
    /// Requires scope `tenant:admin`. A new key version indexes from now on; a background
    /// job re-indexes existing rows under it and reports its progress, and lookups find rows
    /// under either version meanwhile. Once no row uses the old version it is destroyed. One
    /// rotation (of either key) at a time (409 while one runs).
    #[oai(
        path = "/blind-index-keys/rotate",
        method = "post",
        operation_id = "rotateBlindIndexKey"
    )]
    async fn rotate_blind_index_key(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
    ) -> Result<KeysRotated, ApiError> {
        let rotation = state.tenancy.rotate_index_key(&auth.0).await?;
        Ok(KeysRotated::of(rotation))
    }

    /// List signing key versions
    ///
    /// Requires scope `tenant:admin`. The Ed25519 key the institution signs its statements
    /// to people with (erasure receipts): the `active` version signs, `retired` ones only
    /// verify what they signed. Shows versions, states and key ids, never key material.
    #[oai(
        path = "/signing-keys",
        method = "get",
        operation_id = "listSigningKeys"
    )]
    async fn list_signing_keys(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
    ) -> Result<SigningKeysListed, ApiError> {
        let versions = state.tenancy.signing_key_versions(&auth.0).await?;
        Ok(SigningKeysListed::Ok(Json(SigningKeyVersionList {
            items: versions.into_iter().map(Into::into).collect(),
        })))
    }

    /// Rotate the signing key
    ///
    /// Requires scope `tenant:admin`. A new key version signs from now on (its `kid` is in
    /// every new signature); older versions are retired, never sign again, and stay published
    /// and verifying, so every statement signed before still verifies. No job: nothing is
    /// re-signed. Retired versions are destroyed only with the institution (offboarding);
    /// there is no way to destroy one earlier. Two rotations at the same moment: one is
    /// refused (409).
    #[oai(
        path = "/signing-keys/rotate",
        method = "post",
        operation_id = "rotateSigningKey"
    )]
    async fn rotate_signing_key(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
    ) -> Result<SigningKeyRotated, ApiError> {
        let version = state.tenancy.rotate_signing_key(&auth.0).await?;
        Ok(SigningKeyRotated::Ok(Json(version.into())))
    }

    /// Get an institution's published signing keys
    ///
    /// Public: no credential. The JWKS (RFC 7517) of the institution's Ed25519 signing
    /// keys, every version not destroyed, so anyone holding a statement it signed (an
    /// erasure receipt) can check it by the JWS's `kid`. An unknown or suspended institution
    /// is the same 404. Cacheable for five minutes.
    #[oai(
        path = "/institutions/:tenant_slug/jwks.json",
        method = "get",
        operation_id = "getPublishedSigningKeys"
    )]
    async fn published_signing_keys(
        &self,
        state: Data<&Arc<AppState>>,
        tenant_slug: Path<String>,
    ) -> Result<PublishedJwksFound, ApiError> {
        let keys = state.tenancy.published_signing_jwks(&tenant_slug.0).await?;
        Ok(PublishedJwksFound::Ok(
            Json(JwkSet::of(keys)),
            PUBLISHED_JWKS_CACHE_CONTROL.into(),
        ))
    }

    /// Get a background job
    ///
    /// Requires scope `tenant:admin`.
    #[oai(path = "/jobs/:job_id", method = "get", operation_id = "getJob")]
    async fn get_job(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        job_id: Path<Uuid>,
    ) -> Result<JobFound, ApiError> {
        Ok(JobFound::Ok(Json(
            state.tenancy.job(&auth.0, job_id.0).await?.into(),
        )))
    }
}
