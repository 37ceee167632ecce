//! What a domain crate registers, in one place: the scopes its operations require, which
//! roles are granted which of them, the personal-data fields it stores and how its sealed
//! tables name their rows, its personal-data sources ([`crate::personal_data`]) and its
//! report producers ([`crate::reports::producer`]). Each
//! crate exposes one [`DomainModule`] (`hub_tenant::MODULE`, `hub_identity::MODULE`,
//! `hub_course::MODULE`, …); the gateway composes them once
//! ([`install`], at start) and everything that needs the whole list reads it from here:
//! parsing and listing scopes, the tenant admin's "every scope", role grants, key rotation's
//! sealed-column registry, and the tests that check classification and coverage.
//!
//! The installed list is process-wide and set once: every application the process builds
//! (the tests build many) composes the same crates. Before [`install`], only this crate's
//! own module is known.

use crate::model::Scope;
use crate::personal_data::PersonalDataSource;
use crate::reports::producer::ReportProducer;
use hub_kernel::classification::{
    BlindIndexed, FieldClassification, IndexedColumn, SealedColumn, SealedSecret, SealedTable,
};
use std::sync::OnceLock;

/// The scopes a role is granted by one crate. Roles are identity's; a grant names the role
/// by its stable name (`learner`, `finance`, …), and identity refuses unknown names at start.
#[derive(Debug, Clone, Copy)]
pub struct RoleGrant {
    pub role: &'static str,
    pub scopes: &'static [Scope],
}

/// One domain crate's registration.
#[derive(Debug)]
pub struct DomainModule {
    /// The crate's package name (`hub-course`): the architecture test matches it against
    /// the workspace members.
    pub crate_name: &'static str,
    /// Every scope this crate's operations require. A scope exists because one module
    /// registers it; the tenant admin role holds every registered scope.
    pub scopes: &'static [Scope],
    /// Which roles get which of this crate's scopes.
    pub role_grants: &'static [RoleGrant],
    /// Every personal-data field this crate stores in tables.
    pub personal_fields: fn() -> Vec<FieldClassification>,
    /// Sealed values that are not personal data (re-sealed on key rotation all the same).
    pub sealed_secrets: &'static [SealedSecret],
    /// How each table of this crate with a sealed column names its rows in associated data.
    pub sealed_tables: &'static [SealedTable],
    /// How each blind index of this crate is made again when the index key rotates.
    pub blind_indexes: &'static [BlindIndexed],
    /// The stores of personal data this crate answers for to data-subject rights and
    /// retention ([`crate::personal_data`]).
    pub personal_data_sources: fn() -> Vec<Box<dyn PersonalDataSource>>,
    /// The populations this crate's records are reported as ([`crate::reports::producer`]).
    pub report_producers: fn() -> Vec<Box<dyn ReportProducer>>,
}

impl DomainModule {
    /// Every sealed column this crate stores, for key rotation.
    pub fn sealed_columns(&self) -> Result<Vec<SealedColumn>, String> {
        hub_kernel::classification::sealed_columns(
            &(self.personal_fields)(),
            self.sealed_secrets,
            self.sealed_tables,
        )
    }

    /// Every blind-index column this crate stores, for index-key rotation.
    pub fn indexed_columns(&self) -> Result<Vec<IndexedColumn>, String> {
        hub_kernel::classification::indexed_columns(
            &(self.personal_fields)(),
            self.blind_indexes,
            self.sealed_tables,
        )
    }
}

static INSTALLED: OnceLock<Vec<&'static DomainModule>> = OnceLock::new();

/// Composes the domain crates above this one (this crate's own module comes first). Called
/// once at start by the gateway; a later call must name the same crates.
pub fn install(domains: &[&'static DomainModule]) -> Result<(), String> {
    let mut modules: Vec<&'static DomainModule> = vec![&crate::MODULE];
    modules.extend(domains.iter().copied());
    let mut seen: Vec<Scope> = Vec::new();
    for module in &modules {
        for scope in module.scopes {
            if seen.contains(scope) {
                return Err(format!(
                    "scope {} is registered twice ({})",
                    scope.as_str(),
                    module.crate_name
                ));
            }
            seen.push(*scope);
        }
        for grant in module.role_grants {
            if let Some(foreign) = grant.scopes.iter().find(|s| !module.scopes.contains(s)) {
                return Err(format!(
                    "{} grants {} scope {}, which it does not register",
                    module.crate_name,
                    grant.role,
                    foreign.as_str()
                ));
            }
        }
    }
    let names = |list: &[&DomainModule]| list.iter().map(|m| m.crate_name).collect::<Vec<_>>();
    let installed = INSTALLED.get_or_init(|| modules.clone());
    if names(installed) != names(&modules) {
        return Err(format!(
            "domain modules were installed as {:?}; cannot install {:?}",
            names(installed),
            names(&modules)
        ));
    }
    Ok(())
}

/// Every registered domain module, this crate's first.
pub fn installed() -> &'static [&'static DomainModule] {
    static OWN: [&DomainModule; 1] = [&crate::MODULE];
    INSTALLED.get().map_or(&OWN, Vec::as_slice)
}

/// Every registered scope, in a stable order (by name).
pub fn all_scopes() -> Vec<Scope> {
    let mut scopes: Vec<Scope> = installed()
        .iter()
        .flat_map(|m| m.scopes.iter().copied())
        .collect();
    scopes.sort();
    scopes
}

/// The scopes the registered crates grant a role (by name), each once, by name.
pub fn granted_scopes(role: &str) -> Vec<Scope> {
    let mut scopes: Vec<Scope> = installed()
        .iter()
        .flat_map(|m| m.role_grants)
        .filter(|g| g.role == role)
        .flat_map(|g| g.scopes.iter().copied())
        .collect();
    scopes.sort();
    scopes.dedup();
    scopes
}

/// Every personal-data field of every registered crate.
pub fn personal_fields() -> Vec<FieldClassification> {
    installed()
        .iter()
        .flat_map(|m| (m.personal_fields)())
        .collect()
}
