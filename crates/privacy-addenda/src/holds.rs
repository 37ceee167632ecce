//! Legal holds: a privacy officer keeps data past its retention period (litigation, an
//! investigation, a regulator's order), with a reason and an end date, on one person, on
//! some data categories, or on the whole institution. A hold is active from when it is set
//! until its end or an early release (with a reason); both are audited. Retention
//! ([`crate::retention`]) asks [`people_held`] which people a category must keep, and
//! data-subject erasure asks [`on_person`] what keeps a person's data.
//!
//! The table names a person (`person_id`) and who acted (`set_by`, `released_by`), so it is
//! a personal-data source ([`HoldsSource`]): its export lists the holds on the person; its
//! erasure deletes the holds on the person that have ended, and keeps an active one (a hold
//! is exactly what an erasure must not remove while it lasts: the receipt says so). The
//! reason is the officer's description of the legal matter: it names no one (the person is
//! the `person_id`), so it is kept as text, not sealed.

use crate::{PRIVACY_MANAGE, Privacy, PrivacyError};
use chrono::{DateTime, Utc};
use hub_kernel::classification::{DataCategory, FieldClassification};
use hub_kernel::problem::Violations;
use hub_tenant::audit::{AuditEvent, record};
use hub_tenant::personal_data::{DataSubject, Outcome, PersonalDataSource, SourceError, Summary};
use hub_tenant::{TenantError, TenantScope};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde::Serialize;
use uuid::Uuid;

pub const TABLE: &str = "legal_holds";
pub const REASON_MAX: usize = 1000;
/// The longest a hold may be set for at once (it can be set again).
pub const MAX_HOLD_DAYS: i64 = 36_500;
/// The most holds one listing returns.
pub const LIST_MAX: u64 = 500;

pub(crate) mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "legal_holds")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub person_id: Option<Uuid>,
        pub categories: String,
        pub reason: String,
        pub ends_at: DateTimeUtc,
        pub set_by: String,
        pub set_at: DateTimeUtc,
        pub released_at: Option<DateTimeUtc>,
        pub released_by: Option<String>,
        pub release_reason: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use entity as hold;

/// One legal hold.
#[derive(Debug, Clone, Serialize)]
pub struct LegalHold {
    pub id: Uuid,
    /// `None`: every person of the institution.
    pub person_id: Option<Uuid>,
    /// Empty: every category.
    pub categories: Vec<DataCategory>,
    pub reason: String,
    pub ends_at: DateTime<Utc>,
    pub set_by: String,
    pub set_at: DateTime<Utc>,
    pub released_at: Option<DateTime<Utc>>,
    pub released_by: Option<String>,
    pub release_reason: Option<String>,
}

impl LegalHold {
    /// Whether the hold keeps data at `now`.
    pub fn active_at(&self, now: DateTime<Utc>) -> bool {
        self.released_at.is_none() && self.ends_at > now
    }

    /// Whether it covers `category`.
    pub fn covers(&self, category: DataCategory) -> bool {
        self.categories.is_empty() || self.categories.contains(&category)
    }
}

fn from_row(row: hold::Model) -> LegalHold {
    let categories: Vec<String> = serde_json::from_str(&row.categories).unwrap_or_default();
    LegalHold {
        id: row.id,
        person_id: row.person_id,
        categories: categories
            .iter()
            .filter_map(|c| DataCategory::parse(c))
            .collect(),
        reason: row.reason,
        ends_at: row.ends_at,
        set_by: row.set_by,
        set_at: row.set_at,
        released_at: row.released_at,
        released_by: row.released_by,
        release_reason: row.release_reason,
    }
}

/// What a new hold covers and why.
#[derive(Debug, Clone)]
pub struct NewHold {
    pub person_id: Option<Uuid>,
    /// Category names; empty: every category.
    pub categories: Vec<String>,
    pub reason: String,
    pub ends_at: DateTime<Utc>,
}

/// Whom a category's retention must spare at a moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HoldSet {
    /// A hold on the whole institution covers the category: nothing of it expires.
    pub everyone: bool,
    /// People whose data of the category is held.
    pub people: Vec<Uuid>,
}

fn active_condition(now: DateTime<Utc>) -> Condition {
    Condition::all()
        .add(hold::Column::ReleasedAt.is_null())
        .add(hold::Column::EndsAt.gt(now))
}

/// Active holds covering `category` at `now`: who they spare.
pub async fn people_held(
    scope: &TenantScope,
    category: DataCategory,
    now: DateTime<Utc>,
) -> Result<HoldSet, PrivacyError> {
    let rows = hold::Entity::find()
        .filter(active_condition(now))
        .all(scope.db())
        .await?;
    let mut set = HoldSet::default();
    for h in rows
        .into_iter()
        .map(from_row)
        .filter(|h| h.covers(category))
    {
        match h.person_id {
            None => set.everyone = true,
            Some(p) if !set.people.contains(&p) => set.people.push(p),
            Some(_) => {}
        }
    }
    set.people.sort();
    Ok(set)
}

/// The holds active at `now` that keep data of `person`: those on them and those on the whole
/// institution (an erasure keeps what they cover and says so).
pub async fn on_person(
    scope: &TenantScope,
    person: Uuid,
    now: DateTime<Utc>,
) -> Result<Vec<LegalHold>, PrivacyError> {
    let rows = hold::Entity::find()
        .filter(active_condition(now))
        .filter(
            Condition::any()
                .add(hold::Column::PersonId.eq(person))
                .add(hold::Column::PersonId.is_null()),
        )
        .order_by_asc(hold::Column::SetAt)
        .all(scope.db())
        .await?;
    Ok(rows.into_iter().map(from_row).collect())
}

fn check_reason(v: &mut Violations, field: &str, reason: &str) {
    let trimmed = reason.trim();
    if trimmed.is_empty() {
        v.add(field, "a reason is required");
    } else if trimmed.chars().count() > REASON_MAX {
        v.add(field, format!("at most {REASON_MAX} characters"));
    } else if trimmed.chars().any(|c| c.is_control() && c != '\n') {
        v.add(field, "no control characters");
    }
}

impl Privacy {
    /// Sets a legal hold. Requires `privacy:manage`.
    pub async fn set_legal_hold(
        &self,
        scope: &TenantScope,
        new: NewHold,
    ) -> Result<LegalHold, PrivacyError> {
        scope.require(PRIVACY_MANAGE)?;
        let now = Utc::now();
        let mut v = Violations::new();
        check_reason(&mut v, "reason", &new.reason);
        if new.ends_at <= now {
            v.add("ends_at", "must be in the future");
        } else if new.ends_at > now + chrono::Duration::days(MAX_HOLD_DAYS) {
            v.add("ends_at", format!("at most {MAX_HOLD_DAYS} days from now"));
        }
        let mut categories: Vec<DataCategory> = Vec::new();
        for (i, name) in new.categories.iter().enumerate() {
            match DataCategory::parse(name) {
                Some(c) if !categories.contains(&c) => categories.push(c),
                Some(_) => v.add(format!("categories[{i}]"), "named twice"),
                None => v.add(format!("categories[{i}]"), "unknown data category"),
            }
        }
        if let Some(person) = new.person_id
            && self
                .directory
                .person(scope, person)
                .await
                .map_err(|e| PrivacyError::source_failed("people", &e))?
                .is_none()
        {
            v.add("person_id", "no such person in this institution");
        }
        v.finish().map_err(PrivacyError::Invalid)?;
        let names: Vec<&str> = categories.iter().map(|c| c.as_str()).collect();
        let row = hold::Model {
            id: Uuid::now_v7(),
            person_id: new.person_id,
            categories: serde_json::to_string(&names).unwrap_or_else(|_| "[]".into()),
            reason: new.reason.trim().to_string(),
            ends_at: new.ends_at,
            set_by: scope.actor_label(),
            set_at: now,
            released_at: None,
            released_by: None,
            release_reason: None,
        };
        hold::Entity::insert(hold::ActiveModel {
            id: Set(row.id),
            person_id: Set(row.person_id),
            categories: Set(row.categories.clone()),
            reason: Set(row.reason.clone()),
            ends_at: Set(row.ends_at),
            set_by: Set(row.set_by.clone()),
            set_at: Set(row.set_at),
            released_at: Set(None),
            released_by: Set(None),
            release_reason: Set(None),
        })
        .exec_without_returning(scope.db())
        .await?;
        record(
            scope,
            AuditEvent::new("legal_hold.set")
                .subject(format!("legal-hold:{}", row.id))
                .detail(serde_json::json!({
                    "person_id": row.person_id,
                    "categories": names,
                    "ends_at": row.ends_at,
                })),
        )
        .await?;
        Ok(from_row(row))
    }

    /// Ends a hold before its end date. Requires `privacy:manage`. A hold already released or
    /// ended is a conflict.
    pub async fn release_legal_hold(
        &self,
        scope: &TenantScope,
        id: Uuid,
        reason: String,
    ) -> Result<LegalHold, PrivacyError> {
        scope.require(PRIVACY_MANAGE)?;
        let mut v = Violations::new();
        check_reason(&mut v, "reason", &reason);
        v.finish().map_err(PrivacyError::Invalid)?;
        let current = self.legal_hold(scope, id).await?;
        let now = Utc::now();
        if !current.active_at(now) {
            return Err(TenantError::Conflict("the legal hold has already ended".into()).into());
        }
        let by = scope.actor_label();
        let done = hold::Entity::update_many()
            .set(hold::ActiveModel {
                released_at: Set(Some(now)),
                released_by: Set(Some(by)),
                release_reason: Set(Some(reason.trim().to_string())),
                ..Default::default()
            })
            .filter(hold::Column::Id.eq(id))
            .filter(hold::Column::ReleasedAt.is_null())
            .exec(scope.db())
            .await?;
        if done.rows_affected == 0 {
            return Err(TenantError::Conflict("the legal hold has already ended".into()).into());
        }
        record(
            scope,
            AuditEvent::new("legal_hold.released").subject(format!("legal-hold:{id}")),
        )
        .await?;
        self.legal_hold(scope, id).await
    }

    /// One hold. Requires `privacy:manage`.
    pub async fn legal_hold(
        &self,
        scope: &TenantScope,
        id: Uuid,
    ) -> Result<LegalHold, PrivacyError> {
        scope.require(PRIVACY_MANAGE)?;
        hold::Entity::find_by_id(id)
            .one(scope.db())
            .await?
            .map(from_row)
            .ok_or(PrivacyError::Tenant(TenantError::NotFound("legal hold")))
    }

    /// Holds, newest first (only those active now with `active_only`). Requires
    /// `privacy:manage`.
    pub async fn legal_holds(
        &self,
        scope: &TenantScope,
        active_only: bool,
    ) -> Result<Vec<LegalHold>, PrivacyError> {
        scope.require(PRIVACY_MANAGE)?;
        let mut query = hold::Entity::find()
            .order_by_desc(hold::Column::SetAt)
            .order_by_desc(hold::Column::Id)
            .limit(LIST_MAX);
        if active_only {
            query = query.filter(active_condition(Utc::now()));
        }
        Ok(query
            .all(scope.db())
            .await?
            .into_iter()
            .map(from_row)
            .collect())
    }
}

/// The legal holds as a personal-data source (the table names the person they keep).
pub struct HoldsSource;

const NOT_A_PERSON: Outcome = Outcome::NotApplicable {
    reason: "legal holds name only people",
};

async fn rows_on(scope: &TenantScope, person: Uuid) -> Result<Vec<hold::Model>, SourceError> {
    Ok(hold::Entity::find()
        .filter(hold::Column::PersonId.eq(person))
        .order_by_asc(hold::Column::SetAt)
        .all(scope.db())
        .await?)
}

#[async_trait::async_trait]
impl PersonalDataSource for HoldsSource {
    fn name(&self) -> &'static str {
        "legal_holds"
    }

    /// No classified field: the table refers to the person by id only.
    fn fields(&self) -> Vec<FieldClassification> {
        Vec::new()
    }

    fn tables(&self) -> &'static [&'static str] {
        &[TABLE]
    }

    async fn summary(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Summary, SourceError> {
        scope.require(PRIVACY_MANAGE)?;
        let Some(id) = subject.person_id() else {
            return Ok(Summary { records: 0 });
        };
        Ok(Summary {
            records: rows_on(scope, id).await?.len() as u64,
        })
    }

    async fn export(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Vec<serde_json::Value>, SourceError> {
        scope.require(PRIVACY_MANAGE)?;
        let Some(id) = subject.person_id() else {
            return Ok(Vec::new());
        };
        Ok(rows_on(scope, id)
            .await?
            .into_iter()
            .map(|row| {
                let h = from_row(row);
                serde_json::json!({
                    "id": h.id,
                    "categories": h.categories.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
                    "reason": h.reason,
                    "ends_at": h.ends_at,
                    "set_at": h.set_at,
                    "released_at": h.released_at,
                    "release_reason": h.release_reason,
                })
            })
            .collect())
    }

    /// Deletes the person's ended holds; an active one stays (and keeps what it covers).
    async fn erase(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Outcome, SourceError> {
        scope.require(PRIVACY_MANAGE)?;
        let Some(id) = subject.person_id() else {
            return Ok(NOT_A_PERSON);
        };
        let now = Utc::now();
        let ended = hold::Entity::delete_many()
            .filter(hold::Column::PersonId.eq(id))
            .filter(
                Condition::any()
                    .add(hold::Column::ReleasedAt.is_not_null())
                    .add(hold::Column::EndsAt.lte(now)),
            )
            .exec(scope.db())
            .await?;
        let active = hold::Entity::find()
            .filter(hold::Column::PersonId.eq(id))
            .filter(active_condition(now))
            .count(scope.db())
            .await?;
        if active > 0 {
            return Ok(Outcome::NotApplicable {
                reason: "kept under legal hold until the hold ends or is released",
            });
        }
        Ok(Outcome::Deleted {
            records: ended.rows_affected,
        })
    }

    async fn expire(
        &self,
        _scope: &TenantScope,
        _category: DataCategory,
        _cutoff: DateTime<Utc>,
        _keep: &[Uuid],
    ) -> Result<Outcome, SourceError> {
        Ok(Outcome::NotApplicable {
            reason: "legal holds are records of the institution's legal duties: they end with their date or release, and an erasure removes the ended ones",
        })
    }

    async fn restrict(
        &self,
        _scope: &TenantScope,
        _subject: &DataSubject,
        _restricted: bool,
    ) -> Result<Outcome, SourceError> {
        Ok(Outcome::NotApplicable {
            reason: "a legal hold is not processing of the person's data; it only keeps it",
        })
    }
}
