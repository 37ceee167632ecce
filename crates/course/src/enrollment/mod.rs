//! Enrollments: a person in a course (`invited`, `active`, `completed`, `withdrawn`), where
//! it came from (the learner, an admin or instructor, a bulk enrollment, a SCIM group mapped
//! to the course), every state change with who made it and why, the courses' seat limits
//! and instructors. Learning records (C3, used to deliver the course: U1): covered by
//! [`personal_data::EnrollmentsSource`].
//!
//! The domain API other learning areas call (progress, certificates):
//! [`service::active_enrollment`], [`service::complete`], [`service::learners`].

pub(crate) mod entity;
pub mod groups;
pub mod model;
pub mod personal_data;
pub mod purchases;
pub mod service;
pub(crate) mod store;

pub use model::{Enrollment, EnrollmentEvent, EnrollmentFilter, EnrollmentSource, EnrollmentState};
pub use service::{active_enrollment, complete, fail, learners};
