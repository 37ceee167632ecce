//! sea-orm entities of billing's tables: four in the control plane (the connected accounts,
//! the webhook inbox, and the platform's own subscriptions and invoices to institutions), the
//! rest in each institution's schema.
pub mod connected_account;
pub mod course_price;
pub mod customer;
pub mod dispute;
pub mod payment;
pub mod platform_invoice;
pub mod platform_subscription;
pub mod refund;
pub mod webhook_event;
