//! Reconciliation: the product's ledger against Stripe's for a period. Stripe's balance
//! transactions on the institution's connected account are the record of money that moved
//! (a `charge` or `payment` per captured charge, a `refund` per refund, with its source
//! object); billing's payments and refunds are the record of what the product believes.
//! Every difference is listed:
//!
//! - `missing_at_stripe`: a payment billing holds as taken (or a refund as succeeded) with
//!   no balance transaction at Stripe;
//! - `unknown_at_stripe`: a balance transaction of a charge or refund billing does not know
//!   (made outside the product, or an event never applied);
//! - `amount_mismatch`: both exist and the amounts differ;
//! - `status_mismatch`: Stripe moved money for a payment billing does not hold as taken.
//!
//! The window is Stripe's: transactions created at or after `since`, and the ledger's
//! payments and refunds created at or after `since`. Nothing is changed: a discrepancy is
//! for finance to look at (replaying the object's webhook event, or Stripe's dashboard).
//!
//! Every comparison is a run recorded by [`crate::reconciliation_runs`], whether finance
//! asked for it ([`Billing::reconcile`]) or the periodic job made it
//! ([`Billing::reconcile_due_tenants`]): one way to record, list and audit them.

use crate::entities::{payment, refund};
use crate::error::BillingError;
use crate::reconciliation_runs::{self, Origin};
use crate::stripe_api::StripeApi;
use crate::{BILLING_READ, Billing};
use chrono::{DateTime, Utc};
use hub_tenant::TenantScope;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discrepancy {
    /// `missing_at_stripe`, `unknown_at_stripe`, `amount_mismatch` or `status_mismatch`.
    pub kind: &'static str,
    /// The Stripe object (charge or refund id) it is about.
    pub stripe_object: String,
    pub payment_id: Option<Uuid>,
    pub refund_id: Option<Uuid>,
    /// Minor units as billing holds them (refunds negative, as Stripe counts them).
    pub ledger_amount: Option<i64>,
    pub stripe_amount: Option<i64>,
    pub currency: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconciliation {
    /// The run it is recorded as ([`Billing::reconciliation_runs`]).
    pub id: Uuid,
    pub since: DateTime<Utc>,
    pub payments_checked: u64,
    pub refunds_checked: u64,
    pub transactions_checked: u64,
    pub discrepancies: Vec<Discrepancy>,
}

/// What one comparison found (its run is recorded by the caller).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Compared {
    pub payments_checked: u64,
    pub refunds_checked: u64,
    pub transactions_checked: u64,
    pub discrepancies: Vec<Discrepancy>,
}

/// One balance transaction as reconciliation reads it.
#[derive(Debug, Clone)]
struct Moved {
    amount: i64,
    currency: String,
}

impl Billing {
    /// Compares the institution's ledger with its Stripe account since `since`, and records
    /// the comparison as an on-demand run in the caller's unit of work (audited, with who
    /// asked). `progress` hears each page of Stripe's transactions read (the count so far).
    pub async fn reconcile(
        &self,
        scope: &TenantScope,
        since: DateTime<Utc>,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<Reconciliation, BillingError> {
        scope.require(BILLING_READ)?;
        let stripe = self.stripe()?;
        let account = self
            .account_of(scope)
            .await?
            .ok_or(BillingError::NoConnectedAccount)?;
        let started_at = Utc::now();
        let found = compare(scope, stripe, &account.stripe_account, since, progress).await?;
        let id = reconciliation_runs::start(scope, Origin::OnDemand, since, started_at).await?;
        reconciliation_runs::finish(scope, id, Origin::OnDemand, since, Ok(&found), Utc::now())
            .await?;
        Ok(Reconciliation {
            id,
            since,
            payments_checked: found.payments_checked,
            refunds_checked: found.refunds_checked,
            transactions_checked: found.transactions_checked,
            discrepancies: found.discrepancies,
        })
    }
}

/// The comparison itself: Stripe's transactions on `account` first (no write is made
/// before Stripe answered), then the ledger's records of the window. Changes nothing.
pub(crate) async fn compare(
    scope: &TenantScope,
    stripe: &StripeApi,
    account: &str,
    since: DateTime<Utc>,
    progress: &(dyn Fn(u64) + Send + Sync),
) -> Result<Compared, BillingError> {
    let on = Some(account);
    // Stripe's side: every balance transaction of the window, by source object.
    let mut moved: BTreeMap<String, Moved> = BTreeMap::new();
    let mut after: Option<String> = None;
    let mut read = 0u64;
    loop {
        let page = stripe
            .balance_transactions(on, since.timestamp(), after.as_deref())
            .await?;
        read += page.data.len() as u64;
        progress(read);
        for txn in &page.data {
            if let Some(source) = txn.source_id()
                && matches!(
                    txn.kind.as_str(),
                    "charge" | "payment" | "refund" | "payment_refund"
                )
            {
                moved.insert(
                    source,
                    Moved {
                        amount: txn.amount,
                        currency: txn.currency.clone(),
                    },
                );
            }
        }
        match (page.has_more, page.data.last()) {
            (true, Some(last)) => after = Some(last.id.clone()),
            _ => break,
        }
    }
    let mut discrepancies = Vec::new();
    let mut known: BTreeSet<String> = BTreeSet::new();
    let payments = payment::Entity::find()
        .filter(payment::Column::CreatedAt.gte(since))
        .all(scope.db())
        .await?;
    for p in &payments {
        let taken = matches!(
            p.status.as_str(),
            "succeeded" | "partially_refunded" | "refunded"
        );
        let at_stripe = p.stripe_charge.as_ref().and_then(|c| moved.get(c));
        if let Some(charge) = &p.stripe_charge {
            known.insert(charge.clone());
        }
        match (taken, at_stripe) {
            (true, None) => discrepancies.push(Discrepancy {
                kind: "missing_at_stripe",
                stripe_object: p
                    .stripe_charge
                    .clone()
                    .unwrap_or_else(|| p.stripe_payment_intent.clone()),
                payment_id: Some(p.id),
                refund_id: None,
                ledger_amount: Some(p.amount),
                stripe_amount: None,
                currency: p.currency.clone(),
            }),
            (true, Some(m)) if m.amount != p.amount || m.currency != p.currency => discrepancies
                .push(Discrepancy {
                    kind: "amount_mismatch",
                    stripe_object: p.stripe_charge.clone().unwrap_or_default(),
                    payment_id: Some(p.id),
                    refund_id: None,
                    ledger_amount: Some(p.amount),
                    stripe_amount: Some(m.amount),
                    currency: m.currency.clone(),
                }),
            (false, Some(m)) => discrepancies.push(Discrepancy {
                kind: "status_mismatch",
                stripe_object: p.stripe_charge.clone().unwrap_or_default(),
                payment_id: Some(p.id),
                refund_id: None,
                ledger_amount: Some(p.amount),
                stripe_amount: Some(m.amount),
                currency: m.currency.clone(),
            }),
            _ => {}
        }
    }
    let refunds = refund::Entity::find()
        .filter(refund::Column::CreatedAt.gte(since))
        .all(scope.db())
        .await?;
    for r in &refunds {
        let Some(id) = &r.stripe_refund else { continue };
        known.insert(id.clone());
        let at_stripe = moved.get(id);
        match (r.status.as_str(), at_stripe) {
            ("succeeded", None) => discrepancies.push(Discrepancy {
                kind: "missing_at_stripe",
                stripe_object: id.clone(),
                payment_id: Some(r.payment_id),
                refund_id: Some(r.id),
                ledger_amount: Some(-r.amount),
                stripe_amount: None,
                currency: r.currency.clone(),
            }),
            (_, Some(m)) if m.amount != -r.amount => discrepancies.push(Discrepancy {
                kind: "amount_mismatch",
                stripe_object: id.clone(),
                payment_id: Some(r.payment_id),
                refund_id: Some(r.id),
                ledger_amount: Some(-r.amount),
                stripe_amount: Some(m.amount),
                currency: m.currency.clone(),
            }),
            _ => {}
        }
    }
    for (source, m) in &moved {
        if !known.contains(source) {
            discrepancies.push(Discrepancy {
                kind: "unknown_at_stripe",
                stripe_object: source.clone(),
                payment_id: None,
                refund_id: None,
                ledger_amount: None,
                stripe_amount: Some(m.amount),
                currency: m.currency.clone(),
            });
        }
    }
    discrepancies.sort_by(|a, b| (a.kind, &a.stripe_object).cmp(&(b.kind, &b.stripe_object)));
    Ok(Compared {
        payments_checked: payments.len() as u64,
        refunds_checked: refunds.len() as u64,
        transactions_checked: read,
        discrepancies,
    })
}
