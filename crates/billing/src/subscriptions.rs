//! The platform's own billing: institutions pay the platform for a subscription plan with
//! seats, on the platform's own Stripe account (not Connect: this money is the platform's).
//!
//! - **Plans** are recurring per-seat prices the operator made in Stripe; the configuration
//!   names which are offered, by a code (`billing_plans`: code → `price_…`). Their name,
//!   amount, currency and interval are Stripe's, read when listed.
//! - **Subscribing** (`billing:manage`): the institution becomes a customer of the platform
//!   (its name and id only), its card from Stripe's element is attached to it, and one
//!   subscription of one item is created or changed. Stripe pays the first invoice at once.
//! - **Seats**: the admin commits to a number of seats; the seats *used* are the people
//!   holding an active enrollment ([`hub_tenant::course_sales::CourseSales::seats_in_use`]),
//!   and the seats *billed* (the subscription's quantity at Stripe) are the larger of the
//!   two. Learners are never refused for want of seats: usage above the commitment is billed
//!   (Stripe prorates it), measured once per `billing_seat_usage_secs` per institution
//!   ([`Billing::measure_seat_usage`], each pass claimed once across replicas by one
//!   conditional UPDATE of `next_usage_at`, the same on PostgreSQL and SQLite).
//! - **Invoices and their payments** are recorded from Stripe's webhook events
//!   (`invoice.*`, routed by the invoice's customer, [`crate::inbox`]) with Stripe's state,
//!   fetched again; the subscription's own events (`customer.subscription.*`) update its
//!   status and period the same way. Finance (`billing:read`) reads both.
//!
//! A change is one at a time per institution: it takes the row's lease (`status =
//! 'changing'`, lapsing after [`CHANGE_LEASE_SECS`]), so two admins cannot make two
//! subscriptions; a concurrent change is told to retry.

use crate::entities::{platform_invoice, platform_subscription};
use crate::error::BillingError;
use crate::stripe_api::{
    InstitutionCustomerParams, Invoice, StripeApi, Subscription, SubscriptionItemParams,
    SubscriptionParams, SubscriptionUpdateParams,
};
use crate::sync::Applied;
use crate::{BILLING_MANAGE, BILLING_READ, Billing};
use chrono::{DateTime, Duration, TimeZone, Utc};
use hub_kernel::FieldViolation;
use hub_tenant::audit::{self, AuditEvent};
use hub_tenant::{TenantError, TenantScope};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, QueryFilter, QueryOrder, QuerySelect};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use uuid::Uuid;

/// The periodic job measuring seat usage (one of [`hub_tenant::deadlines::PERIODIC_JOBS`]).
pub const SEAT_USAGE_JOB: &str = "billing.seat_usage";
/// The most seats a subscription may commit to.
pub const MAX_SEATS: i64 = 1_000_000;
/// A plan code: what `billing_plans` names a plan by.
pub const PLAN_CODE_PATTERN: &str = "^[a-z0-9][a-z0-9_-]{0,31}$";
/// A PaymentMethod id from Stripe's element.
pub const PAYMENT_METHOD_PATTERN: &str = "^pm_[A-Za-z0-9_]{1,255}$";
/// How long a change holds the institution's subscription before another may take it.
pub const CHANGE_LEASE_SECS: i64 = 120;
const CHANGING: &str = "changing";
/// The status of an institution that is a customer but has no subscription (yet, or any more).
const NONE: &str = "none";

/// Which plans are offered, and how often seat usage is measured.
#[derive(Debug, Clone)]
pub struct PlatformPlans {
    /// Plan code → the Stripe price (`price_…`) of one seat per interval.
    pub prices: BTreeMap<String, String>,
    pub seat_usage_every: Duration,
}

impl Default for PlatformPlans {
    fn default() -> Self {
        Self {
            prices: BTreeMap::new(),
            seat_usage_every: Duration::hours(1),
        }
    }
}

/// A plan as institutions see it: Stripe's price of one seat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub code: String,
    pub name: String,
    pub currency: String,
    /// Per seat and interval, in the currency's minor units.
    pub unit_amount: i64,
    /// `day`, `week`, `month` or `year`.
    pub interval: String,
    pub interval_count: i64,
}

/// What an admin asks for.
#[derive(Debug, Clone)]
pub struct SubscriptionChange {
    pub plan: String,
    pub seats: i64,
    /// A card from Stripe's element (`pm_…`) the invoices are paid with; needed the first
    /// time, kept after.
    pub payment_method: Option<String>,
}

/// The institution's subscription as its admins and finance see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformSubscription {
    pub plan: Option<String>,
    /// Stripe's status (`active`, `incomplete`, `past_due`, `canceled` …), or `none`.
    pub status: String,
    pub seats_committed: i64,
    /// Measured now: people holding an active enrollment.
    pub seats_used: i64,
    /// The subscription's quantity at Stripe as last set or reported.
    pub seats_billed: i64,
    pub current_period_start: Option<DateTime<Utc>>,
    pub current_period_end: Option<DateTime<Utc>>,
    pub cancel_at_period_end: bool,
    pub usage_measured_at: Option<DateTime<Utc>>,
    pub stripe_subscription: Option<String>,
}

/// One of the platform's invoices to the institution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformInvoice {
    pub stripe_invoice: String,
    pub number: Option<String>,
    pub status: String,
    pub currency: String,
    pub total: i64,
    pub amount_due: i64,
    pub amount_paid: i64,
    pub amount_remaining: i64,
    pub seats: Option<i64>,
    pub period_start: Option<DateTime<Utc>>,
    pub period_end: Option<DateTime<Utc>>,
    pub paid_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// What one seat-usage pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeatUsageRun {
    pub measured: u32,
    /// Subscriptions whose quantity at Stripe was changed.
    pub changed: u32,
}

fn at(unix: Option<i64>) -> Option<DateTime<Utc>> {
    unix.and_then(|t| Utc.timestamp_opt(t, 0).single())
}

fn to_i32(n: i64) -> i32 {
    i32::try_from(n.clamp(0, i32::MAX as i64)).unwrap_or(i32::MAX)
}

/// A Stripe idempotency key for creating a subscription: the same request (a retry after a
/// lost answer) reaches the same subscription; another plan, seat count or card is another.
fn subscription_key(tenant: Uuid, previous: Option<&str>, change: &SubscriptionChange) -> String {
    let digest = Sha256::digest(format!(
        "{tenant}:{}:{}:{}:{}",
        previous.unwrap_or("first"),
        change.plan,
        change.seats,
        change.payment_method.as_deref().unwrap_or("")
    ));
    format!("hub-subscription-{}", hex::encode(&digest[..16]))
}

fn check_change(change: &SubscriptionChange, plans: &PlatformPlans) -> Result<(), BillingError> {
    let mut violations = Vec::new();
    if !plans.prices.contains_key(&change.plan) {
        let offered: Vec<&str> = plans.prices.keys().map(String::as_str).collect();
        violations.push(FieldViolation::new(
            "plan",
            if offered.is_empty() {
                "no plan is offered on this platform".to_string()
            } else {
                format!("must be one of the offered plans: {}", offered.join(", "))
            },
        ));
    }
    if !(1..=MAX_SEATS).contains(&change.seats) {
        violations.push(FieldViolation::new(
            "seats",
            format!("must be between 1 and {MAX_SEATS}"),
        ));
    }
    if let Some(pm) = &change.payment_method {
        let ok = pm.strip_prefix("pm_").is_some_and(|rest| {
            (1..=255).contains(&rest.len())
                && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        });
        if !ok {
            violations.push(FieldViolation::new(
                "payment_method",
                "must be a Stripe PaymentMethod id: pm_ and 1–255 letters, digits or _",
            ));
        }
    }
    if violations.is_empty() {
        Ok(())
    } else {
        Err(BillingError::Invalid(violations))
    }
}

fn invoice_from_row(row: platform_invoice::Model) -> PlatformInvoice {
    PlatformInvoice {
        stripe_invoice: row.stripe_invoice,
        number: row.number,
        status: row.status,
        currency: row.currency,
        total: row.total,
        amount_due: row.amount_due,
        amount_paid: row.amount_paid,
        amount_remaining: row.amount_remaining,
        seats: row.seats.map(i64::from),
        period_start: row.period_start,
        period_end: row.period_end,
        paid_at: row.paid_at,
        created_at: Utc
            .timestamp_opt(row.stripe_created, 0)
            .single()
            .unwrap_or(row.updated_at),
    }
}

impl Billing {
    /// Offers these plans (the gateway's configuration).
    pub fn with_platform_plans(mut self, plans: PlatformPlans) -> Self {
        self.plans = plans;
        self
    }

    fn plan_of_price(&self, price: &str) -> Option<String> {
        self.plans
            .prices
            .iter()
            .find(|(_, p)| p.as_str() == price)
            .map(|(code, _)| code.clone())
    }

    /// The plans on offer, as Stripe prices them: none while billing is switched off, and
    /// a configured plan whose price Stripe no longer sells is left out (and logged for the
    /// operator). A read: Stripe refusing it is the platform's problem, told as Stripe
    /// being unavailable.
    pub async fn plans(&self, scope: &TenantScope) -> Result<Vec<Plan>, BillingError> {
        scope.require(BILLING_READ)?;
        let Some(stripe) = self.stripe.as_ref() else {
            return Ok(Vec::new());
        };
        let mut plans = Vec::with_capacity(self.plans.prices.len());
        for (code, price) in &self.plans.prices {
            match plan_from_stripe(stripe, code, price).await {
                Ok(plan) => plans.push(plan),
                Err(BillingError::PlanUnavailable(_)) => {
                    tracing::warn!(plan = %code, %price, "a configured plan is not on sale at Stripe; not offered");
                }
                Err(BillingError::StripeRefused(message)) => {
                    return Err(BillingError::StripeUnavailable(message));
                }
                Err(e) => return Err(e),
            }
        }
        Ok(plans)
    }

    /// The institution's subscription; `None` before its first.
    pub async fn platform_subscription(
        &self,
        scope: &TenantScope,
    ) -> Result<Option<PlatformSubscription>, BillingError> {
        scope.require(BILLING_READ)?;
        let Some(row) = self.subscription_row(scope).await? else {
            return Ok(None);
        };
        let used = self.seats_used(scope).await?;
        Ok(Some(view(row, used)))
    }

    async fn subscription_row(
        &self,
        scope: &TenantScope,
    ) -> Result<Option<platform_subscription::Model>, BillingError> {
        Ok(self
            .tenancy
            .control_rows::<platform_subscription::Entity>(scope)?
            .find_one(|q| q)
            .await?)
    }

    async fn seats_used(&self, scope: &TenantScope) -> Result<i64, BillingError> {
        let used = self.tenancy.course_sales()?.seats_in_use(scope).await?;
        Ok(i64::try_from(used).unwrap_or(i64::MAX))
    }

    /// Subscribes the institution to a plan with seats, or changes its plan or seats (and
    /// takes back a cancellation at the period's end).
    pub async fn subscribe(
        &self,
        scope: &TenantScope,
        change: &SubscriptionChange,
        now: DateTime<Utc>,
    ) -> Result<PlatformSubscription, BillingError> {
        scope.require(BILLING_MANAGE)?;
        check_change(change, &self.plans)?;
        let stripe = self.stripe()?;
        let price = self.plans.prices[&change.plan].clone();
        // The plan must still be on sale at Stripe.
        let plan = plan_from_stripe(stripe, &change.plan, &price).await?;
        let row = self.subscription_row(scope).await?;
        // Refused before anything is made at Stripe.
        if row.as_ref().is_none_or(|r| r.stripe_subscription.is_none())
            && change.payment_method.is_none()
        {
            return Err(BillingError::Invalid(vec![FieldViolation::new(
                "payment_method",
                "the first subscription needs a card from Stripe's element (pm_…)",
            )]));
        }
        let row = match row {
            Some(row) => row,
            None => self.become_customer(scope, stripe, now).await?,
        };
        let previous = row.status.clone();
        self.take_change_lease(scope, &previous, now).await?;
        let outcome = self
            .change_at_stripe(scope, stripe, &row, change, &price, now)
            .await;
        let written = match outcome {
            Ok(subscription) => self.write_subscription(scope, &subscription, now).await,
            Err(e) => Err(e),
        };
        if let Err(e) = written {
            self.release_change_lease(scope, &previous).await?;
            return Err(e);
        }
        self.tenancy
            .control_rows::<platform_subscription::Entity>(scope)?
            .update(|u| {
                u.col_expr(
                    platform_subscription::Column::SeatsCommitted,
                    Expr::value(to_i32(change.seats)),
                )
                .col_expr(
                    platform_subscription::Column::PlanCode,
                    Expr::value(change.plan.as_str()),
                )
            })
            .await?;
        audit::record(
            scope,
            AuditEvent::new("billing.subscription_changed").detail(serde_json::json!({
                "plan": change.plan,
                "seats_committed": change.seats,
                "unit_amount": plan.unit_amount,
                "currency": plan.currency,
                "from_status": previous,
            })),
        )
        .await?;
        let row = self
            .subscription_row(scope)
            .await?
            .ok_or(BillingError::SubscriptionNotFound)?;
        let used = self.seats_used(scope).await?;
        Ok(view(row, used))
    }

    /// Makes the institution a customer of the platform at Stripe (once: the key is the
    /// institution's), and records it.
    async fn become_customer(
        &self,
        scope: &TenantScope,
        stripe: &StripeApi,
        now: DateTime<Utc>,
    ) -> Result<platform_subscription::Model, BillingError> {
        let name = self.tenancy.tenant_name(scope.tenant_id()).await?;
        let customer = stripe
            .create_institution_customer(
                &InstitutionCustomerParams {
                    name,
                    metadata: BTreeMap::from([("hub_tenant", scope.tenant_id().to_string())]),
                },
                &format!("hub-institution-customer-{}", scope.tenant_id()),
            )
            .await?;
        let inserted = self
            .tenancy
            .control_rows::<platform_subscription::Entity>(scope)?
            .insert(platform_subscription::ActiveModel {
                tenant_id: Set(Uuid::nil()),
                stripe_customer: Set(customer.id.clone()),
                stripe_subscription: Set(None),
                stripe_item: Set(None),
                plan_code: Set(None),
                stripe_price: Set(None),
                status: Set(NONE.into()),
                seats_committed: Set(0),
                seats_used: Set(0),
                seats_billed: Set(0),
                current_period_start: Set(None),
                current_period_end: Set(None),
                cancel_at_period_end: Set(false),
                usage_measured_at: Set(None),
                next_usage_at: Set(now + self.plans.seat_usage_every),
                created_at: Set(now),
                updated_at: Set(now),
            })
            .await;
        match inserted {
            Ok(()) => {}
            // Another request of the institution made it first (the same customer: the
            // Stripe key is the institution's).
            Err(TenantError::Database(e))
                if matches!(
                    e.sql_err(),
                    Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
                ) => {}
            Err(e) => return Err(e.into()),
        }
        self.subscription_row(scope)
            .await?
            .ok_or(BillingError::SubscriptionNotFound)
    }

    async fn take_change_lease(
        &self,
        scope: &TenantScope,
        previous: &str,
        now: DateTime<Utc>,
    ) -> Result<(), BillingError> {
        let taken = self
            .tenancy
            .control_rows::<platform_subscription::Entity>(scope)?
            .update(|u| {
                u.col_expr(platform_subscription::Column::Status, Expr::value(CHANGING))
                    .col_expr(platform_subscription::Column::UpdatedAt, Expr::value(now))
                    .filter(
                        Condition::any()
                            .add(
                                Condition::all()
                                    .add(platform_subscription::Column::Status.eq(previous))
                                    .add(platform_subscription::Column::Status.ne(CHANGING)),
                            )
                            .add(
                                Condition::all()
                                    .add(platform_subscription::Column::Status.eq(CHANGING))
                                    .add(
                                        platform_subscription::Column::UpdatedAt
                                            .lt(now - Duration::seconds(CHANGE_LEASE_SECS)),
                                    ),
                            ),
                    )
            })
            .await?;
        if taken == 0 {
            return Err(BillingError::SubscriptionBusy);
        }
        Ok(())
    }

    /// Gives a failed change's lease back, with the status Stripe last reported.
    async fn release_change_lease(
        &self,
        scope: &TenantScope,
        previous: &str,
    ) -> Result<(), BillingError> {
        self.tenancy
            .control_rows::<platform_subscription::Entity>(scope)?
            .update(|u| {
                u.col_expr(platform_subscription::Column::Status, Expr::value(previous))
                    .filter(platform_subscription::Column::Status.eq(CHANGING))
            })
            .await?;
        Ok(())
    }

    async fn change_at_stripe(
        &self,
        scope: &TenantScope,
        stripe: &StripeApi,
        row: &platform_subscription::Model,
        change: &SubscriptionChange,
        price: &str,
        now: DateTime<Utc>,
    ) -> Result<Subscription, BillingError> {
        if let Some(pm) = &change.payment_method {
            stripe
                .set_invoice_payment_method(&row.stripe_customer, pm)
                .await?;
        }
        let used = self.seats_used(scope).await?;
        let billed = change.seats.max(used);
        let metadata = BTreeMap::from([
            ("hub_tenant", scope.tenant_id().to_string()),
            ("hub_plan", change.plan.clone()),
        ]);
        let live = match &row.stripe_subscription {
            Some(id) if !matches!(row.status.as_str(), "canceled" | "incomplete_expired") => {
                Some(id.clone())
            }
            _ => None,
        };
        let subscription = match live {
            Some(id) => {
                stripe
                    .update_subscription(
                        &id,
                        &SubscriptionUpdateParams {
                            items: vec![SubscriptionItemParams {
                                id: row.stripe_item.clone(),
                                price: price.to_string(),
                                quantity: billed,
                            }],
                            proration_behavior: Some("create_prorations"),
                            cancel_at_period_end: Some(false),
                            metadata,
                        },
                    )
                    .await?
            }
            None => {
                stripe
                    .create_subscription(
                        &SubscriptionParams {
                            customer: row.stripe_customer.clone(),
                            items: vec![SubscriptionItemParams {
                                id: None,
                                price: price.to_string(),
                                quantity: billed,
                            }],
                            metadata,
                            payment_behavior: "allow_incomplete",
                        },
                        &subscription_key(
                            scope.tenant_id(),
                            row.stripe_subscription.as_deref(),
                            change,
                        ),
                    )
                    .await?
            }
        };
        self.tenancy
            .control_rows::<platform_subscription::Entity>(scope)?
            .update(|u| {
                u.col_expr(
                    platform_subscription::Column::SeatsUsed,
                    Expr::value(to_i32(used)),
                )
                .col_expr(
                    platform_subscription::Column::UsageMeasuredAt,
                    Expr::value(Some(now)),
                )
            })
            .await?;
        Ok(subscription)
    }

    /// Writes Stripe's state of the institution's subscription over the row.
    async fn write_subscription(
        &self,
        scope: &TenantScope,
        subscription: &Subscription,
        now: DateTime<Utc>,
    ) -> Result<(), BillingError> {
        let (start, end) = subscription.period();
        let item = subscription.item();
        let price = item.and_then(|i| i.price_id());
        let plan = price.as_deref().and_then(|p| self.plan_of_price(p));
        let quantity = item.and_then(|i| i.quantity).unwrap_or(0);
        self.tenancy
            .control_rows::<platform_subscription::Entity>(scope)?
            .update(|u| {
                let mut u = u
                    .col_expr(
                        platform_subscription::Column::StripeSubscription,
                        Expr::value(Some(subscription.id.clone())),
                    )
                    .col_expr(
                        platform_subscription::Column::StripeItem,
                        Expr::value(item.map(|i| i.id.clone())),
                    )
                    .col_expr(
                        platform_subscription::Column::StripePrice,
                        Expr::value(price.clone()),
                    )
                    .col_expr(
                        platform_subscription::Column::Status,
                        Expr::value(subscription.status.as_str()),
                    )
                    .col_expr(
                        platform_subscription::Column::SeatsBilled,
                        Expr::value(to_i32(quantity)),
                    )
                    .col_expr(
                        platform_subscription::Column::CurrentPeriodStart,
                        Expr::value(at(start)),
                    )
                    .col_expr(
                        platform_subscription::Column::CurrentPeriodEnd,
                        Expr::value(at(end)),
                    )
                    .col_expr(
                        platform_subscription::Column::CancelAtPeriodEnd,
                        Expr::value(subscription.cancel_at_period_end.unwrap_or(false)),
                    )
                    .col_expr(platform_subscription::Column::UpdatedAt, Expr::value(now));
                if let Some(plan) = plan {
                    u = u.col_expr(platform_subscription::Column::PlanCode, Expr::value(plan));
                }
                u
            })
            .await?;
        Ok(())
    }

    /// Ends the subscription at the end of the period paid for (a later [`Self::subscribe`]
    /// takes it back).
    pub async fn cancel_subscription(
        &self,
        scope: &TenantScope,
        now: DateTime<Utc>,
    ) -> Result<PlatformSubscription, BillingError> {
        scope.require(BILLING_MANAGE)?;
        let stripe = self.stripe()?;
        let row = self
            .subscription_row(scope)
            .await?
            .filter(|r| {
                r.stripe_subscription.is_some()
                    && !matches!(r.status.as_str(), "canceled" | "incomplete_expired")
            })
            .ok_or(BillingError::SubscriptionNotFound)?;
        let id = row.stripe_subscription.clone().unwrap_or_default();
        let previous = row.status.clone();
        self.take_change_lease(scope, &previous, now).await?;
        let done = match stripe
            .update_subscription(
                &id,
                &SubscriptionUpdateParams {
                    items: Vec::new(),
                    proration_behavior: None,
                    cancel_at_period_end: Some(true),
                    metadata: BTreeMap::new(),
                },
            )
            .await
        {
            Ok(subscription) => self.write_subscription(scope, &subscription, now).await,
            Err(e) => Err(e.into()),
        };
        if let Err(e) = done {
            self.release_change_lease(scope, &previous).await?;
            return Err(e);
        }
        audit::record(
            scope,
            AuditEvent::new("billing.subscription_cancelled")
                .subject(format!("stripe_subscription:{id}")),
        )
        .await?;
        let row = self
            .subscription_row(scope)
            .await?
            .ok_or(BillingError::SubscriptionNotFound)?;
        let used = self.seats_used(scope).await?;
        Ok(view(row, used))
    }

    /// The platform's invoices to the institution, newest first, `limit` at a time after
    /// the cursor (an invoice id of the previous page).
    pub async fn platform_invoices(
        &self,
        scope: &TenantScope,
        after: Option<&str>,
        limit: u64,
    ) -> Result<(Vec<PlatformInvoice>, Option<String>), BillingError> {
        scope.require(BILLING_READ)?;
        let rows = self
            .tenancy
            .control_rows::<platform_invoice::Entity>(scope)?;
        let cursor = match after {
            Some(id) => Some(
                rows.find_one(|q| q.filter(platform_invoice::Column::StripeInvoice.eq(id)))
                    .await?
                    .ok_or_else(|| {
                        BillingError::Invalid(vec![FieldViolation::new(
                            "after",
                            "is not an invoice of this institution",
                        )])
                    })?,
            ),
            None => None,
        };
        let found = rows
            .find(|mut q| {
                if let Some(c) = &cursor {
                    q = q.filter(
                        Condition::any()
                            .add(platform_invoice::Column::StripeCreated.lt(c.stripe_created))
                            .add(
                                Condition::all()
                                    .add(
                                        platform_invoice::Column::StripeCreated
                                            .eq(c.stripe_created),
                                    )
                                    .add(
                                        platform_invoice::Column::StripeInvoice
                                            .lt(c.stripe_invoice.as_str()),
                                    ),
                            ),
                    );
                }
                q.order_by_desc(platform_invoice::Column::StripeCreated)
                    .order_by_desc(platform_invoice::Column::StripeInvoice)
                    .limit(limit + 1)
            })
            .await?;
        let mut invoices: Vec<PlatformInvoice> = found.into_iter().map(invoice_from_row).collect();
        let next = if invoices.len() as u64 > limit {
            invoices.truncate(limit as usize);
            invoices.last().map(|i| i.stripe_invoice.clone())
        } else {
            None
        };
        Ok((invoices, next))
    }

    /// The institution a customer of the platform is (an invoice event's routing key).
    pub(crate) async fn tenant_of_customer(
        &self,
        customer: &str,
    ) -> Result<Option<Uuid>, BillingError> {
        Ok(self
            .tenancy
            .control_rows_across_tenants::<platform_subscription::Entity>(|q| {
                q.filter(platform_subscription::Column::StripeCustomer.eq(customer))
            })
            .await?
            .first()
            .map(|row| row.tenant_id))
    }

    /// The institution's row and Stripe's object an event is about, or why nothing applies:
    /// the institution is no customer of the platform, Stripe has no such object, or the
    /// object is another customer's (its metadata named the wrong institution).
    async fn customers_object<T>(
        &self,
        scope: &TenantScope,
        fetch: impl std::future::Future<Output = Result<T, crate::stripe_api::StripeFailure>>,
        customer_of: impl Fn(&T) -> Option<String>,
    ) -> Result<Result<(platform_subscription::Model, T), &'static str>, BillingError> {
        let Some(row) = self.subscription_row(scope).await? else {
            return Ok(Err("the institution is no customer of the platform"));
        };
        // Asked of Stripe only for a customer of the platform.
        let object = match fetch.await {
            Ok(object) => object,
            Err(e) if e.is_not_found() => return Ok(Err("Stripe has no such object")),
            Err(e) => return Err(e.into()),
        };
        if customer_of(&object).as_deref() != Some(row.stripe_customer.as_str()) {
            return Ok(Err("an object of another customer than the institution"));
        }
        Ok(Ok((row, object)))
    }

    /// Applies Stripe's current state of a subscription of the platform's to the
    /// institution it is for.
    pub(crate) async fn sync_platform_subscription(
        &self,
        scope: &TenantScope,
        stripe: &StripeApi,
        id: &str,
    ) -> Result<Applied, BillingError> {
        let (row, subscription) = match self
            .customers_object(scope, stripe.subscription(id), |s| s.customer_id())
            .await?
        {
            Ok(found) => found,
            Err(why) => return Ok(Applied::Unknown(why)),
        };
        if row
            .stripe_subscription
            .as_deref()
            .is_some_and(|ours| ours != id)
        {
            return Ok(Applied::Unknown(
                "an earlier subscription of the institution",
            ));
        }
        if row.status == CHANGING {
            // An admin's change is under way; it writes Stripe's answer itself, and this
            // event is applied again (retried) once it is done.
            return Err(BillingError::SubscriptionBusy);
        }
        self.write_subscription(scope, &subscription, Utc::now())
            .await?;
        Ok(Applied::Synced)
    }

    /// Records Stripe's current state of an invoice of the platform's to the institution.
    pub(crate) async fn sync_platform_invoice(
        &self,
        scope: &TenantScope,
        stripe: &StripeApi,
        id: &str,
    ) -> Result<Applied, BillingError> {
        let invoice = match self
            .customers_object(scope, stripe.invoice(id), |i| i.customer_id())
            .await?
        {
            Ok((_, invoice)) => invoice,
            Err(why) => return Ok(Applied::Unknown(why)),
        };
        self.write_invoice(scope, &invoice).await?;
        Ok(Applied::Synced)
    }

    async fn write_invoice(
        &self,
        scope: &TenantScope,
        invoice: &Invoice,
    ) -> Result<(), BillingError> {
        let rows = self
            .tenancy
            .control_rows::<platform_invoice::Entity>(scope)?;
        let now = Utc::now();
        let status = invoice.status.clone().unwrap_or_else(|| "draft".into());
        let paid_at = at(invoice.status_transitions.as_ref().and_then(|t| t.paid_at));
        let was = rows
            .find_one(|q| q.filter(platform_invoice::Column::StripeInvoice.eq(invoice.id.as_str())))
            .await?;
        let model = platform_invoice::ActiveModel {
            stripe_invoice: Set(invoice.id.clone()),
            tenant_id: Set(Uuid::nil()),
            stripe_subscription: Set(invoice.subscription_id()),
            number: Set(invoice.number.clone()),
            status: Set(status.clone()),
            currency: Set(invoice.currency.clone()),
            total: Set(invoice.total.unwrap_or(0)),
            amount_due: Set(invoice.amount_due.unwrap_or(0)),
            amount_paid: Set(invoice.amount_paid.unwrap_or(0)),
            amount_remaining: Set(invoice.amount_remaining.unwrap_or(0)),
            seats: Set(invoice.seats().map(to_i32)),
            period_start: Set(at(invoice.period_start)),
            period_end: Set(at(invoice.period_end)),
            paid_at: Set(paid_at),
            stripe_payment_intent: Set(invoice.payment_intent_id()),
            stripe_created: Set(invoice.created),
            updated_at: Set(now),
        };
        let fresh = match &was {
            Some(_) => false,
            None => match rows.insert(model.clone()).await {
                Ok(()) => true,
                // Another replica recorded it a moment ago: write over it below.
                Err(TenantError::Database(e))
                    if matches!(
                        e.sql_err(),
                        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
                    ) =>
                {
                    false
                }
                Err(e) => return Err(e.into()),
            },
        };
        if !fresh {
            // The row's own institution stays (the door filters by it; it is never set here).
            let mut changes = model;
            changes.tenant_id = sea_orm::ActiveValue::NotSet;
            changes.stripe_invoice = sea_orm::ActiveValue::NotSet;
            rows.update(|u| {
                u.set(changes)
                    .filter(platform_invoice::Column::StripeInvoice.eq(invoice.id.as_str()))
            })
            .await?;
        }
        if status == "paid" && was.as_ref().is_none_or(|w| w.status != "paid") {
            audit::record(
                scope,
                AuditEvent::new("billing.platform_invoice_paid")
                    .subject(format!("stripe_invoice:{}", invoice.id))
                    .detail(serde_json::json!({
                        "amount_paid": invoice.amount_paid,
                        "currency": invoice.currency,
                        "seats": invoice.seats(),
                    })),
            )
            .await?;
        }
        Ok(())
    }

    /// One pass of the seat-usage job: every institution with a live subscription whose
    /// measurement is due has its seats in use counted and, when the larger of its
    /// commitment and its usage differs from what Stripe bills, the subscription's quantity
    /// changed. Each institution's pass is claimed by one replica.
    pub async fn measure_seat_usage(
        &self,
        now: DateTime<Utc>,
    ) -> Result<SeatUsageRun, BillingError> {
        let mut run = SeatUsageRun::default();
        let Some(stripe) = self.stripe.clone() else {
            return Ok(run);
        };
        let due = self
            .tenancy
            .control_rows_across_tenants::<platform_subscription::Entity>(|q| {
                q.filter(platform_subscription::Column::NextUsageAt.lte(now))
                    .filter(platform_subscription::Column::StripeSubscription.is_not_null())
                    .filter(
                        platform_subscription::Column::Status
                            .is_in(["active", "trialing", "past_due"]),
                    )
                    .order_by_asc(platform_subscription::Column::NextUsageAt)
                    .limit(100)
            })
            .await?;
        for row in due {
            let Some(scope) = self
                .tenancy
                .periodic_job_scope(row.tenant_id, SEAT_USAGE_JOB)
                .await?
            else {
                continue;
            };
            let claimed = self
                .tenancy
                .control_rows::<platform_subscription::Entity>(&scope)?
                .update(|u| {
                    u.col_expr(
                        platform_subscription::Column::NextUsageAt,
                        Expr::value(now + self.plans.seat_usage_every),
                    )
                    .filter(platform_subscription::Column::NextUsageAt.eq(row.next_usage_at))
                })
                .await?;
            if claimed == 0 {
                continue;
            }
            run.measured += 1;
            if self.true_up(&scope, &stripe, &row, now).await? {
                run.changed += 1;
            }
            scope.commit().await?;
        }
        Ok(run)
    }

    /// Counts the seats in use and sets the quantity Stripe bills when it changed.
    async fn true_up(
        &self,
        scope: &TenantScope,
        stripe: &StripeApi,
        row: &platform_subscription::Model,
        now: DateTime<Utc>,
    ) -> Result<bool, BillingError> {
        let used = self.seats_used(scope).await?;
        let billed = i64::from(row.seats_committed).max(used);
        let rows = self
            .tenancy
            .control_rows::<platform_subscription::Entity>(scope)?;
        rows.update(|u| {
            u.col_expr(
                platform_subscription::Column::SeatsUsed,
                Expr::value(to_i32(used)),
            )
            .col_expr(
                platform_subscription::Column::UsageMeasuredAt,
                Expr::value(Some(now)),
            )
        })
        .await?;
        if billed == i64::from(row.seats_billed) {
            return Ok(false);
        }
        let (Some(id), Some(price)) = (&row.stripe_subscription, &row.stripe_price) else {
            return Ok(false);
        };
        // Not while an admin changes it: the next pass measures again.
        let previous = row.status.clone();
        if self.take_change_lease(scope, &previous, now).await.is_err() {
            return Ok(false);
        }
        let answer = stripe
            .update_subscription(
                id,
                &SubscriptionUpdateParams {
                    items: vec![SubscriptionItemParams {
                        id: row.stripe_item.clone(),
                        price: price.clone(),
                        quantity: billed,
                    }],
                    proration_behavior: Some("create_prorations"),
                    cancel_at_period_end: None,
                    metadata: BTreeMap::new(),
                },
            )
            .await;
        let written = match answer {
            Ok(subscription) => self.write_subscription(scope, &subscription, now).await,
            Err(e) => Err(e.into()),
        };
        if let Err(e) = written {
            self.release_change_lease(scope, &previous).await?;
            return Err(e);
        }
        audit::record(
            scope,
            AuditEvent::new("billing.seats_billed")
                .subject(format!("stripe_subscription:{id}"))
                .detail(serde_json::json!({
                    "seats_committed": row.seats_committed,
                    "seats_used": used,
                    "seats_billed_before": row.seats_billed,
                    "seats_billed": billed,
                })),
        )
        .await?;
        Ok(true)
    }
}

async fn plan_from_stripe(
    stripe: &StripeApi,
    code: &str,
    price: &str,
) -> Result<Plan, BillingError> {
    let found = match stripe.price(price).await {
        Ok(p) => p,
        Err(e) if e.is_not_found() => return Err(BillingError::PlanUnavailable(code.into())),
        Err(e) => return Err(e.into()),
    };
    let Some(recurring) = found
        .recurring
        .clone()
        .filter(|_| found.active != Some(false))
    else {
        return Err(BillingError::PlanUnavailable(code.into()));
    };
    let name = match (&found.nickname, found.product_id()) {
        (Some(nickname), _) => nickname.clone(),
        (None, Some(product)) => stripe
            .product(&product)
            .await?
            .name
            .unwrap_or_else(|| code.to_string()),
        (None, None) => code.to_string(),
    };
    Ok(Plan {
        code: code.to_string(),
        name,
        currency: found.currency,
        unit_amount: found.unit_amount.unwrap_or(0),
        interval: recurring.interval,
        interval_count: recurring.interval_count.unwrap_or(1),
    })
}

fn view(row: platform_subscription::Model, used: i64) -> PlatformSubscription {
    PlatformSubscription {
        plan: row.plan_code,
        status: row.status,
        seats_committed: i64::from(row.seats_committed),
        seats_used: used,
        seats_billed: i64::from(row.seats_billed),
        current_period_start: row.current_period_start,
        current_period_end: row.current_period_end,
        cancel_at_period_end: row.cancel_at_period_end,
        usage_measured_at: row.usage_measured_at,
        stripe_subscription: row.stripe_subscription,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plans() -> PlatformPlans {
        PlatformPlans {
            prices: BTreeMap::from([("campus".to_string(), "price_1".to_string())]),
            seat_usage_every: Duration::hours(1),
        }
    }

    fn change(seats: i64, card: Option<&str>) -> SubscriptionChange {
        SubscriptionChange {
            plan: "campus".into(),
            seats,
            payment_method: card.map(str::to_string),
        }
    }

    #[test]
    fn a_retry_reaches_the_same_subscription_and_another_request_another() {
        let tenant = Uuid::from_u128(7);
        let first = subscription_key(tenant, None, &change(5, Some("pm_a")));
        assert_eq!(
            first,
            subscription_key(tenant, None, &change(5, Some("pm_a")))
        );
        // Another seat count, card, earlier subscription or institution: another key (a
        // declined card's answer is not replayed for the next card).
        for other in [
            subscription_key(tenant, None, &change(6, Some("pm_a"))),
            subscription_key(tenant, None, &change(5, Some("pm_b"))),
            subscription_key(tenant, Some("sub_1"), &change(5, Some("pm_a"))),
            subscription_key(Uuid::from_u128(8), None, &change(5, Some("pm_a"))),
        ] {
            assert_ne!(first, other);
        }
        assert!(first.starts_with("hub-subscription-") && first.len() < 255);
    }

    #[test]
    fn a_change_names_every_bad_field() {
        assert!(check_change(&change(5, Some("pm_card_visa")), &plans()).is_ok());
        let bad = SubscriptionChange {
            plan: "gold".into(),
            seats: 0,
            payment_method: Some("card 4242".into()),
        };
        let Err(BillingError::Invalid(violations)) = check_change(&bad, &plans()) else {
            panic!("refused");
        };
        let fields: Vec<&str> = violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["plan", "seats", "payment_method"]);
        assert!(check_change(&change(MAX_SEATS + 1, None), &plans()).is_err());
    }
}
