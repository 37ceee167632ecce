//! Statements as learning records (C3): a statement is about every person it names (its
//! actor, the object when that is an agent, an instructor, a team member), found by the
//! person's id (a statement linked to them, `person_id`) or by the blind index of one of
//! their emails among the agents it names. Export opens each such statement; erasure
//! deletes them with their index rows (a learning record is not evidence the institution
//! must keep); a restriction hides them from every query and fetch of the LRS until lifted;
//! expiry deletes statements stored before the cutoff, except those linked to a person a
//! legal hold keeps. A statement not linked to a person (its actor is not one of the
//! institution's people) is not kept by a hold on anyone.

use super::entity::{activity, agent, statement};
use super::{AGENT_FIELD, AGENTS_TABLE, PERSONAL_FIELDS, STATEMENTS_TABLE, normalise_ifi};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hub_kernel::classification::{DataCategory, FieldClassification};
use hub_tenant::personal_data::{
    DataSubject, EXPIRE_BATCH, ExportPage, Outcome, PersonalDataSource, SourceError, Summary,
    emails_of,
};
use hub_tenant::{Scope, TenantScope};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

pub struct StatementsSource;

/// The statements about the subject.
fn about(scope: &TenantScope, subject: &DataSubject) -> Option<Condition> {
    let id = subject.person_id()?;
    let candidates: Vec<Vec<u8>> = emails_of(subject)
        .iter()
        .flat_map(|email| {
            scope.keys().blind_index_candidates(
                AGENTS_TABLE,
                AGENT_FIELD,
                &normalise_ifi(email.expose()),
            )
        })
        .collect();
    let mut condition = Condition::any().add(statement::Column::PersonId.eq(id));
    if !candidates.is_empty() {
        let naming = Query::select()
            .column(agent::Column::StatementId)
            .from(agent::Entity)
            .and_where(agent::Column::AgentIndex.is_in(candidates))
            .to_owned();
        condition = condition.add(statement::Column::Id.in_subquery(naming));
    }
    Some(condition)
}

async fn delete_statements(scope: &TenantScope, ids: Vec<Uuid>) -> Result<u64, SourceError> {
    if ids.is_empty() {
        return Ok(0);
    }
    agent::Entity::delete_many()
        .filter(agent::Column::StatementId.is_in(ids.iter().copied()))
        .exec(scope.db())
        .await?;
    activity::Entity::delete_many()
        .filter(activity::Column::StatementId.is_in(ids.iter().copied()))
        .exec(scope.db())
        .await?;
    Ok(statement::Entity::delete_many()
        .filter(statement::Column::Id.is_in(ids))
        .exec(scope.db())
        .await?
        .rows_affected)
}

#[async_trait]
impl PersonalDataSource for StatementsSource {
    fn name(&self) -> &'static str {
        "xapi_statements"
    }

    fn fields(&self) -> Vec<FieldClassification> {
        PERSONAL_FIELDS.to_vec()
    }

    fn tables(&self) -> &'static [&'static str] {
        &[STATEMENTS_TABLE, AGENTS_TABLE, "xapi_statement_activities"]
    }

    async fn summary(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Summary, SourceError> {
        scope.require(Scope::PeopleRead)?;
        let Some(about) = about(scope, subject) else {
            return Ok(Summary { records: 0 });
        };
        let records = statement::Entity::find()
            .filter(about)
            .count(scope.db())
            .await?;
        Ok(Summary { records })
    }

    async fn export(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Vec<serde_json::Value>, SourceError> {
        let mut records = Vec::new();
        let mut after = None;
        loop {
            let page = self
                .export_page(scope, subject, after.as_deref(), 500)
                .await?;
            records.extend(page.records);
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(records),
            }
        }
    }

    async fn export_page(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
        after: Option<&str>,
        limit: u64,
    ) -> Result<ExportPage, SourceError> {
        scope.require(Scope::PeopleRead)?;
        let Some(about) = about(scope, subject) else {
            return Ok(ExportPage::default());
        };
        let mut select = statement::Entity::find()
            .filter(about)
            .order_by_asc(statement::Column::Id)
            .limit(limit.max(1));
        if let Some(after) = after {
            let after = Uuid::try_parse(after)?;
            select = select.filter(statement::Column::Id.gt(after));
        }
        let rows = select.all(scope.db()).await?;
        let mut records = Vec::with_capacity(rows.len());
        for row in &rows {
            let text = scope.keys().open_str(
                STATEMENTS_TABLE,
                "statement",
                row.id,
                &row.statement_sealed,
            )?;
            let statement: serde_json::Value = serde_json::from_str(&text)?;
            records.push(serde_json::json!({
                "statement": statement,
                "voided": row.voided,
                "stored": row.stored,
            }));
        }
        let next = (rows.len() as u64 >= limit.max(1))
            .then(|| rows.last().map(|r| r.id.to_string()))
            .flatten();
        Ok(ExportPage { records, next })
    }

    async fn erase(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Outcome, SourceError> {
        scope.require(Scope::PeopleWrite)?;
        let Some(about) = about(scope, subject) else {
            return Ok(Outcome::NotApplicable {
                reason: "statements are about people",
            });
        };
        let ids: Vec<Uuid> = statement::Entity::find()
            .select_only()
            .column(statement::Column::Id)
            .filter(about)
            .into_tuple()
            .all(scope.db())
            .await?;
        let mut records = 0;
        for chunk in ids.chunks(EXPIRE_BATCH as usize) {
            records += delete_statements(scope, chunk.to_vec()).await?;
        }
        Ok(Outcome::Deleted { records })
    }

    async fn expire(
        &self,
        scope: &TenantScope,
        category: DataCategory,
        cutoff: DateTime<Utc>,
        keep: &[Uuid],
    ) -> Result<Outcome, SourceError> {
        scope.require(Scope::PeopleWrite)?;
        if category != DataCategory::Learning {
            return Ok(Outcome::NotApplicable {
                reason: "statements are learning records",
            });
        }
        let kept = Condition::any()
            .add(statement::Column::PersonId.is_null())
            .add(statement::Column::PersonId.is_not_in(keep.iter().copied()));
        let ids: Vec<Uuid> = statement::Entity::find()
            .select_only()
            .column(statement::Column::Id)
            .filter(statement::Column::Stored.lt(cutoff))
            .filter(kept)
            .order_by_asc(statement::Column::Stored)
            .limit(EXPIRE_BATCH)
            .into_tuple()
            .all(scope.db())
            .await?;
        let records = delete_statements(scope, ids).await?;
        Ok(Outcome::Deleted { records })
    }

    async fn restrict(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
        restricted: bool,
    ) -> Result<Outcome, SourceError> {
        scope.require(Scope::PeopleWrite)?;
        let Some(about) = about(scope, subject) else {
            return Ok(Outcome::NotApplicable {
                reason: "statements are about people",
            });
        };
        let records = statement::Entity::update_many()
            .col_expr(statement::Column::Restricted, Expr::value(restricted))
            .filter(about)
            .exec(scope.db())
            .await?
            .rows_affected;
        Ok(Outcome::Restricted {
            records,
            restricted,
        })
    }
}
