//! What admins set up (the institution's connected Stripe account, course prices) and what
//! a learner does: buy a course (`POST /v1/me/purchases`) and read their payments.

use crate::api::billing::finance::PaymentView;
use crate::api::{ApiTags, page_request};
use crate::auth::TenantCredential;
use crate::problem::ApiError;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use hub_billing::purchases::PurchaseRequest;
use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Object, OpenApi};
use std::sync::Arc;
use uuid::Uuid;

/// The institution's Stripe connected account.
#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct StripeAccountUpdate {
    /// The institution's Stripe account id, once it finished Stripe Connect's onboarding.
    #[oai(validator(pattern = "^acct_[A-Za-z0-9]{1,64}$"))]
    pub stripe_account: String,
}

impl Example for StripeAccountUpdate {
    fn example() -> Self {
        Self {
            stripe_account: "acct_1Nv0FGQ9RKHgCVdK".into(),
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct StripeAccountView {
    pub stripe_account: String,
    pub connected_at: DateTime<Utc>,
}

/// Whether the institution takes payments, and through which Stripe account.
#[derive(Debug, Clone, Object)]
pub struct StripeAccountStatus {
    /// `false`: no account is connected; no course can be bought.
    pub connected: bool,
    #[oai(nullable)]
    pub account: Option<crate::api::described::Described<StripeAccountView>>,
}

#[derive(ApiResponse)]
pub enum AccountStatusAnswered {
    #[oai(status = 200)]
    Ok(Json<StripeAccountStatus>),
}

/// A course's price, in the currency's minor units (cents for `eur`, yen for `jpy`).
#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct CoursePriceUpdate {
    /// 1 to 99,999,999 minor units; three-decimal currencies in whole tens.
    #[oai(validator(minimum(value = "1"), maximum(value = "99999999")))]
    pub amount: i64,
    /// An ISO 4217 code in lower case.
    #[oai(validator(pattern = "^[a-z]{3}$"))]
    pub currency: String,
}

impl Example for CoursePriceUpdate {
    fn example() -> Self {
        Self {
            amount: 4900,
            currency: "eur".into(),
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct CoursePriceView {
    pub course_id: Uuid,
    pub amount: i64,
    pub currency: String,
    /// How many decimal places the currency's major unit has.
    pub currency_exponent: u32,
    pub updated_at: DateTime<Utc>,
}

/// Whether a course is for sale, and at what price.
#[derive(Debug, Clone, Object)]
pub struct CourseSale {
    pub course_id: Uuid,
    /// `false`: the course has no price (enrollment is as the course's rules say).
    pub for_sale: bool,
    #[oai(nullable)]
    pub price: Option<crate::api::described::Described<CoursePriceView>>,
}

#[derive(ApiResponse)]
pub enum SaleAnswered {
    #[oai(status = 200)]
    Ok(Json<CourseSale>),
}

impl From<hub_billing::prices::CoursePrice> for CoursePriceView {
    fn from(p: hub_billing::prices::CoursePrice) -> Self {
        Self {
            currency_exponent: hub_billing::money::exponent(&p.currency).unwrap_or(2),
            course_id: p.course_id,
            amount: p.amount,
            currency: p.currency,
            updated_at: p.updated_at,
        }
    }
}

/// The course to buy.
#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct PurchaseCreate {
    pub course_id: Uuid,
    /// A PaymentMethod id from Stripe's payment element on the learner's device: the
    /// payment is confirmed at once. Without it, confirm with `client_secret` in Stripe.js.
    /// Never card data.
    #[oai(
        validator(pattern = "^pm_[A-Za-z0-9_]{1,64}$"),
        skip_serializing_if_is_none
    )]
    pub payment_method: Option<String>,
}

impl Example for PurchaseCreate {
    fn example() -> Self {
        Self {
            course_id: Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001),
            payment_method: None,
        }
    }
}

/// A started purchase. The learner is enrolled once Stripe confirms the payment (a webhook),
/// never on this answer.
#[derive(Debug, Clone, Object)]
pub struct PurchaseView {
    pub payment: PaymentView,
    /// For Stripe's payment element (`stripe.confirmPayment`); not stored by the platform.
    #[oai(nullable)]
    pub client_secret: Option<crate::api::secret_text::SecretText>,
    /// The connected account to initialise Stripe.js with (`stripeAccount`).
    pub stripe_account: String,
}

#[derive(ApiResponse)]
pub enum AccountAnswered {
    #[oai(status = 200)]
    Ok(Json<StripeAccountView>),
}

#[derive(ApiResponse)]
pub enum PriceAnswered {
    #[oai(status = 200)]
    Ok(Json<CoursePriceView>),
}

#[derive(ApiResponse)]
pub enum PriceRemoved {
    /// The course is off sale.
    #[oai(status = 204)]
    Removed,
}

#[derive(ApiResponse)]
pub enum PurchaseStarted {
    /// The payment is created at Stripe; pay it with the client secret.
    #[oai(status = 201)]
    Created(Json<PurchaseView>),
    /// A retry with the same `Idempotency-Key`: the purchase the first attempt started.
    #[oai(status = 200)]
    Replayed(Json<PurchaseView>),
}

/// One page of payments.
#[derive(Debug, Clone, Object)]
pub struct MyPaymentPage {
    pub items: Vec<PaymentView>,
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

#[derive(ApiResponse)]
pub enum MyPaymentsListed {
    #[oai(status = 200)]
    Ok(Json<MyPaymentPage>),
}

#[derive(Default)]
pub struct PurchasesApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Billing")]
impl PurchasesApi {
    /// Connect the institution's Stripe account
    ///
    /// Requires scope `billing:manage` (tenant admins). Learners' payments go to this
    /// connected account (Stripe Connect, direct charges). 409 `stripe_account_taken` when
    /// another institution connected it.
    #[oai(
        path = "/billing/account",
        method = "put",
        operation_id = "connectStripeAccount"
    )]
    async fn connect_account(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        body: Json<StripeAccountUpdate>,
    ) -> Result<AccountAnswered, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let account = state
            .billing
            .connect_account(&scope, &body.0.stripe_account)
            .await?;
        scope.commit().await?;
        Ok(AccountAnswered::Ok(Json(StripeAccountView {
            stripe_account: account.stripe_account,
            connected_at: account.connected_at,
        })))
    }

    /// The institution's Stripe account
    ///
    /// Requires scope `billing:read` (finance; tenant admins hold every scope).
    #[oai(
        path = "/billing/account",
        method = "get",
        operation_id = "getStripeAccount"
    )]
    async fn get_account(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
    ) -> Result<AccountStatusAnswered, ApiError> {
        let billing = &state.billing;
        let account = state
            .tenancy
            .read(&auth.0, move |scope| async move {
                billing.connected_account(&scope).await
            })
            .await?;
        Ok(AccountStatusAnswered::Ok(Json(StripeAccountStatus {
            connected: account.is_some(),
            account: account.map(|a| {
                crate::api::described::Described(StripeAccountView {
                    stripe_account: a.stripe_account,
                    connected_at: a.connected_at,
                })
            }),
        })))
    }

    /// Set a course's price
    ///
    /// Requires scope `billing:manage`. A priced course is sold to learners it is open to;
    /// 404 `course_not_for_sale` for an unknown course.
    #[oai(
        path = "/courses/:course_id/price",
        method = "put",
        operation_id = "setCoursePrice"
    )]
    async fn set_price(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        course_id: Path<Uuid>,
        body: Json<CoursePriceUpdate>,
    ) -> Result<PriceAnswered, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let price = state
            .billing
            .set_price(&scope, course_id.0, body.0.amount, &body.0.currency)
            .await?;
        scope.commit().await?;
        Ok(PriceAnswered::Ok(Json(price.into())))
    }

    /// A course's price
    ///
    /// Requires scope `courses:read`. `for_sale: false` for a course with no price; 404
    /// `course_not_for_sale` for an unknown course.
    #[oai(
        path = "/courses/:course_id/price",
        method = "get",
        operation_id = "getCoursePrice"
    )]
    async fn get_price(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        course_id: Path<Uuid>,
    ) -> Result<SaleAnswered, ApiError> {
        let billing = &state.billing;
        let course = course_id.0;
        let price = state
            .tenancy
            .read(&auth.0, move |scope| async move {
                billing.price(&scope, course).await
            })
            .await?;
        Ok(SaleAnswered::Ok(Json(CourseSale {
            course_id: course,
            for_sale: price.is_some(),
            price: price.map(|p| crate::api::described::Described(p.into())),
        })))
    }

    /// Take a course off sale
    ///
    /// Requires scope `billing:manage`.
    #[oai(
        path = "/courses/:course_id/price",
        method = "delete",
        operation_id = "removeCoursePrice"
    )]
    async fn remove_price(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        course_id: Path<Uuid>,
    ) -> Result<PriceRemoved, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let removed = state.billing.remove_price(&scope, course_id.0).await?;
        scope.commit().await?;
        if !removed {
            return Err(hub_billing::BillingError::PriceNotFound.into());
        }
        Ok(PriceRemoved::Removed)
    }

    /// Buy a course
    ///
    /// Any signed-in person, for a priced course open to them. Creates the payment at
    /// Stripe on the institution's account; the learner is enrolled (source `purchase`)
    /// once Stripe confirms the payment by webhook, never on the client's word. The course's
    /// rules are asked before anything reaches Stripe, as for a learner's own enrollment:
    /// 404 `course_not_for_sale`, 409 `already_enrolled`, `learner_restricted`,
    /// `prerequisites_not_completed` (complete the course's prerequisite courses first),
    /// `seats_exhausted` (every seat is taken), `no_connected_account`,
    /// `billing_not_configured`, `stripe_refused`; 503 `stripe_unavailable` (retry with the
    /// same `Idempotency-Key`). Should the course no longer take the learner when Stripe's
    /// confirmation arrives (the last seat went meanwhile), the payment is refunded in full
    /// and its `fulfilment` is `refused`.
    #[oai(
        path = "/me/purchases",
        method = "post",
        operation_id = "purchaseCourse"
    )]
    async fn purchase(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        body: Json<PurchaseCreate>,
        /// Makes a retry return the purchase the first attempt started.
        #[oai(
            name = "Idempotency-Key",
            validator(max_length = 200, pattern = "^[!-~]+$")
        )]
        idempotency_key: Header<Option<String>>,
    ) -> Result<PurchaseStarted, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let request = PurchaseRequest {
            course_id: body.0.course_id,
            payment_method: body.0.payment_method,
        };
        let purchase = state
            .billing
            .purchase(&scope, &request, idempotency_key.0.as_deref())
            .await?;
        scope.commit().await?;
        let view = PurchaseView {
            payment: purchase.payment.into(),
            client_secret: purchase.client_secret.map(Into::into),
            stripe_account: purchase.stripe_account,
        };
        Ok(if purchase.created {
            PurchaseStarted::Created(Json(view))
        } else {
            PurchaseStarted::Replayed(Json(view))
        })
    }

    /// My payments
    ///
    /// Any signed-in person: their own payments, oldest first.
    #[oai(path = "/me/payments", method = "get", operation_id = "listMyPayments")]
    async fn my_payments(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        /// Cursor from the previous page's `next_cursor`.
        cursor: Query<Option<String>>,
        /// Page size, 1–200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u64>>,
    ) -> Result<MyPaymentsListed, ApiError> {
        let page = page_request(cursor.0.as_deref(), limit.0)?;
        let page = &page;
        let billing = &state.billing;
        let payments = state
            .tenancy
            .read(&auth.0, move |scope| async move {
                billing.my_payments(&scope, page).await
            })
            .await?;
        Ok(MyPaymentsListed::Ok(Json(MyPaymentPage {
            items: payments.items.into_iter().map(Into::into).collect(),
            next_cursor: payments.next_cursor,
        })))
    }
}
