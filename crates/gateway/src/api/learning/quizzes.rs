//! A course's quizzes: `/v1/courses/{id}/quizzes` and `/v1/quizzes/{id}`.
//!
//! Two views of a quiz, two operations: `GET /v1/quizzes/{id}` (`courses:read`) is what a
//! learner sees, the questions and their options without anything that tells the right
//! answer; `GET /v1/quizzes/{id}/authoring` (`courses:write`) adds the keys, in the shape
//! an author sends back. Grading rules: `hub_course::quiz::model`. A quiz marked
//! `adaptive` lets each attempt put the questions a learner missed before first (U3, with
//! their personalisation consent; `hub_course::attempts`).

use crate::api::{ApiTags, etag, parse_if_match, require_if_match};
use crate::auth::TenantCredential;
use crate::problem::ApiError;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use hub_course::quiz::{
    AnswerInput, Graded, KeptScore, NewQuiz, OptionDraft, Question, QuestionDraft, QuestionKind,
    Quiz, QuizPatch, QuizSettings, TextMatch, TextRule, service,
};
use poem::web::Data;
use poem_openapi::param::{Header, Path};
use poem_openapi::payload::Json;
use poem_openapi::types::{Example, MaybeUndefined};
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use std::sync::Arc;
use uuid::Uuid;

use crate::api::described::Described;

/// Which attempt's score counts: the highest, the latest or the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum KeptScoreView {
    Highest,
    Latest,
    First,
}

impl From<KeptScore> for KeptScoreView {
    fn from(k: KeptScore) -> Self {
        match k {
            KeptScore::Highest => Self::Highest,
            KeptScore::Latest => Self::Latest,
            KeptScore::First => Self::First,
        }
    }
}

impl From<KeptScoreView> for KeptScore {
    fn from(k: KeptScoreView) -> Self {
        match k {
            KeptScoreView::Highest => Self::Highest,
            KeptScoreView::Latest => Self::Latest,
            KeptScoreView::First => Self::First,
        }
    }
}

/// A question's kind: `single_choice` (exactly one correct option), `multiple_choice`
/// (all or nothing: full points only for exactly the correct set), `numeric` (answer ±
/// absolute tolerance, inclusive, compared to 6 decimals) or `short_text` (any one rule
/// matching).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum QuestionKindView {
    SingleChoice,
    MultipleChoice,
    Numeric,
    ShortText,
}

impl From<QuestionKind> for QuestionKindView {
    fn from(k: QuestionKind) -> Self {
        match k {
            QuestionKind::SingleChoice => Self::SingleChoice,
            QuestionKind::MultipleChoice => Self::MultipleChoice,
            QuestionKind::Numeric => Self::Numeric,
            QuestionKind::ShortText => Self::ShortText,
        }
    }
}

impl From<QuestionKindView> for QuestionKind {
    fn from(k: QuestionKindView) -> Self {
        match k {
            QuestionKindView::SingleChoice => Self::SingleChoice,
            QuestionKindView::MultipleChoice => Self::MultipleChoice,
            QuestionKindView::Numeric => Self::Numeric,
            QuestionKindView::ShortText => Self::ShortText,
        }
    }
}

/// How a short-text rule matches: `exact` (identical), `trimmed` (identical once white
/// space is trimmed at both ends), `case_insensitive` (trimmed, then identical in lower
/// case), `regex` (the pattern, at most 200 characters, matches the whole trimmed answer;
/// linear-time matching).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum TextMatchView {
    Exact,
    Trimmed,
    CaseInsensitive,
    Regex,
}

impl From<TextMatch> for TextMatchView {
    fn from(m: TextMatch) -> Self {
        match m {
            TextMatch::Exact => Self::Exact,
            TextMatch::Trimmed => Self::Trimmed,
            TextMatch::CaseInsensitive => Self::CaseInsensitive,
            TextMatch::Regex => Self::Regex,
        }
    }
}

impl From<TextMatchView> for TextMatch {
    fn from(m: TextMatchView) -> Self {
        match m {
            TextMatchView::Exact => Self::Exact,
            TextMatchView::Trimmed => Self::Trimmed,
            TextMatchView::CaseInsensitive => Self::CaseInsensitive,
            TextMatchView::Regex => Self::Regex,
        }
    }
}

/// A choice option as its author writes it.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct OptionInput {
    /// 1–40 letters, digits, `-` or `_`; unique within the question.
    pub id: String,
    /// 1–500 characters.
    pub text: String,
    /// Whether choosing it is right.
    #[oai(default)]
    pub correct: bool,
}

/// A short-text rule: the answer is right when it matches.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct TextRuleInput {
    #[oai(rename = "match")]
    pub mode: TextMatchView,
    /// The text to match (1–500 characters) or, for `regex`, the pattern (1–200).
    pub value: String,
}

fn one_point() -> i32 {
    1
}

/// A question with its answer key, as its author writes it: one shape for every kind.
/// Choice kinds take `options`; `numeric` takes `answer` and `tolerance` (absolute,
/// default 0, at most 6 decimals each, within ±10¹²); `short_text` takes `rules`. A field
/// another kind uses is refused (422 naming it).
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct QuestionInput {
    /// 1–40 letters, digits, `-` or `_`; unique within the quiz. Answers name it.
    pub id: String,
    pub kind: QuestionKindView,
    /// 1–2,000 characters.
    pub prompt: String,
    /// What a right answer is worth: 1–1,000 points (default 1).
    #[oai(default = "one_point")]
    pub points: i32,
    /// 2–20 options (choice kinds).
    #[oai(skip_serializing_if_is_none)]
    pub options: Option<Vec<OptionInput>>,
    /// The right answer (`numeric`).
    #[oai(skip_serializing_if_is_none)]
    pub answer: Option<f64>,
    /// How far from `answer` is still right, bounds included (`numeric`).
    #[oai(skip_serializing_if_is_none)]
    pub tolerance: Option<f64>,
    /// 1–20 rules, any one matching is right (`short_text`).
    #[oai(skip_serializing_if_is_none)]
    pub rules: Option<Vec<TextRuleInput>>,
}

impl From<QuestionInput> for QuestionDraft {
    fn from(q: QuestionInput) -> Self {
        Self {
            id: q.id,
            kind: q.kind.into(),
            prompt: q.prompt,
            points: q.points,
            options: q.options.map(|options| {
                options
                    .into_iter()
                    .map(|o| OptionDraft {
                        id: o.id,
                        text: o.text,
                        correct: o.correct,
                    })
                    .collect()
            }),
            answer: q.answer,
            tolerance: q.tolerance,
            rules: q.rules.map(|rules| {
                rules
                    .into_iter()
                    .map(|r| TextRule {
                        mode: r.mode.into(),
                        value: r.value,
                    })
                    .collect()
            }),
        }
    }
}

impl From<&Question> for QuestionInput {
    fn from(q: &Question) -> Self {
        let draft = QuestionDraft::of(q);
        Self {
            id: draft.id,
            kind: draft.kind.into(),
            prompt: draft.prompt,
            points: draft.points,
            options: draft.options.map(|options| {
                options
                    .into_iter()
                    .map(|o| OptionInput {
                        id: o.id,
                        text: o.text,
                        correct: o.correct,
                    })
                    .collect()
            }),
            answer: draft.answer,
            tolerance: draft.tolerance,
            rules: draft.rules.map(|rules| {
                rules
                    .into_iter()
                    .map(|r| TextRuleInput {
                        mode: r.mode.into(),
                        value: r.value,
                    })
                    .collect()
            }),
        }
    }
}

fn example_questions() -> Vec<QuestionInput> {
    let option = |id: &str, text: &str, correct| OptionInput {
        id: id.into(),
        text: text.into(),
        correct,
    };
    let base = |id: &str, kind, prompt: &str| QuestionInput {
        id: id.into(),
        kind,
        prompt: prompt.into(),
        points: 1,
        options: None,
        answer: None,
        tolerance: None,
        rules: None,
    };
    vec![
        QuestionInput {
            options: Some(vec![
                option("a", "A named place that holds a value", true),
                option("b", "A kind of loop", false),
            ]),
            ..base("q1", QuestionKindView::SingleChoice, "What is a variable?")
        },
        QuestionInput {
            points: 2,
            answer: Some(9.81),
            tolerance: Some(0.01),
            ..base(
                "q2",
                QuestionKindView::Numeric,
                "Gravity at sea level, in m/s²?",
            )
        },
        QuestionInput {
            rules: Some(vec![TextRuleInput {
                mode: TextMatchView::CaseInsensitive,
                value: "Paris".into(),
            }]),
            ..base("q3", QuestionKindView::ShortText, "The capital of France?")
        },
    ]
}

fn highest() -> Described<KeptScoreView> {
    Described(KeptScoreView::Highest)
}

/// A new quiz of the course.
#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct QuizCreate {
    /// 1–200 characters.
    pub title: String,
    /// Up to 10,000 characters.
    #[oai(default)]
    pub description: String,
    /// Attempts per learner, 1–100; omit for unlimited.
    #[oai(skip_serializing_if_is_none)]
    pub max_attempts: Option<i32>,
    /// Seconds an attempt may last, 1–604,800; omit for no limit.
    #[oai(skip_serializing_if_is_none)]
    pub time_limit_seconds: Option<i32>,
    /// No attempt starts after this moment; omit for no deadline.
    #[oai(skip_serializing_if_is_none)]
    pub due_at: Option<DateTime<Utc>>,
    /// The percentage of the points (0–100) the kept score needs to pass.
    pub passing_score: i32,
    /// Which attempt's score counts (default `highest`).
    #[oai(default = "highest")]
    pub kept_score: Described<KeptScoreView>,
    /// Adapted difficulty (default `false`): each attempt of a learner who has given
    /// personalisation consent starts with the questions they missed last time (the
    /// attempt's `question_order` says which order it used and why). Grading is the same.
    #[oai(default)]
    pub adaptive: bool,
    /// 1–100 questions.
    pub questions: Vec<QuestionInput>,
}

impl Example for QuizCreate {
    fn example() -> Self {
        Self {
            title: "Week 1 check".into(),
            description: String::new(),
            max_attempts: Some(3),
            time_limit_seconds: Some(900),
            due_at: None,
            passing_score: 60,
            kept_score: Described(KeptScoreView::Highest),
            adaptive: true,
            questions: example_questions(),
        }
    }
}

/// Changes to a quiz; omitted fields stay as they are, `questions` replaces them all.
#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct QuizUpdate {
    #[oai(skip_serializing_if_is_none)]
    pub title: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub description: Option<String>,
    /// `null`: unlimited.
    #[oai(nullable)]
    pub max_attempts: MaybeUndefined<i32>,
    /// `null`: no limit.
    #[oai(nullable)]
    pub time_limit_seconds: MaybeUndefined<i32>,
    /// `null`: no deadline.
    #[oai(nullable)]
    pub due_at: MaybeUndefined<DateTime<Utc>>,
    #[oai(skip_serializing_if_is_none)]
    pub passing_score: Option<i32>,
    #[oai(skip_serializing_if_is_none)]
    pub kept_score: Option<KeptScoreView>,
    /// Whether attempts adapt the question order to the learner (see `createQuiz`).
    #[oai(skip_serializing_if_is_none)]
    pub adaptive: Option<bool>,
    #[oai(skip_serializing_if_is_none)]
    pub questions: Option<Vec<QuestionInput>>,
}

impl Example for QuizUpdate {
    fn example() -> Self {
        Self {
            title: None,
            description: None,
            max_attempts: MaybeUndefined::Null,
            time_limit_seconds: MaybeUndefined::Undefined,
            due_at: MaybeUndefined::Undefined,
            passing_score: Some(70),
            kept_score: Some(KeptScoreView::Latest),
            adaptive: None,
            questions: None,
        }
    }
}

fn maybe<T>(value: MaybeUndefined<T>) -> Option<Option<T>> {
    match value {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(v)),
    }
}

/// A choice option as a learner sees it.
#[derive(Debug, Clone, Object)]
pub struct OptionView {
    pub id: String,
    pub text: String,
}

/// A question as a learner sees it: nothing tells the right answer.
#[derive(Debug, Clone, Object)]
pub struct QuestionView {
    pub id: String,
    pub kind: QuestionKindView,
    pub prompt: String,
    pub points: i32,
    /// The options to choose from (empty unless a choice kind).
    pub options: Vec<OptionView>,
}

impl From<&Question> for QuestionView {
    fn from(q: &Question) -> Self {
        Self {
            id: q.id.clone(),
            kind: q.kind().into(),
            prompt: q.prompt.clone(),
            points: q.points as i32,
            options: q
                .options()
                .unwrap_or_default()
                .iter()
                .map(|o| OptionView {
                    id: o.id.clone(),
                    text: o.text.clone(),
                })
                .collect(),
        }
    }
}

/// A quiz as a learner sees it: its settings and questions, no answer keys.
#[derive(Debug, Clone, Object)]
pub struct QuizView {
    pub id: Uuid,
    pub course_id: Uuid,
    pub title: String,
    pub description: String,
    #[oai(nullable)]
    pub max_attempts: Option<i32>,
    #[oai(nullable)]
    pub time_limit_seconds: Option<i32>,
    #[oai(nullable)]
    pub due_at: Option<DateTime<Utc>>,
    pub passing_score: i32,
    pub kept_score: KeptScoreView,
    /// Whether an attempt may put the questions the learner missed before first (with
    /// their personalisation consent); the attempt's `question_order` is the order to use.
    pub adaptive: bool,
    /// The points all questions are worth.
    pub max_points: i32,
    pub questions: Vec<QuestionView>,
    /// Increments on every change; the `ETag` carries it.
    pub revision: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Quiz> for QuizView {
    fn from(q: Quiz) -> Self {
        Self {
            id: q.id,
            course_id: q.course_id,
            title: q.title.clone(),
            description: q.description.clone(),
            max_attempts: q.settings.max_attempts,
            time_limit_seconds: q.settings.time_limit_seconds,
            due_at: q.settings.due_at,
            passing_score: q.settings.passing_score,
            kept_score: q.settings.kept_score.into(),
            adaptive: q.settings.adaptive,
            max_points: q.max_points() as i32,
            questions: q.questions.iter().map(Into::into).collect(),
            revision: q.revision,
            created_at: q.created_at,
            updated_at: q.updated_at,
        }
    }
}

/// A quiz as its authors see it: with every question's answer key.
#[derive(Debug, Clone, Object)]
pub struct QuizAuthoringView {
    pub id: Uuid,
    pub course_id: Uuid,
    pub title: String,
    pub description: String,
    #[oai(nullable)]
    pub max_attempts: Option<i32>,
    #[oai(nullable)]
    pub time_limit_seconds: Option<i32>,
    #[oai(nullable)]
    pub due_at: Option<DateTime<Utc>>,
    pub passing_score: i32,
    pub kept_score: KeptScoreView,
    /// Adapted difficulty (see `createQuiz`).
    pub adaptive: bool,
    pub max_points: i32,
    pub questions: Vec<QuestionInput>,
    pub revision: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Quiz> for QuizAuthoringView {
    fn from(q: Quiz) -> Self {
        Self {
            id: q.id,
            course_id: q.course_id,
            title: q.title.clone(),
            description: q.description.clone(),
            max_attempts: q.settings.max_attempts,
            time_limit_seconds: q.settings.time_limit_seconds,
            due_at: q.settings.due_at,
            passing_score: q.settings.passing_score,
            kept_score: q.settings.kept_score.into(),
            adaptive: q.settings.adaptive,
            max_points: q.max_points() as i32,
            questions: q.questions.iter().map(Into::into).collect(),
            revision: q.revision,
            created_at: q.created_at,
            updated_at: q.updated_at,
        }
    }
}

/// The course's quizzes as learners see them, oldest first.
#[derive(Debug, Clone, Object)]
pub struct QuizList {
    pub items: Vec<QuizView>,
}

/// One answer: exactly one of `option_ids` (choice kinds; one id for `single_choice`),
/// `number` (`numeric`; rounded to 6 decimals, half away from zero) or `text`
/// (`short_text`, up to 1,000 characters). A question not answered scores 0.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct AnswerItem {
    pub question_id: String,
    #[oai(skip_serializing_if_is_none)]
    pub option_ids: Option<Vec<String>>,
    #[oai(skip_serializing_if_is_none)]
    pub number: Option<f64>,
    #[oai(skip_serializing_if_is_none)]
    pub text: Option<String>,
}

/// An answer set to grade: at most one answer per question.
#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct AnswerSet {
    pub answers: Vec<AnswerItem>,
}

impl Example for AnswerSet {
    fn example() -> Self {
        Self {
            answers: vec![
                AnswerItem {
                    question_id: "q1".into(),
                    option_ids: Some(vec!["a".into()]),
                    number: None,
                    text: None,
                },
                AnswerItem {
                    question_id: "q2".into(),
                    option_ids: None,
                    number: Some(9.8),
                    text: None,
                },
            ],
        }
    }
}

/// How one question was graded.
#[derive(Debug, Clone, Object)]
pub struct QuestionGradeView {
    pub question_id: String,
    pub points: i32,
    pub max: i32,
    pub correct: bool,
    pub answered: bool,
}

/// A graded answer set. Nothing was recorded.
#[derive(Debug, Clone, Object)]
pub struct GradedView {
    pub quiz_id: Uuid,
    pub score: i32,
    pub max: i32,
    /// The score as a percentage of `max`, rounded to 2 decimals (display only).
    pub percent: f64,
    /// `score × 100 ≥ passing_score × max`, in whole numbers.
    pub passed: bool,
    pub passing_score: i32,
    /// In the quiz's question order.
    pub per_question: Vec<QuestionGradeView>,
}

fn graded_view(quiz: &Quiz, graded: Graded) -> GradedView {
    GradedView {
        quiz_id: quiz.id,
        score: graded.score as i32,
        max: graded.max as i32,
        percent: graded.percent(),
        passed: graded.passed,
        passing_score: quiz.settings.passing_score,
        per_question: graded
            .per_question
            .into_iter()
            .map(|g| QuestionGradeView {
                question_id: g.question_id,
                points: g.points as i32,
                max: g.max as i32,
                correct: g.correct,
                answered: g.answered,
            })
            .collect(),
    }
}

#[derive(ApiResponse)]
pub enum QuizCreated {
    /// The quiz was created (its authoring view).
    #[oai(status = 201)]
    Created(
        Json<QuizAuthoringView>,
        #[oai(header = "Location")] String,
        #[oai(header = "ETag")] String,
    ),
}

#[derive(ApiResponse)]
pub enum QuizFound {
    /// The quiz, without answer keys.
    #[oai(status = 200)]
    Ok(Json<QuizView>, #[oai(header = "ETag")] String),
}

#[derive(ApiResponse)]
pub enum QuizAuthoringFound {
    /// The quiz with its answer keys.
    #[oai(status = 200)]
    Ok(Json<QuizAuthoringView>, #[oai(header = "ETag")] String),
}

#[derive(ApiResponse)]
pub enum QuizzesListed {
    /// The course's quizzes.
    #[oai(status = 200)]
    Ok(Json<QuizList>),
}

#[derive(ApiResponse)]
pub enum QuizGraded {
    /// The grade.
    #[oai(status = 200)]
    Ok(Json<GradedView>),
}

#[derive(ApiResponse)]
pub enum QuizDeleted {
    /// The quiz is gone.
    #[oai(status = 204)]
    NoContent,
}

#[derive(Default)]
pub struct QuizzesApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Courses")]
impl QuizzesApi {
    /// Create a quiz
    ///
    /// A quiz of the course, beside its modules. Authoring is strict: every refusal names
    /// its field (`questions[0].options`, `questions[2].rules[0].value`, …). Requires scope
    /// `courses:write`.
    #[oai(
        path = "/courses/:course_id/quizzes",
        method = "post",
        operation_id = "createQuiz"
    )]
    async fn create_quiz(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        course_id: Path<Uuid>,
        body: Json<QuizCreate>,
    ) -> Result<QuizCreated, ApiError> {
        let input = body.0;
        let new = NewQuiz {
            title: input.title,
            description: input.description,
            settings: QuizSettings {
                max_attempts: input.max_attempts,
                time_limit_seconds: input.time_limit_seconds,
                due_at: input.due_at,
                passing_score: input.passing_score,
                kept_score: input.kept_score.0.into(),
                adaptive: input.adaptive,
            },
            questions: input.questions.into_iter().map(Into::into).collect(),
        };
        let scope = state.tenancy.scope(&auth.0).await?;
        let quiz = service::create(&scope, course_id.0, new).await?;
        scope.commit().await?;
        let location = format!("/v1/quizzes/{}", quiz.id);
        let tag = etag(quiz.revision);
        Ok(QuizCreated::Created(Json(quiz.into()), location, tag))
    }

    /// List a course's quizzes
    ///
    /// As learners see them (no answer keys), oldest first. Requires scope `courses:read`.
    #[oai(
        path = "/courses/:course_id/quizzes",
        method = "get",
        operation_id = "listQuizzes"
    )]
    async fn list_quizzes(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        course_id: Path<Uuid>,
    ) -> Result<QuizzesListed, ApiError> {
        let id = course_id.0;
        let tenancy = &state.tenancy;
        let quizzes = state
            .tenancy
            .read(&auth.0, move |scope| async move {
                service::list(tenancy, &scope, id).await
            })
            .await?;
        Ok(QuizzesListed::Ok(Json(QuizList {
            items: quizzes.into_iter().map(Into::into).collect(),
        })))
    }

    /// Get a quiz
    ///
    /// As learners see it: settings, questions and options, nothing that tells the right
    /// answer. Requires scope `courses:read`.
    #[oai(path = "/quizzes/:quiz_id", method = "get", operation_id = "getQuiz")]
    async fn get_quiz(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        quiz_id: Path<Uuid>,
    ) -> Result<QuizFound, ApiError> {
        let id = quiz_id.0;
        let tenancy = &state.tenancy;
        let quiz = state
            .tenancy
            .read(&auth.0, move |scope| async move {
                service::get(tenancy, &scope, id).await
            })
            .await?;
        let tag = etag(quiz.revision);
        Ok(QuizFound::Ok(Json(quiz.into()), tag))
    }

    /// Get a quiz with its answer keys
    ///
    /// The authoring view, in the shape `updateQuiz` takes back. Requires scope
    /// `courses:write`. The `ETag` is the revision to send back in `If-Match`.
    #[oai(
        path = "/quizzes/:quiz_id/authoring",
        method = "get",
        operation_id = "getQuizForAuthoring"
    )]
    async fn get_quiz_for_authoring(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        quiz_id: Path<Uuid>,
    ) -> Result<QuizAuthoringFound, ApiError> {
        let id = quiz_id.0;
        let quiz = state
            .tenancy
            .read(&auth.0, move |scope| async move {
                service::get_for_authoring(&scope, id).await
            })
            .await?;
        let tag = etag(quiz.revision);
        Ok(QuizAuthoringFound::Ok(Json(quiz.into()), tag))
    }

    /// Update a quiz
    ///
    /// Changes the given fields; `questions` replaces every question. Requires scope
    /// `courses:write` and `If-Match` with the `ETag` last read (428 without it, 412 when
    /// it no longer matches).
    #[oai(
        path = "/quizzes/:quiz_id",
        method = "patch",
        operation_id = "updateQuiz"
    )]
    async fn update_quiz(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        quiz_id: Path<Uuid>,
        /// The `ETag` of the revision this change is based on.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        body: Json<QuizUpdate>,
    ) -> Result<QuizAuthoringFound, ApiError> {
        let expected = require_if_match(if_match.0.as_deref())?;
        let input = body.0;
        let patch = QuizPatch {
            title: input.title,
            description: input.description,
            max_attempts: maybe(input.max_attempts),
            time_limit_seconds: maybe(input.time_limit_seconds),
            due_at: maybe(input.due_at),
            passing_score: input.passing_score,
            kept_score: input.kept_score.map(Into::into),
            adaptive: input.adaptive,
            questions: input
                .questions
                .map(|qs| qs.into_iter().map(Into::into).collect()),
        };
        let scope = state.tenancy.scope(&auth.0).await?;
        let quiz = service::update(&scope, quiz_id.0, patch, expected).await?;
        scope.commit().await?;
        let tag = etag(quiz.revision);
        Ok(QuizAuthoringFound::Ok(Json(quiz.into()), tag))
    }

    /// Delete a quiz
    ///
    /// Refused (409) while the course's completion rule requires passing it. Requires scope
    /// `courses:write`. With `If-Match`, deletes only that revision.
    #[oai(
        path = "/quizzes/:quiz_id",
        method = "delete",
        operation_id = "deleteQuiz"
    )]
    async fn delete_quiz(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        quiz_id: Path<Uuid>,
        /// Optional: the `ETag` of the revision to delete.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
    ) -> Result<QuizDeleted, ApiError> {
        let expected = parse_if_match(if_match.0.as_deref())?;
        let scope = state.tenancy.scope(&auth.0).await?;
        service::delete(&scope, quiz_id.0, expected).await?;
        scope.commit().await?;
        Ok(QuizDeleted::NoContent)
    }

    /// Grade an answer set without recording it
    ///
    /// An author's preview: grades the answers as an attempt would be graded, and stores
    /// nothing. An answer naming no question of the quiz, of the wrong type or choosing an
    /// unknown option is a 422 naming it. Requires scope `courses:write`.
    #[oai(
        path = "/quizzes/:quiz_id/preview-grade",
        method = "post",
        operation_id = "previewQuizGrade"
    )]
    async fn preview_grade(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        quiz_id: Path<Uuid>,
        body: Json<AnswerSet>,
    ) -> Result<QuizGraded, ApiError> {
        let answers: Vec<AnswerInput> = body
            .0
            .answers
            .into_iter()
            .map(|a| AnswerInput {
                question_id: a.question_id,
                option_ids: a.option_ids,
                number: a.number,
                text: a.text,
            })
            .collect();
        let id = quiz_id.0;
        let answers = &answers;
        let (quiz, graded) = state
            .tenancy
            .read(&auth.0, move |scope| async move {
                service::preview_grade(&scope, id, answers).await
            })
            .await?;
        Ok(QuizGraded::Ok(Json(graded_view(&quiz, graded))))
    }
}
