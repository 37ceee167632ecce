//! What progress looks like to its callers.

use chrono::{DateTime, Utc};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LessonStatus {
    Started,
    Completed,
}

impl LessonStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Started => "started",
            Self::Completed => "completed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Started, Self::Completed]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// Who told the progress: the learner through the API, or an xAPI statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressSource {
    Learner,
    Xapi,
}

impl ProgressSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Learner => "learner",
            Self::Xapi => "xapi",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Learner, Self::Xapi]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// One person's progress in one lesson. `completed` is final: a later `started` changes
/// nothing but `last_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LessonProgress {
    pub lesson_id: Uuid,
    pub module_id: Uuid,
    pub course_id: Uuid,
    pub person_id: Uuid,
    pub status: LessonStatus,
    /// Who last changed the status.
    pub source: ProgressSource,
    pub first_at: DateTime<Utc>,
    pub last_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub revision: i32,
}

/// A lesson of the outline with the learner's status in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LessonState {
    pub lesson_id: Uuid,
    pub title: String,
    /// Whether the course's completion rule requires it.
    pub required: bool,
    /// `None`: not started.
    pub status: Option<LessonStatus>,
    pub completed_at: Option<DateTime<Utc>>,
}

/// A module with the learner's lessons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleProgress {
    pub module_id: Uuid,
    pub title: String,
    pub lessons: Vec<LessonState>,
    pub lessons_completed: u32,
    pub required_lessons: u32,
    pub required_completed: u32,
    /// `required_completed` of `required_lessons`, in whole percent rounded down (100 when
    /// the module has no required lesson).
    pub percent: u32,
}

/// A quiz of the course with the learner's kept score.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuizStanding {
    pub quiz_id: Uuid,
    pub title: String,
    /// Whether the course's completion rule requires passing it.
    pub required: bool,
    pub attempts: u32,
    /// The kept score (by the quiz's policy) of the submitted attempts, if any.
    pub kept_score: Option<i32>,
    pub max_score: Option<i32>,
    pub passed: bool,
}

/// A learner's progress through a course.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CourseProgress {
    pub course_id: Uuid,
    pub person_id: Uuid,
    pub enrollment_id: Uuid,
    pub enrollment_state: crate::enrollment::EnrollmentState,
    pub modules: Vec<ModuleProgress>,
    pub required_lessons: u32,
    pub required_completed: u32,
    /// Over the whole course, as for a module.
    pub percent: u32,
    pub quizzes: Vec<QuizStanding>,
    /// When the course's completion rule was met (the completion record's time).
    pub completed_at: Option<DateTime<Utc>>,
}

/// `done` of `of` in whole percent rounded down; 100 when there is nothing to do.
pub fn percent(done: u32, of: u32) -> u32 {
    (done.min(of) * 100).checked_div(of).unwrap_or(100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_rounds_down_and_is_full_with_nothing_to_do() {
        assert_eq!(percent(0, 3), 0);
        assert_eq!(percent(1, 3), 33);
        assert_eq!(percent(2, 3), 66);
        assert_eq!(percent(3, 3), 100);
        assert_eq!(percent(0, 0), 100);
        assert_eq!(percent(5, 3), 100);
    }

    #[test]
    fn statuses_and_sources_round_trip() {
        for s in [LessonStatus::Started, LessonStatus::Completed] {
            assert_eq!(LessonStatus::parse(s.as_str()), Some(s));
        }
        for s in [ProgressSource::Learner, ProgressSource::Xapi] {
            assert_eq!(ProgressSource::parse(s.as_str()), Some(s));
        }
        assert_eq!(LessonStatus::parse("done"), None);
    }
}
