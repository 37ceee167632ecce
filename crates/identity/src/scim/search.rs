//! RFC 7644 §3.4.3 search at the service root (`POST /.search`): users and groups in one
//! answer, users first (each in id order), paged across both. The root filter is the users'
//! (`userName eq "…"`): it is exact there, as no group has a `userName`; a `displayName`
//! filter is refused at the root, where it would have to match users' display names too,
//! which are sealed and cannot be searched.

use super::groups::{ScimGroup, list_groups};
use super::users::{ServedUser, list_users};
use crate::error::IdentityError;
use hub_tenant::{Scope, TenantScope};

/// One page of a root search.
#[derive(Debug, Clone)]
pub struct RootPage {
    /// Users and groups that match, in all.
    pub total: u64,
    pub users: Vec<ServedUser>,
    pub groups: Vec<ScimGroup>,
}

/// Users matching `filter` (all without one) then, without a filter, groups. The users
/// listed are audited as [`list_users`] audits them.
pub async fn search_all(
    scope: &TenantScope,
    filter: Option<&str>,
    start_index: u64,
    count: u64,
) -> Result<RootPage, IdentityError> {
    scope.require(Scope::ScimProvision)?;
    if let Some(text) = filter {
        super::parse_filter(text, &["userName"])?;
    }
    let (users_total, users) = list_users(scope, filter, start_index, count).await?;
    if filter.is_some() {
        return Ok(RootPage {
            total: users_total,
            users,
            groups: Vec::new(),
        });
    }
    // Groups continue where users end: the offset past the users, and what is left of count.
    let offset = start_index.saturating_sub(1).saturating_sub(users_total);
    let left = count.saturating_sub(users.len() as u64);
    let (groups_total, mut groups) = list_groups(scope, None, offset + 1, left.max(1)).await?;
    if left == 0 {
        groups.clear();
    }
    Ok(RootPage {
        total: users_total + groups_total,
        users,
        groups,
    })
}
