//! Organisational affiliation for enterprise learners: the institution's organisational
//! units (a tree of faculties, departments, teams: code, name, optional parent) and each
//! person's unit. A person's unit is a learning record (C3), covered by
//! [`personal_data::AffiliationsSource`]; enrollment listings filter by unit
//! ([`crate::enrollment::EnrollmentFilter::org_unit`], sub-units included).

pub(crate) mod entity;
pub mod personal_data;
pub mod service;

pub use service::{Affiliation, NewOrgUnit, OrgUnit, OrgUnitPatch};
