//! The institution's own signing key and the statements it signs: compact JWS (RFC 7515)
//! with `alg: EdDSA` (RFC 8037, Ed25519), the signing key named by `kid`. Every domain that
//! hands people a signed statement (erasure receipts, certificates) signs and verifies
//! through [`Tenancy::sign_jws`] and [`Tenancy::verify_jws`]; none builds a JWS itself.
//!
//! The key is versioned like every other tenant key: each version's seed is stored wrapped
//! under the KEK in the key store ([`crate::keys`], purpose `signing`, version 1 made at
//! first use). A rotation ([`Tenancy::rotate_signing_key`]) makes a new version the one that
//! signs; the older versions are retired, never sign again, and stay so that everything they
//! signed still verifies (by `kid`). No version is destroyed before the tenant is offboarded,
//! when crypto-shredding destroys all of them with the other keys: destroying a retired
//! version earlier would make what it signed unverifiable, which a receipt promises it never
//! becomes, so retiring a version for good is not offered.
//!
//! The public halves are published per institution as a JWKS (RFC 7517), to its own
//! credentials ([`Tenancy::signing_jwks`]) and to anyone by slug
//! ([`Tenancy::published_signing_jwks`]), so a person can check a statement without the
//! institution's help.

use crate::Tenancy;
use crate::audit;
use crate::error::TenantError;
use crate::keys::{KeyPurpose, KeyVersionInfo};
use crate::model::{Scope, TenantPrincipal};
use crate::scope::TenantScope;
use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

/// The one JWS algorithm the institution signs with and accepts.
pub const JWS_ALG: &str = "EdDSA";

/// One signing-key version's public half as a JWK (RFC 8037: `OKP`, `Ed25519`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Jwk {
    pub kid: String,
    pub kty: &'static str,
    pub crv: &'static str,
    pub alg: &'static str,
    #[serde(rename = "use")]
    pub usage: &'static str,
    /// The 32-byte public key, base64url without padding.
    pub x: String,
}

impl Jwk {
    fn ed25519(kid: String, public_key: &[u8]) -> Self {
        Self {
            kid,
            kty: "OKP",
            crv: "Ed25519",
            alg: JWS_ALG,
            usage: "sig",
            x: URL_SAFE_NO_PAD.encode(public_key),
        }
    }
}

/// One version of the signing key as an administrator sees it (never the key itself).
#[derive(Debug, Clone)]
pub struct SigningKeyVersion {
    pub version: i32,
    /// `<tenant>-signing-<version>`, as in signatures and in the JWKS.
    pub kid: String,
    /// `active` signs; `retired` only verifies what it signed.
    pub state: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// A compact JWS and the key that signed it.
#[derive(Debug, Clone)]
pub struct SignedJws {
    pub kid: String,
    /// `<header>.<payload>.<signature>`, each base64url without padding.
    pub jws: String,
}

/// What checking a compact JWS found.
#[derive(Debug, Clone)]
pub struct JwsCheck {
    /// One of the institution's signing-key versions signed exactly this header and payload.
    pub valid: bool,
    /// The `kid` the header names, valid or not.
    pub kid: Option<String>,
    /// The signed payload, only when valid.
    pub payload: Option<Vec<u8>>,
}

/// The key id of a tenant's signing-key version.
fn kid(tenant: Uuid, version: i32) -> String {
    format!("{tenant}-signing-{version}")
}

/// The version a `kid` names, if it names one of this tenant's.
fn version_of(tenant: Uuid, kid: &str) -> Option<i32> {
    let version = kid.strip_prefix(&format!("{tenant}-signing-"))?;
    // Digits only: `+1` or `01` are not how a kid is written, so no kid has two spellings.
    if version.is_empty()
        || version.starts_with('0')
        || !version.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    version.parse().ok().filter(|v| *v > 0)
}

fn key_pair(seed: &[u8; 32]) -> Result<Ed25519KeyPair, TenantError> {
    Ed25519KeyPair::from_seed_unchecked(seed)
        .map_err(|_| TenantError::Conflict("the signing key is unusable".into()))
}

/// The compact JWS of `payload` under `header` (which names `alg`), signed by `pair`.
fn compact_jws(
    pair: &Ed25519KeyPair,
    header: &serde_json::Map<String, serde_json::Value>,
    payload: &[u8],
) -> String {
    let header = serde_json::Value::Object(header.clone()).to_string();
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let signature = URL_SAFE_NO_PAD.encode(pair.sign(signing_input.as_bytes()).as_ref());
    format!("{signing_input}.{signature}")
}

/// A compact JWS taken apart; nothing about it is trusted yet.
#[derive(Debug)]
struct ParsedJws<'a> {
    header: serde_json::Map<String, serde_json::Value>,
    signing_input: &'a str,
    payload: Vec<u8>,
    signature: Vec<u8>,
}

impl<'a> ParsedJws<'a> {
    fn parse(jws: &'a str) -> Option<Self> {
        let (signing_input, signature) = jws.rsplit_once('.')?;
        let (header, payload) = signing_input.split_once('.')?;
        if payload.contains('.') {
            return None;
        }
        let decoded = |part: &str| URL_SAFE_NO_PAD.decode(part).ok();
        let header = match serde_json::from_slice(&decoded(header)?).ok()? {
            serde_json::Value::Object(map) => map,
            _ => return None,
        };
        Some(Self {
            header,
            signing_input,
            payload: decoded(payload)?,
            signature: decoded(signature)?,
        })
    }

    fn kid(&self) -> Option<String> {
        self.header
            .get("kid")
            .and_then(|k| k.as_str())
            .map(str::to_string)
    }

    /// The header asks for exactly what we sign with: `alg: EdDSA` and no `crit` extension
    /// (RFC 7515 §4.1.11: one the verifier does not understand makes the JWS invalid).
    fn header_acceptable(&self) -> bool {
        self.header.get("alg").and_then(|a| a.as_str()) == Some(JWS_ALG)
            && !self.header.contains_key("crit")
    }

    fn signed_by(&self, public_key: &[u8]) -> bool {
        UnparsedPublicKey::new(&ED25519, public_key)
            .verify(self.signing_input.as_bytes(), &self.signature)
            .is_ok()
    }
}

impl Tenancy {
    /// Signs `payload` as a compact JWS with the scope's tenant's current signing key (made
    /// and stored at first use). The header is `alg: EdDSA`, the key's `kid` and `typ`.
    pub async fn sign_jws(
        &self,
        scope: &TenantScope,
        typ: &str,
        payload: &[u8],
    ) -> Result<SignedJws, TenantError> {
        let tenant = scope.tenant_id();
        let (version, seed) = self.keys.signing_key(tenant).await?;
        let pair = key_pair(seed.expose())?;
        let kid = kid(tenant, version);
        let mut header = serde_json::Map::new();
        header.insert("alg".into(), JWS_ALG.into());
        header.insert("typ".into(), typ.into());
        header.insert("kid".into(), kid.clone().into());
        Ok(SignedJws {
            jws: compact_jws(&pair, &header, payload),
            kid,
        })
    }

    /// Checks a compact JWS against the scope's tenant's signing keys: `valid` only if the
    /// version its `kid` names (active or retired) signed exactly this header and payload
    /// with `alg: EdDSA`. Another institution's kid, an unknown one, a changed byte or a
    /// malformed JWS is `valid: false`, never an error.
    pub async fn verify_jws(
        &self,
        scope: &TenantScope,
        jws: &str,
    ) -> Result<JwsCheck, TenantError> {
        let Some(parsed) = ParsedJws::parse(jws.trim()) else {
            return Ok(JwsCheck {
                valid: false,
                kid: None,
                payload: None,
            });
        };
        let kid = parsed.kid();
        let invalid = JwsCheck {
            valid: false,
            kid: kid.clone(),
            payload: None,
        };
        let tenant = scope.tenant_id();
        let Some(version) = kid.as_deref().and_then(|k| version_of(tenant, k)) else {
            return Ok(invalid);
        };
        if !parsed.header_acceptable() {
            return Ok(invalid);
        }
        let keys = self.signing_public_keys(tenant).await?;
        let Some((_, public_key)) = keys.iter().find(|(info, _)| info.version == version) else {
            return Ok(invalid);
        };
        if !parsed.signed_by(public_key) {
            return Ok(invalid);
        }
        Ok(JwsCheck {
            valid: true,
            kid,
            payload: Some(parsed.payload),
        })
    }

    /// The scope's tenant's signing keys as a JWKS's `keys`: every version, the current one
    /// last. Makes the first key if none exists yet, so a credential always sees the key its
    /// next statement will carry.
    pub async fn signing_jwks(&self, scope: &TenantScope) -> Result<Vec<Jwk>, TenantError> {
        let tenant = scope.tenant_id();
        self.keys.signing_key(tenant).await?;
        self.jwks_of(tenant).await
    }

    /// The signing keys of the active institution with this slug, for anyone (no
    /// credential). An unknown, suspended or offboarded institution is the same
    /// `NotFound("tenant")`: nothing tells them apart. Makes no key: an institution that
    /// never signed anything has none to publish.
    pub async fn published_signing_jwks(&self, tenant_slug: &str) -> Result<Vec<Jwk>, TenantError> {
        let tenant = self.publishing_tenant(tenant_slug).await?;
        self.jwks_of(tenant.location.tenant_id).await
    }

    async fn jwks_of(&self, tenant: Uuid) -> Result<Vec<Jwk>, TenantError> {
        Ok(self
            .signing_public_keys(tenant)
            .await?
            .iter()
            .map(|(info, public_key)| Jwk::ed25519(kid(tenant, info.version), public_key))
            .collect())
    }

    /// The public keys of every version of the tenant's signing key, unwrapped only when the
    /// stored versions changed ([`crate::keys::KeyStore::signing_public_keys`]).
    async fn signing_public_keys(
        &self,
        tenant: Uuid,
    ) -> Result<crate::keys::SigningPublicKeys, TenantError> {
        self.keys
            .signing_public_keys(tenant, |seed| {
                Ok(key_pair(seed.expose())?.public_key().as_ref().to_vec())
            })
            .await
    }

    /// The signing key's versions (never the keys). Scope `tenant:admin`.
    pub async fn signing_key_versions(
        &self,
        principal: &TenantPrincipal,
    ) -> Result<Vec<SigningKeyVersion>, TenantError> {
        principal.require(Scope::TenantAdmin)?;
        let tenant = principal.tenant_id();
        Ok(self
            .keys
            .versions(tenant, KeyPurpose::Signing)
            .await?
            .into_iter()
            .map(|info| version_view(tenant, info))
            .collect())
    }

    /// Makes a new signing-key version the one that signs; the previous versions are
    /// retired (they verify what they signed, never sign again). Scope `tenant:admin`,
    /// audited as `signing_keys.rotated`. Takes effect at once on every replica: the signing
    /// key is read from the key store for every signature, never cached. Two rotations at
    /// the same moment: one is refused (`RotationRunning`).
    pub async fn rotate_signing_key(
        &self,
        principal: &TenantPrincipal,
    ) -> Result<SigningKeyVersion, TenantError> {
        principal.require(Scope::TenantAdmin)?;
        let tenant = principal.tenant_id();
        let new_version = self.keys.rotate(tenant, KeyPurpose::Signing).await?;
        let kid = kid(tenant, new_version);
        let scope = self.scope(principal).await?;
        audit::record(
            &scope,
            audit::AuditEvent::new("signing_keys.rotated")
                .detail(serde_json::json!({ "new_version": new_version, "kid": kid })),
        )
        .await?;
        scope.commit().await?;
        self.keys
            .versions(tenant, KeyPurpose::Signing)
            .await?
            .into_iter()
            .find(|info| info.version == new_version)
            .map(|info| version_view(tenant, info))
            .ok_or(TenantError::NotFound("tenant"))
    }
}

fn version_view(tenant: Uuid, info: KeyVersionInfo) -> SigningKeyVersion {
    SigningKeyVersion {
        version: info.version,
        kid: kid(tenant, info.version),
        state: info.state,
        created_at: info.created_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8037 appendix A.1 (the key) and A.4 (the JWS of "Example of Ed25519 signing"
    /// under `{"alg":"EdDSA"}`): Ed25519 is deterministic, so the signature is exactly the
    /// RFC's.
    const RFC8037_D: &str = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
    const RFC8037_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
    const RFC8037_JWS: &str = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";

    fn rfc_pair() -> Ed25519KeyPair {
        let seed: [u8; 32] = URL_SAFE_NO_PAD
            .decode(RFC8037_D)
            .unwrap()
            .try_into()
            .unwrap();
        key_pair(&seed).unwrap()
    }

    #[test]
    fn signs_rfc_8037_a4_exactly() {
        let pair = rfc_pair();
        let jwk = Jwk::ed25519("k".into(), pair.public_key().as_ref());
        assert_eq!(jwk.x, RFC8037_X);
        let mut header = serde_json::Map::new();
        header.insert("alg".into(), JWS_ALG.into());
        assert_eq!(
            compact_jws(&pair, &header, b"Example of Ed25519 signing"),
            RFC8037_JWS
        );
    }

    #[test]
    fn verifies_rfc_8037_a5_and_refuses_changes() {
        let public = URL_SAFE_NO_PAD.decode(RFC8037_X).unwrap();
        let parsed = ParsedJws::parse(RFC8037_JWS).unwrap();
        assert!(parsed.header_acceptable());
        assert!(parsed.signed_by(&public));
        assert_eq!(parsed.payload, b"Example of Ed25519 signing");
        // A changed payload (another base64url payload spliced in) no longer verifies.
        let (_, rest) = RFC8037_JWS.split_once('.').unwrap();
        let (_, signature) = rest.split_once('.').unwrap();
        let forged = format!(
            "eyJhbGciOiJFZERTQSJ9.{}.{signature}",
            URL_SAFE_NO_PAD.encode("Example of Ed25519 signinG")
        );
        assert!(!ParsedJws::parse(&forged).unwrap().signed_by(&public));
        // Malformed: too few or too many parts, padding, a header that is not an object.
        for bad in [
            "eyJhbGciOiJFZERTQSJ9.e30",
            &format!("{RFC8037_JWS}.e30"),
            &format!("{RFC8037_JWS}=="),
            "W10.e30.AA",
        ] {
            assert!(ParsedJws::parse(bad).is_none(), "{bad}");
        }
        // Another algorithm or a critical extension is refused whatever the signature.
        let none = format!("{}.e30.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#));
        assert!(!ParsedJws::parse(&none).unwrap().header_acceptable());
        let crit = format!(
            "{}.e30.AA",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"EdDSA","crit":["b64"],"b64":false}"#)
        );
        assert!(!ParsedJws::parse(&crit).unwrap().header_acceptable());
    }

    #[test]
    fn a_kid_names_one_version_of_one_tenant() {
        let tenant = Uuid::from_u128(7);
        let other = Uuid::from_u128(8);
        assert_eq!(version_of(tenant, &kid(tenant, 3)), Some(3));
        assert_eq!(version_of(tenant, &kid(other, 3)), None);
        for bad in ["-signing-1", "0", "03", "+3", "", "3x", "99999999999"] {
            assert_eq!(
                version_of(tenant, &format!("{tenant}-signing-{bad}")),
                None,
                "{bad}"
            );
        }
    }
}
