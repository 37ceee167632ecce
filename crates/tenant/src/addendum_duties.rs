//! The duties of the institution's privacy addendum in force (A2), as the runtime enforces
//! them. The addendum itself (versions, acceptance, history) belongs to the privacy service
//! (`hub-privacy-addenda`), which the crates below it may not depend on: it answers through
//! this port, registered on the [`crate::Tenancy`] at start
//! ([`crate::Tenancy::register_addendum_duties`]), like the consent gate. With no port
//! registered, or no addendum in force, nothing changes: the platform defaults hold.
//!
//! Where each duty is enforced:
//! - `max_retention_days`, `required_reports`: replacing the retention and reporting profile
//!   ([`crate::Tenancy::replace_privacy_profile`]) with a period above the maximum of a
//!   category, or without a required report kind, is refused (409 `addendum_duty_breached`,
//!   one violation per breach); [`profile_breaches`] is the one check, also run by the
//!   privacy service before it accepts an addendum the current profile would already break.
//! - `allowed_clusters` (data residency): [`placement_breach`], run before an addendum is
//!   accepted for a tenant placed elsewhere and by any placement of a tenant that already
//!   has one (the platform cannot move a tenant between clusters today; provisioning places
//!   a tenant before it can have an addendum).
//! - `breach_notification_hours`: identity's incident clock
//!   ([`crate::Tenancy::breach_notification_hours`]).
//! - `request_deadline_days`: the data-subject request clock (privacy's own).

use crate::personal_data::SourceError;
use crate::profile::{PrivacyProfile, ReportKind};
use crate::scope::TenantScope;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hub_kernel::FieldViolation;
use std::collections::BTreeMap;

/// GDPR Art. 33: a personal-data breach is notified within 72 hours unless an addendum says
/// sooner.
pub const DEFAULT_BREACH_NOTIFICATION_HOURS: u32 = 72;

/// The enforced duties of the addendum in force.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DutiesInForce {
    /// The addendum version these duties come from.
    pub version: i32,
    /// Days within which a data-subject request must be answered, when shorter than the
    /// default.
    pub request_deadline_days: Option<u32>,
    /// Per data category, the longest retention period the profile may set.
    pub max_retention_days: BTreeMap<String, u32>,
    /// Report kinds the reporting profile must schedule.
    pub required_reports: Vec<ReportKind>,
    /// Clusters the institution's data may live on; empty: any.
    pub allowed_clusters: Vec<String>,
    /// Hours within which a breach must be notified, when sooner than 72.
    pub breach_notification_hours: Option<u32>,
}

/// Answers which duties are in force for the scope's institution at `now`.
#[async_trait]
pub trait AddendumDuties: Send + Sync {
    async fn in_force(
        &self,
        scope: &TenantScope,
        now: DateTime<Utc>,
    ) -> Result<Option<DutiesInForce>, SourceError>;
}

/// Every way `profile` breaks `duties`, one violation per breach, naming the profile field
/// that must change.
pub fn profile_breaches(duties: &DutiesInForce, profile: &PrivacyProfile) -> Vec<FieldViolation> {
    let mut breaches = Vec::new();
    for (category, max) in &duties.max_retention_days {
        if let Some(rule) = profile.retention.get(category)
            && rule.period_days > *max
        {
            breaches.push(FieldViolation::new(
                format!("retention.{category}.period_days"),
                format!(
                    "{} days exceeds the {max} days the privacy addendum (version {}) allows for {category} data",
                    rule.period_days, duties.version
                ),
            ));
        }
    }
    for kind in &duties.required_reports {
        if !profile.reports.iter().any(|r| r.kind == *kind) {
            breaches.push(FieldViolation::new(
                "reports",
                format!(
                    "the privacy addendum (version {}) requires a scheduled `{}` report",
                    duties.version,
                    kind.as_str()
                ),
            ));
        }
    }
    breaches
}

/// Whether placing the institution on `cluster` breaks the residency duty.
pub fn placement_breach(duties: &DutiesInForce, cluster: &str) -> Option<FieldViolation> {
    if duties.allowed_clusters.is_empty() || duties.allowed_clusters.iter().any(|c| c == cluster) {
        return None;
    }
    Some(FieldViolation::new(
        "cluster",
        format!(
            "the privacy addendum (version {}) allows only clusters {}; `{cluster}` is not one",
            duties.version,
            duties.allowed_clusters.join(", ")
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promise_a2_breaches_name_the_field_that_must_change() {
        let duties = DutiesInForce {
            version: 3,
            max_retention_days: [("technical".to_string(), 30), ("contact".to_string(), 730)]
                .into_iter()
                .collect(),
            required_reports: vec![ReportKind::PrivacyRequests],
            allowed_clusters: vec!["primary".into()],
            ..Default::default()
        };
        let profile = PrivacyProfile::default();
        let fields: Vec<_> = profile_breaches(&duties, &profile)
            .into_iter()
            .map(|v| v.field)
            .collect();
        assert_eq!(fields, ["retention.technical.period_days", "reports"]);
        assert!(placement_breach(&duties, "primary").is_none());
        assert_eq!(
            placement_breach(&duties, "second").unwrap().field,
            "cluster"
        );
        assert!(profile_breaches(&DutiesInForce::default(), &profile).is_empty());
        assert!(placement_breach(&DutiesInForce::default(), "anywhere").is_none());
    }
}
