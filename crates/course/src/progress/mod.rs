//! Lesson progress: a learner's `started`/`completed` per lesson of a course they are
//! actively enrolled in, recorded by the learner or driven by the xAPI LRS
//! ([`service::record_lesson_completed`], source `xapi`), and the course progress read
//! (per module: lessons done of those the completion rule requires, a percentage). Each
//! change re-evaluates the course's completion rule in the same transaction
//! ([`crate::completion`]). Learning records (C3, used to deliver the course: U1): covered
//! by [`personal_data::LearningProgressSource`], with the completions.

pub(crate) mod entity;
pub mod model;
pub mod personal_data;
pub mod service;

pub use model::{
    CourseProgress, LessonProgress, LessonState, LessonStatus, ModuleProgress, ProgressSource,
    QuizStanding,
};
pub use service::record_lesson_completed;
