//! The retention and reporting profile of one institution (D3): per data category how long
//! personal data is kept and what happens after (delete or anonymise), and which reports are
//! produced on which cadence. Every change is kept in a history: who, when, what changed.
//! The retention rules are enforced by the privacy-addenda crate's sweeper
//! (`hub_privacy_addenda::retention`), which records the revision it applied; the reports
//! are produced by [`crate::reports`], on request and on their cadence.
//! The institution's privacy addendum in force bounds it ([`crate::addendum_duties`]): a
//! profile breaking the addendum's duties is refused ([`crate::Tenancy::replace_privacy_profile`]).

use crate::entities::{privacy_profile, privacy_profile_history};
use crate::error::TenantError;
use crate::model::Scope;
use crate::personal_data::{
    DataSubject, Outcome, PersonalDataSource, SourceError, Summary, pseudonymise_references,
};
use crate::scope::TenantScope;
use chrono::{DateTime, Utc};
use hub_kernel::DataCategory;
use hub_kernel::classification::FieldClassification;
use hub_kernel::problem::Violations;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use uuid::Uuid;

const PROFILE_ROW: i32 = 1;
pub const MAX_RETENTION_DAYS: u32 = 36_500;
pub const MAX_REPORTS: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetentionAction {
    Delete,
    Anonymise,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionRule {
    pub period_days: u32,
    pub action: RetentionAction,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportCadence {
    Daily,
    Weekly,
    Monthly,
    Quarterly,
    Yearly,
}

impl ReportCadence {
    pub const ALL: [Self; 5] = [
        Self::Daily,
        Self::Weekly,
        Self::Monthly,
        Self::Quarterly,
        Self::Yearly,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Daily => "daily",
            Self::Weekly => "weekly",
            Self::Monthly => "monthly",
            Self::Quarterly => "quarterly",
            Self::Yearly => "yearly",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == text)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportFormat {
    Csv,
    Json,
}

impl ReportFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Json => "json",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Csv, Self::Json]
            .into_iter()
            .find(|f| f.as_str() == text)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportKind {
    /// Enrollments started in the period, by state, per course and per cohort (C7).
    EnrollmentSummary,
    /// Course completions recorded in the period, by time taken, per course and cohort.
    Completions,
    /// Certificates issued in the period, valid or since revoked, per course and cohort.
    Certificates,
    /// Learners active in a course in the period, by lessons completed in it.
    Engagement,
    /// Completions, with only the fields the profile names (U5: the minimum asked for).
    Accreditation,
    /// Use of the platform in the period, from the audit trail, by area and kind of actor
    /// (U2).
    Usage,
    /// Data-subject requests received and answered, with their ages (R6).
    PrivacyRequests,
    /// What was deleted or anonymised under this profile (S4).
    RetentionActions,
    /// Payments, refunds and invoices for finance (D7).
    BillingHistory,
}

impl ReportKind {
    pub const ALL: [Self; 9] = [
        Self::EnrollmentSummary,
        Self::Completions,
        Self::Certificates,
        Self::Engagement,
        Self::Accreditation,
        Self::Usage,
        Self::PrivacyRequests,
        Self::RetentionActions,
        Self::BillingHistory,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::EnrollmentSummary => "enrollment_summary",
            Self::Completions => "completions",
            Self::Certificates => "certificates",
            Self::Engagement => "engagement",
            Self::Accreditation => "accreditation",
            Self::Usage => "usage",
            Self::PrivacyRequests => "privacy_requests",
            Self::RetentionActions => "retention_actions",
            Self::BillingHistory => "billing_history",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduledReport {
    pub name: String,
    pub kind: ReportKind,
    pub cadence: ReportCadence,
    pub format: ReportFormat,
    /// What the report shows of its population (U5): a dimension to break it down by, its
    /// class field, or both; empty shows every table of the population.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
}

/// The whole profile as stored and as exchanged through the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrivacyProfile {
    /// Keyed by data category (`identity`, `contact`, `learning`, `payment`, `technical`).
    pub retention: BTreeMap<String, RetentionRule>,
    pub reports: Vec<ScheduledReport>,
    /// The smallest count a report shows (C7): counts from 1 to this minus 1 are hidden,
    /// with as many others as keep them hidden.
    #[serde(default = "default_min_cell_size")]
    pub min_cell_size: u32,
}

fn default_min_cell_size() -> u32 {
    crate::reports::suppression::DEFAULT_MIN_CELL_SIZE
}

impl Default for PrivacyProfile {
    /// Conservative defaults: technical data goes fast, payment records stay as long as
    /// bookkeeping law commonly requires, learning records as long as accreditation does.
    fn default() -> Self {
        let rule = |days, action| RetentionRule {
            period_days: days,
            action,
        };
        let retention = [
            (DataCategory::Identity, rule(730, RetentionAction::Delete)),
            (DataCategory::Contact, rule(730, RetentionAction::Delete)),
            (
                DataCategory::Learning,
                rule(1825, RetentionAction::Anonymise),
            ),
            (
                DataCategory::Payment,
                rule(3650, RetentionAction::Anonymise),
            ),
            (DataCategory::Technical, rule(90, RetentionAction::Delete)),
        ]
        .into_iter()
        .map(|(c, r)| (c.as_str().to_string(), r))
        .collect();
        Self {
            retention,
            reports: vec![ScheduledReport {
                name: "Retention actions".into(),
                kind: ReportKind::RetentionActions,
                cadence: ReportCadence::Monthly,
                format: ReportFormat::Csv,
                fields: Vec::new(),
            }],
            min_cell_size: default_min_cell_size(),
        }
    }
}

impl PrivacyProfile {
    pub fn validate(&self) -> Result<(), TenantError> {
        let mut v = Violations::new();
        for category in DataCategory::ALL {
            if !self.retention.contains_key(category.as_str()) {
                v.add(
                    format!("retention.{}", category.as_str()),
                    "a rule for every data category is required",
                );
            }
        }
        for (key, rule) in &self.retention {
            if DataCategory::parse(key).is_none() {
                v.add(format!("retention.{key}"), "unknown data category");
            }
            if !(1..=MAX_RETENTION_DAYS).contains(&rule.period_days) {
                v.add(
                    format!("retention.{key}.period_days"),
                    format!("must be between 1 and {MAX_RETENTION_DAYS} days"),
                );
            }
        }
        if self.reports.len() > MAX_REPORTS {
            v.add(
                "reports",
                format!("at most {MAX_REPORTS} scheduled reports"),
            );
        }
        for (i, report) in self.reports.iter().enumerate() {
            crate::credentials::validate_label(
                &mut v,
                &format!("reports[{i}].name"),
                &report.name,
                100,
            );
            if self.reports[..i]
                .iter()
                .any(|r| r.name.trim() == report.name.trim())
            {
                v.add(format!("reports[{i}].name"), "report names must be unique");
            }
            let producer = crate::reports::producer::producer_for(report.kind);
            match &producer {
                Some(producer) => {
                    if let Err(errors) = crate::reports::producer::fields_of(
                        producer.as_ref(),
                        report.kind,
                        &report.fields,
                    ) {
                        for (j, message) in errors {
                            let field = match j {
                                Some(j) => format!("reports[{i}].fields[{j}]"),
                                None => format!("reports[{i}].fields"),
                            };
                            v.add(field, message);
                        }
                    }
                    // Two cadences over one population would nest (a quarter holds three
                    // months): the months' counts subtracted from the quarter's would show
                    // what either hides. Linked populations (certificates within
                    // completions) are suppressed together, over the same periods.
                    let population = producer.population();
                    let group: Vec<&str> = crate::reports::producer::linked_group(population)
                        .iter()
                        .map(|p| p.population())
                        .collect();
                    if let Some((other, theirs)) = self.reports[..i].iter().find_map(|r| {
                        let theirs = crate::reports::producer::producer_for(r.kind)?.population();
                        (r.cadence != report.cadence && group.contains(&theirs))
                            .then_some((r, theirs))
                    }) {
                        let records = if theirs == population {
                            format!("the same records ({population})")
                        } else {
                            format!("records linked with these ({theirs} and {population})")
                        };
                        v.add(
                            format!("reports[{i}].cadence"),
                            format!(
                                "`{}` reports {records} {}: reports of one population, or of linked ones, share one cadence, so that no period holds another",
                                other.name,
                                other.cadence.as_str()
                            ),
                        );
                    }
                }
                None if !report.fields.is_empty() => v.add(
                    format!("reports[{i}].fields"),
                    format!("{} reports take no fields", report.kind.as_str()),
                ),
                None => {}
            }
        }
        if !crate::reports::suppression::MIN_CELL_SIZE_RANGE.contains(&self.min_cell_size) {
            let range = crate::reports::suppression::MIN_CELL_SIZE_RANGE;
            v.add(
                "min_cell_size",
                format!("must be between {} and {}", range.start(), range.end()),
            );
        }
        v.finish().map_err(TenantError::Invalid)
    }

    /// Human-readable differences, recorded in the history.
    fn changes_from(&self, before: &PrivacyProfile) -> Vec<String> {
        let mut changes = Vec::new();
        if self.min_cell_size != before.min_cell_size {
            changes.push(format!(
                "min_cell_size: {} -> {}",
                before.min_cell_size, self.min_cell_size
            ));
        }
        for (key, rule) in &self.retention {
            match before.retention.get(key) {
                Some(old) if old == rule => {}
                Some(old) => changes.push(format!(
                    "retention.{key}: {} days/{:?} -> {} days/{:?}",
                    old.period_days, old.action, rule.period_days, rule.action
                )),
                None => changes.push(format!("retention.{key}: added")),
            }
        }
        for report in &self.reports {
            match before.reports.iter().find(|r| r.name == report.name) {
                None => changes.push(format!("reports: added `{}`", report.name)),
                Some(old) if old != report => {
                    changes.push(format!("reports: changed `{}`", report.name))
                }
                Some(_) => {}
            }
        }
        for report in &before.reports {
            if !self.reports.iter().any(|r| r.name == report.name) {
                changes.push(format!("reports: removed `{}`", report.name));
            }
        }
        changes
    }
}

#[derive(Debug, Clone)]
pub struct VersionedProfile {
    pub profile: PrivacyProfile,
    pub revision: i32,
    pub updated_by: String,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct ProfileChange {
    pub revision: i32,
    pub profile: PrivacyProfile,
    pub changes: Vec<String>,
    pub changed_by: String,
    pub changed_at: DateTime<Utc>,
}

fn parse_profile(text: &str) -> Result<PrivacyProfile, TenantError> {
    serde_json::from_str(text)
        .map_err(|e| TenantError::Conflict(format!("stored profile is unreadable: {e}")))
}

fn to_json(profile: &PrivacyProfile) -> String {
    serde_json::to_string(profile).unwrap_or_default()
}

/// Called while provisioning, inside the new tenant's transaction.
pub(crate) async fn install_default<C: ConnectionTrait>(
    db: &C,
    by: &str,
) -> Result<(), TenantError> {
    let profile = PrivacyProfile::default();
    let now = Utc::now();
    privacy_profile::Entity::insert(privacy_profile::ActiveModel {
        id: Set(PROFILE_ROW),
        profile: Set(to_json(&profile)),
        revision: Set(1),
        updated_by: Set(by.to_string()),
        updated_at: Set(now),
    })
    .exec_without_returning(db)
    .await?;
    privacy_profile_history::Entity::insert(privacy_profile_history::ActiveModel {
        revision: Set(1),
        profile: Set(to_json(&profile)),
        changes: Set(serde_json::to_string(&["created with platform defaults"]).unwrap_or_default()),
        changed_by: Set(by.to_string()),
        changed_at: Set(now),
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}

pub async fn get(scope: &TenantScope) -> Result<VersionedProfile, TenantError> {
    scope.require(Scope::TenantAdmin)?;
    current(scope).await
}

/// The profile, for services that check their own scope (the record of processing, which a
/// privacy officer reads).
pub async fn current(scope: &TenantScope) -> Result<VersionedProfile, TenantError> {
    let row = privacy_profile::Entity::find_by_id(PROFILE_ROW)
        .one(scope.db())
        .await?
        .ok_or(TenantError::NotFound("privacy profile"))?;
    Ok(VersionedProfile {
        profile: parse_profile(&row.profile)?,
        revision: row.revision,
        updated_by: row.updated_by,
        updated_at: row.updated_at,
    })
}

/// Replaces the profile when `expected_revision` (from `If-Match`) still holds.
pub async fn replace(
    scope: &TenantScope,
    profile: PrivacyProfile,
    expected_revision: Option<i32>,
) -> Result<VersionedProfile, TenantError> {
    profile.validate()?;
    let current = get(scope).await?;
    if let Some(expected) = expected_revision
        && current.revision != expected
    {
        return Err(TenantError::RevisionMismatch {
            current: current.revision,
        });
    }
    let changes = profile.changes_from(&current.profile);
    if changes.is_empty() {
        return Ok(current);
    }
    let revision = current.revision + 1;
    let now = Utc::now();
    let by = scope.actor_label();
    let updated = privacy_profile::Entity::update_many()
        .set(privacy_profile::ActiveModel {
            profile: Set(to_json(&profile)),
            revision: Set(revision),
            updated_by: Set(by.clone()),
            updated_at: Set(now),
            ..Default::default()
        })
        .filter(privacy_profile::Column::Id.eq(PROFILE_ROW))
        .filter(privacy_profile::Column::Revision.eq(current.revision))
        .exec(scope.db())
        .await?;
    if updated.rows_affected == 0 {
        return Err(TenantError::RevisionMismatch { current: revision });
    }
    privacy_profile_history::Entity::insert(privacy_profile_history::ActiveModel {
        revision: Set(revision),
        profile: Set(to_json(&profile)),
        changes: Set(serde_json::to_string(&changes).unwrap_or_default()),
        changed_by: Set(by.clone()),
        changed_at: Set(now),
    })
    .exec_without_returning(scope.db())
    .await?;
    crate::audit::record(
        scope,
        crate::audit::AuditEvent::new("privacy_profile.updated")
            .detail(serde_json::json!({ "revision": revision })),
    )
    .await?;
    Ok(VersionedProfile {
        profile,
        revision,
        updated_by: by,
        updated_at: now,
    })
}

/// Newest first. The cursor is the revision number, carried as text.
pub async fn history(
    scope: &TenantScope,
    before_revision: Option<i32>,
    limit: u64,
) -> Result<(Vec<ProfileChange>, Option<i32>), TenantError> {
    scope.require(Scope::TenantAdmin)?;
    let mut query = privacy_profile_history::Entity::find()
        .order_by_desc(privacy_profile_history::Column::Revision)
        .limit(limit + 1);
    if let Some(before) = before_revision {
        query = query.filter(privacy_profile_history::Column::Revision.lt(before));
    }
    let mut rows = query.all(scope.db()).await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    let next = if more {
        rows.last().map(|r| r.revision)
    } else {
        None
    };
    let items = rows
        .into_iter()
        .map(|r| {
            Ok(ProfileChange {
                revision: r.revision,
                profile: parse_profile(&r.profile)?,
                changes: serde_json::from_str(&r.changes).unwrap_or_default(),
                changed_by: r.changed_by,
                changed_at: r.changed_at,
            })
        })
        .collect::<Result<Vec<_>, TenantError>>()?;
    Ok((items, next))
}

/// The profile and its history as a personal-data source: `updated_by` and `changed_by` name
/// the person who changed the institution's settings. The history is the institution's
/// record, so erasure pseudonymises those references (one fresh pseudonym per erasure) and
/// keeps every change; export lists the changes the person made. Nothing expires by age and
/// a restriction does not apply (the record is not processed about the person).
pub struct ProfileSource;

const PROFILE_TABLES: &[&str] = &["privacy_profile", "privacy_profile_history"];

#[async_trait::async_trait]
impl PersonalDataSource for ProfileSource {
    fn name(&self) -> &'static str {
        "privacy_profile"
    }

    fn fields(&self) -> Vec<FieldClassification> {
        Vec::new()
    }

    fn tables(&self) -> &'static [&'static str] {
        PROFILE_TABLES
    }

    async fn summary(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Summary, SourceError> {
        scope.require(Scope::TenantAdmin)?;
        let Some(person) = subject.person_id() else {
            return Ok(Summary { records: 0 });
        };
        let label = crate::audit::person_label(person);
        let current = privacy_profile::Entity::find()
            .filter(privacy_profile::Column::UpdatedBy.eq(label.as_str()))
            .count(scope.db())
            .await?;
        let changes = privacy_profile_history::Entity::find()
            .filter(privacy_profile_history::Column::ChangedBy.eq(label.as_str()))
            .count(scope.db())
            .await?;
        Ok(Summary {
            records: current + changes,
        })
    }

    async fn export(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Vec<serde_json::Value>, SourceError> {
        scope.require(Scope::TenantAdmin)?;
        let Some(person) = subject.person_id() else {
            return Ok(Vec::new());
        };
        let rows = privacy_profile_history::Entity::find()
            .filter(
                privacy_profile_history::Column::ChangedBy.eq(crate::audit::person_label(person)),
            )
            .order_by_asc(privacy_profile_history::Column::Revision)
            .all(scope.db())
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let changes: Vec<String> = serde_json::from_str(&r.changes).unwrap_or_default();
                serde_json::json!({
                    "revision": r.revision,
                    "changes": changes,
                    "changed_by": r.changed_by,
                    "changed_at": r.changed_at,
                    "kept": "pseudonymised on erasure: the institution's record of its settings",
                })
            })
            .collect())
    }

    async fn erase(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Outcome, SourceError> {
        scope.require(Scope::TenantAdmin)?;
        let Some(person) = subject.person_id() else {
            return Ok(Outcome::NotApplicable {
                reason: "the profile's history names only people",
            });
        };
        let records = pseudonymise_references(
            scope,
            &[
                ("privacy_profile", "updated_by"),
                ("privacy_profile_history", "changed_by"),
            ],
            person,
        )
        .await?;
        Ok(Outcome::Anonymised { records })
    }

    async fn expire(
        &self,
        _scope: &TenantScope,
        _category: DataCategory,
        _cutoff: DateTime<Utc>,
        _keep: &[Uuid],
    ) -> Result<Outcome, SourceError> {
        Ok(Outcome::NotApplicable {
            reason: "the profile's history is the institution's record of its settings, kept while it is a customer; who changed it is pseudonymised when that person is erased",
        })
    }

    async fn restrict(
        &self,
        _scope: &TenantScope,
        _subject: &DataSubject,
        _restricted: bool,
    ) -> Result<Outcome, SourceError> {
        Ok(Outcome::NotApplicable {
            reason: "the profile's history is not processed about the people who changed it",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promise_d3_default_profile_is_valid_and_complete() {
        let profile = PrivacyProfile::default();
        profile.validate().unwrap();
        assert_eq!(profile.retention.len(), DataCategory::ALL.len());
    }

    #[test]
    fn promise_d3_invalid_profiles_are_refused_field_by_field() {
        let mut profile = PrivacyProfile::default();
        profile.retention.remove("technical");
        profile.retention.insert(
            "shoe_size".into(),
            RetentionRule {
                period_days: 0,
                action: RetentionAction::Delete,
            },
        );
        profile.reports.push(profile.reports[0].clone());
        let TenantError::Invalid(v) = profile.validate().unwrap_err() else {
            panic!()
        };
        let fields: Vec<_> = v.iter().map(|f| f.field.as_str()).collect();
        assert!(fields.contains(&"retention.technical"));
        assert!(fields.contains(&"retention.shoe_size"));
        assert!(fields.contains(&"retention.shoe_size.period_days"));
        assert!(fields.contains(&"reports[1].name"));
    }

    #[test]
    fn changes_name_what_moved() {
        let before = PrivacyProfile::default();
        let mut after = before.clone();
        after.retention.insert(
            "technical".into(),
            RetentionRule {
                period_days: 30,
                action: RetentionAction::Delete,
            },
        );
        after.reports.clear();
        let changes = after.changes_from(&before);
        assert_eq!(changes.len(), 2, "{changes:?}");
        assert!(changes[0].contains("technical: 90 days"));
    }
}
