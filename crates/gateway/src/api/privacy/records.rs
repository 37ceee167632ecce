//! `/v1/privacy/records-of-processing`: the institution's record of processing activities
//! (GDPR Art. 30), generated from the sources' declarations, the retention profile and the
//! privacy addendum in force; JSON, or CSV with `?format=csv` or `Accept: text/csv`.

use crate::api::ApiTags;
use crate::api::privacy::addenda::SubprocessorView;
use crate::api::privacy::data_map::{CategoryView, PurposeView};
use crate::api::privacy_profile::RetentionActionView;
use crate::auth::TenantCredential;
use crate::problem::ApiError;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use hub_privacy_addenda::records::{
    Activity, LawfulBasis, Recipient, RecordOfProcessing, SecurityMeasure,
};
use poem::Request;
use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::payload::{Json, PlainText};
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, ResponseContent};
use std::sync::Arc;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum LawfulBasisView {
    /// GDPR Art. 6(1)(a).
    Consent,
    /// GDPR Art. 6(1)(b).
    Contract,
    /// GDPR Art. 6(1)(c).
    LegalObligation,
    /// GDPR Art. 6(1)(f).
    LegitimateInterests,
}

impl From<LawfulBasis> for LawfulBasisView {
    fn from(b: LawfulBasis) -> Self {
        match b {
            LawfulBasis::Consent => Self::Consent,
            LawfulBasis::Contract => Self::Contract,
            LawfulBasis::LegalObligation => Self::LegalObligation,
            LawfulBasis::LegitimateInterests => Self::LegitimateInterests,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum RecordFormat {
    Json,
    Csv,
}

/// How long an activity's data is kept: the retention profile's period and action for the
/// category (for fields of class `category_period`).
#[derive(Debug, Clone, Object)]
pub struct RetentionView {
    #[oai(nullable)]
    pub period_days: Option<u32>,
    /// `delete` or `anonymise`.
    #[oai(nullable)]
    pub action: Option<String>,
    /// The privacy addendum's maximum for the category.
    #[oai(nullable)]
    pub addendum_max_days: Option<u32>,
    /// Retention classes its fields declare.
    pub classes: Vec<String>,
}

/// One processing activity: a data category used for one purpose.
#[derive(Debug, Clone, Object)]
pub struct ActivityView {
    pub category: CategoryView,
    pub purpose: PurposeView,
    pub lawful_basis: LawfulBasisView,
    /// The article of the lawful basis (`GDPR Art. 6(1)(b)`).
    pub article: String,
    /// `table.column` of each field declared for it.
    pub fields: Vec<String>,
    pub sources: Vec<String>,
    pub retention: RetentionView,
    pub recipients: Vec<String>,
    pub security_measures: Vec<String>,
}

impl From<Activity> for ActivityView {
    fn from(a: Activity) -> Self {
        Self {
            category: a.category.into(),
            purpose: a.purpose.into(),
            lawful_basis: a.lawful_basis.into(),
            article: a.article.into(),
            fields: a.fields,
            sources: a.sources.into_iter().map(Into::into).collect(),
            retention: RetentionView {
                period_days: a.retention.period_days,
                action: a
                    .retention
                    .action
                    .map(|a| match RetentionActionView::from(a) {
                        RetentionActionView::Delete => "delete".to_string(),
                        RetentionActionView::Anonymise => "anonymise".to_string(),
                    }),
                addendum_max_days: a.retention.addendum_max_days,
                classes: a.retention.classes.into_iter().map(Into::into).collect(),
            },
            recipients: a.recipients.into_iter().map(Into::into).collect(),
            security_measures: a.security_measures.into_iter().map(Into::into).collect(),
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct RecipientView {
    pub name: String,
    /// The sources that send it data.
    pub sources: Vec<String>,
}

impl From<Recipient> for RecipientView {
    fn from(r: Recipient) -> Self {
        Self {
            name: r.name.into(),
            sources: r.sources.into_iter().map(Into::into).collect(),
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct SecurityMeasureView {
    /// `sealed_at_rest`, `blind_index`, `key_store_apart`, `tenant_isolation`,
    /// `audit_chain`.
    pub name: String,
    pub description: String,
    /// The fields or stores it covers.
    pub applies_to: Vec<String>,
}

impl From<SecurityMeasure> for SecurityMeasureView {
    fn from(m: SecurityMeasure) -> Self {
        Self {
            name: m.name.into(),
            description: m.description.into(),
            applies_to: m.applies_to,
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct ResidencyView {
    /// The cluster the institution's data lives on.
    pub cluster: String,
    /// The privacy addendum's allowed clusters; empty: no residency duty.
    pub allowed_clusters: Vec<String>,
}

/// The record of processing activities (GDPR Art. 30).
#[derive(Debug, Clone, Object)]
pub struct RecordOfProcessingView {
    pub tenant_id: Uuid,
    pub generated_at: DateTime<Utc>,
    /// The retention profile revision it reflects.
    pub profile_revision: i32,
    /// The privacy addendum version in force, if any.
    #[oai(nullable)]
    pub addendum_version: Option<i32>,
    pub activities: Vec<ActivityView>,
    pub recipients: Vec<RecipientView>,
    /// The sub-processors the addendum in force allows.
    pub subprocessors: Vec<SubprocessorView>,
    pub residency: ResidencyView,
    pub security_measures: Vec<SecurityMeasureView>,
}

impl From<RecordOfProcessing> for RecordOfProcessingView {
    fn from(r: RecordOfProcessing) -> Self {
        Self {
            tenant_id: r.tenant_id,
            generated_at: r.generated_at,
            profile_revision: r.profile_revision,
            addendum_version: r.addendum_version,
            activities: r.activities.into_iter().map(Into::into).collect(),
            recipients: r.recipients.into_iter().map(Into::into).collect(),
            subprocessors: r.subprocessors.into_iter().map(Into::into).collect(),
            residency: ResidencyView {
                cluster: r.residency.cluster,
                allowed_clusters: r.residency.allowed_clusters,
            },
            security_measures: r.security_measures.into_iter().map(Into::into).collect(),
        }
    }
}

#[derive(ResponseContent)]
pub enum RecordBody {
    Json(Json<RecordOfProcessingView>),
    /// One row per activity, the header first.
    #[oai(content_type = "text/csv")]
    Csv(PlainText<String>),
}

#[derive(ApiResponse)]
pub enum RecordFound {
    #[oai(status = 200)]
    Ok(RecordBody),
}

#[derive(Default)]
pub struct RecordsApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Privacy")]
impl RecordsApi {
    /// The institution's record of processing (GDPR Art. 30)
    ///
    /// Requires scope `privacy:manage`. One activity per data category and purpose the
    /// registered stores declare: its lawful basis, fields, retention (the profile's period,
    /// the addendum's maximum), recipients and security measures; with the addendum's
    /// sub-processors and residency. JSON, or CSV (one row per activity) with `format=csv`
    /// or `Accept: text/csv`.
    #[oai(
        path = "/privacy/records-of-processing",
        method = "get",
        operation_id = "getRecordOfProcessing"
    )]
    async fn get_record(
        &self,
        request: &Request,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        /// `json` (the default) or `csv`.
        format: Query<Option<RecordFormat>>,
    ) -> Result<RecordFound, ApiError> {
        let csv = match format.0 {
            Some(f) => f == RecordFormat::Csv,
            None => request
                .header("accept")
                .is_some_and(|a| a.contains("text/csv")),
        };
        let privacy = &state.privacy;
        let record = state
            .tenancy
            .read(&auth.0, move |scope| async move {
                privacy.record_of_processing(&scope).await
            })
            .await?;
        Ok(RecordFound::Ok(if csv {
            RecordBody::Csv(PlainText(record.to_csv()))
        } else {
            RecordBody::Json(Json(record.into()))
        }))
    }
}
