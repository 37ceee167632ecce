//! What SCIM keeps about a person beside the people record: the user mapping (`scim_users`:
//! the IdP's `externalId`, sealed, and the `primary` marks), the person's group memberships
//! (`scim_group_members`) and the mark that the IdP deprovisioned them
//! (`scim_deprovisioned`). Erasure deletes all three; SCIM then answers 404 to a read or
//! write of the anonymised record (`people::is_erased`), so the IdP cannot write the person
//! back into it (a listing still shows the shell: inactive, no userName, the erased name).
//! Restriction needs nothing here: the people source deactivates the person and marks them
//! restricted, and a SCIM PATCH or PUT with `active: true` leaves a restricted person
//! deactivated (its answer says `active: false`) until the restriction is lifted. Expiry
//! clears the `externalId` of people the IdP deprovisioned before the cutoff.

use super::{NOT_A_PERSON, audit_erased, person_of};
use crate::entities::{scim_deprovisioned, scim_group, scim_group_member, scim_user};
use crate::scim::users::{PERSONAL_FIELDS, TABLE};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hub_kernel::classification::{DataCategory, FieldClassification};
use hub_tenant::personal_data::{DataSubject, Outcome, PersonalDataSource, SourceError, Summary};
use hub_tenant::{Scope, TenantScope};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use uuid::Uuid;

pub struct ScimSource;

#[async_trait]
impl PersonalDataSource for ScimSource {
    fn name(&self) -> &'static str {
        "scim"
    }

    fn fields(&self) -> Vec<FieldClassification> {
        PERSONAL_FIELDS.to_vec()
    }

    fn tables(&self) -> &'static [&'static str] {
        &[TABLE, "scim_group_members", "scim_deprovisioned"]
    }

    fn recipients(&self) -> &'static [&'static str] {
        &["the institution's identity provider (SCIM client)"]
    }

    async fn summary(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Summary, SourceError> {
        let Some(id) = person_of(scope, subject, Scope::PeopleRead)? else {
            return Ok(Summary { records: 0 });
        };
        let user = scim_user::Entity::find_by_id(id).count(scope.db()).await?;
        let groups = scim_group_member::Entity::find()
            .filter(scim_group_member::Column::PersonId.eq(id))
            .count(scope.db())
            .await?;
        let deprovisioned = scim_deprovisioned::Entity::find_by_id(id)
            .count(scope.db())
            .await?;
        Ok(Summary {
            records: user + groups + deprovisioned,
        })
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
        if let Some(row) = scim_user::Entity::find_by_id(id).one(scope.db()).await? {
            let external_id = row
                .external_id_sealed
                .as_deref()
                .map(|s| scope.keys().open_str(TABLE, "external_id", id, s))
                .transpose()?;
            exported.push(serde_json::json!({
                "record": "scim_user",
                "external_id": external_id,
                "email_primary": row.email_primary,
                "phone_primary": row.phone_primary,
            }));
        }
        let groups: Vec<Uuid> = scim_group_member::Entity::find()
            .filter(scim_group_member::Column::PersonId.eq(id))
            .all(scope.db())
            .await?
            .into_iter()
            .map(|m| m.group_id)
            .collect();
        for group in scim_group::Entity::find()
            .filter(scim_group::Column::Id.is_in(groups))
            .all(scope.db())
            .await?
        {
            exported.push(serde_json::json!({
                "record": "group_membership",
                "group_id": group.id,
                "group": group.display_name,
            }));
        }
        if let Some(row) = scim_deprovisioned::Entity::find_by_id(id)
            .one(scope.db())
            .await?
        {
            exported.push(serde_json::json!({
                "record": "deprovisioned",
                "deprovisioned_at": row.deprovisioned_at,
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
        let db = scope.db();
        let user = scim_user::Entity::delete_many()
            .filter(scim_user::Column::PersonId.eq(id))
            .exec(db)
            .await?
            .rows_affected;
        let groups = scim_group_member::Entity::delete_many()
            .filter(scim_group_member::Column::PersonId.eq(id))
            .exec(db)
            .await?
            .rows_affected;
        let deprovisioned = scim_deprovisioned::Entity::delete_many()
            .filter(scim_deprovisioned::Column::PersonId.eq(id))
            .exec(db)
            .await?
            .rows_affected;
        let records = user + groups + deprovisioned;
        audit_erased(scope, "scim_user.erased", id, records).await?;
        Ok(Outcome::Deleted { records })
    }

    async fn expire(
        &self,
        scope: &TenantScope,
        category: DataCategory,
        cutoff: DateTime<Utc>,
        keep: &[Uuid],
    ) -> Result<Outcome, SourceError> {
        scope.require(Scope::PeopleWrite)?;
        if category != DataCategory::Identity {
            return Ok(Outcome::NotApplicable {
                reason: "SCIM keeps only identity data beside the people record",
            });
        }
        let gone_before = Query::select()
            .column(scim_deprovisioned::Column::PersonId)
            .from(scim_deprovisioned::Entity)
            .and_where(scim_deprovisioned::Column::DeprovisionedAt.lt(cutoff))
            .to_owned();
        let done = scim_user::Entity::update_many()
            .col_expr(
                scim_user::Column::ExternalIdSealed,
                Expr::value(Option::<Vec<u8>>::None),
            )
            .filter(scim_user::Column::ExternalIdSealed.is_not_null())
            .filter(scim_user::Column::PersonId.in_subquery(gone_before))
            .filter(scim_user::Column::PersonId.is_not_in(keep.iter().copied()))
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
            reason: "the people source deactivates and marks the person, and SCIM does not \
                     reactivate a restricted person",
        })
    }
}
