//! Finance's view (D7, C4): payments, refunds and disputes as Stripe last reported them,
//! filtered by period, status, customer (person), course and currency, in cursor pages
//! (newest last: ids are time-ordered), with totals per currency in integer minor units
//! and each currency's exponent, and a CSV export of any filter read a page at a time.
//! Nothing here reads or names a learning record: billing's tables hold none.

use crate::entities::{dispute, payment, refund};
use crate::error::BillingError;
use crate::money;
use crate::{BILLING_READ, Billing};
use chrono::{DateTime, Utc};
use hub_kernel::page::{Page, PageRequest};
use hub_tenant::TenantScope;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, FromQueryResult, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    pub id: Uuid,
    /// The buyer; a pseudonym once they were erased (the payment stays for the tax period).
    pub person_id: Uuid,
    pub course_id: Option<Uuid>,
    pub description: String,
    pub amount: i64,
    pub currency: String,
    pub status: String,
    pub amount_refunded: i64,
    pub stripe_payment_intent: String,
    pub stripe_charge: Option<String>,
    pub card_brand: Option<String>,
    pub card_last4: Option<String>,
    pub card_exp_month: Option<i32>,
    pub card_exp_year: Option<i32>,
    pub enrollment_id: Option<Uuid>,
    /// What became of the enrollment the payment buys ([`FULFILMENTS`]).
    pub fulfilment: String,
    /// Why, as a stable code: for `refused`, the rule the course no longer met
    /// (`seats_exhausted`, `prerequisites_not_completed`, `learner_restricted`,
    /// `already_enrolled`: their enrollment ended in failure); for `withdrawn`, `refunded`;
    /// for `enrolled` after a full refund, why the enrollment was kept (`not_from_purchase`:
    /// an admin, a group or the learner made it; `ended`; `learner_restricted`; `gone`;
    /// `held_by_another_payment`).
    pub fulfilment_reason: Option<String>,
    pub pseudonymised: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What the product keeps of a card (C4): brand, last four digits, expiry. Sealed under
/// the institution's key with the payment's id as associated data.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CardOnFile {
    pub brand: Option<String>,
    pub last4: Option<String>,
    pub exp_month: Option<i32>,
    pub exp_year: Option<i32>,
}

impl CardOnFile {
    pub(crate) fn from_stripe(card: crate::stripe_api::Card) -> Self {
        Self {
            brand: card.brand,
            // Four digits at most, whatever an answer held.
            last4: card.last4.map(|l| {
                let digits: Vec<char> = l.chars().filter(char::is_ascii_digit).collect();
                digits[digits.len().saturating_sub(4)..].iter().collect()
            }),
            exp_month: card.exp_month,
            exp_year: card.exp_year,
        }
    }

    pub(crate) fn seal(&self, scope: &TenantScope, payment_id: Uuid) -> Vec<u8> {
        let json = serde_json::to_string(self).unwrap_or_default();
        scope
            .keys()
            .seal_str(crate::personal_data::PAYMENTS, "card", payment_id, &json)
    }

    pub(crate) fn open(
        scope: &TenantScope,
        payment_id: Uuid,
        sealed: &[u8],
    ) -> Result<Self, BillingError> {
        let json = scope
            .keys()
            .open_str(crate::personal_data::PAYMENTS, "card", payment_id, sealed)
            .map_err(|e| BillingError::Sealing(e.to_string()))?;
        serde_json::from_str(&json).map_err(|e| BillingError::Sealing(e.to_string()))
    }
}

pub(crate) fn from_row(scope: &TenantScope, row: payment::Model) -> Result<Payment, BillingError> {
    let card = match &row.card_sealed {
        Some(sealed) => CardOnFile::open(scope, row.id, sealed)?,
        None => CardOnFile::default(),
    };
    Ok(Payment {
        id: row.id,
        person_id: row.person_id,
        course_id: row.course_id,
        description: row.description,
        amount: row.amount,
        currency: row.currency,
        status: row.status,
        amount_refunded: row.amount_refunded,
        stripe_payment_intent: row.stripe_payment_intent,
        stripe_charge: row.stripe_charge,
        card_brand: card.brand,
        card_last4: card.last4,
        card_exp_month: card.exp_month,
        card_exp_year: card.exp_year,
        enrollment_id: row.enrollment_id,
        fulfilment: row.fulfilment,
        fulfilment_reason: row.fulfilment_reason,
        pseudonymised: row.pseudonymised_at.is_some(),
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

pub(crate) async fn payment_row(
    scope: &TenantScope,
    id: Uuid,
) -> Result<Option<payment::Model>, BillingError> {
    Ok(payment::Entity::find_by_id(id).one(scope.db()).await?)
}

/// Which payments (every field optional; all given must hold).
#[derive(Debug, Clone, Default)]
pub struct PaymentFilter {
    /// Created at or after.
    pub from: Option<DateTime<Utc>>,
    /// Created before.
    pub to: Option<DateTime<Utc>>,
    pub status: Option<String>,
    pub person_id: Option<Uuid>,
    pub course_id: Option<Uuid>,
    pub currency: Option<String>,
}

/// The statuses a payment can have.
pub const PAYMENT_STATUSES: &[&str] = &[
    "requires_payment",
    "processing",
    "succeeded",
    "partially_refunded",
    "refunded",
    "canceled",
];

impl PaymentFilter {
    fn condition(&self) -> Condition {
        let mut c = Condition::all();
        if let Some(from) = self.from {
            c = c.add(payment::Column::CreatedAt.gte(from));
        }
        if let Some(to) = self.to {
            c = c.add(payment::Column::CreatedAt.lt(to));
        }
        if let Some(status) = &self.status {
            c = c.add(payment::Column::Status.eq(status.as_str()));
        }
        if let Some(person) = self.person_id {
            c = c.add(payment::Column::PersonId.eq(person));
        }
        if let Some(course) = self.course_id {
            c = c.add(payment::Column::CourseId.eq(course));
        }
        if let Some(currency) = &self.currency {
            c = c.add(payment::Column::Currency.eq(currency.as_str()));
        }
        c
    }

    fn check(&self) -> Result<(), BillingError> {
        let mut v = hub_kernel::problem::Violations::new();
        if let (Some(from), Some(to)) = (self.from, self.to) {
            v.check(from < to, "from", "must be before `to`");
        }
        if let Some(currency) = &self.currency
            && let Err(e) = money::check_currency("currency", currency)
        {
            v.add(e.field, e.message);
        }
        if let Some(status) = &self.status {
            v.check(
                PAYMENT_STATUSES.contains(&status.as_str()),
                "status",
                "is not a payment status",
            );
        }
        v.finish().map_err(BillingError::Invalid)
    }
}

/// Stripe's success not processed yet (or the payment never succeeded).
pub const FULFILMENT_PENDING: &str = "pending";
/// The learner is enrolled (the payment's `enrollment_id`).
pub const FULFILMENT_ENROLLED: &str = "enrolled";
/// Stripe took the money but the course could no longer take the learner: the payment was
/// refunded in full automatically (not by finance), nobody enrolled.
pub const FULFILMENT_REFUSED: &str = "refused";
/// A full refund withdrew the enrollment the payment made.
pub const FULFILMENT_WITHDRAWN: &str = "withdrawn";

/// What became of a payment's enrollment, in the order a payment may go through them.
pub const FULFILMENTS: &[&str] = &[
    FULFILMENT_PENDING,
    FULFILMENT_ENROLLED,
    FULFILMENT_REFUSED,
    FULFILMENT_WITHDRAWN,
];

/// Totals of one currency: integer minor units, with the currency's exponent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrencyTotal {
    pub currency: String,
    pub exponent: u32,
    /// Payments counted (every status but `requires_payment` and `canceled`).
    pub payments: i64,
    /// What was taken.
    pub gross: i64,
    pub refunded: i64,
    /// `gross - refunded`.
    pub net: i64,
}

#[derive(Debug, FromQueryResult)]
struct TotalRow {
    currency: String,
    payments: i64,
    gross: Option<i64>,
    refunded: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    pub id: Uuid,
    pub payment_id: Uuid,
    pub stripe_refund: Option<String>,
    pub amount: i64,
    pub currency: String,
    pub status: String,
    pub reason: String,
    pub requested_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub(crate) fn refund_from_row(row: refund::Model) -> Refund {
    Refund {
        id: row.id,
        payment_id: row.payment_id,
        stripe_refund: row.stripe_refund,
        amount: row.amount,
        currency: row.currency,
        status: row.status,
        reason: row.reason,
        requested_by: row.requested_by,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dispute {
    pub id: Uuid,
    pub stripe_dispute: String,
    pub payment_id: Option<Uuid>,
    pub amount: i64,
    pub currency: String,
    pub status: String,
    pub reason: String,
    /// The deadline for the institution's evidence, from Stripe.
    pub evidence_due_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The CSV export's columns, in order.
pub const CSV_COLUMNS: &[&str] = &[
    "payment_id",
    "created_at",
    "status",
    "amount",
    "amount_refunded",
    "currency",
    "currency_exponent",
    "description",
    "course_id",
    "person_id",
    "card_brand",
    "card_last4",
    "stripe_payment_intent",
    "stripe_charge",
    "fulfilment",
    "fulfilment_reason",
];

impl Payment {
    /// The payment as one CSV line (cells escaped, CRLF-terminated).
    pub fn csv_line(&self) -> String {
        let cells = [
            self.id.to_string(),
            self.created_at.to_rfc3339(),
            self.status.clone(),
            self.amount.to_string(),
            self.amount_refunded.to_string(),
            self.currency.clone(),
            money::exponent(&self.currency).unwrap_or(2).to_string(),
            self.description.clone(),
            self.course_id.map(|c| c.to_string()).unwrap_or_default(),
            self.person_id.to_string(),
            self.card_brand.clone().unwrap_or_default(),
            self.card_last4.clone().unwrap_or_default(),
            self.stripe_payment_intent.clone(),
            self.stripe_charge.clone().unwrap_or_default(),
            self.fulfilment.clone(),
            self.fulfilment_reason.clone().unwrap_or_default(),
        ];
        hub_kernel::csv::row(cells.iter().map(String::as_str))
    }
}

impl Billing {
    /// A page of payments. Payments are the buyers' personal data (C4): every read is
    /// recorded in the audit trail (S2), in the read's own unit of work, with the ids shown.
    pub async fn payments(
        &self,
        scope: &TenantScope,
        filter: &PaymentFilter,
        page: &PageRequest,
    ) -> Result<Page<Payment>, BillingError> {
        scope.require(BILLING_READ)?;
        filter.check()?;
        let found = payments_page(scope, filter, page).await?;
        audit_read(
            scope,
            "billing.payments_read",
            "payment_ids",
            found.items.iter().map(|p| p.id),
        )
        .await?;
        Ok(found)
    }

    /// The signed-in person's own payments.
    pub async fn my_payments(
        &self,
        scope: &TenantScope,
        page: &PageRequest,
    ) -> Result<Page<Payment>, BillingError> {
        let person = scope
            .actor()
            .and_then(|a| a.person_id())
            .ok_or(BillingError::PersonOnly)?;
        let filter = PaymentFilter {
            person_id: Some(person),
            ..PaymentFilter::default()
        };
        payments_page(scope, &filter, page).await
    }

    /// One payment; the read is audited (S2).
    pub async fn payment(&self, scope: &TenantScope, id: Uuid) -> Result<Payment, BillingError> {
        scope.require(BILLING_READ)?;
        let row = payment_row(scope, id)
            .await?
            .ok_or(BillingError::PaymentNotFound)?;
        let payment = from_row(scope, row)?;
        audit_read(scope, "billing.payments_read", "payment_ids", [payment.id]).await?;
        Ok(payment)
    }

    pub async fn totals(
        &self,
        scope: &TenantScope,
        filter: &PaymentFilter,
    ) -> Result<Vec<CurrencyTotal>, BillingError> {
        scope.require(BILLING_READ)?;
        filter.check()?;
        let rows = payment::Entity::find()
            .select_only()
            .column(payment::Column::Currency)
            // SUM of a bigint is numeric on PostgreSQL: cast back, on both backends.
            .column_as(Expr::cust("CAST(COUNT(*) AS BIGINT)"), "payments")
            .column_as(
                Expr::cust("CAST(COALESCE(SUM(amount), 0) AS BIGINT)"),
                "gross",
            )
            .column_as(
                Expr::cust("CAST(COALESCE(SUM(amount_refunded), 0) AS BIGINT)"),
                "refunded",
            )
            .filter(filter.condition())
            .filter(payment::Column::Status.is_in(["succeeded", "partially_refunded", "refunded"]))
            .group_by(payment::Column::Currency)
            .order_by_asc(payment::Column::Currency)
            .into_model::<TotalRow>()
            .all(scope.db())
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let gross = r.gross.unwrap_or(0);
                let refunded = r.refunded.unwrap_or(0);
                CurrencyTotal {
                    exponent: money::exponent(&r.currency).unwrap_or(2),
                    currency: r.currency,
                    payments: r.payments,
                    gross,
                    refunded,
                    net: gross - refunded,
                }
            })
            .collect())
    }

    pub async fn refunds(
        &self,
        scope: &TenantScope,
        payment_id: Option<Uuid>,
        page: &PageRequest,
    ) -> Result<Page<Refund>, BillingError> {
        scope.require(BILLING_READ)?;
        let mut query = refund::Entity::find()
            .order_by_asc(refund::Column::Id)
            .limit(page.fetch_limit());
        if let Some(payment) = payment_id {
            query = query.filter(refund::Column::PaymentId.eq(payment));
        }
        if let Some(after) = page.after {
            query = query.filter(refund::Column::Id.gt(after));
        }
        let rows = query.all(scope.db()).await?;
        let found = Page::from_rows(rows, page, |r| r.id).map(refund_from_row);
        // Who asked for each refund, and why: audited like payments (S2).
        audit_read(
            scope,
            "billing.refunds_read",
            "refund_ids",
            found.items.iter().map(|r| r.id),
        )
        .await?;
        Ok(found)
    }

    pub async fn disputes(
        &self,
        scope: &TenantScope,
        page: &PageRequest,
    ) -> Result<Page<Dispute>, BillingError> {
        scope.require(BILLING_READ)?;
        let mut query = dispute::Entity::find()
            .order_by_asc(dispute::Column::Id)
            .limit(page.fetch_limit());
        if let Some(after) = page.after {
            query = query.filter(dispute::Column::Id.gt(after));
        }
        let rows = query.all(scope.db()).await?;
        Ok(Page::from_rows(rows, page, |r| r.id).map(|row| Dispute {
            id: row.id,
            stripe_dispute: row.stripe_dispute,
            payment_id: row.payment_id,
            amount: row.amount,
            currency: row.currency,
            status: row.status,
            reason: row.reason,
            evidence_due_at: row.evidence_due_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }))
    }
}

/// Records a read of billing records (S2): always, even when nothing was found (what was
/// asked is the disclosure), with the ids shown.
async fn audit_read(
    scope: &TenantScope,
    action: &'static str,
    ids_field: &'static str,
    ids: impl IntoIterator<Item = Uuid>,
) -> Result<(), BillingError> {
    let ids: Vec<Uuid> = ids.into_iter().collect();
    hub_tenant::audit::record(
        scope,
        hub_tenant::audit::AuditEvent::new(action)
            .detail(serde_json::json!({"count": ids.len(), ids_field: ids})),
    )
    .await?;
    Ok(())
}

async fn payments_page(
    scope: &TenantScope,
    filter: &PaymentFilter,
    page: &PageRequest,
) -> Result<Page<Payment>, BillingError> {
    let mut query = payment::Entity::find()
        .filter(filter.condition())
        .order_by_asc(payment::Column::Id)
        .limit(page.fetch_limit());
    if let Some(after) = page.after {
        query = query.filter(payment::Column::Id.gt(after));
    }
    let rows = query.all(scope.db()).await?;
    Page::from_rows(rows, page, |r| r.id).try_map(|row| from_row(scope, row))
}
