//! Billing's operations: what admins set (the institution's Stripe account, course prices),
//! what a learner does (buy a course, see their payments), what finance reads and does
//! (history, totals, the CSV export, refunds, disputes, payouts, reconciliation runs),
//! Stripe's webhook endpoint, the operators' view of the webhook inbox (parked and dead
//! events, replay), and the institution's own subscription to the platform (plans, seats,
//! the platform's invoices).
pub mod finance;
pub mod payouts;
pub mod purchases;
pub mod reconciliations;
pub mod subscriptions;
pub mod webhooks;
