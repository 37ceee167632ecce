//! Evaluating the completion rule, and reading completions.

use super::entity as completion;
use crate::CourseError;
use crate::certificates::CertificateSigner;
use crate::progress::LessonStatus;
use crate::progress::service::{lessons_of_course, requires, rows_of, rule_of};
use chrono::{DateTime, Utc};
use hub_tenant::TenantScope;
use hub_tenant::audit::{self, AuditEvent};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, TryInsertResult};
use uuid::Uuid;

/// A person's completion of a course.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub id: Uuid,
    pub person_id: Uuid,
    pub course_id: Uuid,
    pub enrollment_id: Uuid,
    pub completed_at: DateTime<Utc>,
    /// The rule as it was met: `required_lessons`, `passing_quizzes`, `revision`, and the
    /// lessons it required then.
    pub rule: serde_json::Value,
    pub source: String,
    pub certificate_issued_at: Option<DateTime<Utc>>,
}

pub(crate) fn from_row(row: completion::Model) -> Completion {
    Completion {
        id: row.id,
        person_id: row.person_id,
        course_id: row.course_id,
        enrollment_id: row.enrollment_id,
        completed_at: row.completed_at,
        rule: serde_json::from_str(&row.rule_snapshot).unwrap_or(serde_json::Value::Null),
        source: row.source,
        certificate_issued_at: row.certificate_issued_at,
    }
}

/// The person's completion of the course, if any.
pub async fn find(
    scope: &TenantScope,
    course_id: Uuid,
    person_id: Uuid,
) -> Result<Option<Completion>, CourseError> {
    Ok(completion::Entity::find()
        .filter(completion::Column::PersonId.eq(person_id))
        .filter(completion::Column::CourseId.eq(course_id))
        .one(scope.db())
        .await?
        .map(from_row))
}

/// Completes the course for the person when its rule is met now and they have an active
/// enrollment and no completion yet; `Some` with the new completion when it did. At most
/// one completion per person and course even when two changes race (the insert does
/// nothing on the unique pair, and only its winner moves the enrollment). The winner issues
/// the completion's certificate through `signer`, in the same transaction.
pub async fn evaluate(
    scope: &TenantScope,
    signer: &dyn CertificateSigner,
    course_id: Uuid,
    person_id: Uuid,
    source: &str,
) -> Result<Option<Completion>, CourseError> {
    if find(scope, course_id, person_id).await?.is_some() {
        return Ok(None);
    }
    let Some(enrollment) =
        crate::enrollment::active_enrollment(scope, course_id, person_id).await?
    else {
        return Ok(None);
    };
    let rule = rule_of(scope, course_id).await?;
    let required: Vec<Uuid> = lessons_of_course(scope, course_id)
        .await?
        .iter()
        .filter(|l| requires(&rule, l))
        .map(|l| l.id)
        .collect();
    if required.is_empty() && rule.passing_quizzes.is_empty() {
        return Ok(None);
    }
    let completed: Vec<Uuid> = rows_of(scope, course_id, person_id)
        .await?
        .into_iter()
        .filter(|r| LessonStatus::parse(&r.status) == Some(LessonStatus::Completed))
        .map(|r| r.lesson_id)
        .collect();
    if !required.iter().all(|l| completed.contains(l)) {
        return Ok(None);
    }
    for quiz in &rule.passing_quizzes {
        if !crate::attempts::service::quiz_passed(scope, *quiz, person_id).await? {
            return Ok(None);
        }
    }
    let snapshot = serde_json::json!({
        "required_lessons": rule.required_lessons.as_str(),
        "passing_quizzes": rule.passing_quizzes,
        "revision": rule.revision,
        "lessons": required,
    });
    let id = Uuid::now_v7();
    let now = Utc::now();
    let inserted = completion::Entity::insert(completion::ActiveModel {
        id: Set(id),
        person_id: Set(person_id),
        course_id: Set(course_id),
        enrollment_id: Set(enrollment.id),
        completed_at: Set(now),
        rule_snapshot: Set(snapshot.to_string()),
        source: Set(source.to_string()),
        certificate_issued_at: Set(None),
    })
    .on_conflict_do_nothing_on([completion::Column::PersonId, completion::Column::CourseId])
    .exec_without_returning(scope.db())
    .await?;
    if !matches!(inserted, TryInsertResult::Inserted(n) if n > 0) {
        return Ok(None);
    }
    crate::enrollment::complete(scope, enrollment.id, "the course's completion rule is met")
        .await?;
    audit::record(
        scope,
        AuditEvent::new("course.completed")
            .person(person_id)
            .detail(serde_json::json!({
                "course_id": course_id,
                "completion_id": id,
                "source": source,
            })),
    )
    .await?;
    let Some(row) = completion::Entity::find_by_id(id).one(scope.db()).await? else {
        return Ok(None);
    };
    // The certificate in the completion's own transaction: it exists once this commits.
    crate::certificates::service::issue_for_completion(signer, scope, row).await?;
    Ok(completion::Entity::find_by_id(id)
        .one(scope.db())
        .await?
        .map(from_row))
}
