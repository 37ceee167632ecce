//! The record of processing activities (GDPR Art. 30) of one institution, generated (never
//! written by hand) from the registered sources' declarations (their classified fields and
//! outside recipients), the retention profile (the period per category) and the privacy
//! addendum in force (sub-processors, residency, retention maxima). One activity per data
//! category and purpose that some field declares; as JSON ([`RecordOfProcessing`]) or CSV
//! ([`RecordOfProcessing::to_csv`], one row per activity).
//!
//! Lawful bases (Art. 6(1)), one per declared purpose ([`lawful_basis`]):
//! - `service_delivery` → (b) contract: running the account the person uses the service
//!   through, under the institution's agreement;
//! - `essential_communication` → (b) contract: security notices and policy updates are part
//!   of providing the service;
//! - `security` → (f) legitimate interests: network and information security, fraud
//!   prevention (Recital 49);
//! - `legal_obligation` → (c) legal obligation (C9);
//! - `personalisation` → (a) consent: stated learning preferences (U3), used only while the
//!   consent gate allows purpose `personalisation`.
//!
//! The other consentable purposes (analytics, marketing, integrations, basis (a) consent)
//! are recorded in the consent ledger, not in field declarations: they appear once a field
//! declares them.
//!
//! Security measures come from the declarations too: `sealed_at_rest` lists every field
//! declared identifying (stored only sealed under the institution's key), `blind_index`
//! every field declared with one; `key_store_apart`, `audit_chain` (when the audit source is
//! registered) and `tenant_isolation` (the cluster the data lives on) describe the platform.

use crate::addenda::{Subprocessor, duties_in_force};
use crate::{PRIVACY_MANAGE, Privacy, PrivacyError};
use chrono::{DateTime, Utc};
use hub_kernel::DataCategory;
use hub_kernel::classification::{Purpose, RetentionClass};
use hub_tenant::TenantScope;
use hub_tenant::profile::{self, RetentionAction};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

/// A lawful basis of GDPR Art. 6(1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LawfulBasis {
    Consent,
    Contract,
    LegalObligation,
    LegitimateInterests,
}

impl LawfulBasis {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Consent => "consent",
            Self::Contract => "contract",
            Self::LegalObligation => "legal_obligation",
            Self::LegitimateInterests => "legitimate_interests",
        }
    }

    /// The article it is, as a record of processing cites it.
    pub fn article(self) -> &'static str {
        match self {
            Self::Consent => "GDPR Art. 6(1)(a)",
            Self::Contract => "GDPR Art. 6(1)(b)",
            Self::LegalObligation => "GDPR Art. 6(1)(c)",
            Self::LegitimateInterests => "GDPR Art. 6(1)(f)",
        }
    }
}

/// The mapping of each declared purpose to its lawful basis (module doc).
pub fn lawful_basis(purpose: Purpose) -> LawfulBasis {
    match purpose {
        Purpose::ServiceDelivery | Purpose::EssentialCommunication => LawfulBasis::Contract,
        Purpose::Security => LawfulBasis::LegitimateInterests,
        Purpose::LegalObligation => LawfulBasis::LegalObligation,
        Purpose::Personalisation => LawfulBasis::Consent,
    }
}

pub fn purpose_name(purpose: Purpose) -> &'static str {
    match purpose {
        Purpose::ServiceDelivery => "service_delivery",
        Purpose::EssentialCommunication => "essential_communication",
        Purpose::Security => "security",
        Purpose::LegalObligation => "legal_obligation",
        Purpose::Personalisation => "personalisation",
    }
}

fn retention_class_name(class: RetentionClass) -> &'static str {
    match class {
        RetentionClass::TenantLifetime => "tenant_lifetime",
        RetentionClass::CategoryPeriod => "category_period",
        RetentionClass::Ephemeral => "ephemeral",
    }
}

/// How long an activity's data is kept.
#[derive(Debug, Clone, Serialize)]
pub struct Retention {
    /// The profile's period for the category (fields of class `category_period`).
    pub period_days: Option<u32>,
    pub action: Option<RetentionAction>,
    /// The addendum's maximum for the category, when it sets one.
    pub addendum_max_days: Option<u32>,
    /// The retention classes its fields declare (`tenant_lifetime`, `category_period`,
    /// `ephemeral`).
    pub classes: Vec<&'static str>,
}

/// One processing activity: a data category used for one purpose.
#[derive(Debug, Clone, Serialize)]
pub struct Activity {
    pub category: DataCategory,
    pub purpose: Purpose,
    pub lawful_basis: LawfulBasis,
    pub article: &'static str,
    /// `table.column` of every field declared for it.
    pub fields: Vec<String>,
    /// The sources holding them.
    pub sources: Vec<&'static str>,
    pub retention: Retention,
    /// Outside recipients of the sources holding them.
    pub recipients: Vec<&'static str>,
    /// Names of the security measures that apply to its fields.
    pub security_measures: Vec<&'static str>,
}

/// An outside recipient, as a source declares it.
#[derive(Debug, Clone, Serialize)]
pub struct Recipient {
    pub name: &'static str,
    pub sources: Vec<&'static str>,
}

/// A security measure, from the declarations.
#[derive(Debug, Clone, Serialize)]
pub struct SecurityMeasure {
    pub name: &'static str,
    pub description: &'static str,
    /// The fields (`table.column`) or stores it covers.
    pub applies_to: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Residency {
    /// The cluster the institution's data lives on.
    pub cluster: String,
    /// The addendum's allowed clusters; empty: no residency duty.
    pub allowed_clusters: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RecordOfProcessing {
    pub tenant_id: Uuid,
    pub generated_at: DateTime<Utc>,
    pub profile_revision: i32,
    /// The addendum version in force, if any.
    pub addendum_version: Option<i32>,
    pub activities: Vec<Activity>,
    pub recipients: Vec<Recipient>,
    /// From the addendum in force.
    pub subprocessors: Vec<Subprocessor>,
    pub residency: Residency,
    pub security_measures: Vec<SecurityMeasure>,
}

const SEALED: &str = "sealed_at_rest";
const BLIND_INDEX: &str = "blind_index";
const KEY_STORE_APART: &str = "key_store_apart";
const AUDIT_CHAIN: &str = "audit_chain";
const ISOLATION: &str = "tenant_isolation";

/// CSV columns, in order.
pub const CSV_HEADER: &[&str] = &[
    "category",
    "purpose",
    "lawful_basis",
    "article",
    "fields",
    "sources",
    "retention_days",
    "retention_action",
    "addendum_max_days",
    "retention_classes",
    "recipients",
    "subprocessors",
    "security_measures",
];

use hub_kernel::csv::cell as csv_cell;

impl RecordOfProcessing {
    /// One row per activity, with the header first; lists joined with `; `.
    pub fn to_csv(&self) -> String {
        let mut out = CSV_HEADER.join(",");
        out.push_str("\r\n");
        let subprocessors = self
            .subprocessors
            .iter()
            .map(|s| format!("{} ({}, {})", s.name, s.service, s.location))
            .collect::<Vec<_>>()
            .join("; ");
        for a in &self.activities {
            let row = [
                a.category.as_str().to_string(),
                purpose_name(a.purpose).to_string(),
                a.lawful_basis.as_str().to_string(),
                a.article.to_string(),
                a.fields.join("; "),
                a.sources.join("; "),
                a.retention
                    .period_days
                    .map(|d| d.to_string())
                    .unwrap_or_default(),
                a.retention
                    .action
                    .map(|x| match x {
                        RetentionAction::Delete => "delete",
                        RetentionAction::Anonymise => "anonymise",
                    })
                    .unwrap_or_default()
                    .to_string(),
                a.retention
                    .addendum_max_days
                    .map(|d| d.to_string())
                    .unwrap_or_default(),
                a.retention.classes.join("; "),
                a.recipients.join("; "),
                subprocessors.clone(),
                a.security_measures.join("; "),
            ];
            out.push_str(
                &row.iter()
                    .map(|c| csv_cell(c))
                    .collect::<Vec<_>>()
                    .join(","),
            );
            out.push_str("\r\n");
        }
        out
    }
}

impl Privacy {
    /// The institution's record of processing now. Requires `privacy:manage`.
    pub async fn record_of_processing(
        &self,
        scope: &TenantScope,
    ) -> Result<RecordOfProcessing, PrivacyError> {
        scope.require(PRIVACY_MANAGE)?;
        let now = Utc::now();
        let sources = self.tenancy.personal_data_sources()?;
        let profile = profile::current(scope).await?;
        let duties = duties_in_force(scope, now).await?;
        let addendum = match &duties {
            Some(d) => Some(self.addendum(scope, d.version).await?),
            None => None,
        };

        let mut sealed = Vec::new();
        let mut indexed = Vec::new();
        let mut activities: BTreeMap<(&'static str, &'static str), Activity> = BTreeMap::new();
        let mut recipients: BTreeMap<&'static str, Vec<&'static str>> = BTreeMap::new();
        for source in &sources {
            for r in source.recipients() {
                recipients.entry(r).or_default().push(source.name());
            }
            for f in source.fields() {
                let name = format!("{}.{}", f.table, f.column);
                if f.identifying && !sealed.contains(&name) {
                    sealed.push(name.clone());
                }
                if f.blind_index && !indexed.contains(&name) {
                    indexed.push(name.clone());
                }
                let rule = profile.profile.retention.get(f.category.as_str());
                let basis = lawful_basis(f.purpose);
                let a = activities
                    .entry((f.category.as_str(), purpose_name(f.purpose)))
                    .or_insert_with(|| Activity {
                        category: f.category,
                        purpose: f.purpose,
                        lawful_basis: basis,
                        article: basis.article(),
                        fields: Vec::new(),
                        sources: Vec::new(),
                        retention: Retention {
                            period_days: None,
                            action: None,
                            addendum_max_days: duties
                                .as_ref()
                                .and_then(|d| d.max_retention_days.get(f.category.as_str()))
                                .copied(),
                            classes: Vec::new(),
                        },
                        recipients: Vec::new(),
                        security_measures: Vec::new(),
                    });
                if !a.fields.contains(&name) {
                    a.fields.push(name);
                }
                if !a.sources.contains(&source.name()) {
                    a.sources.push(source.name());
                }
                let class = retention_class_name(f.retention);
                if !a.retention.classes.contains(&class) {
                    a.retention.classes.push(class);
                }
                if f.retention == RetentionClass::CategoryPeriod
                    && let Some(rule) = rule
                {
                    a.retention.period_days = Some(rule.period_days);
                    a.retention.action = Some(rule.action);
                }
                for r in source.recipients() {
                    if !a.recipients.contains(r) {
                        a.recipients.push(r);
                    }
                }
                for (measure, applies) in [
                    (SEALED, f.identifying),
                    (BLIND_INDEX, f.blind_index),
                    (KEY_STORE_APART, f.identifying),
                ] {
                    if applies && !a.security_measures.contains(&measure) {
                        a.security_measures.push(measure);
                    }
                }
            }
        }
        let has_audit = sources.iter().any(|s| s.name() == "audit_events");
        let mut security_measures = vec![
            SecurityMeasure {
                name: SEALED,
                description: "stored only sealed (AEAD) under the institution's own data key, the table, column and row bound as associated data",
                applies_to: sealed.clone(),
            },
            SecurityMeasure {
                name: BLIND_INDEX,
                description: "looked up by a keyed blind index (HMAC under the institution's index key), never by the plain value",
                applies_to: indexed,
            },
            SecurityMeasure {
                name: KEY_STORE_APART,
                description: "the institution's keys live in a key store apart from the data, wrapped by a key-encryption key; destroying them shreds the data",
                applies_to: sealed,
            },
            SecurityMeasure {
                name: ISOLATION,
                description: "the institution's data lives in its own schema (PostgreSQL) or file (SQLite), reached only through a scope bound to its credential",
                applies_to: vec![format!("cluster:{}", scope.cluster())],
            },
        ];
        if has_audit {
            security_measures.push(SecurityMeasure {
                name: AUDIT_CHAIN,
                description: "important actions are recorded in a hash-chained audit trail, pseudonymised (not deleted) on erasure",
                applies_to: vec!["audit_events".into()],
            });
            for a in activities.values_mut() {
                a.security_measures.push(AUDIT_CHAIN);
            }
        }
        for a in activities.values_mut() {
            a.security_measures.push(ISOLATION);
        }
        let mut all_recipients: BTreeSet<&'static str> = BTreeSet::new();
        all_recipients.extend(recipients.keys().copied());
        Ok(RecordOfProcessing {
            tenant_id: scope.tenant_id(),
            generated_at: now,
            profile_revision: profile.revision,
            addendum_version: duties.as_ref().map(|d| d.version),
            activities: activities.into_values().collect(),
            recipients: recipients
                .into_iter()
                .map(|(name, sources)| Recipient { name, sources })
                .collect(),
            subprocessors: addendum
                .map(|a| a.duties.allowed_subprocessors)
                .unwrap_or_default(),
            residency: Residency {
                cluster: scope.cluster().to_string(),
                allowed_clusters: duties.map(|d| d.allowed_clusters).unwrap_or_default(),
            },
            security_measures,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_purpose_has_a_lawful_basis_under_article_6() {
        for (purpose, basis) in [
            (Purpose::ServiceDelivery, "GDPR Art. 6(1)(b)"),
            (Purpose::EssentialCommunication, "GDPR Art. 6(1)(b)"),
            (Purpose::Security, "GDPR Art. 6(1)(f)"),
            (Purpose::LegalObligation, "GDPR Art. 6(1)(c)"),
            (Purpose::Personalisation, "GDPR Art. 6(1)(a)"),
        ] {
            assert_eq!(lawful_basis(purpose).article(), basis);
        }
    }
}
