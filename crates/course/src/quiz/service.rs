//! Quiz operations. Each runs inside the caller's [`TenantScope`]; the caller commits.
//!
//! Reading a quiz (`courses:read`) gives the whole [`Quiz`], keys included, because grading
//! needs them; what a learner is shown is the gateway's keyless view of it. Authoring reads
//! ([`get_for_authoring`]) and previews need `courses:write`.

use super::entity;
use super::grading::{AnswerInput, Answers, Graded, grade};
use super::model::{KeptScore, NewQuiz, Question, Quiz, QuizPatch, QuizSettings};
use crate::CourseError;
use chrono::Utc;
use hub_tenant::{Scope, Tenancy, TenantScope};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use uuid::Uuid;

/// Quizzes per course.
pub const MAX_QUIZZES: usize = 200;

fn from_row(row: entity::Model) -> Quiz {
    Quiz {
        id: row.id,
        course_id: row.course_id,
        title: row.title,
        description: row.description,
        settings: QuizSettings {
            max_attempts: row.max_attempts,
            time_limit_seconds: row.time_limit_seconds,
            due_at: row.due_at,
            passing_score: row.passing_score,
            // Only validated values are ever written.
            kept_score: KeptScore::parse(&row.kept_score).unwrap_or(KeptScore::Highest),
            adaptive: row.adaptive,
        },
        questions: serde_json::from_str(&row.questions).unwrap_or_default(),
        revision: row.revision,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

fn questions_json(questions: &[Question]) -> Result<String, CourseError> {
    serde_json::to_string(questions).map_err(|e| {
        CourseError::Database(sea_orm::DbErr::Custom(format!(
            "questions do not serialise: {e}"
        )))
    })
}

pub(crate) async fn find(scope: &TenantScope, id: Uuid) -> Result<Quiz, CourseError> {
    entity::Entity::find_by_id(id)
        .one(scope.db())
        .await?
        .map(from_row)
        .ok_or(CourseError::QuizNotFound)
}

/// The course's quizzes as `(id, title)`, oldest first (for the outline and the rule).
pub(crate) async fn entries_of(
    scope: &TenantScope,
    course_id: Uuid,
) -> Result<Vec<(Uuid, String)>, CourseError> {
    Ok(entity::Entity::find()
        .select_only()
        .column(entity::Column::Id)
        .column(entity::Column::Title)
        .filter(entity::Column::CourseId.eq(course_id))
        .order_by_asc(entity::Column::Id)
        .into_tuple::<(Uuid, String)>()
        .all(scope.db())
        .await?)
}

/// Creates a quiz in the course.
pub async fn create(
    scope: &TenantScope,
    course_id: Uuid,
    input: NewQuiz,
) -> Result<Quiz, CourseError> {
    scope.require(Scope::CoursesWrite)?;
    let questions = input.validate()?;
    crate::catalog::service::get(scope, course_id).await?;
    let count = entity::Entity::find()
        .filter(entity::Column::CourseId.eq(course_id))
        .count(scope.db())
        .await?;
    if count as usize >= MAX_QUIZZES {
        return Err(CourseError::Invalid(vec![hub_kernel::FieldViolation::new(
            "course_id",
            format!("a course has at most {MAX_QUIZZES} quizzes"),
        )]));
    }
    let id = Uuid::now_v7();
    let now = Utc::now();
    let s = &input.settings;
    entity::Entity::insert(entity::ActiveModel {
        id: Set(id),
        course_id: Set(course_id),
        title: Set(input.title.trim().to_string()),
        description: Set(input.description.clone()),
        max_attempts: Set(s.max_attempts),
        time_limit_seconds: Set(s.time_limit_seconds),
        due_at: Set(s.due_at),
        passing_score: Set(s.passing_score),
        kept_score: Set(s.kept_score.as_str().to_string()),
        adaptive: Set(s.adaptive),
        questions: Set(questions_json(&questions)?),
        revision: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .exec_without_returning(scope.db())
    .await?;
    find(scope, id).await
}

/// The quiz with its keys (for grading; learners are shown it without them). One of a
/// course hidden from the caller (A1) answers like an unknown quiz.
pub async fn get(tenancy: &Tenancy, scope: &TenantScope, id: Uuid) -> Result<Quiz, CourseError> {
    scope.require(Scope::CoursesRead)?;
    let quiz = find(scope, id).await?;
    crate::structure::service::seen_as(tenancy, scope, quiz.course_id, CourseError::QuizNotFound)
        .await?;
    Ok(quiz)
}

/// The quiz as its authors edit it.
pub async fn get_for_authoring(scope: &TenantScope, id: Uuid) -> Result<Quiz, CourseError> {
    scope.require(Scope::CoursesWrite)?;
    find(scope, id).await
}

/// The course's quizzes, oldest first.
pub async fn list(
    tenancy: &Tenancy,
    scope: &TenantScope,
    course_id: Uuid,
) -> Result<Vec<Quiz>, CourseError> {
    scope.require(Scope::CoursesRead)?;
    crate::catalog::service::course_for(tenancy, scope, course_id).await?;
    Ok(entity::Entity::find()
        .filter(entity::Column::CourseId.eq(course_id))
        .order_by_asc(entity::Column::Id)
        .all(scope.db())
        .await?
        .into_iter()
        .map(from_row)
        .collect())
}

/// Applies a patch when `expected_revision` (from `If-Match`) still holds.
pub async fn update(
    scope: &TenantScope,
    id: Uuid,
    patch: QuizPatch,
    expected_revision: Option<i32>,
) -> Result<Quiz, CourseError> {
    scope.require(Scope::CoursesWrite)?;
    let questions = patch.validate()?;
    let current = find(scope, id).await?;
    if let Some(expected) = expected_revision
        && expected != current.revision
    {
        return Err(CourseError::RevisionMismatch {
            current: current.revision,
        });
    }
    let s = current.settings;
    let changes = entity::ActiveModel {
        title: Set(patch
            .title
            .map(|t| t.trim().to_string())
            .unwrap_or(current.title)),
        description: Set(patch.description.unwrap_or(current.description)),
        max_attempts: Set(patch.max_attempts.unwrap_or(s.max_attempts)),
        time_limit_seconds: Set(patch.time_limit_seconds.unwrap_or(s.time_limit_seconds)),
        due_at: Set(patch.due_at.unwrap_or(s.due_at)),
        passing_score: Set(patch.passing_score.unwrap_or(s.passing_score)),
        kept_score: Set(patch
            .kept_score
            .unwrap_or(s.kept_score)
            .as_str()
            .to_string()),
        adaptive: Set(patch.adaptive.unwrap_or(s.adaptive)),
        questions: Set(questions_json(&questions.unwrap_or(current.questions))?),
        revision: Set(current.revision + 1),
        updated_at: Set(Utc::now()),
        ..Default::default()
    };
    let result = entity::Entity::update_many()
        .set(changes)
        .filter(entity::Column::Id.eq(id))
        .filter(entity::Column::Revision.eq(current.revision))
        .exec(scope.db())
        .await?;
    if result.rows_affected == 0 {
        return Err(CourseError::RevisionMismatch {
            current: current.revision + 1,
        });
    }
    find(scope, id).await
}

/// Deletes a quiz, unless its course's completion rule requires passing it.
pub async fn delete(
    scope: &TenantScope,
    id: Uuid,
    expected_revision: Option<i32>,
) -> Result<(), CourseError> {
    scope.require(Scope::CoursesWrite)?;
    let current = find(scope, id).await?;
    // The rule is changed under the same lock, so it cannot start naming the quiz meanwhile.
    crate::structure::service::lock_course(scope, current.course_id).await?;
    if let Some(expected) = expected_revision
        && expected != current.revision
    {
        return Err(CourseError::RevisionMismatch {
            current: current.revision,
        });
    }
    if crate::structure::service::rule_names_quiz(scope, current.course_id, id).await? {
        return Err(CourseError::QuizInCompletionRule);
    }
    entity::Entity::delete_by_id(id).exec(scope.db()).await?;
    Ok(())
}

/// Grades `answers` against the quiz without recording anything (an author's preview).
pub async fn preview_grade(
    scope: &TenantScope,
    id: Uuid,
    answers: &[AnswerInput],
) -> Result<(Quiz, Graded), CourseError> {
    scope.require(Scope::CoursesWrite)?;
    let quiz = find(scope, id).await?;
    let checked = Answers::check(&quiz, answers)?;
    let graded = grade(&quiz, &checked);
    Ok((quiz, graded))
}
