//! A person's organisational unit as personal data (C3, used to deliver and report on the
//! institution's training: U1). Erase deletes it and pseudonymises the person where they
//! placed others in units; nothing expires (the affiliation is current, not history);
//! a restriction changes nothing here (the enrollments source freezes what it is used for).

use super::entity::affiliation;
use crate::{ALL_ENROLLMENTS_READ, ALL_ENROLLMENTS_WRITE};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hub_kernel::classification::{DataCategory, FieldClassification};
use hub_tenant::TenantScope;
use hub_tenant::personal_data::{
    DataSubject, Outcome, PersonalDataSource, SourceError, Summary, pseudonymise_references,
};
use sea_orm::{EntityTrait, PaginatorTrait};
use uuid::Uuid;

pub struct AffiliationsSource;

#[async_trait]
impl PersonalDataSource for AffiliationsSource {
    fn name(&self) -> &'static str {
        "learner_affiliations"
    }

    /// No sealed column: the table holds a reference to the person and to a unit.
    fn fields(&self) -> Vec<FieldClassification> {
        Vec::new()
    }

    fn tables(&self) -> &'static [&'static str] {
        &["learner_affiliations"]
    }

    async fn summary(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Summary, SourceError> {
        scope.require(ALL_ENROLLMENTS_READ)?;
        let Some(id) = subject.person_id() else {
            return Ok(Summary { records: 0 });
        };
        let records = affiliation::Entity::find_by_id(id)
            .count(scope.db())
            .await?;
        Ok(Summary { records })
    }

    async fn export(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Vec<serde_json::Value>, SourceError> {
        scope.require(ALL_ENROLLMENTS_READ)?;
        let Some(id) = subject.person_id() else {
            return Ok(Vec::new());
        };
        Ok(affiliation::Entity::find_by_id(id)
            .one(scope.db())
            .await?
            .map(|row| {
                vec![serde_json::json!({
                    "record": "org_unit_affiliation",
                    "org_unit_id": row.org_unit_id,
                    "updated_at": row.updated_at,
                })]
            })
            .unwrap_or_default())
    }

    async fn erase(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Outcome, SourceError> {
        scope.require(ALL_ENROLLMENTS_WRITE)?;
        let Some(id) = subject.person_id() else {
            return Ok(Outcome::NotApplicable {
                reason: "affiliations are people's",
            });
        };
        let deleted = affiliation::Entity::delete_by_id(id)
            .exec(scope.db())
            .await?
            .rows_affected;
        let acted =
            pseudonymise_references(scope, &[("learner_affiliations", "assigned_by")], id).await?;
        Ok(Outcome::Deleted {
            records: deleted + acted,
        })
    }

    async fn expire(
        &self,
        scope: &TenantScope,
        _category: DataCategory,
        _cutoff: DateTime<Utc>,
        _keep: &[Uuid],
    ) -> Result<Outcome, SourceError> {
        scope.require(ALL_ENROLLMENTS_WRITE)?;
        Ok(Outcome::NotApplicable {
            reason: "a person's unit is current, not history: it lasts while they are a member",
        })
    }

    async fn restrict(
        &self,
        scope: &TenantScope,
        _subject: &DataSubject,
        _restricted: bool,
    ) -> Result<Outcome, SourceError> {
        scope.require(ALL_ENROLLMENTS_WRITE)?;
        Ok(Outcome::NotApplicable {
            reason: "the enrollments source freezes the learning records the unit is used for",
        })
    }
}
