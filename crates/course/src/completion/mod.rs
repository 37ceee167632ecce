//! Course completion: when a learner's lesson progress and kept quiz scores satisfy the
//! course's completion rule ([`crate::structure::CompletionRule`]: the lessons it requires
//! completed, each quiz it names passed), one completion record is written (unique per
//! person and course, with a snapshot of the rule as it was met), the enrollment becomes
//! `completed`, and the audit trail gets `course.completed`. Evaluated in the transaction
//! of every progress change, submission and grade change ([`service::evaluate`]).
//!
//! The certificate is issued in the same transaction, through the
//! [`crate::certificates::CertificateSigner`] port: a completion and its certificate commit
//! together or not at all. `certificate_issued_at` on the completion records it; one still
//! null is repaired by [`crate::certificates::service::issue_pending`]. A completion after
//! the course's certificate deadline still completes at once (favourable), but its
//! certificate waits on a `certificate_denied` decision's review
//! ([`crate::decisions`]).
//!
//! Only the favourable outcome applies itself: a rule not met (or no longer met after a
//! lower score) changes nothing; failing a learner is a human decision. A rule that asks
//! for nothing (no lesson required, no quiz named) completes no one automatically.

pub(crate) mod entity;
pub mod service;

pub use service::Completion;
