//! `/v1/privacy/data-map`: every registered store of personal data, what it holds and why,
//! generated from the sources' declarations.

use crate::api::ApiTags;
use crate::auth::TenantCredential;
use crate::problem::ApiError;
use crate::state::AppState;
use hub_kernel::classification::{DataCategory, FieldClassification, Purpose, RetentionClass};
use hub_privacy_addenda::data_map::SourceDescription;
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum CategoryView {
    Identity,
    Contact,
    Learning,
    Payment,
    Technical,
}

impl From<DataCategory> for CategoryView {
    fn from(c: DataCategory) -> Self {
        match c {
            DataCategory::Identity => Self::Identity,
            DataCategory::Contact => Self::Contact,
            DataCategory::Learning => Self::Learning,
            DataCategory::Payment => Self::Payment,
            DataCategory::Technical => Self::Technical,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum PurposeView {
    ServiceDelivery,
    EssentialCommunication,
    Security,
    LegalObligation,
    Personalisation,
}

impl From<Purpose> for PurposeView {
    fn from(p: Purpose) -> Self {
        match p {
            Purpose::ServiceDelivery => Self::ServiceDelivery,
            Purpose::EssentialCommunication => Self::EssentialCommunication,
            Purpose::Security => Self::Security,
            Purpose::LegalObligation => Self::LegalObligation,
            Purpose::Personalisation => Self::Personalisation,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum RetentionClassView {
    TenantLifetime,
    CategoryPeriod,
    Ephemeral,
}

impl From<RetentionClass> for RetentionClassView {
    fn from(r: RetentionClass) -> Self {
        match r {
            RetentionClass::TenantLifetime => Self::TenantLifetime,
            RetentionClass::CategoryPeriod => Self::CategoryPeriod,
            RetentionClass::Ephemeral => Self::Ephemeral,
        }
    }
}

/// One personal-data field of a source.
#[derive(Debug, Clone, Object)]
pub struct FieldView {
    pub table: String,
    pub column: String,
    pub category: CategoryView,
    pub purpose: PurposeView,
    pub retention: RetentionClassView,
    /// Identifies a person: stored only sealed under the institution's key.
    pub identifying: bool,
    /// The person may leave it empty.
    pub optional: bool,
    /// Kept because the law requires it (C9: purpose `legal_obligation`), whatever the
    /// person's consent.
    pub legal_obligation: bool,
}

impl From<FieldClassification> for FieldView {
    fn from(f: FieldClassification) -> Self {
        Self {
            table: f.table.into(),
            column: f.column.into(),
            category: f.category.into(),
            purpose: f.purpose.into(),
            retention: f.retention.into(),
            identifying: f.identifying,
            optional: f.optional,
            legal_obligation: f.purpose == Purpose::LegalObligation,
        }
    }
}

/// One store of personal data.
#[derive(Debug, Clone, Object)]
pub struct SourceView {
    /// The source's stable name, as requests and receipts name it.
    pub name: String,
    pub tables: Vec<String>,
    /// Prefixes of the Redis keys it keeps.
    pub redis_families: Vec<String>,
    /// Who outside the platform receives this data.
    pub recipients: Vec<String>,
    pub fields: Vec<FieldView>,
}

impl From<SourceDescription> for SourceView {
    fn from(s: SourceDescription) -> Self {
        Self {
            name: s.name.into(),
            tables: s.tables.into_iter().map(Into::into).collect(),
            redis_families: s.redis_families.into_iter().map(Into::into).collect(),
            recipients: s.recipients.into_iter().map(Into::into).collect(),
            fields: s.fields.into_iter().map(Into::into).collect(),
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct DataMap {
    /// Every source, in the order requests run them.
    pub sources: Vec<SourceView>,
}

#[derive(ApiResponse)]
pub enum DataMapFound {
    #[oai(status = 200)]
    Ok(Json<DataMap>),
}

#[derive(Default)]
pub struct DataMapApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Privacy")]
impl DataMapApi {
    /// The institution's personal-data map
    ///
    /// Requires scope `privacy:manage`. Every registered store of personal data: its tables,
    /// Redis key families and outside recipients, and each field's category, purpose and
    /// retention class. Generated from the stores' own declarations, the ones data-subject
    /// requests and retention run on.
    #[oai(
        path = "/privacy/data-map",
        method = "get",
        operation_id = "getPersonalDataMap"
    )]
    async fn get_data_map(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
    ) -> Result<DataMapFound, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let sources = state.privacy.data_map(&scope).await?;
        scope.commit().await?;
        Ok(DataMapFound::Ok(Json(DataMap {
            sources: sources.into_iter().map(Into::into).collect(),
        })))
    }
}
