//! The OpenAPI gateway: HTTP only. It composes each domain's services behind poem routes
//! (the domain crates, once, in [`modules`]), resolves the caller's tenant from the
//! credential, and maps every error to problem+json. Domain logic lives in the domain crates;
//! nothing here writes SQL.

pub mod api;
pub mod app;
pub mod auth;
pub mod caching;
pub mod client_ip;
pub mod config;
pub mod input_guard;
pub mod limiter;
pub mod middleware;
pub mod modules;
pub mod problem;
pub mod progress;
pub mod spec;
pub mod state;
pub mod telemetry;
