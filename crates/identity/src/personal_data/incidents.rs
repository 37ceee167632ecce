//! Incidents (S6): an account-compromise report is security evidence the institution keeps
//! (what happened, when, what was revoked, who resolved it). Erasure keeps each incident and
//! replaces the person in it by a pseudonym: the reporter (`person_id`) and, where the person
//! resolved an incident, `resolved_by`; the description (the reporter's own words, which may
//! name people) is cleared. A restriction changes nothing here: an incident is only stored
//! and read by the institution's admins, as evidence (Art. 18(2) allows keeping it for legal
//! claims). Expiry clears the descriptions of incidents resolved before the cutoff.

use super::{NOT_A_PERSON, actor_label, audit_erased, person_of, pseudonym};
use crate::entities::incident;
use crate::incidents::{PERSONAL_FIELDS, TABLE};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hub_kernel::classification::{DataCategory, FieldClassification};
use hub_tenant::personal_data::{DataSubject, Outcome, PersonalDataSource, SourceError, Summary};
use hub_tenant::{Scope, TenantScope};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

pub struct IncidentsSource;

fn of_person(id: Uuid) -> Condition {
    Condition::any()
        .add(incident::Column::PersonId.eq(id))
        .add(incident::Column::ResolvedBy.eq(actor_label(id)))
}

#[async_trait]
impl PersonalDataSource for IncidentsSource {
    fn name(&self) -> &'static str {
        "incidents"
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
        let Some(id) = person_of(scope, subject, Scope::PeopleRead)? else {
            return Ok(Summary { records: 0 });
        };
        let records = incident::Entity::find()
            .filter(of_person(id))
            .count(scope.db())
            .await?;
        Ok(Summary { records })
    }

    async fn export(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Vec<serde_json::Value>, SourceError> {
        let Some(id) = person_of(scope, subject, Scope::PeopleRead)? else {
            return Ok(Vec::new());
        };
        let mut exported = Vec::new();
        for row in incident::Entity::find()
            .filter(of_person(id))
            .order_by_asc(incident::Column::ReportedAt)
            .all(scope.db())
            .await?
        {
            if row.person_id != id {
                // Resolved by the person: what they did, not whose incident it was.
                exported.push(serde_json::json!({
                    "id": row.id,
                    "kind": row.kind,
                    "resolved_by_you_at": row.resolved_at,
                }));
                continue;
            }
            let description = row
                .description_sealed
                .as_deref()
                .map(|s| scope.keys().open_str(TABLE, "description", row.id, s))
                .transpose()?;
            exported.push(serde_json::json!({
                "id": row.id,
                "kind": row.kind,
                "status": row.status,
                "description": description,
                "sessions_revoked": row.sessions_revoked,
                "api_keys_revoked": row.api_keys_revoked,
                "reported_at": row.reported_at,
                "resolved_at": row.resolved_at,
            }));
        }
        Ok(exported)
    }

    async fn erase(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Outcome, SourceError> {
        let Some(id) = person_of(scope, subject, Scope::PeopleWrite)? else {
            return Ok(NOT_A_PERSON);
        };
        let stand_in = pseudonym();
        let reported = incident::Entity::update_many()
            .col_expr(incident::Column::PersonId, Expr::value(stand_in))
            .col_expr(
                incident::Column::DescriptionSealed,
                Expr::value(Option::<Vec<u8>>::None),
            )
            .filter(incident::Column::PersonId.eq(id))
            .exec(scope.db())
            .await?
            .rows_affected;
        let resolved = incident::Entity::update_many()
            .col_expr(
                incident::Column::ResolvedBy,
                Expr::value(actor_label(stand_in)),
            )
            .filter(incident::Column::ResolvedBy.eq(actor_label(id)))
            .exec(scope.db())
            .await?
            .rows_affected;
        let records = reported + resolved;
        audit_erased(scope, "incidents.erased", id, records).await?;
        Ok(Outcome::Anonymised { records })
    }

    async fn expire(
        &self,
        scope: &TenantScope,
        category: DataCategory,
        cutoff: DateTime<Utc>,
        keep: &[Uuid],
    ) -> Result<Outcome, SourceError> {
        scope.require(Scope::PeopleWrite)?;
        if category != DataCategory::Technical {
            return Ok(Outcome::NotApplicable {
                reason: "an incident's only personal field is its description (technical data)",
            });
        }
        let done = incident::Entity::update_many()
            .col_expr(
                incident::Column::DescriptionSealed,
                Expr::value(Option::<Vec<u8>>::None),
            )
            .filter(incident::Column::DescriptionSealed.is_not_null())
            .filter(incident::Column::ResolvedAt.lt(cutoff))
            .filter(incident::Column::PersonId.is_not_in(keep.iter().copied()))
            .exec(scope.db())
            .await?;
        Ok(Outcome::Anonymised {
            records: done.rows_affected,
        })
    }

    async fn restrict(
        &self,
        scope: &TenantScope,
        _subject: &DataSubject,
        _restricted: bool,
    ) -> Result<Outcome, SourceError> {
        scope.require(Scope::PeopleWrite)?;
        Ok(Outcome::NotApplicable {
            reason: "an incident is security evidence, only stored and read by the \
                     institution's admins, which a restriction allows",
        })
    }
}
