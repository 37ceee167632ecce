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
    /// The order the attempt's questions are put in: only in the answer to starting it
    /// (computed then from the learner's history, never stored), `None` elsewhere.
    pub question_order: Option<QuestionOrder>,
}

/// The order an attempt puts the quiz's questions in (U3), and whether it came from the
/// learner's own history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuestionOrder {
    /// Every question of the quiz, once each, in the order to present them.
    pub question_ids: Vec<String>,
    /// The quiz is adaptive and the consent gate allowed personalisation: the order came
    /// from the learner's earlier attempts ([`adapted_order`]; with none, it is the quiz's).
    pub personalised: bool,
    /// Why not, when the quiz is adaptive and the gate refused (`no_consent`,
    /// `consent_withdrawn`, `restricted`, `guardian_consent_required`, …); `None` when
    /// personalised or the quiz is not adaptive.
    pub withheld: Option<&'static str>,
}

/// An adaptive quiz's order for a learner from their earlier attempts of it: the questions
/// whose latest grading (the most recent submitted attempt that graded them) was not right
/// (answered wrongly or not answered) first, then the rest, each group in the quiz's order.
/// Attempts never submitted (in progress, expired) have no grading and tell nothing.
pub fn adapted_order(quiz_order: &[String], earlier: &[Attempt]) -> Vec<String> {
    let mut submitted: Vec<&Attempt> = earlier
        .iter()
        .filter(|a| a.state == AttemptState::Submitted)
        .collect();
    submitted.sort_by_key(|a| a.number);
    let missed = |id: &String| {
        submitted
            .iter()
            .rev()
            .find_map(|a| a.per_question.iter().find(|g| &g.question_id == id))
            .is_some_and(|g| !g.correct)
    };
    let (first, rest): (Vec<String>, Vec<String>) = quiz_order.iter().cloned().partition(missed);
    first.into_iter().chain(rest).collect()
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
            question_order: None,
        }
    }

    fn graded(question_id: &str, correct: bool, answered: bool) -> QuestionGrade {
        QuestionGrade {
            question_id: question_id.into(),
            points: u32::from(correct),
            max: 1,
            correct,
            answered,
        }
    }

    #[test]
    fn the_adapted_order_puts_the_latest_misses_first_in_the_quizs_order() {
        let order: Vec<String> = ["q1", "q2", "q3", "q4"].map(String::from).to_vec();
        assert_eq!(
            adapted_order(&order, &[]),
            order,
            "no history: the quiz's order"
        );
        let mut first = attempt(1, Some(1), AttemptState::Submitted);
        first.per_question = vec![
            graded("q1", false, true),
            graded("q2", true, true),
            graded("q3", false, false),
            graded("q4", true, true),
        ];
        assert_eq!(
            adapted_order(&order, &[first.clone()]),
            ["q1", "q3", "q2", "q4"]
        );
        // Right the second time: no longer first; wrong now: first.
        let mut second = attempt(2, Some(2), AttemptState::Submitted);
        second.per_question = vec![
            graded("q1", true, true),
            graded("q2", true, true),
            graded("q3", false, true),
            graded("q4", false, true),
        ];
        // An expired attempt tells nothing.
        let expired = attempt(3, None, AttemptState::Expired);
        assert_eq!(
            adapted_order(&order, &[second, expired, first]),
            ["q3", "q4", "q1", "q2"]
        );
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
