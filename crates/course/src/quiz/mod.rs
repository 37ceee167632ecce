//! A course's quizzes: settings (attempt limit, time limit, deadline, passing score, which
//! attempt's score is kept), questions with their answer keys ([`model`]), and grading, a
//! pure function of a quiz and an answer set ([`grading::grade`]). Course content, not
//! personal data; learners' attempts are recorded elsewhere on top of these.
//!
//! A quiz may be `adaptive` (U3, adapted difficulty): an attempt then starts with the
//! questions the learner missed in their earlier attempts, when the consent gate allows
//! personalisation ([`crate::attempts::service::start`]); grading is the same either way.

pub mod decimal;
pub(crate) mod entity;
pub mod grading;
pub mod model;
pub mod service;

pub use grading::{AnswerInput, Answers, Graded, QuestionGrade, grade};
pub use model::{
    AnswerKey, ChoiceOption, KeptScore, NewQuiz, OptionDraft, Question, QuestionDraft,
    QuestionKind, Quiz, QuizPatch, QuizSettings, TextMatch, TextRule,
};
