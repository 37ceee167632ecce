//! Applying Stripe's state to billing's records. Every webhook event is taken as a hint
//! that an object changed: the object is fetched again from Stripe and its current state
//! written over what billing held, so events delivered twice, late or in any order end in
//! the same records as Stripe's (the state is never derived from an event's own copy of
//! the object). A payment that reaches `succeeded` is fulfilled once: the learning crate
//! enrolls the buyer in the same unit of work ([`hub_tenant::course_sales`]). When the
//! course can no longer take them (its seats are full, a prerequisite is missing) the
//! payment is refunded in full at Stripe instead and its `fulfilment` says `refused` and
//! why ([`crate::refunds::refund_unfulfilled`]); the event is applied, not retried. A
//! payment refunded in full withdraws the enrollment it made (`withdrawn`), only while that
//! enrollment is still the purchase's; a partial refund keeps it. Each step is decided
//! from the payment's recorded `fulfilment`, so it happens once however often and in
//! whatever order events come.

use crate::entities::{dispute, payment, refund};
use crate::error::BillingError;
use crate::history::{
    FULFILMENT_ENROLLED, FULFILMENT_PENDING, FULFILMENT_REFUSED, FULFILMENT_WITHDRAWN,
};
use crate::stripe_api::{Card, StripeApi, StripeFailure};
use chrono::{DateTime, TimeZone, Utc};
use hub_tenant::audit::{self, AuditEvent};
use hub_tenant::course_sales::Withdrawal;
use hub_tenant::{Tenancy, TenantScope};
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter,
};
use uuid::Uuid;

/// What applying an event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// Records changed (or were already as Stripe says).
    Synced,
    /// The object is not one the product made or knows (a payment made outside it on the
    /// institution's account): nothing to apply; reconciliation lists it.
    Unknown(&'static str),
}

/// Billing's status for a PaymentIntent's: the learner still has to pay
/// (`requires_payment`), Stripe is taking the money (`processing`), it is taken
/// (`succeeded`), or it never will be (`canceled`). Refunds move a succeeded payment to
/// `partially_refunded` / `refunded` ([`sync_payment_intent`]).
pub fn payment_status(intent_status: &str) -> &'static str {
    match intent_status {
        "succeeded" => "succeeded",
        "processing" | "requires_capture" => "processing",
        "canceled" => "canceled",
        _ => "requires_payment",
    }
}

fn at(unix: i64) -> Option<DateTime<Utc>> {
    Utc.timestamp_opt(unix, 0).single()
}

/// Brings the payment of this PaymentIntent to Stripe's current state, and fulfils it
/// once it succeeded.
pub async fn sync_payment_intent(
    tenancy: &Tenancy,
    scope: &TenantScope,
    stripe: &StripeApi,
    account: Option<&str>,
    intent_id: &str,
) -> Result<Applied, BillingError> {
    // Two events about one payment, on two replicas at once: the first to take the row's
    // lock (a no-op update, the same on PostgreSQL and SQLite) syncs and fulfils; the other
    // waits, then reads what it committed, so the buyer is enrolled once.
    payment::Entity::update_many()
        .col_expr(
            payment::Column::UpdatedAt,
            sea_orm::sea_query::Expr::col(payment::Column::UpdatedAt),
        )
        .filter(payment::Column::StripePaymentIntent.eq(intent_id))
        .exec(scope.db())
        .await?;
    let Some(row) = payment::Entity::find()
        .filter(payment::Column::StripePaymentIntent.eq(intent_id))
        .one(scope.db())
        .await?
    else {
        return Ok(Applied::Unknown("not a payment the product made"));
    };
    let intent = stripe.payment_intent(account, intent_id).await?;
    let mut status = payment_status(&intent.status).to_string();
    let mut amount_refunded = row.amount_refunded;
    let mut charge_id = row.stripe_charge.clone();
    let mut card: Option<Card> = None;
    if let Some(id) = intent.latest_charge_id() {
        let charge = stripe.charge(account, &id).await?;
        amount_refunded = charge.amount_refunded;
        charge_id = Some(charge.id.clone());
        card = charge.payment_method_details.and_then(|d| d.card);
        if card.is_none()
            && let Some(method) = charge.payment_method.or_else(|| intent.payment_method_id())
        {
            card = match stripe.payment_method(account, &method).await {
                Ok(m) => m.card,
                Err(StripeFailure::Refused { .. }) => None,
                Err(e) => return Err(e.into()),
            };
        }
    }
    if status == "succeeded" && amount_refunded > 0 {
        status = if amount_refunded >= row.amount {
            "refunded".into()
        } else {
            "partially_refunded".into()
        };
    }
    // A payment refunded in full before its success was processed enrolls nobody.
    let fulfil = matches!(status.as_str(), "succeeded" | "partially_refunded")
        && row.fulfilment == FULFILMENT_PENDING;
    // Refunded in full: the enrollment it made ends, once (a kept one says why, once).
    let withdraw = status == "refunded"
        && row.fulfilment == FULFILMENT_ENROLLED
        && row.fulfilment_reason.is_none();
    let payment_id = row.id;
    let person_id = row.person_id;
    let course_id = row.course_id;
    let enrollment_id = row.enrollment_id;
    let was = row.status.clone();
    let before = row.clone();
    let mut active = row.into_active_model();
    active.status = Set(status.clone());
    active.amount_refunded = Set(amount_refunded);
    active.stripe_charge = Set(charge_id);
    if let Some(card) = card {
        let kept = crate::history::CardOnFile::from_stripe(card);
        active.card_sealed = Set(Some(kept.seal(scope, payment_id)));
    }
    active.updated_at = Set(Utc::now());
    if fulfil && let Some(course_id) = course_id {
        match tenancy
            .course_sales()?
            .fulfil(tenancy, scope, person_id, course_id, payment_id)
            .await?
        {
            Ok(enrollment) => {
                active.enrollment_id = Set(Some(enrollment));
                active.fulfilled_at = Set(Some(Utc::now()));
                active.fulfilment = Set(FULFILMENT_ENROLLED.into());
                audit::record(
                    scope,
                    AuditEvent::new("billing.purchase_fulfilled")
                        .subject(format!("payment:{payment_id}"))
                        .detail(
                            serde_json::json!({"course_id": course_id, "enrollment_id": enrollment}),
                        ),
                )
                .await?;
            }
            // The course can no longer take the learner (the last seat went, a
            // prerequisite was added since the sale): retrying would never enroll them, and
            // keeping their money for nothing is not an option. The payment is refunded in
            // full and the event applied.
            Err(refusal) => {
                let code = refusal.code();
                let refund = crate::refunds::refund_unfulfilled(
                    scope,
                    stripe,
                    account,
                    &before,
                    amount_refunded,
                    code,
                )
                .await?;
                active.fulfilment = Set(FULFILMENT_REFUSED.into());
                active.fulfilment_reason = Set(Some(code.into()));
                audit::record(
                    scope,
                    AuditEvent::new("billing.purchase_refused")
                        .subject(format!("payment:{payment_id}"))
                        .detail(serde_json::json!({
                            "course_id": course_id,
                            "reason": code,
                            "refund_id": refund,
                        })),
                )
                .await?;
                tracing::info!(payment = %payment_id, reason = code, "paid course could not be fulfilled: refunded");
            }
        }
    }
    if withdraw && let Some(enrollment) = enrollment_id {
        let outcome = if held_by_another_payment(scope, payment_id, enrollment).await? {
            Withdrawal::Kept("held_by_another_payment")
        } else {
            tenancy
                .course_sales()?
                .withdraw(tenancy, scope, enrollment, payment_id)
                .await?
        };
        let (action, reason) = match outcome {
            Withdrawal::Withdrawn => {
                active.fulfilment = Set(FULFILMENT_WITHDRAWN.into());
                ("billing.purchase_withdrawn", "refunded")
            }
            Withdrawal::Kept(why) => ("billing.purchase_enrollment_kept", why),
        };
        active.fulfilment_reason = Set(Some(reason.into()));
        audit::record(
            scope,
            AuditEvent::new(action)
                .subject(format!("payment:{payment_id}"))
                .detail(serde_json::json!({"enrollment_id": enrollment, "reason": reason})),
        )
        .await?;
    }
    active.update(scope.db()).await?;
    if was != status {
        tracing::info!(payment = %payment_id, from = %was, to = %status, "payment synced from Stripe");
    }
    Ok(Applied::Synced)
}

/// Whether another payment's enrollment is this one and still paid for (the learner
/// withdrew, then bought the course again: the same enrollment came back by that payment).
async fn held_by_another_payment(
    scope: &TenantScope,
    payment_id: Uuid,
    enrollment_id: Uuid,
) -> Result<bool, BillingError> {
    Ok(payment::Entity::find()
        .filter(payment::Column::EnrollmentId.eq(enrollment_id))
        .filter(payment::Column::Id.ne(payment_id))
        .filter(payment::Column::Fulfilment.eq(FULFILMENT_ENROLLED))
        .filter(payment::Column::Status.is_in(["succeeded", "partially_refunded"]))
        .count(scope.db())
        .await?
        > 0)
}

/// Brings a refund to Stripe's state (a refund made in Stripe's dashboard is recorded too,
/// against its payment), then its payment.
pub async fn sync_refund(
    tenancy: &Tenancy,
    scope: &TenantScope,
    stripe: &StripeApi,
    account: Option<&str>,
    refund_id: &str,
) -> Result<Applied, BillingError> {
    let found = stripe.refund(account, refund_id).await?;
    let intent = match (&found.payment_intent, &found.charge) {
        (Some(pi), _) => Some(pi.clone()),
        (None, Some(charge)) => stripe.charge(account, charge).await?.payment_intent,
        (None, None) => None,
    };
    let Some(intent) = intent else {
        return Ok(Applied::Unknown("a refund of no payment"));
    };
    let Some(payment_row) = payment::Entity::find()
        .filter(payment::Column::StripePaymentIntent.eq(intent.as_str()))
        .one(scope.db())
        .await?
    else {
        return Ok(Applied::Unknown(
            "a refund of a payment the product did not make",
        ));
    };
    let now = Utc::now();
    let ours = match found
        .metadata
        .get("hub_refund")
        .and_then(|id| Uuid::parse_str(id).ok())
    {
        Some(id) => refund::Entity::find_by_id(id).one(scope.db()).await?,
        None => None,
    };
    let existing = match ours {
        Some(row) => Some(row),
        None => {
            refund::Entity::find()
                .filter(refund::Column::StripeRefund.eq(refund_id))
                .one(scope.db())
                .await?
        }
    };
    match existing {
        Some(row) => {
            let mut active = row.into_active_model();
            active.stripe_refund = Set(Some(found.id.clone()));
            active.status = Set(found.status.clone());
            active.amount = Set(found.amount);
            active.updated_at = Set(now);
            active.update(scope.db()).await?;
        }
        None => {
            refund::Entity::insert(refund::ActiveModel {
                id: Set(Uuid::now_v7()),
                payment_id: Set(payment_row.id),
                stripe_refund: Set(Some(found.id.clone())),
                amount: Set(found.amount),
                currency: Set(found.currency.clone()),
                status: Set(found.status.clone()),
                reason: Set("made in Stripe".into()),
                requested_by: Set(None),
                created_at: Set(at(found.created).unwrap_or(now)),
                updated_at: Set(now),
            })
            .exec_without_returning(scope.db())
            .await?;
        }
    }
    sync_payment_intent(tenancy, scope, stripe, account, &intent).await
}

/// Records a dispute with Stripe's state and evidence deadline.
pub async fn sync_dispute(
    scope: &TenantScope,
    stripe: &StripeApi,
    account: Option<&str>,
    dispute_id: &str,
) -> Result<Applied, BillingError> {
    let found = stripe.dispute(account, dispute_id).await?;
    let mut payment_id = None;
    if let Some(pi) = found.payment_intent_id() {
        payment_id = payment::Entity::find()
            .filter(payment::Column::StripePaymentIntent.eq(pi.as_str()))
            .one(scope.db())
            .await?
            .map(|p| p.id);
    }
    if payment_id.is_none()
        && let Some(charge) = found.charge_id()
    {
        payment_id = payment::Entity::find()
            .filter(payment::Column::StripeCharge.eq(charge.as_str()))
            .one(scope.db())
            .await?
            .map(|p| p.id);
    }
    let now = Utc::now();
    let due = found
        .evidence_details
        .as_ref()
        .and_then(|e| e.due_by)
        .and_then(at);
    match dispute::Entity::find()
        .filter(dispute::Column::StripeDispute.eq(dispute_id))
        .one(scope.db())
        .await?
    {
        Some(row) => {
            let mut active = row.into_active_model();
            active.status = Set(found.status.clone());
            active.amount = Set(found.amount);
            active.reason = Set(found.reason.clone());
            active.evidence_due_at = Set(due);
            if payment_id.is_some() {
                active.payment_id = Set(payment_id);
            }
            active.updated_at = Set(now);
            active.update(scope.db()).await?;
        }
        None => {
            dispute::Entity::insert(dispute::ActiveModel {
                id: Set(Uuid::now_v7()),
                stripe_dispute: Set(found.id.clone()),
                payment_id: Set(payment_id),
                stripe_charge: Set(found.charge_id()),
                amount: Set(found.amount),
                currency: Set(found.currency.clone()),
                status: Set(found.status.clone()),
                reason: Set(found.reason.clone()),
                evidence_due_at: Set(due),
                created_at: Set(at(found.created).unwrap_or(now)),
                updated_at: Set(now),
            })
            .exec_without_returning(scope.db())
            .await?;
            audit::record(
                scope,
                AuditEvent::new("billing.dispute_opened")
                    .subject(format!("stripe_dispute:{}", found.id))
                    .detail(
                        serde_json::json!({"amount": found.amount, "currency": found.currency}),
                    ),
            )
            .await?;
        }
    }
    Ok(Applied::Synced)
}
