//! Local accounts: the person's password credential (`local_credentials`) and their password
//! resets (`password_resets`). Neither holds a readable secret (an Argon2id hash, a SHA-256
//! hash of the code) and neither is exported as one: the export says the password is set and
//! when things happened. Erasure deletes both. A restriction needs nothing here: the people
//! source deactivates the person, and a deactivated person's password opens no session and
//! asks for no reset code (wrong passwords still count towards the lockout, a security
//! measure). Expiry removes reset codes past their use.

use super::{NOT_A_PERSON, audit_erased, person_of};
use crate::entities::{local_credential, password_reset};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hub_kernel::classification::{DataCategory, FieldClassification};
use hub_tenant::personal_data::{
    DataSubject, EXPIRE_BATCH, Outcome, PersonalDataSource, SourceError, Summary,
};
use hub_tenant::{Scope, TenantScope};
use sea_orm::{ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

pub struct LocalAccountsSource;

#[async_trait]
impl PersonalDataSource for LocalAccountsSource {
    fn name(&self) -> &'static str {
        "local_accounts"
    }

    /// No sealed or indexed column: a hash is not the person's data in readable form.
    fn fields(&self) -> Vec<FieldClassification> {
        Vec::new()
    }

    fn tables(&self) -> &'static [&'static str] {
        &["local_credentials", "password_resets"]
    }

    /// Used or lapsed reset codes name the person who asked: they age out as identity data.
    fn expiring_categories(&self) -> Vec<DataCategory> {
        vec![DataCategory::Identity]
    }

    async fn summary(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Summary, SourceError> {
        let Some(id) = person_of(scope, subject, Scope::PeopleRead)? else {
            return Ok(Summary { records: 0 });
        };
        let credentials = local_credential::Entity::find_by_id(id)
            .count(scope.db())
            .await?;
        let resets = password_reset::Entity::find()
            .filter(password_reset::Column::PersonId.eq(id))
            .count(scope.db())
            .await?;
        Ok(Summary {
            records: credentials + resets,
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
        if let Some(c) = local_credential::Entity::find_by_id(id)
            .one(scope.db())
            .await?
        {
            exported.push(serde_json::json!({
                "record": "password",
                "password": "set",
                "changed_at": c.changed_at,
                "failed_attempts": c.failed_attempts,
                "locked_until": c.locked_until,
                "reset_required_at": c.reset_required_at,
            }));
        }
        for r in password_reset::Entity::find()
            .filter(password_reset::Column::PersonId.eq(id))
            .all(scope.db())
            .await?
        {
            exported.push(serde_json::json!({
                "record": "password_reset",
                "created_at": r.created_at,
                "expires_at": r.expires_at,
                "used_at": r.used_at,
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
        let credentials = local_credential::Entity::delete_many()
            .filter(local_credential::Column::PersonId.eq(id))
            .exec(scope.db())
            .await?
            .rows_affected;
        let resets = password_reset::Entity::delete_many()
            .filter(password_reset::Column::PersonId.eq(id))
            .exec(scope.db())
            .await?
            .rows_affected;
        let records = credentials + resets;
        audit_erased(scope, "local_account.erased", id, records).await?;
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
                reason: "local accounts hold only identity data",
            });
        }
        // A credential is in use while the person is; a reset code past its use is not.
        // At most `EXPIRE_BATCH` a call (the sweeper calls again after a full batch).
        let batch: Vec<String> = password_reset::Entity::find()
            .select_only()
            .column(password_reset::Column::TokenHash)
            .filter(password_reset::Column::CreatedAt.lt(cutoff))
            .filter(
                Condition::any()
                    .add(password_reset::Column::UsedAt.is_not_null())
                    .add(password_reset::Column::ExpiresAt.lt(Utc::now())),
            )
            .filter(password_reset::Column::PersonId.is_not_in(keep.iter().copied()))
            .limit(EXPIRE_BATCH)
            .into_tuple()
            .all(scope.db())
            .await?;
        if batch.is_empty() {
            return Ok(Outcome::Deleted { records: 0 });
        }
        let done = password_reset::Entity::delete_many()
            .filter(password_reset::Column::TokenHash.is_in(batch))
            .exec(scope.db())
            .await?;
        Ok(Outcome::Deleted {
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
            reason: "the people source deactivates and marks the person: their password \
                     opens only a session reaching their own record and asks for no reset code",
        })
    }
}
