//! Quiz attempts: a learner starts an attempt (within the quiz's attempt limit and before
//! its `due_at`), submits answers once before the attempt's deadline (the earlier of its
//! start plus the quiz's time limit and the quiz's `due_at`), is auto-graded by
//! [`crate::quiz::grading::grade`] and sees their score; the kept score per quiz and learner
//! follows the quiz's policy (highest, latest, first). An instructor's grade change records
//! who, old, new and why, and is audited. Refused starts and submissions record nothing.
//! Learning records (C3, used to deliver the course: U1): covered by
//! [`personal_data::AttemptsSource`] (answers and grade-change reasons sealed: free text).
//!
//! Adapted difficulty (U3, personalisation): starting an attempt at an `adaptive` quiz asks
//! the consent gate ([`hub_tenant::Tenancy::may_use`], purpose `personalisation`); allowed,
//! the attempt's questions are ordered from the learner's own earlier attempts of the quiz
//! ([`model::adapted_order`]: what they missed last time first, from each attempt's stored
//! per-question grading, so no sealed answer is opened); refused, the quiz's own order,
//! with the gate's reason (`withheld`) in the answer. Like recommendations, the order is
//! computed when the attempt starts and never stored (a withdrawal takes effect on the next
//! start, nothing to erase); it is only a presentation: grading is unchanged.

pub(crate) mod entity;
pub mod model;
pub mod personal_data;
pub mod service;

pub use model::{
    Attempt, AttemptState, GradeChange, MAX_GRADE_REASON, QuestionOrder, adapted_order, kept,
};
