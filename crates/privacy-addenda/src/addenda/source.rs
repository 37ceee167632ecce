//! The addenda as a personal-data source: `created_by` and `accepted_by` name the admin who
//! drafted or accepted a version. The addenda are the institution's contractual record, so
//! erasure pseudonymises those references (one fresh pseudonym per erasure) and keeps every
//! version; export lists the versions the person drafted or accepted. Nothing expires by age
//! and a restriction does not apply (the record is not processed about the person).

use super::entities::addendum;
use chrono::{DateTime, Utc};
use hub_kernel::DataCategory;
use hub_kernel::classification::FieldClassification;
use hub_tenant::audit::person_label;
use hub_tenant::personal_data::{
    DataSubject, Outcome, PersonalDataSource, SourceError, Summary, pseudonymise_references,
};
use hub_tenant::{Scope, TenantScope};
use sea_orm::sea_query::Condition;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

pub struct AddendaSource;

const TABLES: &[&str] = &["privacy_addenda"];

fn naming(label: &str) -> Condition {
    Condition::any()
        .add(addendum::Column::CreatedBy.eq(label))
        .add(addendum::Column::AcceptedBy.eq(label))
}

#[async_trait::async_trait]
impl PersonalDataSource for AddendaSource {
    fn name(&self) -> &'static str {
        "privacy_addenda"
    }

    fn fields(&self) -> Vec<FieldClassification> {
        Vec::new()
    }

    fn tables(&self) -> &'static [&'static str] {
        TABLES
    }

    async fn summary(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Summary, SourceError> {
        scope.require(Scope::TenantAdmin)?;
        let Some(person) = subject.person_id() else {
            return Ok(Summary { records: 0 });
        };
        let records = addendum::Entity::find()
            .filter(naming(&person_label(person)))
            .count(scope.db())
            .await?;
        Ok(Summary { records })
    }

    async fn export(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Vec<serde_json::Value>, SourceError> {
        scope.require(Scope::TenantAdmin)?;
        let Some(person) = subject.person_id() else {
            return Ok(Vec::new());
        };
        let label = person_label(person);
        let rows = addendum::Entity::find()
            .filter(naming(&label))
            .order_by_asc(addendum::Column::Version)
            .all(scope.db())
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                serde_json::json!({
                    "version": r.version,
                    "drafted": r.created_by == label,
                    "accepted": r.accepted_by.as_deref() == Some(label.as_str()),
                    "created_at": r.created_at,
                    "accepted_at": r.accepted_at,
                    "kept": "pseudonymised on erasure: the institution's record of its privacy addendum",
                })
            })
            .collect())
    }

    async fn erase(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Outcome, SourceError> {
        scope.require(Scope::TenantAdmin)?;
        let Some(person) = subject.person_id() else {
            return Ok(Outcome::NotApplicable {
                reason: "the addenda name only people",
            });
        };
        let records = pseudonymise_references(
            scope,
            &[
                ("privacy_addenda", "created_by"),
                ("privacy_addenda", "accepted_by"),
            ],
            person,
        )
        .await?;
        Ok(Outcome::Anonymised { records })
    }

    async fn expire(
        &self,
        _scope: &TenantScope,
        _category: DataCategory,
        _cutoff: DateTime<Utc>,
        _keep: &[Uuid],
    ) -> Result<Outcome, SourceError> {
        Ok(Outcome::NotApplicable {
            reason: "the addenda are the institution's contractual record, kept while it is a customer; who drafted or accepted them is pseudonymised when that person is erased",
        })
    }

    async fn restrict(
        &self,
        _scope: &TenantScope,
        _subject: &DataSubject,
        _restricted: bool,
    ) -> Result<Outcome, SourceError> {
        Ok(Outcome::NotApplicable {
            reason: "the addenda are not processed about the people who drafted or accepted them",
        })
    }
}
