//! Finance's payouts (`billing:read`): what Stripe sent from the institution's account to
//! its bank, as Stripe last reported it (hub_billing::payouts), filtered by arrival period
//! and status, in cursor pages.

use crate::api::{ApiTags, page_request};
use crate::auth::TenantCredential;
use crate::problem::ApiError;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use hub_billing::payouts::PayoutFilter;
use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use std::sync::Arc;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum PayoutStatus {
    Pending,
    InTransit,
    Paid,
    Failed,
    Canceled,
}

impl PayoutStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::InTransit => "in_transit",
            Self::Paid => "paid",
            Self::Failed => "failed",
            Self::Canceled => "canceled",
        }
    }
}

/// A payout from the institution's Stripe account to its bank. Amounts are integer minor
/// units of `currency`; `currency_exponent` says how many decimals its major unit has.
#[derive(Debug, Clone, Object)]
pub struct PayoutView {
    pub id: Uuid,
    pub stripe_payout: String,
    pub amount: i64,
    pub currency: String,
    pub currency_exponent: u32,
    /// Stripe's status: `pending`, `in_transit`, `paid`, `failed` or `canceled`.
    pub status: String,
    /// When the money is expected in (or reached) the bank.
    pub arrival_date: DateTime<Utc>,
    /// Scheduled by Stripe rather than asked for by hand.
    pub automatic: bool,
    /// Stripe's code for a failed payout.
    #[oai(nullable)]
    pub failure_code: Option<String>,
    /// When Stripe created it.
    pub created_at: DateTime<Utc>,
    /// When billing last heard of it from Stripe.
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Object)]
pub struct PayoutPage {
    pub items: Vec<PayoutView>,
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

#[derive(ApiResponse)]
pub enum PayoutsListed {
    #[oai(status = 200)]
    Ok(Json<PayoutPage>),
}

#[derive(Default)]
pub struct PayoutsApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Billing")]
impl PayoutsApi {
    /// Payouts
    ///
    /// Requires scope `billing:read` (finance). The institution's Stripe payouts to its
    /// bank, from Stripe's `payout.*` events (each payout fetched again from Stripe).
    /// Filters combine; oldest recorded first.
    #[oai(
        path = "/billing/payouts",
        method = "get",
        operation_id = "listPayouts"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        /// Arriving at or after.
        from: Query<Option<DateTime<Utc>>>,
        /// Arriving before.
        to: Query<Option<DateTime<Utc>>>,
        status: Query<Option<PayoutStatus>>,
        /// Cursor from the previous page's `next_cursor`.
        cursor: Query<Option<String>>,
        /// Page size, 1–200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u64>>,
    ) -> Result<PayoutsListed, ApiError> {
        let page = page_request(cursor.0.as_deref(), limit.0)?;
        let page = &page;
        let filter = PayoutFilter {
            from: from.0,
            to: to.0,
            status: status.0.map(|s| s.as_str().to_string()),
        };
        let filter = &filter;
        let billing = &state.billing;
        let payouts = state
            .tenancy
            .read(&auth.0, move |scope| async move {
                billing.payouts(&scope, filter, page).await
            })
            .await?;
        Ok(PayoutsListed::Ok(Json(PayoutPage {
            items: payouts
                .items
                .into_iter()
                .map(|p| PayoutView {
                    id: p.id,
                    currency_exponent: hub_billing::money::exponent(&p.currency).unwrap_or(2),
                    stripe_payout: p.stripe_payout,
                    amount: p.amount,
                    currency: p.currency,
                    status: p.status,
                    arrival_date: p.arrival_date,
                    automatic: p.automatic,
                    failure_code: p.failure_code,
                    created_at: p.created_at,
                    updated_at: p.updated_at,
                })
                .collect(),
            next_cursor: payouts.next_cursor,
        })))
    }
}
