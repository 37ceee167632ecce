//! Erasure receipts: what was erased, anonymised or kept (and why) for one completed erasure,
//! naming the subject only by a pseudonymous reference. Kept on the request and sent to the
//! person before their identity is dropped.

use crate::{Privacy, PrivacyError};
use chrono::{DateTime, Utc};
use hub_tenant::TenantScope;
use uuid::Uuid;

impl Privacy {
    /// The receipt of a completed erasure.
    pub(crate) async fn receipt(
        &self,
        scope: &TenantScope,
        request_id: Uuid,
        subject_reference: String,
        completed_at: DateTime<Utc>,
        sources: Vec<serde_json::Value>,
    ) -> Result<serde_json::Value, PrivacyError> {
        Ok(serde_json::json!({
            "type": "erasure_receipt",
            "request_id": request_id,
            "tenant_id": scope.tenant_id(),
            "subject_reference": subject_reference,
            "completed_at": completed_at,
            "sources": sources,
        }))
    }
}
