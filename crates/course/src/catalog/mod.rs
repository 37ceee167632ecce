//! The course catalog: an institution's courses (code, title, status, tags, minimum age).
//! Not personal data; the learning records below it (enrollments, progress, statements)
//! are.

pub(crate) mod entity;
pub mod model;
pub mod service;
