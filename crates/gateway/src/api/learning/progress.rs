//! Lesson progress and course progress: a learner marks their own lessons started or
//! completed and reads their progress through a course (`/v1/me/courses/{id}/…`); the
//! course's instructor or an admin reads a learner's (`/v1/courses/{id}/learners/{person}/
//! progress`). An instructor of another course gets 404, as for enrollments.

use crate::api::ApiTags;
use crate::api::described::Described;
use crate::api::learning::certificate_signer;
use crate::api::learning::enrollments::EnrollmentStateView;
use crate::auth::TenantCredential;
use crate::problem::ApiError;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use hub_course::progress::service;
use hub_course::progress::{
    CourseProgress, LessonProgress, LessonState, LessonStatus, ModuleProgress, ProgressSource,
    QuizStanding,
};
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use std::sync::Arc;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum LessonStatusView {
    Started,
    Completed,
}

impl From<LessonStatus> for LessonStatusView {
    fn from(s: LessonStatus) -> Self {
        match s {
            LessonStatus::Started => Self::Started,
            LessonStatus::Completed => Self::Completed,
        }
    }
}

impl From<LessonStatusView> for LessonStatus {
    fn from(s: LessonStatusView) -> Self {
        match s {
            LessonStatusView::Started => Self::Started,
            LessonStatusView::Completed => Self::Completed,
        }
    }
}

/// Who last changed a lesson's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum ProgressSourceView {
    /// The learner, through this API.
    Learner,
    /// An xAPI statement about the lesson's activity.
    Xapi,
}

impl From<ProgressSource> for ProgressSourceView {
    fn from(s: ProgressSource) -> Self {
        match s {
            ProgressSource::Learner => Self::Learner,
            ProgressSource::Xapi => Self::Xapi,
        }
    }
}

/// A lesson's new status.
#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct LessonProgressUpdate {
    /// `started` or `completed`. `completed` is final: a later `started` changes nothing
    /// but `last_at`.
    pub status: Described<LessonStatusView>,
}

impl Example for LessonProgressUpdate {
    fn example() -> Self {
        Self {
            status: Described(LessonStatusView::Completed),
        }
    }
}

/// A learner's progress in one lesson.
#[derive(Debug, Clone, Object)]
pub struct LessonProgressView {
    pub lesson_id: Uuid,
    pub module_id: Uuid,
    pub course_id: Uuid,
    pub person_id: Uuid,
    pub status: Described<LessonStatusView>,
    pub source: Described<ProgressSourceView>,
    pub first_at: DateTime<Utc>,
    pub last_at: DateTime<Utc>,
    #[oai(nullable)]
    pub completed_at: Option<DateTime<Utc>>,
    /// Increments when the status changes.
    pub revision: i32,
}

impl From<LessonProgress> for LessonProgressView {
    fn from(p: LessonProgress) -> Self {
        Self {
            lesson_id: p.lesson_id,
            module_id: p.module_id,
            course_id: p.course_id,
            person_id: p.person_id,
            status: Described(p.status.into()),
            source: Described(p.source.into()),
            first_at: p.first_at,
            last_at: p.last_at,
            completed_at: p.completed_at,
            revision: p.revision,
        }
    }
}

/// A lesson of the course with the learner's status in it.
#[derive(Debug, Clone, Object)]
pub struct LessonStateView {
    pub lesson_id: Uuid,
    pub title: String,
    /// Whether the course's completion rule requires it.
    pub required: bool,
    /// `null`: not started.
    #[oai(nullable)]
    pub status: Option<Described<LessonStatusView>>,
    #[oai(nullable)]
    pub completed_at: Option<DateTime<Utc>>,
}

impl From<LessonState> for LessonStateView {
    fn from(l: LessonState) -> Self {
        Self {
            lesson_id: l.lesson_id,
            title: l.title,
            required: l.required,
            status: l.status.map(|s| Described(s.into())),
            completed_at: l.completed_at,
        }
    }
}

/// A module with the learner's lessons, in order.
#[derive(Debug, Clone, Object)]
pub struct ModuleProgressView {
    pub module_id: Uuid,
    pub title: String,
    pub lessons: Vec<LessonStateView>,
    /// Lessons completed, required or not.
    pub lessons_completed: u32,
    /// Lessons the completion rule requires in this module.
    pub required_lessons: u32,
    pub required_completed: u32,
    /// `required_completed` of `required_lessons` in whole percent, rounded down (100 when
    /// the module requires no lesson).
    pub percent: u32,
}

impl From<ModuleProgress> for ModuleProgressView {
    fn from(m: ModuleProgress) -> Self {
        Self {
            module_id: m.module_id,
            title: m.title,
            lessons: m.lessons.into_iter().map(Into::into).collect(),
            lessons_completed: m.lessons_completed,
            required_lessons: m.required_lessons,
            required_completed: m.required_completed,
            percent: m.percent,
        }
    }
}

/// A quiz of the course with the learner's kept score.
#[derive(Debug, Clone, Object)]
pub struct QuizStandingView {
    pub quiz_id: Uuid,
    pub title: String,
    /// Whether the course's completion rule requires passing it.
    pub required: bool,
    /// Attempts started.
    pub attempts: u32,
    /// The kept score by the quiz's policy (highest, latest or first submitted attempt);
    /// `null` before a submission.
    #[oai(nullable)]
    pub kept_score: Option<i32>,
    #[oai(nullable)]
    pub max_score: Option<i32>,
    /// Whether the kept score passes the quiz.
    pub passed: bool,
}

impl From<QuizStanding> for QuizStandingView {
    fn from(q: QuizStanding) -> Self {
        Self {
            quiz_id: q.quiz_id,
            title: q.title,
            required: q.required,
            attempts: q.attempts,
            kept_score: q.kept_score,
            max_score: q.max_score,
            passed: q.passed,
        }
    }
}

/// A learner's progress through a course.
#[derive(Debug, Clone, Object)]
pub struct CourseProgressView {
    pub course_id: Uuid,
    pub person_id: Uuid,
    pub enrollment_id: Uuid,
    pub enrollment_state: Described<EnrollmentStateView>,
    /// In the course's order.
    pub modules: Vec<ModuleProgressView>,
    pub required_lessons: u32,
    pub required_completed: u32,
    /// Over the whole course, as for a module.
    pub percent: u32,
    /// The course's quizzes, oldest first.
    pub quizzes: Vec<QuizStandingView>,
    /// When the course's completion rule was met; `null` until then.
    #[oai(nullable)]
    pub completed_at: Option<DateTime<Utc>>,
}

impl From<CourseProgress> for CourseProgressView {
    fn from(p: CourseProgress) -> Self {
        Self {
            course_id: p.course_id,
            person_id: p.person_id,
            enrollment_id: p.enrollment_id,
            enrollment_state: Described(p.enrollment_state.into()),
            modules: p.modules.into_iter().map(Into::into).collect(),
            required_lessons: p.required_lessons,
            required_completed: p.required_completed,
            percent: p.percent,
            quizzes: p.quizzes.into_iter().map(Into::into).collect(),
            completed_at: p.completed_at,
        }
    }
}

#[derive(ApiResponse)]
pub enum LessonProgressRecorded {
    /// The lesson's progress as it is now.
    #[oai(status = 200)]
    Ok(Json<LessonProgressView>),
}

#[derive(ApiResponse)]
pub enum CourseProgressFound {
    /// The learner's progress.
    #[oai(status = 200)]
    Ok(Json<CourseProgressView>),
}

#[derive(ApiResponse)]
pub enum MinorProgressFound {
    /// The minor's progress in each course they are enrolled in, in course-id order.
    #[oai(status = 200)]
    Ok(Json<Vec<CourseProgressView>>),
}

#[derive(Default)]
pub struct ProgressApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Enrollments")]
impl ProgressApi {
    /// Record my progress in a lesson
    ///
    /// Requires scope `courses:read`, as a signed-in person (not an API key), with an
    /// active enrollment in the course (409 `not_enrolled` otherwise; 409
    /// `learner_restricted` while the processing of their learning records is
    /// restricted). A lesson of another course is 404 `lesson_not_found`. Completing the
    /// last lesson the course's completion rule requires (its quizzes passed) completes
    /// the course: the enrollment becomes `completed`, once.
    #[oai(
        path = "/me/courses/:course_id/lessons/:lesson_id/progress",
        method = "put",
        operation_id = "recordMyLessonProgress"
    )]
    async fn record_my_lesson_progress(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        course_id: Path<Uuid>,
        lesson_id: Path<Uuid>,
        body: Json<LessonProgressUpdate>,
    ) -> Result<LessonProgressRecorded, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let recorded = service::record_mine(
            &state.tenancy,
            &scope,
            &certificate_signer(&state),
            course_id.0,
            lesson_id.0,
            body.0.status.0.into(),
        )
        .await?;
        scope.commit().await?;
        Ok(LessonProgressRecorded::Ok(Json(recorded.into())))
    }

    /// My progress through a course
    ///
    /// Requires scope `courses:read`, as a signed-in person (not an API key), enrolled in
    /// the course (in any state: a completed course's progress stays readable; 404
    /// `enrollment_not_found` when never enrolled). Per module: lessons completed of those the
    /// completion rule requires, and a percentage; per quiz: the kept score.
    #[oai(
        path = "/me/courses/:course_id/progress",
        method = "get",
        operation_id = "getMyCourseProgress"
    )]
    async fn get_my_course_progress(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        course_id: Path<Uuid>,
    ) -> Result<CourseProgressFound, ApiError> {
        let id = course_id.0;
        let tenancy = &state.tenancy;
        let progress = state
            .tenancy
            .read(&auth.0, move |scope| async move {
                service::my_course_progress(tenancy, &scope, id).await
            })
            .await?;
        Ok(CourseProgressFound::Ok(Json(progress.into())))
    }

    /// A learner's progress through a course
    ///
    /// Requires scope `enrollments:read`, for a course the caller teaches (every course
    /// with `all_enrollments:read`; another answers 404). 404 `enrollment_not_found` when
    /// the person was never enrolled in the course.
    ///
    /// Returns other people's personal data: every call is recorded in the audit trail.
    #[oai(
        path = "/courses/:course_id/learners/:person_id/progress",
        method = "get",
        operation_id = "getLearnerCourseProgress"
    )]
    async fn get_learner_course_progress(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        course_id: Path<Uuid>,
        person_id: Path<Uuid>,
    ) -> Result<CourseProgressFound, ApiError> {
        let (course, person) = (course_id.0, person_id.0);
        let scope = state.tenancy.scope(&auth.0).await?;
        let progress = service::learner_progress(&scope, course, person).await?;
        scope.commit().await?;
        Ok(CourseProgressFound::Ok(Json(progress.into())))
    }

    /// A minor's progress, for their guardian
    ///
    /// Requires scope `guardians:read` (the guardian role), as a verified guardian of this
    /// minor (a guardian consent they confirmed, sent to their address); any other person
    /// answers 404 `person_not_found`. Every read is recorded in the audit trail.
    #[oai(
        path = "/guardians/me/minors/:person_id/progress",
        method = "get",
        operation_id = "getMyMinorsProgress"
    )]
    async fn get_my_minors_progress(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        person_id: Path<Uuid>,
    ) -> Result<MinorProgressFound, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let progress =
            service::minor_progress_for_guardian(&state.tenancy, &scope, person_id.0).await?;
        scope.commit().await?;
        Ok(MinorProgressFound::Ok(Json(
            progress.into_iter().map(Into::into).collect(),
        )))
    }
}
