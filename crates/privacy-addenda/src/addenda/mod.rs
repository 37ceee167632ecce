//! Privacy addenda (A2): per institution, versioned, structured duties the runtime enforces
//! where the mechanism exists. A tenant admin drafts a version (numbered 1, 2, …) and
//! accepts it with an effective date (`effective_from`, now when omitted, never in the past);
//! every version is kept (the history), and one is in force at a time: of the accepted
//! versions already effective, the one that took effect last (the newer version on a tie).
//! A version accepted for a later date is `scheduled` until then.
//!
//! Acceptance is refused (409 `addendum_duty_breached`, one violation per breach) when the
//! institution already breaks the new duties: its retention profile keeps a category longer
//! than the addendum allows or lacks a required report (the violation names the profile
//! field to change first), or its data lives on a cluster the addendum does not allow. The
//! institution changes the profile first, then accepts; nothing is half-accepted.
//!
//! The duties reach the rest of the runtime through [`hub_tenant::addendum_duties`]
//! ([`DutiesPort`], registered by the gateway): the profile, the incident clock; the
//! data-subject request clock asks [`Privacy::addendum_request_deadline`].
//! `allowed_subprocessors` is recorded (and listed in the record of processing); it is
//! enforced when integrations arrive.

pub(crate) mod entities;
pub mod source;

use crate::{PRIVACY_MANAGE, Privacy, PrivacyError};
use chrono::{DateTime, Duration, SubsecRound, Utc};
use entities::addendum;
use hub_kernel::DataCategory;
use hub_kernel::problem::Violations;
use hub_tenant::addendum_duties::{
    AddendumDuties, DutiesInForce, placement_breach, profile_breaches,
};
use hub_tenant::audit::{self, AuditEvent};
use hub_tenant::personal_data::SourceError;
use hub_tenant::profile::{self, MAX_RETENTION_DAYS, ReportKind};
use hub_tenant::{Scope, TenantError, TenantScope};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The default data-subject request deadline (R6); an addendum may only shorten it.
pub const DEFAULT_REQUEST_DEADLINE_DAYS: u32 = 30;
/// The most sub-processors one addendum lists.
pub const MAX_SUBPROCESSORS: usize = 50;
/// A tolerance for clocks apart when an effective date is "now".
const EFFECTIVE_SKEW_SECONDS: i64 = 60;

/// An outside service allowed to process the institution's data on the platform's behalf.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subprocessor {
    pub name: String,
    /// What it does (`transactional email`).
    pub service: String,
    /// Where it processes the data (`EU`, `Ireland`).
    pub location: String,
}

/// The structured duties of one addendum version (stored as JSON; a duty a stored version
/// lacks reads as absent, so duties added later leave older versions readable).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Duties {
    pub request_deadline_days: Option<u32>,
    pub max_retention_days: BTreeMap<String, u32>,
    pub required_reports: Vec<ReportKind>,
    pub allowed_clusters: Vec<String>,
    pub breach_notification_hours: Option<u32>,
    pub allowed_subprocessors: Vec<Subprocessor>,
}

/// A version to draft.
#[derive(Debug, Clone)]
pub struct NewAddendum {
    pub duties: Duties,
    pub summary: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AddendumStatus {
    /// Drafted, not accepted.
    Draft,
    /// Accepted, effective later.
    Scheduled,
    /// The one in force.
    InForce,
    /// Accepted, replaced by a later one in force.
    Superseded,
}

#[derive(Debug, Clone, Serialize)]
pub struct Addendum {
    pub version: i32,
    pub duties: Duties,
    pub summary: String,
    pub status: AddendumStatus,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub effective_from: Option<DateTime<Utc>>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub accepted_by: Option<String>,
}

const ACCEPTED: &str = "accepted";
const DRAFT: &str = "draft";

fn duties_of(row: &addendum::Model) -> Result<Duties, PrivacyError> {
    serde_json::from_str(&row.duties).map_err(|e| {
        PrivacyError::Tenant(TenantError::Conflict(format!(
            "stored privacy addendum {} is unreadable: {e}",
            row.version
        )))
    })
}

/// The version in force at `now` among `rows`.
fn in_force_version(rows: &[addendum::Model], now: DateTime<Utc>) -> Option<i32> {
    rows.iter()
        .filter(|r| r.status == ACCEPTED)
        .filter_map(|r| r.effective_from.map(|from| (from, r.version)))
        .filter(|(from, _)| *from <= now)
        .max()
        .map(|(_, version)| version)
}

fn view(
    row: addendum::Model,
    in_force: Option<i32>,
    now: DateTime<Utc>,
) -> Result<Addendum, PrivacyError> {
    let status = if row.status != ACCEPTED {
        AddendumStatus::Draft
    } else if Some(row.version) == in_force {
        AddendumStatus::InForce
    } else if row.effective_from.is_some_and(|from| from > now) {
        AddendumStatus::Scheduled
    } else {
        AddendumStatus::Superseded
    };
    Ok(Addendum {
        version: row.version,
        duties: duties_of(&row)?,
        summary: row.summary,
        status,
        created_at: row.created_at,
        created_by: row.created_by,
        effective_from: row.effective_from,
        accepted_at: row.accepted_at,
        accepted_by: row.accepted_by,
    })
}

/// Every version, oldest first (an institution has a handful).
async fn rows(scope: &TenantScope) -> Result<Vec<addendum::Model>, PrivacyError> {
    Ok(addendum::Entity::find()
        .order_by_asc(addendum::Column::Version)
        .all(scope.db())
        .await?)
}

/// The duties the runtime enforces, of the version in force at `now`.
pub(crate) async fn duties_in_force(
    scope: &TenantScope,
    now: DateTime<Utc>,
) -> Result<Option<DutiesInForce>, PrivacyError> {
    let all = rows(scope).await?;
    let Some(version) = in_force_version(&all, now) else {
        return Ok(None);
    };
    let Some(row) = all.iter().find(|r| r.version == version) else {
        return Ok(None);
    };
    Ok(Some(enforced(version, &duties_of(row)?)))
}

fn enforced(version: i32, duties: &Duties) -> DutiesInForce {
    DutiesInForce {
        version,
        request_deadline_days: duties.request_deadline_days,
        max_retention_days: duties.max_retention_days.clone(),
        required_reports: duties.required_reports.clone(),
        allowed_clusters: duties.allowed_clusters.clone(),
        breach_notification_hours: duties.breach_notification_hours,
    }
}

fn text_ok(v: &mut Violations, field: &str, text: &str, max: usize) {
    let len = text.trim().chars().count();
    if len == 0 || len > max || text.chars().any(char::is_control) {
        v.add(field, format!("1–{max} characters, no control characters"));
    }
}

fn validate(new: &NewAddendum, clusters: &[String]) -> Result<(), PrivacyError> {
    let mut v = Violations::new();
    let d = &new.duties;
    text_ok(&mut v, "summary", &new.summary, 2000);
    if let Some(days) = d.request_deadline_days
        && !(1..=DEFAULT_REQUEST_DEADLINE_DAYS).contains(&days)
    {
        v.add(
            "duties.request_deadline_days",
            format!("between 1 and {DEFAULT_REQUEST_DEADLINE_DAYS} days (an addendum may only shorten the default)"),
        );
    }
    for (category, days) in &d.max_retention_days {
        if DataCategory::parse(category).is_none() {
            v.add(
                format!("duties.max_retention_days.{category}"),
                "unknown data category",
            );
        }
        if !(1..=MAX_RETENTION_DAYS).contains(days) {
            v.add(
                format!("duties.max_retention_days.{category}"),
                format!("between 1 and {MAX_RETENTION_DAYS} days"),
            );
        }
    }
    for (i, kind) in d.required_reports.iter().enumerate() {
        if d.required_reports[..i].contains(kind) {
            v.add(format!("duties.required_reports[{i}]"), "listed twice");
        }
    }
    for (i, cluster) in d.allowed_clusters.iter().enumerate() {
        if !clusters.contains(cluster) {
            v.add(
                format!("duties.allowed_clusters[{i}]"),
                format!("unknown cluster; configured: {}", clusters.join(", ")),
            );
        } else if d.allowed_clusters[..i].contains(cluster) {
            v.add(format!("duties.allowed_clusters[{i}]"), "listed twice");
        }
    }
    if let Some(hours) = d.breach_notification_hours
        && !(1..=hub_tenant::addendum_duties::DEFAULT_BREACH_NOTIFICATION_HOURS).contains(&hours)
    {
        v.add(
            "duties.breach_notification_hours",
            "between 1 and 72 hours (an addendum may only shorten GDPR's 72)",
        );
    }
    if d.allowed_subprocessors.len() > MAX_SUBPROCESSORS {
        v.add(
            "duties.allowed_subprocessors",
            format!("at most {MAX_SUBPROCESSORS}"),
        );
    }
    for (i, s) in d.allowed_subprocessors.iter().enumerate() {
        text_ok(
            &mut v,
            &format!("duties.allowed_subprocessors[{i}].name"),
            &s.name,
            200,
        );
        text_ok(
            &mut v,
            &format!("duties.allowed_subprocessors[{i}].service"),
            &s.service,
            200,
        );
        text_ok(
            &mut v,
            &format!("duties.allowed_subprocessors[{i}].location"),
            &s.location,
            100,
        );
    }
    v.finish().map_err(PrivacyError::Invalid)
}

/// Reading addenda: a tenant admin or a privacy officer.
fn require_reader(scope: &TenantScope) -> Result<(), PrivacyError> {
    if scope.require(Scope::TenantAdmin).is_ok() {
        return Ok(());
    }
    Ok(scope.require(PRIVACY_MANAGE)?)
}

impl Privacy {
    /// Drafts the next version. Requires `tenant:admin`. Audited.
    pub async fn draft_addendum(
        &self,
        scope: &TenantScope,
        new: NewAddendum,
    ) -> Result<Addendum, PrivacyError> {
        scope.require(Scope::TenantAdmin)?;
        validate(&new, &self.tenancy.plane().cluster_names())?;
        let latest = addendum::Entity::find()
            .select_only()
            .column_as(addendum::Column::Version.max(), "max")
            .into_tuple::<Option<i32>>()
            .one(scope.db())
            .await?
            .flatten()
            .unwrap_or(0);
        let version = latest + 1;
        let now = Utc::now().trunc_subsecs(6);
        let mut duties = new.duties;
        duties.allowed_subprocessors.iter_mut().for_each(|s| {
            s.name = s.name.trim().to_string();
            s.service = s.service.trim().to_string();
            s.location = s.location.trim().to_string();
        });
        addendum::Entity::insert(addendum::ActiveModel {
            version: Set(version),
            duties: Set(serde_json::to_string(&duties).unwrap_or_default()),
            summary: Set(new.summary.trim().to_string()),
            status: Set(DRAFT.into()),
            created_at: Set(now),
            created_by: Set(scope.actor_label()),
            effective_from: Set(None),
            accepted_at: Set(None),
            accepted_by: Set(None),
        })
        .exec_without_returning(scope.db())
        .await?;
        audit::record(
            scope,
            AuditEvent::new("privacy_addendum.drafted")
                .subject(format!("privacy_addendum:{version}"))
                .detail(serde_json::json!({ "version": version })),
        )
        .await?;
        self.addendum(scope, version).await
    }

    /// Every version, oldest first, with its status now. A tenant admin or privacy officer.
    pub async fn addenda(&self, scope: &TenantScope) -> Result<Vec<Addendum>, PrivacyError> {
        require_reader(scope)?;
        let now = Utc::now();
        let all = rows(scope).await?;
        let in_force = in_force_version(&all, now);
        all.into_iter().map(|r| view(r, in_force, now)).collect()
    }

    /// One version.
    pub async fn addendum(
        &self,
        scope: &TenantScope,
        version: i32,
    ) -> Result<Addendum, PrivacyError> {
        self.addenda(scope)
            .await?
            .into_iter()
            .find(|a| a.version == version)
            .ok_or(PrivacyError::NotFound("privacy addendum"))
    }

    /// The version in force now (404 `addendum_not_found` when none is).
    pub async fn current_addendum(&self, scope: &TenantScope) -> Result<Addendum, PrivacyError> {
        self.addenda(scope)
            .await?
            .into_iter()
            .find(|a| a.status == AddendumStatus::InForce)
            .ok_or(PrivacyError::NotFound("privacy addendum"))
    }

    /// Accepts a draft, effective from `effective_from` (now when `None`; not in the past).
    /// Requires `tenant:admin`. Refused when the institution already breaks its duties
    /// (module doc). Audited. `None` (a path that names no number) is no version: 404,
    /// after the scope check.
    pub async fn accept_addendum(
        &self,
        scope: &TenantScope,
        version: Option<i32>,
        effective_from: Option<DateTime<Utc>>,
    ) -> Result<Addendum, PrivacyError> {
        scope.require(Scope::TenantAdmin)?;
        let version = version.ok_or(PrivacyError::NotFound("privacy addendum"))?;
        let now = Utc::now().trunc_subsecs(6);
        let row = addendum::Entity::find_by_id(version)
            .one(scope.db())
            .await?
            .ok_or(PrivacyError::NotFound("privacy addendum"))?;
        if row.status != DRAFT {
            return Err(PrivacyError::Tenant(TenantError::Conflict(format!(
                "privacy addendum version {version} is already accepted"
            ))));
        }
        let effective_from = effective_from.map(|t| t.trunc_subsecs(6)).unwrap_or(now);
        if effective_from < now - Duration::seconds(EFFECTIVE_SKEW_SECONDS) {
            return Err(PrivacyError::Invalid(vec![
                hub_kernel::FieldViolation::new(
                    "effective_from",
                    "must not be in the past: an addendum binds from its acceptance on",
                ),
            ]));
        }
        let duties = enforced(version, &duties_of(&row)?);
        let current = profile::get(scope).await?;
        let mut breaches = profile_breaches(&duties, &current.profile);
        breaches.extend(placement_breach(&duties, scope.cluster()));
        if !breaches.is_empty() {
            return Err(PrivacyError::Tenant(TenantError::AddendumBreached(
                breaches,
            )));
        }
        let updated = addendum::Entity::update_many()
            .col_expr(addendum::Column::Status, Expr::value(ACCEPTED))
            .col_expr(addendum::Column::EffectiveFrom, Expr::value(effective_from))
            .col_expr(addendum::Column::AcceptedAt, Expr::value(now))
            .col_expr(
                addendum::Column::AcceptedBy,
                Expr::value(scope.actor_label()),
            )
            .filter(addendum::Column::Version.eq(version))
            .filter(addendum::Column::Status.eq(DRAFT))
            .exec(scope.db())
            .await?;
        if updated.rows_affected == 0 {
            return Err(PrivacyError::Tenant(TenantError::Conflict(format!(
                "privacy addendum version {version} is already accepted"
            ))));
        }
        audit::record(
            scope,
            AuditEvent::new("privacy_addendum.accepted")
                .subject(format!("privacy_addendum:{version}"))
                .detail(serde_json::json!({
                    "version": version,
                    "effective_from": effective_from,
                })),
        )
        .await?;
        self.addendum(scope, version).await
    }

    /// Days within which a data-subject request must be answered under the addendum in
    /// force now: `None` without one (or when it does not shorten the default, 30 days).
    pub async fn addendum_request_deadline(
        &self,
        scope: &TenantScope,
    ) -> Result<Option<u32>, PrivacyError> {
        self.addendum_request_deadline_at(scope, Utc::now()).await
    }

    /// [`Self::addendum_request_deadline`] at `now` (the request's receipt).
    pub async fn addendum_request_deadline_at(
        &self,
        scope: &TenantScope,
        now: DateTime<Utc>,
    ) -> Result<Option<u32>, PrivacyError> {
        Ok(duties_in_force(scope, now)
            .await?
            .and_then(|d| d.request_deadline_days))
    }
}

/// The port the gateway registers on the tenancy: the duties of the addendum in force.
pub struct DutiesPort;

#[async_trait::async_trait]
impl AddendumDuties for DutiesPort {
    async fn in_force(
        &self,
        scope: &TenantScope,
        now: DateTime<Utc>,
    ) -> Result<Option<DutiesInForce>, SourceError> {
        duties_in_force(scope, now).await.map_err(Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(version: i32, accepted: bool, from: Option<i64>) -> addendum::Model {
        addendum::Model {
            version,
            duties: "{}".into(),
            summary: String::new(),
            status: if accepted { ACCEPTED } else { DRAFT }.into(),
            created_at: DateTime::from_timestamp(0, 0).unwrap(),
            created_by: String::new(),
            effective_from: from.and_then(|s| DateTime::from_timestamp(s, 0)),
            accepted_at: None,
            accepted_by: None,
        }
    }

    #[test]
    fn promise_a2_one_version_is_in_force_at_a_time() {
        let now = DateTime::from_timestamp(1_000, 0).unwrap();
        let rows = vec![
            row(1, true, Some(100)),
            row(2, true, Some(500)),
            row(3, true, Some(2_000)),
            row(4, false, None),
        ];
        assert_eq!(in_force_version(&rows, now), Some(2));
        assert_eq!(in_force_version(&rows[..1], now), Some(1));
        assert_eq!(in_force_version(&rows[2..], now), None);
        let statuses: Vec<_> = rows
            .into_iter()
            .map(|r| view(r, Some(2), now).unwrap().status)
            .collect();
        assert_eq!(
            statuses,
            [
                AddendumStatus::Superseded,
                AddendumStatus::InForce,
                AddendumStatus::Scheduled,
                AddendumStatus::Draft
            ]
        );
    }
}
