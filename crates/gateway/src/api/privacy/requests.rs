//! `/v1/privacy-requests` and `/v1/me/privacy-requests`: data-subject requests (R1–R7, L1),
//! made by the person or by a privacy officer on their behalf, verified, decided and run
//! per personal-data source.

use crate::api::privacy::consent::ConsentPurposeView;
use crate::api::privacy::export_bundle::{Bundle, BundleBody, DownloadFormat, Streamed};
use crate::api::{ApiTags, page_request};
use crate::auth::TenantCredential;
use crate::problem::ApiError;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use hub_kernel::Pii;
use hub_privacy_addenda::requests::clock::DueView;
use hub_privacy_addenda::requests::effects::RequestedCorrection;
use hub_privacy_addenda::requests::export::ExportFormat;
use hub_privacy_addenda::requests::{
    Jurisdiction, NewRequest, PrivacyRequest, RequestFilter, RequestKind, RequestStatus,
    RequestTask, TaskStatus,
};
use hub_tenant::personal_data::{CorrectableField, Correction};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use std::sync::Arc;
use uuid::Uuid;

macro_rules! view_enum {
    ($view:ident, $domain:ident { $($variant:ident),+ $(,)? }) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
        #[oai(rename_all = "snake_case")]
        pub enum $view { $($variant),+ }

        impl From<$domain> for $view {
            fn from(v: $domain) -> Self {
                match v { $($domain::$variant => Self::$variant),+ }
            }
        }

        impl From<$view> for $domain {
            fn from(v: $view) -> Self {
                match v { $($view::$variant => Self::$variant),+ }
            }
        }
    };
}

view_enum!(
    RequestKindView,
    RequestKind {
        Access,
        Export,
        Rectification,
        Erasure,
        Restriction,
        Objection,
        Concern
    }
);
view_enum!(
    RequestStatusView,
    RequestStatus {
        IdentityUnverified,
        PendingApproval,
        Approved,
        Denied,
        InProgress,
        Complete,
        Error
    }
);
view_enum!(
    TaskStatusView,
    TaskStatus {
        Pending,
        Done,
        Failed,
        Skipped
    }
);
view_enum!(
    JurisdictionView,
    Jurisdiction {
        Eu,
        Uk,
        UsCa,
        Other
    }
);

view_enum!(CorrectableFieldView, CorrectableField { Email, Username });

/// A correction a rectification asks for: a field of the person's record they cannot edit
/// themselves (their IdP or admin sets it; name, phone and birth date they correct at
/// `/v1/me/profile`), with the value it should hold. Applied on approval, through the
/// record's own rules (an email or username another person has is refused then, with 409).
#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct CorrectionInput {
    /// `email` or `username` (another name: 422).
    pub field: String,
    /// The value the field should hold: an email address (at most 254 characters), or a
    /// username (1–100 characters, no spaces).
    pub value: String,
}

impl Example for CorrectionInput {
    fn example() -> Self {
        Self {
            field: "email".into(),
            value: "ada.lovelace@example.edu".into(),
        }
    }
}

/// A correction of a rectification request, shown to the person and privacy officers.
#[derive(Debug, Clone, Object)]
pub struct CorrectionView {
    pub field: CorrectableFieldView,
    pub value: String,
}

impl From<Correction> for CorrectionView {
    fn from(c: Correction) -> Self {
        Self {
            field: c.field.into(),
            value: c.value.expose().clone(),
        }
    }
}

fn requested(corrections: Vec<CorrectionInput>) -> Vec<RequestedCorrection> {
    corrections
        .into_iter()
        .map(|c| RequestedCorrection {
            field: c.field,
            value: Pii::new(c.value),
        })
        .collect()
}

/// Which clock listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum DueViewParam {
    /// Open requests past their due date.
    Overdue,
    /// Open requests due within 7 days.
    DueSoon,
}

/// A request the signed-in person makes about their own data, or a concern (`kind:
/// concern`, its text in `details`, required). `jurisdiction`: whose law adds its rules to
/// the clock (every right is accepted whatever it is); default the institution's
/// (`GET /v1/privacy/contact`; `other` unless it names one).
#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct OwnPrivacyRequestCreate {
    pub kind: RequestKindView,
    #[oai(skip_serializing_if_is_none)]
    pub jurisdiction: Option<JurisdictionView>,
    /// What to correct, what processing is objected to, anything to add (at most 2000
    /// characters).
    #[oai(skip_serializing_if_is_none)]
    pub details: Option<String>,
    /// For a restriction: lift it (resume processing) instead (default false).
    #[oai(default)]
    pub lift_restriction: bool,
    /// For an objection (required, at least one; other kinds: 422): the purposes objected
    /// to, each once: `analytics`, `personalisation`, `marketing`, `integrations`
    /// (`essential`: 422). Each is withdrawn in the consent ledger (source `objection`):
    /// `marketing` as soon as the request's identity is verified (direct marketing is an
    /// unconditional objection), the others on approval.
    #[oai(default)]
    pub purposes: Vec<ConsentPurposeView>,
    /// For a rectification only (other kinds: 422): corrections of email or username, each
    /// field once, applied on approval. Without them a rectification is the officer's to
    /// handle from `details`.
    #[oai(default)]
    pub corrections: Vec<CorrectionInput>,
}

impl Example for OwnPrivacyRequestCreate {
    fn example() -> Self {
        Self {
            kind: RequestKindView::Objection,
            jurisdiction: Some(JurisdictionView::Eu),
            details: None,
            lift_restriction: false,
            purposes: vec![ConsentPurposeView::Marketing, ConsentPurposeView::Analytics],
            corrections: Vec::new(),
        }
    }
}

/// A request made on a person's behalf.
#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct PrivacyRequestCreate {
    /// The person the request is about; a one-time code is sent to them to verify it.
    pub person_id: Uuid,
    pub kind: RequestKindView,
    #[oai(skip_serializing_if_is_none)]
    pub jurisdiction: Option<JurisdictionView>,
    #[oai(skip_serializing_if_is_none)]
    pub details: Option<String>,
    /// For a restriction: lift it (resume processing) instead (default false).
    #[oai(default)]
    pub lift_restriction: bool,
    /// For an objection (as on `POST /v1/me/privacy-requests`): `marketing` is withdrawn
    /// when the person confirms the code, the others on approval.
    #[oai(default)]
    pub purposes: Vec<ConsentPurposeView>,
    /// For a rectification (as on `POST /v1/me/privacy-requests`).
    #[oai(default)]
    pub corrections: Vec<CorrectionInput>,
}

impl Example for PrivacyRequestCreate {
    fn example() -> Self {
        Self {
            person_id: Uuid::nil(),
            kind: RequestKindView::Rectification,
            jurisdiction: Some(JurisdictionView::UsCa),
            details: Some("My email changed when I married.".into()),
            lift_restriction: false,
            purposes: Vec::new(),
            corrections: vec![CorrectionInput::example()],
        }
    }
}

/// A privacy officer's response to a concern, told to the person.
#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct ConcernResponseInput {
    /// At most 4000 characters.
    pub response: String,
}

impl Example for ConcernResponseInput {
    fn example() -> Self {
        Self {
            response: "We reviewed the recording settings and no longer keep lecture \
                       recordings beyond the term."
                .into(),
        }
    }
}

#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct VerificationInput {
    /// The code sent to the person.
    pub code: String,
}

impl Example for VerificationInput {
    fn example() -> Self {
        Self {
            code: "04815162".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum Decision {
    Approve,
    Deny,
}

#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct DecisionInput {
    pub decision: Decision,
    /// Told to the person (at most 1000 characters).
    pub reason: String,
}

impl Example for DecisionInput {
    fn example() -> Self {
        Self {
            decision: Decision::Approve,
            reason: "Identity verified; no legal hold applies.".into(),
        }
    }
}

#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct ExtensionInput {
    /// Days added to the deadline (in total at most 60 for `eu`/`uk`, 45 for `us_ca`, none
    /// for `other`).
    pub days: u32,
    /// Told to the person (at most 1000 characters).
    pub reason: String,
}

impl Example for ExtensionInput {
    fn example() -> Self {
        Self {
            days: 30,
            reason: "The request covers records held by several departments.".into(),
        }
    }
}

/// A request's clock.
#[derive(Debug, Clone, Object)]
pub struct ClockView {
    /// When the request is due: 30 days after receipt, moved by the time identity
    /// verification took, plus any extension. While verification is pending, the due date
    /// if it were verified now.
    pub due_at: DateTime<Utc>,
    /// Identity verification is pending: the clock does not run.
    pub paused: bool,
    pub extended_days: i32,
    /// Days the jurisdiction still allows extending by.
    pub extension_days_left: i64,
    pub overdue: bool,
    /// Due within 7 days.
    pub due_soon: bool,
}

/// One source's task of a request.
#[derive(Debug, Clone, Object)]
pub struct TaskView {
    /// The personal-data source (as the data map names it).
    pub source: String,
    pub status: TaskStatusView,
    pub attempts: i32,
    /// What the source did (counts, `deleted`/`anonymised`/`not_applicable`, a skip reason).
    #[oai(nullable)]
    pub outcome: Option<serde_json::Value>,
    #[oai(nullable)]
    pub error: Option<String>,
    pub updated_at: DateTime<Utc>,
}

impl From<RequestTask> for TaskView {
    fn from(t: RequestTask) -> Self {
        Self {
            source: t.source,
            status: t.status.into(),
            attempts: t.attempts,
            outcome: t.outcome,
            error: t.error,
            updated_at: t.updated_at,
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct PrivacyRequestView {
    pub id: Uuid,
    pub kind: RequestKindView,
    pub status: RequestStatusView,
    /// A restriction request that lifts the restriction.
    pub lift_restriction: bool,
    pub jurisdiction: JurisdictionView,
    /// `null` once an erasure completed: the request keeps no identity beyond the receipt.
    #[oai(nullable)]
    pub person_id: Option<Uuid>,
    #[oai(nullable)]
    pub details: Option<String>,
    /// An objection's purposes (empty for other kinds).
    pub purposes: Vec<ConsentPurposeView>,
    /// A rectification's corrections (empty for other kinds).
    pub corrections: Vec<CorrectionView>,
    pub submitted_by: String,
    /// Made by an officer on the person's behalf (verified by code).
    pub on_behalf: bool,
    pub received_at: DateTime<Utc>,
    #[oai(nullable)]
    pub verified_at: Option<DateTime<Utc>>,
    pub clock: ClockView,
    #[oai(nullable)]
    pub extension_reason: Option<String>,
    #[oai(nullable)]
    pub decided_by: Option<String>,
    #[oai(nullable)]
    pub decided_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub decision_reason: Option<String>,
    #[oai(nullable)]
    pub completed_at: Option<DateTime<Utc>>,
    /// The access summary (per source: categories, purposes, retention, recipients, record
    /// counts, what is kept because a law requires it, and `schema_scan`: the rows of its
    /// declared tables where a scan of the live schema finds the person, and whether its own
    /// count `agrees`, covering at least those; and, for the whole summary, `schema_scan`:
    /// `found`, every `{table, column, rows, source}` the scan finds, and `unclaimed`, any
    /// table no source declares) or the export's manifest (the same per source, its records
    /// being downloaded through a link), once complete. An objection's: `purposes`, each with
    /// `withdrawn`, `applied_on` (`verification` or `approval`), `recorded_at` and the
    /// `consent_record_id` of the withdrawal. An approved rectification's: `corrected`, the
    /// fields changed.
    #[oai(nullable)]
    pub result: Option<serde_json::Value>,
    /// An erasure's receipt: per source what was erased, anonymised or kept and why.
    #[oai(nullable)]
    pub receipt: Option<serde_json::Value>,
    /// One per personal-data source, in the order they run.
    pub tasks: Vec<TaskView>,
}

impl From<PrivacyRequest> for PrivacyRequestView {
    fn from(r: PrivacyRequest) -> Self {
        Self {
            id: r.id,
            kind: r.kind.into(),
            status: r.status.into(),
            lift_restriction: r.lift_restriction,
            jurisdiction: r.jurisdiction.into(),
            person_id: r.person_id,
            details: r.details.map(|d| d.expose().clone()),
            purposes: r.purposes.into_iter().map(Into::into).collect(),
            corrections: r.corrections.into_iter().map(Into::into).collect(),
            submitted_by: r.submitted_by,
            on_behalf: r.on_behalf,
            received_at: r.received_at,
            verified_at: r.verified_at,
            clock: ClockView {
                due_at: r.clock.due_at,
                paused: r.clock.paused,
                extended_days: r.clock.extended_days,
                extension_days_left: r.clock.extension_days_left,
                overdue: r.clock.overdue,
                due_soon: r.clock.due_soon,
            },
            extension_reason: r.extension_reason,
            decided_by: r.decided_by,
            decided_at: r.decided_at,
            decision_reason: r.decision_reason,
            completed_at: r.completed_at,
            result: r.result,
            receipt: r.receipt,
            tasks: r.tasks.into_iter().map(Into::into).collect(),
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct PrivacyRequestPage {
    pub items: Vec<PrivacyRequestView>,
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

#[derive(ApiResponse)]
pub enum RequestCreated {
    #[oai(status = 201)]
    Created(Json<PrivacyRequestView>, #[oai(header = "Location")] String),
}

#[derive(ApiResponse)]
pub enum RequestFound {
    #[oai(status = 200)]
    Ok(Json<PrivacyRequestView>),
}

#[derive(ApiResponse)]
pub enum RequestsListed {
    #[oai(status = 200)]
    Ok(Json<PrivacyRequestPage>),
}

fn found(request: PrivacyRequest) -> RequestFound {
    RequestFound::Ok(Json(request.into()))
}

fn page_of(page: hub_kernel::page::Page<PrivacyRequest>) -> RequestsListed {
    RequestsListed::Ok(Json(PrivacyRequestPage {
        items: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Runs what the commit just made due (an approval's tasks, a retried task) without waiting
/// for the next sweep.
fn run_soon(state: &Arc<AppState>) {
    let state = state.clone();
    tokio::spawn(async move {
        if let Err(error) = state.privacy.run_due_requests().await {
            tracing::warn!(%error, "running privacy requests failed; the sweep retries");
        }
    });
}

/// A short-lived link to a completed export's bundle.
#[derive(Debug, Clone, Object)]
pub struct DownloadLinkView {
    /// `GET` it without a credential; it works in this institution only, until `expires_at`.
    pub url: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(ApiResponse)]
pub enum LinkCreated {
    #[oai(status = 201)]
    Created(Json<DownloadLinkView>),
}

#[derive(Default)]
pub struct RequestsApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Privacy")]
impl RequestsApi {
    /// Make a privacy request about your own data
    ///
    /// Any signed-in person, whatever their roles. Not available to API keys. Access, export, rectification, erasure,
    /// restriction or objection, or a concern (`kind: concern`, the text in `details`,
    /// answered by a privacy officer); the session verifies the identity, so it waits for a
    /// privacy officer's decision at once. Due 30 days after receipt (plus what the
    /// jurisdiction allows a privacy officer to extend by). An objection names its
    /// `purposes`: an objection to `marketing` is withdrawn in the consent ledger at once, the
    /// other purposes on approval. A rectification may carry `corrections` of email or
    /// username, applied on approval.
    #[oai(
        path = "/me/privacy-requests",
        method = "post",
        operation_id = "submitOwnPrivacyRequest"
    )]
    async fn submit_own(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        body: Json<OwnPrivacyRequestCreate>,
    ) -> Result<RequestCreated, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let request = state
            .privacy
            .submit_own_request(
                &scope,
                NewRequest {
                    kind: body.0.kind.into(),
                    jurisdiction: body.0.jurisdiction.map(Into::into),
                    details: body.0.details.map(Pii::new),
                    lift_restriction: body.0.lift_restriction,
                    purposes: body.0.purposes.into_iter().map(Into::into).collect(),
                    corrections: requested(body.0.corrections),
                },
            )
            .await?;
        scope.commit().await?;
        let location = format!("/v1/me/privacy-requests/{}", request.id);
        Ok(RequestCreated::Created(Json(request.into()), location))
    }

    /// List your own privacy requests
    ///
    /// Any signed-in person, whatever their roles. Not available to API keys.
    #[oai(
        path = "/me/privacy-requests",
        method = "get",
        operation_id = "listOwnPrivacyRequests"
    )]
    async fn list_own(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        /// Cursor from the previous page's `next_cursor`.
        cursor: Query<Option<String>>,
        /// Page size, 1–200 (default 50).
        limit: Query<Option<u64>>,
    ) -> Result<RequestsListed, ApiError> {
        let page = page_request(cursor.0.as_deref(), limit.0)?;
        let scope = state.tenancy.scope(&auth.0).await?;
        let listed = state.privacy.own_privacy_requests(&scope, &page).await?;
        scope.commit().await?;
        Ok(page_of(listed))
    }

    /// Get one of your own privacy requests
    ///
    /// Any signed-in person, whatever their roles. Not available to API keys. With its result once complete: the access
    /// summary, the export bundle or the erasure receipt.
    #[oai(
        path = "/me/privacy-requests/:request_id",
        method = "get",
        operation_id = "getOwnPrivacyRequest"
    )]
    async fn get_own(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        request_id: Path<Uuid>,
    ) -> Result<RequestFound, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let request = state
            .privacy
            .own_privacy_request(&scope, request_id.0)
            .await?;
        scope.commit().await?;
        Ok(found(request))
    }

    /// Get a download link for your export
    ///
    /// Any signed-in person, whatever their roles. Not available to API keys. For a
    /// completed export request: a link valid 15 minutes, in this institution only (a new
    /// link replaces the previous one).
    #[oai(
        path = "/me/privacy-requests/:request_id/download-link",
        method = "post",
        operation_id = "createExportDownloadLink"
    )]
    async fn download_link(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        request_id: Path<Uuid>,
    ) -> Result<LinkCreated, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let link = state
            .privacy
            .export_download_link(&scope, request_id.0)
            .await?;
        scope.commit().await?;
        Ok(LinkCreated::Created(Json(DownloadLinkView {
            url: format!("/v1/privacy-downloads/{}", link.token.expose()),
            expires_at: link.expires_at,
        })))
    }

    /// Download an export bundle
    ///
    /// No credential: the link's token is the credential (valid 15 minutes, in the
    /// institution that made it only). Streamed from the export's sealed parts: JSON (the
    /// default), a manifest first (per source: records, categories, purposes, retention, and
    /// what is kept because a law requires it), then one array of records per personal-data
    /// source; with `source`, only that source. `format=csv` writes one source (`source` is
    /// then required) as CSV: a header row of its flattened columns, then one row per record.
    #[oai(
        path = "/privacy-downloads/:token",
        method = "get",
        operation_id = "downloadExportBundle"
    )]
    async fn download(
        &self,
        state: Data<&Arc<AppState>>,
        token: Path<String>,
        /// `json` (the default) or `csv`.
        format: Query<Option<DownloadFormat>>,
        /// One source of the bundle, by name (as its manifest lists them); required for CSV.
        source: Query<Option<String>>,
    ) -> Result<Bundle, ApiError> {
        let format = match format.0 {
            Some(DownloadFormat::Csv) => ExportFormat::Csv,
            Some(DownloadFormat::Json) | None => ExportFormat::Json,
        };
        let download = state
            .privacy
            .download_export(&token.0, format, source.0.as_deref())
            .await?;
        let disposition = format!("attachment; filename=\"{}\"", download.filename);
        let body = match download.format {
            ExportFormat::Json => BundleBody::Json(Streamed(download.stream)),
            ExportFormat::Csv => BundleBody::Csv(Streamed(download.stream)),
        };
        Ok(Bundle::Ok(body, disposition, "no-store".into()))
    }

    /// Make a privacy request on a person's behalf
    ///
    /// Requires scope `privacy:manage`. The request waits for identity verification: a
    /// one-time code (valid 24 hours, 5 attempts) is sent to the person through the
    /// essential channel, and the clock is paused until it is given back. An objection's
    /// `marketing` purpose is withdrawn once the code is confirmed.
    #[oai(
        path = "/privacy-requests",
        method = "post",
        operation_id = "createPrivacyRequest"
    )]
    async fn create(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        body: Json<PrivacyRequestCreate>,
    ) -> Result<RequestCreated, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let request = state
            .privacy
            .submit_request_for(
                &scope,
                body.0.person_id,
                NewRequest {
                    kind: body.0.kind.into(),
                    jurisdiction: body.0.jurisdiction.map(Into::into),
                    details: body.0.details.map(Pii::new),
                    lift_restriction: body.0.lift_restriction,
                    purposes: body.0.purposes.into_iter().map(Into::into).collect(),
                    corrections: requested(body.0.corrections),
                },
            )
            .await?;
        scope.commit().await?;
        let location = format!("/v1/privacy-requests/{}", request.id);
        Ok(RequestCreated::Created(Json(request.into()), location))
    }

    /// List privacy requests
    ///
    /// Requires scope `privacy:manage`. Oldest first; `clock=overdue` and `clock=due_soon`
    /// are the officers' alert lists (open requests past due, or due within 7 days; a
    /// request whose verification is pending has no running clock and is in neither).
    #[oai(
        path = "/privacy-requests",
        method = "get",
        operation_id = "listPrivacyRequests"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        /// Cursor from the previous page's `next_cursor`.
        cursor: Query<Option<String>>,
        /// Page size, 1–200 (default 50).
        limit: Query<Option<u64>>,
        status: Query<Option<RequestStatusView>>,
        kind: Query<Option<RequestKindView>>,
        /// Open requests with a running clock due before this time.
        due_before: Query<Option<DateTime<Utc>>>,
        clock: Query<Option<DueViewParam>>,
    ) -> Result<RequestsListed, ApiError> {
        let page = page_request(cursor.0.as_deref(), limit.0)?;
        let filter = RequestFilter {
            status: status.0.map(Into::into),
            kind: kind.0.map(Into::into),
            due_before: due_before.0,
            view: clock.0.map(|c| match c {
                DueViewParam::Overdue => DueView::Overdue,
                DueViewParam::DueSoon => DueView::DueSoon,
            }),
        };
        let scope = state.tenancy.scope(&auth.0).await?;
        let listed = state
            .privacy
            .privacy_requests(&scope, &page, &filter)
            .await?;
        scope.commit().await?;
        Ok(page_of(listed))
    }

    /// Get a privacy request
    ///
    /// Requires scope `privacy:manage`. With its clock and each source's task.
    #[oai(
        path = "/privacy-requests/:request_id",
        method = "get",
        operation_id = "getPrivacyRequest"
    )]
    async fn get(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        request_id: Path<Uuid>,
    ) -> Result<RequestFound, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let request = state.privacy.privacy_request(&scope, request_id.0).await?;
        scope.commit().await?;
        Ok(found(request))
    }

    /// Verify a privacy request's identity
    ///
    /// Requires scope `privacy:manage`. With the code the person received; a wrong code
    /// counts (5 attempts), an expired one is refused. The clock resumes, the due date moved
    /// by the time verification took. An objection to `marketing` takes effect now.
    #[oai(
        path = "/privacy-requests/:request_id/verification",
        method = "post",
        operation_id = "verifyPrivacyRequest"
    )]
    async fn verify(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        request_id: Path<Uuid>,
        body: Json<VerificationInput>,
    ) -> Result<RequestFound, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        match state
            .privacy
            .verify_request(&scope, request_id.0, &body.0.code)
            .await
        {
            Ok(request) => {
                scope.commit().await?;
                Ok(found(request))
            }
            Err(error) => {
                // A refused code is a recorded attempt: it counts, nothing else changes.
                if error.code_counts() {
                    scope.commit().await?;
                }
                Err(error.into())
            }
        }
    }

    /// Decide a privacy request
    ///
    /// Requires scope `privacy:manage`. Approve or deny, with a reason told to the person;
    /// nobody decides a request about themselves. Approval of an access, export, erasure or
    /// restriction starts one task per personal-data source, run in the background; approval
    /// of an objection withdraws its other purposes, of a rectification applies its
    /// corrections (all or none: a value another person holds, or a restricted person's
    /// record, is refused with 409 and the request stays pending), and completes it. A
    /// denial leaves the person's consent and record as they were.
    #[oai(
        path = "/privacy-requests/:request_id/decision",
        method = "post",
        operation_id = "decidePrivacyRequest"
    )]
    async fn decide(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        request_id: Path<Uuid>,
        body: Json<DecisionInput>,
    ) -> Result<RequestFound, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let request = state
            .privacy
            .decide_request(
                &scope,
                request_id.0,
                body.0.decision == Decision::Approve,
                &body.0.reason,
            )
            .await?;
        scope.commit().await?;
        run_soon(&state);
        Ok(found(request))
    }

    /// Respond to a privacy concern
    ///
    /// Requires scope `privacy:manage`. Closes a verified concern (kind `concern`) with a
    /// response told to the person; nobody answers a concern of their own. Other kinds are
    /// decided instead.
    #[oai(
        path = "/privacy-requests/:request_id/response",
        method = "post",
        operation_id = "respondToPrivacyConcern"
    )]
    async fn respond(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        request_id: Path<Uuid>,
        body: Json<ConcernResponseInput>,
    ) -> Result<RequestFound, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let request = state
            .privacy
            .respond_to_concern(&scope, request_id.0, &body.0.response)
            .await?;
        scope.commit().await?;
        Ok(found(request))
    }

    /// Extend a privacy request's deadline
    ///
    /// Requires scope `privacy:manage`. Within what the jurisdiction allows (GDPR/UK: up to
    /// two further months; CCPA: one further 45 days; otherwise none), the reason told to
    /// the person.
    #[oai(
        path = "/privacy-requests/:request_id/extension",
        method = "post",
        operation_id = "extendPrivacyRequest"
    )]
    async fn extend(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        request_id: Path<Uuid>,
        body: Json<ExtensionInput>,
    ) -> Result<RequestFound, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let request = state
            .privacy
            .extend_request(&scope, request_id.0, body.0.days, &body.0.reason)
            .await?;
        scope.commit().await?;
        Ok(found(request))
    }

    /// Retry one failed task of a privacy request
    ///
    /// Requires scope `privacy:manage`. Runs that source's task again, alone: the tasks
    /// that succeeded are never run again.
    #[oai(
        path = "/privacy-requests/:request_id/tasks/:source/retry",
        method = "post",
        operation_id = "retryPrivacyRequestTask"
    )]
    async fn retry(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        request_id: Path<Uuid>,
        source: Path<String>,
    ) -> Result<RequestFound, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let request = state
            .privacy
            .retry_task(&scope, request_id.0, &source.0)
            .await?;
        scope.commit().await?;
        run_soon(&state);
        Ok(found(request))
    }
}
