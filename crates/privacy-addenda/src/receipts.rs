//! Erasure receipts: what was erased, anonymised or kept (and why) for one completed erasure,
//! naming the subject only by a pseudonymous reference, signed with the institution's own
//! Ed25519 key ([`hub_tenant::signing`]) as a compact JWS (`alg: EdDSA`, the key named by
//! `kid`). Kept on the request and sent to the person before their identity is dropped.
//! The public keys are published as a JWKS ([`Privacy::receipt_keys`]) and any receipt can
//! be checked through the API ([`Privacy::verify_receipt`]).

use crate::{Privacy, PrivacyError};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hub_tenant::TenantScope;
use hub_tenant::signing::verify_ed25519;
use uuid::Uuid;

/// One published public key, as a JWK (RFC 8037: `OKP`, `Ed25519`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReceiptKey {
    pub kid: String,
    pub kty: &'static str,
    pub crv: &'static str,
    pub alg: &'static str,
    #[serde(rename = "use")]
    pub usage: &'static str,
    /// The public key, base64url.
    pub x: String,
}

/// What checking a receipt found.
#[derive(Debug, Clone)]
pub struct ReceiptCheck {
    pub valid: bool,
    pub key_id: Option<String>,
    /// The signed statement, when the signature holds.
    pub receipt: Option<serde_json::Value>,
}

impl Privacy {
    /// The receipt of a completed erasure: the statement and its signature.
    pub(crate) async fn receipt(
        &self,
        scope: &TenantScope,
        request_id: Uuid,
        subject_reference: String,
        completed_at: DateTime<Utc>,
        sources: Vec<serde_json::Value>,
    ) -> Result<serde_json::Value, PrivacyError> {
        let statement = serde_json::json!({
            "type": "erasure_receipt",
            "request_id": request_id,
            "tenant_id": scope.tenant_id(),
            "subject_reference": subject_reference,
            "completed_at": completed_at,
            "sources": sources,
        });
        let signer = self.tenancy.receipt_signer(scope).await?;
        let header = serde_json::json!({ "alg": "EdDSA", "typ": "JWT", "kid": signer.key_id() });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(statement.to_string())
        );
        let signature = URL_SAFE_NO_PAD.encode(signer.sign(signing_input.as_bytes()));
        let mut receipt = statement;
        if let Some(map) = receipt.as_object_mut() {
            map.insert("key_id".into(), signer.key_id().into());
            map.insert("jws".into(), format!("{signing_input}.{signature}").into());
        }
        Ok(receipt)
    }

    /// The institution's receipt-signing public keys (a JWKS's `keys`). Any credential of
    /// the institution.
    pub async fn receipt_keys(&self, scope: &TenantScope) -> Result<Vec<ReceiptKey>, PrivacyError> {
        let signer = self.tenancy.receipt_signer(scope).await?;
        Ok(vec![ReceiptKey {
            kid: signer.key_id().to_string(),
            kty: "OKP",
            crv: "Ed25519",
            alg: "EdDSA",
            usage: "sig",
            x: URL_SAFE_NO_PAD.encode(signer.public_key()),
        }])
    }

    /// Checks a receipt's JWS against the institution's key: `valid` only if it is this
    /// institution's signature over exactly this statement.
    pub async fn verify_receipt(
        &self,
        scope: &TenantScope,
        jws: &str,
    ) -> Result<ReceiptCheck, PrivacyError> {
        let signer = self.tenancy.receipt_signer(scope).await?;
        let invalid = |key_id: Option<String>| ReceiptCheck {
            valid: false,
            key_id,
            receipt: None,
        };
        let parts: Vec<&str> = jws.trim().split('.').collect();
        let [header, payload, signature] = parts[..] else {
            return Ok(invalid(None));
        };
        let decoded = |part: &str| URL_SAFE_NO_PAD.decode(part).ok();
        let header: Option<serde_json::Value> =
            decoded(header).and_then(|h| serde_json::from_slice(&h).ok());
        let key_id = header
            .as_ref()
            .and_then(|h| h.get("kid"))
            .and_then(|k| k.as_str())
            .map(str::to_string);
        let alg_ok = header.as_ref().and_then(|h| h.get("alg")) == Some(&"EdDSA".into());
        let (Some(signature), Some(statement)) = (decoded(signature), decoded(payload)) else {
            return Ok(invalid(key_id));
        };
        let signing_input = &jws.trim()[..jws.trim().len() - parts[2].len() - 1];
        let valid = alg_ok
            && key_id.as_deref() == Some(signer.key_id())
            && verify_ed25519(&signer.public_key(), signing_input.as_bytes(), &signature);
        if !valid {
            return Ok(invalid(key_id));
        }
        Ok(ReceiptCheck {
            valid: true,
            key_id,
            receipt: serde_json::from_slice(&statement).ok(),
        })
    }
}
