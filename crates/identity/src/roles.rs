//! Roles a person holds in an institution, and the scopes each role grants. API keys carry
//! scopes directly; a person's scopes are the union of their roles' scopes, so one check
//! (`TenantScope::require`) serves both.

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
    /// A learner's parent or guardian (minors, A1); no scopes of its own yet.
    Guardian,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Learner,
        Role::Instructor,
        Role::TenantAdmin,
        Role::Finance,
        Role::Auditor,
        Role::Guardian,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Learner => "learner",
            Role::Instructor => "instructor",
            Role::TenantAdmin => "tenant_admin",
            Role::Finance => "finance",
            Role::Auditor => "auditor",
            Role::Guardian => "guardian",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == text)
    }

    /// Whether holding this role is a privileged grant (reviewed in recertification).
    pub fn is_privileged(self) -> bool {
        matches!(self, Role::TenantAdmin | Role::Finance | Role::Auditor)
    }

    pub fn scopes(self) -> &'static [Scope] {
        use Scope::*;
        match self {
            Role::Learner => &[CoursesRead],
            Role::Instructor => &[CoursesRead, CoursesWrite],
            Role::TenantAdmin => &Scope::ALL,
            Role::Finance => &[ContactsRead],
            Role::Auditor => &[CoursesRead, ContactsRead, PeopleRead, AuditRead],
            Role::Guardian => &[],
        }
    }
}

/// The scopes of a set of roles, each once, in a stable order.
pub fn scopes_of(roles: &[Role]) -> Vec<Scope> {
    let mut scopes: Vec<Scope> = roles
        .iter()
        .flat_map(|r| r.scopes().iter().copied())
        .collect();
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
    fn promise_s2_an_auditor_reads_but_never_writes() {
        let writes = [
            Scope::CoursesWrite,
            Scope::ContactsWrite,
            Scope::PeopleWrite,
            Scope::TenantAdmin,
        ];
        assert!(Role::Auditor.scopes().iter().all(|s| !writes.contains(s)));
        assert!(Role::Finance.scopes().iter().all(|s| !writes.contains(s)));
        assert!(!Role::Finance.scopes().contains(&Scope::CoursesRead));
    }

    #[test]
    fn roles_round_trip_and_unknown_names_are_dropped() {
        let roles = roles_from_text("learner auditor nonsense");
        assert_eq!(roles, vec![Role::Learner, Role::Auditor]);
        assert_eq!(roles_to_text(&roles), "learner auditor");
        assert_eq!(
            scopes_of(&[Role::Learner, Role::Instructor]),
            vec![Scope::CoursesRead, Scope::CoursesWrite]
        );
    }
}
