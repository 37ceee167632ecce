//! `/v1/privacy-profile`: the institution's retention and reporting profile (D3) and the
//! history of its changes.

use crate::api::described::Described;
use crate::api::{ApiTags, etag, require_if_match};
use crate::auth::TenantCredential;
use crate::problem::ApiError;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use hub_kernel::DataCategory;
use hub_kernel::page::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
use hub_tenant::TenantError;
use hub_tenant::profile::{
    self, PrivacyProfile, ProfileChange, ReportCadence, ReportFormat, ReportKind, RetentionAction,
    RetentionRule, ScheduledReport, VersionedProfile,
};
use poem::web::Data;
use poem_openapi::param::{Header, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use std::sync::Arc;

macro_rules! mirror_enum {
    ($view:ident, $domain:ident, $($variant:ident),+) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
        #[oai(rename_all = "snake_case")]
        pub enum $view { $($variant),+ }
        impl From<$domain> for $view {
            fn from(v: $domain) -> Self { match v { $($domain::$variant => Self::$variant),+ } }
        }
        impl From<$view> for $domain {
            fn from(v: $view) -> Self { match v { $($view::$variant => Self::$variant),+ } }
        }
    };
}

mirror_enum!(RetentionActionView, RetentionAction, Delete, Anonymise);
mirror_enum!(
    ReportCadenceView,
    ReportCadence,
    Daily,
    Weekly,
    Monthly,
    Quarterly,
    Yearly
);
mirror_enum!(ReportFormatView, ReportFormat, Csv, Json);
mirror_enum!(
    ReportKindView,
    ReportKind,
    EnrollmentSummary,
    Completions,
    Certificates,
    Engagement,
    Accreditation,
    Usage,
    PrivacyRequests,
    RetentionActions,
    BillingHistory
);

/// How long one category of personal data is kept, and what happens after.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct RetentionRuleView {
    /// 1–36,500 days.
    pub period_days: u32,
    pub action: RetentionActionView,
}

/// One rule per data category.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct RetentionRules {
    /// Name, username, date of birth.
    pub identity: Described<RetentionRuleView>,
    /// Email, phone.
    pub contact: Described<RetentionRuleView>,
    /// Enrollments, progress, scores, activity, certificates.
    pub learning: Described<RetentionRuleView>,
    /// Payment confirmations, transaction ids, billing history.
    pub payment: Described<RetentionRuleView>,
    /// IP addresses, devices, session times.
    pub technical: Described<RetentionRuleView>,
}

/// A report produced on a schedule.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct ScheduledReportView {
    /// Unique within the profile, 1–100 characters.
    pub name: String,
    pub kind: ReportKindView,
    pub cadence: ReportCadenceView,
    pub format: ReportFormatView,
    /// What the report shows of its records (U5: the minimum needed): one dimension to
    /// break them down by (`course` or `cohort` for learning records, `area` for usage,
    /// `request_kind`, `category`), its class field (`state`, `time_to_complete`, `status`,
    /// `lessons_completed`, `actor_kind`, `outcome`), or both. Empty or absent: every table.
    /// Accreditation reports name at least one.
    #[oai(default, skip_serializing_if_is_empty, validator(max_items = 2))]
    pub fields: Vec<String>,
}

/// The profile as sent in an update.
#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct PrivacyProfileInput {
    pub retention: RetentionRules,
    /// Up to 20 scheduled reports.
    pub reports: Vec<ScheduledReportView>,
    /// The smallest count a report shows (C7), 2–100; default 5.
    #[oai(validator(minimum(value = "2"), maximum(value = "100")))]
    pub min_cell_size: Option<u32>,
}

/// The current profile.
#[derive(Debug, Clone, Object)]
pub struct PrivacyProfileView {
    pub retention: RetentionRules,
    pub reports: Vec<ScheduledReportView>,
    /// The smallest count a report shows (C7).
    pub min_cell_size: u32,
    pub revision: i32,
    pub updated_by: String,
    pub updated_at: DateTime<Utc>,
}

/// One change in the profile's history.
#[derive(Debug, Clone, Object)]
pub struct ProfileChangeView {
    pub revision: i32,
    pub retention: RetentionRules,
    pub reports: Vec<ScheduledReportView>,
    pub min_cell_size: u32,
    /// What changed against the previous revision.
    pub changes: Vec<String>,
    pub changed_by: String,
    pub changed_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Object)]
pub struct ProfileHistoryPage {
    /// Newest first.
    pub items: Vec<ProfileChangeView>,
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

fn rule_view(profile: &PrivacyProfile, category: DataCategory) -> Described<RetentionRuleView> {
    let rule = profile
        .retention
        .get(category.as_str())
        .cloned()
        .unwrap_or(RetentionRule {
            period_days: 0,
            action: RetentionAction::Delete,
        });
    Described(RetentionRuleView {
        period_days: rule.period_days,
        action: rule.action.into(),
    })
}

fn rules_of(profile: &PrivacyProfile) -> RetentionRules {
    RetentionRules {
        identity: rule_view(profile, DataCategory::Identity),
        contact: rule_view(profile, DataCategory::Contact),
        learning: rule_view(profile, DataCategory::Learning),
        payment: rule_view(profile, DataCategory::Payment),
        technical: rule_view(profile, DataCategory::Technical),
    }
}

fn reports_of(profile: &PrivacyProfile) -> Vec<ScheduledReportView> {
    profile
        .reports
        .iter()
        .map(|r| ScheduledReportView {
            name: r.name.clone(),
            kind: r.kind.into(),
            cadence: r.cadence.into(),
            format: r.format.into(),
            fields: r.fields.clone(),
        })
        .collect()
}

impl From<PrivacyProfileInput> for PrivacyProfile {
    fn from(input: PrivacyProfileInput) -> Self {
        let r = input.retention;
        let retention = [
            (DataCategory::Identity, r.identity),
            (DataCategory::Contact, r.contact),
            (DataCategory::Learning, r.learning),
            (DataCategory::Payment, r.payment),
            (DataCategory::Technical, r.technical),
        ]
        .into_iter()
        .map(|(c, Described(rule))| {
            (
                c.as_str().to_string(),
                RetentionRule {
                    period_days: rule.period_days,
                    action: rule.action.into(),
                },
            )
        })
        .collect();
        let reports = input
            .reports
            .into_iter()
            .map(|r| ScheduledReport {
                name: r.name,
                kind: r.kind.into(),
                cadence: r.cadence.into(),
                format: r.format.into(),
                fields: r.fields,
            })
            .collect();
        PrivacyProfile {
            retention,
            reports,
            min_cell_size: input
                .min_cell_size
                .unwrap_or(hub_tenant::reports::suppression::DEFAULT_MIN_CELL_SIZE),
        }
    }
}

impl Example for PrivacyProfileInput {
    fn example() -> Self {
        let defaults = PrivacyProfile::default();
        Self {
            retention: rules_of(&defaults),
            reports: reports_of(&defaults),
            min_cell_size: Some(defaults.min_cell_size),
        }
    }
}

impl From<VersionedProfile> for PrivacyProfileView {
    fn from(v: VersionedProfile) -> Self {
        Self {
            retention: rules_of(&v.profile),
            reports: reports_of(&v.profile),
            min_cell_size: v.profile.min_cell_size,
            revision: v.revision,
            updated_by: v.updated_by,
            updated_at: v.updated_at,
        }
    }
}

impl From<ProfileChange> for ProfileChangeView {
    fn from(c: ProfileChange) -> Self {
        Self {
            revision: c.revision,
            retention: rules_of(&c.profile),
            reports: reports_of(&c.profile),
            min_cell_size: c.profile.min_cell_size,
            changes: c.changes,
            changed_by: c.changed_by,
            changed_at: c.changed_at,
        }
    }
}

#[derive(ApiResponse)]
pub enum ProfileFound {
    #[oai(status = 200)]
    Ok(Json<PrivacyProfileView>, #[oai(header = "ETag")] String),
}

#[derive(ApiResponse)]
pub enum HistoryListed {
    #[oai(status = 200)]
    Ok(Json<ProfileHistoryPage>),
}

fn found(profile: VersionedProfile) -> ProfileFound {
    let tag = etag(profile.revision);
    ProfileFound::Ok(Json(profile.into()), tag)
}

#[derive(Default)]
pub struct PrivacyProfileApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::PrivacyProfile")]
impl PrivacyProfileApi {
    /// Get the retention and reporting profile
    ///
    /// Requires scope `tenant:admin`.
    #[oai(
        path = "/privacy-profile",
        method = "get",
        operation_id = "getPrivacyProfile"
    )]
    async fn get_privacy_profile(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
    ) -> Result<ProfileFound, ApiError> {
        let current = state
            .tenancy
            .read(&auth.0, |scope| async move { profile::get(&scope).await })
            .await?;
        Ok(found(current))
    }

    /// Replace the retention and reporting profile
    ///
    /// Requires scope `tenant:admin` and `If-Match` with the `ETag` last read. Every category
    /// needs a rule; each change is recorded in the history with who made it. A profile that
    /// breaks the privacy addendum in force (a period above its maximum for a category, a
    /// required report missing) is refused: 409 `addendum_duty_breached`, naming each field.
    #[oai(
        path = "/privacy-profile",
        method = "put",
        operation_id = "replacePrivacyProfile"
    )]
    async fn replace_privacy_profile(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        /// The `ETag` of the revision this change is based on.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        body: Json<PrivacyProfileInput>,
    ) -> Result<ProfileFound, ApiError> {
        let expected = require_if_match(if_match.0.as_deref())?;
        let scope = state.tenancy.scope(&auth.0).await?;
        let updated = state
            .tenancy
            .replace_privacy_profile(&scope, body.0.into(), expected)
            .await?;
        scope.commit().await?;
        Ok(found(updated))
    }

    /// List the profile's history
    ///
    /// Requires scope `tenant:admin`. Newest first: who changed what, when.
    #[oai(
        path = "/privacy-profile/history",
        method = "get",
        operation_id = "listPrivacyProfileHistory"
    )]
    async fn list_privacy_profile_history(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        /// Cursor from the previous page's `next_cursor`.
        cursor: Query<Option<String>>,
        /// Page size, 1–200 (default 50).
        limit: Query<Option<u64>>,
    ) -> Result<HistoryListed, ApiError> {
        let limit = limit.0.unwrap_or(DEFAULT_PAGE_SIZE);
        if !(1..=MAX_PAGE_SIZE).contains(&limit) {
            return Err(TenantError::BadPage(hub_kernel::page::PageError::BadLimit).into());
        }
        let before = match cursor.0.as_deref() {
            None | Some("") => None,
            Some(text) => Some(text.parse::<i32>().map_err(|_| {
                ApiError::from(TenantError::BadPage(hub_kernel::page::PageError::BadCursor))
            })?),
        };
        let (items, next) = state
            .tenancy
            .read(&auth.0, move |scope| async move {
                profile::history(&scope, before, limit).await
            })
            .await?;
        Ok(HistoryListed::Ok(Json(ProfileHistoryPage {
            items: items.into_iter().map(Into::into).collect(),
            next_cursor: next.map(|r| r.to_string()),
        })))
    }
}
