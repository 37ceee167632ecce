//! `/v1/audit/…`: the institution's hash-chained audit trail, for auditors.

use crate::api::ApiTags;
use crate::auth::TenantCredential;
use crate::problem::ApiError;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use hub_tenant::TenantError;
use hub_tenant::audit::{self, AuditEntry};
use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use std::sync::Arc;

/// One entry: who did what, to whom, when, from where.
#[derive(Debug, Clone, Object)]
pub struct AuditEntryView {
    /// Position in the chain, from 1.
    pub seq: i64,
    pub at: DateTime<Utc>,
    /// `api-key:<id> (<name>)`, `person:<id>`, `sign-in` or `system`.
    pub actor: String,
    /// e.g. `person.read`, `sign_in.succeeded`, `sign_in.failed`, `api_key.issued`.
    pub action: String,
    /// Whom or what it concerned, e.g. `person:<id>`.
    #[oai(nullable)]
    pub subject: Option<String>,
    /// Non-personal context (counts, roles, refusal codes).
    pub detail: serde_json::Value,
    /// Where the actor acted from (stored encrypted).
    #[oai(nullable)]
    pub ip_address: Option<String>,
    /// SHA-256 over this entry and the previous entry's hash.
    pub hash: String,
}

impl From<AuditEntry> for AuditEntryView {
    fn from(e: AuditEntry) -> Self {
        Self {
            seq: e.seq,
            at: e.at,
            actor: e.actor,
            action: e.action,
            subject: e.subject,
            detail: e.detail,
            ip_address: e.ip_address,
            hash: e.hash,
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct AuditPage {
    pub items: Vec<AuditEntryView>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

/// The result of recomputing the chain.
#[derive(Debug, Clone, Object)]
pub struct AuditVerification {
    /// Every entry matches its hash and links to its predecessor, and the head matches.
    pub intact: bool,
    pub entries_checked: i64,
    /// The first entry that was changed, removed or inserted out of order.
    #[oai(nullable)]
    pub first_broken_seq: Option<i64>,
    pub head_seq: i64,
    pub head_hash: String,
}

#[derive(ApiResponse)]
pub enum AuditListed {
    #[oai(status = 200)]
    Ok(Json<AuditPage>),
}

#[derive(ApiResponse)]
pub enum AuditVerified {
    #[oai(status = 200)]
    Ok(Json<AuditVerification>),
}

/// The largest page of audit entries (the spec declares it: crate::spec).
pub const MAX_AUDIT_PAGE: u64 = 500;

#[derive(Default)]
pub struct AuditApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Audit")]
impl AuditApi {
    /// Read the audit trail
    ///
    /// Requires scope `audit:read`. Oldest first, in pages; filter by `action` or `subject`.
    /// Entries carry the IP address each action came from.
    /// Returns other people's personal data: every call is recorded in the audit trail.
    #[oai(
        path = "/audit/events",
        method = "get",
        operation_id = "listAuditEvents"
    )]
    async fn list_audit_events(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
        /// Page size, 1–500 (default 100).
        limit: Query<Option<u64>>,
        /// Only entries with this action, e.g. `person.read`.
        action: Query<Option<String>>,
        /// Only entries about this subject, e.g. `person:<id>`.
        subject: Query<Option<String>>,
    ) -> Result<AuditListed, ApiError> {
        let after = match cursor.0.as_deref() {
            None => None,
            Some(text) => Some(text.parse::<i64>().map_err(|_| {
                ApiError::from(TenantError::invalid(
                    "cursor",
                    "not a cursor from this listing",
                ))
            })?),
        };
        let limit = limit.0.unwrap_or(100);
        if !(1..=MAX_AUDIT_PAGE).contains(&limit) {
            let message = format!("must be between 1 and {MAX_AUDIT_PAGE}");
            return Err(TenantError::invalid("limit", &message).into());
        }
        let scope = state.tenancy.scope(&auth.0).await?;
        let entries = audit::list(
            &scope,
            after,
            limit,
            action.0.as_deref(),
            subject.0.as_deref(),
        )
        .await?;
        scope.commit().await?;
        let next_cursor = (entries.len() as u64 == limit)
            .then(|| entries.last().map(|e| e.seq.to_string()))
            .flatten();
        Ok(AuditListed::Ok(Json(AuditPage {
            items: entries.into_iter().map(Into::into).collect(),
            next_cursor,
        })))
    }

    /// Verify the audit trail
    ///
    /// Requires scope `audit:read`. Recomputes every entry's hash and link from the first;
    /// reports the first entry that was changed or removed.
    #[oai(
        path = "/audit/verification",
        method = "get",
        operation_id = "verifyAuditTrail"
    )]
    async fn verify_audit_trail(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
    ) -> Result<AuditVerified, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let v = audit::verify(&scope).await?;
        scope.commit().await?;
        Ok(AuditVerified::Ok(Json(AuditVerification {
            intact: v.intact,
            entries_checked: v.entries_checked,
            first_broken_seq: v.first_broken_seq,
            head_seq: v.head_seq,
            head_hash: v.head_hash,
        })))
    }
}
