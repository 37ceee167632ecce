//! Learning: an institution's course catalog and the learning records of its people
//! (enrollments, progress, quizzes, xAPI statements, certificates), the automated
//! decisions about them (which take effect only once a person reviews them), the
//! recommendations computed from them and the course reminders sent about them. Every
//! function takes a
//! [`hub_tenant::TenantScope`], so nothing here can be read or written outside the caller's
//! own tenant. One module per domain area: [`catalog`] first; each area that stores
//! personal data registers its personal-data source in [`MODULE`] below.

pub mod attempts;
pub mod catalog;
pub mod certificates;
pub mod completion;
pub mod decisions;
pub mod enrollment;
mod error;
pub mod organisation;
pub mod progress;
pub mod quiz;
pub mod recommendations;
pub mod reminders;
pub mod reports;
pub mod structure;
mod text;
pub mod xapi;

pub use catalog::model::{Course, CourseFilter, CoursePatch, CourseStatus, NewCourse};
pub use error::CourseError;

use hub_kernel::classification::{FieldClassification, RowKey, SealedTable};
use hub_tenant::{DomainModule, RoleGrant, Scope};

/// Enrollments of the courses the caller teaches (every course with [`ALL_ENROLLMENTS_READ`]).
pub const ENROLLMENTS_READ: Scope = Scope::named("enrollments:read");
/// Enroll, invite and move learners of the courses the caller teaches (every course with
/// [`ALL_ENROLLMENTS_WRITE`]).
pub const ENROLLMENTS_WRITE: Scope = Scope::named("enrollments:write");
/// Every course's enrollments, not only those the caller teaches.
pub const ALL_ENROLLMENTS_READ: Scope = Scope::named("all_enrollments:read");
/// Every course's enrollments, its instructors and the SCIM groups mapped to it.
pub const ALL_ENROLLMENTS_WRITE: Scope = Scope::named("all_enrollments:write");
/// The institution's organisational units and people's affiliations.
pub const ORG_UNITS_READ: Scope = Scope::named("org_units:read");
pub const ORG_UNITS_WRITE: Scope = Scope::named("org_units:write");
/// A guardian reads the progress of the minors whose guardian they are verified to be (A1;
/// the guardian role).
pub const GUARDIANS_READ: Scope = Scope::named("guardians:read");
/// Revoke any certificate the institution issued (tenant admins; not granted to a role).
pub const CERTIFICATES_REVOKE: Scope = Scope::named("certificates:revoke");
/// Review (confirm or overturn) the automated decisions about the learners of the courses
/// the caller teaches (every course with [`ALL_ENROLLMENTS_WRITE`]): U7's human involvement.
pub const DECISIONS_REVIEW: Scope = Scope::named("decisions:review");

/// This crate's registration: its scopes and who holds them, its personal fields and the
/// sources data-subject rights reach its learning records through.
pub const MODULE: DomainModule = DomainModule {
    crate_name: "hub-course",
    scopes: &[
        Scope::CoursesRead,
        Scope::CoursesWrite,
        ENROLLMENTS_READ,
        ENROLLMENTS_WRITE,
        ALL_ENROLLMENTS_READ,
        ALL_ENROLLMENTS_WRITE,
        ORG_UNITS_READ,
        ORG_UNITS_WRITE,
        CERTIFICATES_REVOKE,
        GUARDIANS_READ,
        DECISIONS_REVIEW,
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
                ENROLLMENTS_READ,
                ENROLLMENTS_WRITE,
                DECISIONS_REVIEW,
                ORG_UNITS_READ,
                xapi::STATEMENTS_READ,
                xapi::STATEMENTS_WRITE,
            ],
        },
        RoleGrant {
            role: "guardian",
            scopes: &[GUARDIANS_READ],
        },
        RoleGrant {
            role: "auditor",
            scopes: &[
                Scope::CoursesRead,
                ENROLLMENTS_READ,
                ALL_ENROLLMENTS_READ,
                ORG_UNITS_READ,
            ],
        },
    ],
    personal_fields,
    sealed_secrets: &[],
    sealed_tables: SEALED_TABLES,
    blind_indexes: xapi::BLIND_INDEXES,
    personal_data_sources: || {
        vec![
            Box::new(enrollment::personal_data::EnrollmentsSource),
            Box::new(organisation::personal_data::AffiliationsSource),
            Box::new(xapi::personal_data::StatementsSource),
            Box::new(xapi::personal_data::DocumentsSource),
            Box::new(progress::personal_data::LearningProgressSource),
            Box::new(attempts::personal_data::AttemptsSource),
            Box::new(certificates::personal_data::CertificatesSource),
            Box::new(recommendations::personal_data::LearningPreferencesSource),
            Box::new(decisions::personal_data::AutomatedDecisionsSource),
        ]
    },
    report_producers: reports::producers,
};

/// Every personal-data field this crate stores in tables.
pub fn personal_fields() -> Vec<FieldClassification> {
    let mut fields = Vec::new();
    fields.extend_from_slice(enrollment::personal_data::PERSONAL_FIELDS);
    fields.extend_from_slice(xapi::PERSONAL_FIELDS);
    fields.extend_from_slice(attempts::personal_data::PERSONAL_FIELDS);
    fields.extend_from_slice(certificates::personal_data::PERSONAL_FIELDS);
    fields.extend_from_slice(recommendations::personal_data::PERSONAL_FIELDS);
    fields.extend_from_slice(decisions::personal_data::PERSONAL_FIELDS);
    fields
}

/// How each table of this crate with a sealed column names its rows in associated data.
pub const SEALED_TABLES: &[SealedTable] = &[
    SealedTable {
        table: "enrollment_events",
        row_key: RowKey::Uuid("id"),
        version_column: None,
    },
    SealedTable {
        table: "quiz_attempts",
        row_key: RowKey::Uuid("id"),
        version_column: None,
    },
    SealedTable {
        table: "attempt_grade_changes",
        row_key: RowKey::Uuid("id"),
        version_column: None,
    },
    SealedTable {
        table: recommendations::service::PREFERENCES,
        row_key: RowKey::Uuid("person_id"),
        version_column: None,
    },
    SealedTable {
        table: "certificates",
        row_key: RowKey::Uuid("id"),
        version_column: None,
    },
    SealedTable {
        table: decisions::service::DECISIONS,
        row_key: RowKey::Uuid("id"),
        version_column: None,
    },
    SealedTable {
        table: xapi::STATEMENTS_TABLE,
        row_key: RowKey::Uuid("id"),
        version_column: None,
    },
    SealedTable {
        table: xapi::AGENTS_TABLE,
        row_key: RowKey::Uuid("id"),
        version_column: None,
    },
    SealedTable {
        table: xapi::DOCUMENTS_TABLE,
        row_key: RowKey::Uuid("id"),
        version_column: None,
    },
    SealedTable {
        table: xapi::ATTACHMENTS_TABLE,
        row_key: RowKey::Uuid("id"),
        version_column: None,
    },
];
