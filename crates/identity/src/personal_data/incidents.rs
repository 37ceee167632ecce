//! Incidents (S6): an account-compromise report is security evidence the institution keeps
//! (what happened, when, what was revoked, who resolved it). Erasure keeps each incident and
//! replaces the person in it by a pseudonym: the reporter (`person_id`) and, where the person
//! resolved an incident, `resolved_by` (`pseudonym:<id>`, so a `person:` label always names
//! a person of the institution); the description (the reporter's own words, which may
//! name people) is cleared. A restriction changes nothing here: an incident is only stored
//! and read by the institution's admins, as evidence (Art. 18(2) allows keeping it for legal
//! claims). Expiry never deletes an incident either: the record of what happened stays as
//! security evidence, but once its category's period has passed since it was resolved it is
//! made anonymous: the description cleared, the reporter replaced by a pseudonym of its own
//! (one per incident, so expired incidents do not link to each other) and a person who
//! resolved it by `pseudonym:<id>`. An open incident never expires; an incident naming a
//! person a legal hold keeps (as reporter or resolver) is left as it is. At most
//! `EXPIRE_BATCH` incidents a call, oldest first; a second run finds nothing (an expired
//! incident names no person of the institution and holds no description).

use super::{NOT_A_PERSON, actor_label, audit_erased, person_of, pseudonym};
use crate::entities::{incident, person};
use crate::incidents::{PERSONAL_FIELDS, TABLE};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hub_kernel::classification::{DataCategory, FieldClassification};
use hub_tenant::personal_data::{
    DataSubject, EXPIRE_BATCH, Outcome, PersonalDataSource, SourceError, Summary, pseudonym_label,
};
use hub_tenant::{Scope, TenantScope};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
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
                Expr::value(pseudonym_label(stand_in)),
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
        let kept_labels: Vec<String> = keep.iter().map(|p| actor_label(*p)).collect();
        let people = Query::select()
            .column(person::Column::Id)
            .from(person::Entity)
            .to_owned();
        // Still holds something of a person: a description, a reporter who is a person of the
        // institution, or a resolver named as one.
        let still_held = Condition::any()
            .add(incident::Column::DescriptionSealed.is_not_null())
            .add(incident::Column::PersonId.in_subquery(people))
            .add(incident::Column::ResolvedBy.like("person:%"));
        let batch = incident::Entity::find()
            .filter(incident::Column::ResolvedAt.lt(cutoff))
            .filter(incident::Column::PersonId.is_not_in(keep.iter().copied()))
            .filter(
                Condition::any()
                    .add(incident::Column::ResolvedBy.is_null())
                    .add(incident::Column::ResolvedBy.is_not_in(kept_labels)),
            )
            .filter(still_held)
            .order_by_asc(incident::Column::ResolvedAt)
            .limit(EXPIRE_BATCH)
            .all(scope.db())
            .await?;
        let mut records = 0;
        for row in batch {
            let resolved_by = match row.resolved_by {
                Some(by) if by.starts_with("person:") => Some(pseudonym_label(pseudonym())),
                other => other,
            };
            records += incident::Entity::update_many()
                .col_expr(incident::Column::PersonId, Expr::value(pseudonym()))
                .col_expr(incident::Column::ResolvedBy, Expr::value(resolved_by))
                .col_expr(
                    incident::Column::DescriptionSealed,
                    Expr::value(Option::<Vec<u8>>::None),
                )
                .filter(incident::Column::Id.eq(row.id))
                .exec(scope.db())
                .await?
                .rows_affected;
        }
        Ok(Outcome::Anonymised { records })
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
