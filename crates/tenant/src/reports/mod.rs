//! De-identified reporting (C7, U2, U5, the reporting half of D3): the reports of an
//! institution's profile, produced from aggregates only.
//!
//! - [`suppression`] hides small cells of one table, and enough others that no hidden value
//!   can be worked out from what it shows; [`disclosure`] does it for every table of one
//!   population together, and [`intervals`] widens it until no hidden small count can be
//!   bounded below `k` (or above 0) from what is shown.
//! - [`producer`] is what a domain crate registers to count one population for a period
//!   (`DomainModule::report_producers`).
//! - [`runs`] produces, stores and lists runs, on request and on the profile's schedule,
//!   over the whole periods of [`period`].
//! - [`usage`] is this crate's own producer: use of the platform from the audit trail (U2).

pub mod disclosure;
mod intervals;
#[cfg(test)]
mod linear;
pub mod period;
pub mod producer;
pub mod runs;
mod simplex;
pub mod suppression;
pub mod usage;
