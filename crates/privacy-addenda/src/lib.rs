//! Privacy, over the personal-data contract ([`hub_tenant::personal_data`]): what the
//! institution holds and why ([`data_map`]), the consent ledger and the one consent gate
//! every processor asks ([`consent`]), policy and notice versions ([`policy`]), the
//! institution's privacy addenda whose duties the runtime enforces ([`addenda`]), the record of
//! processing (GDPR Art. 30, [`records`]), and (as
//! they arrive, issue 10) data-subject
//! requests, consent and policy versions, retention enforcement and the institution's privacy
//! addenda. This crate knows no other domain crate: it reaches personal data only through the
//! registered sources ([`hub_tenant::Tenancy::personal_data_sources`]) and people only
//! through the ports the gateway hands it ([`hub_tenant::personal_data::SubjectDirectory`],
//! [`hub_tenant::personal_data::EssentialMessages`]).

pub mod addenda;
pub mod consent;
pub mod data_map;
mod error;
pub mod holds;
pub mod policy;
/// Signed erasure receipts, their JWKS and their verification.
pub mod receipts;
pub mod records;
pub mod reports;
/// Data-subject requests: lifecycle, clocks, per-source execution, export links.
pub mod requests;
pub mod retention;
pub mod service;

pub use error::PrivacyError;
pub use service::Privacy;

use hub_tenant::{DomainModule, RoleGrant, Scope};

/// Data-subject requests on others' behalf, their approval, legal holds, consent records and
/// the institution's privacy settings: the privacy officer's scope.
pub const PRIVACY_MANAGE: Scope = Scope::named("privacy:manage");

/// This crate's registration. Its own tables (requests, consent, retention runs) are added
/// with its sources as they arrive.
pub const MODULE: DomainModule = DomainModule {
    crate_name: "hub-privacy-addenda",
    scopes: &[PRIVACY_MANAGE],
    role_grants: &[RoleGrant {
        role: "privacy_officer",
        scopes: &[PRIVACY_MANAGE],
    }],
    personal_fields,
    sealed_secrets: &[],
    sealed_tables: &[
        hub_kernel::classification::SealedTable {
            table: requests::TABLE,
            row_key: hub_kernel::classification::RowKey::Uuid("id"),
            version_column: None,
        },
        hub_kernel::classification::SealedTable {
            table: requests::export::PARTS_TABLE,
            row_key: hub_kernel::classification::RowKey::Uuid("id"),
            version_column: None,
        },
    ],
    blind_indexes: &[hub_kernel::classification::BlindIndexed {
        table: requests::TABLE,
        field: "subject",
        // The sealed subject is dropped at an erasure's completion while its index stays (a
        // pseudonym), so the index is not re-made from it; a lookup matches every index-key
        // version held.
        normalise: None,
    }],
    personal_data_sources: || {
        vec![
            Box::new(requests::source::PrivacyRequestsSource),
            Box::new(consent::source::ConsentSource),
            Box::new(holds::HoldsSource),
            Box::new(addenda::source::AddendaSource),
        ]
    },
    report_producers: reports::producers,
};

/// Every personal-data field this crate stores in tables.
pub fn personal_fields() -> Vec<hub_kernel::classification::FieldClassification> {
    requests::PERSONAL_FIELDS
        .iter()
        .chain(requests::export::PART_FIELDS)
        .copied()
        .collect()
}
