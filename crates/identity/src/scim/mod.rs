//! SCIM 2.0 (RFC 7643/7644) push provisioning from the institution's IdP: Users and Groups.
//! The protocol's shapes are mapped here onto people and roles; the gateway only moves JSON.
//! [`discovery`] holds the documents that describe exactly what is supported; [`filter`]
//! parses `filter`, [`patch`] interprets a user PatchOp, [`projection`] applies `attributes`
//! and `excludedAttributes`, [`users`] and [`groups`] hold the resources, [`search`] the
//! search at the root.
//!
//! Supported: create, read, replace (PUT), list and `POST /.search` with `filter`
//! (`userName eq "…"` for users, `displayName eq "…"` for groups) and `startIndex`/`count`,
//! PATCH (`add`, `replace`, `remove`) on the attributes below, user and group delete,
//! `externalId`, optimistic concurrency on the revision (`meta.version`). Deactivation
//! (`active: false`), deletion and a change of roles through groups end the person's
//! sessions when the change is committed (every change is a [`crate::sessions::Change`]).
//! A deleted user is deprovisioned: deactivated, removed from every group (so their roles
//! fall back to learner) and no longer served by SCIM; the person record stays for the
//! audit trail. A group whose `displayName` is a role name (`instructor`, `tenant_admin`, …)
//! grants that role to members provisioned through SCIM; a SCIM person in no such group is
//! a learner.

pub mod discovery;
mod filter;
mod groups;
mod patch;
mod projection;
mod search;
pub mod users;

pub use filter::{EqFilter, parse_filter};
pub use groups::{
    GroupInput, MAX_GROUP_NAME, ScimGroup, ScimGroupDirectory, create_group, delete_group,
    get_group, groups_of, list_groups, patch_group, replace_group,
};
pub use patch::{MAX_OPERATIONS, PatchOperation, first_entry, first_value};
pub use projection::Projection;
pub use search::{RootPage, search_all};
pub use users::{
    ScimAttributes, ScimUser, ServedUser, create_user, delete_user, get_user, list_users,
    patch_user, replace_user,
};

use crate::error::IdentityError;

/// The most resources one list answers (`count` above it is lowered to it).
pub const MAX_COUNT: u64 = 200;

pub(super) fn bad_value(detail: impl Into<String>) -> IdentityError {
    IdentityError::ScimInvalid {
        scim_type: "invalidValue",
        detail: detail.into(),
    }
}

pub(super) fn bad_path(path: &str) -> IdentityError {
    IdentityError::ScimInvalid {
        scim_type: "invalidPath",
        detail: format!("the path `{path}` is not supported"),
    }
}

/// The SCIM attribute a person field is written through, so an error names what was sent.
fn scim_attribute_of(field: &str) -> &str {
    match field {
        "name" => "displayName",
        "username" => "userName",
        "email" => "emails",
        "phone" => "phoneNumbers",
        other => other,
    }
}

/// Maps invalid person fields to SCIM's `invalidValue`, taken usernames to `uniqueness`.
pub(super) fn scim_error(e: IdentityError) -> IdentityError {
    match e {
        IdentityError::Invalid(v) => bad_value(
            v.into_iter()
                .map(|f| format!("{}: {}", scim_attribute_of(&f.field), f.message))
                .collect::<Vec<_>>()
                .join("; "),
        ),
        IdentityError::Conflict(detail) => IdentityError::ScimInvalid {
            scim_type: "uniqueness",
            detail,
        },
        other => other,
    }
}
