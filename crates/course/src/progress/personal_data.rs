//! Lesson progress and course completions as personal data (C3: learning records, used to
//! deliver the courses the person takes, U1). Nothing here is free text: the rows say which
//! lesson or course, when, and how.
//!
//! - **Export**: the person's progress rows and completions (a few per course they take).
//! - **Erase** deletes both.
//! - **Expire** (category `learning`) deletes rows older than the cutoff of courses the
//!   person is no longer taking (no `invited` or `active` enrollment): an ongoing course's
//!   progress is the service itself.
//! - **Restrict**: the restriction is the enrollments source's record
//!   (`learning_restrictions`); every progress write checks it, so nothing is written here.

use super::entity as progress;
use crate::completion::entity as completion;
use crate::{ALL_ENROLLMENTS_READ, ALL_ENROLLMENTS_WRITE};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hub_kernel::classification::{DataCategory, FieldClassification};
use hub_tenant::TenantScope;
use hub_tenant::personal_data::{
    DataSubject, EXPIRE_BATCH, Outcome, PersonalDataSource, SourceError, Summary,
};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

/// `NOT EXISTS` an ongoing (`invited`/`active`) enrollment of the row's person in its
/// course: `table` names the row's table.
pub(crate) fn not_ongoing(table: &'static str) -> sea_orm::sea_query::SimpleExpr {
    let enrollments = Alias::new("enrollments");
    let outer = Alias::new(table);
    Expr::exists(
        Query::select()
            .expr(Expr::val(1))
            .from(enrollments.clone())
            .and_where(
                Expr::col((enrollments.clone(), Alias::new("person_id")))
                    .equals((outer.clone(), Alias::new("person_id"))),
            )
            .and_where(
                Expr::col((enrollments.clone(), Alias::new("course_id")))
                    .equals((outer, Alias::new("course_id"))),
            )
            .and_where(Expr::col((enrollments, Alias::new("state"))).is_in(["invited", "active"]))
            .to_owned(),
    )
    .not()
}

pub struct LearningProgressSource;

#[async_trait]
impl PersonalDataSource for LearningProgressSource {
    fn name(&self) -> &'static str {
        "learning_progress"
    }

    fn fields(&self) -> Vec<FieldClassification> {
        Vec::new()
    }

    fn tables(&self) -> &'static [&'static str] {
        &["lesson_progress", "course_completions"]
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
        let lessons = progress::Entity::find()
            .filter(progress::Column::PersonId.eq(id))
            .count(scope.db())
            .await?;
        let completions = completion::Entity::find()
            .filter(completion::Column::PersonId.eq(id))
            .count(scope.db())
            .await?;
        Ok(Summary {
            records: lessons + completions,
        })
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
        for row in progress::Entity::find()
            .filter(progress::Column::PersonId.eq(id))
            .order_by_asc(progress::Column::Id)
            .all(scope.db())
            .await?
        {
            exported.push(serde_json::json!({
                "record": "lesson_progress",
                "course_id": row.course_id,
                "module_id": row.module_id,
                "lesson_id": row.lesson_id,
                "status": row.status,
                "source": row.source,
                "first_at": row.first_at,
                "last_at": row.last_at,
                "completed_at": row.completed_at,
            }));
        }
        for row in completion::Entity::find()
            .filter(completion::Column::PersonId.eq(id))
            .order_by_asc(completion::Column::Id)
            .all(scope.db())
            .await?
        {
            exported.push(serde_json::json!({
                "record": "course_completion",
                "course_id": row.course_id,
                "completed_at": row.completed_at,
                "source": row.source,
                "certificate_issued_at": row.certificate_issued_at,
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
                reason: "progress is people's",
            });
        };
        let lessons = progress::Entity::delete_many()
            .filter(progress::Column::PersonId.eq(id))
            .exec(scope.db())
            .await?
            .rows_affected;
        let completions = completion::Entity::delete_many()
            .filter(completion::Column::PersonId.eq(id))
            .exec(scope.db())
            .await?
            .rows_affected;
        let records = lessons + completions;
        hub_tenant::personal_data::audit_erased(scope, "learning_progress.erased", id, records)
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
        let mut old = progress::Entity::find()
            .select_only()
            .column(progress::Column::Id)
            .filter(progress::Column::LastAt.lt(cutoff))
            .filter(not_ongoing("lesson_progress"))
            .order_by_asc(progress::Column::Id)
            .limit(EXPIRE_BATCH);
        if !keep.is_empty() {
            old = old.filter(progress::Column::PersonId.is_not_in(keep.iter().copied()));
        }
        let ids: Vec<Uuid> = old.into_tuple::<Uuid>().all(scope.db()).await?;
        let mut records = 0;
        if !ids.is_empty() {
            records += progress::Entity::delete_many()
                .filter(progress::Column::Id.is_in(ids))
                .exec(scope.db())
                .await?
                .rows_affected;
        }
        let mut done = completion::Entity::find()
            .select_only()
            .column(completion::Column::Id)
            .filter(completion::Column::CompletedAt.lt(cutoff))
            .filter(not_ongoing("course_completions"))
            .order_by_asc(completion::Column::Id)
            .limit(EXPIRE_BATCH);
        if !keep.is_empty() {
            done = done.filter(completion::Column::PersonId.is_not_in(keep.iter().copied()));
        }
        let ids: Vec<Uuid> = done.into_tuple::<Uuid>().all(scope.db()).await?;
        if !ids.is_empty() {
            records += completion::Entity::delete_many()
                .filter(completion::Column::Id.is_in(ids))
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
                reason: "progress is people's",
            });
        };
        // The enrollments source records the restriction; progress writes check it.
        let records = progress::Entity::find()
            .filter(progress::Column::PersonId.eq(id))
            .count(scope.db())
            .await?;
        Ok(Outcome::Restricted {
            records,
            restricted,
        })
    }
}
