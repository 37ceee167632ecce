//! Control-plane migrations, oldest first.
use sea_orm_migration::prelude::*;

mod m20261129_000001_registry;
mod m20261129_000002_deadlines;
mod m20261129_000003_sso_domains;
mod m20261201_000201_job_leases;
mod m20261204_000301_billing;
mod m20261205_000301_platform_subscriptions;

pub fn all() -> Vec<Box<dyn MigrationTrait>> {
    vec![
        Box::new(m20261129_000001_registry::Migration),
        Box::new(m20261129_000002_deadlines::Migration),
        Box::new(m20261129_000003_sso_domains::Migration),
        Box::new(m20261201_000201_job_leases::Migration),
        Box::new(m20261204_000301_billing::Migration),
        Box::new(m20261205_000301_platform_subscriptions::Migration),
    ]
}
