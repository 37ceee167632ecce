//! Refunds by finance (`billing:refund`): full or partial, with a reason, idempotent on our
//! API (an `Idempotency-Key` is required: a retried refund must never pay twice) and at
//! Stripe (its own idempotency key derived from the institution and that key, so a retry
//! after a lost answer reaches the same Stripe refund), audited. The refund is recorded
//! `pending`; its final state (succeeded, failed, canceled) comes from Stripe's webhook,
//! and the payment's refunded amount from the charge Stripe reports ([`crate::sync`]).
//!
//! Also here, the refund nobody asks for: a payment Stripe took for a course that can no
//! longer take the learner (its seats are full, a prerequisite is missing) is refunded in
//! full when its success is processed ([`refund_unfulfilled`]), recorded like any refund
//! (`pending` until Stripe's webhook) with no one as its requester.

use crate::entities::{payment, refund};
use crate::error::BillingError;
use crate::history::{Refund, refund_from_row};
use crate::purchases::stripe_key;
use crate::stripe_api::{RefundParams, StripeApi};
use crate::{BILLING_REFUND, Billing};
use chrono::Utc;
use hub_kernel::problem::Violations;
use hub_tenant::TenantScope;
use hub_tenant::audit::{self, AuditEvent};
use hub_tenant::idempotency::{self, IdempotencyKey};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use std::collections::BTreeMap;
use uuid::Uuid;

pub const OPERATION: &str = "billing.refund";
pub const MAX_REASON_CHARS: usize = 500;

#[derive(Debug, Clone, serde::Serialize)]
pub struct RefundRequest {
    /// Minor units; the whole refundable rest when `None`.
    pub amount: Option<i64>,
    pub reason: String,
}

/// A refund asked for, and whether this request made it (`false`: a replay).
#[derive(Debug, Clone)]
pub struct RefundAsked {
    pub refund: Refund,
    pub created: bool,
}

impl Billing {
    pub async fn refund_payment(
        &self,
        scope: &TenantScope,
        payment_id: Uuid,
        request: &RefundRequest,
        idempotency_key: &str,
    ) -> Result<RefundAsked, BillingError> {
        scope.require(BILLING_REFUND)?;
        let key = IdempotencyKey::new(idempotency_key, OPERATION, &(payment_id, request))?;
        if let Some(id) = idempotency::replayed(scope, &key).await? {
            let row = refund::Entity::find_by_id(id)
                .one(scope.db())
                .await?
                .ok_or(BillingError::RefundNotFound)?;
            return Ok(RefundAsked {
                refund: refund_from_row(row),
                created: false,
            });
        }
        let mut v = Violations::new();
        let reason = request.reason.trim();
        v.check(
            !reason.is_empty() && reason.chars().count() <= MAX_REASON_CHARS,
            "reason",
            "1 to 500 characters",
        );
        if let Some(amount) = request.amount {
            v.check(amount >= 1, "amount", "must be at least 1 (minor units)");
        }
        v.finish().map_err(BillingError::Invalid)?;
        let payment = payment::Entity::find_by_id(payment_id)
            .one(scope.db())
            .await?
            .ok_or(BillingError::PaymentNotFound)?;
        if !matches!(payment.status.as_str(), "succeeded" | "partially_refunded") {
            return Err(BillingError::NotRefundable(
                "only a succeeded payment can be refunded",
            ));
        }
        let refundable = refundable(scope, &payment, payment.amount_refunded).await?;
        if refundable <= 0 {
            return Err(BillingError::NotRefundable("nothing is left to refund"));
        }
        let amount = request.amount.unwrap_or(refundable);
        if amount > refundable {
            return Err(BillingError::RefundTooLarge {
                requested: amount,
                refundable,
            });
        }
        let stripe = self.stripe()?;
        let account = self
            .account_of(scope)
            .await?
            .ok_or(BillingError::NoConnectedAccount)?;
        let refund_id = Uuid::now_v7();
        let mut metadata = BTreeMap::new();
        metadata.insert("hub_tenant", scope.tenant_id().to_string());
        metadata.insert("hub_refund", refund_id.to_string());
        metadata.insert("hub_payment", payment_id.to_string());
        let stripe_refund = stripe
            .create_refund(
                Some(&account.stripe_account),
                &RefundParams {
                    payment_intent: payment.stripe_payment_intent.clone(),
                    amount,
                    metadata,
                },
                &stripe_key(scope, "re", idempotency_key),
            )
            .await?;
        let now = Utc::now();
        let requested_by = scope.actor().and_then(|a| a.person_id());
        refund::Entity::insert(refund::ActiveModel {
            id: Set(refund_id),
            payment_id: Set(payment_id),
            stripe_refund: Set(Some(stripe_refund.id.clone())),
            amount: Set(amount),
            currency: Set(payment.currency.clone()),
            // Final only when Stripe's webhook says so.
            status: Set("pending".into()),
            reason: Set(reason.to_string()),
            requested_by: Set(requested_by),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .exec_without_returning(scope.db())
        .await?;
        idempotency::remember(scope, &key, refund_id).await?;
        audit::record(
            scope,
            AuditEvent::new("billing.refund_requested")
                .subject(format!("payment:{payment_id}"))
                .detail(serde_json::json!({
                    "refund_id": refund_id,
                    "amount": amount,
                    "currency": payment.currency,
                })),
        )
        .await?;
        let row = refund::Entity::find_by_id(refund_id)
            .one(scope.db())
            .await?
            .ok_or(BillingError::RefundNotFound)?;
        Ok(RefundAsked {
            refund: refund_from_row(row),
            created: true,
        })
    }
}

/// What is left to refund of a payment: its amount, less what Stripe refunded
/// (`amount_refunded`, as last read) and what is asked and pending.
async fn refundable(
    scope: &TenantScope,
    payment: &payment::Model,
    amount_refunded: i64,
) -> Result<i64, BillingError> {
    let pending: Option<i64> = refund::Entity::find()
        .select_only()
        .column_as(
            Expr::cust("CAST(COALESCE(SUM(amount), 0) AS BIGINT)"),
            "pending",
        )
        .filter(refund::Column::PaymentId.eq(payment.id))
        .filter(refund::Column::Status.eq("pending"))
        .into_tuple::<Option<i64>>()
        .one(scope.db())
        .await?
        .flatten();
    Ok(payment.amount - amount_refunded - pending.unwrap_or(0))
}

/// The refund's reason for one that gives back a payment the course could not fulfil.
pub(crate) fn unfulfilled_reason(code: &str) -> String {
    format!("automatic: the payment could not be fulfilled ({code})")
}

/// Refunds in full, at Stripe, a payment whose success came when the course could no longer
/// take the learner (`code` says why: `seats_exhausted`, `prerequisites_not_completed` …),
/// and records the refund `pending` (Stripe's webhook settles it, [`crate::sync`]) with the
/// reason [`unfulfilled_reason`] and no requester, in the caller's unit of work. Stripe's
/// idempotency key is derived from the payment alone and every parameter from the payment,
/// so an event applied again after a failed commit reaches the same Stripe refund. `None`
/// when nothing is left to refund.
pub(crate) async fn refund_unfulfilled(
    scope: &TenantScope,
    stripe: &StripeApi,
    account: Option<&str>,
    payment: &payment::Model,
    amount_refunded: i64,
    code: &str,
) -> Result<Option<Uuid>, BillingError> {
    let amount = refundable(scope, payment, amount_refunded).await?;
    if amount <= 0 {
        return Ok(None);
    }
    let mut metadata = BTreeMap::new();
    metadata.insert("hub_tenant", scope.tenant_id().to_string());
    metadata.insert("hub_payment", payment.id.to_string());
    metadata.insert("hub_unfulfilled", code.to_string());
    let stripe_refund = stripe
        .create_refund(
            account,
            &RefundParams {
                payment_intent: payment.stripe_payment_intent.clone(),
                amount,
                metadata,
            },
            &stripe_key(scope, "re-unfulfilled", &payment.id.to_string()),
        )
        .await?;
    // A retry after a failed commit met the same Stripe refund: it is recorded once.
    if let Some(row) = refund::Entity::find()
        .filter(refund::Column::StripeRefund.eq(stripe_refund.id.as_str()))
        .one(scope.db())
        .await?
    {
        return Ok(Some(row.id));
    }
    let now = Utc::now();
    let refund_id = Uuid::now_v7();
    refund::Entity::insert(refund::ActiveModel {
        id: Set(refund_id),
        payment_id: Set(payment.id),
        stripe_refund: Set(Some(stripe_refund.id.clone())),
        amount: Set(amount),
        currency: Set(payment.currency.clone()),
        status: Set("pending".into()),
        reason: Set(unfulfilled_reason(code)),
        requested_by: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .exec_without_returning(scope.db())
    .await?;
    Ok(Some(refund_id))
}
