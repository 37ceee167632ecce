//! The OpenID Connect relying party: discovery, the authorization request (code flow with
//! PKCE, state and nonce), the code exchange, and ID-token verification against the IdP's
//! published keys.
//!
//! Discovery documents and key sets are cached per issuer. An ID token signed with a key id
//! not in the cached set triggers one refresh (the IdP rotated its keys), at most once per
//! `JWKS_REFRESH_FLOOR` per issuer, so a flood of tokens with made-up key ids cannot turn us
//! into a load generator against the IdP.

use crate::error::{IdentityError, Refusal};
use hub_kernel::Secret;
use jsonwebtoken::jwk::{JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

const DISCOVERY_TTL: Duration = Duration::from_secs(3600);
const JWKS_TTL: Duration = Duration::from_secs(3600);
const JWKS_REFRESH_FLOOR: Duration = Duration::from_secs(10);
/// ID tokens are small; anything bigger is not one.
const MAX_TOKEN_BYTES: usize = 16 * 1024;
const MAX_IDP_RESPONSE_BYTES: usize = 256 * 1024;

/// Only asymmetric signatures: an HMAC-signed token would be verifiable with the client
/// secret, which the IdP does not own alone, and `none` is never acceptable.
const ACCEPTED_ALGORITHMS: [Algorithm; 7] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

#[derive(Debug, Clone, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
}

/// The claims of an ID token this service reads.
#[derive(Debug, Clone, Deserialize)]
pub struct IdTokenClaims {
    pub iss: String,
    pub sub: String,
    #[serde(default)]
    pub nonce: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub email_verified: Option<bool>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub given_name: Option<String>,
    #[serde(default)]
    pub family_name: Option<String>,
    #[serde(default)]
    pub preferred_username: Option<String>,
    #[serde(default)]
    pub groups: Option<Groups>,
    /// When the person last authenticated at the IdP (sent when `max_age` was requested).
    #[serde(default)]
    pub auth_time: Option<i64>,
}

/// IdPs send `groups` as a list or, with one group, sometimes as a string.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Groups {
    Many(Vec<String>),
    One(String),
}

impl IdTokenClaims {
    pub fn groups(&self) -> Vec<String> {
        match &self.groups {
            Some(Groups::Many(g)) => g.clone(),
            Some(Groups::One(g)) => vec![g.clone()],
            None => Vec::new(),
        }
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    id_token: Option<Secret>,
}

#[derive(Deserialize)]
struct TokenError {
    error: String,
}

struct CachedKeys {
    fetched: Instant,
    keys: Arc<JwkSet>,
}

pub struct OidcClient {
    http: reqwest::Client,
    clock_skew: Duration,
    discovery: RwLock<HashMap<String, (Instant, Arc<Discovery>)>>,
    keys: RwLock<HashMap<String, CachedKeys>>,
}

fn unavailable(what: &str, e: impl std::fmt::Display) -> IdentityError {
    IdentityError::IdpUnavailable(format!("{what}: {e}"))
}

/// The HTTP client speaks TLS through rustls with the provider poem already links
/// (aws-lc-rs). Installing it is idempotent: a second call finds it there.
pub fn install_tls_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

impl OidcClient {
    pub fn new(clock_skew: Duration) -> Result<Self, IdentityError> {
        install_tls_provider();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(10))
            // The IdP's endpoints are taken as published; a redirect there is a misconfiguration.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| unavailable("HTTP client", e))?;
        Ok(Self {
            http,
            clock_skew,
            discovery: RwLock::default(),
            keys: RwLock::default(),
        })
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        what: &str,
    ) -> Result<T, IdentityError> {
        let response = self
            .http
            .get(url)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| unavailable(what, e))?;
        if !response.status().is_success() {
            return Err(unavailable(what, format!("HTTP {}", response.status())));
        }
        let bytes = response.bytes().await.map_err(|e| unavailable(what, e))?;
        if bytes.len() > MAX_IDP_RESPONSE_BYTES {
            return Err(unavailable(what, "response too large"));
        }
        serde_json::from_slice(&bytes).map_err(|e| unavailable(what, e))
    }

    /// The IdP's discovery document; its `issuer` must be exactly the configured issuer.
    pub async fn discover(&self, issuer: &str) -> Result<Arc<Discovery>, IdentityError> {
        if let Ok(cache) = self.discovery.read()
            && let Some((at, doc)) = cache.get(issuer)
            && at.elapsed() < DISCOVERY_TTL
        {
            return Ok(doc.clone());
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let doc: Discovery = self.get_json(&url, "discovery").await?;
        if doc.issuer != issuer {
            return Err(unavailable(
                "discovery",
                format!("the document names issuer {}, not {issuer}", doc.issuer),
            ));
        }
        let doc = Arc::new(doc);
        if let Ok(mut cache) = self.discovery.write() {
            cache.insert(issuer.to_string(), (Instant::now(), doc.clone()));
        }
        Ok(doc)
    }

    async fn key_set(&self, jwks_uri: &str, refresh: bool) -> Result<Arc<JwkSet>, IdentityError> {
        if let Ok(cache) = self.keys.read()
            && let Some(cached) = cache.get(jwks_uri)
        {
            let age = cached.fetched.elapsed();
            let fresh_enough = if refresh {
                age < JWKS_REFRESH_FLOOR
            } else {
                age < JWKS_TTL
            };
            if fresh_enough {
                return Ok(cached.keys.clone());
            }
        }
        let keys: JwkSet = self.get_json(jwks_uri, "JWKS").await?;
        let keys = Arc::new(keys);
        if let Ok(mut cache) = self.keys.write() {
            cache.insert(
                jwks_uri.to_string(),
                CachedKeys {
                    fetched: Instant::now(),
                    keys: keys.clone(),
                },
            );
        }
        Ok(keys)
    }

    /// Exchanges an authorization code (with its PKCE verifier) for the ID token.
    pub async fn exchange_code(
        &self,
        discovery: &Discovery,
        client_id: &str,
        client_secret: &str,
        code: &str,
        redirect_uri: &str,
        code_verifier: &str,
    ) -> Result<Secret, IdentityError> {
        let response = self
            .http
            .post(&discovery.token_endpoint)
            .basic_auth(client_id, Some(client_secret))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", redirect_uri),
                ("code_verifier", code_verifier),
            ])
            .send()
            .await
            .map_err(|e| unavailable("token endpoint", e))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| unavailable("token endpoint", e))?;
        if bytes.len() > MAX_IDP_RESPONSE_BYTES {
            return Err(unavailable("token endpoint", "response too large"));
        }
        if status.is_client_error() {
            let error = serde_json::from_slice::<TokenError>(&bytes)
                .map(|e| e.error)
                .unwrap_or_else(|_| format!("HTTP {status}"));
            return Err(IdentityError::refused(
                Refusal::CodeExchange,
                format!("the identity provider refused the authorization code ({error})"),
            ));
        }
        if !status.is_success() {
            return Err(unavailable("token endpoint", format!("HTTP {status}")));
        }
        let answer: TokenResponse =
            serde_json::from_slice(&bytes).map_err(|e| unavailable("token endpoint", e))?;
        answer.id_token.ok_or_else(|| {
            IdentityError::refused(
                Refusal::Identity,
                "the identity provider returned no ID token; is the `openid` scope configured?",
            )
        })
    }

    /// Verifies an ID token: algorithm, key, signature, issuer, audience, expiry (with the
    /// configured clock skew) and the nonce this flow sent.
    pub async fn verify_id_token(
        &self,
        discovery: &Discovery,
        client_id: &str,
        token: &str,
        expected_nonce: &str,
    ) -> Result<IdTokenClaims, IdentityError> {
        let signature = |detail: String| IdentityError::refused(Refusal::Signature, detail);
        if token.len() > MAX_TOKEN_BYTES {
            return Err(signature("the ID token is too large".into()));
        }
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| signature(format!("the ID token is not a signed JWT ({e})")))?;
        if !ACCEPTED_ALGORITHMS.contains(&header.alg) {
            return Err(signature(format!(
                "the ID token is signed with {:?}, which is not accepted",
                header.alg
            )));
        }
        let kid = header
            .kid
            .as_deref()
            .ok_or_else(|| signature("the ID token names no key id".into()))?;
        let mut keys = self.key_set(&discovery.jwks_uri, false).await?;
        if keys.find(kid).is_none() {
            keys = self.key_set(&discovery.jwks_uri, true).await?;
        }
        let jwk = keys.find(kid).ok_or_else(|| {
            signature(format!(
                "the key id `{kid}` is not among the identity provider's published keys"
            ))
        })?;
        if let Some(declared) = jwk.common.key_algorithm
            && declared != KeyAlgorithm::from(header.alg)
        {
            return Err(signature(format!(
                "the ID token says {:?} but its key is for {declared}",
                header.alg
            )));
        }
        let key = DecodingKey::from_jwk(jwk)
            .map_err(|e| signature(format!("the identity provider's key is unusable ({e})")))?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&discovery.issuer]);
        validation.set_audience(&[client_id]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.leeway = self.clock_skew.as_secs();
        validation.validate_nbf = true;
        let data =
            jsonwebtoken::decode::<IdTokenClaims>(token, &key, &validation).map_err(|e| {
                use jsonwebtoken::errors::ErrorKind;
                match e.kind() {
                    ErrorKind::InvalidSignature
                    | ErrorKind::InvalidAlgorithm
                    | ErrorKind::InvalidAlgorithmName
                    | ErrorKind::InvalidKeyFormat
                    | ErrorKind::InvalidToken
                    | ErrorKind::InvalidRsaKey(_)
                    | ErrorKind::InvalidEcdsaKey
                    | ErrorKind::InvalidEddsaKey
                    | ErrorKind::UnsupportedAlgorithm
                    | ErrorKind::Base64(_)
                    | ErrorKind::Provider(_) => {
                        signature(format!("the ID token's signature does not verify ({e})"))
                    }
                    ErrorKind::ExpiredSignature => {
                        IdentityError::refused(Refusal::Claims, "the ID token has expired")
                    }
                    ErrorKind::InvalidIssuer => IdentityError::refused(
                        Refusal::Claims,
                        "the ID token was issued by another issuer",
                    ),
                    ErrorKind::InvalidAudience => IdentityError::refused(
                        Refusal::Claims,
                        "the ID token was issued for another client",
                    ),
                    ErrorKind::ImmatureSignature => {
                        IdentityError::refused(Refusal::Claims, "the ID token is not valid yet")
                    }
                    ErrorKind::MissingRequiredClaim(c) => IdentityError::refused(
                        Refusal::Claims,
                        format!("the ID token lacks the `{c}` claim"),
                    ),
                    _ => IdentityError::refused(
                        Refusal::Claims,
                        format!("the ID token's claims are unusable ({e})"),
                    ),
                }
            })?;
        let claims = data.claims;
        if claims.nonce.as_deref() != Some(expected_nonce) {
            return Err(IdentityError::refused(
                Refusal::Nonce,
                "the ID token's nonce is not the one this sign-in sent",
            ));
        }
        if claims.sub.is_empty() || claims.sub.len() > 255 {
            return Err(IdentityError::refused(
                Refusal::Identity,
                "the ID token's subject is empty or too long",
            ));
        }
        Ok(claims)
    }
}
