//! Progress operations, each inside the caller's [`TenantScope`] (the caller commits).
//!
//! A learner records and reads their own progress (`courses:read`, a signed-in person) in a
//! course they are enrolled in: recording needs an `active` enrollment (409 `not_enrolled`
//! otherwise), reading any enrollment (a completed learner still reads theirs; none is 404
//! `enrollment_not_found`). Staff
//! read a learner's progress with `enrollments:read` in a course they teach (every course
//! with `all_enrollments:read`); any other course answers 404, as the enrollments do.

use super::entity as progress;
use super::model::{
    CourseProgress, LessonProgress, LessonState, LessonStatus, ModuleProgress, ProgressSource,
    QuizStanding, percent,
};
use crate::certificates::CertificateSigner;
use crate::enrollment::Enrollment;
use crate::structure::entity::{lesson, module, rule};
use crate::structure::{CompletionRule, RequiredLessons};
use crate::{
    ALL_ENROLLMENTS_READ, ALL_ENROLLMENTS_WRITE, CourseError, ENROLLMENTS_READ, ENROLLMENTS_WRITE,
};
use chrono::Utc;
use hub_tenant::audit::{self, AuditEvent};
use hub_tenant::{Scope, Tenancy, TenantScope};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, TryInsertResult,
};
use std::collections::HashMap;
use uuid::Uuid;

pub(crate) fn caller_person(scope: &TenantScope) -> Result<Uuid, CourseError> {
    scope
        .actor()
        .and_then(|a| a.person_id())
        .ok_or(CourseError::PersonOnly)
}

fn holds(scope: &TenantScope, scope_name: Scope) -> bool {
    scope
        .actor_scopes()
        .is_none_or(|held| held.contains(&scope_name))
}

/// Checks the caller may read (`write: false`) or change the learning records of the
/// course's learners: its instructor, or an admin; another course is `NotFound`.
pub(crate) async fn staff_course(
    scope: &TenantScope,
    course_id: Uuid,
    write: bool,
) -> Result<(), CourseError> {
    let (needed, everywhere) = if write {
        (ENROLLMENTS_WRITE, ALL_ENROLLMENTS_WRITE)
    } else {
        (ENROLLMENTS_READ, ALL_ENROLLMENTS_READ)
    };
    scope.require(needed)?;
    crate::enrollment::store::course(scope, course_id).await?;
    if holds(scope, everywhere) {
        return Ok(());
    }
    match scope.actor().and_then(|a| a.person_id()) {
        Some(person)
            if crate::enrollment::store::is_instructor(scope, course_id, person).await? =>
        {
            Ok(())
        }
        _ => Err(CourseError::NotFound),
    }
}

/// The person's active enrollment in the course, checked for a write of their learning
/// records: the course exists (`NotFound`), they are actively enrolled (`NotEnrolled`), the
/// processing of their records is not restricted (`LearnerRestricted`).
pub(crate) async fn active_learner(
    scope: &TenantScope,
    course_id: Uuid,
    person_id: Uuid,
) -> Result<Enrollment, CourseError> {
    crate::enrollment::store::course(scope, course_id).await?;
    let enrollment = crate::enrollment::active_enrollment(scope, course_id, person_id)
        .await?
        .ok_or(CourseError::NotEnrolled)?;
    if crate::enrollment::store::is_restricted(scope, person_id).await? {
        return Err(CourseError::LearnerRestricted);
    }
    Ok(enrollment)
}

/// The course's completion rule as stored (the default one until set), without an access
/// check.
pub(crate) async fn rule_of(
    scope: &TenantScope,
    course_id: Uuid,
) -> Result<CompletionRule, CourseError> {
    Ok(
        match rule::Entity::find_by_id(course_id).one(scope.db()).await? {
            None => CompletionRule::default_for(course_id),
            Some(row) => CompletionRule {
                course_id,
                // Only validated values are ever written.
                required_lessons: RequiredLessons::parse(&row.required_lessons)
                    .unwrap_or(RequiredLessons::AllRequired),
                passing_quizzes: serde_json::from_str(&row.passing_quizzes).unwrap_or_default(),
                revision: row.revision,
                updated_at: Some(row.updated_at),
            },
        },
    )
}

pub(crate) fn requires(rule: &CompletionRule, lesson: &lesson::Model) -> bool {
    match rule.required_lessons {
        RequiredLessons::AllRequired => lesson.required,
        RequiredLessons::All => true,
        RequiredLessons::NoLessons => false,
    }
}

pub(crate) async fn lessons_of_course(
    scope: &TenantScope,
    course_id: Uuid,
) -> Result<Vec<lesson::Model>, CourseError> {
    Ok(lesson::Entity::find()
        .filter(lesson::Column::CourseId.eq(course_id))
        .order_by_asc(lesson::Column::Position)
        .order_by_asc(lesson::Column::Id)
        .all(scope.db())
        .await?)
}

/// The person's progress rows in the course (one indexed read: person, course).
pub(crate) async fn rows_of(
    scope: &TenantScope,
    course_id: Uuid,
    person_id: Uuid,
) -> Result<Vec<progress::Model>, CourseError> {
    Ok(progress::Entity::find()
        .filter(progress::Column::PersonId.eq(person_id))
        .filter(progress::Column::CourseId.eq(course_id))
        .all(scope.db())
        .await?)
}

fn from_row(row: progress::Model) -> LessonProgress {
    LessonProgress {
        lesson_id: row.lesson_id,
        module_id: row.module_id,
        course_id: row.course_id,
        person_id: row.person_id,
        // Only validated values are ever written.
        status: LessonStatus::parse(&row.status).unwrap_or(LessonStatus::Started),
        source: ProgressSource::parse(&row.source).unwrap_or(ProgressSource::Learner),
        first_at: row.first_at,
        last_at: row.last_at,
        completed_at: row.completed_at,
        revision: row.revision,
    }
}

/// Records `status` for the person in the lesson (a lesson of `course_id`, else
/// `LessonNotFound`) and re-evaluates the course's completion. `completed` is final.
async fn record(
    scope: &TenantScope,
    signer: &dyn CertificateSigner,
    course_id: Uuid,
    person_id: Uuid,
    lesson_row: lesson::Model,
    status: LessonStatus,
    source: ProgressSource,
) -> Result<LessonProgress, CourseError> {
    if lesson_row.course_id != course_id {
        return Err(CourseError::LessonNotFound);
    }
    active_learner(scope, course_id, person_id).await?;
    let now = Utc::now();
    let completed_at = (status == LessonStatus::Completed).then_some(now);
    // One row per person and lesson (unique): a concurrent first record loses the insert
    // and updates the winner's row below.
    let inserted = progress::Entity::insert(progress::ActiveModel {
        id: Set(Uuid::now_v7()),
        person_id: Set(person_id),
        course_id: Set(course_id),
        module_id: Set(lesson_row.module_id),
        lesson_id: Set(lesson_row.id),
        status: Set(status.as_str().to_string()),
        source: Set(source.as_str().to_string()),
        first_at: Set(now),
        last_at: Set(now),
        completed_at: Set(completed_at),
        revision: Set(1),
    })
    .on_conflict_do_nothing_on([progress::Column::PersonId, progress::Column::LessonId])
    .exec_without_returning(scope.db())
    .await?;
    let fresh = matches!(inserted, TryInsertResult::Inserted(n) if n > 0);
    if !fresh {
        let mut update = progress::Entity::update_many()
            .col_expr(progress::Column::LastAt, Expr::value(now))
            .filter(progress::Column::PersonId.eq(person_id))
            .filter(progress::Column::LessonId.eq(lesson_row.id));
        if status == LessonStatus::Completed {
            // Only a lesson not completed yet moves; the status check is in the statement,
            // so two concurrent completions count once.
            update = update
                .col_expr(progress::Column::Status, Expr::value(status.as_str()))
                .col_expr(progress::Column::Source, Expr::value(source.as_str()))
                .col_expr(progress::Column::CompletedAt, Expr::value(now))
                .col_expr(
                    progress::Column::Revision,
                    Expr::col(progress::Column::Revision).add(1),
                )
                .filter(progress::Column::Status.ne(LessonStatus::Completed.as_str()));
        }
        let changed = update.exec(scope.db()).await?.rows_affected;
        if changed == 0 && status == LessonStatus::Completed {
            // Already completed: touch its last time only.
            progress::Entity::update_many()
                .col_expr(progress::Column::LastAt, Expr::value(now))
                .filter(progress::Column::PersonId.eq(person_id))
                .filter(progress::Column::LessonId.eq(lesson_row.id))
                .exec(scope.db())
                .await?;
        }
    }
    if status == LessonStatus::Completed {
        crate::completion::service::evaluate(scope, signer, course_id, person_id, source.as_str())
            .await?;
    }
    progress::Entity::find()
        .filter(progress::Column::PersonId.eq(person_id))
        .filter(progress::Column::LessonId.eq(lesson_row.id))
        .one(scope.db())
        .await?
        .map(from_row)
        .ok_or(CourseError::LessonNotFound)
}

async fn lesson_row(scope: &TenantScope, lesson_id: Uuid) -> Result<lesson::Model, CourseError> {
    lesson::Entity::find_by_id(lesson_id)
        .one(scope.db())
        .await?
        .ok_or(CourseError::LessonNotFound)
}

/// The signed-in learner marks a lesson of a course they are actively enrolled in
/// `started` or `completed`; a course hidden from them (A1) is `NotFound`, nothing recorded.
pub async fn record_mine(
    tenancy: &Tenancy,
    scope: &TenantScope,
    signer: &dyn CertificateSigner,
    course_id: Uuid,
    lesson_id: Uuid,
    status: LessonStatus,
) -> Result<LessonProgress, CourseError> {
    scope.require(Scope::CoursesRead)?;
    let person = caller_person(scope)?;
    crate::catalog::service::course_for(tenancy, scope, course_id).await?;
    let row = lesson_row(scope, lesson_id).await?;
    record(
        scope,
        signer,
        course_id,
        person,
        row,
        status,
        ProgressSource::Learner,
    )
    .await
}

/// The person completed the lesson, as an outside record says (the xAPI LRS on a
/// `completed` statement about the lesson's activity: `source` [`ProgressSource::Xapi`]).
/// Needs the person's active enrollment in the lesson's course (`NotEnrolled` otherwise);
/// the caller checked it may record statements. Evaluates the completion rule. A lesson of a
/// course hidden from the person (A1: restricted, or above a minor's age) is `NotFound` and
/// records nothing.
pub async fn record_lesson_completed(
    tenancy: &Tenancy,
    scope: &TenantScope,
    signer: &dyn CertificateSigner,
    person_id: Uuid,
    lesson_id: Uuid,
    source: ProgressSource,
) -> Result<LessonProgress, CourseError> {
    let row = lesson_row(scope, lesson_id).await?;
    let course_id = row.course_id;
    crate::catalog::service::course_for_person(tenancy, scope, person_id, course_id).await?;
    record(
        scope,
        signer,
        course_id,
        person_id,
        row,
        LessonStatus::Completed,
        source,
    )
    .await
}

/// The signed-in learner's progress through a course they are (or were) enrolled in (one
/// hidden from them, A1, is `NotFound`).
pub async fn my_course_progress(
    tenancy: &Tenancy,
    scope: &TenantScope,
    course_id: Uuid,
) -> Result<CourseProgress, CourseError> {
    scope.require(Scope::CoursesRead)?;
    let person = caller_person(scope)?;
    crate::catalog::service::course_for(tenancy, scope, course_id).await?;
    course_progress(scope, course_id, person).await
}

/// A learner's progress through a course, for its instructor or an admin.
pub async fn learner_progress(
    scope: &TenantScope,
    course_id: Uuid,
    person_id: Uuid,
) -> Result<CourseProgress, CourseError> {
    staff_course(scope, course_id, false).await?;
    let progress = course_progress(scope, course_id, person_id).await?;
    // A staff read of another person's learning record (S2).
    audit::record(
        scope,
        AuditEvent::new("course_progress.read")
            .person(person_id)
            .detail(serde_json::json!({"course_id": course_id})),
    )
    .await?;
    Ok(progress)
}

/// A minor's progress in every course they are enrolled in, for their guardian (A1):
/// `guardians:read` (the guardian role) and a verified guardianship of this minor
/// ([`Tenancy::is_guardian_of`]); anyone else's child answers like an unknown person (404).
/// Every read is audited (`guardian.progress_read`).
pub async fn minor_progress_for_guardian(
    tenancy: &Tenancy,
    scope: &TenantScope,
    minor_id: Uuid,
) -> Result<Vec<CourseProgress>, CourseError> {
    scope.require(crate::GUARDIANS_READ)?;
    let guardian = caller_person(scope)?;
    if !tenancy.is_guardian_of(scope, guardian, minor_id).await? {
        return Err(CourseError::PersonNotFound);
    }
    let enrollments = crate::enrollment::store::of_person(scope, minor_id).await?;
    let mut out = Vec::with_capacity(enrollments.len());
    for course_id in enrollments {
        out.push(course_progress(scope, course_id, minor_id).await?);
    }
    audit::record(
        scope,
        AuditEvent::new("guardian.progress_read")
            .person(minor_id)
            .detail(serde_json::json!({"courses": out.len()})),
    )
    .await?;
    Ok(out)
}

async fn course_progress(
    scope: &TenantScope,
    course_id: Uuid,
    person_id: Uuid,
) -> Result<CourseProgress, CourseError> {
    crate::enrollment::store::course(scope, course_id).await?;
    // A read finds no enrollment (404); only a write is refused for the lack of one (409).
    let enrollment = crate::enrollment::store::find(scope, course_id, person_id)
        .await?
        .ok_or(CourseError::EnrollmentNotFound)?;
    let rule = rule_of(scope, course_id).await?;
    let modules = module::Entity::find()
        .filter(module::Column::CourseId.eq(course_id))
        .order_by_asc(module::Column::Position)
        .order_by_asc(module::Column::Id)
        .all(scope.db())
        .await?;
    let lessons = lessons_of_course(scope, course_id).await?;
    let rows: HashMap<Uuid, progress::Model> = rows_of(scope, course_id, person_id)
        .await?
        .into_iter()
        .map(|r| (r.lesson_id, r))
        .collect();
    let mut out = Vec::with_capacity(modules.len());
    let (mut required_all, mut required_done) = (0, 0);
    for m in modules {
        let mut states = Vec::new();
        let (mut done, mut required, mut required_completed) = (0, 0, 0);
        for l in lessons.iter().filter(|l| l.module_id == m.id) {
            let row = rows.get(&l.id);
            let status = row.and_then(|r| LessonStatus::parse(&r.status));
            let is_required = requires(&rule, l);
            let completed = status == Some(LessonStatus::Completed);
            done += u32::from(completed);
            required += u32::from(is_required);
            required_completed += u32::from(is_required && completed);
            states.push(LessonState {
                lesson_id: l.id,
                title: l.title.clone(),
                required: is_required,
                status,
                completed_at: row.and_then(|r| r.completed_at),
            });
        }
        required_all += required;
        required_done += required_completed;
        out.push(ModuleProgress {
            module_id: m.id,
            title: m.title,
            lessons: states,
            lessons_completed: done,
            required_lessons: required,
            required_completed,
            percent: percent(required_completed, required),
        });
    }
    let quizzes: Vec<QuizStanding> =
        crate::attempts::service::standings(scope, course_id, person_id)
            .await?
            .into_iter()
            .map(|mut s| {
                s.required = rule.passing_quizzes.contains(&s.quiz_id);
                s
            })
            .collect();
    let completed_at = crate::completion::service::find(scope, course_id, person_id)
        .await?
        .map(|c| c.completed_at);
    Ok(CourseProgress {
        course_id,
        person_id,
        enrollment_id: enrollment.id,
        enrollment_state: enrollment.state,
        modules: out,
        required_lessons: required_all,
        required_completed: required_done,
        percent: percent(required_done, required_all),
        quizzes,
        completed_at,
    })
}
