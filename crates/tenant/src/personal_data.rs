//! The personal-data contract: what every store of personal data inside a tenant answers for
//! one data subject. A [`PersonalDataSource`] declares what it holds (its classified fields,
//! its tables, its Redis key families, the outside recipients it sends data to) and, inside a
//! [`TenantScope`], summarises, exports, erases, expires and restricts that subject's data.
//! Each domain crate registers its sources once, in its [`crate::DomainModule`]
//! (`personal_data_sources`); [`sources`] lists every installed crate's. The coverage test
//! (tests/api/personal_data.rs) checks every table of the live schema holding sealed values,
//! blind indexes or references to a person is claimed by a source.
//!
//! Data-subject requests, their clocks and receipts (issue 10, privacy-addenda) are built on
//! this contract; today only the sources themselves exist, and nothing outside the tests calls
//! them. Not yet: a source sees only the tenant scope, so the people source's erase and
//! restrict (which deactivate the person) cannot end the person's sessions the way
//! `hub_identity::Identity::commit` does; the request executor of the next step must carry
//! that obligation (or the contract must hand sources the session store) before any path
//! reaches these methods.

use crate::scope::TenantScope;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hub_kernel::Pii;
use hub_kernel::classification::{DataCategory, FieldClassification};
use serde::Serialize;
use uuid::Uuid;

/// Whose data a request is about. Only people today; other subjects (an institution's
/// contact who holds no account, a guardian) are further variants, so sources match on it
/// and answer [`Outcome::NotApplicable`] for a kind they do not hold.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum DataSubject {
    /// A person of the institution (`people.id`), with the email addresses known to be
    /// theirs: stores that hold no person id (the institution's contacts) find them by email.
    Person { id: Uuid, emails: Vec<Pii<String>> },
}

impl DataSubject {
    pub fn person(id: Uuid, emails: Vec<Pii<String>>) -> Self {
        Self::Person { id, emails }
    }

    /// The person's id, when the subject is a person.
    pub fn person_id(&self) -> Option<Uuid> {
        match self {
            Self::Person { id, .. } => Some(*id),
        }
    }
}

/// An error of a source, whichever crate's it is.
pub type SourceError = Box<dyn std::error::Error + Send + Sync>;

/// How many records of the subject one source holds (R1: counts per source).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub records: u64,
}

/// What a source did to the subject's data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Rows removed.
    Deleted { records: u64 },
    /// Rows kept with their personal fields replaced or cleared (a row other records need).
    Anonymised { records: u64 },
    /// Processing of the subject's data is frozen (`true`) or resumed (`false`).
    Restricted { records: u64, restricted: bool },
    /// The source holds nothing of this kind of subject, or the right does not apply to it
    /// (the reason says why, for the receipt).
    NotApplicable { reason: &'static str },
}

/// One store of personal data, as data-subject rights and retention reach it.
#[async_trait]
pub trait PersonalDataSource: Send + Sync {
    /// A stable name (`contacts`, `people`): how requests, tasks and receipts name it.
    fn name(&self) -> &'static str;
    /// The classified personal fields it stores.
    fn fields(&self) -> Vec<FieldClassification>;
    /// The tenant tables it holds the subject's data in.
    fn tables(&self) -> &'static [&'static str];
    /// The Redis key families (prefixes) it holds the subject's data in.
    fn redis_families(&self) -> &'static [&'static str] {
        &[]
    }
    /// Who outside the platform receives this data (an IdP, a mail relay).
    fn recipients(&self) -> &'static [&'static str] {
        &[]
    }

    async fn summary(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Summary, SourceError>;
    /// The subject's data, opened from its seals, as JSON values.
    async fn export(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Vec<serde_json::Value>, SourceError>;
    /// Deletes or anonymises the subject's data; idempotent (a second run finds nothing).
    async fn erase(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Outcome, SourceError>;
    /// Erases data of `category` older than `cutoff` (whatever subject it is about), as the
    /// retention profile orders.
    async fn expire(
        &self,
        scope: &TenantScope,
        category: DataCategory,
        cutoff: DateTime<Utc>,
    ) -> Result<Outcome, SourceError>;
    /// Freezes (or resumes) processing of the subject's data (R3).
    async fn restrict(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
        restricted: bool,
    ) -> Result<Outcome, SourceError>;
}

/// Every personal-data source of every installed domain crate, this crate's first.
pub fn sources() -> Vec<Box<dyn PersonalDataSource>> {
    crate::module::installed()
        .iter()
        .flat_map(|m| (m.personal_data_sources)())
        .collect()
}

/// The emails of a subject, if it has any (the stores that find people by email).
pub fn emails_of(subject: &DataSubject) -> &[Pii<String>] {
    match subject {
        DataSubject::Person { emails, .. } => emails,
    }
}
