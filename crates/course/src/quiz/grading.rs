//! Grading: a pure function of a quiz and a checked answer set. Nothing is stored here; an
//! attempt's record is its caller's business.
//!
//! [`Answers::check`] refuses an answer set that does not fit the quiz (an unknown or
//! repeated question id, an answer of the wrong type, an unknown option), naming the field
//! (`answers[1].option_ids[0]`); [`grade`] then never fails. A question left unanswered
//! scores 0. Scores are whole points; a quiz is passed when
//! `score × 100 ≥ passing_score × max` (integers, so exactly at the boundary too).

use hub_kernel::problem::Violations;

use super::decimal::{Micros, NumberRefused};
use super::model::{AnswerKey, MAX_TEXT_ANSWER, Question, Quiz, TextMatch, TextRule, compile_rule};
use crate::CourseError;

/// One answer as a learner sends it: exactly one of the three forms, the one its question's
/// kind takes (choices: `option_ids`; numeric: `number`; short text: `text`).
#[derive(Debug, Clone, Default)]
pub struct AnswerInput {
    pub question_id: String,
    pub option_ids: Option<Vec<String>>,
    pub number: Option<f64>,
    pub text: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
enum Response {
    Choices(Vec<String>),
    Number(Micros),
    Text(String),
}

/// An answer set checked against its quiz (see [`Answers::check`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Answers {
    responses: Vec<(String, Response)>,
}

impl Answers {
    /// Checks `inputs` against `quiz`; every refusal at once.
    pub fn check(quiz: &Quiz, inputs: &[AnswerInput]) -> Result<Self, CourseError> {
        let mut v = Violations::new();
        let mut responses: Vec<(String, Response)> = Vec::new();
        if inputs.len() > quiz.questions.len() {
            v.add(
                "answers",
                format!("at most one answer per question ({})", quiz.questions.len()),
            );
            return Err(CourseError::Invalid(v.finish().err().unwrap_or_default()));
        }
        for (i, input) in inputs.iter().enumerate() {
            let at = format!("answers[{i}]");
            let Some(question) = quiz.questions.iter().find(|q| q.id == input.question_id) else {
                v.add(format!("{at}.question_id"), "no such question in this quiz");
                continue;
            };
            if inputs[..i]
                .iter()
                .any(|a| a.question_id == input.question_id)
            {
                v.add(format!("{at}.question_id"), "answered twice");
                continue;
            }
            if let Some(response) = check_one(&mut v, &at, question, input) {
                responses.push((question.id.clone(), response));
            }
        }
        v.finish().map_err(CourseError::Invalid)?;
        Ok(Self { responses })
    }

    fn response(&self, question_id: &str) -> Option<&Response> {
        self.responses
            .iter()
            .find(|(id, _)| id == question_id)
            .map(|(_, r)| r)
    }
}

fn check_one(
    v: &mut Violations,
    at: &str,
    question: &Question,
    input: &AnswerInput,
) -> Option<Response> {
    let given = [
        input.option_ids.is_some(),
        input.number.is_some(),
        input.text.is_some(),
    ];
    let wanted = match question.key {
        AnswerKey::SingleChoice { .. } | AnswerKey::MultipleChoice { .. } => "option_ids",
        AnswerKey::Numeric { .. } => "number",
        AnswerKey::ShortText { .. } => "text",
    };
    if given.iter().filter(|g| **g).count() != 1
        || match wanted {
            "option_ids" => input.option_ids.is_none(),
            "number" => input.number.is_none(),
            _ => input.text.is_none(),
        }
    {
        v.add(
            at,
            format!(
                "a {} question takes `{wanted}` and nothing else",
                question.kind().as_str()
            ),
        );
        return None;
    }
    match &question.key {
        AnswerKey::SingleChoice { options, .. } | AnswerKey::MultipleChoice { options, .. } => {
            let ids = input.option_ids.as_deref().unwrap_or_default();
            let single = matches!(question.key, AnswerKey::SingleChoice { .. });
            if single && ids.len() != 1 {
                v.add(format!("{at}.option_ids"), "exactly one option");
                return None;
            }
            let mut ok = true;
            for (j, id) in ids.iter().enumerate() {
                let field = format!("{at}.option_ids[{j}]");
                if !options.iter().any(|o| &o.id == id) {
                    v.add(field, "no such option in this question");
                    ok = false;
                } else if ids[..j].contains(id) {
                    v.add(field, "chosen twice");
                    ok = false;
                }
            }
            ok.then(|| Response::Choices(ids.to_vec()))
        }
        AnswerKey::Numeric { .. } => match Micros::rounded(input.number.unwrap_or_default()) {
            Ok(m) => Some(Response::Number(m)),
            Err(NumberRefused::OutOfRange | NumberRefused::TooPrecise) => {
                v.add(
                    format!("{at}.number"),
                    "must be between -1000000000000 and 1000000000000",
                );
                None
            }
        },
        AnswerKey::ShortText { .. } => {
            let text = input.text.clone().unwrap_or_default();
            if text.chars().count() > MAX_TEXT_ANSWER {
                v.add(
                    format!("{at}.text"),
                    format!("must be at most {MAX_TEXT_ANSWER} characters"),
                );
                return None;
            }
            Some(Response::Text(text))
        }
    }
}

/// How one question was graded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuestionGrade {
    pub question_id: String,
    pub points: u32,
    pub max: u32,
    pub correct: bool,
    pub answered: bool,
}

/// A graded answer set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Graded {
    pub score: u32,
    pub max: u32,
    /// `score × 100 ≥ passing_score × max`.
    pub passed: bool,
    /// In the quiz's question order.
    pub per_question: Vec<QuestionGrade>,
}

impl Graded {
    /// The score as a percentage of the points, for display (rounded to 2 decimals).
    pub fn percent(&self) -> f64 {
        if self.max == 0 {
            return 0.0;
        }
        let hundredths =
            (u64::from(self.score) * 10_000 + u64::from(self.max) / 2) / u64::from(self.max);
        hundredths as f64 / 100.0
    }
}

fn text_matches(rule: &TextRule, answer: &str) -> bool {
    match rule.mode {
        TextMatch::Exact => answer == rule.value,
        TextMatch::Trimmed => answer.trim() == rule.value.trim(),
        TextMatch::CaseInsensitive => {
            answer.trim().to_lowercase() == rule.value.trim().to_lowercase()
        }
        // Validated when authored; a pattern that no longer compiles matches nothing.
        TextMatch::Regex => compile_rule(&rule.value).is_ok_and(|re| re.is_match(answer.trim())),
    }
}

fn is_correct(key: &AnswerKey, response: &Response) -> bool {
    match (key, response) {
        (AnswerKey::SingleChoice { correct, .. }, Response::Choices(chosen)) => {
            chosen.len() == 1 && chosen[0] == *correct
        }
        (AnswerKey::MultipleChoice { correct, .. }, Response::Choices(chosen)) => {
            chosen.len() == correct.len() && chosen.iter().all(|c| correct.contains(c))
        }
        (AnswerKey::Numeric { answer, tolerance }, Response::Number(n)) => {
            n.within(*answer, *tolerance)
        }
        (AnswerKey::ShortText { rules }, Response::Text(text)) => {
            rules.iter().any(|r| text_matches(r, text))
        }
        _ => false,
    }
}

/// Grades `answers` against `quiz`'s keys.
pub fn grade(quiz: &Quiz, answers: &Answers) -> Graded {
    let per_question: Vec<QuestionGrade> = quiz
        .questions
        .iter()
        .map(|q| {
            let response = answers.response(&q.id);
            let correct = response.is_some_and(|r| is_correct(&q.key, r));
            QuestionGrade {
                question_id: q.id.clone(),
                points: if correct { q.points } else { 0 },
                max: q.points,
                correct,
                answered: response.is_some(),
            }
        })
        .collect();
    let score: u32 = per_question.iter().map(|g| g.points).sum();
    let max: u32 = per_question.iter().map(|g| g.max).sum();
    let passing = u64::try_from(quiz.settings.passing_score).unwrap_or(0);
    Graded {
        score,
        max,
        passed: u64::from(score) * 100 >= passing * u64::from(max),
        per_question,
    }
}

#[cfg(test)]
mod tests {
    // Decimals as authors write them (3.14 is a quiz answer here, not π).
    #![allow(clippy::approx_constant)]
    use super::*;
    use crate::quiz::model::tests::{draft, option};
    use crate::quiz::model::{
        KeptScore, QuestionDraft, QuestionKind, QuizSettings, check_questions,
    };
    use chrono::Utc;
    use uuid::Uuid;

    fn quiz(drafts: Vec<QuestionDraft>, passing_score: i32) -> Quiz {
        let mut v = Violations::new();
        let questions = check_questions(&mut v, &drafts);
        assert!(v.is_empty(), "{v:?}");
        Quiz {
            id: Uuid::now_v7(),
            course_id: Uuid::now_v7(),
            title: "Q".into(),
            description: String::new(),
            settings: QuizSettings {
                max_attempts: None,
                time_limit_seconds: None,
                due_at: None,
                passing_score,
                kept_score: KeptScore::Highest,
                adaptive: false,
            },
            questions,
            revision: 1,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn numeric(answer: f64, tolerance: Option<f64>) -> Quiz {
        quiz(
            vec![QuestionDraft {
                answer: Some(answer),
                tolerance,
                ..draft("n", QuestionKind::Numeric)
            }],
            100,
        )
    }

    fn short_text(rules: Vec<(TextMatch, &str)>) -> Quiz {
        quiz(
            vec![QuestionDraft {
                rules: Some(
                    rules
                        .into_iter()
                        .map(|(mode, value)| TextRule {
                            mode,
                            value: value.into(),
                        })
                        .collect(),
                ),
                ..draft("t", QuestionKind::ShortText)
            }],
            100,
        )
    }

    fn choices(kind: QuestionKind, correct: &[&str]) -> Quiz {
        quiz(
            vec![QuestionDraft {
                options: Some(
                    ["a", "b", "c", "d"]
                        .iter()
                        .map(|id| option(id, correct.contains(id)))
                        .collect(),
                ),
                ..draft("c", kind)
            }],
            100,
        )
    }

    fn answer(question: &str) -> AnswerInput {
        AnswerInput {
            question_id: question.into(),
            ..Default::default()
        }
    }

    fn correct(quiz: &Quiz, input: AnswerInput) -> bool {
        let answers = Answers::check(quiz, &[input]).unwrap();
        grade(quiz, &answers).per_question[0].correct
    }

    #[test]
    fn numeric_tolerance_is_exact_at_its_bounds() {
        let cases: &[(f64, Option<f64>, f64, bool)] = &[
            (3.14, Some(0.01), 3.15, true),
            (3.14, Some(0.01), 3.13, true),
            (3.14, Some(0.01), 3.150001, false),
            (3.14, Some(0.01), 3.129999, false),
            (3.14, Some(0.01), 3.1500004, true), // rounds to 3.15
            (3.14, Some(0.01), 3.1500005, false), // rounds to 3.150001
            (0.3, None, 0.1 + 0.2, true),        // 0.30000000000000004 rounds to 0.3
            (0.3, None, 0.300001, false),
            (-1.5, Some(0.5), -1.0, true),
            (-1.5, Some(0.5), -2.0, true),
            (-1.5, Some(0.5), -2.000001, false),
            (0.0, None, -0.0, true),
            (0.0, None, 0.0000004, true),
            (0.0, None, 0.0000005, false),
            (1e12, Some(0.0), 1e12, true),
            (-1e12, Some(1e12), 0.0, true),
            (100.0, Some(0.1), 100.1, true),
            (100.0, Some(0.1), 99.9, true),
            (100.0, Some(0.1), 100.10000000000001, true),
        ];
        for &(key, tolerance, given, expected) in cases {
            let quiz = numeric(key, tolerance);
            let input = AnswerInput {
                number: Some(given),
                ..answer("n")
            };
            assert_eq!(
                correct(&quiz, input),
                expected,
                "key {key} ± {tolerance:?}, answer {given}"
            );
        }
    }

    #[test]
    fn short_text_rules_match_as_documented() {
        use TextMatch::*;
        let cases: &[(TextMatch, &str, &str, bool)] = &[
            (Exact, "Paris", "Paris", true),
            (Exact, "Paris", "paris", false),
            (Exact, "Paris", " Paris", false),
            (Trimmed, "Paris", "  Paris\t", true),
            (Trimmed, "Paris", "paris", false),
            (CaseInsensitive, "Paris", "  pARIS ", true),
            (CaseInsensitive, "Straße", "STRASSE", false),
            (CaseInsensitive, "Ärger", "äRGER", true),
            (Regex, "colou?r", "color", true),
            (Regex, "colou?r", "colour", true),
            (Regex, "colou?r", "colours", false), // anchored: the whole answer
            (Regex, "colou?r", "my color", false),
            (Regex, "colou?r", " color ", true), // on the trimmed answer
            (Regex, "(?i)paris", "PARIS", true),
            (Regex, "a|b", "ab", false), // `^(?:a|b)$`, not `^a|b$`
            (Regex, "(a+)+$", &"a".repeat(900), true),
            (Regex, "(a+)+b", &format!("{}c", "a".repeat(900)), false),
        ];
        for (mode, rule, given, expected) in cases {
            let quiz = short_text(vec![(*mode, rule)]);
            let input = AnswerInput {
                text: Some(given.to_string()),
                ..answer("t")
            };
            assert_eq!(
                correct(&quiz, input),
                *expected,
                "{mode:?} {rule} vs {given:?}"
            );
        }
        let either = short_text(vec![(Exact, "4"), (CaseInsensitive, "four")]);
        for (given, expected) in [("4", true), ("Four", true), ("five", false)] {
            let input = AnswerInput {
                text: Some(given.into()),
                ..answer("t")
            };
            assert_eq!(correct(&either, input), expected, "{given}");
        }
    }

    #[test]
    fn choices_score_all_or_nothing() {
        use QuestionKind::*;
        let pick = |ids: &[&str]| AnswerInput {
            option_ids: Some(ids.iter().map(|s| s.to_string()).collect()),
            ..answer("c")
        };
        let single = choices(SingleChoice, &["b"]);
        assert!(correct(&single, pick(&["b"])));
        assert!(!correct(&single, pick(&["a"])));
        let multiple = choices(MultipleChoice, &["a", "c"]);
        for (ids, expected) in [
            (&["a", "c"][..], true),
            (&["c", "a"][..], true),
            (&["a"][..], false),
            (&["a", "c", "d"][..], false),
            (&["a", "b", "c", "d"][..], false),
            (&[][..], false),
        ] {
            assert_eq!(correct(&multiple, pick(ids)), expected, "{ids:?}");
        }
    }

    #[test]
    fn answers_that_do_not_fit_are_refused_by_field() {
        use QuestionKind::*;
        let q = quiz(
            vec![
                QuestionDraft {
                    options: Some(vec![option("a", true), option("b", false)]),
                    ..draft("s", SingleChoice)
                },
                QuestionDraft {
                    answer: Some(1.0),
                    ..draft("n", Numeric)
                },
            ],
            50,
        );
        let fields = |inputs: &[AnswerInput]| match Answers::check(&q, inputs) {
            Err(CourseError::Invalid(v)) => v.into_iter().map(|f| f.field).collect::<Vec<_>>(),
            other => panic!("{other:?}"),
        };
        let ids = |ids: &[&str]| Some(ids.iter().map(|s| s.to_string()).collect());
        assert_eq!(fields(&[answer("zzz")]), ["answers[0].question_id"]);
        assert_eq!(
            fields(&[AnswerInput {
                text: Some("1".into()),
                ..answer("n")
            }]),
            ["answers[0]"]
        );
        assert_eq!(
            fields(&[AnswerInput {
                number: Some(1.0),
                text: Some("1".into()),
                ..answer("n")
            }]),
            ["answers[0]"]
        );
        assert_eq!(fields(&[answer("n")]), ["answers[0]"]);
        assert_eq!(
            fields(&[AnswerInput {
                option_ids: ids(&["a", "b"]),
                ..answer("s")
            }]),
            ["answers[0].option_ids"]
        );
        assert_eq!(
            fields(&[AnswerInput {
                option_ids: ids(&["x"]),
                ..answer("s")
            }]),
            ["answers[0].option_ids[0]"]
        );
        let one = AnswerInput {
            number: Some(1.0),
            ..answer("n")
        };
        assert_eq!(
            fields(&[one.clone(), one.clone()]),
            ["answers[1].question_id"]
        );
        assert_eq!(fields(&[one.clone(), one.clone(), one]), ["answers"]);
        assert_eq!(
            fields(&[AnswerInput {
                number: Some(5e12),
                ..answer("n")
            }]),
            ["answers[0].number"]
        );
    }

    #[test]
    fn scores_sum_points_and_pass_exactly_at_the_boundary() {
        use QuestionKind::*;
        let numeric_q = |id: &str, points: i32| QuestionDraft {
            answer: Some(1.0),
            points,
            ..draft(id, Numeric)
        };
        // 2 of 3 points is 66.67 %: it passes at 66, fails at 67.
        let drafts = vec![numeric_q("a", 1), numeric_q("b", 1), numeric_q("c", 1)];
        let right = |id: &str| AnswerInput {
            number: Some(1.0),
            ..answer(id)
        };
        for (passing, passed) in [(66, true), (67, false), (0, true)] {
            let q = quiz(drafts.clone(), passing);
            let answers = Answers::check(&q, &[right("a"), right("c")]).unwrap();
            let graded = grade(&q, &answers);
            assert_eq!((graded.score, graded.max), (2, 3));
            assert_eq!(graded.passed, passed, "passing {passing}");
            assert_eq!(graded.percent(), 66.67);
            assert!(!graded.per_question[1].answered);
            assert!(graded.per_question[2].correct);
        }
        // Exactly at the passing score passes: 3 of 4 points at 75 %.
        let q = quiz(vec![numeric_q("a", 3), numeric_q("b", 1)], 75);
        let answers = Answers::check(&q, &[right("a")]).unwrap();
        let graded = grade(&q, &answers);
        assert_eq!((graded.score, graded.max, graded.passed), (3, 4, true));
        // Nothing answered: 0, failed unless the passing score is 0.
        let none = Answers::check(&q, &[]).unwrap();
        assert_eq!(grade(&q, &none).score, 0);
        assert!(!grade(&q, &none).passed);
        let full = quiz(vec![numeric_q("a", 1)], 100);
        let answers = Answers::check(&full, &[right("a")]).unwrap();
        assert!(grade(&full, &answers).passed);
    }
}
