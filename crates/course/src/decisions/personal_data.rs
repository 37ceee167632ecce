//! Automated decisions as personal data (C3: learning records about the learner, U7).
//!
//! - **Export**: each decision with its rule, explanation and inputs, its state and
//!   deadline, the learner's statement and the reviewer's note (both are about the learner).
//! - **Erase** deletes the person's decisions; where the person reviewed someone's decision,
//!   `reviewed_by` is pseudonymised.
//! - **Expire** (category `learning`) deletes decisions recorded before the cutoff.
//! - **Restrict**: the restriction is the enrollments source's record; no attempt is
//!   submitted and no certificate considered (so no decision recorded) and no review
//!   applies while it lasts. Nothing is written here.

use super::entity as decision;
use super::service::DECISIONS;
use crate::{ALL_ENROLLMENTS_READ, ALL_ENROLLMENTS_WRITE};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hub_kernel::classification::{DataCategory, FieldClassification, Purpose, RetentionClass};
use hub_tenant::TenantScope;
use hub_tenant::personal_data::{
    DataSubject, EXPIRE_BATCH, Outcome, PersonalDataSource, SourceError, Summary,
    pseudonymise_references,
};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

const fn learning(column: &'static str, optional: bool) -> FieldClassification {
    FieldClassification {
        table: DECISIONS,
        column,
        category: DataCategory::Learning,
        purpose: Purpose::ServiceDelivery,
        retention: RetentionClass::CategoryPeriod,
        identifying: true,
        blind_index: false,
        optional,
    }
}

pub const PERSONAL_FIELDS: &[FieldClassification] = &[
    // The scores and attempts, or the completion time, the rule read.
    learning("inputs", false),
    // The learner's own words when they contest.
    learning("statement", true),
    // Why a reviewer confirmed or overturned it: about the learner.
    learning("review_note", true),
];

const ACTOR_COLUMNS: &[(&str, &str)] = &[(DECISIONS, "reviewed_by")];

pub struct AutomatedDecisionsSource;

#[async_trait]
impl PersonalDataSource for AutomatedDecisionsSource {
    fn name(&self) -> &'static str {
        "automated_decisions"
    }

    fn fields(&self) -> Vec<FieldClassification> {
        PERSONAL_FIELDS.to_vec()
    }

    fn tables(&self) -> &'static [&'static str] {
        &[DECISIONS]
    }

    fn expiring_categories(&self) -> Vec<DataCategory> {
        vec![DataCategory::Learning]
    }

    async fn summary(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Summary, SourceError> {
        scope.require(ALL_ENROLLMENTS_READ)?;
        let Some(id) = subject.person_id() else {
            return Ok(Summary { records: 0 });
        };
        let records = decision::Entity::find()
            .filter(decision::Column::PersonId.eq(id))
            .count(scope.db())
            .await?;
        Ok(Summary { records })
    }

    async fn export(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Vec<serde_json::Value>, SourceError> {
        scope.require(ALL_ENROLLMENTS_READ)?;
        let Some(id) = subject.person_id() else {
            return Ok(Vec::new());
        };
        let mut exported = Vec::new();
        for row in decision::Entity::find()
            .filter(decision::Column::PersonId.eq(id))
            .order_by_asc(decision::Column::Id)
            .all(scope.db())
            .await?
        {
            let d = super::service::open(scope, row).map_err(|e| Box::new(e) as SourceError)?;
            exported.push(serde_json::json!({
                "record": "automated_decision",
                "decision_id": d.id,
                "course_id": d.course_id,
                "quiz_id": d.quiz_id,
                "kind": d.kind.as_str(),
                "rule": d.rule,
                "explanation": d.explanation,
                "inputs": d.inputs,
                "state": d.state.as_str(),
                "review_due_at": d.review_due_at,
                "created_at": d.created_at,
                "contested_at": d.contested_at,
                "statement": d.statement,
                "reviewed_at": d.reviewed_at,
                "reviewed_by": d.reviewed_by,
                "review_note": d.review_note,
            }));
        }
        Ok(exported)
    }

    async fn erase(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Outcome, SourceError> {
        scope.require(ALL_ENROLLMENTS_WRITE)?;
        let Some(id) = subject.person_id() else {
            return Ok(Outcome::NotApplicable {
                reason: "automated decisions are about people",
            });
        };
        let deleted = decision::Entity::delete_many()
            .filter(decision::Column::PersonId.eq(id))
            .exec(scope.db())
            .await?
            .rows_affected;
        let made = pseudonymise_references(scope, ACTOR_COLUMNS, id).await?;
        let records = deleted + made;
        hub_tenant::personal_data::audit_erased(scope, "automated_decisions.erased", id, records)
            .await?;
        Ok(Outcome::Deleted { records })
    }

    async fn expire(
        &self,
        scope: &TenantScope,
        category: DataCategory,
        cutoff: DateTime<Utc>,
        keep: &[Uuid],
    ) -> Result<Outcome, SourceError> {
        scope.require(ALL_ENROLLMENTS_WRITE)?;
        if category != DataCategory::Learning {
            return Ok(Outcome::Deleted { records: 0 });
        }
        let mut old = decision::Entity::find()
            .select_only()
            .column(decision::Column::Id)
            .filter(decision::Column::CreatedAt.lt(cutoff))
            .order_by_asc(decision::Column::Id)
            .limit(EXPIRE_BATCH);
        if !keep.is_empty() {
            old = old.filter(decision::Column::PersonId.is_not_in(keep.iter().copied()));
        }
        let ids: Vec<Uuid> = old.into_tuple::<Uuid>().all(scope.db()).await?;
        let mut records = 0;
        if !ids.is_empty() {
            records = decision::Entity::delete_many()
                .filter(decision::Column::Id.is_in(ids))
                .exec(scope.db())
                .await?
                .rows_affected;
        }
        Ok(Outcome::Deleted { records })
    }

    async fn restrict(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
        restricted: bool,
    ) -> Result<Outcome, SourceError> {
        scope.require(ALL_ENROLLMENTS_WRITE)?;
        let Some(id) = subject.person_id() else {
            return Ok(Outcome::NotApplicable {
                reason: "automated decisions are about people",
            });
        };
        // The enrollments source records the restriction; recording and reviewing check it.
        let records = decision::Entity::find()
            .filter(decision::Column::PersonId.eq(id))
            .count(scope.db())
            .await?;
        Ok(Outcome::Restricted {
            records,
            restricted,
        })
    }
}
