//! Payouts (D7): the money Stripe sends from the institution's connected account to its
//! bank, in finance's history beside payments and refunds. A `payout.*` webhook event is a
//! hint: the payout is fetched again from Stripe on the event's account and its current
//! state written ([`sync_payout`], as [`crate::sync`] does for the other objects), so
//! duplicates and reordering converge and two replicas applying events of one payout end in
//! one row (an upsert on Stripe's id). Kept: Stripe's id, amount in minor units, currency,
//! status, arrival date, whether Stripe scheduled it, a failure's code. Not kept: the bank
//! account (no personal data).

use crate::error::BillingError;
use crate::money;
use crate::stripe_api::StripeApi;
use crate::sync::Applied;
use crate::{BILLING_READ, Billing};
use chrono::{DateTime, TimeZone, Utc};
use hub_kernel::page::{Page, PageRequest};
use hub_tenant::TenantScope;
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

pub(crate) mod entity {
    use sea_orm::entity::prelude::*;

    /// One payout, as Stripe last reported it.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "billing_payouts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub stripe_payout: String,
        pub amount: i64,
        pub currency: String,
        pub status: String,
        pub arrival_date: DateTimeUtc,
        pub automatic: bool,
        pub failure_code: Option<String>,
        pub stripe_created: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use entity as payout;

/// The statuses Stripe gives a payout.
pub const PAYOUT_STATUSES: &[&str] = &["pending", "in_transit", "paid", "failed", "canceled"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payout {
    pub id: Uuid,
    pub stripe_payout: String,
    pub amount: i64,
    pub currency: String,
    pub status: String,
    pub arrival_date: DateTime<Utc>,
    /// Scheduled by Stripe (not one the institution asked for by hand).
    pub automatic: bool,
    pub failure_code: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Which payouts (every field optional; all given must hold).
#[derive(Debug, Clone, Default)]
pub struct PayoutFilter {
    /// Arriving at or after.
    pub from: Option<DateTime<Utc>>,
    /// Arriving before.
    pub to: Option<DateTime<Utc>>,
    pub status: Option<String>,
}

impl PayoutFilter {
    fn check(&self) -> Result<(), BillingError> {
        let mut v = hub_kernel::problem::Violations::new();
        if let (Some(from), Some(to)) = (self.from, self.to) {
            v.check(from < to, "from", "must be before `to`");
        }
        if let Some(status) = &self.status {
            v.check(
                PAYOUT_STATUSES.contains(&status.as_str()),
                "status",
                "is not a payout status",
            );
        }
        v.finish().map_err(BillingError::Invalid)
    }

    fn condition(&self) -> Condition {
        let mut c = Condition::all();
        if let Some(from) = self.from {
            c = c.add(payout::Column::ArrivalDate.gte(from));
        }
        if let Some(to) = self.to {
            c = c.add(payout::Column::ArrivalDate.lt(to));
        }
        if let Some(status) = &self.status {
            c = c.add(payout::Column::Status.eq(status.as_str()));
        }
        c
    }
}

fn at(unix: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(unix, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// Brings the payout to Stripe's current state (inserted the first time it is heard of).
pub async fn sync_payout(
    scope: &TenantScope,
    stripe: &StripeApi,
    account: Option<&str>,
    payout_id: &str,
) -> Result<Applied, BillingError> {
    let found = stripe.payout(account, payout_id).await?;
    if money::check_currency("currency", &found.currency).is_err() {
        return Ok(Applied::Unknown(
            "a payout in a currency billing does not know",
        ));
    }
    let now = Utc::now();
    payout::Entity::insert(payout::ActiveModel {
        id: Set(Uuid::now_v7()),
        stripe_payout: Set(found.id.clone()),
        amount: Set(found.amount),
        currency: Set(found.currency.clone()),
        status: Set(found.status.clone()),
        arrival_date: Set(at(found.arrival_date)),
        automatic: Set(found.automatic),
        failure_code: Set(found.failure_code.clone()),
        stripe_created: Set(at(found.created)),
        updated_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(payout::Column::StripePayout)
            .update_columns([
                payout::Column::Amount,
                payout::Column::Currency,
                payout::Column::Status,
                payout::Column::ArrivalDate,
                payout::Column::Automatic,
                payout::Column::FailureCode,
                payout::Column::UpdatedAt,
            ])
            .to_owned(),
    )
    .exec_without_returning(scope.db())
    .await?;
    Ok(Applied::Synced)
}

impl Billing {
    /// A page of the institution's payouts, oldest recorded first.
    pub async fn payouts(
        &self,
        scope: &TenantScope,
        filter: &PayoutFilter,
        page: &PageRequest,
    ) -> Result<Page<Payout>, BillingError> {
        scope.require(BILLING_READ)?;
        filter.check()?;
        let mut query = payout::Entity::find()
            .filter(filter.condition())
            .order_by_asc(payout::Column::Id)
            .limit(page.fetch_limit());
        if let Some(after) = page.after {
            query = query.filter(payout::Column::Id.gt(after));
        }
        let rows = query.all(scope.db()).await?;
        Ok(Page::from_rows(rows, page, |r| r.id).map(|row| Payout {
            id: row.id,
            stripe_payout: row.stripe_payout,
            amount: row.amount,
            currency: row.currency,
            status: row.status,
            arrival_date: row.arrival_date,
            automatic: row.automatic,
            failure_code: row.failure_code,
            created_at: row.stripe_created,
            updated_at: row.updated_at,
        }))
    }
}
