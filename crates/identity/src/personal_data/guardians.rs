//! Guardian consents (A1): who was asked to consent for a minor (the guardian's address,
//! sealed), when, and whether they confirmed. They are the minor's records (the evidence
//! that consent was verified) and the guardian's (their address). Erasure of either
//! deletes the rows (the minor is then a minor without guardian consent again, so the
//! consent gate refuses every consentable purpose); expiry deletes those asked for before
//! the cutoff, except a held person's; a restriction changes nothing here (nothing is
//! processed from these rows but the gate's answer, which a restriction already refuses).

use super::{NOT_A_PERSON, audit_erased, person_of};
use crate::entities::guardian_consent;
use crate::minors::GUARDIAN_CONSENTS_TABLE;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hub_kernel::classification::{DataCategory, FieldClassification, Purpose, RetentionClass};
use hub_tenant::personal_data::{DataSubject, Outcome, PersonalDataSource, SourceError, Summary};
use hub_tenant::{Scope, TenantScope};
use sea_orm::{ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

/// Kept as evidence that a guardian's consent was verified (GDPR Art. 8(2)).
pub const PERSONAL_FIELDS: &[FieldClassification] = &[FieldClassification {
    table: GUARDIAN_CONSENTS_TABLE,
    column: "guardian_email",
    category: DataCategory::Contact,
    purpose: Purpose::LegalObligation,
    retention: RetentionClass::CategoryPeriod,
    identifying: true,
    blind_index: false,
    optional: false,
}];

pub struct GuardianConsentsSource;

fn of_person(id: Uuid) -> Condition {
    Condition::any()
        .add(guardian_consent::Column::MinorPersonId.eq(id))
        .add(guardian_consent::Column::GuardianPersonId.eq(id))
}

#[async_trait]
impl PersonalDataSource for GuardianConsentsSource {
    fn name(&self) -> &'static str {
        "guardian_consents"
    }

    fn fields(&self) -> Vec<FieldClassification> {
        PERSONAL_FIELDS.to_vec()
    }

    fn tables(&self) -> &'static [&'static str] {
        &[GUARDIAN_CONSENTS_TABLE]
    }

    fn recipients(&self) -> &'static [&'static str] {
        &["the guardian named (the consent request is mailed to them)"]
    }

    async fn summary(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Summary, SourceError> {
        let Some(id) = person_of(scope, subject, Scope::PeopleRead)? else {
            return Ok(Summary { records: 0 });
        };
        let records = guardian_consent::Entity::find()
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
        for row in guardian_consent::Entity::find()
            .filter(of_person(id))
            .order_by_asc(guardian_consent::Column::Id)
            .all(scope.db())
            .await?
        {
            let email = scope.keys().open_str(
                GUARDIAN_CONSENTS_TABLE,
                "guardian_email",
                row.id,
                &row.guardian_email_sealed,
            )?;
            exported.push(serde_json::json!({
                "id": row.id,
                "minor_person_id": row.minor_person_id,
                "guardian_email": email,
                "requested_at": row.requested_at,
                "expires_at": row.expires_at,
                "confirmed_at": row.confirmed_at,
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
        let records = guardian_consent::Entity::delete_many()
            .filter(of_person(id))
            .exec(scope.db())
            .await?
            .rows_affected;
        audit_erased(scope, "guardian_consents.erased", id, records).await?;
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
        if category != DataCategory::Contact {
            return Ok(Outcome::NotApplicable {
                reason: "a guardian consent's only personal field is the guardian's address",
            });
        }
        let records = guardian_consent::Entity::delete_many()
            .filter(guardian_consent::Column::RequestedAt.lt(cutoff))
            .filter(guardian_consent::Column::MinorPersonId.is_not_in(keep.iter().copied()))
            .exec(scope.db())
            .await?
            .rows_affected;
        Ok(Outcome::Deleted { records })
    }

    async fn restrict(
        &self,
        _scope: &TenantScope,
        _subject: &DataSubject,
        _restricted: bool,
    ) -> Result<Outcome, SourceError> {
        Ok(Outcome::NotApplicable {
            reason: "nothing is processed from a guardian consent but the consent gate's \
                     answer, which a restriction already refuses",
        })
    }
}
