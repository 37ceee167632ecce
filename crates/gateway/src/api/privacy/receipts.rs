//! `/v1/privacy/receipt-keys` and `/v1/privacy/receipts/verification`: the institution's
//! receipt-signing keys (a JWKS) and the check of a receipt against them.

use crate::api::ApiTags;
use crate::api::keys::JwkSet;
use crate::auth::TenantCredential;
use crate::problem::ApiError;
use crate::state::AppState;
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Object, OpenApi};
use std::sync::Arc;

#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct ReceiptVerificationInput {
    /// The receipt's `jws` (compact JWS, `alg: EdDSA`).
    pub jws: String,
}

impl Example for ReceiptVerificationInput {
    fn example() -> Self {
        Self {
            jws: "eyJhbGciOiJFZERTQSJ9.eyJ0eXBlIjoiZXJhc3VyZV9yZWNlaXB0In0.c2lnbmF0dXJl".into(),
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct ReceiptVerification {
    /// The institution signed exactly this statement.
    pub valid: bool,
    #[oai(nullable)]
    pub key_id: Option<String>,
    /// The signed statement, when valid.
    #[oai(nullable)]
    pub receipt: Option<serde_json::Value>,
}

#[derive(ApiResponse)]
pub enum KeysFound {
    #[oai(status = 200)]
    Ok(Json<JwkSet>),
}

#[derive(ApiResponse)]
pub enum Verified {
    #[oai(status = 200)]
    Ok(Json<ReceiptVerification>),
}

#[derive(Default)]
pub struct ReceiptsApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Privacy")]
impl ReceiptsApi {
    /// The institution's receipt-signing keys
    ///
    /// Any scope: any credential of the institution. A JWKS of the Ed25519 keys erasure
    /// receipts are signed with: every version of the signing key, the current one and the
    /// retired ones that signed earlier receipts (each receipt names its key by `kid`). The
    /// same set is public at `/v1/institutions/{tenant_slug}/jwks.json`.
    #[oai(
        path = "/privacy/receipt-keys",
        method = "get",
        operation_id = "listReceiptKeys"
    )]
    async fn receipt_keys(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
    ) -> Result<KeysFound, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let keys = state.privacy.receipt_keys(&scope).await?;
        scope.commit().await?;
        Ok(KeysFound::Ok(Json(JwkSet::of(keys))))
    }

    /// Verify an erasure receipt
    ///
    /// Any scope: any credential of the institution. `valid` only if the institution's key
    /// version the JWS's `kid` names (current or retired by a rotation) signed exactly this
    /// statement; a changed statement or signature, or another institution's key, is
    /// `valid: false`.
    #[oai(
        path = "/privacy/receipts/verification",
        method = "post",
        operation_id = "verifyErasureReceipt"
    )]
    async fn verify(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        body: Json<ReceiptVerificationInput>,
    ) -> Result<Verified, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let check = state.privacy.verify_receipt(&scope, &body.0.jws).await?;
        scope.commit().await?;
        Ok(Verified::Ok(Json(ReceiptVerification {
            valid: check.valid,
            key_id: check.key_id,
            receipt: check.receipt,
        })))
    }
}
