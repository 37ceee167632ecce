//! Quiz attempts and grade changes as personal data (C3: learning records, used to deliver
//! the courses the person takes, U1). The answers are sealed (a short-text answer is free
//! text and may name people), as is a grade change's reason.
//!
//! - **Export** pages by keyset (a person can have many attempts): first their attempts
//!   with the answers opened and the grade changes made to them (cursor `a:<attempt id>`),
//!   then the grade changes they made to other people's attempts as an instructor, without
//!   whose (`g:<change id>`).
//! - **Erase** deletes the person's attempts and the grade changes made to them; where they
//!   changed other people's grades (`attempt_grade_changes.changed_by`) they are replaced by
//!   one fresh pseudonym.
//! - **Expire** (category `learning`) deletes attempts started before the cutoff in courses
//!   the person is no longer taking, with their grade changes.
//! - **Restrict**: the enrollments source records the restriction; starts and submissions
//!   check it.

use super::entity::{attempt, grade_change};
use super::service::{ATTEMPTS, GRADE_CHANGES};
use crate::{ALL_ENROLLMENTS_READ, ALL_ENROLLMENTS_WRITE};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hub_kernel::classification::{DataCategory, FieldClassification, Purpose, RetentionClass};
use hub_tenant::TenantScope;
use hub_tenant::personal_data::{
    DataSubject, EXPIRE_BATCH, ExportPage, Outcome, PersonalDataSource, SourceError, Summary,
    pseudonymise_references,
};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

/// The classified fields of the attempt tables.
pub const PERSONAL_FIELDS: &[FieldClassification] = &[
    FieldClassification {
        table: ATTEMPTS,
        column: "answers",
        category: DataCategory::Learning,
        purpose: Purpose::ServiceDelivery,
        retention: RetentionClass::CategoryPeriod,
        identifying: true,
        blind_index: false,
        optional: true,
    },
    FieldClassification {
        table: GRADE_CHANGES,
        column: "reason",
        category: DataCategory::Learning,
        purpose: Purpose::ServiceDelivery,
        retention: RetentionClass::CategoryPeriod,
        identifying: true,
        blind_index: false,
        optional: false,
    },
];

const ACTOR_COLUMNS: &[(&str, &str)] = &[(GRADE_CHANGES, "changed_by")];

fn label(person: Uuid) -> String {
    hub_tenant::audit::person_label(person)
}

fn open(
    scope: &TenantScope,
    table: &'static str,
    column: &'static str,
    id: Uuid,
    sealed: &[u8],
) -> Result<String, SourceError> {
    scope
        .keys()
        .open_str(table, column, id, sealed)
        .map_err(|e| Box::new(hub_tenant::TenantError::from(e)) as SourceError)
}

pub struct AttemptsSource;

impl AttemptsSource {
    async fn attempt_record(
        scope: &TenantScope,
        row: attempt::Model,
    ) -> Result<serde_json::Value, SourceError> {
        let answers: serde_json::Value = match &row.answers_sealed {
            Some(sealed) => {
                serde_json::from_str(&open(scope, ATTEMPTS, "answers", row.id, sealed)?)
                    .unwrap_or(serde_json::Value::Null)
            }
            None => serde_json::Value::Null,
        };
        let mut changes = Vec::new();
        for change in grade_change::Entity::find()
            .filter(grade_change::Column::AttemptId.eq(row.id))
            .order_by_asc(grade_change::Column::Id)
            .all(scope.db())
            .await?
        {
            changes.push(serde_json::json!({
                "changed_by": change.changed_by,
                "old_score": change.old_score,
                "new_score": change.new_score,
                "reason": open(scope, GRADE_CHANGES, "reason", change.id, &change.reason_sealed)?,
                "at": change.at,
            }));
        }
        Ok(serde_json::json!({
            "record": "quiz_attempt",
            "attempt_id": row.id,
            "quiz_id": row.quiz_id,
            "course_id": row.course_id,
            "number": row.number,
            "started_at": row.started_at,
            "deadline_at": row.deadline_at,
            "submitted_at": row.submitted_at,
            "score": row.score,
            "auto_score": row.auto_score,
            "max_score": row.max_score,
            "passed": row.passed,
            "answers": answers,
            "grade_changes": changes,
        }))
    }
}

#[async_trait]
impl PersonalDataSource for AttemptsSource {
    fn name(&self) -> &'static str {
        "quiz_attempts"
    }

    fn fields(&self) -> Vec<FieldClassification> {
        PERSONAL_FIELDS.to_vec()
    }

    fn tables(&self) -> &'static [&'static str] {
        &["quiz_attempts", "attempt_grade_changes"]
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
        let attempts = attempt::Entity::find()
            .filter(attempt::Column::PersonId.eq(id))
            .count(scope.db())
            .await?;
        let made = grade_change::Entity::find()
            .filter(grade_change::Column::ChangedBy.eq(label(id)))
            .filter(grade_change::Column::PersonId.ne(id))
            .count(scope.db())
            .await?;
        Ok(Summary {
            records: attempts + made,
        })
    }

    async fn export(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Vec<serde_json::Value>, SourceError> {
        let mut all = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self
                .export_page(scope, subject, after.as_deref(), 200)
                .await?;
            all.extend(page.records);
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(all),
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
        scope.require(ALL_ENROLLMENTS_READ)?;
        let Some(id) = subject.person_id() else {
            return Ok(ExportPage::default());
        };
        let limit = limit.max(1);
        let parse = |text: &str| Uuid::parse_str(text).map_err(|e| Box::new(e) as SourceError);
        let (phase, from) = match after {
            None => ("a", None),
            Some(cursor) => match cursor.split_once(':') {
                Some(("a", rest)) => ("a", Some(parse(rest)?)),
                Some(("g", rest)) => ("g", Some(parse(rest)?)),
                _ => return Err("not a cursor of this source".into()),
            },
        };
        let mut records = Vec::new();
        if phase == "a" {
            let mut query = attempt::Entity::find()
                .filter(attempt::Column::PersonId.eq(id))
                .order_by_asc(attempt::Column::Id)
                .limit(limit + 1);
            if let Some(from) = from {
                query = query.filter(attempt::Column::Id.gt(from));
            }
            let rows = query.all(scope.db()).await?;
            let more = rows.len() as u64 > limit;
            let mut last = None;
            for row in rows.into_iter().take(limit as usize) {
                last = Some(row.id);
                records.push(Self::attempt_record(scope, row).await?);
            }
            let next = match (more, last) {
                (true, Some(last)) => Some(format!("a:{last}")),
                // The attempts are done: the grade changes they made come next.
                _ => Some(format!("g:{}", Uuid::nil())),
            };
            return Ok(ExportPage { records, next });
        }
        let rows = grade_change::Entity::find()
            .filter(grade_change::Column::ChangedBy.eq(label(id)))
            .filter(grade_change::Column::PersonId.ne(id))
            .filter(grade_change::Column::Id.gt(from.unwrap_or_default()))
            .order_by_asc(grade_change::Column::Id)
            .limit(limit + 1)
            .all(scope.db())
            .await?;
        let more = rows.len() as u64 > limit;
        let mut last = None;
        for row in rows.into_iter().take(limit as usize) {
            last = Some(row.id);
            // What the instructor did: the change, not whose attempt it was.
            records.push(serde_json::json!({
                "record": "grade_change_made",
                "attempt_id": row.attempt_id,
                "old_score": row.old_score,
                "new_score": row.new_score,
                "at": row.at,
            }));
        }
        Ok(ExportPage {
            records,
            next: if more {
                last.map(|l| format!("g:{l}"))
            } else {
                None
            },
        })
    }

    async fn erase(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Outcome, SourceError> {
        scope.require(ALL_ENROLLMENTS_WRITE)?;
        let Some(id) = subject.person_id() else {
            return Ok(Outcome::NotApplicable {
                reason: "attempts are people's",
            });
        };
        let changes = grade_change::Entity::delete_many()
            .filter(grade_change::Column::PersonId.eq(id))
            .exec(scope.db())
            .await?
            .rows_affected;
        let attempts = attempt::Entity::delete_many()
            .filter(attempt::Column::PersonId.eq(id))
            .exec(scope.db())
            .await?
            .rows_affected;
        let made = pseudonymise_references(scope, ACTOR_COLUMNS, id).await?;
        let records = changes + attempts + made;
        hub_tenant::personal_data::audit_erased(scope, "quiz_attempts.erased", id, records).await?;
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
        let mut old = attempt::Entity::find()
            .select_only()
            .column(attempt::Column::Id)
            .filter(attempt::Column::StartedAt.lt(cutoff))
            .filter(crate::progress::personal_data::not_ongoing("quiz_attempts"))
            .order_by_asc(attempt::Column::Id)
            .limit(EXPIRE_BATCH);
        if !keep.is_empty() {
            old = old.filter(attempt::Column::PersonId.is_not_in(keep.iter().copied()));
        }
        let ids: Vec<Uuid> = old.into_tuple::<Uuid>().all(scope.db()).await?;
        if ids.is_empty() {
            return Ok(Outcome::Deleted { records: 0 });
        }
        grade_change::Entity::delete_many()
            .filter(grade_change::Column::AttemptId.is_in(ids.iter().copied()))
            .exec(scope.db())
            .await?;
        let records = attempt::Entity::delete_many()
            .filter(attempt::Column::Id.is_in(ids))
            .exec(scope.db())
            .await?
            .rows_affected;
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
                reason: "attempts are people's",
            });
        };
        // The enrollments source records the restriction; starts and submissions check it.
        let records = attempt::Entity::find()
            .filter(attempt::Column::PersonId.eq(id))
            .count(scope.db())
            .await?;
        Ok(Outcome::Restricted {
            records,
            restricted,
        })
    }
}
