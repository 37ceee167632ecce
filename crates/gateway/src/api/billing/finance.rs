//! Finance's operations (`billing:read`, `billing:refund`): payments with filters and cursor
//! pages, totals per currency in integer minor units, the CSV export of any filter
//! (streamed a page at a time), refunds and disputes. Finance reaches no learning record:
//! its role holds no learning scope, and billing's tables hold none.

use crate::api::{ApiTags, page_request};
use crate::auth::TenantCredential;
use crate::problem::ApiError;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use hub_billing::history::{CSV_COLUMNS, PaymentFilter};
use hub_billing::refunds::RefundRequest;
use hub_kernel::page::PageRequest;
use poem::web::Data;
use poem::{Body, IntoResponse, Response};
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::{Json, Payload};
use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use std::sync::Arc;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// The learner has not paid (yet).
    RequiresPayment,
    /// Stripe is taking the money.
    Processing,
    Succeeded,
    PartiallyRefunded,
    Refunded,
    Canceled,
}

impl PaymentStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::RequiresPayment => "requires_payment",
            Self::Processing => "processing",
            Self::Succeeded => "succeeded",
            Self::PartiallyRefunded => "partially_refunded",
            Self::Refunded => "refunded",
            Self::Canceled => "canceled",
        }
    }
}

/// What became of the enrollment a payment buys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum PaymentFulfilment {
    /// Stripe's success is not processed yet (or the payment never succeeded).
    Pending,
    /// The learner is enrolled (`enrollment_id`).
    Enrolled,
    /// Refunded in full automatically: the course could no longer take the learner.
    Refused,
    /// A full refund withdrew the enrollment the payment made.
    Withdrawn,
}

impl PaymentFulfilment {
    fn parse(text: &str) -> Self {
        match text {
            hub_billing::history::FULFILMENT_ENROLLED => Self::Enrolled,
            hub_billing::history::FULFILMENT_REFUSED => Self::Refused,
            hub_billing::history::FULFILMENT_WITHDRAWN => Self::Withdrawn,
            _ => Self::Pending,
        }
    }
}

/// A learner's payment for a course, as Stripe last reported it. Amounts are integer
/// minor units of `currency`; `currency_exponent` says how many decimals its major unit has.
#[derive(Debug, Clone, Object)]
pub struct PaymentView {
    pub id: Uuid,
    /// The buyer; a random pseudonym once their data was erased (`pseudonymised`).
    pub person_id: Uuid,
    #[oai(nullable)]
    pub course_id: Option<Uuid>,
    /// The product name (the course's title when bought).
    pub description: String,
    pub amount: i64,
    pub currency: String,
    pub currency_exponent: u32,
    /// `requires_payment`, `processing`, `succeeded`, `partially_refunded`, `refunded` or
    /// `canceled`.
    pub status: String,
    pub amount_refunded: i64,
    pub stripe_payment_intent: String,
    #[oai(nullable)]
    pub stripe_charge: Option<String>,
    #[oai(nullable)]
    pub card_brand: Option<String>,
    /// The card's last four digits: all the product ever holds of a card number.
    #[oai(nullable)]
    pub card_last4: Option<String>,
    #[oai(nullable)]
    pub card_exp_month: Option<i32>,
    #[oai(nullable)]
    pub card_exp_year: Option<i32>,
    /// The enrollment the confirmed payment made.
    #[oai(nullable)]
    pub enrollment_id: Option<Uuid>,
    /// What became of the enrollment the payment buys: `pending` (Stripe's success not
    /// processed yet, or the payment never succeeded), `enrolled`, `refused` (Stripe took
    /// the money when the course could no longer take the learner: the payment was refunded
    /// in full automatically, not by finance, and nobody enrolled) or `withdrawn` (a full
    /// refund ended the enrollment it made).
    pub fulfilment: crate::api::described::Described<PaymentFulfilment>,
    /// Why, as a stable code: for `refused`, the rule the course no longer met
    /// (`seats_exhausted`, `prerequisites_not_completed`, `learner_restricted`,
    /// `already_enrolled`); for `withdrawn`, `refunded`; for `enrolled` after a full refund,
    /// why the enrollment was kept (`not_from_purchase`: an admin, a group or the learner
    /// made it; `ended`: completed, failed or withdrawn already; `learner_restricted`;
    /// `gone`; `held_by_another_payment`).
    #[oai(nullable)]
    pub fulfilment_reason: Option<String>,
    pub pseudonymised: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<hub_billing::history::Payment> for PaymentView {
    fn from(p: hub_billing::history::Payment) -> Self {
        Self {
            currency_exponent: hub_billing::money::exponent(&p.currency).unwrap_or(2),
            id: p.id,
            person_id: p.person_id,
            course_id: p.course_id,
            description: p.description,
            amount: p.amount,
            currency: p.currency,
            status: p.status,
            amount_refunded: p.amount_refunded,
            stripe_payment_intent: p.stripe_payment_intent,
            stripe_charge: p.stripe_charge,
            card_brand: p.card_brand,
            card_last4: p.card_last4,
            card_exp_month: p.card_exp_month,
            card_exp_year: p.card_exp_year,
            enrollment_id: p.enrollment_id,
            fulfilment: crate::api::described::Described(PaymentFulfilment::parse(&p.fulfilment)),
            fulfilment_reason: p.fulfilment_reason,
            pseudonymised: p.pseudonymised,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct PaymentPage {
    pub items: Vec<PaymentView>,
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

/// One currency's totals, in integer minor units.
#[derive(Debug, Clone, Object)]
pub struct CurrencyTotalView {
    pub currency: String,
    pub currency_exponent: u32,
    /// Payments taken (succeeded, partially or wholly refunded).
    pub payments: i64,
    pub gross: i64,
    pub refunded: i64,
    pub net: i64,
}

#[derive(Debug, Clone, Object)]
pub struct BillingTotals {
    /// One entry per currency, by code. Amounts of different currencies are never added.
    pub currencies: Vec<CurrencyTotalView>,
}

/// A refund to make.
#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct RefundCreate {
    /// Minor units; without it, everything left to refund.
    #[oai(validator(minimum(value = "1"), maximum(value = "99999999")))]
    pub amount: Option<i64>,
    /// Why (kept with the refund and in the audit trail): 1–500 characters.
    #[oai(validator(min_length = 1, max_length = 500))]
    pub reason: String,
}

impl Example for RefundCreate {
    fn example() -> Self {
        Self {
            amount: Some(1500),
            reason: "Course cancelled after the first session".into(),
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct RefundView {
    pub id: Uuid,
    pub payment_id: Uuid,
    #[oai(nullable)]
    pub stripe_refund: Option<String>,
    pub amount: i64,
    pub currency: String,
    /// `pending` until Stripe's webhook reports the final state (`succeeded`, `failed`,
    /// `canceled`).
    pub status: String,
    pub reason: String,
    /// The finance person who asked (a pseudonym once erased; `null` for a refund made in
    /// Stripe or with an API key).
    #[oai(nullable)]
    pub requested_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<hub_billing::history::Refund> for RefundView {
    fn from(r: hub_billing::history::Refund) -> Self {
        Self {
            id: r.id,
            payment_id: r.payment_id,
            stripe_refund: r.stripe_refund,
            amount: r.amount,
            currency: r.currency,
            status: r.status,
            reason: r.reason,
            requested_by: r.requested_by,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct RefundPage {
    pub items: Vec<RefundView>,
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Object)]
pub struct DisputeView {
    pub id: Uuid,
    pub stripe_dispute: String,
    #[oai(nullable)]
    pub payment_id: Option<Uuid>,
    pub amount: i64,
    pub currency: String,
    /// Stripe's status (`warning_needs_response`, `needs_response`, `under_review`, `won`,
    /// `lost`, …).
    pub status: String,
    pub reason: String,
    /// Evidence must reach Stripe before this.
    #[oai(nullable)]
    pub evidence_due_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Object)]
pub struct DisputePage {
    pub items: Vec<DisputeView>,
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

#[derive(ApiResponse)]
pub enum PaymentsListed {
    #[oai(status = 200)]
    Ok(Json<PaymentPage>),
}

#[derive(ApiResponse)]
pub enum PaymentFound {
    #[oai(status = 200)]
    Ok(Json<PaymentView>),
}

#[derive(ApiResponse)]
pub enum TotalsAnswered {
    #[oai(status = 200)]
    Ok(Json<BillingTotals>),
}

#[derive(ApiResponse)]
pub enum RefundAnswered {
    /// Asked of Stripe; `pending` until its webhook says how it ended.
    #[oai(status = 201)]
    Created(Json<RefundView>),
    /// A retry with the same `Idempotency-Key`: the refund the first attempt asked for.
    #[oai(status = 200)]
    Replayed(Json<RefundView>),
}

#[derive(ApiResponse)]
pub enum RefundsListed {
    #[oai(status = 200)]
    Ok(Json<RefundPage>),
}

#[derive(ApiResponse)]
pub enum DisputesListed {
    #[oai(status = 200)]
    Ok(Json<DisputePage>),
}

/// The CSV export, streamed.
pub struct PaymentsCsv(Body);

impl Payload for PaymentsCsv {
    const CONTENT_TYPE: &'static str = "text/csv";

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            description: Some(
                "RFC 4180 with a header row: payment_id, created_at, status, amount, \
                 amount_refunded, currency, currency_exponent, description, course_id, \
                 person_id, card_brand, card_last4, stripe_payment_intent, stripe_charge. \
                 Amounts are integer minor units; a cell starting with =, +, -, @, tab or CR \
                 is prefixed by '",
            ),
            ..MetaSchema::new("string")
        }))
    }
}

impl IntoResponse for PaymentsCsv {
    fn into_response(self) -> Response {
        Response::builder()
            .content_type("text/csv; charset=utf-8")
            .header(
                "Content-Disposition",
                "attachment; filename=\"payments.csv\"",
            )
            .body(self.0)
    }
}

#[derive(ApiResponse)]
pub enum PaymentsExported {
    #[oai(status = 200)]
    Ok(PaymentsCsv),
}

/// The filter of the list, totals and export.
fn filter(
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    status: Option<PaymentStatus>,
    person_id: Option<Uuid>,
    course_id: Option<Uuid>,
    currency: Option<String>,
) -> PaymentFilter {
    PaymentFilter {
        from,
        to,
        status: status.map(|s| s.as_str().to_string()),
        person_id,
        course_id,
        currency,
    }
}

#[derive(Default)]
pub struct FinanceApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Billing")]
impl FinanceApi {
    /// Payments
    ///
    /// Requires scope `billing:read` (finance). Filters combine; oldest first.
    ///
    /// Returns other people's personal data: every call is recorded in the audit trail.
    #[oai(
        path = "/billing/payments",
        method = "get",
        operation_id = "listPayments"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        /// Created at or after.
        from: Query<Option<DateTime<Utc>>>,
        /// Created before.
        to: Query<Option<DateTime<Utc>>>,
        status: Query<Option<PaymentStatus>>,
        /// The buyer (customer).
        person_id: Query<Option<Uuid>>,
        course_id: Query<Option<Uuid>>,
        #[oai(validator(pattern = "^[a-z]{3}$"))] currency: Query<Option<String>>,
        /// Cursor from the previous page's `next_cursor`.
        cursor: Query<Option<String>>,
        /// Page size, 1–200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u64>>,
    ) -> Result<PaymentsListed, ApiError> {
        let page = page_request(cursor.0.as_deref(), limit.0)?;
        let page = &page;
        let filter = &filter(from.0, to.0, status.0, person_id.0, course_id.0, currency.0);
        // A write scope: the read is audited.
        let scope = state.tenancy.scope(&auth.0).await?;
        let payments = state.billing.payments(&scope, filter, page).await?;
        scope.commit().await?;
        Ok(PaymentsListed::Ok(Json(PaymentPage {
            items: payments.items.into_iter().map(Into::into).collect(),
            next_cursor: payments.next_cursor,
        })))
    }

    /// One payment
    ///
    /// Requires scope `billing:read`.
    ///
    /// Returns other people's personal data: every call is recorded in the audit trail.
    #[oai(
        path = "/billing/payments/:payment_id",
        method = "get",
        operation_id = "getPayment"
    )]
    async fn get(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        payment_id: Path<Uuid>,
    ) -> Result<PaymentFound, ApiError> {
        // A write scope: the read is audited.
        let scope = state.tenancy.scope(&auth.0).await?;
        let payment = state.billing.payment(&scope, payment_id.0).await?;
        scope.commit().await?;
        Ok(PaymentFound::Ok(Json(payment.into())))
    }

    /// Totals per currency
    ///
    /// Requires scope `billing:read`. For the same filters as the list: per currency, the
    /// payments taken, gross, refunded and net, in integer minor units with the currency's
    /// exponent.
    #[oai(
        path = "/billing/totals",
        method = "get",
        operation_id = "getBillingTotals"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn totals(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        from: Query<Option<DateTime<Utc>>>,
        to: Query<Option<DateTime<Utc>>>,
        status: Query<Option<PaymentStatus>>,
        person_id: Query<Option<Uuid>>,
        course_id: Query<Option<Uuid>>,
        #[oai(validator(pattern = "^[a-z]{3}$"))] currency: Query<Option<String>>,
    ) -> Result<TotalsAnswered, ApiError> {
        let filter = &filter(from.0, to.0, status.0, person_id.0, course_id.0, currency.0);
        let billing = &state.billing;
        let totals = state
            .tenancy
            .read(&auth.0, move |scope| async move {
                billing.totals(&scope, filter).await
            })
            .await?;
        Ok(TotalsAnswered::Ok(Json(BillingTotals {
            currencies: totals
                .into_iter()
                .map(|t| CurrencyTotalView {
                    currency: t.currency,
                    currency_exponent: t.exponent,
                    payments: t.payments,
                    gross: t.gross,
                    refunded: t.refunded,
                    net: t.net,
                })
                .collect(),
        })))
    }

    /// Export payments as CSV
    ///
    /// Requires scope `billing:read`. Every payment the filters select, streamed a page at
    /// a time (any size; the first page is read before the answer starts, so a refused
    /// filter is a 4xx problem).
    ///
    /// Returns other people's personal data: every call is recorded in the audit trail.
    #[oai(
        path = "/billing/payments/export",
        method = "get",
        operation_id = "exportPayments"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn export(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        from: Query<Option<DateTime<Utc>>>,
        to: Query<Option<DateTime<Utc>>>,
        status: Query<Option<PaymentStatus>>,
        person_id: Query<Option<Uuid>>,
        course_id: Query<Option<Uuid>>,
        #[oai(validator(pattern = "^[a-z]{3}$"))] currency: Query<Option<String>>,
    ) -> Result<PaymentsExported, ApiError> {
        let filter = filter(from.0, to.0, status.0, person_id.0, course_id.0, currency.0);
        let state = Arc::clone(&state);
        let principal = auth.0.clone();
        let first = export_page(&state, &principal, &filter, None).await?;
        let header = hub_kernel::csv::row(CSV_COLUMNS.iter().copied());
        struct Cursor {
            state: Arc<AppState>,
            principal: hub_tenant::TenantPrincipal,
            filter: PaymentFilter,
            next: Option<Option<String>>,
            buffered: Option<String>,
        }
        let (text, next) = first;
        let start = Cursor {
            state,
            principal,
            filter,
            next: next.map(Some),
            buffered: Some(header + &text),
        };
        let chunks = futures::stream::unfold(start, |mut c| async move {
            if let Some(text) = c.buffered.take() {
                return Some((Ok::<_, std::io::Error>(text.into_bytes()), c));
            }
            let cursor = c.next.take()??;
            match export_page(&c.state, &c.principal, &c.filter, Some(cursor.as_str())).await {
                Ok((text, next)) => {
                    c.next = next.map(Some);
                    Some((Ok(text.into_bytes()), c))
                }
                Err(error) => {
                    tracing::warn!(?error, "a payments export failed mid-stream");
                    Some((Err(std::io::Error::other("export failed")), c))
                }
            }
        });
        Ok(PaymentsExported::Ok(PaymentsCsv(Body::from_bytes_stream(
            chunks,
        ))))
    }

    /// Refund a payment
    ///
    /// Requires scope `billing:refund` (finance) and an `Idempotency-Key` (a retry never
    /// refunds twice). Full (no `amount`) or partial; 422 `refund_too_large` beyond what is
    /// left, 409 `payment_not_refundable` for a payment not taken. The refund is `pending`
    /// until Stripe's webhook reports its final state.
    #[oai(
        path = "/billing/payments/:payment_id/refunds",
        method = "post",
        operation_id = "refundPayment"
    )]
    async fn refund(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        payment_id: Path<Uuid>,
        body: Json<RefundCreate>,
        #[oai(
            name = "Idempotency-Key",
            validator(min_length = 1, max_length = 200, pattern = "^[!-~]+$")
        )]
        idempotency_key: Header<String>,
    ) -> Result<RefundAnswered, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let asked = state
            .billing
            .refund_payment(
                &scope,
                payment_id.0,
                &RefundRequest {
                    amount: body.0.amount,
                    reason: body.0.reason,
                },
                &idempotency_key.0,
            )
            .await?;
        scope.commit().await?;
        Ok(if asked.created {
            RefundAnswered::Created(Json(asked.refund.into()))
        } else {
            RefundAnswered::Replayed(Json(asked.refund.into()))
        })
    }

    /// Refunds
    ///
    /// Requires scope `billing:read`. Oldest first; one payment's with `payment_id`.
    ///
    /// Returns other people's personal data: every call is recorded in the audit trail.
    #[oai(
        path = "/billing/refunds",
        method = "get",
        operation_id = "listRefunds"
    )]
    async fn refunds(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        payment_id: Query<Option<Uuid>>,
        cursor: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u64>>,
    ) -> Result<RefundsListed, ApiError> {
        let page = page_request(cursor.0.as_deref(), limit.0)?;
        let page = &page;
        let scope = state.tenancy.scope(&auth.0).await?;
        let refunds = state.billing.refunds(&scope, payment_id.0, page).await?;
        scope.commit().await?;
        Ok(RefundsListed::Ok(Json(RefundPage {
            items: refunds.items.into_iter().map(Into::into).collect(),
            next_cursor: refunds.next_cursor,
        })))
    }

    /// Disputes
    ///
    /// Requires scope `billing:read`. Card holders' disputes with Stripe's status and the
    /// deadline for evidence, oldest first.
    #[oai(
        path = "/billing/disputes",
        method = "get",
        operation_id = "listDisputes"
    )]
    async fn disputes(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        cursor: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u64>>,
    ) -> Result<DisputesListed, ApiError> {
        let page = page_request(cursor.0.as_deref(), limit.0)?;
        let page = &page;
        let billing = &state.billing;
        let disputes = state
            .tenancy
            .read(&auth.0, move |scope| async move {
                billing.disputes(&scope, page).await
            })
            .await?;
        Ok(DisputesListed::Ok(Json(DisputePage {
            items: disputes
                .items
                .into_iter()
                .map(|d| DisputeView {
                    id: d.id,
                    stripe_dispute: d.stripe_dispute,
                    payment_id: d.payment_id,
                    amount: d.amount,
                    currency: d.currency,
                    status: d.status,
                    reason: d.reason,
                    evidence_due_at: d.evidence_due_at,
                    created_at: d.created_at,
                    updated_at: d.updated_at,
                })
                .collect(),
            next_cursor: disputes.next_cursor,
        })))
    }
}

/// One page of the export as CSV lines, and the next page's cursor.
async fn export_page(
    state: &Arc<AppState>,
    principal: &hub_tenant::TenantPrincipal,
    filter: &PaymentFilter,
    cursor: Option<&str>,
) -> Result<(String, Option<String>), ApiError> {
    let page = PageRequest::parse(cursor, Some(hub_kernel::page::MAX_PAGE_SIZE))
        .map_err(|e| ApiError::from(hub_tenant::TenantError::from(e)))?;
    // Each page is its own unit of work, audited with the ids it exported.
    let scope = state.tenancy.scope(principal).await?;
    let payments = state.billing.payments(&scope, filter, &page).await?;
    scope.commit().await?;
    let mut text = String::new();
    for payment in &payments.items {
        text.push_str(&payment.csv_line());
    }
    Ok((text, payments.next_cursor))
}
