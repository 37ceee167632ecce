//! The personal-data contract: what every store of personal data inside a tenant answers for
//! one data subject. A [`PersonalDataSource`] declares what it holds (its classified fields,
//! its tables, its Redis key families, the outside recipients it sends data to) and, inside a
//! [`TenantScope`], summarises, exports, erases, expires and restricts that subject's data.
//! Each domain crate registers its sources once, in its [`crate::DomainModule`]
//! (`personal_data_sources`); [`sources`] lists every installed crate's. The coverage test
//! (tests/api/personal_data.rs) checks every table of the live schema holding sealed values,
//! blind indexes or references to a person is claimed by a source.
//!
//!
//! A store that needs state of its own beyond the tenant scope (the session store in Redis)
//! is a source too, registered at start by the service that owns that state
//! ([`crate::Tenancy::register_personal_data_source`]); [`crate::Tenancy::personal_data_sources`]
//! lists both kinds, in the order [`PersonalDataSource::runs_after`] asks for (the sessions
//! source ends sessions after the people source has deactivated the person, so no new session
//! can start in between).
//!
//! Data-subject requests, consent and retention live in `hub-privacy-addenda`, which knows no
//! other domain crate: it reaches people only through the ports below ([`SubjectDirectory`],
//! [`EssentialMessages`]), implemented by identity and wired by the gateway.

use crate::scope::TenantScope;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hub_kernel::Pii;
use hub_kernel::classification::{DataCategory, FieldClassification};
use serde::Serialize;
use std::sync::Arc;
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

/// One page of a subject's export ([`PersonalDataSource::export_page`]): the records, in the
/// source's order, and the cursor of the next page (`None`: this was the last).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExportPage {
    pub records: Vec<serde_json::Value>,
    pub next: Option<String>,
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
    /// The categories whose retention period this source's [`Self::expire`] applies: by
    /// default those of its classified fields. A source whose records hold no classified
    /// field but still age out (used password-reset codes, which name a person) says so
    /// here, or the retention sweep would never ask it.
    fn expiring_categories(&self) -> Vec<DataCategory> {
        let mut categories: Vec<DataCategory> = self.fields().iter().map(|f| f.category).collect();
        categories.sort();
        categories.dedup();
        categories
    }
    /// Names of sources whose erase/restrict must have run before this one's (the sessions
    /// source runs after `people`, which stops new sign-ins first). [`AFTER_ALL`] waits for
    /// every source that does not wait for all (the audit trail, which the others write to).
    fn runs_after(&self) -> &'static [&'static str] {
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
    /// One page of the subject's export: at most `limit` records after the cursor `after`
    /// (`None`: from the start), in a stable order, so an export of many records is written
    /// and read a page at a time. A source that can hold many records of one person pages
    /// by keyset (its ordering column in the cursor, never an offset); the default answers
    /// [`Self::export`] whole as one page (sources holding a few records of a person).
    async fn export_page(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
        after: Option<&str>,
        limit: u64,
    ) -> Result<ExportPage, SourceError> {
        let _ = limit;
        if after.is_some() {
            return Ok(ExportPage::default());
        }
        Ok(ExportPage {
            records: self.export(scope, subject).await?,
            next: None,
        })
    }
    /// Deletes or anonymises the subject's data; idempotent (a second run finds nothing).
    async fn erase(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Outcome, SourceError>;
    /// Erases data of `category` older than `cutoff` (whatever subject it is about), as the
    /// retention profile orders, except the data of the people in `keep` (a legal hold keeps
    /// it). A source that can hold many such rows expires at most [`EXPIRE_BATCH`] of them
    /// per call; the caller calls again, each call in a transaction of its own, while a call
    /// answered a full batch (expiry touches only what is still there, so that ends).
    async fn expire(
        &self,
        scope: &TenantScope,
        category: DataCategory,
        cutoff: DateTime<Utc>,
        keep: &[Uuid],
    ) -> Result<Outcome, SourceError>;
    /// Freezes (or resumes) processing of the subject's data (R3).
    async fn restrict(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
        restricted: bool,
    ) -> Result<Outcome, SourceError>;
}

/// The most rows one [`PersonalDataSource::expire`] call of a large family (audit IPs, the
/// outbox, incidents, reset codes, people) touches: a retention sweep commits and pauses
/// between such batches, so it never holds a table for long.
pub const EXPIRE_BATCH: u64 = 1_000;

/// Every stateless personal-data source of every installed domain crate, this crate's first
/// (sources registered at start with state of their own are added by
/// [`crate::Tenancy::personal_data_sources`]).
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

/// In [`PersonalDataSource::runs_after`]: after every source that does not say this too.
pub const AFTER_ALL: &str = "*";

/// How a pseudonymised reference to a person reads, where a store keeps the record but must
/// stop naming the person (`pseudonym:<uuid>`, a fresh random id per erasure, the mapping kept
/// nowhere).
pub fn pseudonym_label(pseudonym: Uuid) -> String {
    format!("pseudonym:{pseudonym}")
}

/// Replaces every `person:<id>` reference to `person` in the given `(table, column)`s of the
/// scope's tenant by one fresh [`pseudonym_label`] (the same for all of them, so the records
/// stay linkable to each other, not to the person); returns the rows changed, per column
/// summed. For records the institution keeps but that must stop naming the person (who
/// changed a setting, who accepted an addendum).
pub async fn pseudonymise_references(
    scope: &TenantScope,
    columns: &[(&'static str, &'static str)],
    person: Uuid,
) -> Result<u64, sea_orm::DbErr> {
    use sea_orm::ConnectionTrait;
    use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
    let label = crate::audit::person_label(person);
    let pseudonym = pseudonym_label(Uuid::new_v4());
    let mut changed = 0;
    for (table, column) in columns {
        let statement = Query::update()
            .table(Alias::new(*table))
            .value(Alias::new(*column), pseudonym.as_str())
            .and_where(Expr::col(Alias::new(*column)).eq(label.as_str()))
            .to_owned();
        changed += scope.db().execute(&statement).await?.rows_affected();
    }
    Ok(changed)
}

/// Puts sources in an order where each comes after those it [`PersonalDataSource::runs_after`]
/// (stable otherwise). A name it waits for that no source has is ignored; a cycle is an error
/// (a registration mistake, found at start).
pub fn ordered(
    sources: Vec<Arc<dyn PersonalDataSource>>,
) -> Result<Vec<Arc<dyn PersonalDataSource>>, String> {
    let names: Vec<&'static str> = sources.iter().map(|s| s.name()).collect();
    if let Some(twice) = names
        .iter()
        .enumerate()
        .find(|(i, n)| names[..*i].contains(n))
    {
        return Err(format!(
            "personal-data source {} is registered twice",
            twice.1
        ));
    }
    let mut pending = sources;
    let mut done: Vec<Arc<dyn PersonalDataSource>> = Vec::with_capacity(pending.len());
    while !pending.is_empty() {
        let waits_for_all = |s: &Arc<dyn PersonalDataSource>| s.runs_after().contains(&AFTER_ALL);
        let ready = pending.iter().position(|s| {
            s.runs_after().iter().all(|after| {
                !pending
                    .iter()
                    .any(|p| p.name() == *after || (*after == AFTER_ALL && !waits_for_all(p)))
            })
        });
        match ready {
            Some(i) => done.push(pending.remove(i)),
            None => {
                return Err(format!(
                    "personal-data sources wait for each other: {:?}",
                    pending.iter().map(|s| s.name()).collect::<Vec<_>>()
                ));
            }
        }
    }
    Ok(done)
}

/// Whose data-protection law adds its rules to a person's requests (L1): the values a
/// request states, an institution sets as its default, and a person keeps on their profile.
/// The rules themselves (deadlines, extensions) are `hub-privacy-addenda`'s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Jurisdiction {
    /// The EU (GDPR).
    Eu,
    /// The United Kingdom (UK GDPR).
    Uk,
    /// California (CCPA).
    UsCa,
    Other,
}

impl Jurisdiction {
    pub const ALL: &'static [Jurisdiction] = &[Self::Eu, Self::Uk, Self::UsCa, Self::Other];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Eu => "eu",
            Self::Uk => "uk",
            Self::UsCa => "us_ca",
            Self::Other => "other",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|j| j.as_str() == text)
    }
}

/// A person as the privacy service needs them: who they are to the sources, and what the
/// rules that depend on them read.
#[derive(Debug, Clone)]
pub struct SubjectRecord {
    pub subject: DataSubject,
    /// The name the person is addressed by in messages and receipts.
    pub display_name: Pii<String>,
    /// Whether the person can still sign in (an erased or deactivated person cannot).
    pub active: bool,
    /// The jurisdiction the person keeps on their profile, if any: what a request of theirs
    /// that states none is under (before the institution's default).
    pub jurisdiction: Option<Jurisdiction>,
}

/// Finds people for the privacy service (identity implements it; `hub-privacy-addenda`
/// knows no other domain crate).
#[async_trait]
pub trait SubjectDirectory: Send + Sync {
    /// The person with this id in the scope's tenant, if there is one.
    async fn person(
        &self,
        scope: &TenantScope,
        id: Uuid,
    ) -> Result<Option<SubjectRecord>, SourceError>;

    /// The ids of the tenant's active people after `after` (in id order), at most `limit`:
    /// how bulk notices (a new policy version) page over everyone.
    async fn people(
        &self,
        scope: &TenantScope,
        after: Option<Uuid>,
        limit: u64,
    ) -> Result<Vec<Uuid>, SourceError>;

    /// Who is alerted about the institution's privacy requests: its active people holding
    /// the privacy officer role, or, when it has none, its active tenant admins.
    async fn privacy_officers(&self, scope: &TenantScope) -> Result<Vec<Uuid>, SourceError>;

    /// Whether `value` is a valid value of `field` by the rules the person's record applies
    /// (checked when a rectification request is made): `Err` says why not.
    fn check_correction(&self, field: CorrectableField, value: &str) -> Result<(), String>;

    /// Applies an approved rectification to the person's record through the record's own
    /// update path (uniqueness, the restriction rule, a new revision, an audit entry), all
    /// fields or none, in the caller's transaction.
    async fn correct(
        &self,
        scope: &TenantScope,
        person: Uuid,
        corrections: &[Correction],
    ) -> Result<(), CorrectionError>;
}

/// A field of a person's record the person cannot edit themselves (their institution's IdP
/// or admin sets it), so it is corrected through a rectification request (R2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CorrectableField {
    Email,
    Username,
}

impl CorrectableField {
    pub const ALL: [Self; 2] = [Self::Email, Self::Username];
    /// The names of [`Self::ALL`], in order (for the spec's `enum`).
    pub const NAMES: &'static [&'static str] = &["email", "username"];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Username => "username",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == text)
    }
}

/// One correction of a rectification request: the value the field should hold.
#[derive(Debug, Clone)]
pub struct Correction {
    pub field: CorrectableField,
    pub value: Pii<String>,
}

/// Why [`SubjectDirectory::correct`] applied nothing.
#[derive(Debug, thiserror::Error)]
pub enum CorrectionError {
    /// No such person in the scope's tenant.
    #[error("no such person")]
    NotFound,
    /// The value conflicts with another record (another person has this email).
    #[error("{0}")]
    Conflict(String),
    /// The person's processing is restricted: their record is not changed while it lasts.
    #[error("the person's processing is restricted: their record cannot be changed")]
    Restricted,
    /// The value is not valid (any more) by the record's rules.
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Failed(SourceError),
}

/// An essential message to one person (verification codes, a policy change, a request's
/// outcome): never subject to marketing consent.
#[derive(Debug, Clone)]
pub struct EssentialMessage {
    /// What the message is about, for the delivery list (`privacy.verification_code`).
    pub kind: &'static str,
    pub subject: String,
    pub body: String,
}

/// Sends essential messages to people (identity's outbox implements it, in the caller's
/// transaction, so a message is queued only if the change it reports commits).
#[async_trait]
pub trait EssentialMessages: Send + Sync {
    async fn send(
        &self,
        scope: &TenantScope,
        person: Uuid,
        message: EssentialMessage,
    ) -> Result<(), SourceError>;

    /// Sends to `address` rather than the person's current one (`None`: in-app only): the
    /// erasure receipt goes to the address captured, sealed, when the request was made, as
    /// the person's own record no longer holds it. The outbox clears the address once the
    /// message is delivered or given up, so nothing of it is kept after.
    async fn send_to_address(
        &self,
        scope: &TenantScope,
        person: Uuid,
        address: Option<&Pii<String>>,
        message: EssentialMessage,
    ) -> Result<(), SourceError>;
}

/// Records that a source erased `records` of a person's records (nothing when it found none):
/// the one audit entry every source's erase writes, `action` naming the source
/// (`enrollments.erased`).
pub async fn audit_erased(
    scope: &TenantScope,
    action: &'static str,
    person_id: Uuid,
    records: u64,
) -> Result<(), SourceError> {
    if records > 0 {
        crate::audit::record(
            scope,
            crate::audit::AuditEvent::new(action)
                .person(person_id)
                .detail(serde_json::json!({ "records": records })),
        )
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn correctable_field_names_are_their_spelling() {
        let spelled: Vec<&str> = CorrectableField::ALL.iter().map(|f| f.as_str()).collect();
        assert_eq!(spelled, CorrectableField::NAMES);
        for field in CorrectableField::ALL {
            assert_eq!(CorrectableField::parse(field.as_str()), Some(field));
            assert_eq!(
                serde_json::to_value(field).unwrap(),
                serde_json::json!(field.as_str())
            );
        }
        assert_eq!(CorrectableField::parse("phone"), None);
    }

    struct Named(&'static str, &'static [&'static str]);

    #[async_trait]
    impl PersonalDataSource for Named {
        fn name(&self) -> &'static str {
            self.0
        }
        fn fields(&self) -> Vec<FieldClassification> {
            Vec::new()
        }
        fn tables(&self) -> &'static [&'static str] {
            &[]
        }
        fn runs_after(&self) -> &'static [&'static str] {
            self.1
        }
        async fn summary(&self, _: &TenantScope, _: &DataSubject) -> Result<Summary, SourceError> {
            Ok(Summary { records: 0 })
        }
        async fn export(
            &self,
            _: &TenantScope,
            _: &DataSubject,
        ) -> Result<Vec<serde_json::Value>, SourceError> {
            Ok(Vec::new())
        }
        async fn erase(&self, _: &TenantScope, _: &DataSubject) -> Result<Outcome, SourceError> {
            Ok(Outcome::Deleted { records: 0 })
        }
        async fn expire(
            &self,
            _: &TenantScope,
            _: DataCategory,
            _: DateTime<Utc>,
            _: &[Uuid],
        ) -> Result<Outcome, SourceError> {
            Ok(Outcome::Deleted { records: 0 })
        }
        async fn restrict(
            &self,
            _: &TenantScope,
            _: &DataSubject,
            _: bool,
        ) -> Result<Outcome, SourceError> {
            Ok(Outcome::Deleted { records: 0 })
        }
    }

    #[test]
    fn a_source_after_all_runs_last() {
        let sources: Vec<Arc<dyn PersonalDataSource>> = vec![
            Arc::new(Named("audit", &[AFTER_ALL])),
            Arc::new(Named("sessions", &["people"])),
            Arc::new(Named("people", &[])),
            Arc::new(Named("trail", &[AFTER_ALL])),
        ];
        let names: Vec<_> = ordered(sources).unwrap().iter().map(|s| s.name()).collect();
        assert_eq!(names, ["people", "sessions", "audit", "trail"]);
    }
}
