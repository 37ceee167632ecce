//! The people table as a personal-data source: the person's own record. Erasure anonymises
//! the row (its id stays, a shell with nothing identifying): the name is replaced, every other
//! personal field and its blind index cleared, the roles removed, the person deactivated; a
//! second erasure finds the shell and reports 0 ([`is_erased`]). The other tables naming the
//! person are the other sources' (`crate::personal_data`), which delete their rows or put a
//! pseudonym in place of the id. A restriction deactivates the person (no sign-in) and marks
//! them restricted (`restricted_at`: no admin, IdP push or review reactivates them, grants them
//! a role or changes their record meanwhile, see `administration`); lifting it
//! clears the mark and reactivates them. The sessions such a change requires ending are in the session
//! store: the sessions source (`crate::personal_data::SessionsSource`) ends them, and runs
//! after this one (`runs_after`), so no session can start in between.

use super::{PERSONAL_FIELDS, PersonStatus, TABLE, store};
use crate::entities::person;
use chrono::{DateTime, Utc};
use hub_kernel::classification::{DataCategory, FieldClassification};
use hub_tenant::audit::{AuditEvent, record};
use hub_tenant::personal_data::{
    DataSubject, EXPIRE_BATCH, Outcome, PersonalDataSource, SourceError, Summary,
};
use hub_tenant::{Scope, TenantScope};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

/// What an erased person's name reads as.
pub const ERASED_NAME: &str = "Erased person";

pub struct PeopleSource;

/// Whether a person is the shell an erasure left: the erased name, no other personal field,
/// no role, deactivated.
pub(crate) fn is_erased(p: &super::Person) -> bool {
    p.name.expose() == ERASED_NAME
        && p.username.is_none()
        && p.email.is_none()
        && p.phone.is_none()
        && p.birth_date.is_none()
        && p.jurisdiction.is_none()
        && p.country.is_none()
        && p.roles.is_empty()
        && p.status == PersonStatus::Deactivated
}

const NOT_A_PERSON: Outcome = Outcome::NotApplicable {
    reason: "the people table holds only people",
};

async fn row_of(scope: &TenantScope, id: Uuid) -> Result<Option<person::Model>, SourceError> {
    Ok(person::Entity::find_by_id(id).one(scope.db()).await?)
}

async fn audit(scope: &TenantScope, action: &'static str, id: Uuid) -> Result<(), SourceError> {
    record(
        scope,
        AuditEvent::new(action).subject(format!("person:{id}")),
    )
    .await?;
    Ok(())
}

#[async_trait::async_trait]
impl PersonalDataSource for PeopleSource {
    fn name(&self) -> &'static str {
        "people"
    }

    fn fields(&self) -> Vec<FieldClassification> {
        PERSONAL_FIELDS.to_vec()
    }

    fn tables(&self) -> &'static [&'static str] {
        &[TABLE]
    }

    async fn summary(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Summary, SourceError> {
        scope.require(Scope::PeopleRead)?;
        let Some(id) = subject.person_id() else {
            return Ok(Summary { records: 0 });
        };
        let found = row_of(scope, id).await?.is_some();
        Ok(Summary {
            records: u64::from(found),
        })
    }

    async fn export(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Vec<serde_json::Value>, SourceError> {
        scope.require(Scope::PeopleRead)?;
        let Some(id) = subject.person_id() else {
            return Ok(Vec::new());
        };
        let Some(row) = row_of(scope, id).await? else {
            return Ok(Vec::new());
        };
        let p = store::open(scope, row)?;
        Ok(vec![serde_json::json!({
            "id": p.id,
            "name": p.name.expose(),
            "username": p.username.as_ref().map(|u| u.expose()),
            "email": p.email.as_ref().map(|e| e.expose()),
            "phone": p.phone.as_ref().map(|x| x.expose()),
            "birth_date": p.birth_date.as_ref().map(|d| d.expose().format("%Y-%m-%d").to_string()),
            "jurisdiction": p.jurisdiction.map(|j| j.as_str()),
            "country": p.country.as_ref().map(|c| c.expose()),
            "roles": p.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
            "status": p.status.as_str(),
            "source": p.source.as_str(),
            "last_sign_in_at": p.last_sign_in_at,
            "created_at": p.created_at,
            "updated_at": p.updated_at,
        })])
    }

    async fn erase(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Outcome, SourceError> {
        scope.require(Scope::PeopleWrite)?;
        let Some(id) = subject.person_id() else {
            return Ok(NOT_A_PERSON);
        };
        let Some(row) = row_of(scope, id).await? else {
            return Ok(Outcome::Anonymised { records: 0 });
        };
        if is_erased(&store::open(scope, row.clone())?) {
            return Ok(Outcome::Anonymised { records: 0 });
        }
        let keys = scope.keys();
        let anonymised = person::ActiveModel {
            name_sealed: Set(keys.seal_str(TABLE, "name", id, ERASED_NAME)),
            username_sealed: Set(None),
            username_index: Set(None),
            email_sealed: Set(None),
            email_index: Set(None),
            phone_sealed: Set(None),
            birth_date_sealed: Set(None),
            jurisdiction_sealed: Set(None),
            country_sealed: Set(None),
            roles: Set(String::new()),
            status: Set(PersonStatus::Deactivated.as_str().to_string()),
            key_version: Set(keys.active_version() as i32),
            revision: Set(row.revision + 1),
            updated_at: Set(Utc::now()),
            ..Default::default()
        };
        person::Entity::update_many()
            .set(anonymised)
            .filter(person::Column::Id.eq(id))
            .exec(scope.db())
            .await?;
        audit(scope, "person.erased", id).await?;
        Ok(Outcome::Anonymised { records: 1 })
    }

    async fn expire(
        &self,
        scope: &TenantScope,
        category: DataCategory,
        cutoff: DateTime<Utc>,
        keep: &[Uuid],
    ) -> Result<Outcome, SourceError> {
        scope.require(Scope::PeopleWrite)?;
        // Only the optional fields of a deactivated person expire: an active person's record
        // is in use, and the name is what every other record of theirs is shown by.
        // Only rows that still hold such a field count: a second run expires nothing.
        let (cleared, still_held) = match category {
            DataCategory::Contact => (
                person::ActiveModel {
                    email_sealed: Set(None),
                    email_index: Set(None),
                    phone_sealed: Set(None),
                    ..Default::default()
                },
                Condition::any()
                    .add(person::Column::EmailSealed.is_not_null())
                    .add(person::Column::PhoneSealed.is_not_null()),
            ),
            DataCategory::Identity => (
                person::ActiveModel {
                    username_sealed: Set(None),
                    username_index: Set(None),
                    birth_date_sealed: Set(None),
                    jurisdiction_sealed: Set(None),
                    country_sealed: Set(None),
                    ..Default::default()
                },
                Condition::any()
                    .add(person::Column::UsernameSealed.is_not_null())
                    .add(person::Column::BirthDateSealed.is_not_null())
                    .add(person::Column::JurisdictionSealed.is_not_null())
                    .add(person::Column::CountrySealed.is_not_null()),
            ),
            _ => {
                return Ok(Outcome::NotApplicable {
                    reason: "people hold only identity and contact data",
                });
            }
        };
        // At most `EXPIRE_BATCH` people a call (the sweeper calls again after a full batch).
        let batch: Vec<Uuid> = person::Entity::find()
            .select_only()
            .column(person::Column::Id)
            .filter(person::Column::Status.eq(PersonStatus::Deactivated.as_str()))
            .filter(person::Column::UpdatedAt.lt(cutoff))
            .filter(person::Column::Id.is_not_in(keep.iter().copied()))
            .filter(still_held)
            .order_by_asc(person::Column::Id)
            .limit(EXPIRE_BATCH)
            .into_tuple()
            .all(scope.db())
            .await?;
        if batch.is_empty() {
            return Ok(Outcome::Anonymised { records: 0 });
        }
        let done = person::Entity::update_many()
            .set(cleared)
            .filter(person::Column::Id.is_in(batch))
            .exec(scope.db())
            .await?;
        Ok(Outcome::Anonymised {
            records: done.rows_affected,
        })
    }

    async fn restrict(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
        restricted: bool,
    ) -> Result<Outcome, SourceError> {
        scope.require(Scope::PeopleWrite)?;
        let Some(id) = subject.person_id() else {
            return Ok(NOT_A_PERSON);
        };
        let status = if restricted {
            PersonStatus::Deactivated
        } else {
            PersonStatus::Active
        };
        let done = person::Entity::update_many()
            .set(person::ActiveModel {
                status: Set(status.as_str().to_string()),
                restricted_at: Set(restricted.then(Utc::now)),
                updated_at: Set(Utc::now()),
                ..Default::default()
            })
            .filter(person::Column::Id.eq(id))
            .exec(scope.db())
            .await?;
        audit(
            scope,
            if restricted {
                "person.restricted"
            } else {
                "person.restriction_lifted"
            },
            id,
        )
        .await?;
        Ok(Outcome::Restricted {
            records: done.rows_affected,
            restricted,
        })
    }
}
