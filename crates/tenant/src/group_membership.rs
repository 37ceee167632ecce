//! The group-membership port: who listens when an institution's IdP changes the members of
//! a SCIM group. Identity owns the groups and tells every registered observer, inside the
//! same [`TenantScope`] (one transaction: the membership and what follows from it commit
//! together, or neither does); the learning crate (`hub-course`) observes it to enroll a
//! group's new members in the courses mapped to it and withdraw its former ones. The
//! gateway registers the observers at start ([`crate::Tenancy::register_group_observer`]),
//! so identity knows no crate that listens and no listener depends on identity. A listener
//! that starts late (a course mapped to a group that has members) asks identity's
//! [`GroupDirectory`] who is in the group.

use crate::scope::TenantScope;
use async_trait::async_trait;
use uuid::Uuid;

/// What changed in one group's membership, in one SCIM request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MembershipChange {
    pub group_id: Uuid,
    /// People who are members now and were not before.
    pub added: Vec<Uuid>,
    /// People who were members before and are not now (all of them when the group is
    /// deleted).
    pub removed: Vec<Uuid>,
}

impl MembershipChange {
    /// The change from `before` to `after` (both member lists of `group_id`).
    pub fn between(group_id: Uuid, before: &[Uuid], after: &[Uuid]) -> Self {
        let mut added: Vec<Uuid> = after
            .iter()
            .filter(|p| !before.contains(p))
            .copied()
            .collect();
        let mut removed: Vec<Uuid> = before
            .iter()
            .filter(|p| !after.contains(p))
            .copied()
            .collect();
        added.sort();
        added.dedup();
        removed.sort();
        removed.dedup();
        Self {
            group_id,
            added,
            removed,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }
}

/// Acts on a group's membership change, in the caller's transaction (with the tenancy, for
/// the ports the observer asks in turn, e.g. a member's minor status).
#[async_trait]
pub trait GroupObserver: Send + Sync {
    async fn members_changed(
        &self,
        tenancy: &crate::Tenancy,
        scope: &TenantScope,
        change: &MembershipChange,
    ) -> Result<(), crate::TenantError>;
}

/// Who is in a group (identity answers), for a listener that starts listening late: a
/// course mapped to a group enrolls the members it already has.
#[async_trait]
pub trait GroupDirectory: Send + Sync {
    /// The group's members, or `None` when the scope's tenant has no such group.
    async fn members(
        &self,
        scope: &TenantScope,
        group_id: Uuid,
    ) -> Result<Option<Vec<Uuid>>, crate::TenantError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_lists_who_came_and_who_left() {
        let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let group = Uuid::now_v7();
        let change = MembershipChange::between(group, &[a, b], &[b, c, c]);
        assert_eq!(change.added, vec![c]);
        assert_eq!(change.removed, vec![a]);
        assert!(MembershipChange::between(group, &[a], &[a]).is_empty());
    }
}
