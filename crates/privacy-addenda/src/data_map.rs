//! What the institution holds about people and why, generated from the registered sources'
//! declarations (never written by hand): per source, its tables, Redis key families, outside
//! recipients, and each field's category, purpose and retention class. The access summary
//! (R1) and the record of processing (Art. 30) are built from it.

use crate::{PRIVACY_MANAGE, Privacy, PrivacyError};
use hub_kernel::classification::FieldClassification;
use hub_tenant::TenantScope;
use serde::Serialize;

/// One registered source as the data map shows it.
#[derive(Debug, Clone, Serialize)]
pub struct SourceDescription {
    pub name: &'static str,
    pub tables: Vec<&'static str>,
    pub redis_families: Vec<&'static str>,
    pub recipients: Vec<&'static str>,
    pub fields: Vec<FieldClassification>,
}

impl Privacy {
    /// Every registered personal-data source, in execution order. Requires `privacy:manage`.
    pub async fn data_map(
        &self,
        scope: &TenantScope,
    ) -> Result<Vec<SourceDescription>, PrivacyError> {
        scope.require(PRIVACY_MANAGE)?;
        let sources = self.tenancy.personal_data_sources()?;
        Ok(sources
            .iter()
            .map(|s| SourceDescription {
                name: s.name(),
                tables: s.tables().to_vec(),
                redis_families: s.redis_families().to_vec(),
                recipients: s.recipients().to_vec(),
                fields: s.fields(),
            })
            .collect())
    }
}
