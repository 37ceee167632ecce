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
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};

pub struct UsageProducer;

const CLASSES: [&str; 4] = ["person", "api_key", "platform", "other"];

/// The kind of actor an audit entry's actor label names (an index into [`CLASSES`]), as SQL
/// both backends answer, so the database counts and the report reads one row per action and
/// kind, however many entries the period holds.
const ACTOR_KIND: &str = "CASE \
     WHEN substr(actor, 1, 7) = 'person:' THEN 0 \
     WHEN substr(actor, 1, 8) = 'api-key:' THEN 1 \
     WHEN actor = 'system' OR actor = 'sign-in' OR substr(actor, 1, 4) = 'job:' THEN 2 \
     ELSE 3 END";

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
        let rows: Vec<(String, i32, i64)> = audit_event::Entity::find()
            .select_only()
            .column(audit_event::Column::Action)
            .column_as(Expr::cust(ACTOR_KIND), "actor_kind")
            .column_as(Expr::cust("count(*)"), "entries")
            .filter(audit_event::Column::At.gte(period.start))
            .filter(audit_event::Column::At.lt(period.end))
            .group_by(audit_event::Column::Action)
            .group_by(Expr::cust(ACTOR_KIND))
            .into_tuple()
            .all(scope.db())
            .await?;
        let mut population = Population::new(
            vec!["area"],
            "actor_kind",
            CLASSES.iter().map(|c| (*c).to_string()).collect(),
        );
        for (action, kind, entries) in rows {
            let area = action.split('.').next().unwrap_or("other").to_string();
            let kind = usize::try_from(kind).unwrap_or(CLASSES.len() - 1);
            population.add(vec![area], kind, u64::try_from(entries).unwrap_or(0));
        }
        Ok(population)
    }
}
