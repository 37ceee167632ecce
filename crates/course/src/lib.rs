//! The course catalog: an institution's courses, the first tenant resource. Every function
//! takes a [`hub_tenant::TenantScope`], so the catalog can only be read or written inside the
//! caller's own tenant.

mod entity;
mod error;
pub mod model;
pub mod service;

pub use error::CourseError;
pub use model::{Course, CourseFilter, CoursePatch, CourseStatus, NewCourse};

use hub_tenant::{DomainModule, RoleGrant, Scope};

/// This crate's registration: the catalog's scopes and who holds them. No personal data
/// yet (enrollments and progress will be declared here when they arrive).
pub const MODULE: DomainModule = DomainModule {
    crate_name: "hub-course",
    scopes: &[Scope::CoursesRead, Scope::CoursesWrite],
    role_grants: &[
        RoleGrant {
            role: "learner",
            scopes: &[Scope::CoursesRead],
        },
        RoleGrant {
            role: "instructor",
            scopes: &[Scope::CoursesRead, Scope::CoursesWrite],
        },
        RoleGrant {
            role: "auditor",
            scopes: &[Scope::CoursesRead],
        },
    ],
    personal_fields: Vec::new,
    sealed_secrets: &[],
    sealed_tables: &[],
    blind_indexes: &[],
    personal_data_sources: Vec::new,
};
