//! Control-plane migrations, oldest first.
use sea_orm_migration::prelude::*;

mod m20261129_000001_registry;

pub fn all() -> Vec<Box<dyn MigrationTrait>> {
    vec![Box::new(m20261129_000001_registry::Migration)]
}
