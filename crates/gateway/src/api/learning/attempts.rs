//! Quiz attempts: a learner starts an attempt and submits it once
//! (`/v1/me/quizzes/{id}/attempts`, `/v1/me/attempts/{id}/submission`) and reads their
//! attempts with the kept score; the course's instructor or an admin lists a quiz's
//! attempts and changes a score with a reason (`/v1/attempts/{id}/grade-changes`), each
//! change recorded and audited. Learners never see the answer keys: only points per
//! question. Starting an attempt answers with the order to present its questions in
//! (`question_order`: an adaptive quiz's, personalised from the learner's earlier attempts
//! only while their consent allows it; U3).

use crate::api::ApiTags;
use crate::api::described::Described;
use crate::api::learning::certificate_signer;
use crate::api::learning::quizzes::{AnswerSet, QuestionGradeView};
use crate::api::learning::recommendations::WithheldReasonView;
use crate::api::page_request;
use crate::auth::TenantCredential;
use crate::problem::ApiError;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use hub_course::attempts::service;
use hub_course::attempts::{Attempt, AttemptState, GradeChange};
use hub_course::quiz::AnswerInput;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use std::sync::Arc;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum AttemptStateView {
    /// Started, not submitted, its deadline not passed.
    InProgress,
    Submitted,
    /// Not submitted before its deadline: no score, no longer accepted.
    Expired,
}

impl From<AttemptState> for AttemptStateView {
    fn from(s: AttemptState) -> Self {
        match s {
            AttemptState::InProgress => Self::InProgress,
            AttemptState::Submitted => Self::Submitted,
            AttemptState::Expired => Self::Expired,
        }
    }
}

/// One attempt at a quiz.
#[derive(Debug, Clone, Object)]
pub struct AttemptView {
    pub id: Uuid,
    pub quiz_id: Uuid,
    pub course_id: Uuid,
    pub person_id: Uuid,
    /// 1, 2, … per quiz and learner.
    pub number: i32,
    pub state: Described<AttemptStateView>,
    pub started_at: DateTime<Utc>,
    /// No answers are accepted after it: the earlier of the start plus the quiz's time
    /// limit and the quiz's `due_at`; `null` when the quiz has neither.
    #[oai(nullable)]
    pub deadline_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub submitted_at: Option<DateTime<Utc>>,
    /// The attempt's score: the auto-graded one until an instructor changed it.
    #[oai(nullable)]
    pub score: Option<i32>,
    /// The auto-graded score.
    #[oai(nullable)]
    pub auto_score: Option<i32>,
    #[oai(nullable)]
    pub max_score: Option<i32>,
    /// Whether `score` passes the quiz (`score × 100 ≥ passing_score × max`).
    #[oai(nullable)]
    pub passed: Option<bool>,
    /// How each question was auto-graded, in the quiz's order (empty before submission).
    pub per_question: Vec<QuestionGradeView>,
    pub revision: i32,
    /// The order to present the questions in: in the answer to starting the attempt only
    /// (computed then, never stored); `null` in every other answer.
    #[oai(nullable)]
    pub question_order: Option<Described<QuestionOrderView>>,
}

/// The order an attempt presents the quiz's questions in (U3, adapted difficulty).
#[derive(Debug, Clone, Object)]
pub struct QuestionOrderView {
    /// Every question of the quiz once: for an adaptive quiz and a learner whose consent
    /// covers personalisation, the questions whose latest grading in their earlier attempts
    /// was not right first, then the rest, each in the quiz's order; otherwise the quiz's.
    pub question_ids: Vec<String>,
    /// Whether the order came from the learner's own earlier attempts (an adaptive quiz,
    /// the consent gate allowing personalisation).
    pub personalised: bool,
    /// Why not, when the quiz is adaptive and the consent gate refused; `null` when
    /// personalised or when the quiz is not adaptive.
    #[oai(nullable)]
    pub withheld: Option<Described<WithheldReasonView>>,
}

impl From<Attempt> for AttemptView {
    fn from(a: Attempt) -> Self {
        Self {
            id: a.id,
            quiz_id: a.quiz_id,
            course_id: a.course_id,
            person_id: a.person_id,
            number: a.number,
            state: Described(a.state.into()),
            started_at: a.started_at,
            deadline_at: a.deadline_at,
            submitted_at: a.submitted_at,
            score: a.score,
            auto_score: a.auto_score,
            max_score: a.max_score,
            passed: a.passed,
            per_question: a
                .per_question
                .into_iter()
                .map(|g| QuestionGradeView {
                    question_id: g.question_id,
                    points: i32::try_from(g.points).unwrap_or(i32::MAX),
                    max: i32::try_from(g.max).unwrap_or(i32::MAX),
                    correct: g.correct,
                    answered: g.answered,
                })
                .collect(),
            revision: a.revision,
            question_order: a.question_order.map(|o| {
                Described(QuestionOrderView {
                    question_ids: o.question_ids,
                    personalised: o.personalised,
                    withheld: o.withheld.map(|w| Described(WithheldReasonView::parse(w))),
                })
            }),
        }
    }
}

/// The learner's attempts at a quiz and the one whose score is kept.
#[derive(Debug, Clone, Object)]
pub struct MyAttempts {
    /// Oldest first.
    pub items: Vec<AttemptView>,
    /// The attempt whose score counts, by the quiz's policy (highest, latest or first
    /// submitted); `null` before a submission.
    #[oai(nullable)]
    pub kept_attempt_id: Option<Uuid>,
    #[oai(nullable)]
    pub kept_score: Option<i32>,
    /// Whether the kept score passes the quiz.
    pub passed: bool,
}

/// One page of a quiz's attempts.
#[derive(Debug, Clone, Object)]
pub struct AttemptPage {
    pub items: Vec<AttemptView>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

/// A new score for a submitted attempt.
#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct GradeChangeCreate {
    /// 0 to the attempt's `max_score`.
    pub score: i32,
    /// Why, kept (sealed) with the change: 1–500 characters.
    pub reason: String,
}

impl Example for GradeChangeCreate {
    fn example() -> Self {
        Self {
            score: 7,
            reason: "Question 3 accepts the unit written out".into(),
        }
    }
}

/// An instructor's change of an attempt's score.
#[derive(Debug, Clone, Object)]
pub struct GradeChangeView {
    pub id: Uuid,
    pub attempt_id: Uuid,
    /// The learner whose attempt it is.
    pub person_id: Uuid,
    /// Who changed it: `person:<id>`, `api-key:<id> (<name>)`, or a pseudonym once that
    /// person's data was erased.
    pub changed_by: String,
    pub old_score: i32,
    pub new_score: i32,
    pub reason: String,
    pub at: DateTime<Utc>,
}

impl From<GradeChange> for GradeChangeView {
    fn from(c: GradeChange) -> Self {
        Self {
            id: c.id,
            attempt_id: c.attempt_id,
            person_id: c.person_id,
            changed_by: c.changed_by,
            old_score: c.old_score,
            new_score: c.new_score,
            reason: c.reason,
            at: c.at,
        }
    }
}

/// An attempt's grade changes, oldest first.
#[derive(Debug, Clone, Object)]
pub struct GradeChangeList {
    pub items: Vec<GradeChangeView>,
}

/// A grade change and the attempt as it is now.
#[derive(Debug, Clone, Object)]
pub struct GradeChanged {
    pub change: GradeChangeView,
    pub attempt: AttemptView,
}

#[derive(ApiResponse)]
pub enum AttemptStarted {
    /// The attempt, in progress.
    #[oai(status = 201)]
    Created(Json<AttemptView>, #[oai(header = "Location")] String),
}

#[derive(ApiResponse)]
pub enum AttemptSubmitted {
    /// The attempt, submitted and graded.
    #[oai(status = 200)]
    Ok(Json<AttemptView>),
}

#[derive(ApiResponse)]
pub enum MyAttemptsListed {
    /// The caller's attempts.
    #[oai(status = 200)]
    Ok(Json<MyAttempts>),
}

#[derive(ApiResponse)]
pub enum AttemptsListed {
    /// A page of attempts, by id.
    #[oai(status = 200)]
    Ok(Json<AttemptPage>),
}

#[derive(ApiResponse)]
pub enum GradeChangeRecorded {
    /// The change is recorded and audited.
    #[oai(status = 201)]
    Created(Json<GradeChanged>),
}

#[derive(ApiResponse)]
pub enum GradeChangesListed {
    /// The attempt's grade changes.
    #[oai(status = 200)]
    Ok(Json<GradeChangeList>),
}

#[derive(Default)]
pub struct AttemptsApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Courses")]
impl AttemptsApi {
    /// Start an attempt at a quiz
    ///
    /// The answer's `question_order` is the order to present the questions in: for an
    /// adaptive quiz, from the learner's earlier attempts when their consent covers
    /// personalisation (`personalised`), else the quiz's own with the reason (`withheld`).
    /// Requires scope `courses:read`, as a signed-in person (not an API key), with an
    /// active enrollment in the quiz's course (409 `not_enrolled`). Refused with nothing
    /// recorded: 409 `quiz_closed` after the quiz's `due_at`, 409 `attempt_limit_reached`
    /// when its `max_attempts` are used, 409 `attempt_in_progress` while another attempt
    /// can still be submitted.
    #[oai(
        path = "/me/quizzes/:quiz_id/attempts",
        method = "post",
        operation_id = "startMyQuizAttempt"
    )]
    async fn start_my_quiz_attempt(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        quiz_id: Path<Uuid>,
    ) -> Result<AttemptStarted, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let attempt = service::start(&state.tenancy, &scope, quiz_id.0).await?;
        scope.commit().await?;
        let at = format!("/v1/me/attempts/{}", attempt.id);
        Ok(AttemptStarted::Created(Json(attempt.into()), at))
    }

    /// My attempts at a quiz
    ///
    /// Requires scope `courses:read`, as a signed-in person (not an API key): the caller's
    /// attempts, oldest first, and the one whose score is kept.
    #[oai(
        path = "/me/quizzes/:quiz_id/attempts",
        method = "get",
        operation_id = "listMyQuizAttempts"
    )]
    async fn list_my_quiz_attempts(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        quiz_id: Path<Uuid>,
    ) -> Result<MyAttemptsListed, ApiError> {
        let id = quiz_id.0;
        let tenancy = &state.tenancy;
        let (attempts, kept, _) = state
            .tenancy
            .read(&auth.0, move |scope| async move {
                service::my_attempts(tenancy, &scope, id).await
            })
            .await?;
        let kept_attempt = kept.and_then(|k| attempts.iter().find(|a| a.id == k));
        let (kept_score, passed) = (
            kept_attempt.and_then(|a| a.score),
            kept_attempt.and_then(|a| a.passed).unwrap_or(false),
        );
        Ok(MyAttemptsListed::Ok(Json(MyAttempts {
            items: attempts.into_iter().map(Into::into).collect(),
            kept_attempt_id: kept,
            kept_score,
            passed,
        })))
    }

    /// Submit my answers to an attempt
    ///
    /// Requires scope `courses:read`, as a signed-in person (not an API key), for their
    /// own attempt (another's answers 404). Once: 409 `attempt_already_submitted` after
    /// that; 409 `attempt_expired` after the attempt's `deadline_at`, nothing recorded. An
    /// answer naming no question of the quiz, of the wrong type or choosing an unknown
    /// option is a 422 naming it. Auto-graded; the answer keys are not shown.
    #[oai(
        path = "/me/attempts/:attempt_id/submission",
        method = "post",
        operation_id = "submitMyQuizAttempt"
    )]
    async fn submit_my_quiz_attempt(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        attempt_id: Path<Uuid>,
        body: Json<AnswerSet>,
    ) -> Result<AttemptSubmitted, ApiError> {
        let answers: Vec<AnswerInput> = body
            .0
            .answers
            .into_iter()
            .map(|a| AnswerInput {
                question_id: a.question_id,
                option_ids: a.option_ids,
                number: a.number,
                text: a.text,
            })
            .collect();
        let scope = state.tenancy.scope(&auth.0).await?;
        let attempt = service::submit(
            &state.tenancy,
            &scope,
            &certificate_signer(&state),
            attempt_id.0,
            &answers,
        )
        .await?;
        scope.commit().await?;
        Ok(AttemptSubmitted::Ok(Json(attempt.into())))
    }

    /// A quiz's attempts
    ///
    /// Requires scope `enrollments:read`, for a quiz of a course the caller teaches (every
    /// course with `all_enrollments:read`; another answers 404): every learner's attempts,
    /// or one learner's (`person_id`), by id, in pages.
    ///
    /// Returns other people's personal data: every call is recorded in the audit trail.
    #[oai(
        path = "/quizzes/:quiz_id/attempts",
        method = "get",
        operation_id = "listQuizAttempts"
    )]
    async fn list_quiz_attempts(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        quiz_id: Path<Uuid>,
        /// Only this learner's attempts.
        person_id: Query<Option<Uuid>>,
        /// Cursor from the previous page's `next_cursor`.
        cursor: Query<Option<String>>,
        /// Page size, 1–200 (default 50).
        limit: Query<Option<u64>>,
    ) -> Result<AttemptsListed, ApiError> {
        let page = page_request(cursor.0.as_deref(), limit.0)?;
        let page = &page;
        let (id, person) = (quiz_id.0, person_id.0);
        let scope = state.tenancy.scope(&auth.0).await?;
        let attempts = service::quiz_attempts(&scope, id, person, page).await?;
        scope.commit().await?;
        Ok(AttemptsListed::Ok(Json(AttemptPage {
            items: attempts.items.into_iter().map(Into::into).collect(),
            next_cursor: attempts.next_cursor,
        })))
    }

    /// Change an attempt's score
    ///
    /// Requires scope `enrollments:write`, for a course the caller teaches (every course
    /// with `all_enrollments:write`; another answers 404). Records who, the old and new
    /// score and why (audited as `quiz_attempt.grade_changed`); the kept score follows. A
    /// new score that meets the course's completion rule completes the course; a lower
    /// one never un-completes it. 409 `attempt_not_submitted` for an attempt without a
    /// score.
    #[oai(
        path = "/attempts/:attempt_id/grade-changes",
        method = "post",
        operation_id = "changeAttemptGrade"
    )]
    async fn change_attempt_grade(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        attempt_id: Path<Uuid>,
        body: Json<GradeChangeCreate>,
    ) -> Result<GradeChangeRecorded, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let (change, attempt) = service::change_grade(
            &scope,
            &certificate_signer(&state),
            attempt_id.0,
            body.0.score,
            &body.0.reason,
        )
        .await?;
        scope.commit().await?;
        Ok(GradeChangeRecorded::Created(Json(GradeChanged {
            change: change.into(),
            attempt: attempt.into(),
        })))
    }

    /// An attempt's grade changes
    ///
    /// Requires scope `enrollments:read`, for a course the caller teaches (every course
    /// with `all_enrollments:read`; another answers 404): who changed the score, from
    /// what, to what and why, oldest first.
    ///
    /// Returns other people's personal data: every call is recorded in the audit trail.
    #[oai(
        path = "/attempts/:attempt_id/grade-changes",
        method = "get",
        operation_id = "listAttemptGradeChanges"
    )]
    async fn list_attempt_grade_changes(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        attempt_id: Path<Uuid>,
    ) -> Result<GradeChangesListed, ApiError> {
        let id = attempt_id.0;
        let scope = state.tenancy.scope(&auth.0).await?;
        let changes = service::grade_changes(&scope, id).await?;
        scope.commit().await?;
        Ok(GradeChangesListed::Ok(Json(GradeChangeList {
            items: changes.into_iter().map(Into::into).collect(),
        })))
    }
}
