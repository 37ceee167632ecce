//! Automated decisions (U7): "your information won't be used for automated decision-making
//! that affects your legal or educational rights without meaningful human involvement."
//!
//! This module owns the record of every adverse outcome a rule of the learning crate
//! produces about a learner and its review queue. Three rules produce them:
//! `course_failed` (`required_quiz_attempts_exhausted`: every allowed attempt of a quiz the
//! completion rule requires used, none passing), `certificate_denied`
//! (`completed_after_certificate_deadline`: a completion recorded after the course's
//! certificate deadline; the completion itself applies, its certificate is withheld) and
//! `enrollment_refused` (`prerequisites_not_completed`: a learner's own enrollment in a
//! course one of whose prerequisite courses they have not completed; the request is held,
//! no enrollment made, until a person decides; enrollments a person makes, an admin's, an
//! instructor's, a bulk or SCIM one, or an invitation taken up, skip the rule). A rule that
//! reaches such an outcome does not apply it: it records a decision in `pending_review`,
//! with the rule (a machine name and an explanation the learner reads) and its inputs
//! (sealed). The outcome takes effect only when a person holding `decisions:review` for the
//! course (its instructor, or an admin) confirms it with a reason; overturning it, with a
//! reason, undoes what the rule would have done (a failed learner gets a fresh attempt; a
//! withheld certificate is issued in the overturn's transaction; a held enrollment is made,
//! a seat claimed, or the overturn is refused with `seats_exhausted` and the decision stays
//! open). The learner sees
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
