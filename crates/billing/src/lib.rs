//! Billing: learners buy courses from their institution, paid to the institution's own
//! Stripe account; institutions pay the platform for a plan with seats
//! ([`subscriptions`]); finance teams read the history, refund and follow disputes; the
//! platform keeps its ledger converged with Stripe's.
//!
//! **Whose money, whose account.** Every institution is a Stripe Connect connected account
//! of the platform (`billing_accounts`: its `acct_…` id, nothing secret). Payments are
//! direct charges on that account (the `Stripe-Account` header): the money, the Stripe
//! dashboard, refunds and disputes are the institution's, and the platform holds one secret
//! key and one webhook endpoint instead of one restricted key per institution. An
//! institution's own key sealed under its tenant key would work too, but it would be a
//! long-lived secret per tenant to store, rotate and revoke, with one webhook endpoint and
//! signing secret per institution, and Stripe could not tell the platform's requests from
//! the institution's own. With Connect, every event carries the `account` that routes it.
//!
//! **No card data** (D4, C4): the card is entered into Stripe's own elements on the
//! learner's device; the product sees a PaymentMethod id (`pm_…`) at most, and keeps Stripe
//! ids, amounts, statuses, card brand, last four digits and expiry only.
//!
//! **Stripe decides** (never the client's word): a purchase stays `requires_payment` until
//! a signed webhook event about its PaymentIntent arrives and the PaymentIntent, fetched
//! again from Stripe, says `succeeded`; only then does the learning crate enroll the
//! learner ([`hub_tenant::course_sales`]).
//!
//! Modules: [`inbox`] receives and processes webhook events, [`sync`] applies Stripe's
//! current state of an object ([`payouts`] a payout's), [`purchases`] starts a purchase,
//! [`history`] is finance's view, [`refunds`], [`accounts`] and [`prices`] what admins set,
//! [`reconcile`] compares the ledger with Stripe and [`reconciliation_runs`] schedules and
//! records those comparisons, [`subscriptions`] the platform's own billing of institutions,
//! [`personal_data`] the contract for the people billing knows.

pub mod accounts;
pub mod entities;
pub mod error;
pub mod history;
pub mod inbox;
pub mod money;
pub mod payouts;
pub mod personal_data;
pub mod prices;
pub mod purchases;
pub mod reconcile;
pub mod reconciliation_runs;
pub mod refunds;
pub mod signature;
pub mod stripe_api;
pub mod subscriptions;
pub mod sync;

pub use error::BillingError;

use hub_tenant::footprint::ControlFootprint;
use hub_tenant::{DomainModule, RoleGrant, Scope, Tenancy};
use std::sync::Arc;
use stripe_api::{StripeApi, StripeSettings};

/// Billing history: payments, refunds, disputes and their totals and exports (finance).
pub const BILLING_READ: Scope = Scope::named("billing:read");
/// Refund a payment (finance).
pub const BILLING_REFUND: Scope = Scope::named("billing:refund");
/// Connect the institution's Stripe account and set course prices (tenant admins).
pub const BILLING_MANAGE: Scope = Scope::named("billing:manage");

/// This crate's registration.
pub const MODULE: DomainModule = DomainModule {
    crate_name: "hub-billing",
    scopes: &[BILLING_READ, BILLING_REFUND, BILLING_MANAGE],
    role_grants: &[RoleGrant {
        role: "finance",
        scopes: &[BILLING_READ, BILLING_REFUND],
    }],
    personal_fields: personal_data::personal_fields,
    sealed_secrets: &[],
    sealed_tables: personal_data::SEALED_TABLES,
    blind_indexes: &[],
    // The billing source needs the Stripe client (it deletes the customer at Stripe): the
    // service registers it when built ([`Billing::new`]).
    personal_data_sources: Vec::new,
    report_producers: Vec::new,
};

/// The control-plane tables naming an institution (offboarding erases them).
pub const CONTROL_FOOTPRINT: &[ControlFootprint] = &[
    ControlFootprint {
        table: "billing_accounts",
        tenant_column: "tenant_id",
    },
    ControlFootprint {
        table: "billing_webhook_events",
        tenant_column: "tenant_id",
    },
    ControlFootprint {
        table: "billing_subscriptions",
        tenant_column: "tenant_id",
    },
    ControlFootprint {
        table: "billing_platform_invoices",
        tenant_column: "tenant_id",
    },
];

/// How the inbox retries.
#[derive(Debug, Clone)]
pub struct InboxSettings {
    /// Attempts before an event is a dead letter.
    pub max_attempts: i32,
    /// The first retry's delay; each next one doubles it (with jitter), up to an hour.
    pub first_retry_secs: i64,
}

impl Default for InboxSettings {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            first_retry_secs: 10,
        }
    }
}

/// The billing service: the tenancy, the Stripe client (none when the platform has no
/// Stripe account configured: billing answers `billing_not_configured`) and the webhook
/// secrets.
pub struct Billing {
    tenancy: Arc<Tenancy>,
    stripe: Option<StripeApi>,
    webhook_secrets: Vec<String>,
    inbox: InboxSettings,
    plans: subscriptions::PlatformPlans,
}

impl Billing {
    pub fn new(
        tenancy: Arc<Tenancy>,
        stripe: Option<StripeSettings>,
        inbox: InboxSettings,
    ) -> Result<Self, String> {
        let (client, secrets) = match &stripe {
            Some(settings) => (
                Some(StripeApi::new(settings)?),
                settings.webhook_secrets.clone(),
            ),
            None => (None, Vec::new()),
        };
        let billing = Self {
            tenancy,
            stripe: client,
            webhook_secrets: secrets,
            inbox,
            plans: subscriptions::PlatformPlans::default(),
        };
        billing
            .tenancy
            .register_personal_data_source(Arc::new(personal_data::BillingSource {
                stripe: billing.stripe.clone(),
                tenancy: Arc::downgrade(&billing.tenancy),
            }));
        Ok(billing)
    }

    pub fn tenancy(&self) -> &Tenancy {
        &self.tenancy
    }

    fn stripe(&self) -> Result<&StripeApi, BillingError> {
        self.stripe.as_ref().ok_or(BillingError::NotConfigured)
    }
}
