//! The institution's subscription to the platform: the plans offered, subscribing with
//! seats (admins), and the platform's invoices (finance).

use crate::api::ApiTags;
use crate::auth::TenantCredential;
use crate::problem::ApiError;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use hub_billing::subscriptions::{PlatformInvoice, PlatformSubscription, SubscriptionChange};
use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Object, OpenApi};
use std::sync::Arc;

/// A plan: the price of one seat per interval, as Stripe holds it.
#[derive(Debug, Clone, Object)]
pub struct PlanView {
    /// What to subscribe with.
    pub code: String,
    pub name: String,
    pub currency: String,
    /// How many decimal places the currency's major unit has.
    pub currency_exponent: u32,
    /// Per seat and interval, in the currency's minor units.
    pub unit_amount: i64,
    /// `day`, `week`, `month` or `year`.
    pub interval: String,
    pub interval_count: i64,
}

#[derive(Debug, Clone, Object)]
pub struct PlanList {
    pub items: Vec<PlanView>,
}

#[derive(ApiResponse)]
pub enum PlansListed {
    #[oai(status = 200)]
    Ok(Json<PlanList>),
}

/// The plan and seats to subscribe to.
#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct SubscriptionUpdate {
    /// A plan code from `listPlatformPlans`.
    #[oai(validator(pattern = "^[a-z0-9][a-z0-9_-]{0,31}$"))]
    pub plan: String,
    /// The seats committed to. Seats in use above them are billed too.
    #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))]
    pub seats: i64,
    /// A card from Stripe's payment element (`pm_…`) the platform's invoices are paid with;
    /// needed for the first subscription, kept after. Never card data.
    #[oai(
        validator(pattern = "^pm_[A-Za-z0-9_]{1,255}$"),
        skip_serializing_if_is_none
    )]
    pub payment_method: Option<String>,
}

impl Example for SubscriptionUpdate {
    fn example() -> Self {
        Self {
            plan: "campus".into(),
            seats: 250,
            payment_method: Some("pm_1Q0PsIJvEtkwdCNYMSaVuRz6".into()),
        }
    }
}

/// The institution's subscription to the platform.
#[derive(Debug, Clone, Object)]
pub struct SubscriptionView {
    #[oai(nullable)]
    pub plan: Option<String>,
    /// Stripe's status (`active`, `incomplete`, `past_due`, `canceled` …); `none` before
    /// the first subscription; `changing` while a change is under way.
    pub status: String,
    pub seats_committed: i64,
    /// People holding an active enrollment now.
    pub seats_used: i64,
    /// The quantity Stripe bills: the larger of committed and used, as last measured.
    pub seats_billed: i64,
    #[oai(nullable)]
    pub current_period_start: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub current_period_end: Option<DateTime<Utc>>,
    /// The subscription ends when the current period does.
    pub cancel_at_period_end: bool,
    /// When seat usage was last measured for billing.
    #[oai(nullable)]
    pub usage_measured_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub stripe_subscription: Option<String>,
}

impl From<PlatformSubscription> for SubscriptionView {
    fn from(s: PlatformSubscription) -> Self {
        Self {
            plan: s.plan,
            status: s.status,
            seats_committed: s.seats_committed,
            seats_used: s.seats_used,
            seats_billed: s.seats_billed,
            current_period_start: s.current_period_start,
            current_period_end: s.current_period_end,
            cancel_at_period_end: s.cancel_at_period_end,
            usage_measured_at: s.usage_measured_at,
            stripe_subscription: s.stripe_subscription,
        }
    }
}

/// Whether the institution subscribes to the platform, and to what.
#[derive(Debug, Clone, Object)]
pub struct SubscriptionStatus {
    /// `false`: no subscription was ever made.
    pub subscribed: bool,
    #[oai(nullable)]
    pub subscription: Option<crate::api::described::Described<SubscriptionView>>,
}

#[derive(ApiResponse)]
pub enum SubscriptionRead {
    #[oai(status = 200)]
    Ok(Json<SubscriptionStatus>),
}

#[derive(ApiResponse)]
pub enum SubscriptionAnswered {
    #[oai(status = 200)]
    Ok(Json<SubscriptionView>),
}

/// One of the platform's invoices to the institution, as Stripe last said.
#[derive(Debug, Clone, Object)]
pub struct PlatformInvoiceView {
    pub stripe_invoice: String,
    #[oai(nullable)]
    pub number: Option<String>,
    /// `draft`, `open`, `paid`, `uncollectible` or `void`.
    pub status: String,
    pub currency: String,
    pub currency_exponent: u32,
    /// Minor units.
    pub total: i64,
    pub amount_due: i64,
    pub amount_paid: i64,
    pub amount_remaining: i64,
    /// The seats billed.
    #[oai(nullable)]
    pub seats: Option<i64>,
    #[oai(nullable)]
    pub period_start: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub period_end: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub paid_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<PlatformInvoice> for PlatformInvoiceView {
    fn from(i: PlatformInvoice) -> Self {
        Self {
            currency_exponent: hub_billing::money::exponent(&i.currency).unwrap_or(2),
            stripe_invoice: i.stripe_invoice,
            number: i.number,
            status: i.status,
            currency: i.currency,
            total: i.total,
            amount_due: i.amount_due,
            amount_paid: i.amount_paid,
            amount_remaining: i.amount_remaining,
            seats: i.seats,
            period_start: i.period_start,
            period_end: i.period_end,
            paid_at: i.paid_at,
            created_at: i.created_at,
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct PlatformInvoicePage {
    pub items: Vec<PlatformInvoiceView>,
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

#[derive(ApiResponse)]
pub enum PlatformInvoicesListed {
    #[oai(status = 200)]
    Ok(Json<PlatformInvoicePage>),
}

#[derive(Default)]
pub struct SubscriptionsApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Billing")]
impl SubscriptionsApi {
    /// The platform's plans
    ///
    /// Requires scope `billing:read`. Each plan prices one seat per interval at Stripe;
    /// none while billing is switched off. 503 `stripe_unavailable`.
    #[oai(
        path = "/billing/plans",
        method = "get",
        operation_id = "listPlatformPlans"
    )]
    async fn plans(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
    ) -> Result<PlansListed, ApiError> {
        let billing = &state.billing;
        let plans = state
            .tenancy
            .read(
                &auth.0,
                move |scope| async move { billing.plans(&scope).await },
            )
            .await?;
        Ok(PlansListed::Ok(Json(PlanList {
            items: plans
                .into_iter()
                .map(|p| PlanView {
                    currency_exponent: hub_billing::money::exponent(&p.currency).unwrap_or(2),
                    code: p.code,
                    name: p.name,
                    currency: p.currency,
                    unit_amount: p.unit_amount,
                    interval: p.interval,
                    interval_count: p.interval_count,
                })
                .collect(),
        })))
    }

    /// The institution's subscription to the platform
    ///
    /// Requires scope `billing:read` (finance; tenant admins hold every scope).
    #[oai(
        path = "/billing/subscription",
        method = "get",
        operation_id = "getPlatformSubscription"
    )]
    async fn get_subscription(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
    ) -> Result<SubscriptionRead, ApiError> {
        let billing = &state.billing;
        let found = state
            .tenancy
            .read(&auth.0, move |scope| async move {
                billing.platform_subscription(&scope).await
            })
            .await?;
        Ok(SubscriptionRead::Ok(Json(SubscriptionStatus {
            subscribed: found
                .as_ref()
                .is_some_and(|s| s.stripe_subscription.is_some()),
            subscription: found.map(|s| crate::api::described::Described(s.into())),
        })))
    }

    /// Subscribe to a plan, or change the plan or seats
    ///
    /// Requires scope `billing:manage` (tenant admins). The first subscription needs a
    /// card from Stripe's element; Stripe bills the larger of the seats committed and the
    /// seats in use (people with an active enrollment), prorating changes. A change also
    /// takes back a cancellation. 409 `subscription_busy` (another change is under way:
    /// retry), `plan_unavailable`, `billing_not_configured`, `stripe_refused` (a declined
    /// card); 503 `stripe_unavailable` (the same request again reaches the same
    /// subscription).
    #[oai(
        path = "/billing/subscription",
        method = "put",
        operation_id = "subscribeToPlan"
    )]
    async fn subscribe(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        body: Json<SubscriptionUpdate>,
    ) -> Result<SubscriptionAnswered, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let change = SubscriptionChange {
            plan: body.0.plan,
            seats: body.0.seats,
            payment_method: body.0.payment_method,
        };
        let subscription = state.billing.subscribe(&scope, &change, Utc::now()).await?;
        scope.commit().await?;
        Ok(SubscriptionAnswered::Ok(Json(subscription.into())))
    }

    /// Cancel the subscription at the end of its period
    ///
    /// Requires scope `billing:manage`. The institution keeps what it paid for until the
    /// period ends; subscribing again before then takes the cancellation back. 404
    /// `subscription_not_found`; 409 `subscription_busy`; 503 `stripe_unavailable`.
    #[oai(
        path = "/billing/subscription",
        method = "delete",
        operation_id = "cancelPlatformSubscription"
    )]
    async fn cancel(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
    ) -> Result<SubscriptionAnswered, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let subscription = state
            .billing
            .cancel_subscription(&scope, Utc::now())
            .await?;
        scope.commit().await?;
        Ok(SubscriptionAnswered::Ok(Json(subscription.into())))
    }

    /// The platform's invoices to the institution
    ///
    /// Requires scope `billing:read`. Newest first, as Stripe last reported them (paid,
    /// open, void …), with the seats each billed.
    #[oai(
        path = "/billing/platform-invoices",
        method = "get",
        operation_id = "listPlatformInvoices"
    )]
    async fn invoices(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        /// Cursor from the previous page's `next_cursor`.
        #[oai(validator(pattern = "^in_[A-Za-z0-9_]{1,255}$"))]
        cursor: Query<Option<String>>,
        /// Page size, 1–200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u64>>,
    ) -> Result<PlatformInvoicesListed, ApiError> {
        let billing = &state.billing;
        let cursor = cursor.0.as_deref();
        let limit = limit.0.unwrap_or(50);
        let (items, next) = state
            .tenancy
            .read(&auth.0, move |scope| async move {
                billing.platform_invoices(&scope, cursor, limit).await
            })
            .await?;
        Ok(PlatformInvoicesListed::Ok(Json(PlatformInvoicePage {
            items: items.into_iter().map(Into::into).collect(),
            next_cursor: next,
        })))
    }
}
