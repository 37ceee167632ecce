//! A course's structure: its modules and their lessons in order (a dense `position`, changed
//! only by an atomic reorder), which lessons are required, and the course's completion rule.
//! Course content, not personal data. The progress of learners through it is recorded
//! elsewhere, against [`model::Lesson::activity_id`] and [`model::CompletionRule`].

pub(crate) mod entity;
pub mod model;
pub mod service;

pub use model::{
    CompletionRule, CompletionRuleInput, Lesson, LessonPatch, Module, ModuleOutline, ModulePatch,
    NewLesson, NewModule, Outline, QuizEntry, RequiredLessons,
};
