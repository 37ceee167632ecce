//! Identity's side of the privacy ports ([`hub_tenant::personal_data::SubjectDirectory`],
//! [`hub_tenant::personal_data::EssentialMessages`]): the privacy service finds people and
//! sends them essential messages through these, knowing nothing of this crate. The gateway
//! builds them ([`crate::Identity::privacy_ports`]) and hands them to `hub-privacy-addenda`.

use crate::entities::person;
use crate::error::IdentityError;
use crate::outbox::{self, MessagePurpose, NewMessage};
use crate::people::{self, PersonStatus, store};
use crate::roles::{Role, roles_from_text};
use hub_kernel::Pii;
use hub_kernel::problem::Violations;
use hub_tenant::audit::{self, AuditEvent};
use hub_tenant::personal_data::{
    CorrectableField, Correction, CorrectionError, DataSubject, EssentialMessage,
    EssentialMessages, SourceError, SubjectDirectory, SubjectRecord,
};
use hub_tenant::{Tenancy, TenantScope};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use std::sync::Arc;
use uuid::Uuid;

/// People of the tenant, as data subjects.
pub struct PeopleDirectory;

#[async_trait::async_trait]
impl SubjectDirectory for PeopleDirectory {
    async fn person(
        &self,
        scope: &TenantScope,
        id: Uuid,
    ) -> Result<Option<SubjectRecord>, SourceError> {
        let Some(row) = person::Entity::find_by_id(id).one(scope.db()).await? else {
            return Ok(None);
        };
        let person = store::open(scope, row)?;
        Ok(Some(SubjectRecord {
            subject: DataSubject::person(person.id, person.email.iter().cloned().collect()),
            display_name: person.name.clone(),
            active: person.status == PersonStatus::Active,
            jurisdiction: person.jurisdiction,
        }))
    }

    async fn people(
        &self,
        scope: &TenantScope,
        after: Option<Uuid>,
        limit: u64,
    ) -> Result<Vec<Uuid>, SourceError> {
        let mut query = person::Entity::find()
            .select_only()
            .column(person::Column::Id)
            .filter(person::Column::Status.eq(PersonStatus::Active.as_str()))
            .order_by_asc(person::Column::Id)
            .limit(limit);
        if let Some(after) = after {
            query = query.filter(person::Column::Id.gt(after));
        }
        Ok(query.into_tuple::<Uuid>().all(scope.db()).await?)
    }

    async fn privacy_officers(&self, scope: &TenantScope) -> Result<Vec<Uuid>, SourceError> {
        // Roles are a space-separated list: narrowed in SQL, decided on the parsed list.
        let rows = person::Entity::find()
            .filter(person::Column::Status.eq(PersonStatus::Active.as_str()))
            .filter(
                sea_orm::Condition::any()
                    .add(person::Column::Roles.contains(Role::PrivacyOfficer.as_str()))
                    .add(person::Column::Roles.contains(Role::TenantAdmin.as_str())),
            )
            .order_by_asc(person::Column::Id)
            .all(scope.db())
            .await?;
        let holding = |role: Role| -> Vec<Uuid> {
            rows.iter()
                .filter(|r| roles_from_text(&r.roles).contains(&role))
                .map(|r| r.id)
                .collect()
        };
        let officers = holding(Role::PrivacyOfficer);
        Ok(if officers.is_empty() {
            holding(Role::TenantAdmin)
        } else {
            officers
        })
    }

    /// The rules people's records apply to these fields (the admin API's and the IdP's).
    fn check_correction(&self, field: CorrectableField, value: &str) -> Result<(), String> {
        let mut v = Violations::new();
        match field {
            CorrectableField::Email => hub_tenant::contacts::check_email(&mut v, value),
            CorrectableField::Username => store::check_username(&mut v, value.trim()),
        }
        v.finish().map_err(|violations| {
            violations
                .into_iter()
                .map(|f| f.message)
                .collect::<Vec<_>>()
                .join("; ")
        })
    }

    /// Through [`people::replace_data`], the path the IdP's changes take: validated again,
    /// unique within the institution, refused while the person is restricted, written as a
    /// new revision; audited as `person.rectified` (which fields, not their values).
    async fn correct(
        &self,
        scope: &TenantScope,
        id: Uuid,
        corrections: &[Correction],
    ) -> Result<(), CorrectionError> {
        let refused = |e: IdentityError| match e {
            IdentityError::NotFound(_) => CorrectionError::NotFound,
            IdentityError::Conflict(message) => CorrectionError::Conflict(message),
            IdentityError::RevisionMismatch { .. } => CorrectionError::Conflict(
                "the person's record changed meanwhile: decide again".into(),
            ),
            IdentityError::PersonRestricted => CorrectionError::Restricted,
            IdentityError::Invalid(violations) => CorrectionError::Invalid(
                violations
                    .into_iter()
                    .map(|f| format!("{}: {}", f.field, f.message))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            other => CorrectionError::Failed(Box::new(other)),
        };
        let current = people::load(scope, id).await.map_err(refused)?;
        let mut data = people::data_of(&current);
        for correction in corrections {
            let value = Some(Pii::new(correction.value.expose().trim().to_string()));
            match correction.field {
                CorrectableField::Email => data.email = value,
                CorrectableField::Username => data.username = value,
            }
        }
        people::replace_data(scope, &current, &data)
            .await
            .map_err(refused)?;
        audit::record(
            scope,
            AuditEvent::new("person.rectified")
                .person(id)
                .detail(serde_json::json!({
                    "fields": corrections.iter().map(|c| c.field.as_str()).collect::<Vec<_>>(),
                })),
        )
        .await
        .map_err(|e| CorrectionError::Failed(Box::new(e)))?;
        Ok(())
    }
}

/// Essential messages through the outbox, to the person's email (or in-app when they have
/// none), in the caller's transaction.
pub struct OutboxMessages {
    pub(crate) tenancy: Arc<Tenancy>,
}

#[async_trait::async_trait]
impl EssentialMessages for OutboxMessages {
    async fn send(
        &self,
        scope: &TenantScope,
        person_id: Uuid,
        message: EssentialMessage,
    ) -> Result<(), SourceError> {
        let row = person::Entity::find_by_id(person_id)
            .one(scope.db())
            .await?
            .ok_or("no such person")?;
        let person = store::open(scope, row)?;
        let email = person.email.as_ref().map(|e| e.expose().clone());
        outbox::queue(
            &self.tenancy,
            scope,
            NewMessage {
                kind: message.kind,
                purpose: MessagePurpose::Essential,
                person_id,
                email: email.as_deref(),
                subject: &message.subject,
                text: &message.body,
            },
        )
        .await?;
        Ok(())
    }

    async fn send_to_address(
        &self,
        scope: &TenantScope,
        person_id: Uuid,
        address: Option<&Pii<String>>,
        message: EssentialMessage,
    ) -> Result<(), SourceError> {
        outbox::queue_forgetting_recipient(
            &self.tenancy,
            scope,
            NewMessage {
                kind: message.kind,
                purpose: MessagePurpose::Essential,
                person_id,
                email: address.map(|a| a.expose().as_str()),
                subject: &message.subject,
                text: &message.body,
            },
        )
        .await?;
        Ok(())
    }
}
