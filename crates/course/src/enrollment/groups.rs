//! The learning crate's side of the group-membership port
//! ([`hub_tenant::group_membership`]): identity tells it, in the SCIM request's own
//! transaction, who joined and who left a group, and the courses mapped to that group enroll
//! the newcomers and withdraw the leavers ([`super::service::map_group`]).

use crate::CourseError;
use async_trait::async_trait;
use hub_tenant::group_membership::{GroupObserver, MembershipChange};
use hub_tenant::{Tenancy, TenantError, TenantScope};

/// Registered by the gateway at start (`Tenancy::register_group_observer`).
pub struct GroupEnrollments;

#[async_trait]
impl GroupObserver for GroupEnrollments {
    async fn members_changed(
        &self,
        tenancy: &Tenancy,
        scope: &TenantScope,
        change: &MembershipChange,
    ) -> Result<(), TenantError> {
        super::service::group_members_changed(
            tenancy,
            scope,
            change.group_id,
            &change.added,
            &change.removed,
        )
        .await
        .map_err(|e| match e {
            CourseError::Tenant(e) => e,
            CourseError::Database(e) => TenantError::Database(e),
            other => TenantError::Conflict(other.to_string()),
        })
    }
}
