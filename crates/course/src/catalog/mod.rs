//! The course catalog: an institution's courses (code, title, status, tags, minimum age,
//! restricted content, seat limit, certificate deadline: the rule of
//! [`crate::decisions`] that withholds the certificate of a later completion reads it;
//! prerequisites ([`prerequisites`]): other courses of the institution a learner completes
//! first, which the rule that holds a learner's own enrollment for review reads).
//! What a minor may see is decided in the catalogue queries
//! themselves ([`service::Audience`]): a restricted course, or one whose minimum age they
//! have not reached, is in no listing, filter or look-up of theirs.
//! Not personal data; the learning records below it (enrollments, progress, statements)
//! are.

pub(crate) mod entity;
pub mod model;
pub(crate) mod prerequisites;
pub mod service;
