//! The privacy office's records as report populations (R6, S4 through D3's reporting
//! profile): data-subject requests received in a period by kind and where they stand, and
//! the retention sweeper's work in a period by data category and outcome. Counts only; the
//! suppression of `hub_tenant::reports` decides what is shown.

use crate::requests::entities::request;
use crate::requests::{RequestKind, RequestStatus};
use crate::retention::Step;
use crate::retention::entity::run;
use hub_tenant::TenantError;
use hub_tenant::TenantScope;
use hub_tenant::profile::ReportKind;
use hub_tenant::reports::disclosure::Population;
use hub_tenant::reports::period::Period;
use hub_tenant::reports::producer::ReportProducer;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};

pub fn producers() -> Vec<Box<dyn ReportProducer>> {
    vec![Box::new(PrivacyRequests), Box::new(RetentionActions)]
}

/// Requests received in the period, by kind, against their status now.
pub struct PrivacyRequests;

#[async_trait::async_trait]
impl ReportProducer for PrivacyRequests {
    fn population(&self) -> &'static str {
        "privacy_requests"
    }
    fn kinds(&self) -> &'static [ReportKind] {
        &[ReportKind::PrivacyRequests]
    }
    fn dimensions(&self) -> &'static [&'static str] {
        &["request_kind"]
    }
    fn class_field(&self) -> &'static str {
        "status"
    }
    async fn count(&self, scope: &TenantScope, period: &Period) -> Result<Population, TenantError> {
        let mut counted = Population::new(
            vec!["request_kind"],
            "status",
            RequestStatus::ALL
                .iter()
                .map(|s| s.as_str().to_string())
                .collect(),
        );
        let rows: Vec<(String, String)> = request::Entity::find()
            .select_only()
            .column(request::Column::Kind)
            .column(request::Column::Status)
            .filter(request::Column::ReceivedAt.gte(period.start))
            .filter(request::Column::ReceivedAt.lt(period.end))
            .into_tuple()
            .all(scope.db())
            .await?;
        for (kind, status) in rows {
            if let (Some(kind), Some(class)) = (RequestKind::parse(&kind), counted.class(&status)) {
                counted.add(vec![kind.as_str().to_string()], class, 1);
            }
        }
        Ok(counted)
    }
}

const OUTCOMES: &[&str] = &["deleted", "anonymised"];

/// Records deleted or anonymised by the retention runs started in the period, by data
/// category and outcome.
pub struct RetentionActions;

#[async_trait::async_trait]
impl ReportProducer for RetentionActions {
    fn population(&self) -> &'static str {
        "retention_actions"
    }
    fn kinds(&self) -> &'static [ReportKind] {
        &[ReportKind::RetentionActions]
    }
    fn dimensions(&self) -> &'static [&'static str] {
        &["category"]
    }
    fn class_field(&self) -> &'static str {
        "outcome"
    }
    async fn count(&self, scope: &TenantScope, period: &Period) -> Result<Population, TenantError> {
        let mut counted = Population::new(
            vec!["category"],
            "outcome",
            OUTCOMES.iter().map(|o| (*o).to_string()).collect(),
        );
        let runs: Vec<String> = run::Entity::find()
            .select_only()
            .column(run::Column::Steps)
            .filter(run::Column::StartedAt.gte(period.start))
            .filter(run::Column::StartedAt.lt(period.end))
            .into_tuple()
            .all(scope.db())
            .await?;
        for steps in runs {
            let steps: Vec<Step> = serde_json::from_str(&steps).unwrap_or_default();
            for step in steps {
                if let Some(class) = step.outcome.as_deref().and_then(|o| counted.class(o)) {
                    counted.add(vec![step.category.clone()], class, step.records);
                }
            }
        }
        Ok(counted)
    }
}
