//! Learning: an institution's course catalog and the learning records of its people
//! (enrollments, progress, quizzes, xAPI statements, certificates). Every function takes a
//! [`hub_tenant::TenantScope`], so nothing here can be read or written outside the caller's
//! own tenant. One module per domain area: [`catalog`] first; each area that stores
//! personal data registers its personal-data source in [`MODULE`] below.

pub mod catalog;
mod error;
pub mod xapi;

pub use catalog::model::{Course, CourseFilter, CoursePatch, CourseStatus, NewCourse};
pub use error::CourseError;

use hub_tenant::{DomainModule, RoleGrant, Scope};

/// This crate's registration: the catalog's scopes and who holds them. No personal data
/// yet (enrollments and progress will be declared here when they arrive).
pub const MODULE: DomainModule = DomainModule {
    crate_name: "hub-course",
    scopes: &[
        Scope::CoursesRead,
        Scope::CoursesWrite,
        xapi::STATEMENTS_READ,
        xapi::STATEMENTS_WRITE,
        xapi::STATE_WRITE,
        xapi::PROFILES_WRITE,
    ],
    role_grants: &[
        RoleGrant {
            role: "learner",
            scopes: &[Scope::CoursesRead],
        },
        RoleGrant {
            role: "instructor",
            scopes: &[
                Scope::CoursesRead,
                Scope::CoursesWrite,
                xapi::STATEMENTS_READ,
                xapi::STATEMENTS_WRITE,
            ],
        },
        RoleGrant {
            role: "auditor",
            scopes: &[Scope::CoursesRead],
        },
    ],
    personal_fields: || xapi::PERSONAL_FIELDS.to_vec(),
    sealed_secrets: &[],
    sealed_tables: xapi::SEALED_TABLES,
    blind_indexes: xapi::BLIND_INDEXES,
    personal_data_sources: || {
        vec![
            Box::new(xapi::personal_data::StatementsSource),
            Box::new(xapi::personal_data::DocumentsSource),
        ]
    },
};
