//! Certificates as personal data (C3: learning records, issued to the learner, U1).
//!
//! - **Export**: each certificate with its credential (the VC-JWT), share settings and
//!   revocation (the reason too: it is about the learner).
//! - **Erase** deletes the person's certificates (a certificate is the learner's own
//!   record): their verification then answers not valid, `unknown_certificate`. Where the
//!   person revoked someone's certificate, `revoked_by` is pseudonymised.
//! - **Expire** (category `learning`) deletes certificates issued before the cutoff.
//! - **Restrict**: the restriction is the enrollments source's record; issuing checks it,
//!   so no certificate is issued while it lasts. Nothing is written here.

use super::entity as certificate;
use super::service::CERTIFICATES;
use crate::{ALL_ENROLLMENTS_READ, ALL_ENROLLMENTS_WRITE};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hub_kernel::classification::{DataCategory, FieldClassification, Purpose, RetentionClass};
use hub_tenant::TenantScope;
use hub_tenant::personal_data::{
    DataSubject, EXPIRE_BATCH, Outcome, PersonalDataSource, SourceError, Summary,
    pseudonymise_references,
};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

pub const PERSONAL_FIELDS: &[FieldClassification] = &[
    FieldClassification {
        table: CERTIFICATES,
        column: "credential",
        category: DataCategory::Learning,
        purpose: Purpose::ServiceDelivery,
        retention: RetentionClass::CategoryPeriod,
        identifying: true,
        blind_index: false,
        optional: false,
    },
    FieldClassification {
        table: CERTIFICATES,
        column: "revocation_reason",
        category: DataCategory::Learning,
        purpose: Purpose::ServiceDelivery,
        retention: RetentionClass::CategoryPeriod,
        identifying: true,
        blind_index: false,
        optional: true,
    },
];

const ACTOR_COLUMNS: &[(&str, &str)] = &[(CERTIFICATES, "revoked_by")];

fn open(
    scope: &TenantScope,
    column: &'static str,
    id: Uuid,
    sealed: &[u8],
) -> Result<String, SourceError> {
    scope
        .keys()
        .open_str(CERTIFICATES, column, id, sealed)
        .map_err(|e| Box::new(hub_tenant::TenantError::from(e)) as SourceError)
}

pub struct CertificatesSource;

#[async_trait]
impl PersonalDataSource for CertificatesSource {
    fn name(&self) -> &'static str {
        "certificates"
    }

    fn fields(&self) -> Vec<FieldClassification> {
        PERSONAL_FIELDS.to_vec()
    }

    fn tables(&self) -> &'static [&'static str] {
        &[CERTIFICATES]
    }

    fn expiring_categories(&self) -> Vec<DataCategory> {
        vec![DataCategory::Learning]
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
        let records = certificate::Entity::find()
            .filter(certificate::Column::PersonId.eq(id))
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
        let mut exported = Vec::new();
        for row in certificate::Entity::find()
            .filter(certificate::Column::PersonId.eq(id))
            .order_by_asc(certificate::Column::Id)
            .all(scope.db())
            .await?
        {
            let reason = match &row.revocation_reason_sealed {
                Some(sealed) => Some(open(scope, "revocation_reason", row.id, sealed)?),
                None => None,
            };
            exported.push(serde_json::json!({
                "record": "certificate",
                "certificate_id": row.id,
                "course_id": row.course_id,
                "issued_at": row.issued_at,
                "credential": open(scope, "credential", row.id, &row.credential_sealed)?,
                "verification_id": row.verification_id,
                "sharing": {
                    "course": row.share_course,
                    "issued_at": row.share_issued_at,
                    "learner": row.share_learner,
                },
                "revoked_at": row.revoked_at,
                "revocation_reason": reason,
            }));
        }
        Ok(exported)
    }

    async fn erase(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Outcome, SourceError> {
        scope.require(ALL_ENROLLMENTS_WRITE)?;
        let Some(id) = subject.person_id() else {
            return Ok(Outcome::NotApplicable {
                reason: "certificates are people's",
            });
        };
        let deleted = certificate::Entity::delete_many()
            .filter(certificate::Column::PersonId.eq(id))
            .exec(scope.db())
            .await?
            .rows_affected;
        let made = pseudonymise_references(scope, ACTOR_COLUMNS, id).await?;
        let records = deleted + made;
        hub_tenant::personal_data::audit_erased(scope, "certificates.erased", id, records).await?;
        Ok(Outcome::Deleted { records })
    }

    async fn expire(
        &self,
        scope: &TenantScope,
        category: DataCategory,
        cutoff: DateTime<Utc>,
        keep: &[Uuid],
    ) -> Result<Outcome, SourceError> {
        scope.require(ALL_ENROLLMENTS_WRITE)?;
        if category != DataCategory::Learning {
            return Ok(Outcome::Deleted { records: 0 });
        }
        let mut old = certificate::Entity::find()
            .select_only()
            .column(certificate::Column::Id)
            .filter(certificate::Column::IssuedAt.lt(cutoff))
            .order_by_asc(certificate::Column::Id)
            .limit(EXPIRE_BATCH);
        if !keep.is_empty() {
            old = old.filter(certificate::Column::PersonId.is_not_in(keep.iter().copied()));
        }
        let ids: Vec<Uuid> = old.into_tuple::<Uuid>().all(scope.db()).await?;
        let mut records = 0;
        if !ids.is_empty() {
            records = certificate::Entity::delete_many()
                .filter(certificate::Column::Id.is_in(ids))
                .exec(scope.db())
                .await?
                .rows_affected;
        }
        Ok(Outcome::Deleted { records })
    }

    async fn restrict(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
        restricted: bool,
    ) -> Result<Outcome, SourceError> {
        scope.require(ALL_ENROLLMENTS_WRITE)?;
        let Some(id) = subject.person_id() else {
            return Ok(Outcome::NotApplicable {
                reason: "certificates are people's",
            });
        };
        // The enrollments source records the restriction; issuing checks it.
        let records = certificate::Entity::find()
            .filter(certificate::Column::PersonId.eq(id))
            .count(scope.db())
            .await?;
        Ok(Outcome::Restricted {
            records,
            restricted,
        })
    }
}
