//! Billing's people as personal data (C4): a buyer's Stripe customer (sealed), their
//! payments with card brand, last four digits and expiry, refunds they asked for as finance
//! staff. Payments are kept for the institution's tax period (`legal_obligation`: the
//! category `payment` of the retention profile), not erased with the person:
//!
//! - **Erase** deletes the person's Stripe customer at Stripe (Stripe removes its email and
//!   name; the payments stay there, unlinked) and the customer row here, and pseudonymises
//!   their payments (the person id becomes a fresh random id: the amounts, dates and Stripe
//!   ids stay as tax records, nothing names the person) and the refunds they asked for.
//! - **Expire** (category `payment`) deletes payments created before the cutoff (the tax
//!   period is over), with their refunds and disputes, and the customers of people who have
//!   no payment left.
//! - **Restrict** (R3) changes nothing here: a restricted learner can buy nothing, because
//!   the learning crate refuses the sale ([`hub_tenant::course_sales`]).

use crate::BILLING_READ;
use crate::entities::{customer, dispute, payment, refund};
use crate::stripe_api::StripeApi;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hub_kernel::classification::{
    DataCategory, FieldClassification, Purpose, RetentionClass, RowKey, SealedTable,
};
use hub_tenant::TenantScope;
use hub_tenant::personal_data::{DataSubject, Outcome, PersonalDataSource, SourceError, Summary};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

pub const CUSTOMERS: &str = "billing_customers";
pub const PAYMENTS: &str = "billing_payments";
pub const REFUNDS: &str = "billing_refunds";

const fn payment_field(
    table: &'static str,
    column: &'static str,
    identifying: bool,
) -> FieldClassification {
    FieldClassification {
        table,
        column,
        category: DataCategory::Payment,
        purpose: Purpose::LegalObligation,
        retention: RetentionClass::CategoryPeriod,
        identifying,
        blind_index: false,
        optional: true,
    }
}

/// The classified fields of billing's tables.
pub const PERSONAL_FIELDS: &[FieldClassification] = &[
    FieldClassification {
        purpose: Purpose::ServiceDelivery,
        optional: false,
        ..payment_field(CUSTOMERS, "stripe_customer", true)
    },
    // Brand, last four digits and expiry: not a card number, but with a name or a receipt
    // they single out a card holder, so sealed.
    payment_field(PAYMENTS, "card", true),
];

pub fn personal_fields() -> Vec<FieldClassification> {
    PERSONAL_FIELDS.to_vec()
}

pub const SEALED_TABLES: &[SealedTable] = &[
    SealedTable {
        table: CUSTOMERS,
        row_key: RowKey::Uuid("person_id"),
        version_column: None,
    },
    SealedTable {
        table: PAYMENTS,
        row_key: RowKey::Uuid("id"),
        version_column: None,
    },
];

pub struct BillingSource {
    pub(crate) stripe: Option<StripeApi>,
    /// Weak: the tenancy holds this source.
    pub(crate) tenancy: std::sync::Weak<hub_tenant::Tenancy>,
}

fn payment_record(
    scope: &TenantScope,
    row: &payment::Model,
) -> Result<serde_json::Value, SourceError> {
    let card = match &row.card_sealed {
        Some(sealed) => crate::history::CardOnFile::open(scope, row.id, sealed)?,
        None => crate::history::CardOnFile::default(),
    };
    Ok(serde_json::json!({
        "record": "payment",
        "payment_id": row.id,
        "course_id": row.course_id,
        "description": row.description,
        "amount": row.amount,
        "currency": row.currency,
        "currency_exponent": crate::money::exponent(&row.currency),
        "status": row.status,
        "amount_refunded": row.amount_refunded,
        "card_brand": card.brand,
        "card_last4": card.last4,
        "card_exp_month": card.exp_month,
        "card_exp_year": card.exp_year,
        "stripe_payment_intent": row.stripe_payment_intent,
        "created_at": row.created_at,
        // Why it is kept after an erasure request: the institution's tax records.
        "legal_basis": "legal_obligation",
        "retention": "kept for the institution's payment (tax) retention period, then deleted",
    }))
}

#[async_trait]
impl PersonalDataSource for BillingSource {
    fn name(&self) -> &'static str {
        "billing"
    }

    fn fields(&self) -> Vec<FieldClassification> {
        personal_fields()
    }

    fn tables(&self) -> &'static [&'static str] {
        &[CUSTOMERS, PAYMENTS, REFUNDS]
    }

    fn recipients(&self) -> &'static [&'static str] {
        &["stripe"]
    }

    async fn summary(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Summary, SourceError> {
        scope.require(BILLING_READ)?;
        let Some(id) = subject.person_id() else {
            return Ok(Summary { records: 0 });
        };
        let payments = payment::Entity::find()
            .filter(payment::Column::PersonId.eq(id))
            .count(scope.db())
            .await?;
        let customers = customer::Entity::find_by_id(id).count(scope.db()).await?;
        let refunds = refund::Entity::find()
            .filter(refund::Column::RequestedBy.eq(id))
            .count(scope.db())
            .await?;
        Ok(Summary {
            records: payments + customers + refunds,
        })
    }

    async fn export(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Vec<serde_json::Value>, SourceError> {
        scope.require(BILLING_READ)?;
        let Some(id) = subject.person_id() else {
            return Ok(Vec::new());
        };
        let mut records = Vec::new();
        if let Some(row) = customer::Entity::find_by_id(id).one(scope.db()).await? {
            let customer = scope
                .keys()
                .open_str(
                    CUSTOMERS,
                    "stripe_customer",
                    id,
                    &row.stripe_customer_sealed,
                )
                .map_err(|e| format!("billing customer: {e}"))?;
            records.push(serde_json::json!({
                "record": "stripe_customer",
                "stripe_customer": customer,
                "created_at": row.created_at,
            }));
        }
        for row in payment::Entity::find()
            .filter(payment::Column::PersonId.eq(id))
            .order_by_asc(payment::Column::Id)
            .all(scope.db())
            .await?
        {
            records.push(payment_record(scope, &row)?);
        }
        for row in refund::Entity::find()
            .filter(refund::Column::RequestedBy.eq(id))
            .order_by_asc(refund::Column::Id)
            .all(scope.db())
            .await?
        {
            records.push(serde_json::json!({
                "record": "refund_requested",
                "refund_id": row.id,
                "payment_id": row.payment_id,
                "amount": row.amount,
                "currency": row.currency,
                "reason": row.reason,
                "created_at": row.created_at,
            }));
        }
        Ok(records)
    }

    async fn erase(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Outcome, SourceError> {
        let Some(id) = subject.person_id() else {
            return Ok(Outcome::NotApplicable {
                reason: "billing knows people only by id",
            });
        };
        let mut changed = 0;
        if let Some(row) = customer::Entity::find_by_id(id).one(scope.db()).await? {
            let stripe_customer = scope
                .keys()
                .open_str(
                    CUSTOMERS,
                    "stripe_customer",
                    id,
                    &row.stripe_customer_sealed,
                )
                .map_err(|e| format!("billing customer: {e}"))?;
            // The customer lives on the institution's connected account.
            let tenancy = self
                .tenancy
                .upgrade()
                .ok_or("the service is shutting down")?;
            let account = crate::accounts::account_for_erasure(&tenancy, scope).await?;
            match &self.stripe {
                Some(stripe) => match stripe
                    .delete_customer(account.as_deref(), &stripe_customer)
                    .await
                {
                    Ok(_) => {}
                    Err(e) if e.is_not_found() => {}
                    Err(e) => return Err(format!("deleting the Stripe customer: {e}").into()),
                },
                None => {
                    return Err(
                        "the Stripe customer cannot be deleted: Stripe is not configured".into(),
                    );
                }
            }
            customer::Entity::delete_by_id(id).exec(scope.db()).await?;
            changed += 1;
        }
        // One fresh pseudonym for all of the person's payments: the tax records stay
        // together without naming anyone.
        let pseudonym = Uuid::new_v4();
        changed += payment::Entity::update_many()
            .col_expr(payment::Column::PersonId, Expr::value(pseudonym))
            .col_expr(
                payment::Column::PseudonymisedAt,
                Expr::value(Some(Utc::now())),
            )
            .filter(payment::Column::PersonId.eq(id))
            .exec(scope.db())
            .await?
            .rows_affected;
        changed += refund::Entity::update_many()
            .col_expr(refund::Column::RequestedBy, Expr::value(Uuid::new_v4()))
            .filter(refund::Column::RequestedBy.eq(id))
            .exec(scope.db())
            .await?
            .rows_affected;
        Ok(Outcome::Anonymised { records: changed })
    }

    async fn expire(
        &self,
        scope: &TenantScope,
        category: DataCategory,
        cutoff: DateTime<Utc>,
        keep: &[Uuid],
    ) -> Result<Outcome, SourceError> {
        if category != DataCategory::Payment {
            return Ok(Outcome::Deleted { records: 0 });
        }
        let mut deleted = 0;
        loop {
            let mut query = payment::Entity::find()
                .select_only()
                .column(payment::Column::Id)
                .filter(payment::Column::CreatedAt.lt(cutoff))
                .limit(hub_tenant::personal_data::EXPIRE_BATCH);
            if !keep.is_empty() {
                query = query.filter(payment::Column::PersonId.is_not_in(keep.iter().copied()));
            }
            let ids: Vec<Uuid> = query.into_tuple().all(scope.db()).await?;
            if ids.is_empty() {
                break;
            }
            refund::Entity::delete_many()
                .filter(refund::Column::PaymentId.is_in(ids.iter().copied()))
                .exec(scope.db())
                .await?;
            dispute::Entity::delete_many()
                .filter(dispute::Column::PaymentId.is_in(ids.iter().copied()))
                .exec(scope.db())
                .await?;
            deleted += payment::Entity::delete_many()
                .filter(payment::Column::Id.is_in(ids.iter().copied()))
                .exec(scope.db())
                .await?
                .rows_affected;
        }
        Ok(Outcome::Deleted { records: deleted })
    }

    async fn restrict(
        &self,
        _scope: &TenantScope,
        _subject: &DataSubject,
        _restricted: bool,
    ) -> Result<Outcome, SourceError> {
        Ok(Outcome::NotApplicable {
            reason: "a restricted learner can buy nothing: the learning crate refuses the sale",
        })
    }
}
