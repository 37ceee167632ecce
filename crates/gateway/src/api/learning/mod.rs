//! The learning domain's API (`hub-course`): the catalog, and the learning records as they
//! arrive (enrollments, progress, quizzes, the xAPI LRS, certificates), and the review of
//! the automated decisions about learners.

pub mod attempts;
pub mod certificates;
pub mod courses;
pub mod decisions;
pub mod enrollments;
pub mod org_units;
pub mod progress;
pub mod quizzes;
pub mod structure;
pub mod xapi;
