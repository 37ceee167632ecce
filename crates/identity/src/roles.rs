//! Roles a person holds in an institution, and the scopes each role grants. API keys carry
//! scopes directly; a person's scopes are the union of their roles' scopes, so one check
//! (`TenantScope::require`) serves both. Which scopes a role holds is registered by the crate
//! that owns each scope (its `DomainModule`'s role grants), not listed here.

use hub_tenant::Scope;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Learner,
    Instructor,
    /// Runs the institution's account: people, SSO, keys, profile.
    TenantAdmin,
    /// Billing contacts and (with the billing crate) billing history; no learning records.
    Finance,
    /// Reads everything an auditor needs, including the audit trail; never writes.
    Auditor,
    /// A learner's parent or guardian (minors, A1): reads the progress of the minors whose
    /// guardian consent they confirmed (`guardians:read`, granted by `hub-course`).
    Guardian,
    /// Handles data-subject requests, legal holds and consent records (`privacy:manage`,
    /// granted by `hub-privacy-addenda`).
    PrivacyOfficer,
}

impl Role {
    pub const ALL: [Role; 7] = [
        Role::Learner,
        Role::Instructor,
        Role::TenantAdmin,
        Role::Finance,
        Role::Auditor,
        Role::Guardian,
        Role::PrivacyOfficer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Learner => "learner",
            Role::Instructor => "instructor",
            Role::TenantAdmin => "tenant_admin",
            Role::Finance => "finance",
            Role::Auditor => "auditor",
            Role::Guardian => "guardian",
            Role::PrivacyOfficer => "privacy_officer",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == text)
    }

    /// Whether holding this role is a privileged grant (reviewed in recertification).
    pub fn is_privileged(self) -> bool {
        matches!(
            self,
            Role::TenantAdmin | Role::Finance | Role::Auditor | Role::PrivacyOfficer
        )
    }

    /// What the registered crates grant this role ([`hub_tenant::module`]): each crate says
    /// which roles hold which of its scopes; the tenant admin holds every registered scope.
    pub fn scopes(self) -> Vec<Scope> {
        match self {
            Role::TenantAdmin => Scope::all(),
            other => hub_tenant::module::granted_scopes(other.as_str()),
        }
    }
}

/// The scopes of a set of roles, each once, in a stable order.
pub fn scopes_of(roles: &[Role]) -> Vec<Scope> {
    let mut scopes: Vec<Scope> = roles.iter().flat_map(|r| r.scopes()).collect();
    scopes.sort();
    scopes.dedup();
    scopes
}

pub fn roles_to_text(roles: &[Role]) -> String {
    roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn roles_from_text(text: &str) -> Vec<Role> {
    text.split_whitespace().filter_map(Role::parse).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_and_unknown_names_are_dropped() {
        let roles = roles_from_text("learner auditor nonsense");
        assert_eq!(roles, vec![Role::Learner, Role::Auditor]);
        assert_eq!(roles_to_text(&roles), "learner auditor");
    }

    /// The grants come from the registered crates (here tenant's and identity's; the
    /// gateway's whole composition is checked in tests/api/roles.rs).
    #[test]
    fn a_roles_scopes_are_what_the_registered_crates_grant_it() {
        hub_tenant::module::install(&[&crate::MODULE]).unwrap();
        assert_eq!(
            scopes_of(&[Role::Auditor, Role::Finance]),
            vec![
                Scope::AuditRead,
                Scope::ContactsRead,
                Scope::PeopleRead,
                hub_tenant::reports::runs::REPORTS_READ
            ]
        );
        assert_eq!(Role::TenantAdmin.scopes(), Scope::all());
        assert!(Role::TenantAdmin.scopes().contains(&Scope::ScimProvision));
        assert!(Role::Guardian.scopes().is_empty());
    }
}
