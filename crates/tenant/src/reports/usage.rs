//! Usage of the platform (U2), from the audit trail: how many recorded actions each area
//! saw in the period (the first part of the action's name: `course`, `enrollment`,
//! `privacy_request`, …), by the kind of actor (a person, an API key, the platform itself).
//! It counts actions, never who took them; the suppression hides an area a lone user
//! would stand out in.

use crate::TenantScope;
use crate::entities::audit_event;
use crate::error::TenantError;
use crate::profile::ReportKind;
use crate::reports::disclosure::Population;
use crate::reports::period::Period;
use crate::reports::producer::ReportProducer;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};

pub struct UsageProducer;

const CLASSES: [&str; 4] = ["person", "api_key", "platform", "other"];

/// The kind of actor an audit entry's actor label names.
fn actor_kind(actor: &str) -> usize {
    if actor.starts_with("person:") {
        0
    } else if actor.starts_with("api-key:") {
        1
    } else if actor == "system" || actor.starts_with("job:") || actor == "sign-in" {
        2
    } else {
        3
    }
}

#[async_trait::async_trait]
impl ReportProducer for UsageProducer {
    fn population(&self) -> &'static str {
        "audit_actions"
    }

    fn kinds(&self) -> &'static [ReportKind] {
        &[ReportKind::Usage]
    }

    fn dimensions(&self) -> &'static [&'static str] {
        &["area"]
    }

    fn class_field(&self) -> &'static str {
        "actor_kind"
    }

    async fn count(&self, scope: &TenantScope, period: &Period) -> Result<Population, TenantError> {
        let rows: Vec<(String, String)> = audit_event::Entity::find()
            .select_only()
            .column(audit_event::Column::Action)
            .column(audit_event::Column::Actor)
            .filter(audit_event::Column::At.gte(period.start))
            .filter(audit_event::Column::At.lt(period.end))
            .into_tuple()
            .all(scope.db())
            .await?;
        let mut population = Population::new(
            vec!["area"],
            "actor_kind",
            CLASSES.iter().map(|c| (*c).to_string()).collect(),
        );
        for (action, actor) in rows {
            let area = action.split('.').next().unwrap_or("other").to_string();
            population.add(vec![area], actor_kind(&actor), 1);
        }
        Ok(population)
    }
}
