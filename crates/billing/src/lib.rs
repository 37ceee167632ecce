//! Billing.
pub mod entities;
pub mod error;
pub mod money;
pub mod signature;
pub mod stripe_api;
