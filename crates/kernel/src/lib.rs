//! The shared kernel: the few types every domain crate speaks.
//!
//! It owns no domain logic and knows nothing of HTTP or SQL: stable error codes
//! ([`problem`]), the classification of personal data ([`classification`]), redacting
//! wrappers that keep personal data and credentials out of logs ([`pii`]), the
//! envelope-encryption primitives ([`crypto`]), cursor pagination ([`page`]), CSV cells
//! ([`csv`]), finding and removing card numbers ([`pan`]) and, for tests,
//! what a missing test service means ([`testing`]).

pub mod classification;
pub mod crypto;
pub mod csv;
pub mod page;
pub mod pan;
pub mod pii;
pub mod problem;
pub mod testing;

pub use classification::{DataCategory, FieldClassification, Purpose, RetentionClass};
pub use pii::{Pii, Secret};
pub use problem::{DescribeProblem, FieldViolation, ProblemKind};
