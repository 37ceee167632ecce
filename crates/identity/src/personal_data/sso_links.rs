//! SSO links (`person_identities`): which subject of which IdP connection is the person. The
//! subject is exported opened from its seal (a link older than the sealed column has only its
//! blind index, exported as `null`). Erasure deletes the links: after it the IdP's subject
//! leads to nobody. A restriction keeps them: the people source deactivates the person, and
//! an SSO sign-in of a deactivated person is refused before any session opens; without the
//! link the IdP's next sign-in would make a new person instead of being refused.

use super::{NOT_A_PERSON, audit_erased, person_of};
use crate::entities::person_identity;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hub_kernel::classification::{DataCategory, FieldClassification};
use hub_tenant::personal_data::{DataSubject, Outcome, PersonalDataSource, SourceError, Summary};
use hub_tenant::{Scope, TenantScope};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use uuid::Uuid;

const TABLE: &str = "person_identities";

pub struct SsoLinksSource;

#[async_trait]
impl PersonalDataSource for SsoLinksSource {
    fn name(&self) -> &'static str {
        "sso_links"
    }

    fn fields(&self) -> Vec<FieldClassification> {
        crate::SSO_LINK_FIELDS.to_vec()
    }

    fn tables(&self) -> &'static [&'static str] {
        &[TABLE]
    }

    fn recipients(&self) -> &'static [&'static str] {
        &["the institution's identity provider (OpenID Connect or SAML)"]
    }

    async fn summary(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Summary, SourceError> {
        let Some(id) = person_of(scope, subject, Scope::PeopleRead)? else {
            return Ok(Summary { records: 0 });
        };
        let records = person_identity::Entity::find()
            .filter(person_identity::Column::PersonId.eq(id))
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
        for link in person_identity::Entity::find()
            .filter(person_identity::Column::PersonId.eq(id))
            .all(scope.db())
            .await?
        {
            let subject = link
                .subject_sealed
                .as_deref()
                .map(|s| scope.keys().open_str(TABLE, "subject", link.id, s))
                .transpose()?;
            exported.push(serde_json::json!({
                "id": link.id,
                "connection_id": link.connection_id,
                "subject": subject,
                "created_at": link.created_at,
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
        let records = person_identity::Entity::delete_many()
            .filter(person_identity::Column::PersonId.eq(id))
            .exec(scope.db())
            .await?
            .rows_affected;
        audit_erased(scope, "sso_link.erased", id, records).await?;
        Ok(Outcome::Deleted { records })
    }

    async fn expire(
        &self,
        scope: &TenantScope,
        _category: DataCategory,
        _cutoff: DateTime<Utc>,
        _keep: &[Uuid],
    ) -> Result<Outcome, SourceError> {
        scope.require(Scope::PeopleWrite)?;
        Ok(Outcome::NotApplicable {
            reason: "an SSO link lives as long as the person's record, while the institution is a customer",
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
            reason: "the people source deactivates the person, and SSO sign-in refuses a \
                     deactivated person; the link stays so the IdP's next sign-in is refused",
        })
    }
}
