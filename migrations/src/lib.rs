//! The two migration sets.
//!
//! - [`ControlPlaneMigrator`]: the platform's own tables (tenant registry, wrapped keys,
//!   API key hashes, deletion records, background jobs, deadlines, claimed SSO domains). On PostgreSQL they live in the `hub_control` schema;
//!   on SQLite in `control.db`.
//! - [`TenantMigrator`]: one institution's tables, applied inside each tenant's schema (or
//!   file). Every tenant is kept at the same version, so cached plans never see two shapes.
//! - [`KeyStoreMigrator`]: the key store's own database (wrapped tenant keys), kept apart
//!   from the data so a backup of one never holds the other.
//!
//! Migrations are written in the portable subset that both PostgreSQL and SQLite accept:
//! no enum types, no `ALTER … MODIFY`, one change per `ALTER`, defaults on added
//! `NOT NULL` columns (see STACK.md).

use sea_orm_migration::prelude::*;

mod control;
mod keys;
mod tenant;

pub use sea_orm_migration::MigratorTrait;

pub struct ControlPlaneMigrator;

#[async_trait::async_trait]
impl MigratorTrait for ControlPlaneMigrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        control::all()
    }
}

pub struct KeyStoreMigrator;

#[async_trait::async_trait]
impl MigratorTrait for KeyStoreMigrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        keys::all()
    }
}

pub struct TenantMigrator;

#[async_trait::async_trait]
impl MigratorTrait for TenantMigrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        tenant::all()
    }
}

impl TenantMigrator {
    /// The name of the newest tenant migration: the version every tenant should be at.
    pub fn latest_version() -> String {
        tenant::all()
            .last()
            .map(|m| m.name().to_string())
            .unwrap_or_default()
    }
}

/// Shorthand for a column definition with a plain name.
pub(crate) fn col(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name))
}

pub(crate) fn table(name: &str) -> Alias {
    Alias::new(name)
}
