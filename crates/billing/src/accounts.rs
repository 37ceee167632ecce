//! The Stripe connected account an institution is paid through (Connect): set by its admin
//! once the institution has finished Stripe's onboarding, kept in the control plane because
//! a webhook event names only the account and must find its institution.

use crate::entities::connected_account;
use crate::error::BillingError;
use crate::{BILLING_MANAGE, BILLING_READ, Billing};
use chrono::{DateTime, Utc};
use hub_kernel::FieldViolation;
use hub_tenant::TenantScope;
use hub_tenant::audit::{self, AuditEvent};
use sea_orm::ActiveValue::Set;
use sea_orm::{ColumnTrait, QueryFilter};
use uuid::Uuid;

/// `acct_` and up to 64 letters and digits, as Stripe's ids are.
pub const ACCOUNT_PATTERN: &str = "^acct_[A-Za-z0-9]{1,64}$";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectedAccount {
    pub stripe_account: String,
    pub connected_at: DateTime<Utc>,
}

pub fn check_account_id(id: &str) -> Result<(), BillingError> {
    let ok = id.strip_prefix("acct_").is_some_and(|rest| {
        (1..=64).contains(&rest.len()) && rest.bytes().all(|b| b.is_ascii_alphanumeric())
    });
    if ok {
        Ok(())
    } else {
        Err(BillingError::Invalid(vec![FieldViolation::new(
            "stripe_account",
            "must be a Stripe account id: acct_ and 1–64 letters or digits",
        )]))
    }
}

impl Billing {
    /// Connects (or replaces) the institution's Stripe account. An account another
    /// institution holds is refused: its events would route there.
    pub async fn connect_account(
        &self,
        scope: &TenantScope,
        stripe_account: &str,
    ) -> Result<ConnectedAccount, BillingError> {
        scope.require(BILLING_MANAGE)?;
        check_account_id(stripe_account)?;
        let taken = self
            .tenancy
            .control_rows_across_tenants::<connected_account::Entity>(|q| {
                q.filter(connected_account::Column::StripeAccount.eq(stripe_account))
            })
            .await?;
        if taken.iter().any(|row| row.tenant_id != scope.tenant_id()) {
            return Err(BillingError::AccountTaken);
        }
        let rows = self
            .tenancy
            .control_rows::<connected_account::Entity>(scope)?;
        let now = Utc::now();
        rows.delete(|q| q).await?;
        rows.insert(connected_account::ActiveModel {
            tenant_id: Set(Uuid::nil()),
            stripe_account: Set(stripe_account.to_string()),
            created_at: Set(now),
        })
        .await
        .map_err(|e| match e {
            hub_tenant::TenantError::Database(db)
                if matches!(
                    db.sql_err(),
                    Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
                ) =>
            {
                BillingError::AccountTaken
            }
            other => other.into(),
        })?;
        audit::record(
            scope,
            AuditEvent::new("billing.account_connected")
                .subject(format!("stripe_account:{stripe_account}")),
        )
        .await?;
        Ok(ConnectedAccount {
            stripe_account: stripe_account.to_string(),
            connected_at: now,
        })
    }

    /// The institution's connected account, if it has one.
    pub async fn connected_account(
        &self,
        scope: &TenantScope,
    ) -> Result<Option<ConnectedAccount>, BillingError> {
        scope.require(BILLING_READ)?;
        self.account_of(scope).await
    }

    pub(crate) async fn account_of(
        &self,
        scope: &TenantScope,
    ) -> Result<Option<ConnectedAccount>, BillingError> {
        let rows = self
            .tenancy
            .control_rows::<connected_account::Entity>(scope)?;
        Ok(rows.find_one(|q| q).await?.map(|row| ConnectedAccount {
            stripe_account: row.stripe_account,
            connected_at: row.created_at,
        }))
    }

    /// The institution a connected account belongs to.
    pub(crate) async fn tenant_of_account(
        &self,
        stripe_account: &str,
    ) -> Result<Option<Uuid>, BillingError> {
        Ok(self
            .tenancy
            .control_rows_across_tenants::<connected_account::Entity>(|q| {
                q.filter(connected_account::Column::StripeAccount.eq(stripe_account))
            })
            .await?
            .first()
            .map(|row| row.tenant_id))
    }
}

/// The scope's institution's connected account, for the personal-data source.
pub(crate) async fn account_for_erasure(
    tenancy: &hub_tenant::Tenancy,
    scope: &TenantScope,
) -> Result<Option<String>, hub_tenant::TenantError> {
    let rows = tenancy.control_rows::<connected_account::Entity>(scope)?;
    Ok(rows.find_one(|q| q).await?.map(|row| row.stripe_account))
}
