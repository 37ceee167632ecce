//! Quizzes as the domain sees them: settings, questions with their answer keys, and the
//! strict validation authoring goes through (every refusal names its field path, such as
//! `questions[2].options[0].id`).
//!
//! A quiz belongs to a course and stands beside its modules (not inside one): the outline
//! lists it, and the completion rule may require passing it.
//!
//! Question kinds and how each is scored (points are whole numbers, so are scores):
//! - `single_choice`: 2–20 options, exactly one correct; full points for that option.
//! - `multiple_choice`: 2–20 options, at least one correct; **all or nothing**: full points
//!   only when the chosen set is exactly the correct set. Partial credit would reward
//!   ticking every box and make scores fractional; authors who want it split the question.
//! - `numeric`: an answer and an absolute tolerance (default 0, inclusive), compared as
//!   whole millionths ([`super::decimal`]).
//! - `short_text`: 1–20 rules, any one matching gives full points: `exact` (identical),
//!   `trimmed` (identical once white space is trimmed at both ends), `case_insensitive`
//!   (trimmed, then identical in lower case), `regex` (the pattern matches the whole
//!   trimmed answer; the `regex` crate matches in linear time, patterns are at most 200
//!   characters and compile within a size limit).

use chrono::{DateTime, Utc};
use hub_kernel::problem::Violations;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::decimal::{Micros, NumberRefused};
use crate::CourseError;
use crate::text::check_text;

// The limits authoring is validated against; the gateway declares them in the spec.
pub const MAX_TITLE: usize = 200;
pub const MAX_DESCRIPTION: usize = 10_000;
pub const MAX_QUESTIONS: usize = 100;
pub const MAX_PROMPT: usize = 2_000;
pub const MIN_OPTIONS: usize = 2;
pub const MAX_OPTIONS: usize = 20;
pub const MAX_OPTION_TEXT: usize = 500;
/// Question and option ids: 1–40 letters, digits, `-` or `_`.
pub const MAX_KEY_ID: usize = 40;
pub const KEY_ID_PATTERN: &str = "^[A-Za-z0-9_-]+$";
pub const MIN_POINTS: i32 = 1;
pub const MAX_POINTS: i32 = 1_000;
pub const MAX_RULES: usize = 20;
pub const MAX_RULE_VALUE: usize = 500;
pub const MAX_REGEX: usize = 200;
/// Compiled size a `regex` rule may take (bytes), so no pattern costs more than this.
pub const REGEX_SIZE_LIMIT: usize = 256 * 1024;
pub const MIN_ATTEMPTS: i32 = 1;
pub const MAX_ATTEMPTS: i32 = 100;
pub const MIN_TIME_LIMIT: i32 = 1;
/// A week.
pub const MAX_TIME_LIMIT: i32 = 604_800;
pub const MIN_PASSING_SCORE: i32 = 0;
pub const MAX_PASSING_SCORE: i32 = 100;
/// Numeric answers and tolerances: ±10¹², at most 6 decimals.
pub const MAX_NUMBER: i64 = 1_000_000_000_000;
pub const MAX_TEXT_ANSWER: usize = 1_000;

/// Which of a learner's attempts gives their score.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeptScore {
    Highest,
    Latest,
    First,
}

impl KeptScore {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Highest => "highest",
            Self::Latest => "latest",
            Self::First => "first",
        }
    }
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Highest, Self::Latest, Self::First]
            .into_iter()
            .find(|k| k.as_str() == text)
    }
}

/// How a quiz may be taken and when it is passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuizSettings {
    /// Attempts per learner (1–100); `None`: unlimited.
    pub max_attempts: Option<i32>,
    /// Seconds an attempt may last (1–604,800); `None`: no limit.
    pub time_limit_seconds: Option<i32>,
    /// No attempt starts after this moment; `None`: no deadline.
    pub due_at: Option<DateTime<Utc>>,
    /// The percentage of the points (0–100) a kept score needs to pass.
    pub passing_score: i32,
    pub kept_score: KeptScore,
    /// Whether a learner's attempt puts the questions they missed before first (U3,
    /// personalisation: only while the consent gate allows it; `crate::attempts`).
    pub adaptive: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuestionKind {
    SingleChoice,
    MultipleChoice,
    Numeric,
    ShortText,
}

impl QuestionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SingleChoice => "single_choice",
            Self::MultipleChoice => "multiple_choice",
            Self::Numeric => "numeric",
            Self::ShortText => "short_text",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TextMatch {
    Exact,
    Trimmed,
    CaseInsensitive,
    Regex,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChoiceOption {
    pub id: String,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextRule {
    #[serde(rename = "match")]
    pub mode: TextMatch,
    pub value: String,
}

/// What makes an answer right: never shown to learners.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AnswerKey {
    SingleChoice {
        options: Vec<ChoiceOption>,
        correct: String,
    },
    MultipleChoice {
        options: Vec<ChoiceOption>,
        correct: Vec<String>,
    },
    Numeric {
        answer: Micros,
        tolerance: Micros,
    },
    ShortText {
        rules: Vec<TextRule>,
    },
}

/// A validated question (as stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Question {
    pub id: String,
    pub prompt: String,
    pub points: u32,
    pub key: AnswerKey,
}

impl Question {
    pub fn kind(&self) -> QuestionKind {
        match self.key {
            AnswerKey::SingleChoice { .. } => QuestionKind::SingleChoice,
            AnswerKey::MultipleChoice { .. } => QuestionKind::MultipleChoice,
            AnswerKey::Numeric { .. } => QuestionKind::Numeric,
            AnswerKey::ShortText { .. } => QuestionKind::ShortText,
        }
    }

    /// The options a learner chooses from (without which are correct), if any.
    pub fn options(&self) -> Option<&[ChoiceOption]> {
        match &self.key {
            AnswerKey::SingleChoice { options, .. } | AnswerKey::MultipleChoice { options, .. } => {
                Some(options)
            }
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quiz {
    pub id: Uuid,
    pub course_id: Uuid,
    pub title: String,
    pub description: String,
    pub settings: QuizSettings,
    pub questions: Vec<Question>,
    pub revision: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Quiz {
    /// The points all questions are worth.
    pub fn max_points(&self) -> u32 {
        self.questions.iter().map(|q| q.points).sum()
    }
}

/// A choice option as an author writes it.
#[derive(Debug, Clone)]
pub struct OptionDraft {
    pub id: String,
    pub text: String,
    pub correct: bool,
}

/// A question as an author writes it: one shape for every kind; which fields a kind takes
/// is checked here (a field another kind uses is refused, not ignored).
#[derive(Debug, Clone)]
pub struct QuestionDraft {
    pub id: String,
    pub kind: QuestionKind,
    pub prompt: String,
    pub points: i32,
    pub options: Option<Vec<OptionDraft>>,
    pub answer: Option<f64>,
    pub tolerance: Option<f64>,
    pub rules: Option<Vec<TextRule>>,
}

impl QuestionDraft {
    /// The authoring form of a stored question (what an author reads back and edits).
    pub fn of(question: &Question) -> Self {
        let choices = |options: &[ChoiceOption], correct: &dyn Fn(&str) -> bool| {
            Some(
                options
                    .iter()
                    .map(|o| OptionDraft {
                        id: o.id.clone(),
                        text: o.text.clone(),
                        correct: correct(&o.id),
                    })
                    .collect(),
            )
        };
        let mut draft = Self {
            id: question.id.clone(),
            kind: question.kind(),
            prompt: question.prompt.clone(),
            points: question.points as i32,
            options: None,
            answer: None,
            tolerance: None,
            rules: None,
        };
        match &question.key {
            AnswerKey::SingleChoice { options, correct } => {
                draft.options = choices(options, &|id| id == correct);
            }
            AnswerKey::MultipleChoice { options, correct } => {
                draft.options = choices(options, &|id| correct.iter().any(|c| c == id));
            }
            AnswerKey::Numeric { answer, tolerance } => {
                draft.answer = Some(answer.to_f64());
                draft.tolerance = Some(tolerance.to_f64());
            }
            AnswerKey::ShortText { rules } => draft.rules = Some(rules.clone()),
        }
        draft
    }
}

#[derive(Debug, Clone)]
pub struct NewQuiz {
    pub title: String,
    pub description: String,
    pub settings: QuizSettings,
    pub questions: Vec<QuestionDraft>,
}

/// `None` leaves a field unchanged; `Some(None)` removes a limit or the deadline;
/// `questions` replaces every question.
#[derive(Debug, Clone, Default)]
pub struct QuizPatch {
    pub title: Option<String>,
    pub description: Option<String>,
    pub max_attempts: Option<Option<i32>>,
    pub time_limit_seconds: Option<Option<i32>>,
    pub due_at: Option<Option<DateTime<Utc>>>,
    pub passing_score: Option<i32>,
    pub kept_score: Option<KeptScore>,
    pub adaptive: Option<bool>,
    pub questions: Option<Vec<QuestionDraft>>,
}

fn check_key_id(v: &mut Violations, field: &str, id: &str) -> bool {
    let ok = (1..=MAX_KEY_ID).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    v.check(ok, field, "1 to 40 characters: letters, digits, '-' or '_'");
    ok
}

fn check_range(v: &mut Violations, field: &str, value: i32, min: i32, max: i32) {
    if !(min..=max).contains(&value) {
        v.add(field, format!("must be between {min} and {max}"));
    }
}

fn check_settings_fields(
    v: &mut Violations,
    max_attempts: Option<i32>,
    time_limit: Option<i32>,
    passing_score: Option<i32>,
) {
    if let Some(n) = max_attempts {
        check_range(v, "max_attempts", n, MIN_ATTEMPTS, MAX_ATTEMPTS);
    }
    if let Some(n) = time_limit {
        check_range(v, "time_limit_seconds", n, MIN_TIME_LIMIT, MAX_TIME_LIMIT);
    }
    if let Some(n) = passing_score {
        check_range(v, "passing_score", n, MIN_PASSING_SCORE, MAX_PASSING_SCORE);
    }
}

fn refuse_unused(v: &mut Violations, at: &str, kind: QuestionKind, field: &str, present: bool) {
    if present {
        v.add(
            format!("{at}.{field}"),
            format!("not used by a {} question", kind.as_str()),
        );
    }
}

fn author_number(v: &mut Violations, field: &str, x: f64) -> Option<Micros> {
    match Micros::exact(x) {
        Ok(m) => Some(m),
        Err(NumberRefused::OutOfRange) => {
            v.add(field, "must be between -1000000000000 and 1000000000000");
            None
        }
        Err(NumberRefused::TooPrecise) => {
            v.add(field, "at most 6 decimal places");
            None
        }
    }
}

/// Compiles a `regex` rule's pattern as grading uses it (anchored to the whole answer).
pub(crate) fn compile_rule(pattern: &str) -> Result<regex::Regex, String> {
    let build = |p: &str| {
        regex::RegexBuilder::new(p)
            .size_limit(REGEX_SIZE_LIMIT)
            .dfa_size_limit(REGEX_SIZE_LIMIT)
            .build()
    };
    // Alone first: `a)|(b` is not a pattern, though `^(?:a)|(b)$` would compile.
    build(pattern).map_err(|e| e.to_string())?;
    build(&format!("^(?:{pattern})$")).map_err(|e| e.to_string())
}

fn check_choices(
    v: &mut Violations,
    at: &str,
    kind: QuestionKind,
    options: Option<&[OptionDraft]>,
) -> Option<(Vec<ChoiceOption>, Vec<String>)> {
    let Some(options) = options else {
        v.add(format!("{at}.options"), "required for a choice question");
        return None;
    };
    let before = v.is_empty();
    if !(MIN_OPTIONS..=MAX_OPTIONS).contains(&options.len()) {
        v.add(
            format!("{at}.options"),
            format!("{MIN_OPTIONS} to {MAX_OPTIONS} options"),
        );
    }
    let mut seen: Vec<&str> = Vec::new();
    for (j, option) in options.iter().enumerate() {
        let field = format!("{at}.options[{j}].id");
        if check_key_id(v, &field, &option.id) && seen.contains(&option.id.as_str()) {
            v.add(field, "duplicate option id");
        }
        seen.push(&option.id);
        check_text(
            v,
            &format!("{at}.options[{j}].text"),
            &option.text,
            MAX_OPTION_TEXT,
            true,
        );
    }
    let correct: Vec<String> = options
        .iter()
        .filter(|o| o.correct)
        .map(|o| o.id.clone())
        .collect();
    match kind {
        QuestionKind::SingleChoice if correct.len() != 1 => v.add(
            format!("{at}.options"),
            "exactly one option must be correct",
        ),
        QuestionKind::MultipleChoice if correct.is_empty() => v.add(
            format!("{at}.options"),
            "at least one option must be correct",
        ),
        _ => {}
    }
    if !before || !v.is_empty() {
        return None;
    }
    let options = options
        .iter()
        .map(|o| ChoiceOption {
            id: o.id.clone(),
            text: o.text.trim().to_string(),
        })
        .collect();
    Some((options, correct))
}

fn check_rules(v: &mut Violations, at: &str, rules: Option<&[TextRule]>) -> Option<Vec<TextRule>> {
    let Some(rules) = rules else {
        v.add(format!("{at}.rules"), "required for a short_text question");
        return None;
    };
    let mut ok = true;
    if !(1..=MAX_RULES).contains(&rules.len()) {
        v.add(format!("{at}.rules"), format!("1 to {MAX_RULES} rules"));
        ok = false;
    }
    for (j, rule) in rules.iter().enumerate() {
        let field = format!("{at}.rules[{j}].value");
        let max = if rule.mode == TextMatch::Regex {
            MAX_REGEX
        } else {
            MAX_RULE_VALUE
        };
        if rule.value.is_empty() {
            v.add(field, "must not be empty");
            ok = false;
        } else if rule.value.chars().count() > max {
            v.add(field, format!("must be at most {max} characters"));
            ok = false;
        } else if rule.mode == TextMatch::Regex
            && let Err(why) = compile_rule(&rule.value)
        {
            let first = why.lines().last().unwrap_or("invalid").trim().to_string();
            v.add(field, format!("not a valid regular expression: {first}"));
            ok = false;
        } else if rule.mode != TextMatch::Exact && rule.value.trim().is_empty() {
            v.add(field, "must not be only white space");
            ok = false;
        }
    }
    ok.then(|| rules.to_vec())
}

fn check_question(v: &mut Violations, at: &str, draft: &QuestionDraft) -> Option<Question> {
    check_key_id(v, &format!("{at}.id"), &draft.id);
    check_text(v, &format!("{at}.prompt"), &draft.prompt, MAX_PROMPT, true);
    check_range(
        v,
        &format!("{at}.points"),
        draft.points,
        MIN_POINTS,
        MAX_POINTS,
    );
    let kind = draft.kind;
    let choice = matches!(
        kind,
        QuestionKind::SingleChoice | QuestionKind::MultipleChoice
    );
    refuse_unused(v, at, kind, "options", !choice && draft.options.is_some());
    refuse_unused(
        v,
        at,
        kind,
        "answer",
        kind != QuestionKind::Numeric && draft.answer.is_some(),
    );
    refuse_unused(
        v,
        at,
        kind,
        "tolerance",
        kind != QuestionKind::Numeric && draft.tolerance.is_some(),
    );
    refuse_unused(
        v,
        at,
        kind,
        "rules",
        kind != QuestionKind::ShortText && draft.rules.is_some(),
    );
    let key = match kind {
        QuestionKind::SingleChoice => check_choices(v, at, kind, draft.options.as_deref())
            .and_then(|(options, mut correct)| {
                correct
                    .pop()
                    .map(|correct| AnswerKey::SingleChoice { options, correct })
            }),
        QuestionKind::MultipleChoice => check_choices(v, at, kind, draft.options.as_deref())
            .map(|(options, correct)| AnswerKey::MultipleChoice { options, correct }),
        QuestionKind::Numeric => {
            let answer = match draft.answer {
                Some(x) => author_number(v, &format!("{at}.answer"), x),
                None => {
                    v.add(format!("{at}.answer"), "required for a numeric question");
                    None
                }
            };
            let tolerance = match draft.tolerance {
                Some(x) if x < 0.0 => {
                    v.add(format!("{at}.tolerance"), "must not be negative");
                    None
                }
                Some(x) => author_number(v, &format!("{at}.tolerance"), x),
                None => Some(Micros(0)),
            };
            answer
                .zip(tolerance)
                .map(|(answer, tolerance)| AnswerKey::Numeric { answer, tolerance })
        }
        QuestionKind::ShortText => {
            check_rules(v, at, draft.rules.as_deref()).map(|rules| AnswerKey::ShortText { rules })
        }
    }?;
    Some(Question {
        id: draft.id.clone(),
        prompt: draft.prompt.trim().to_string(),
        points: u32::try_from(draft.points).ok()?,
        key,
    })
}

/// Validates every question (all refusals at once) and gives the stored form.
pub(crate) fn check_questions(v: &mut Violations, drafts: &[QuestionDraft]) -> Vec<Question> {
    if !(1..=MAX_QUESTIONS).contains(&drafts.len()) {
        v.add("questions", format!("1 to {MAX_QUESTIONS} questions"));
        return Vec::new();
    }
    let mut questions = Vec::new();
    for (i, draft) in drafts.iter().enumerate() {
        let at = format!("questions[{i}]");
        if drafts[..i].iter().any(|d| d.id == draft.id) {
            v.add(format!("{at}.id"), "duplicate question id");
        }
        if let Some(q) = check_question(v, &at, draft) {
            questions.push(q);
        }
    }
    questions
}

fn check_title(v: &mut Violations, title: Option<&str>, description: Option<&str>) {
    if let Some(title) = title {
        check_text(v, "title", title, MAX_TITLE, true);
    }
    if let Some(description) = description {
        check_text(v, "description", description, MAX_DESCRIPTION, false);
    }
}

impl NewQuiz {
    /// The validated questions, or every refusal.
    pub(crate) fn validate(&self) -> Result<Vec<Question>, CourseError> {
        let mut v = Violations::new();
        check_title(&mut v, Some(&self.title), Some(&self.description));
        let s = &self.settings;
        check_settings_fields(
            &mut v,
            s.max_attempts,
            s.time_limit_seconds,
            Some(s.passing_score),
        );
        let questions = check_questions(&mut v, &self.questions);
        v.finish().map_err(CourseError::Invalid)?;
        Ok(questions)
    }
}

impl QuizPatch {
    /// The validated replacement questions (if any), or every refusal.
    pub(crate) fn validate(&self) -> Result<Option<Vec<Question>>, CourseError> {
        let mut v = Violations::new();
        check_title(&mut v, self.title.as_deref(), self.description.as_deref());
        check_settings_fields(
            &mut v,
            self.max_attempts.flatten(),
            self.time_limit_seconds.flatten(),
            self.passing_score,
        );
        let questions = self
            .questions
            .as_ref()
            .map(|drafts| check_questions(&mut v, drafts));
        v.finish().map_err(CourseError::Invalid)?;
        Ok(questions)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    // Decimals as authors write them (3.14 is a quiz answer here, not π).
    #![allow(clippy::approx_constant)]
    use super::*;

    pub(crate) fn option(id: &str, correct: bool) -> OptionDraft {
        OptionDraft {
            id: id.into(),
            text: format!("Option {id}"),
            correct,
        }
    }

    pub(crate) fn draft(id: &str, kind: QuestionKind) -> QuestionDraft {
        QuestionDraft {
            id: id.into(),
            kind,
            prompt: "Why?".into(),
            points: 1,
            options: None,
            answer: None,
            tolerance: None,
            rules: None,
        }
    }

    fn refusals(drafts: &[QuestionDraft]) -> Vec<String> {
        let mut v = Violations::new();
        check_questions(&mut v, drafts);
        match v.finish() {
            Ok(()) => Vec::new(),
            Err(list) => list.into_iter().map(|f| f.field).collect(),
        }
    }

    fn rule(mode: TextMatch, value: &str) -> TextRule {
        TextRule {
            mode,
            value: value.into(),
        }
    }

    #[test]
    fn each_kind_refuses_what_makes_it_ungradable() {
        use QuestionKind::*;
        let with_options = |kind, options: Vec<OptionDraft>| QuestionDraft {
            options: Some(options),
            ..draft("q", kind)
        };
        let numeric = |answer: Option<f64>, tolerance: Option<f64>| QuestionDraft {
            answer,
            tolerance,
            ..draft("q", Numeric)
        };
        let text = |rules: Vec<TextRule>| QuestionDraft {
            rules: Some(rules),
            ..draft("q", ShortText)
        };
        let cases: Vec<(&str, QuestionDraft, Vec<&str>)> = vec![
            (
                "single choice, one correct",
                with_options(SingleChoice, vec![option("a", true), option("b", false)]),
                vec![],
            ),
            (
                "single choice, none correct",
                with_options(SingleChoice, vec![option("a", false), option("b", false)]),
                vec!["questions[0].options"],
            ),
            (
                "single choice, two correct",
                with_options(SingleChoice, vec![option("a", true), option("b", true)]),
                vec!["questions[0].options"],
            ),
            (
                "multiple choice, none correct",
                with_options(MultipleChoice, vec![option("a", false), option("b", false)]),
                vec!["questions[0].options"],
            ),
            (
                "multiple choice, two correct",
                with_options(MultipleChoice, vec![option("a", true), option("b", true)]),
                vec![],
            ),
            (
                "duplicate option ids",
                with_options(MultipleChoice, vec![option("a", true), option("a", false)]),
                vec!["questions[0].options[1].id"],
            ),
            (
                "one option only",
                with_options(SingleChoice, vec![option("a", true)]),
                vec!["questions[0].options"],
            ),
            (
                "no options",
                draft("q", SingleChoice),
                vec!["questions[0].options"],
            ),
            (
                "a bad option id",
                with_options(SingleChoice, vec![option("a b", true), option("b", false)]),
                vec!["questions[0].options[0].id"],
            ),
            ("numeric", numeric(Some(3.14), Some(0.01)), vec![]),
            ("numeric, no tolerance", numeric(Some(2.0), None), vec![]),
            (
                "numeric, negative tolerance",
                numeric(Some(3.14), Some(-0.01)),
                vec!["questions[0].tolerance"],
            ),
            (
                "numeric, no answer",
                numeric(None, None),
                vec!["questions[0].answer"],
            ),
            (
                "numeric, seven decimals",
                numeric(Some(0.1234567), None),
                vec!["questions[0].answer"],
            ),
            (
                "numeric, too large",
                numeric(Some(2e12), Some(1e13)),
                vec!["questions[0].answer", "questions[0].tolerance"],
            ),
            (
                "numeric with options",
                QuestionDraft {
                    options: Some(vec![option("a", true), option("b", false)]),
                    ..numeric(Some(1.0), None)
                },
                vec!["questions[0].options"],
            ),
            (
                "short text",
                text(vec![
                    rule(TextMatch::Exact, "Paris"),
                    rule(TextMatch::Regex, "par(is)?"),
                ]),
                vec![],
            ),
            (
                "short text, invalid regex",
                text(vec![rule(TextMatch::Regex, "(unclosed")]),
                vec!["questions[0].rules[0].value"],
            ),
            (
                "short text, a regex escaping its anchors",
                text(vec![rule(TextMatch::Regex, "a)|(b")]),
                vec!["questions[0].rules[0].value"],
            ),
            (
                "short text, an over-long regex",
                text(vec![rule(TextMatch::Regex, &"a".repeat(MAX_REGEX + 1))]),
                vec!["questions[0].rules[0].value"],
            ),
            (
                "short text, a regex too big once compiled",
                text(vec![rule(TextMatch::Regex, "\\w{1000}\\w{1000}\\w{1000}")]),
                vec!["questions[0].rules[0].value"],
            ),
            (
                "short text, no rules",
                text(vec![]),
                vec!["questions[0].rules"],
            ),
            (
                "short text, an empty value",
                text(vec![rule(TextMatch::CaseInsensitive, "  ")]),
                vec!["questions[0].rules[0].value"],
            ),
            (
                "short text with an answer",
                QuestionDraft {
                    answer: Some(1.0),
                    ..text(vec![rule(TextMatch::Exact, "x")])
                },
                vec!["questions[0].answer"],
            ),
            (
                "zero points",
                QuestionDraft {
                    points: 0,
                    ..numeric(Some(1.0), None)
                },
                vec!["questions[0].points"],
            ),
        ];
        for (what, question, fields) in cases {
            assert_eq!(refusals(&[question]), fields, "{what}");
        }
    }

    #[test]
    fn question_ids_are_unique_and_counts_bounded() {
        let q = |id: &str| QuestionDraft {
            answer: Some(1.0),
            ..draft(id, QuestionKind::Numeric)
        };
        assert_eq!(refusals(&[q("a"), q("b"), q("a")]), ["questions[2].id"]);
        assert_eq!(refusals(&[]), ["questions"]);
        let many: Vec<_> = (0..=MAX_QUESTIONS).map(|i| q(&format!("q{i}"))).collect();
        assert_eq!(refusals(&many), ["questions"]);
        assert!(refusals(&many[..MAX_QUESTIONS]).is_empty());
    }

    #[test]
    fn the_authoring_form_round_trips() {
        let drafts = vec![
            QuestionDraft {
                options: Some(vec![option("a", false), option("b", true)]),
                ..draft("s", QuestionKind::SingleChoice)
            },
            QuestionDraft {
                answer: Some(-2.5),
                tolerance: Some(0.000001),
                ..draft("n", QuestionKind::Numeric)
            },
        ];
        let mut v = Violations::new();
        let questions = check_questions(&mut v, &drafts);
        assert!(v.is_empty());
        let again: Vec<_> = questions.iter().map(QuestionDraft::of).collect();
        let mut v = Violations::new();
        assert_eq!(check_questions(&mut v, &again), questions);
        assert_eq!(again[1].answer, Some(-2.5));
        assert_eq!(again[1].tolerance, Some(0.000001));
    }
}
