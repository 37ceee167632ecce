//! Policy and notice versions per institution (U8, A3). A privacy officer publishes a
//! version (numbered 1, 2, …) listing the purposes the institution uses data for and a
//! notice per service (`peer_forums`: what that service does with data). A person accepts
//! a version (a record); accepting it accepts its notices.
//!
//! - A purpose is usable for a person only if the current version lists it and the person
//!   accepted a version at least as new as the one that introduced it (the first of the
//!   unbroken run of versions up to the current one that list it): publishing a version that
//!   adds a purpose blocks it for everyone until they accept (the gate answers
//!   `policy_not_accepted`).
//! - A service with a notice is usable only once the person accepted a version at least as
//!   new as the one where its current notice text first appeared
//!   ([`Privacy::require_notice`], `notice_not_accepted`).
//! - Publishing a version that adds a purpose or a new or changed notice sends every active
//!   person an essential message (`privacy.policy_updated`), in the publishing transaction,
//!   paging over people through the directory.

pub(crate) mod entities;

use crate::consent::{ConsentPurpose, person_of};
use crate::{PRIVACY_MANAGE, Privacy, PrivacyError};
use chrono::{DateTime, SubsecRound, Utc};
use entities::{acceptance, version};
use hub_kernel::problem::Violations;
use hub_tenant::TenantScope;
use hub_tenant::audit::{self, AuditEvent};
use hub_tenant::personal_data::EssentialMessage;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;
use std::collections::BTreeMap;
use uuid::Uuid;

/// A notice of one service in a policy version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notice {
    pub service: String,
    pub text: String,
}

/// A published version.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyVersion {
    pub version: i32,
    pub purposes: Vec<ConsentPurpose>,
    pub notices: Vec<Notice>,
    pub summary: String,
    pub published_at: DateTime<Utc>,
    pub published_by: String,
}

/// What to publish.
#[derive(Debug, Clone)]
pub struct NewPolicyVersion {
    pub purposes: Vec<ConsentPurpose>,
    pub notices: Vec<Notice>,
    pub summary: String,
}

/// A version just published, with what it changed and whom it told.
#[derive(Debug, Clone, Serialize)]
pub struct Published {
    pub version: PolicyVersion,
    /// Purposes the previous version did not list.
    pub added_purposes: Vec<ConsentPurpose>,
    /// Services whose notice is new or changed.
    pub changed_notices: Vec<String>,
    /// People sent an essential message about it.
    pub notified: u64,
}

/// A person's acceptance.
#[derive(Debug, Clone, Serialize)]
pub struct Acceptance {
    pub id: Uuid,
    pub version: i32,
    pub accepted_at: DateTime<Utc>,
}

/// The person may use the service: they accepted its notice (in `version` or later).
#[derive(Debug, Clone, Serialize)]
pub struct NoticeAccess {
    pub service: String,
    pub notice_version: i32,
    pub accepted_version: i32,
}

fn version_of(row: version::Model) -> PolicyVersion {
    let purposes: Vec<String> = serde_json::from_str(&row.purposes).unwrap_or_default();
    let notices: BTreeMap<String, String> = serde_json::from_str(&row.notices).unwrap_or_default();
    PolicyVersion {
        version: row.version,
        purposes: purposes
            .iter()
            .filter_map(|p| ConsentPurpose::parse(p))
            .collect(),
        notices: notices
            .into_iter()
            .map(|(service, text)| Notice { service, text })
            .collect(),
        summary: row.summary,
        published_at: row.published_at,
        published_by: row.published_by,
    }
}

/// Every published version, oldest first (an institution publishes a handful).
pub(crate) async fn versions(scope: &TenantScope) -> Result<Vec<PolicyVersion>, PrivacyError> {
    Ok(version::Entity::find()
        .order_by_asc(version::Column::Version)
        .all(scope.db())
        .await?
        .into_iter()
        .map(version_of)
        .collect())
}

pub(crate) async fn current_version(scope: &TenantScope) -> Result<Option<i32>, PrivacyError> {
    Ok(version::Entity::find()
        .select_only()
        .column_as(version::Column::Version.max(), "max")
        .into_tuple::<Option<i32>>()
        .one(scope.db())
        .await?
        .flatten())
}

/// The newest version the person accepted.
pub(crate) async fn accepted_version(
    scope: &TenantScope,
    person: Uuid,
) -> Result<Option<i32>, PrivacyError> {
    Ok(acceptance::Entity::find()
        .select_only()
        .column_as(acceptance::Column::Version.max(), "max")
        .filter(acceptance::Column::PersonId.eq(person))
        .into_tuple::<Option<i32>>()
        .one(scope.db())
        .await?
        .flatten())
}

/// The version that introduced `purpose` as the current version lists it (the first of the
/// unbroken run up to the current one); `None` if the current version does not list it.
pub(crate) fn purpose_since(versions: &[PolicyVersion], purpose: ConsentPurpose) -> Option<i32> {
    let mut since = None;
    for v in versions.iter().rev() {
        if !v.purposes.contains(&purpose) {
            break;
        }
        since = Some(v.version);
    }
    since
}

/// The version where the current notice of `service` first appeared with its current text.
fn notice_since(versions: &[PolicyVersion], service: &str) -> Option<i32> {
    let text_in = |v: &PolicyVersion| {
        v.notices
            .iter()
            .find(|n| n.service == service)
            .map(|n| n.text.clone())
    };
    let current = text_in(versions.last()?)?;
    let mut since = None;
    for v in versions.iter().rev() {
        if text_in(v).as_deref() != Some(current.as_str()) {
            break;
        }
        since = Some(v.version);
    }
    since
}

fn valid_service(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// How many people one page of the bulk notice reads.
const NOTIFY_PAGE: u64 = 500;

impl Privacy {
    /// The institution's published versions, oldest first. Any credential of the tenant
    /// (people read the policy they accept).
    pub async fn policy_versions(
        &self,
        scope: &TenantScope,
    ) -> Result<Vec<PolicyVersion>, PrivacyError> {
        versions(scope).await
    }

    /// Publishes the next version. Requires `privacy:manage`. Audited. Notifies every
    /// active person when it adds a purpose or a new or changed notice (module doc).
    pub async fn publish_policy_version(
        &self,
        scope: &TenantScope,
        new: NewPolicyVersion,
    ) -> Result<Published, PrivacyError> {
        scope.require(PRIVACY_MANAGE)?;
        let mut v = Violations::new();
        let summary_len = new.summary.chars().count();
        v.check(
            (1..=2000).contains(&summary_len),
            "summary",
            "1-2000 characters",
        );
        for (i, p) in new.purposes.iter().enumerate() {
            v.check(
                !new.purposes[..i].contains(p),
                &format!("purposes[{i}]"),
                "each purpose at most once",
            );
        }
        v.check(new.notices.len() <= 50, "notices", "at most 50 notices");
        for (i, n) in new.notices.iter().enumerate() {
            v.check(
                valid_service(&n.service),
                &format!("notices[{i}].service"),
                "1-64 characters: lowercase letters, digits, underscores",
            );
            v.check(
                !new.notices[..i].iter().any(|m| m.service == n.service),
                &format!("notices[{i}].service"),
                "each service at most once",
            );
            let len = n.text.chars().count();
            v.check(
                (1..=10_000).contains(&len),
                &format!("notices[{i}].text"),
                "1-10000 characters",
            );
        }
        v.finish().map_err(PrivacyError::Invalid)?;

        let previous = versions(scope).await?;
        let last = previous.last();
        let number = last.map_or(1, |l| l.version + 1);
        let now = Utc::now().trunc_subsecs(6);
        let purposes: Vec<&str> = new.purposes.iter().map(|p| p.as_str()).collect();
        let notices: BTreeMap<&str, &str> = new
            .notices
            .iter()
            .map(|n| (n.service.as_str(), n.text.as_str()))
            .collect();
        version::Entity::insert(version::ActiveModel {
            version: Set(number),
            purposes: Set(serde_json::to_string(&purposes).unwrap_or_default()),
            notices: Set(serde_json::to_string(&notices).unwrap_or_default()),
            summary: Set(new.summary.clone()),
            published_at: Set(now),
            published_by: Set(scope.actor_label()),
        })
        .exec_without_returning(scope.db())
        .await?;
        let added_purposes: Vec<ConsentPurpose> = new
            .purposes
            .iter()
            .copied()
            .filter(|p| p.consentable() && last.is_none_or(|l| !l.purposes.contains(p)))
            .collect();
        let changed_notices: Vec<String> = new
            .notices
            .iter()
            .filter(|n| last.is_none_or(|l| !l.notices.contains(n)))
            .map(|n| n.service.clone())
            .collect();

        let mut notified = 0;
        if !added_purposes.is_empty() || !changed_notices.is_empty() {
            let message = policy_message(number, &added_purposes, &changed_notices);
            let mut after = None;
            loop {
                let page = self
                    .directory
                    .people(scope, after, NOTIFY_PAGE)
                    .await
                    .map_err(|e| PrivacyError::source_failed("people", &e))?;
                for person in &page {
                    self.messages
                        .send(scope, *person, message.clone())
                        .await
                        .map_err(|e| PrivacyError::source_failed("outbox", &e))?;
                    notified += 1;
                }
                match page.last() {
                    Some(last) if page.len() as u64 == NOTIFY_PAGE => after = Some(*last),
                    _ => break,
                }
            }
        }
        audit::record(
            scope,
            AuditEvent::new("policy_version.published")
                .subject(format!("policy-version:{number}"))
                .detail(serde_json::json!({
                    "purposes": purposes,
                    "services": notices.keys().collect::<Vec<_>>(),
                    "notified": notified,
                })),
        )
        .await?;
        let version = versions(scope)
            .await?
            .into_iter()
            .find(|v| v.version == number)
            .ok_or(PrivacyError::NotFound("policy version"))?;
        Ok(Published {
            version,
            added_purposes,
            changed_notices,
            notified,
        })
    }

    /// Records the signed-in person's acceptance of a published version (and its notices).
    pub async fn accept_policy(
        &self,
        scope: &TenantScope,
        number: i32,
    ) -> Result<Acceptance, PrivacyError> {
        let person = person_of(scope)?;
        let exists = version::Entity::find_by_id(number)
            .one(scope.db())
            .await?
            .is_some();
        if !exists {
            return Err(PrivacyError::Invalid(vec![hub_kernel::FieldViolation {
                field: "version".into(),
                message: "no such published policy version".into(),
            }]));
        }
        let id = Uuid::now_v7();
        let now = Utc::now().trunc_subsecs(6);
        acceptance::Entity::insert(acceptance::ActiveModel {
            id: Set(id),
            person_id: Set(person),
            version: Set(number),
            accepted_at: Set(now),
        })
        .exec_without_returning(scope.db())
        .await?;
        audit::record(
            scope,
            AuditEvent::new("policy_version.accepted")
                .subject(format!("person:{person}"))
                .detail(serde_json::json!({ "version": number })),
        )
        .await?;
        Ok(Acceptance {
            id,
            version: number,
            accepted_at: now,
        })
    }

    /// Refuses a service the person has not accepted the notice of (A3): `NotFound` when
    /// the current policy has no notice for it, `NoticeNotAccepted` (403) until they accept a
    /// version carrying its current notice. The one caller today is
    /// `GET /v1/me/services/{service}/access`, which a service's front end asks before it
    /// opens (no service of this platform is itself gated yet).
    pub async fn require_notice(
        &self,
        scope: &TenantScope,
        person: Uuid,
        service: &str,
    ) -> Result<NoticeAccess, PrivacyError> {
        let versions = versions(scope).await?;
        let Some(since) = notice_since(&versions, service) else {
            return Err(PrivacyError::NotFound("service notice"));
        };
        match accepted_version(scope, person).await? {
            Some(accepted) if accepted >= since => Ok(NoticeAccess {
                service: service.to_string(),
                notice_version: since,
                accepted_version: accepted,
            }),
            _ => Err(PrivacyError::NoticeNotAccepted {
                service: service.to_string(),
                version: since,
            }),
        }
    }

    /// [`Self::require_notice`] for the signed-in person.
    pub async fn my_service_access(
        &self,
        scope: &TenantScope,
        service: &str,
    ) -> Result<NoticeAccess, PrivacyError> {
        let person = person_of(scope)?;
        self.require_notice(scope, person, service).await
    }
}

fn policy_message(number: i32, added: &[ConsentPurpose], services: &[String]) -> EssentialMessage {
    let mut body = format!("The institution published version {number} of its privacy policy.");
    if !added.is_empty() {
        let names: Vec<&str> = added.iter().map(|p| p.as_str()).collect();
        body.push_str(&format!(
            " It adds these purposes: {}. They stay off for you until you accept the new version in your account.",
            names.join(", ")
        ));
    }
    if !services.is_empty() {
        body.push_str(&format!(
            " It has new notices for these services: {}. You can use them once you accept.",
            services.join(", ")
        ));
    }
    EssentialMessage {
        kind: "privacy.policy_updated",
        subject: format!("Privacy policy version {number}"),
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(version: i32, purposes: &[ConsentPurpose], notices: &[(&str, &str)]) -> PolicyVersion {
        PolicyVersion {
            version,
            purposes: purposes.to_vec(),
            notices: notices
                .iter()
                .map(|(s, t)| Notice {
                    service: (*s).into(),
                    text: (*t).into(),
                })
                .collect(),
            summary: String::new(),
            published_at: Utc::now(),
            published_by: String::new(),
        }
    }

    #[test]
    fn a_purpose_counts_from_the_version_that_brought_it_back() {
        use ConsentPurpose::{Analytics, Marketing};
        let versions = [
            v(1, &[Analytics, Marketing], &[]),
            v(2, &[Analytics], &[]),
            v(3, &[Analytics, Marketing], &[]),
            v(4, &[Analytics, Marketing], &[]),
        ];
        assert_eq!(purpose_since(&versions, Analytics), Some(1));
        // Dropped in 2 and added again in 3: accepting 1 is not enough.
        assert_eq!(purpose_since(&versions, Marketing), Some(3));
        assert_eq!(purpose_since(&versions, ConsentPurpose::Integrations), None);
        assert_eq!(purpose_since(&[], Analytics), None);
    }

    #[test]
    fn a_notice_counts_from_the_version_of_its_current_text() {
        let versions = [
            v(1, &[], &[("peer_forums", "old")]),
            v(2, &[], &[("peer_forums", "new")]),
            v(3, &[], &[("peer_forums", "new"), ("video", "v")]),
        ];
        assert_eq!(notice_since(&versions, "peer_forums"), Some(2));
        assert_eq!(notice_since(&versions, "video"), Some(3));
        assert_eq!(notice_since(&versions, "chat"), None);
    }

    #[test]
    fn service_names_are_plain_identifiers() {
        assert!(valid_service("peer_forums"));
        assert!(!valid_service("Peer Forums"));
        assert!(!valid_service(""));
        assert!(!valid_service(&"x".repeat(65)));
    }
}
