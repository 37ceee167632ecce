//! Course reminders (C2, U3): service messages about a course the person is enrolled in,
//! sent through the essential channel ([`hub_tenant::personal_data::EssentialMessages`],
//! identity's outbox, the port certificate revocation tells the learner through). They are
//! essential (about the service the person asked for), so they need no marketing consent,
//! and they say nothing but the course and what is due: no other course, no offer.
//!
//! Two kinds ([`ReminderKind`]): an active enrollment with no progress for
//! [`INACTIVE_DAYS`] days (counted from the last lesson progress, or from the enrollment
//! when there is none), and a quiz of the course due within [`QUIZ_DUE_HOURS`] hours that
//! the person has not submitted an attempt for. Nothing for a completed course, nor for a
//! person whose processing is restricted (their learning records are not processed).
//!
//! Tailored (U3, personalisation): when a reminder is about to be sent, the consent gate is
//! asked for that learner ([`hub_tenant::Tenancy::may_use`], purpose `personalisation`,
//! once per learner and pass). Allowed, the inactivity reminder names their next lesson
//! (the first of the course, in course order, they have not completed) and the quiz-due
//! reminder says how their attempts stand (used, left, one in progress, what passes).
//! Refused (no consent, withdrawn, processing restricted, a minor without a guardian's
//! consent), the generic text, and nothing more of their records is read. Either way the
//! content stays essential: this course and what is due in it, nothing else. Decided at
//! send time, kept nowhere but in the message; the pass's audit entry counts the learners
//! tailored and the gate's reasons for the others.
//!
//! A periodic platform job ([`JOB`], one of [`hub_tenant::deadlines::PERIODIC_JOBS`]) that
//! every replica runs ([`service::send_due`]), the privacy alerts' mechanism:
//! - **once across replicas**: per institution one pass per [`EVERY_MINUTES`] is claimed by
//!   one conditional UPDATE of `course_reminder_schedule` (`next_due_at <= now` → `now +
//!   every`): two replicas cannot both win it;
//! - **each reminder once**: a reminder is a row of `course_reminders`, unique on
//!   (enrollment, kind, what it is about: the course or the quiz), inserted (on conflict
//!   nothing) in the unit of work that queues its message: sent once, or, if the unit of
//!   work fails, not at all and again next pass.

pub(crate) mod entity;
pub mod service;

pub use service::{JOB, ReminderKind, ReminderReport, send_due};

/// Days without progress after which an active learner is reminded.
pub const INACTIVE_DAYS: i64 = 7;
/// A quiz due within this many hours is reminded of.
pub const QUIZ_DUE_HOURS: i64 = 48;
/// How often an institution's learners are looked at.
pub const EVERY_MINUTES: i64 = 60;
