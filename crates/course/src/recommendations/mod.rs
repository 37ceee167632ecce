//! Recommendations (U3): which courses a learner might take or continue next, from their
//! enrollments, their progress and their stated learning preferences
//! ([`service::my_preferences`], `learning_preferences`: the catalogue topics they want).
//!
//! Personalisation is a consentable purpose: before anything is computed the consent gate
//! is asked ([`hub_tenant::Tenancy::may_use`], purpose `personalisation`), which answers
//! from the person's consent ledger and their processing restriction. Denied, the answer is
//! an empty list with the gate's reason (`withheld`), and nothing of the person's records
//! is read.
//!
//! Computed at request time, never stored: a stored profile would be one more copy of the
//! person's learning records to keep in step with their consent, their restriction and
//! their erasure; computed from the records themselves, a withdrawal takes effect on the
//! very next request (nothing cached), and there is nothing to delete.

pub(crate) mod entity;
pub mod personal_data;
pub mod service;

pub use service::{LearningPreferences, Recommendation, RecommendationReason, Recommendations};
