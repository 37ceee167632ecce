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
    #[error("storage error: {0}")]
    Database(#[from] DbErr),
    #[error("the course has enrollments: archive it instead")]
    CourseHasEnrollments,
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
    #[error("this operation needs a signed-in person, not an API key")]
    PersonOnly,
    #[error("no such organisational unit")]
    OrgUnitNotFound,
    #[error("an organisational unit with code `{0}` already exists")]
    OrgUnitCodeTaken(String),
    #[error("the organisational unit has sub-units or people: move them first")]
    OrgUnitInUse,
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
    #[error("no such group")]
    GroupNotFound,
    #[error("no such certificate")]
    CertificateNotFound,
    #[error("the certificate is revoked already")]
    CertificateRevoked,
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
            Self::Database(e) if TenantError::refused_client_data(e) => ProblemKind::Validation,
            Self::Database(e) if TenantError::storage_unavailable(e) => ProblemKind::Unavailable,
            Self::Database(_) => ProblemKind::Internal,
            Self::CourseHasEnrollments
            | Self::AlreadyEnrolled { .. }
            | Self::SeatsExhausted { .. }
            | Self::InvalidTransition { .. }
            | Self::LearnerRestricted
            | Self::OrgUnitCodeTaken(_)
            | Self::OrgUnitInUse => ProblemKind::Conflict,
            Self::EnrollmentNotFound
            | Self::PersonNotFound
            | Self::OrgUnitNotFound
            | Self::GroupNotFound => ProblemKind::NotFound,
            Self::PersonOnly => ProblemKind::Forbidden,
            Self::ModuleNotFound | Self::LessonNotFound | Self::QuizNotFound => {
                ProblemKind::NotFound
            }
            Self::ActivityIdTaken(_) | Self::QuizInCompletionRule => ProblemKind::Conflict,
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
            Self::Messaging(_) => ProblemKind::Internal,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "validation_failed",
            Self::NotFound => "course_not_found",
            Self::CodeTaken(_) => "course_code_taken",
            Self::RevisionMismatch { .. } => "revision_mismatch",
            Self::Tenant(e) => e.code(),
            Self::Database(e) if TenantError::refused_client_data(e) => "value_not_storable",
            Self::Database(e) if TenantError::storage_unavailable(e) => {
                TenantError::STORAGE_UNAVAILABLE
            }
            Self::Database(_) => "internal",
            Self::CourseHasEnrollments => "course_has_enrollments",
            Self::EnrollmentNotFound => "enrollment_not_found",
            Self::PersonNotFound => "person_not_found",
            Self::AlreadyEnrolled { .. } => "already_enrolled",
            Self::SeatsExhausted { .. } => "seats_exhausted",
            Self::InvalidTransition { .. } => "invalid_transition",
            Self::LearnerRestricted => "learner_restricted",
            Self::PersonOnly => "person_credential_required",
            Self::OrgUnitNotFound => "org_unit_not_found",
            Self::OrgUnitCodeTaken(_) => "org_unit_code_taken",
            Self::OrgUnitInUse => "org_unit_in_use",
            Self::ModuleNotFound => "module_not_found",
            Self::LessonNotFound => "lesson_not_found",
            Self::QuizNotFound => "quiz_not_found",
            Self::ActivityIdTaken(_) => "activity_id_taken",
            Self::QuizInCompletionRule => "quiz_in_completion_rule",
            Self::NotEnrolled => "not_enrolled",
            Self::AttemptNotFound => "attempt_not_found",
            Self::AttemptLimitReached { .. } => "attempt_limit_reached",
            Self::QuizClosed => "quiz_closed",
            Self::AttemptExpired => "attempt_expired",
            Self::AttemptSubmitted => "attempt_already_submitted",
            Self::AttemptInProgress => "attempt_in_progress",
            Self::AttemptNotSubmitted => "attempt_not_submitted",
            Self::GroupNotFound => "group_not_found",
            Self::CertificateNotFound => "certificate_not_found",
            Self::CertificateRevoked => "certificate_already_revoked",
            Self::Messaging(_) => "internal",
        }
    }

    fn violations(&self) -> Vec<FieldViolation> {
        match self {
            Self::Invalid(v) => v.clone(),
            Self::Tenant(e) => e.violations(),
            _ => Vec::new(),
        }
    }
}
