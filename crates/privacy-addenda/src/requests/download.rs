//! Export bundles fetched through a short-lived link: the person asks for a link to their
//! completed export; the link carries a random token (stored only as its SHA-256 digest,
//! valid [`DOWNLOAD_MINUTES`]) prefixed by the institution's id, so it opens in that
//! institution only: the token is looked up in that tenant's tables alone, and a token shown
//! with another institution's id finds nothing. The download is streamed from the
//! export's sealed parts ([`super::export`]), one part at a time: the JSON bundle (the
//! manifest first, then one array per source) or one source as CSV. The parts, and so the
//! link, serve [`super::export::KEEP_DAYS`] days after the export completed.

use super::entities::request;
use super::export::{EXPIRY_DEADLINE, ExportFormat, ExportStream, KEEP_DAYS};
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
        if row
            .completed_at
            .is_none_or(|at| at + Duration::days(KEEP_DAYS) <= self.now())
        {
            return Err(PrivacyError::Conflict {
                code: "export_expired",
                message: format!(
                    "the export's bundle is kept {KEEP_DAYS} days after it completed: make a new export request"
                ),
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
    /// and not expired: the whole JSON bundle, or (`source`) one source's part of it, as
    /// JSON or CSV (CSV needs a source). Checked, audited and planned here; the returned
    /// stream opens the parts as it is read.
    pub async fn download_export(
        &self,
        token: &str,
        format: ExportFormat,
        source: Option<&str>,
    ) -> Result<ExportDownload, PrivacyError> {
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
        let now = self.now();
        if row.download_expires_at.is_none_or(|at| at <= now) {
            return Err(PrivacyError::CodeRefused {
                code: "download_link_expired",
                message: "the link has expired: ask for a new one",
            });
        }
        if row
            .completed_at
            .is_none_or(|at| at + Duration::days(KEEP_DAYS) <= now)
        {
            return Err(export_expired());
        }
        let manifest = open_json(&scope, row.id, "result", &row.result_sealed)?.ok_or(not_found)?;
        let names: Vec<String> = manifest["sources"]
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|s| s["source"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let chosen = match (format, source) {
            (ExportFormat::Csv, None) => {
                return Err(PrivacyError::Invalid(vec![
                    hub_kernel::FieldViolation::new(
                        "source",
                        "CSV is written per source: name one of the bundle's sources",
                    ),
                ]));
            }
            (_, Some(name)) if !names.iter().any(|n| n == name) => {
                return Err(PrivacyError::Invalid(vec![
                    hub_kernel::FieldViolation::new(
                        "source",
                        format!("not a source of this export; one of: {}", names.join(", ")),
                    ),
                ]));
            }
            (_, Some(name)) => vec![name.to_string()],
            (_, None) => names,
        };
        hub_tenant::audit::record(
            &scope,
            hub_tenant::audit::AuditEvent::new("privacy_request.downloaded")
                .subject(format!("privacy_request:{}", row.id))
                .detail(serde_json::json!({
                    "format": match format { ExportFormat::Json => "json", ExportFormat::Csv => "csv" },
                    "source": source,
                })),
        )
        .await?;
        let stream = ExportStream::plan(
            &scope,
            self.tenancy.clone(),
            tenant,
            row.id,
            &manifest,
            &chosen,
            format,
        )
        .await?;
        scope.commit().await?;
        let filename = match (format, source) {
            (ExportFormat::Json, None) => "personal-data-export.json".to_string(),
            (ExportFormat::Json, Some(name)) => format!("personal-data-export-{name}.json"),
            (ExportFormat::Csv, name) => {
                format!("personal-data-export-{}.csv", name.unwrap_or_default())
            }
        };
        Ok(ExportDownload {
            format,
            filename,
            stream,
        })
    }

    /// Deletes the parts of exports completed [`KEEP_DAYS`] ago (their expiry deadlines
    /// due, on the requests' clock that `completed_at` and the link's checks read too);
    /// returns how many exports it expired.
    pub async fn expire_export_parts(&self) -> Result<usize, PrivacyError> {
        let due = self
            .tenancy
            .deadlines_due_by(EXPIRY_DEADLINE, self.now(), 20)
            .await?;
        let mut expired = 0;
        for deadline in due {
            if let Some(scope) = self.tenancy.job_scope(&deadline).await? {
                super::export::delete_parts(&scope, &[deadline.subject_id]).await?;
                scope.commit().await?;
            }
            self.tenancy
                .clear_deadline(deadline.tenant_id, EXPIRY_DEADLINE, deadline.subject_id)
                .await?;
            expired += 1;
        }
        Ok(expired)
    }
}

fn export_expired() -> PrivacyError {
    PrivacyError::CodeRefused {
        code: "export_expired",
        message: "the export's bundle is kept 7 days after it completed: make a new export request",
    }
}

/// A download ready to stream.
#[derive(Debug)]
pub struct ExportDownload {
    pub format: ExportFormat,
    /// The file name to offer (`personal-data-export.json`, `…-<source>.csv`).
    pub filename: String,
    pub stream: ExportStream,
}
