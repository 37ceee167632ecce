//! Erasure receipts: what was erased, anonymised or kept (and why) for one completed erasure,
//! naming the subject only by a pseudonymous reference, signed with the institution's own
//! Ed25519 key as a compact JWS (`alg: EdDSA`, the key version named by `kid`), built and
//! checked by [`hub_tenant::signing`]. Kept on the request and sent to the person before
//! their identity is dropped. The public keys are published as a JWKS
//! ([`Privacy::receipt_keys`], and to anyone by the institution's slug), and any receipt can
//! be checked through the API ([`Privacy::verify_receipt`]), also after the signing key was
//! rotated: retired versions keep verifying.

use crate::{Privacy, PrivacyError};
use chrono::{DateTime, Utc};
use hub_tenant::TenantScope;
use uuid::Uuid;

/// One published public key, as a JWK (RFC 8037: `OKP`, `Ed25519`).
pub use hub_tenant::signing::Jwk as ReceiptKey;

/// The JWS `typ` of a receipt.
const RECEIPT_TYP: &str = "JWT";

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
        let signed = self
            .tenancy
            .sign_jws(scope, RECEIPT_TYP, statement.to_string().as_bytes())
            .await?;
        let mut receipt = statement;
        if let Some(map) = receipt.as_object_mut() {
            map.insert("key_id".into(), signed.kid.into());
            map.insert("jws".into(), signed.jws.into());
        }
        Ok(receipt)
    }

    /// The institution's receipt-signing public keys (a JWKS's `keys`), every version that
    /// may have signed a receipt. Any credential of the institution.
    pub async fn receipt_keys(&self, scope: &TenantScope) -> Result<Vec<ReceiptKey>, PrivacyError> {
        Ok(self.tenancy.signing_jwks(scope).await?)
    }

    /// Checks a receipt's JWS against the institution's keys: `valid` only if one of this
    /// institution's signing-key versions (the one its `kid` names) signed exactly this
    /// statement.
    pub async fn verify_receipt(
        &self,
        scope: &TenantScope,
        jws: &str,
    ) -> Result<ReceiptCheck, PrivacyError> {
        let check = self.tenancy.verify_jws(scope, jws).await?;
        // A statement that does not parse was not signed by us as a receipt.
        let receipt = check
            .payload
            .as_deref()
            .and_then(|p| serde_json::from_slice::<serde_json::Value>(p).ok());
        Ok(ReceiptCheck {
            valid: check.valid && receipt.is_some(),
            key_id: check.kid,
            receipt,
        })
    }
}
