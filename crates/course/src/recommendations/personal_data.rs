//! Learning preferences and the reminders sent as personal data (U3, C2): which topics a
//! person wants recommendations about (classified purpose `personalisation`), and which
//! course reminders they were sent (kind and when; the messages themselves are the
//! outbox's). The topics are sealed under the institution's key.
//!
//! - **Export**: the person's preferences and reminders.
//! - **Erase** deletes both.
//! - **Expire** (category `learning`) deletes preferences not changed and reminders not
//!   sent since the cutoff.
//! - **Restrict**: the restriction is the enrollments source's record
//!   (`learning_restrictions`); preference writes, recommendations and reminders check it,
//!   so nothing is written here.

use super::entity::preference;
use crate::reminders::entity::reminder;
use crate::{ALL_ENROLLMENTS_READ, ALL_ENROLLMENTS_WRITE};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hub_kernel::classification::{DataCategory, FieldClassification, Purpose, RetentionClass};
use hub_tenant::TenantScope;
use hub_tenant::personal_data::{DataSubject, Outcome, PersonalDataSource, SourceError, Summary};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

/// The classified personal fields of this area.
pub const PERSONAL_FIELDS: &[FieldClassification] = &[FieldClassification {
    table: "learning_preferences",
    column: "topics",
    category: DataCategory::Learning,
    purpose: Purpose::Personalisation,
    retention: RetentionClass::CategoryPeriod,
    identifying: true,
    blind_index: false,
    optional: true,
}];

pub struct LearningPreferencesSource;

#[async_trait]
impl PersonalDataSource for LearningPreferencesSource {
    fn name(&self) -> &'static str {
        "learning_preferences"
    }

    fn fields(&self) -> Vec<FieldClassification> {
        PERSONAL_FIELDS.to_vec()
    }

    fn tables(&self) -> &'static [&'static str] {
        &["learning_preferences", "course_reminders"]
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
        let preferences = preference::Entity::find()
            .filter(preference::Column::PersonId.eq(id))
            .count(scope.db())
            .await?;
        let reminders = reminder::Entity::find()
            .filter(reminder::Column::PersonId.eq(id))
            .count(scope.db())
            .await?;
        Ok(Summary {
            records: preferences + reminders,
        })
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
        if let Some(row) = preference::Entity::find_by_id(id).one(scope.db()).await? {
            exported.push(serde_json::json!({
                "record": "learning_preferences",
                "topics": super::service::open_topics(scope, &row)?,
                "updated_at": row.updated_at,
            }));
        }
        for row in reminder::Entity::find()
            .filter(reminder::Column::PersonId.eq(id))
            .order_by_asc(reminder::Column::Id)
            .all(scope.db())
            .await?
        {
            exported.push(serde_json::json!({
                "record": "course_reminder",
                "course_id": row.course_id,
                "kind": row.kind,
                "about": row.subject_id,
                "sent_at": row.sent_at,
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
                reason: "learning preferences are people's",
            });
        };
        let preferences = preference::Entity::delete_many()
            .filter(preference::Column::PersonId.eq(id))
            .exec(scope.db())
            .await?
            .rows_affected;
        let reminders = reminder::Entity::delete_many()
            .filter(reminder::Column::PersonId.eq(id))
            .exec(scope.db())
            .await?
            .rows_affected;
        let records = preferences + reminders;
        hub_tenant::personal_data::audit_erased(scope, "learning_preferences.erased", id, records)
            .await?;
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
        let mut preferences =
            preference::Entity::delete_many().filter(preference::Column::UpdatedAt.lt(cutoff));
        let mut reminders =
            reminder::Entity::delete_many().filter(reminder::Column::SentAt.lt(cutoff));
        if !keep.is_empty() {
            preferences =
                preferences.filter(preference::Column::PersonId.is_not_in(keep.iter().copied()));
            reminders =
                reminders.filter(reminder::Column::PersonId.is_not_in(keep.iter().copied()));
        }
        let records = preferences.exec(scope.db()).await?.rows_affected
            + reminders.exec(scope.db()).await?.rows_affected;
        Ok(Outcome::Deleted { records })
    }

    async fn restrict(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
        restricted: bool,
    ) -> Result<Outcome, SourceError> {
        scope.require(ALL_ENROLLMENTS_WRITE)?;
        if subject.person_id().is_none() {
            return Ok(Outcome::NotApplicable {
                reason: "learning preferences are people's",
            });
        }
        // The enrollments source records the restriction; every use here checks it.
        let records = self.summary(scope, subject).await?.records;
        Ok(Outcome::Restricted {
            records,
            restricted,
        })
    }
}
