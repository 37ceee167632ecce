//! Automated decisions (U7): "your information won't be used for automated decision-making
//! that affects your legal or educational rights without meaningful human involvement."
//!
//! This module owns the record of every adverse outcome a rule of the learning crate
//! produces about a learner (`course_failed`; `certificate_denied` and `enrollment_refused`
//! are kinds of the model no rule produces yet) and its review queue. A rule that reaches
//! such an outcome does not apply it: it records a decision in `pending_review`, with the
//! rule (a machine name and an explanation the learner reads) and its inputs (sealed). The
//! outcome takes effect only when a person holding `decisions:review` for the course (its
//! instructor, or an admin) confirms it with a reason; overturning it, with a reason, undoes
//! what the rule would have done (a failed learner gets a fresh attempt). The learner sees
//! every decision about them and why, and may contest one still under review: it moves to
//! `contested`, their statement sealed, with a review deadline. Each step is audited and a
//! review's outcome is sent to the learner as an essential message.
//!
//! Favourable outcomes (passing, completing) are not decisions: they apply at once.
//!
//! Learning records (C3) about the learner: covered by
//! [`personal_data::AutomatedDecisionsSource`].

pub(crate) mod entity;
pub mod model;
pub mod personal_data;
pub mod service;

pub use model::{Decision, DecisionFilter, DecisionKind, DecisionState};
