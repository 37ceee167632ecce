//! Automated decisions as the domain sees them: kinds, states and the review deadline.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// How long a decision waits for its review, from when it is recorded and again from when
/// the learner contests it. Fourteen days: long enough for an instructor who teaches once a
/// week to see the queue twice, short enough that a learner is not left in doubt for a
/// term; a fixed number so the learner is told a date, not "soon".
pub const REVIEW_PERIOD_DAYS: i64 = 14;
/// The longest contest statement accepted, in characters.
pub const STATEMENT_MAX_CHARS: usize = 2000;
/// The longest review reason accepted, in characters.
pub const NOTE_MAX_CHARS: usize = 1000;

/// What the rule would do to the learner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecisionKind {
    /// Fail the course: the enrollment becomes `failed`.
    CourseFailed,
    /// Deny the certificate of a completion: it is never issued.
    CertificateDenied,
    /// Refuse a learner's own enrollment: they stay unenrolled.
    EnrollmentRefused,
}

impl DecisionKind {
    pub const ALL: [Self; 3] = [
        Self::CourseFailed,
        Self::CertificateDenied,
        Self::EnrollmentRefused,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::CourseFailed => "course_failed",
            Self::CertificateDenied => "certificate_denied",
            Self::EnrollmentRefused => "enrollment_refused",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// Where a decision stands. Only `confirmed` has taken effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecisionState {
    /// Recorded by the rule; nothing applied; waiting for a reviewer.
    PendingReview,
    /// The learner contested it; still nothing applied; waiting for a reviewer.
    Contested,
    /// A reviewer confirmed it: the outcome applied.
    Confirmed,
    /// A reviewer overturned it: the outcome never applies.
    Overturned,
}

impl DecisionState {
    pub const ALL: [Self; 4] = [
        Self::PendingReview,
        Self::Contested,
        Self::Confirmed,
        Self::Overturned,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::PendingReview => "pending_review",
            Self::Contested => "contested",
            Self::Confirmed => "confirmed",
            Self::Overturned => "overturned",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Waiting for a reviewer (in the queue).
    pub fn is_open(self) -> bool {
        matches!(self, Self::PendingReview | Self::Contested)
    }
}

/// One automated decision with its review.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub id: Uuid,
    pub person_id: Uuid,
    pub course_id: Uuid,
    /// The quiz the rule read, for `course_failed`; `None` for the other kinds.
    pub quiz_id: Option<Uuid>,
    pub kind: DecisionKind,
    /// The rule's machine name.
    pub rule: String,
    /// What the rule says, for the learner to read.
    pub explanation: String,
    /// What the rule read: scores, attempts, its parameters; for `certificate_denied` the
    /// completion, its time and the deadline; for `enrollment_refused` each prerequisite
    /// course and the learner's enrollment state in it.
    pub inputs: serde_json::Value,
    pub state: DecisionState,
    /// When a reviewer is due to have decided.
    pub review_due_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub contested_at: Option<DateTime<Utc>>,
    /// The learner's contest statement.
    pub statement: Option<String>,
    pub reviewed_at: Option<DateTime<Utc>>,
    /// Who reviewed (`person:<id>`, `api-key:<id> (<name>)`, or a pseudonym once erased).
    pub reviewed_by: Option<String>,
    /// Why the reviewer confirmed or overturned it.
    pub review_note: Option<String>,
}

/// Which decisions a reviewer lists.
#[derive(Debug, Clone, Copy, Default)]
pub struct DecisionFilter {
    pub state: Option<DecisionState>,
    pub course_id: Option<Uuid>,
}
