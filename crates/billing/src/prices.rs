//! What each course costs a learner: an amount in the currency's minor units, set by the
//! institution's admins. A course without a price is not for sale (enrollment stays as the
//! learning crate rules it).

use crate::entities::course_price;
use crate::error::BillingError;
use crate::money;
use crate::{BILLING_MANAGE, Billing};
use chrono::{DateTime, Utc};
use hub_kernel::problem::Violations;
use hub_tenant::audit::{self, AuditEvent};
use hub_tenant::{Scope, TenantScope};
use sea_orm::ActiveValue::Set;
use sea_orm::EntityTrait;
use sea_orm::sea_query::OnConflict;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoursePrice {
    pub course_id: Uuid,
    pub amount: i64,
    pub currency: String,
    pub updated_at: DateTime<Utc>,
}

fn from_row(row: course_price::Model) -> CoursePrice {
    CoursePrice {
        course_id: row.course_id,
        amount: row.amount,
        currency: row.currency,
        updated_at: row.updated_at,
    }
}

impl Billing {
    pub async fn set_price(
        &self,
        scope: &TenantScope,
        course_id: Uuid,
        amount: i64,
        currency: &str,
    ) -> Result<CoursePrice, BillingError> {
        scope.require(BILLING_MANAGE)?;
        let mut v = Violations::new();
        if let Err(e) = money::check_currency("currency", currency) {
            v.add(e.field, e.message);
        } else if let Err(e) = money::check_amount("amount", amount, currency) {
            v.add(e.field, e.message);
        }
        v.finish().map_err(BillingError::Invalid)?;
        let sales = self.tenancy.course_sales()?;
        if sales
            .course_title(&self.tenancy, scope, course_id)
            .await?
            .is_none()
        {
            return Err(BillingError::CourseNotForSale);
        }
        let now = Utc::now();
        course_price::Entity::insert(course_price::ActiveModel {
            course_id: Set(course_id),
            amount: Set(amount),
            currency: Set(currency.to_string()),
            updated_at: Set(now),
        })
        .on_conflict(
            OnConflict::column(course_price::Column::CourseId)
                .update_columns([
                    course_price::Column::Amount,
                    course_price::Column::Currency,
                    course_price::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(scope.db())
        .await?;
        audit::record(
            scope,
            AuditEvent::new("billing.price_set")
                .subject(format!("course:{course_id}"))
                .detail(serde_json::json!({"amount": amount, "currency": currency})),
        )
        .await?;
        Ok(CoursePrice {
            course_id,
            amount,
            currency: currency.to_string(),
            updated_at: now,
        })
    }

    /// A course's price (`None`: not for sale); anyone who may read courses may read it. An
    /// unknown course is `CourseNotForSale`.
    pub async fn price(
        &self,
        scope: &TenantScope,
        course_id: Uuid,
    ) -> Result<Option<CoursePrice>, BillingError> {
        scope.require(Scope::CoursesRead)?;
        if self
            .tenancy
            .course_sales()?
            .course_title(&self.tenancy, scope, course_id)
            .await?
            .is_none()
        {
            return Err(BillingError::CourseNotForSale);
        }
        price_of(scope, course_id).await
    }

    /// Takes a course off sale; `false` when it had no price.
    pub async fn remove_price(
        &self,
        scope: &TenantScope,
        course_id: Uuid,
    ) -> Result<bool, BillingError> {
        scope.require(BILLING_MANAGE)?;
        let removed = course_price::Entity::delete_by_id(course_id)
            .exec(scope.db())
            .await?
            .rows_affected
            > 0;
        if removed {
            audit::record(
                scope,
                AuditEvent::new("billing.price_removed").subject(format!("course:{course_id}")),
            )
            .await?;
        }
        Ok(removed)
    }
}

pub(crate) async fn price_of(
    scope: &TenantScope,
    course_id: Uuid,
) -> Result<Option<CoursePrice>, BillingError> {
    Ok(course_price::Entity::find_by_id(course_id)
        .one(scope.db())
        .await?
        .map(from_row))
}
