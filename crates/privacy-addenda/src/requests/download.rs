//! Export bundles fetched through a short-lived link: the person asks for a link to their
//! completed export; the link carries a random token (stored only as its SHA-256 digest,
//! valid [`DOWNLOAD_MINUTES`]) prefixed by the institution's id, so it opens in that
//! institution only: the token is looked up in that tenant's tables alone, and a token shown
//! with another institution's id finds nothing. The bundle is JSON (one array per source);
//! CSV per source and streaming are not done yet.

use super::entities::request;
use super::{RequestKind, RequestStatus, open_json, subject_indexes};
use crate::{Privacy, PrivacyError};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration};
use hub_tenant::TenantError;
use hub_tenant::TenantScope;
use rand::RngCore;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// How long a download link works.
pub const DOWNLOAD_MINUTES: i64 = 15;

#[derive(Debug)]
pub struct DownloadLink {
    /// The token to put in the link (`/v1/privacy-downloads/{token}`), shown once.
    pub token: hub_kernel::Secret,
    pub expires_at: DateTime<chrono::Utc>,
}

fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(
        format!("dxh-privacy-download|{token}").as_bytes(),
    ))
}

impl Privacy {
    /// A new link to the signed-in person's completed export (the previous link stops
    /// working).
    pub async fn export_download_link(
        &self,
        scope: &TenantScope,
        id: Uuid,
    ) -> Result<DownloadLink, PrivacyError> {
        let person = scope
            .actor()
            .and_then(|a| a.person_id())
            .ok_or(PrivacyError::PersonOnly)?;
        let row = self.row(scope, id).await?;
        if !subject_indexes(scope, person).contains(&row.subject_index) {
            return Err(PrivacyError::NotFound("privacy request"));
        }
        if row.kind != RequestKind::Export.as_str()
            || row.status != RequestStatus::Complete.as_str()
            || row.result_sealed.is_none()
        {
            return Err(PrivacyError::Conflict {
                code: "export_not_ready",
                message: "only a completed export request has a bundle to download".into(),
            });
        }
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let token = format!("{}.{}", scope.tenant_id(), URL_SAFE_NO_PAD.encode(bytes));
        let expires_at = self.now() + Duration::minutes(DOWNLOAD_MINUTES);
        request::Entity::update_many()
            .col_expr(
                request::Column::DownloadHash,
                Expr::value(Some(digest(&token))),
            )
            .col_expr(
                request::Column::DownloadExpiresAt,
                Expr::value(Some(expires_at)),
            )
            .filter(request::Column::Id.eq(id))
            .exec(scope.db())
            .await?;
        hub_tenant::audit::record(
            scope,
            hub_tenant::audit::AuditEvent::new("privacy_request.download_link_made")
                .subject(format!("privacy_request:{id}")),
        )
        .await?;
        Ok(DownloadLink {
            token: hub_kernel::Secret::new(token),
            expires_at,
        })
    }

    /// The export bundle behind a download link, if the link is this institution's, known
    /// and not expired.
    pub async fn download_export(&self, token: &str) -> Result<serde_json::Value, PrivacyError> {
        let not_found = PrivacyError::NotFound("download link");
        let Some(tenant) = token
            .split_once('.')
            .and_then(|(t, _)| t.parse::<Uuid>().ok())
        else {
            return Err(not_found);
        };
        let tenant = match self.tenancy.active_tenant(tenant).await {
            Ok(t) => t,
            Err(TenantError::NotFound(_) | TenantError::Suspended) => return Err(not_found),
            Err(e) => return Err(e.into()),
        };
        let scope = self.tenancy.sign_in_scope(&tenant).await?;
        let Some(row) = request::Entity::find()
            .filter(request::Column::DownloadHash.eq(digest(token)))
            .one(scope.db())
            .await?
        else {
            return Err(not_found);
        };
        if row.download_expires_at.is_none_or(|at| at <= self.now()) {
            return Err(PrivacyError::CodeRefused {
                code: "download_link_expired",
                message: "the link has expired: ask for a new one",
            });
        }
        let bundle = open_json(&scope, row.id, "result", &row.result_sealed)?.ok_or(not_found)?;
        hub_tenant::audit::record(
            &scope,
            hub_tenant::audit::AuditEvent::new("privacy_request.downloaded")
                .subject(format!("privacy_request:{}", row.id)),
        )
        .await?;
        scope.commit().await?;
        Ok(bundle)
    }
}
