//! Key-store migrations, oldest first. The key store is a database of its own (see
//! `hub_tenant::keys`), so backups of the data database never carry tenant keys.
use sea_orm_migration::prelude::*;

mod m20261201_000001_tenant_keys;
mod m20261201_000501_tombstones;

pub fn all() -> Vec<Box<dyn MigrationTrait>> {
    vec![
        Box::new(m20261201_000001_tenant_keys::Migration),
        Box::new(m20261201_000501_tombstones::Migration),
    ]
}
