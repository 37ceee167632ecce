//! The catalog's one error type.

use hub_kernel::{DescribeProblem, FieldViolation, ProblemKind};
use hub_tenant::TenantError;
use sea_orm::DbErr;

#[derive(Debug, thiserror::Error)]
pub enum CourseError {
    #[error("the request has invalid fields")]
    Invalid(Vec<FieldViolation>),
    #[error("no such course")]
    NotFound,
    #[error("a course with code `{0}` already exists")]
    CodeTaken(String),
    #[error("the course changed since it was read (current revision {current})")]
    RevisionMismatch { current: i32 },
    #[error(transparent)]
    Tenant(#[from] TenantError),
    /// A statement or parameter breaks a rule of xAPI 1.0.3 (400, as the LRS answers).
    #[error("the request breaks a rule of xAPI 1.0.3")]
    XapiInvalid(Vec<FieldViolation>),
    #[error("statement {0} is already stored with different content")]
    XapiConflict(uuid::Uuid),
    #[error("{0}")]
    XapiForbidden(&'static str),
    #[error("no such statement")]
    StatementNotFound,
    #[error("a sealed value cannot be opened: {0}")]
    Sealing(String),
    #[error("{0}")]
    XapiPrecondition(&'static str),
    #[error("the document exists: send If-Match or If-None-Match (xAPI 1.0.3, Communication 3.1)")]
    XapiDocumentConflict,
    #[error("no such document")]
    DocumentNotFound,
    #[error("storage error: {0}")]
    Database(#[from] DbErr),
    #[error("no such module")]
    ModuleNotFound,
    #[error("no such lesson")]
    LessonNotFound,
    #[error("no such quiz")]
    QuizNotFound,
    #[error("a lesson with activity id `{0}` already exists")]
    ActivityIdTaken(String),
    #[error("the course's completion rule requires passing this quiz")]
    QuizInCompletionRule,
    #[error("the course has enrollments: archive it instead")]
    CourseHasEnrollments,
    #[error("another course names this one as a prerequisite: change that course first")]
    CourseIsPrerequisite,
    #[error(
        "your enrollment in this course is waiting for a reviewer: its automated decision \
         is under review"
    )]
    EnrollmentUnderReview,
    #[error("no such enrollment")]
    EnrollmentNotFound,
    #[error("no such person")]
    PersonNotFound,
    #[error("the person is already enrolled in this course ({state})")]
    AlreadyEnrolled { state: &'static str },
    #[error("every seat of the course is taken ({limit} invited or active learners)")]
    SeatsExhausted { limit: i32 },
    #[error("an enrollment cannot go from {from} to {to}")]
    InvalidTransition {
        from: &'static str,
        to: &'static str,
    },
    #[error(
        "processing of this person's learning records is restricted: they are not enrolled and \
         their enrollments do not change until the restriction is lifted"
    )]
    LearnerRestricted,
    /// A1: the course is not for this learner (restricted content, or a minimum age above
    /// a minor's).
    #[error(
        "the course is not open to this learner: it has restricted content or a minimum age \
         above theirs, and they are a minor"
    )]
    LearnerUnderAge,
    #[error("this operation needs a signed-in person, not an API key")]
    PersonOnly,
    #[error("no such organisational unit")]
    OrgUnitNotFound,
    #[error("an organisational unit with code `{0}` already exists")]
    OrgUnitCodeTaken(String),
    #[error("the organisational unit has sub-units or people: move them first")]
    OrgUnitInUse,
    #[error("no such group")]
    GroupNotFound,
    #[error("the person has no active enrollment in this course")]
    NotEnrolled,
    #[error("no such attempt")]
    AttemptNotFound,
    #[error("every attempt allowed ({limit}) has been used")]
    AttemptLimitReached { limit: i32 },
    #[error("the quiz is past its due date: no attempt starts")]
    QuizClosed,
    #[error("the attempt is past its deadline: its answers are not accepted")]
    AttemptExpired,
    #[error("the attempt was submitted already")]
    AttemptSubmitted,
    #[error("another attempt at this quiz is in progress: submit it first")]
    AttemptInProgress,
    #[error("the attempt has not been submitted: it has no score to change")]
    AttemptNotSubmitted,
    #[error("no such certificate")]
    CertificateNotFound,
    #[error("the certificate is revoked already")]
    CertificateRevoked,
    #[error("no such decision")]
    DecisionNotFound,
    #[error("the decision has been reviewed already")]
    DecisionReviewed,
    #[error("the decision is contested already: a reviewer will decide")]
    DecisionContested,
    #[error("the learner could not be told: {0}")]
    Messaging(String),
}

impl DescribeProblem for CourseError {
    fn kind(&self) -> ProblemKind {
        match self {
            Self::Invalid(_) => ProblemKind::Validation,
            Self::NotFound => ProblemKind::NotFound,
            Self::CodeTaken(_) => ProblemKind::Conflict,
            Self::RevisionMismatch { .. } => ProblemKind::PreconditionFailed,
            Self::Tenant(e) => e.kind(),
            Self::XapiInvalid(_) => ProblemKind::BadRequest,
            Self::XapiConflict(_) => ProblemKind::Conflict,
            Self::XapiForbidden(_) => ProblemKind::Forbidden,
            Self::StatementNotFound => ProblemKind::NotFound,
            Self::AttemptNotFound => ProblemKind::NotFound,
            Self::NotEnrolled
            | Self::AttemptLimitReached { .. }
            | Self::QuizClosed
            | Self::AttemptExpired
            | Self::AttemptSubmitted
            | Self::AttemptInProgress
            | Self::AttemptNotSubmitted => ProblemKind::Conflict,
            Self::CertificateNotFound => ProblemKind::NotFound,
            Self::CertificateRevoked => ProblemKind::Conflict,
            Self::DecisionNotFound => ProblemKind::NotFound,
            Self::DecisionReviewed | Self::DecisionContested => ProblemKind::Conflict,
            Self::Messaging(_) => ProblemKind::Internal,
            Self::Sealing(_) => ProblemKind::Internal,
            Self::XapiPrecondition(_) => ProblemKind::PreconditionFailed,
            Self::XapiDocumentConflict => ProblemKind::Conflict,
            Self::DocumentNotFound => ProblemKind::NotFound,
            Self::Database(e) if TenantError::refused_client_data(e) => ProblemKind::Validation,
            Self::Database(e) if TenantError::storage_unavailable(e) => ProblemKind::Unavailable,
            Self::Database(_) => ProblemKind::Internal,
            Self::ModuleNotFound | Self::LessonNotFound | Self::QuizNotFound => {
                ProblemKind::NotFound
            }
            Self::ActivityIdTaken(_) | Self::QuizInCompletionRule => ProblemKind::Conflict,
            Self::CourseHasEnrollments
            | Self::CourseIsPrerequisite
            | Self::EnrollmentUnderReview
            | Self::AlreadyEnrolled { .. }
            | Self::SeatsExhausted { .. }
            | Self::InvalidTransition { .. }
            | Self::LearnerRestricted
            | Self::LearnerUnderAge
            | Self::OrgUnitCodeTaken(_)
            | Self::OrgUnitInUse => ProblemKind::Conflict,
            Self::EnrollmentNotFound
            | Self::PersonNotFound
            | Self::OrgUnitNotFound
            | Self::GroupNotFound => ProblemKind::NotFound,
            Self::PersonOnly => ProblemKind::Forbidden,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "validation_failed",
            Self::NotFound => "course_not_found",
            Self::CodeTaken(_) => "course_code_taken",
            Self::RevisionMismatch { .. } => "revision_mismatch",
            Self::Tenant(e) => e.code(),
            Self::XapiInvalid(_) => "xapi_invalid",
            Self::XapiConflict(_) => "xapi_statement_conflict",
            Self::XapiForbidden(_) => "xapi_credential_required",
            Self::StatementNotFound => "xapi_statement_not_found",
            Self::Sealing(_) => "internal",
            Self::XapiPrecondition(_) => "xapi_precondition_failed",
            Self::XapiDocumentConflict => "xapi_document_exists",
            Self::DocumentNotFound => "xapi_document_not_found",
            Self::Database(e) if TenantError::refused_client_data(e) => "value_not_storable",
            Self::Database(e) if TenantError::storage_unavailable(e) => {
                TenantError::STORAGE_UNAVAILABLE
            }
            Self::Database(_) => "internal",
            Self::ModuleNotFound => "module_not_found",
            Self::LessonNotFound => "lesson_not_found",
            Self::QuizNotFound => "quiz_not_found",
            Self::ActivityIdTaken(_) => "activity_id_taken",
            Self::QuizInCompletionRule => "quiz_in_completion_rule",
            Self::CourseHasEnrollments => "course_has_enrollments",
            Self::CourseIsPrerequisite => "course_is_prerequisite",
            Self::EnrollmentUnderReview => "enrollment_under_review",
            Self::EnrollmentNotFound => "enrollment_not_found",
            Self::PersonNotFound => "person_not_found",
            Self::AlreadyEnrolled { .. } => "already_enrolled",
            Self::SeatsExhausted { .. } => "seats_exhausted",
            Self::InvalidTransition { .. } => "invalid_transition",
            Self::LearnerRestricted => "learner_restricted",
            Self::LearnerUnderAge => "learner_under_age",
            Self::PersonOnly => "person_credential_required",
            Self::OrgUnitNotFound => "org_unit_not_found",
            Self::OrgUnitCodeTaken(_) => "org_unit_code_taken",
            Self::OrgUnitInUse => "org_unit_in_use",
            Self::GroupNotFound => "group_not_found",
            Self::NotEnrolled => "not_enrolled",
            Self::AttemptNotFound => "attempt_not_found",
            Self::AttemptLimitReached { .. } => "attempt_limit_reached",
            Self::QuizClosed => "quiz_closed",
            Self::AttemptExpired => "attempt_expired",
            Self::AttemptSubmitted => "attempt_already_submitted",
            Self::AttemptInProgress => "attempt_in_progress",
            Self::AttemptNotSubmitted => "attempt_not_submitted",
            Self::CertificateNotFound => "certificate_not_found",
            Self::CertificateRevoked => "certificate_already_revoked",
            Self::DecisionNotFound => "decision_not_found",
            Self::DecisionReviewed => "decision_already_reviewed",
            Self::DecisionContested => "decision_already_contested",
            Self::Messaging(_) => "internal",
        }
    }

    fn violations(&self) -> Vec<FieldViolation> {
        match self {
            Self::Invalid(v) | Self::XapiInvalid(v) => v.clone(),
            Self::Tenant(e) => e.violations(),
            _ => Vec::new(),
        }
    }
}
