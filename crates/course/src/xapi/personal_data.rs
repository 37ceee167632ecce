//! Statements as learning records (C3): a statement is about every person it names (its
//! actor, the object when that is an agent, an instructor, a team member), found by the
//! person's id (a statement linked to them, `person_id`) or by the blind index of one of
//! their emails among the agents it names. Export opens each such statement and its
//! attachments' contents (base64); erasure deletes them with their index rows and
//! attachments (a learning record is not evidence the institution
//! must keep); a restriction hides them from every query and fetch of the LRS until lifted;
//! expiry deletes statements stored before the cutoff, except those linked to a person a
//! legal hold keeps. A statement not linked to a person (its actor is not one of the
//! institution's people) is not kept by a hold on anyone.

use super::entity::{activity, agent, attachment, document, statement};
use super::{
    AGENT_FIELD, AGENTS_TABLE, ATTACHMENTS_TABLE, DOCUMENTS_TABLE, PERSONAL_FIELDS,
    STATEMENTS_TABLE, normalise_ifi,
};
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
    attachment::Entity::delete_many()
        .filter(attachment::Column::StatementId.is_in(ids.iter().copied()))
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
        PERSONAL_FIELDS
            .iter()
            .filter(|f| f.table != DOCUMENTS_TABLE)
            .copied()
            .collect()
    }

    fn tables(&self) -> &'static [&'static str] {
        &[
            STATEMENTS_TABLE,
            AGENTS_TABLE,
            "xapi_statement_activities",
            ATTACHMENTS_TABLE,
        ]
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
        let mut contents: std::collections::HashMap<Uuid, Vec<serde_json::Value>> =
            std::collections::HashMap::new();
        for row in attachment::Entity::find()
            .filter(attachment::Column::StatementId.is_in(rows.iter().map(|r| r.id)))
            .order_by_asc(attachment::Column::Sha2)
            .all(scope.db())
            .await?
        {
            let content =
                scope
                    .keys()
                    .open(ATTACHMENTS_TABLE, "content", row.id, &row.content_sealed)?;
            contents
                .entry(row.statement_id)
                .or_default()
                .push(serde_json::json!({
                    "sha2": row.sha2,
                    "content_type": row.content_type,
                    "length": row.length,
                    "base64": base64::Engine::encode(
                        &base64::engine::general_purpose::STANDARD,
                        &content
                    ),
                }));
        }
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
                "attachments": contents.remove(&row.id).unwrap_or_default(),
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

/// The LRS's documents about a person: state and agent profiles kept for an agent that is
/// them (linked by `person_id`, or found by the blind index of one of their emails). Export
/// opens them (JSON as JSON, other content as base64); erasure deletes them; a restriction
/// changes nothing here (a document is only read back by the learning tool that wrote it,
/// for the person themselves); expiry deletes documents unchanged since the cutoff, except
/// a held person's. Activity profiles name no person and are left to the institution.
pub struct DocumentsSource;

fn documents_about(scope: &TenantScope, subject: &DataSubject) -> Option<Condition> {
    let id = subject.person_id()?;
    let candidates: Vec<Vec<u8>> = emails_of(subject)
        .iter()
        .flat_map(|email| {
            scope.keys().blind_index_candidates(
                DOCUMENTS_TABLE,
                AGENT_FIELD,
                &normalise_ifi(email.expose()),
            )
        })
        .collect();
    let mut condition = Condition::any().add(document::Column::PersonId.eq(id));
    if !candidates.is_empty() {
        condition = condition.add(document::Column::AgentIndex.is_in(candidates));
    }
    Some(condition)
}

#[async_trait]
impl PersonalDataSource for DocumentsSource {
    fn name(&self) -> &'static str {
        "xapi_documents"
    }

    fn fields(&self) -> Vec<FieldClassification> {
        PERSONAL_FIELDS
            .iter()
            .filter(|f| f.table == DOCUMENTS_TABLE)
            .copied()
            .collect()
    }

    fn tables(&self) -> &'static [&'static str] {
        &[DOCUMENTS_TABLE]
    }

    async fn summary(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Summary, SourceError> {
        scope.require(Scope::PeopleRead)?;
        let Some(about) = documents_about(scope, subject) else {
            return Ok(Summary { records: 0 });
        };
        let records = document::Entity::find()
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
        scope.require(Scope::PeopleRead)?;
        let Some(about) = documents_about(scope, subject) else {
            return Ok(Vec::new());
        };
        let mut records = Vec::new();
        for row in document::Entity::find()
            .filter(about)
            .order_by_asc(document::Column::Id)
            .all(scope.db())
            .await?
        {
            let content =
                scope
                    .keys()
                    .open(DOCUMENTS_TABLE, "content", row.id, &row.content_sealed)?;
            let content = match serde_json::from_slice::<serde_json::Value>(&content) {
                Ok(json) => json,
                Err(_) => serde_json::json!({"base64": base64::Engine::encode(
                    &base64::engine::general_purpose::STANDARD,
                    &content
                )}),
            };
            records.push(serde_json::json!({
                "kind": row.kind,
                "id": row.document_id,
                "activity_id": row.activity_id,
                "registration": row.registration,
                "content_type": row.content_type,
                "content": content,
                "updated_at": row.updated_at,
            }));
        }
        Ok(records)
    }

    async fn erase(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Outcome, SourceError> {
        scope.require(Scope::PeopleWrite)?;
        let Some(about) = documents_about(scope, subject) else {
            return Ok(Outcome::NotApplicable {
                reason: "documents are about people",
            });
        };
        let records = document::Entity::delete_many()
            .filter(about)
            .exec(scope.db())
            .await?
            .rows_affected;
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
                reason: "documents are learning records",
            });
        }
        let ids: Vec<Uuid> = document::Entity::find()
            .select_only()
            .column(document::Column::Id)
            .filter(document::Column::UpdatedAt.lt(cutoff))
            .filter(document::Column::AgentIndex.is_not_null())
            .filter(
                Condition::any()
                    .add(document::Column::PersonId.is_null())
                    .add(document::Column::PersonId.is_not_in(keep.iter().copied())),
            )
            .limit(EXPIRE_BATCH)
            .into_tuple()
            .all(scope.db())
            .await?;
        let records = document::Entity::delete_many()
            .filter(document::Column::Id.is_in(ids))
            .exec(scope.db())
            .await?
            .rows_affected;
        Ok(Outcome::Deleted { records })
    }

    async fn restrict(
        &self,
        scope: &TenantScope,
        _subject: &DataSubject,
        _restricted: bool,
    ) -> Result<Outcome, SourceError> {
        scope.require(Scope::PeopleWrite)?;
        Ok(Outcome::NotApplicable {
            reason: "a document is read back only by the learning tool that wrote it, for the person",
        })
    }
}
