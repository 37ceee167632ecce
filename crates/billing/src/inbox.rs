//! The webhook inbox, as Stripe says webhooks must be handled. A delivery is verified over
//! its raw body ([`crate::signature`]), reduced to what routes and orders it, stored once
//! per event id and answered at once (Stripe retries anything slower or not 2xx; a
//! redelivery finds its id stored and is acknowledged without a second row). Processing is
//! asynchronous ([`Billing::process_due_events`], every replica, each event claimed by one
//! of them with a lease: one conditional UPDATE, the same on PostgreSQL and SQLite):
//!
//! - **Routing**: an event of a connected account goes to the institution that connected
//!   it; an event of the platform's own account to the institution its object's metadata
//!   names (`hub_tenant`, set by the platform itself), or else to the institution that is
//!   its object's customer (an invoice of the platform's subscriptions carries no metadata
//!   of the platform's). An account nobody connected, metadata naming another institution
//!   than the account's or the customer's, or naming none: the event is `parked`,
//!   kept and listed for operators, never applied anywhere; once the account is connected a
//!   replay applies it.
//! - **Applying**: the object is fetched again from Stripe and its current state written
//!   ([`crate::sync`]; payouts in [`crate::payouts`], the platform's subscriptions and
//!   invoices in [`crate::subscriptions`]), so duplicates and reordering converge. Event
//!   types billing does not act on are stored as `ignored` (still deduplicated and listed).
//! - **Failures** (Stripe or the database unavailable): retried with exponential backoff and
//!   jitter; after the last attempt the event is a `dead` letter, listed and replayable.

use crate::Billing;
use crate::entities::webhook_event;
use crate::error::BillingError;
use crate::signature::{self, TOLERANCE_SECS};
use crate::sync::{self, Applied};
use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, Condition, QueryFilter, QueryOrder, QuerySelect};
use serde::Deserialize;
use uuid::Uuid;

/// Where an event is.
pub const STATES: &[&str] = &["pending", "applied", "ignored", "parked", "dead"];

/// The event types billing acts on, by the object they are about.
const HANDLED: &[(&str, &str)] = &[
    ("payment_intent.", "payment_intent"),
    ("charge.dispute.", "dispute"),
    ("charge.refund.", "refund"),
    ("refund.", "refund"),
    ("charge.", "charge"),
    // The platform's own billing of institutions ([`crate::subscriptions`]).
    ("customer.subscription.", "subscription"),
    ("invoice.", "invoice"),
    ("payout.", "payout"),
];

/// How many due events one run claims.
pub const BATCH: u64 = 100;
/// A claimed event's lease: a worker that dies leaves it to another after this.
const LEASE_SECS: i64 = 120;
/// The most a webhook body may be (Stripe's events are a few kilobytes).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

#[derive(Debug, Deserialize)]
struct EventEnvelope {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    created: i64,
    #[serde(default)]
    livemode: bool,
    #[serde(default)]
    account: Option<String>,
    data: EventData,
}

#[derive(Debug, Deserialize)]
struct EventData {
    object: EventObject,
}

#[derive(Debug, Deserialize)]
struct EventObject {
    id: String,
    object: String,
    #[serde(default)]
    metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// An id, or the customer expanded.
    #[serde(default)]
    customer: Option<serde_json::Value>,
}

impl EventObject {
    /// The customer the object is about (or the customer itself): what routes an invoice
    /// of the platform's own, which carries no metadata of the platform's.
    fn customer_id(&self) -> Option<String> {
        if self.object == "customer" {
            return Some(self.id.clone());
        }
        match self.customer.as_ref()? {
            serde_json::Value::String(id) => Some(id.clone()),
            serde_json::Value::Object(o) => {
                o.get("id").and_then(|v| v.as_str()).map(str::to_string)
            }
            _ => None,
        }
    }
}

/// What a delivery came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub event_id: String,
    /// The id was stored already (a redelivery): nothing new.
    pub duplicate: bool,
}

/// One stored event, as operators see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxEvent {
    pub event_id: String,
    pub event_type: String,
    pub stripe_account: Option<String>,
    pub object_type: String,
    pub object_id: String,
    pub tenant_id: Option<Uuid>,
    pub state: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub stripe_created: i64,
    pub received_at: DateTime<Utc>,
    pub next_attempt_at: DateTime<Utc>,
}

/// What one processing run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessRun {
    pub applied: u32,
    pub ignored: u32,
    pub parked: u32,
    pub retried: u32,
    pub dead: u32,
}

impl ProcessRun {
    pub fn total(&self) -> u32 {
        self.applied + self.ignored + self.parked + self.retried + self.dead
    }
}

fn id_like(id: &str, prefix: &str) -> bool {
    id.strip_prefix(prefix).is_some_and(|rest| {
        (1..=255).contains(&rest.len())
            && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    })
}

/// The object an event type is about, when billing acts on it.
fn handled_object(kind: &str) -> Option<&'static str> {
    HANDLED
        .iter()
        .find(|(prefix, _)| kind.starts_with(prefix))
        .map(|(_, object)| *object)
}

fn from_row(row: webhook_event::Model) -> InboxEvent {
    InboxEvent {
        event_id: row.event_id,
        event_type: row.event_type,
        stripe_account: row.stripe_account,
        object_type: row.object_type,
        object_id: row.object_id,
        tenant_id: row.tenant_id,
        state: row.state,
        attempts: row.attempts,
        last_error: row.last_error,
        stripe_created: row.stripe_created,
        received_at: row.received_at,
        next_attempt_at: row.next_attempt_at,
    }
}

impl Billing {
    /// Verifies and stores one delivery. Errors are the sender's (400): nothing is stored.
    pub async fn receive_event(
        &self,
        payload: &[u8],
        signature_header: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Received, BillingError> {
        if self.stripe.is_none() {
            return Err(BillingError::NotConfigured);
        }
        let header = signature_header.ok_or(BillingError::BadSignature(
            "the Stripe-Signature header is missing",
        ))?;
        signature::verify(
            payload,
            header,
            &self.webhook_secrets,
            now.timestamp(),
            TOLERANCE_SECS,
        )
        .map_err(|e| BillingError::BadSignature(e.message()))?;
        let event: EventEnvelope =
            serde_json::from_slice(payload).map_err(|e| BillingError::BadEvent(format!("{e}")))?;
        if !id_like(&event.id, "evt_") {
            return Err(BillingError::BadEvent("the event id is not evt_…".into()));
        }
        if let Some(account) = &event.account
            && !id_like(account, "acct_")
        {
            return Err(BillingError::BadEvent("the account is not acct_…".into()));
        }
        if event.data.object.id.len() > 255
            || event.data.object.object.len() > 64
            || event.kind.len() > 128
        {
            return Err(BillingError::BadEvent("an id or type is too long".into()));
        }
        let metadata_tenant = event
            .data
            .object
            .metadata
            .as_ref()
            .and_then(|m| m.get("hub_tenant"))
            .and_then(|v| v.as_str())
            .map(|t| t.chars().take(64).collect::<String>());
        let customer = event
            .data
            .object
            .customer_id()
            .filter(|c| id_like(c, "cus_"));
        let state = if handled_object(&event.kind).is_some() {
            "pending"
        } else {
            "ignored"
        };
        let inserted = self
            .tenancy
            .platform_queue::<webhook_event::Entity>()?
            .insert_new(webhook_event::ActiveModel {
                event_id: Set(event.id.clone()),
                event_type: Set(event.kind.clone()),
                stripe_account: Set(event.account.clone()),
                object_type: Set(event.data.object.object.clone()),
                object_id: Set(event.data.object.id.clone()),
                metadata_tenant: Set(metadata_tenant),
                livemode: Set(event.livemode),
                stripe_created: Set(event.created),
                received_at: Set(now),
                tenant_id: Set(None),
                state: Set(state.to_string()),
                attempts: Set(0),
                next_attempt_at: Set(now),
                lease_until: Set(None),
                last_error: Set(None),
                finished_at: Set(if state == "ignored" { Some(now) } else { None }),
                stripe_customer: Set(customer),
            })
            .await?;
        if inserted {
            tracing::info!(event = %event.id, kind = %event.kind, state, "Stripe event received");
        }
        Ok(Received {
            event_id: event.id,
            duplicate: !inserted,
        })
    }

    /// Claims and processes the events that are due, oldest Stripe `created` first.
    pub async fn process_due_events(&self, now: DateTime<Utc>) -> Result<ProcessRun, BillingError> {
        let mut run = ProcessRun::default();
        let Some(stripe) = self.stripe.clone() else {
            return Ok(run);
        };
        let queue = self.tenancy.platform_queue::<webhook_event::Entity>()?;
        let due = queue
            .find(|q| {
                q.filter(webhook_event::Column::State.eq("pending"))
                    .filter(webhook_event::Column::NextAttemptAt.lte(now))
                    .filter(
                        Condition::any()
                            .add(webhook_event::Column::LeaseUntil.is_null())
                            .add(webhook_event::Column::LeaseUntil.lt(now)),
                    )
                    .order_by_asc(webhook_event::Column::StripeCreated)
                    .order_by_asc(webhook_event::Column::EventId)
                    .limit(BATCH)
            })
            .await?;
        for event in due {
            let claimed = queue
                .update(|u| {
                    u.col_expr(
                        webhook_event::Column::LeaseUntil,
                        Expr::value(now + Duration::seconds(LEASE_SECS)),
                    )
                    .col_expr(
                        webhook_event::Column::Attempts,
                        Expr::col(webhook_event::Column::Attempts).add(1),
                    )
                    .filter(webhook_event::Column::EventId.eq(event.event_id.as_str()))
                    .filter(webhook_event::Column::State.eq("pending"))
                    .filter(
                        Condition::any()
                            .add(webhook_event::Column::LeaseUntil.is_null())
                            .add(webhook_event::Column::LeaseUntil.lt(now)),
                    )
                })
                .await?;
            if claimed == 0 {
                continue;
            }
            let attempts = event.attempts + 1;
            let outcome = self.apply(&stripe, &event).await;
            let (state, tenant, error, next) = match outcome {
                Ok((tenant, Applied::Synced)) => ("applied", Some(tenant), None, None),
                Ok((tenant, Applied::Unknown(why))) => {
                    ("ignored", Some(tenant), Some(why.to_string()), None)
                }
                Err(Outcome::Parked(why)) => ("parked", None, Some(why), None),
                Err(Outcome::Failed(tenant, why)) if attempts >= self.inbox.max_attempts => {
                    ("dead", tenant, Some(why), None)
                }
                Err(Outcome::Failed(tenant, why)) => {
                    let delay = self.backoff(attempts);
                    ("pending", tenant, Some(why), Some(now + delay))
                }
            };
            match state {
                "applied" => run.applied += 1,
                "ignored" => run.ignored += 1,
                "parked" => run.parked += 1,
                "dead" => run.dead += 1,
                _ => run.retried += 1,
            }
            if state == "dead" || state == "parked" {
                tracing::warn!(event = %event.event_id, state, reason = error.as_deref().unwrap_or(""), "Stripe event not applied");
            }
            queue
                .update(|u| {
                    let mut u = u
                        .col_expr(webhook_event::Column::State, Expr::value(state))
                        .col_expr(webhook_event::Column::LastError, Expr::value(error.clone()))
                        .col_expr(
                            webhook_event::Column::LeaseUntil,
                            Expr::value(Option::<DateTime<Utc>>::None),
                        );
                    if let Some(tenant) = tenant {
                        u = u.col_expr(webhook_event::Column::TenantId, Expr::value(tenant));
                    }
                    u = match next {
                        Some(next) => {
                            u.col_expr(webhook_event::Column::NextAttemptAt, Expr::value(next))
                        }
                        None => u.col_expr(
                            webhook_event::Column::FinishedAt,
                            Expr::value(Some(Utc::now())),
                        ),
                    };
                    u.filter(webhook_event::Column::EventId.eq(event.event_id.as_str()))
                })
                .await?;
        }
        Ok(run)
    }

    /// Exponential backoff with jitter: first, 2×, 4× … up to an hour, each ±25 %.
    fn backoff(&self, attempts: i32) -> Duration {
        let base = std::cmp::max(self.inbox.first_retry_secs, 1);
        let exp = std::cmp::min(
            base.saturating_mul(1_i64 << (attempts - 1).clamp(0, 20)),
            3600,
        );
        let jitter = rand::rng().random_range(0.75..1.25);
        Duration::milliseconds((exp as f64 * 1000.0 * jitter) as i64)
    }

    async fn route(&self, event: &webhook_event::Model) -> Result<Uuid, Outcome> {
        let named = event.metadata_tenant.as_deref().map(Uuid::parse_str);
        let tenant = match (&event.stripe_account, named) {
            (Some(account), named) => {
                let Some(tenant) = self
                    .tenant_of_account(account)
                    .await
                    .map_err(|e| Outcome::Failed(None, e.to_string()))?
                else {
                    return Err(Outcome::Parked(format!(
                        "no institution has connected the Stripe account {account}"
                    )));
                };
                if let Some(named) = named
                    && named.ok() != Some(tenant)
                {
                    return Err(Outcome::Parked(
                        "the object's metadata names another institution than its account's".into(),
                    ));
                }
                tenant
            }
            (None, named) => {
                // The platform's own account: its customers are institutions.
                let customer_tenant = match &event.stripe_customer {
                    Some(customer) => self
                        .tenant_of_customer(customer)
                        .await
                        .map_err(|e| Outcome::Failed(None, e.to_string()))?,
                    None => None,
                };
                match (named, customer_tenant) {
                    (Some(Ok(named)), Some(customer)) if named != customer => {
                        return Err(Outcome::Parked(
                            "the object's metadata names another institution than its customer's"
                                .into(),
                        ));
                    }
                    (Some(Ok(named)), _) => named,
                    (Some(Err(_)), _) => {
                        return Err(Outcome::Parked(
                            "the object's metadata names no institution (hub_tenant is not an id)"
                                .into(),
                        ));
                    }
                    (None, Some(customer)) => customer,
                    (None, None) => {
                        return Err(Outcome::Parked(
                            "the event names no connected account, and its object no institution or customer of the platform".into(),
                        ));
                    }
                }
            }
        };
        Ok(tenant)
    }

    async fn apply(
        &self,
        stripe: &crate::stripe_api::StripeApi,
        event: &webhook_event::Model,
    ) -> Result<(Uuid, Applied), Outcome> {
        let tenant = self.route(event).await?;
        let Some(object) = handled_object(&event.event_type) else {
            return Ok((
                tenant,
                Applied::Unknown("an event type billing does not act on"),
            ));
        };
        let scope = match self
            .tenancy
            .periodic_job_scope(tenant, "billing.webhook_events")
            .await
        {
            Ok(Some(scope)) => scope,
            Ok(None) => {
                return Err(Outcome::Parked(
                    "the institution is unknown, suspended or offboarded".into(),
                ));
            }
            Err(e) => return Err(Outcome::Failed(Some(tenant), e.to_string())),
        };
        let account = event.stripe_account.as_deref();
        let id = event.object_id.as_str();
        let result = match (object, event.object_type.as_str()) {
            ("payment_intent", _) => {
                sync::sync_payment_intent(&self.tenancy, &scope, stripe, account, id).await
            }
            ("refund", "refund") => {
                sync::sync_refund(&self.tenancy, &scope, stripe, account, id).await
            }
            ("dispute", _) => sync::sync_dispute(&scope, stripe, account, id).await,
            ("payout", _) => crate::payouts::sync_payout(&scope, stripe, account, id).await,
            // A charge event (succeeded, refunded, updated …): its PaymentIntent's state.
            ("charge", _) | ("refund", "charge") => match stripe.charge(account, id).await {
                Ok(charge) => match charge.payment_intent {
                    Some(intent) => {
                        sync::sync_payment_intent(&self.tenancy, &scope, stripe, account, &intent)
                            .await
                    }
                    None => Ok(Applied::Unknown("a charge of no PaymentIntent")),
                },
                Err(e) if e.is_not_found() => Ok(Applied::Unknown("the charge is gone")),
                Err(e) => Err(e.into()),
            },
            // The platform's own subscriptions and invoices; a connected account's are the
            // institution's own business with its customers.
            ("subscription", "subscription") if account.is_none() => {
                self.sync_platform_subscription(&scope, stripe, id).await
            }
            ("invoice", "invoice") if account.is_none() => {
                self.sync_platform_invoice(&scope, stripe, id).await
            }
            _ => Ok(Applied::Unknown("an object billing does not act on")),
        };
        match result {
            Ok(applied) => {
                scope
                    .commit()
                    .await
                    .map_err(|e| Outcome::Failed(Some(tenant), e.to_string()))?;
                Ok((tenant, applied))
            }
            Err(BillingError::StripeRefused(message)) if message.contains("No such") => {
                Ok((tenant, Applied::Unknown("Stripe has no such object")))
            }
            Err(e) => Err(Outcome::Failed(Some(tenant), e.to_string())),
        }
    }

    /// The stored events in a state (all when `None`), oldest received first.
    pub async fn inbox_events(
        &self,
        state: Option<&str>,
        after: Option<&str>,
        limit: u64,
    ) -> Result<(Vec<InboxEvent>, Option<String>), BillingError> {
        if let Some(state) = state
            && !STATES.contains(&state)
        {
            return Err(BillingError::Invalid(vec![
                hub_kernel::FieldViolation::new(
                    "state",
                    "must be pending, applied, ignored, parked or dead",
                ),
            ]));
        }
        let rows = self
            .tenancy
            .platform_queue::<webhook_event::Entity>()?
            .find(|mut q| {
                if let Some(state) = state {
                    q = q.filter(webhook_event::Column::State.eq(state));
                }
                if let Some(after) = after {
                    q = q.filter(webhook_event::Column::EventId.gt(after));
                }
                q.order_by_asc(webhook_event::Column::EventId)
                    .limit(limit + 1)
            })
            .await?;
        let mut events: Vec<InboxEvent> = rows.into_iter().map(from_row).collect();
        let next = if events.len() as u64 > limit {
            events.truncate(limit as usize);
            events.last().map(|e| e.event_id.clone())
        } else {
            None
        };
        Ok((events, next))
    }

    pub async fn inbox_event(&self, event_id: &str) -> Result<InboxEvent, BillingError> {
        self.tenancy
            .platform_queue::<webhook_event::Entity>()?
            .find_one(|q| q.filter(webhook_event::Column::EventId.eq(event_id)))
            .await?
            .map(from_row)
            .ok_or(BillingError::EventNotFound)
    }

    /// Puts a parked, dead or ignored event back in the queue, due now with its attempts
    /// reset. An applied event was applied (and re-applying changes nothing); a pending one
    /// is queued already.
    pub async fn replay_event(
        &self,
        event_id: &str,
        now: DateTime<Utc>,
    ) -> Result<InboxEvent, BillingError> {
        let event = self.inbox_event(event_id).await?;
        if !matches!(event.state.as_str(), "parked" | "dead" | "ignored") {
            return Err(BillingError::NotReplayable(event.state));
        }
        if handled_object(&event.event_type).is_none() {
            return Err(BillingError::NotReplayable(
                "of a type billing does not act on".into(),
            ));
        }
        self.tenancy
            .platform_queue::<webhook_event::Entity>()?
            .update(|u| {
                u.col_expr(webhook_event::Column::State, Expr::value("pending"))
                    .col_expr(webhook_event::Column::Attempts, Expr::value(0))
                    .col_expr(webhook_event::Column::NextAttemptAt, Expr::value(now))
                    .col_expr(
                        webhook_event::Column::LeaseUntil,
                        Expr::value(Option::<DateTime<Utc>>::None),
                    )
                    .col_expr(
                        webhook_event::Column::FinishedAt,
                        Expr::value(Option::<DateTime<Utc>>::None),
                    )
                    .filter(webhook_event::Column::EventId.eq(event_id))
                    .filter(webhook_event::Column::State.eq(event.state.as_str()))
            })
            .await?;
        tracing::info!(event = %event_id, from = %event.state, "Stripe event replayed by an operator");
        self.inbox_event(event_id).await
    }
}

/// Why an event was not applied.
enum Outcome {
    /// No institution to apply it to: kept for operators.
    Parked(String),
    /// Could not apply now (Stripe or storage): retried.
    Failed(Option<Uuid>, String),
}
