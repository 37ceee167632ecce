//! What attempts look like to their callers, and the kept-score rule.

use crate::quiz::{KeptScore, QuestionGrade};
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// A grade change's reason: 1–500 characters.
pub const MAX_GRADE_REASON: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptState {
    /// Started, not submitted, its deadline (if any) not passed.
    InProgress,
    Submitted,
    /// Not submitted before its deadline: it scores nothing and can no longer be submitted.
    Expired,
}

impl AttemptState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InProgress => "in_progress",
            Self::Submitted => "submitted",
            Self::Expired => "expired",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub id: Uuid,
    pub quiz_id: Uuid,
    pub course_id: Uuid,
    pub person_id: Uuid,
    /// 1, 2, … per quiz and person.
    pub number: i32,
    pub state: AttemptState,
    pub started_at: DateTime<Utc>,
    /// The earlier of `started_at` plus the quiz's time limit and the quiz's `due_at`.
    pub deadline_at: Option<DateTime<Utc>>,
    pub submitted_at: Option<DateTime<Utc>>,
    /// The attempt's score: the auto-graded one until an instructor changed it.
    pub score: Option<i32>,
    pub auto_score: Option<i32>,
    pub max_score: Option<i32>,
    pub passed: Option<bool>,
    /// How each question was graded (auto-grading; empty before submission).
    pub per_question: Vec<QuestionGrade>,
    pub revision: i32,
}

/// An instructor's change of an attempt's score.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GradeChange {
    pub id: Uuid,
    pub attempt_id: Uuid,
    pub person_id: Uuid,
    /// Who changed it: `person:<id>`, `api-key:<id> (<name>)`, or a pseudonym once that
    /// person's data was erased.
    pub changed_by: String,
    pub old_score: i32,
    pub new_score: i32,
    pub reason: String,
    pub at: DateTime<Utc>,
}

/// The attempt whose score is kept under `policy`, among the submitted ones: the highest
/// score (the earliest of equal ones), the latest submitted or the first submitted.
pub fn kept(policy: KeptScore, attempts: &[Attempt]) -> Option<&Attempt> {
    let submitted = attempts
        .iter()
        .filter(|a| a.state == AttemptState::Submitted && a.score.is_some());
    match policy {
        KeptScore::Highest => submitted.fold(None, |best: Option<&Attempt>, a| match best {
            Some(b) if b.score >= a.score && (b.score > a.score || b.number < a.number) => Some(b),
            _ => Some(a),
        }),
        KeptScore::Latest => submitted.max_by_key(|a| a.number),
        KeptScore::First => submitted.min_by_key(|a| a.number),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(number: i32, score: Option<i32>, state: AttemptState) -> Attempt {
        Attempt {
            id: Uuid::from_u128(number as u128),
            quiz_id: Uuid::nil(),
            course_id: Uuid::nil(),
            person_id: Uuid::nil(),
            number,
            state,
            started_at: Utc::now(),
            deadline_at: None,
            submitted_at: None,
            score,
            auto_score: score,
            max_score: Some(10),
            passed: None,
            per_question: Vec::new(),
            revision: 1,
        }
    }

    #[test]
    fn each_policy_keeps_its_attempt_among_the_submitted_ones() {
        let attempts = vec![
            attempt(1, Some(4), AttemptState::Submitted),
            attempt(2, Some(9), AttemptState::Submitted),
            attempt(3, Some(9), AttemptState::Submitted),
            attempt(4, Some(6), AttemptState::Submitted),
            attempt(5, None, AttemptState::InProgress),
            attempt(6, None, AttemptState::Expired),
        ];
        assert_eq!(
            kept(KeptScore::Highest, &attempts).map(|a| a.number),
            Some(2)
        );
        assert_eq!(
            kept(KeptScore::Latest, &attempts).map(|a| a.number),
            Some(4)
        );
        assert_eq!(kept(KeptScore::First, &attempts).map(|a| a.number), Some(1));
        assert_eq!(kept(KeptScore::Highest, &attempts[4..]), None);
    }
}
