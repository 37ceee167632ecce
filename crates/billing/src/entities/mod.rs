//! sea-orm entities of billing's tables: two in the control plane (the connected accounts and
//! the webhook inbox), the rest in each institution's schema.
pub mod connected_account;
pub mod course_price;
pub mod customer;
pub mod dispute;
pub mod payment;
pub mod refund;
pub mod webhook_event;
