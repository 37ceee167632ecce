//! Enrollments as the domain sees them: states, where an enrollment came from, and which
//! state changes are allowed.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Where an enrollment stands. `invited` and `active` hold a seat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EnrollmentState {
    /// Offered by an admin or instructor; the learner has not started.
    Invited,
    Active,
    Completed,
    Withdrawn,
    /// A reviewer confirmed the automated decision that the learner failed the course (U7:
    /// never set by a rule alone).
    Failed,
}

impl EnrollmentState {
    pub const ALL: [Self; 5] = [
        Self::Invited,
        Self::Active,
        Self::Completed,
        Self::Withdrawn,
        Self::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Invited => "invited",
            Self::Active => "active",
            Self::Completed => "completed",
            Self::Withdrawn => "withdrawn",
            Self::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Whether an enrollment in this state counts against the course's seat limit.
    pub fn holds_seat(self) -> bool {
        matches!(self, Self::Invited | Self::Active)
    }

    /// The allowed changes: an invitation is taken up or withdrawn; an active learner
    /// completes or withdraws; a withdrawn learner may be invited or enrolled again. A
    /// completion is final. An active learner fails (only by a person: a reviewer's
    /// confirmation, or staff moving it) and a failed one may be enrolled again.
    pub fn may_become(self, next: Self) -> bool {
        use EnrollmentState::*;
        matches!(
            (self, next),
            (Invited, Active)
                | (Invited, Withdrawn)
                | (Active, Completed)
                | (Active, Withdrawn)
                | (Withdrawn, Invited)
                | (Withdrawn, Active)
                | (Active, Failed)
                | (Failed, Active)
        )
    }
}

/// How a person came to be enrolled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnrollmentSource {
    /// The learner enrolled themselves in a published course.
    SelfService,
    /// An admin or instructor enrolled or invited them.
    Admin,
    /// Part of a bulk enrollment.
    Bulk,
    /// A SCIM group mapped to the course.
    ScimGroup,
    /// The learner bought the course and Stripe confirmed the payment (billing).
    Purchase,
}

impl EnrollmentSource {
    pub const ALL: [Self; 5] = [
        Self::SelfService,
        Self::Admin,
        Self::Bulk,
        Self::ScimGroup,
        Self::Purchase,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SelfService => "self",
            Self::Admin => "admin",
            Self::Bulk => "bulk",
            Self::ScimGroup => "scim_group",
            Self::Purchase => "purchase",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrollment {
    pub id: Uuid,
    pub course_id: Uuid,
    pub person_id: Uuid,
    pub state: EnrollmentState,
    pub source: EnrollmentSource,
    /// The SCIM group the enrollment came from (source `scim_group`).
    pub source_group_id: Option<Uuid>,
    pub revision: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One entry of an enrollment's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrollmentEvent {
    pub id: Uuid,
    pub enrollment_id: Uuid,
    /// `None` for the event that created the enrollment.
    pub from: Option<EnrollmentState>,
    pub to: EnrollmentState,
    /// Who made the change (`person:<id>`, `api-key:<id> (name)`, `scim-group:<id>`, or a
    /// pseudonym once that person was erased).
    pub actor: String,
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
}

/// The longest reason kept with a state change, in characters.
pub const MAX_REASON: usize = 500;
/// The most people one bulk enrollment takes.
pub const MAX_BULK: usize = 200;

#[derive(Debug, Clone, Default)]
pub struct EnrollmentFilter {
    pub state: Option<EnrollmentState>,
    /// Learners affiliated with this unit or any unit below it.
    pub org_unit: Option<Uuid>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completion_is_final_and_withdrawal_can_be_undone() {
        use EnrollmentState::*;
        assert!(Invited.may_become(Active));
        assert!(Active.may_become(Completed));
        assert!(Withdrawn.may_become(Active));
        for next in EnrollmentState::ALL {
            assert!(!Completed.may_become(next), "completed -> {next:?}");
        }
        assert!(!Invited.may_become(Completed));
        assert!(!Active.may_become(Invited));
        for state in EnrollmentState::ALL {
            assert_eq!(EnrollmentState::parse(state.as_str()), Some(state));
        }
        for source in EnrollmentSource::ALL {
            assert_eq!(EnrollmentSource::parse(source.as_str()), Some(source));
        }
    }
}
