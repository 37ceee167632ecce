//! SCIM Groups: a group whose `displayName` is a role name grants that role to its members
//! provisioned through SCIM; a SCIM person in no such group is a learner. Create, read, list,
//! replace (PUT), PATCH (membership, name, `externalId`) and DELETE, and the membership
//! queries users need. A group's `externalId` (the IdP's id for it) is no one's personal data
//! and is stored as sent.

use super::patch::{PatchOperation, as_string};
use super::users::load_served;
use super::{MAX_COUNT, bad_path, bad_value, filter::parse_filter};
use crate::entities::{scim_group, scim_group_member};
use crate::error::IdentityError;
use crate::people::{self, PersonSource};
use crate::roles::Role;
use crate::sessions::{Change, SessionsToEnd};
use chrono::{DateTime, Utc};
use hub_tenant::audit::{self, AuditEvent};
use hub_tenant::group_membership::MembershipChange;
use hub_tenant::{Scope, Tenancy, TenantScope};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde_json::Value;
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct ScimGroup {
    pub id: Uuid,
    pub display_name: String,
    pub external_id: Option<String>,
    pub members: Vec<Uuid>,
    pub revision: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

async fn group_roles_of(scope: &TenantScope, person_id: Uuid) -> Result<Vec<Role>, IdentityError> {
    let group_ids: Vec<Uuid> = scim_group_member::Entity::find()
        .filter(scim_group_member::Column::PersonId.eq(person_id))
        .all(scope.db())
        .await?
        .into_iter()
        .map(|m| m.group_id)
        .collect();
    let groups = scim_group::Entity::find()
        .filter(scim_group::Column::Id.is_in(group_ids))
        .all(scope.db())
        .await?;
    let mut roles: Vec<Role> = groups
        .iter()
        .filter_map(|g| Role::parse(&g.display_name))
        .collect();
    if roles.is_empty() {
        roles.push(Role::Learner);
    }
    roles.sort();
    roles.dedup();
    Ok(roles)
}

/// Groups a person belongs to, as `(id, display name)`.
pub async fn groups_of(
    scope: &TenantScope,
    person_id: Uuid,
) -> Result<Vec<(Uuid, String)>, IdentityError> {
    let ids: Vec<Uuid> = scim_group_member::Entity::find()
        .filter(scim_group_member::Column::PersonId.eq(person_id))
        .all(scope.db())
        .await?
        .into_iter()
        .map(|m| m.group_id)
        .collect();
    Ok(scim_group::Entity::find()
        .filter(scim_group::Column::Id.is_in(ids))
        .order_by_asc(scim_group::Column::DisplayName)
        .all(scope.db())
        .await?
        .into_iter()
        .map(|g| (g.id, g.display_name))
        .collect())
}

fn group_view(row: scim_group::Model, members: Vec<Uuid>) -> ScimGroup {
    ScimGroup {
        id: row.id,
        display_name: row.display_name,
        external_id: row.external_id,
        members,
        revision: row.revision,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

async fn members_of(scope: &TenantScope, group_id: Uuid) -> Result<Vec<Uuid>, IdentityError> {
    Ok(scim_group_member::Entity::find()
        .filter(scim_group_member::Column::GroupId.eq(group_id))
        .order_by_asc(scim_group_member::Column::PersonId)
        .all(scope.db())
        .await?
        .into_iter()
        .map(|m| m.person_id)
        .collect())
}

pub async fn get_group(scope: &TenantScope, id: Uuid) -> Result<ScimGroup, IdentityError> {
    scope.require(Scope::ScimProvision)?;
    let row = scim_group::Entity::find_by_id(id)
        .one(scope.db())
        .await?
        .ok_or(IdentityError::NotFound("group"))?;
    let members = members_of(scope, id).await?;
    Ok(group_view(row, members))
}

pub async fn list_groups(
    scope: &TenantScope,
    filter: Option<&str>,
    start_index: u64,
    count: u64,
) -> Result<(u64, Vec<ScimGroup>), IdentityError> {
    scope.require(Scope::ScimProvision)?;
    let mut query = scim_group::Entity::find().order_by_asc(scim_group::Column::Id);
    if let Some(text) = filter {
        let filter = parse_filter(text, &["displayName"])?;
        query = query.filter(scim_group::Column::DisplayName.eq(filter.value));
    }
    let total = query.clone().count(scope.db()).await?;
    let rows = query
        .offset(start_index.saturating_sub(1))
        .limit(count.min(MAX_COUNT))
        .all(scope.db())
        .await?;
    let mut groups = Vec::new();
    for row in rows {
        let members = members_of(scope, row.id).await?;
        groups.push(group_view(row, members));
    }
    Ok((total, groups))
}

/// The SCIM groups as other crates may ask about them
/// ([`hub_tenant::group_membership::GroupDirectory`]: a course mapped to a group enrolls
/// its members).
pub struct ScimGroupDirectory;

#[async_trait::async_trait]
impl hub_tenant::group_membership::GroupDirectory for ScimGroupDirectory {
    async fn members(
        &self,
        scope: &TenantScope,
        group_id: Uuid,
    ) -> Result<Option<Vec<Uuid>>, hub_tenant::TenantError> {
        let found = scim_group::Entity::find_by_id(group_id)
            .one(scope.db())
            .await?;
        if found.is_none() {
            return Ok(None);
        }
        let members = members_of(scope, group_id).await.map_err(|e| match e {
            IdentityError::Database(db) => hub_tenant::TenantError::Database(db),
            IdentityError::Tenant(t) => t,
            other => hub_tenant::TenantError::Conflict(other.to_string()),
        })?;
        Ok(Some(members))
    }
}

/// Gives each SCIM-provisioned person of `people_ids` the roles their groups grant; whose
/// roles changed have their sessions ended when the change is committed.
async fn sync_roles(
    scope: &TenantScope,
    people_ids: &[Uuid],
) -> Result<SessionsToEnd, IdentityError> {
    let mut ending = SessionsToEnd::default();
    for id in people_ids {
        let person = people::load(scope, *id).await?;
        if person.source != PersonSource::Scim {
            continue;
        }
        let roles = group_roles_of(scope, *id).await?;
        people::set_status_and_roles(scope, &person, person.status, &roles, &mut ending).await?;
    }
    Ok(ending)
}

async fn add_members(
    scope: &TenantScope,
    group_id: Uuid,
    members: &[Uuid],
) -> Result<(), IdentityError> {
    let existing = members_of(scope, group_id).await?;
    for person_id in members {
        if existing.contains(person_id) {
            continue;
        }
        load_served(scope, *person_id)
            .await
            .map_err(|_| bad_value(format!("member {person_id} is not a user here")))?;
        scim_group_member::Entity::insert(scim_group_member::ActiveModel {
            group_id: Set(group_id),
            person_id: Set(*person_id),
        })
        .exec_without_returning(scope.db())
        .await?;
    }
    Ok(())
}

fn member_ids(value: &Value) -> Result<Vec<Uuid>, IdentityError> {
    let items = value
        .as_array()
        .ok_or_else(|| bad_value("`members` must be a list of {\"value\": \"<user id>\"}"))?;
    items
        .iter()
        .map(|m| {
            m["value"]
                .as_str()
                .and_then(|v| Uuid::try_parse(v).ok())
                .ok_or_else(|| bad_value("each member needs a `value` with a user id"))
        })
        .collect()
}

/// The longest group `displayName`.
pub const MAX_GROUP_NAME: usize = 200;

/// What the IdP sends to create or replace a group.
#[derive(Debug, Clone, Default)]
pub struct GroupInput {
    pub display_name: String,
    pub external_id: Option<String>,
    /// `{"value": "<user id>"}` objects.
    pub members: Vec<Value>,
}

/// A valid `displayName` no other group (than `except`) has, trimmed.
async fn check_display_name(
    scope: &TenantScope,
    name: &str,
    except: Option<Uuid>,
) -> Result<String, IdentityError> {
    let name = name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_GROUP_NAME
        || name.chars().any(char::is_control)
    {
        return Err(bad_value(format!(
            "displayName: must be 1–{MAX_GROUP_NAME} characters without control characters"
        )));
    }
    let mut taken = scim_group::Entity::find().filter(scim_group::Column::DisplayName.eq(name));
    if let Some(id) = except {
        taken = taken.filter(scim_group::Column::Id.ne(id));
    }
    if taken.one(scope.db()).await?.is_some() {
        return Err(IdentityError::ScimInvalid {
            scim_type: "uniqueness",
            detail: "a group with this displayName exists".into(),
        });
    }
    Ok(name.to_string())
}

pub(super) fn check_external_id(external_id: &Option<String>) -> Result<(), IdentityError> {
    if let Some(id) = external_id
        && (id.is_empty()
            || id.chars().count() > super::users::MAX_EXTERNAL_ID
            || id.chars().any(char::is_control))
    {
        return Err(bad_value(format!(
            "externalId: must be 1–{} characters without control characters",
            super::users::MAX_EXTERNAL_ID
        )));
    }
    Ok(())
}

/// Every membership change below is told to the registered group observers
/// ([`Tenancy::group_members_changed`]: the courses mapped to the group) in the same
/// transaction.
pub async fn create_group(
    tenancy: &Tenancy,
    scope: &TenantScope,
    input: GroupInput,
) -> Result<Change<ScimGroup>, IdentityError> {
    scope.require(Scope::ScimProvision)?;
    check_external_id(&input.external_id)?;
    let display_name = check_display_name(scope, &input.display_name, None).await?;
    let display_name = display_name.as_str();
    let member_ids = member_ids(&Value::Array(input.members))?;
    let id = Uuid::now_v7();
    let now = Utc::now();
    scim_group::Entity::insert(scim_group::ActiveModel {
        id: Set(id),
        display_name: Set(display_name.to_string()),
        external_id: Set(input.external_id),
        revision: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .exec_without_returning(scope.db())
    .await?;
    add_members(scope, id, &member_ids).await?;
    let ending = sync_roles(scope, &member_ids).await?;
    let after = members_of(scope, id).await?;
    tenancy
        .group_members_changed(scope, &MembershipChange::between(id, &[], &after))
        .await?;
    audit::record(
        scope,
        AuditEvent::new("scim.group_created")
            .subject(format!("group:{id}"))
            .detail(
                serde_json::json!({ "display_name": display_name, "members": member_ids.len() }),
            ),
    )
    .await?;
    Ok(Change::new(get_group(scope, id).await?, ending))
}

pub async fn patch_group(
    tenancy: &Tenancy,
    scope: &TenantScope,
    id: Uuid,
    operations: &[PatchOperation],
) -> Result<Change<ScimGroup>, IdentityError> {
    scope.require(Scope::ScimProvision)?;
    if operations.is_empty() || operations.len() > super::patch::MAX_OPERATIONS {
        return Err(bad_value(format!(
            "Operations: a PatchOp needs 1–{} operations",
            super::patch::MAX_OPERATIONS
        )));
    }
    let before = get_group(scope, id).await?;
    let mut touched: Vec<Uuid> = Vec::new();
    // A path-less operation names its attributes in its value object.
    let mut expanded = Vec::new();
    for operation in operations {
        match (&operation.path, &operation.value) {
            (None, Some(Value::Object(object))) => {
                for (key, value) in object {
                    expanded.push(PatchOperation {
                        op: operation.op.clone(),
                        path: Some(key.clone()),
                        value: Some(value.clone()),
                    });
                }
            }
            _ => expanded.push(operation.clone()),
        }
    }
    for operation in &expanded {
        let op = operation.op.to_ascii_lowercase();
        let path = operation.path.clone().unwrap_or_default();
        let lower = path.to_ascii_lowercase();
        match (op.as_str(), lower.as_str()) {
            ("add", "members") | ("replace", "members") => {
                let ids = member_ids(operation.value.as_ref().unwrap_or(&Value::Null))?;
                if op == "replace" {
                    touched.extend(members_of(scope, id).await?);
                    scim_group_member::Entity::delete_many()
                        .filter(scim_group_member::Column::GroupId.eq(id))
                        .exec(scope.db())
                        .await?;
                }
                add_members(scope, id, &ids).await?;
                touched.extend(ids);
            }
            ("remove", p) if p.starts_with("members") => {
                // `members[value eq "<id>"]`, or `members` with a value list.
                let ids = match p
                    .strip_prefix("members[value eq ")
                    .and_then(|r| r.strip_suffix(']'))
                {
                    Some(quoted) => {
                        let value: String =
                            serde_json::from_str(quoted).map_err(|_| bad_path(&path))?;
                        vec![Uuid::try_parse(&value).map_err(|_| bad_value("not a user id"))?]
                    }
                    None if p == "members" => match &operation.value {
                        Some(v) => member_ids(v)?,
                        None => members_of(scope, id).await?,
                    },
                    None => return Err(bad_path(&path)),
                };
                for person_id in &ids {
                    scim_group_member::Entity::delete_many()
                        .filter(scim_group_member::Column::GroupId.eq(id))
                        .filter(scim_group_member::Column::PersonId.eq(*person_id))
                        .exec(scope.db())
                        .await?;
                }
                touched.extend(ids);
            }
            ("add" | "replace", "externalid") | ("remove", "externalid") => {
                let external_id = match op.as_str() {
                    "remove" => None,
                    _ => Some(as_string(
                        operation.value.as_ref().unwrap_or(&Value::Null),
                        "externalId",
                    )?),
                };
                check_external_id(&external_id)?;
                scim_group::Entity::update_many()
                    .col_expr(
                        scim_group::Column::ExternalId,
                        sea_orm::sea_query::Expr::value(external_id),
                    )
                    .filter(scim_group::Column::Id.eq(id))
                    .exec(scope.db())
                    .await?;
            }
            ("add" | "replace", "displayname") => {
                let name = as_string(
                    operation.value.as_ref().unwrap_or(&Value::Null),
                    "displayName",
                )?;
                let name = check_display_name(scope, &name, Some(id)).await?;
                scim_group::Entity::update_many()
                    .col_expr(
                        scim_group::Column::DisplayName,
                        sea_orm::sea_query::Expr::value(name),
                    )
                    .filter(scim_group::Column::Id.eq(id))
                    .exec(scope.db())
                    .await?;
                touched.extend(before.members.iter().copied());
            }
            _ => return Err(bad_path(&path)),
        }
    }
    scim_group::Entity::update_many()
        .col_expr(
            scim_group::Column::Revision,
            sea_orm::sea_query::Expr::value(before.revision + 1),
        )
        .col_expr(
            scim_group::Column::UpdatedAt,
            sea_orm::sea_query::Expr::value(Utc::now()),
        )
        .filter(scim_group::Column::Id.eq(id))
        .exec(scope.db())
        .await?;
    touched.sort();
    touched.dedup();
    let ending = sync_roles(scope, &touched).await?;
    let after = members_of(scope, id).await?;
    tenancy
        .group_members_changed(
            scope,
            &MembershipChange::between(id, &before.members, &after),
        )
        .await?;
    audit::record(
        scope,
        AuditEvent::new("scim.group_patched")
            .subject(format!("group:{id}"))
            .detail(serde_json::json!({ "roles_changed_for": ending.people() })),
    )
    .await?;
    Ok(Change::new(get_group(scope, id).await?, ending))
}

/// RFC 7644 §3.5.1 PUT: `displayName`, `externalId` and `members` replaced as sent (one left
/// out is cleared). Whose roles change have their sessions ended on commit.
pub async fn replace_group(
    tenancy: &Tenancy,
    scope: &TenantScope,
    id: Uuid,
    input: GroupInput,
    expected_revision: Option<i32>,
) -> Result<Change<ScimGroup>, IdentityError> {
    scope.require(Scope::ScimProvision)?;
    let before = get_group(scope, id).await?;
    if let Some(expected) = expected_revision
        && expected != before.revision
    {
        return Err(IdentityError::RevisionMismatch {
            current: before.revision,
        });
    }
    check_external_id(&input.external_id)?;
    let display_name = check_display_name(scope, &input.display_name, Some(id)).await?;
    let member_ids = member_ids(&Value::Array(input.members))?;
    scim_group_member::Entity::delete_many()
        .filter(scim_group_member::Column::GroupId.eq(id))
        .exec(scope.db())
        .await?;
    add_members(scope, id, &member_ids).await?;
    let updated = scim_group::Entity::update_many()
        .col_expr(
            scim_group::Column::DisplayName,
            sea_orm::sea_query::Expr::value(display_name),
        )
        .col_expr(
            scim_group::Column::ExternalId,
            sea_orm::sea_query::Expr::value(input.external_id),
        )
        .col_expr(
            scim_group::Column::Revision,
            sea_orm::sea_query::Expr::value(before.revision + 1),
        )
        .col_expr(
            scim_group::Column::UpdatedAt,
            sea_orm::sea_query::Expr::value(Utc::now()),
        )
        .filter(scim_group::Column::Id.eq(id))
        .filter(scim_group::Column::Revision.eq(before.revision))
        .exec(scope.db())
        .await?;
    if updated.rows_affected == 0 {
        return Err(IdentityError::RevisionMismatch {
            current: before.revision + 1,
        });
    }
    let mut touched: Vec<Uuid> = before.members.clone();
    touched.extend(&member_ids);
    touched.sort();
    touched.dedup();
    let ending = sync_roles(scope, &touched).await?;
    let after = members_of(scope, id).await?;
    tenancy
        .group_members_changed(
            scope,
            &MembershipChange::between(id, &before.members, &after),
        )
        .await?;
    audit::record(
        scope,
        AuditEvent::new("scim.group_replaced")
            .subject(format!("group:{id}"))
            .detail(serde_json::json!({ "members": member_ids.len(), "roles_changed_for": ending.people() })),
    )
    .await?;
    Ok(Change::new(get_group(scope, id).await?, ending))
}

pub async fn delete_group(
    tenancy: &Tenancy,
    scope: &TenantScope,
    id: Uuid,
) -> Result<Change<()>, IdentityError> {
    scope.require(Scope::ScimProvision)?;
    let group = get_group(scope, id).await?;
    scim_group_member::Entity::delete_many()
        .filter(scim_group_member::Column::GroupId.eq(id))
        .exec(scope.db())
        .await?;
    scim_group::Entity::delete_by_id(id)
        .exec(scope.db())
        .await?;
    let ending = sync_roles(scope, &group.members).await?;
    tenancy
        .group_members_changed(scope, &MembershipChange::between(id, &group.members, &[]))
        .await?;
    audit::record(
        scope,
        AuditEvent::new("scim.group_deleted").subject(format!("group:{id}")),
    )
    .await?;
    Ok(Change::new((), ending))
}
