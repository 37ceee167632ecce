//! Attempt operations, each inside the caller's [`TenantScope`] (the caller commits).
//!
//! A learner (`courses:read`, a signed-in person) starts and submits their own attempts at
//! the quizzes of a course they are actively enrolled in; another person's attempt answers
//! 404. Staff read a quiz's attempts (`enrollments:read`) and change a score
//! (`enrollments:write`) in the courses they teach (every course with `all_enrollments:*`).
//! A refused start or submission writes nothing: every check runs before the first write.

use super::entity::{attempt, grade_change};
use super::model::{
    Attempt, AttemptState, GradeChange, MAX_GRADE_REASON, QuestionOrder, adapted_order, kept,
};
use crate::CourseError;
use crate::progress::QuizStanding;
use crate::progress::service::{active_learner, caller_person, staff_course};
use crate::quiz::{AnswerInput, Answers, KeptScore, QuestionGrade, grade};
use chrono::{DateTime, Duration, Utc};
use hub_kernel::FieldViolation;
use hub_kernel::page::{Page, PageRequest};
use hub_tenant::audit::{self, AuditEvent};
use hub_tenant::consent_gate::ConsentPurpose;
use hub_tenant::{Scope, Tenancy, TenantScope};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, SqlErr,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub(crate) const ATTEMPTS: &str = "quiz_attempts";
pub(crate) const GRADE_CHANGES: &str = "attempt_grade_changes";

/// The stored form of one answer (sealed with the others in `answers_sealed`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredAnswer {
    pub question_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub option_ids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredGrade {
    question_id: String,
    points: u32,
    max: u32,
    correct: bool,
    answered: bool,
}

/// The settings of a quiz that attempts need, read without an access check.
pub(crate) struct QuizTerms {
    pub id: Uuid,
    pub course_id: Uuid,
    pub title: String,
    pub max_attempts: Option<i32>,
    pub time_limit_seconds: Option<i32>,
    pub due_at: Option<DateTime<Utc>>,
    pub passing_score: i32,
    pub kept_score: KeptScore,
    pub adaptive: bool,
}

fn terms_from(row: crate::quiz::entity::Model) -> QuizTerms {
    QuizTerms {
        id: row.id,
        course_id: row.course_id,
        title: row.title,
        max_attempts: row.max_attempts,
        time_limit_seconds: row.time_limit_seconds,
        due_at: row.due_at,
        passing_score: row.passing_score,
        // Only validated values are ever written.
        kept_score: KeptScore::parse(&row.kept_score).unwrap_or(KeptScore::Highest),
        adaptive: row.adaptive,
    }
}

pub(crate) async fn terms(scope: &TenantScope, quiz_id: Uuid) -> Result<QuizTerms, CourseError> {
    crate::quiz::entity::Entity::find_by_id(quiz_id)
        .one(scope.db())
        .await?
        .map(terms_from)
        .ok_or(CourseError::QuizNotFound)
}

fn state_of(row: &attempt::Model, now: DateTime<Utc>) -> AttemptState {
    match (row.submitted_at, row.deadline_at) {
        (Some(_), _) => AttemptState::Submitted,
        (None, Some(deadline)) if now > deadline => AttemptState::Expired,
        (None, _) => AttemptState::InProgress,
    }
}

pub(crate) fn from_row(row: attempt::Model, now: DateTime<Utc>) -> Attempt {
    let per_question: Vec<StoredGrade> = row
        .per_question
        .as_deref()
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or_default();
    Attempt {
        id: row.id,
        quiz_id: row.quiz_id,
        course_id: row.course_id,
        person_id: row.person_id,
        number: row.number,
        state: state_of(&row, now),
        started_at: row.started_at,
        deadline_at: row.deadline_at,
        submitted_at: row.submitted_at,
        score: row.score,
        auto_score: row.auto_score,
        max_score: row.max_score,
        passed: row.passed,
        per_question: per_question
            .into_iter()
            .map(|g| QuestionGrade {
                question_id: g.question_id,
                points: g.points,
                max: g.max,
                correct: g.correct,
                answered: g.answered,
            })
            .collect(),
        revision: row.revision,
        question_order: None,
    }
}

/// A score passes when `score × 100 ≥ passing_score × max` (whole numbers, as grading).
fn passes(score: i32, max: i32, passing_score: i32) -> bool {
    i64::from(score) * 100 >= i64::from(passing_score) * i64::from(max)
}

pub(crate) async fn rows_of(
    scope: &TenantScope,
    quiz_id: Uuid,
    person_id: Uuid,
) -> Result<Vec<attempt::Model>, CourseError> {
    Ok(attempt::Entity::find()
        .filter(attempt::Column::PersonId.eq(person_id))
        .filter(attempt::Column::QuizId.eq(quiz_id))
        .order_by_asc(attempt::Column::Number)
        .all(scope.db())
        .await?)
}

async fn load(scope: &TenantScope, id: Uuid) -> Result<attempt::Model, CourseError> {
    attempt::Entity::find_by_id(id)
        .one(scope.db())
        .await?
        .ok_or(CourseError::AttemptNotFound)
}

/// The signed-in learner starts an attempt at a quiz of a course they are actively enrolled
/// in. Refused, writing nothing: after the quiz's `due_at` (`QuizClosed`), when the attempt
/// limit is used up (`AttemptLimitReached`), while another attempt is in progress
/// (`AttemptInProgress`; also what the loser of two racing starts gets, as the number is
/// unique per quiz and person).
/// A quiz of a course hidden from the learner (A1) answers like an unknown quiz.
/// The answer carries the order of the attempt's questions ([`question_order`]).
pub async fn start(
    tenancy: &Tenancy,
    scope: &TenantScope,
    quiz_id: Uuid,
) -> Result<Attempt, CourseError> {
    scope.require(Scope::CoursesRead)?;
    let person = caller_person(scope)?;
    let quiz = terms(scope, quiz_id).await?;
    crate::structure::service::seen_as(tenancy, scope, quiz.course_id, CourseError::QuizNotFound)
        .await?;
    active_learner(scope, quiz.course_id, person).await?;
    let now = Utc::now();
    if quiz.due_at.is_some_and(|due| now >= due) {
        return Err(CourseError::QuizClosed);
    }
    let existing = rows_of(scope, quiz_id, person).await?;
    let used = i32::try_from(existing.len()).unwrap_or(i32::MAX);
    // An overturned automated decision gives back an attempt (U7).
    let limit = match quiz.max_attempts {
        Some(limit) => Some(limit.saturating_add(
            crate::decisions::service::extra_attempts(scope, quiz_id, person).await?,
        )),
        None => None,
    };
    if let Some(limit) = limit
        && used >= limit
    {
        return Err(CourseError::AttemptLimitReached { limit });
    }
    if existing
        .iter()
        .any(|a| state_of(a, now) == AttemptState::InProgress)
    {
        return Err(CourseError::AttemptInProgress);
    }
    let by_limit = quiz
        .time_limit_seconds
        .map(|s| now + Duration::seconds(i64::from(s)));
    let deadline = match (by_limit, quiz.due_at) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let order = question_order(tenancy, scope, &quiz, person, &existing, now).await?;
    let id = Uuid::now_v7();
    attempt::Entity::insert(attempt::ActiveModel {
        id: Set(id),
        quiz_id: Set(quiz_id),
        course_id: Set(quiz.course_id),
        person_id: Set(person),
        number: Set(used + 1),
        started_at: Set(now),
        deadline_at: Set(deadline),
        submitted_at: Set(None),
        auto_score: Set(None),
        score: Set(None),
        max_score: Set(None),
        passed: Set(None),
        per_question: Set(None),
        answers_sealed: Set(None),
        revision: Set(1),
    })
    .exec_without_returning(scope.db())
    .await
    .map_err(|e| match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => CourseError::AttemptInProgress,
        _ => CourseError::Database(e),
    })?;
    let mut started = from_row(load(scope, id).await?, now);
    started.question_order = Some(order);
    Ok(started)
}

/// The order a new attempt puts the quiz's questions in (module doc): the quiz's own,
/// unless the quiz is adaptive and the consent gate allows personalising the learner's
/// service now; then [`adapted_order`] of their earlier attempts (`earlier`, read
/// already for the attempt limit; their stored per-question grading, nothing unsealed).
/// Asked at each start, so a withdrawal applies to the very next one.
async fn question_order(
    tenancy: &Tenancy,
    scope: &TenantScope,
    quiz: &QuizTerms,
    person: Uuid,
    earlier: &[attempt::Model],
    now: DateTime<Utc>,
) -> Result<QuestionOrder, CourseError> {
    let questions: Vec<String> = crate::quiz::service::find(scope, quiz.id)
        .await?
        .questions
        .into_iter()
        .map(|q| q.id)
        .collect();
    if !quiz.adaptive {
        return Ok(QuestionOrder {
            question_ids: questions,
            personalised: false,
            withheld: None,
        });
    }
    let decision = tenancy
        .may_use(scope, person, ConsentPurpose::Personalisation, now)
        .await
        .map_err(|e| CourseError::Messaging(format!("the consent gate failed: {e}")))?;
    if !decision.allowed {
        return Ok(QuestionOrder {
            question_ids: questions,
            personalised: false,
            withheld: Some(decision.reason),
        });
    }
    let history: Vec<Attempt> = earlier.iter().cloned().map(|r| from_row(r, now)).collect();
    Ok(QuestionOrder {
        question_ids: adapted_order(&questions, &history),
        personalised: true,
        withheld: None,
    })
}

/// The signed-in learner submits their answers to one of their attempts, once, before its
/// deadline; it is auto-graded and the course's completion rule re-evaluated. Refused,
/// writing nothing: another's or an unknown attempt (`AttemptNotFound`), one submitted
/// already (`AttemptSubmitted`), one past its deadline (`AttemptExpired`), answers that do
/// not fit the quiz (`Invalid`, naming the field); one at a quiz of a course now hidden
/// from the learner (A1) answers like an unknown attempt.
pub async fn submit(
    tenancy: &Tenancy,
    scope: &TenantScope,
    signer: &dyn crate::certificates::CertificateSigner,
    attempt_id: Uuid,
    answers: &[AnswerInput],
) -> Result<Attempt, CourseError> {
    scope.require(Scope::CoursesRead)?;
    let person = caller_person(scope)?;
    let row = load(scope, attempt_id).await?;
    if row.person_id != person {
        return Err(CourseError::AttemptNotFound);
    }
    crate::structure::service::seen_as(tenancy, scope, row.course_id, CourseError::AttemptNotFound)
        .await?;
    let now = Utc::now();
    match state_of(&row, now) {
        AttemptState::Submitted => return Err(CourseError::AttemptSubmitted),
        AttemptState::Expired => return Err(CourseError::AttemptExpired),
        AttemptState::InProgress => {}
    }
    active_learner(scope, row.course_id, person).await?;
    let quiz = crate::quiz::service::find(scope, row.quiz_id).await?;
    let checked = Answers::check(&quiz, answers)?;
    let graded = grade(&quiz, &checked);
    let stored: Vec<StoredAnswer> = answers
        .iter()
        .map(|a| StoredAnswer {
            question_id: a.question_id.clone(),
            option_ids: a.option_ids.clone(),
            number: a.number,
            text: a.text.clone(),
        })
        .collect();
    let answers_json = serde_json::to_string(&stored).unwrap_or_else(|_| "[]".into());
    let grades: Vec<StoredGrade> = graded
        .per_question
        .iter()
        .map(|g| StoredGrade {
            question_id: g.question_id.clone(),
            points: g.points,
            max: g.max,
            correct: g.correct,
            answered: g.answered,
        })
        .collect();
    let score = i32::try_from(graded.score).unwrap_or(i32::MAX);
    let max = i32::try_from(graded.max).unwrap_or(i32::MAX);
    // Submitted once: the statement only moves a row still unsubmitted at this revision.
    let updated = attempt::Entity::update_many()
        .set(attempt::ActiveModel {
            submitted_at: Set(Some(now)),
            auto_score: Set(Some(score)),
            score: Set(Some(score)),
            max_score: Set(Some(max)),
            passed: Set(Some(graded.passed)),
            per_question: Set(Some(
                serde_json::to_string(&grades).unwrap_or_else(|_| "[]".into()),
            )),
            answers_sealed: Set(Some(scope.keys().seal_str(
                ATTEMPTS,
                "answers",
                row.id,
                &answers_json,
            ))),
            revision: Set(row.revision + 1),
            ..Default::default()
        })
        .filter(attempt::Column::Id.eq(row.id))
        .filter(attempt::Column::SubmittedAt.is_null())
        .exec(scope.db())
        .await?;
    if updated.rows_affected == 0 {
        return Err(CourseError::AttemptSubmitted);
    }
    crate::completion::service::evaluate(scope, signer, row.course_id, person, "quiz_attempt")
        .await?;
    // The last allowed attempt of a required quiz, not passed: recorded for a person to
    // review, never applied here (U7).
    crate::decisions::service::after_submission(scope, row.quiz_id, person).await?;
    Ok(from_row(load(scope, row.id).await?, now))
}

/// The signed-in learner's attempts at a quiz, oldest first, with the one whose score is
/// kept (a quiz of a course hidden from them, A1, answers like an unknown quiz).
pub async fn my_attempts(
    tenancy: &Tenancy,
    scope: &TenantScope,
    quiz_id: Uuid,
) -> Result<(Vec<Attempt>, Option<Uuid>, i32), CourseError> {
    scope.require(Scope::CoursesRead)?;
    let person = caller_person(scope)?;
    let quiz = terms(scope, quiz_id).await?;
    crate::structure::service::seen_as(tenancy, scope, quiz.course_id, CourseError::QuizNotFound)
        .await?;
    let now = Utc::now();
    let attempts: Vec<Attempt> = rows_of(scope, quiz_id, person)
        .await?
        .into_iter()
        .map(|r| from_row(r, now))
        .collect();
    let kept_id = kept(quiz.kept_score, &attempts).map(|a| a.id);
    Ok((attempts, kept_id, quiz.passing_score))
}

/// A quiz's attempts (optionally one learner's), by id, in pages, for the course's
/// instructor or an admin.
pub async fn quiz_attempts(
    scope: &TenantScope,
    quiz_id: Uuid,
    person_id: Option<Uuid>,
    page: &PageRequest,
) -> Result<Page<Attempt>, CourseError> {
    scope.require(crate::ENROLLMENTS_READ)?;
    let quiz = terms(scope, quiz_id).await?;
    staff_course(scope, quiz.course_id, false)
        .await
        .map_err(|e| match e {
            CourseError::NotFound => CourseError::QuizNotFound,
            other => other,
        })?;
    let mut query = attempt::Entity::find()
        .filter(attempt::Column::QuizId.eq(quiz_id))
        .order_by_asc(attempt::Column::Id)
        .limit(page.fetch_limit());
    if let Some(person) = person_id {
        query = query.filter(attempt::Column::PersonId.eq(person));
    }
    if let Some(after) = page.after {
        query = query.filter(attempt::Column::Id.gt(after));
    }
    let now = Utc::now();
    let rows = query.all(scope.db()).await?;
    let page = Page::from_rows(rows, page, |r| r.id).map(|r| from_row(r, now));
    // Staff read other people's scores: one audit entry per page, naming them.
    audit::record_listing(
        scope,
        "quiz_attempts.listed",
        "person_ids",
        page.items.iter().map(|a| a.person_id),
    )
    .await?;
    Ok(page)
}

/// The attempt, for its course's instructor or an admin (`write`: to change it).
async fn staff_attempt(
    scope: &TenantScope,
    attempt_id: Uuid,
    write: bool,
) -> Result<attempt::Model, CourseError> {
    scope.require(if write {
        crate::ENROLLMENTS_WRITE
    } else {
        crate::ENROLLMENTS_READ
    })?;
    let row = load(scope, attempt_id).await?;
    staff_course(scope, row.course_id, write)
        .await
        .map_err(|e| match e {
            CourseError::NotFound => CourseError::AttemptNotFound,
            other => other,
        })?;
    Ok(row)
}

fn check_reason(reason: &str) -> Result<(), CourseError> {
    if reason.trim().is_empty()
        || reason.chars().count() > MAX_GRADE_REASON
        || reason.chars().any(|c| c.is_control() && c != '\n')
    {
        return Err(CourseError::Invalid(vec![FieldViolation::new(
            "reason",
            format!("1 to {MAX_GRADE_REASON} characters without control characters"),
        )]));
    }
    Ok(())
}

fn open_change(scope: &TenantScope, row: grade_change::Model) -> Result<GradeChange, CourseError> {
    let reason = scope
        .keys()
        .open_str(GRADE_CHANGES, "reason", row.id, &row.reason_sealed)
        .map_err(|e| CourseError::Tenant(e.into()))?;
    Ok(GradeChange {
        id: row.id,
        attempt_id: row.attempt_id,
        person_id: row.person_id,
        changed_by: row.changed_by,
        old_score: row.old_score,
        new_score: row.new_score,
        reason,
        at: row.at,
    })
}

/// An instructor of the course (or an admin) changes a submitted attempt's score, with why:
/// recorded (who, old, new, why) and audited; the kept score follows, and a course whose
/// rule the new score satisfies is completed (a lower score never un-completes one).
pub async fn change_grade(
    scope: &TenantScope,
    signer: &dyn crate::certificates::CertificateSigner,
    attempt_id: Uuid,
    score: i32,
    reason: &str,
) -> Result<(GradeChange, Attempt), CourseError> {
    let row = staff_attempt(scope, attempt_id, true).await?;
    check_reason(reason)?;
    let (Some(old), Some(max), Some(_)) = (row.score, row.max_score, row.submitted_at) else {
        return Err(CourseError::AttemptNotSubmitted);
    };
    if !(0..=max).contains(&score) {
        return Err(CourseError::Invalid(vec![FieldViolation::new(
            "score",
            format!("0 to the attempt's maximum, {max}"),
        )]));
    }
    let quiz = terms(scope, row.quiz_id).await?;
    let now = Utc::now();
    let id = Uuid::now_v7();
    let changed_by = scope.actor_label();
    grade_change::Entity::insert(grade_change::ActiveModel {
        id: Set(id),
        attempt_id: Set(row.id),
        person_id: Set(row.person_id),
        changed_by: Set(changed_by),
        old_score: Set(old),
        new_score: Set(score),
        reason_sealed: Set(scope.keys().seal_str(GRADE_CHANGES, "reason", id, reason)),
        at: Set(now),
    })
    .exec_without_returning(scope.db())
    .await?;
    attempt::Entity::update_many()
        .set(attempt::ActiveModel {
            score: Set(Some(score)),
            passed: Set(Some(passes(score, max, quiz.passing_score))),
            revision: Set(row.revision + 1),
            ..Default::default()
        })
        .filter(attempt::Column::Id.eq(row.id))
        .exec(scope.db())
        .await?;
    audit::record(
        scope,
        AuditEvent::new("quiz_attempt.grade_changed")
            .person(row.person_id)
            .detail(serde_json::json!({
                "attempt_id": row.id,
                "quiz_id": row.quiz_id,
                "course_id": row.course_id,
                "old_score": old,
                "new_score": score,
            })),
    )
    .await?;
    crate::completion::service::evaluate(
        scope,
        signer,
        row.course_id,
        row.person_id,
        "grade_change",
    )
    .await?;
    let change = grade_change::Entity::find_by_id(id)
        .one(scope.db())
        .await?
        .ok_or(CourseError::AttemptNotFound)?;
    Ok((
        open_change(scope, change)?,
        from_row(load(scope, row.id).await?, now),
    ))
}

/// An attempt's grade changes, oldest first (staff, as for reading its quiz's attempts).
pub async fn grade_changes(
    scope: &TenantScope,
    attempt_id: Uuid,
) -> Result<Vec<GradeChange>, CourseError> {
    let row = staff_attempt(scope, attempt_id, false).await?;
    // A staff read of another person's grading history (S2).
    audit::record(
        scope,
        AuditEvent::new("quiz_attempt.grade_changes_read")
            .person(row.person_id)
            .detail(serde_json::json!({"attempt_id": row.id})),
    )
    .await?;
    grade_change::Entity::find()
        .filter(grade_change::Column::AttemptId.eq(row.id))
        .order_by_asc(grade_change::Column::Id)
        .all(scope.db())
        .await?
        .into_iter()
        .map(|r| open_change(scope, r))
        .collect()
}

/// Whether the person's kept score at the quiz passes it.
pub(crate) async fn quiz_passed(
    scope: &TenantScope,
    quiz_id: Uuid,
    person_id: Uuid,
) -> Result<bool, CourseError> {
    let Ok(quiz) = terms(scope, quiz_id).await else {
        return Ok(false);
    };
    let now = Utc::now();
    let attempts: Vec<Attempt> = rows_of(scope, quiz_id, person_id)
        .await?
        .into_iter()
        .map(|r| from_row(r, now))
        .collect();
    Ok(kept(quiz.kept_score, &attempts).is_some_and(|a| {
        passes(
            a.score.unwrap_or(0),
            a.max_score.unwrap_or(0),
            quiz.passing_score,
        )
    }))
}

/// The person's standing at each quiz of the course, oldest quiz first (two indexed reads:
/// the course's quizzes, the person's attempts in the course).
pub(crate) async fn standings(
    scope: &TenantScope,
    course_id: Uuid,
    person_id: Uuid,
) -> Result<Vec<QuizStanding>, CourseError> {
    let quizzes: Vec<QuizTerms> = crate::quiz::entity::Entity::find()
        .filter(crate::quiz::entity::Column::CourseId.eq(course_id))
        .order_by_asc(crate::quiz::entity::Column::Id)
        .all(scope.db())
        .await?
        .into_iter()
        .map(terms_from)
        .collect();
    let now = Utc::now();
    let all: Vec<Attempt> = attempt::Entity::find()
        .filter(attempt::Column::PersonId.eq(person_id))
        .filter(attempt::Column::CourseId.eq(course_id))
        .order_by_asc(attempt::Column::Number)
        .all(scope.db())
        .await?
        .into_iter()
        .map(|r| from_row(r, now))
        .collect();
    Ok(quizzes
        .into_iter()
        .map(|quiz| {
            let mine: Vec<Attempt> = all
                .iter()
                .filter(|a| a.quiz_id == quiz.id)
                .cloned()
                .collect();
            let kept_attempt = kept(quiz.kept_score, &mine);
            QuizStanding {
                quiz_id: quiz.id,
                title: quiz.title.clone(),
                required: false,
                attempts: u32::try_from(mine.len()).unwrap_or(u32::MAX),
                kept_score: kept_attempt.and_then(|a| a.score),
                max_score: kept_attempt.and_then(|a| a.max_score),
                passed: kept_attempt.is_some_and(|a| {
                    passes(
                        a.score.unwrap_or(0),
                        a.max_score.unwrap_or(0),
                        quiz.passing_score,
                    )
                }),
            }
        })
        .collect())
}
