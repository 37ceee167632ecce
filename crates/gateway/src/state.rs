//! What every request can reach: the domain services and the edge's own helpers.

use crate::config::Config;
use crate::limiter::RateLimiter;
use hub_billing::Billing;
use hub_identity::Identity;
use hub_privacy_addenda::Privacy;
use hub_tenant::Tenancy;
use std::sync::Arc;

pub struct AppState {
    pub config: Config,
    pub tenancy: Arc<Tenancy>,
    pub identity: Identity,
    pub privacy: Privacy,
    pub billing: Billing,
    pub limiter: RateLimiter,
}
