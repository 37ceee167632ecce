//! `/v1/scim/v2/…`: SCIM 2.0 (RFC 7643/7644) Users and Groups for the institution's IdP to
//! push provisioning. Give the IdP an API key with only the `scim:provision` scope.
//!
//! Bodies are accepted as `application/scim+json` or `application/json`. Errors are
//! problem+json like everywhere in this API; their `code` carries SCIM's `scimType`
//! (`scim_invalid_filter`, `scim_invalid_path`, `scim_invalid_value`, `scim_uniqueness`).

use crate::api::ApiTags;
use crate::auth::TenantCredential;
use crate::problem::ApiError;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use hub_identity::people::{Person, PersonStatus};
use hub_identity::scim::{self, PatchOperation, ScimGroup, ScimUser};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Object, OpenApi};
use std::sync::Arc;
use uuid::Uuid;

const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct ScimName {
    #[oai(skip_serializing_if_is_none)]
    pub formatted: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub given_name: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub family_name: Option<String>,
}

/// One value of a multi-valued attribute (`emails`, `phoneNumbers`).
#[derive(Debug, Clone, Object)]
pub struct ScimMultiValue {
    pub value: String,
    #[oai(rename = "type", skip_serializing_if_is_none)]
    pub kind: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub primary: Option<bool>,
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct ScimMeta {
    pub resource_type: String,
    pub created: DateTime<Utc>,
    pub last_modified: DateTime<Utc>,
    pub location: String,
    pub version: String,
}

/// A member of a group, or a group of a user.
#[derive(Debug, Clone, Object)]
pub struct ScimReference {
    /// The id of the user (in a group) or of the group (in a user).
    pub value: String,
    #[oai(skip_serializing_if_is_none)]
    pub display: Option<String>,
}

/// A user as SCIM shows it.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct ScimUserResource {
    pub schemas: Vec<String>,
    pub id: Uuid,
    pub user_name: String,
    pub name: ScimName,
    pub display_name: String,
    pub emails: Vec<ScimMultiValue>,
    pub phone_numbers: Vec<ScimMultiValue>,
    pub active: bool,
    pub groups: Vec<ScimReference>,
    pub meta: ScimMeta,
}

/// A user the IdP creates. Unknown attributes (extensions) are ignored.
#[derive(Debug, Clone, Object)]
// Absent optional fields are left out of the example: they are not nullable.
#[oai(rename_all = "camelCase", example, skip_serializing_if_is_none)]
pub struct ScimUserCreate {
    pub schemas: Option<Vec<String>>,
    /// Unique in the institution; the person's username.
    pub user_name: String,
    pub name: Option<ScimName>,
    pub display_name: Option<String>,
    pub emails: Option<Vec<ScimMultiValue>>,
    pub phone_numbers: Option<Vec<ScimMultiValue>>,
    /// Default true.
    pub active: Option<bool>,
    /// The IdP's own id for the user; accepted, not stored.
    pub external_id: Option<String>,
}

impl Example for ScimUserCreate {
    fn example() -> Self {
        Self {
            schemas: Some(vec![USER_SCHEMA.into()]),
            user_name: "ada.lovelace@northfield.example".into(),
            name: Some(ScimName {
                formatted: None,
                given_name: Some("Ada".into()),
                family_name: Some("Lovelace".into()),
            }),
            display_name: None,
            emails: Some(vec![ScimMultiValue {
                value: "ada.lovelace@northfield.example".into(),
                kind: Some("work".into()),
                primary: Some(true),
            }]),
            phone_numbers: None,
            active: Some(true),
            external_id: Some("00u1abcd".into()),
        }
    }
}

/// One PATCH operation: `add`, `replace` or `remove`, an optional `path` and a `value`.
#[derive(Debug, Clone, Object)]
pub struct ScimPatchOperation {
    pub op: String,
    pub path: Option<String>,
    pub value: Option<serde_json::Value>,
}

/// RFC 7644 PatchOp.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct ScimPatch {
    pub schemas: Option<Vec<String>>,
    #[oai(rename = "Operations")]
    pub operations: Vec<ScimPatchOperation>,
}

impl Example for ScimPatch {
    fn example() -> Self {
        Self {
            schemas: Some(vec![PATCH_SCHEMA.into()]),
            operations: vec![ScimPatchOperation {
                op: "replace".into(),
                path: Some("active".into()),
                value: Some(serde_json::Value::Bool(false)),
            }],
        }
    }
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct ScimUserList {
    pub schemas: Vec<String>,
    pub total_results: u64,
    pub start_index: u64,
    pub items_per_page: u64,
    #[oai(rename = "Resources")]
    pub resources: Vec<ScimUserResource>,
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct ScimGroupResource {
    pub schemas: Vec<String>,
    pub id: Uuid,
    pub display_name: String,
    pub members: Vec<ScimReference>,
    pub meta: ScimMeta,
}

/// A group the IdP creates. A `displayName` that is a role name grants that role.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct ScimGroupCreate {
    pub schemas: Option<Vec<String>>,
    pub display_name: String,
    #[oai(default)]
    pub members: Vec<serde_json::Value>,
}

impl Example for ScimGroupCreate {
    fn example() -> Self {
        Self {
            schemas: Some(vec![GROUP_SCHEMA.into()]),
            display_name: "instructor".into(),
            members: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct ScimGroupList {
    pub schemas: Vec<String>,
    pub total_results: u64,
    pub start_index: u64,
    pub items_per_page: u64,
    #[oai(rename = "Resources")]
    pub resources: Vec<ScimGroupResource>,
}

#[derive(ApiResponse)]
pub enum ScimUserCreated {
    #[oai(status = 201)]
    Created(Json<ScimUserResource>, #[oai(header = "Location")] String),
}

#[derive(ApiResponse)]
pub enum ScimUserFound {
    #[oai(status = 200)]
    Ok(Json<ScimUserResource>),
}

#[derive(ApiResponse)]
pub enum ScimUsersListed {
    #[oai(status = 200)]
    Ok(Json<ScimUserList>),
}

#[derive(ApiResponse)]
pub enum ScimGroupCreated {
    #[oai(status = 201)]
    Created(Json<ScimGroupResource>, #[oai(header = "Location")] String),
}

#[derive(ApiResponse)]
pub enum ScimGroupFound {
    #[oai(status = 200)]
    Ok(Json<ScimGroupResource>),
}

#[derive(ApiResponse)]
pub enum ScimGroupsListed {
    #[oai(status = 200)]
    Ok(Json<ScimGroupList>),
}

#[derive(ApiResponse)]
pub enum ScimGroupDeleted {
    #[oai(status = 204)]
    NoContent,
}

fn user_resource(person: Person, groups: Vec<(Uuid, String)>) -> ScimUserResource {
    let user = ScimUser::of(&person);
    ScimUserResource {
        schemas: vec![USER_SCHEMA.into()],
        id: person.id,
        user_name: user.user_name,
        name: ScimName {
            formatted: Some(person.name.expose().clone()),
            given_name: None,
            family_name: None,
        },
        display_name: person.name.expose().clone(),
        emails: user
            .email
            .map(|value| ScimMultiValue {
                value,
                kind: Some("work".into()),
                primary: Some(true),
            })
            .into_iter()
            .collect(),
        phone_numbers: user
            .phone
            .map(|value| ScimMultiValue {
                value,
                kind: Some("work".into()),
                primary: Some(true),
            })
            .into_iter()
            .collect(),
        active: person.status == PersonStatus::Active,
        groups: groups
            .into_iter()
            .map(|(id, name)| ScimReference {
                value: id.to_string(),
                display: Some(name),
            })
            .collect(),
        meta: ScimMeta {
            resource_type: "User".into(),
            created: person.created_at,
            last_modified: person.updated_at,
            location: format!("/v1/scim/v2/Users/{}", person.id),
            version: format!("W/\"{}\"", person.revision),
        },
    }
}

fn group_resource(group: ScimGroup) -> ScimGroupResource {
    ScimGroupResource {
        schemas: vec![GROUP_SCHEMA.into()],
        id: group.id,
        display_name: group.display_name,
        members: group
            .members
            .into_iter()
            .map(|m| ScimReference {
                value: m.to_string(),
                display: None,
            })
            .collect(),
        meta: ScimMeta {
            resource_type: "Group".into(),
            created: group.created_at,
            last_modified: group.updated_at,
            location: format!("/v1/scim/v2/Groups/{}", group.id),
            version: format!("W/\"{}\"", group.revision),
        },
    }
}

fn operations(patch: ScimPatch) -> Vec<PatchOperation> {
    patch
        .operations
        .into_iter()
        .map(|o| PatchOperation {
            op: o.op,
            path: o.path,
            value: o.value,
        })
        .collect()
}

fn first(values: Option<Vec<ScimMultiValue>>) -> Option<String> {
    let values = values?;
    values
        .iter()
        .find(|v| v.primary == Some(true))
        .or(values.first())
        .map(|v| v.value.clone())
}

async fn end_sessions(state: &AppState, tenant_id: Uuid, people: &[Uuid]) -> Result<(), ApiError> {
    for person in people {
        state
            .identity
            .sessions
            .revoke_all(tenant_id, *person)
            .await?;
    }
    Ok(())
}

#[derive(Default)]
pub struct ScimApi;

#[OpenApi(prefix_path = "/v1/scim/v2", tag = "ApiTags::Scim")]
impl ScimApi {
    /// SCIM: create a user
    ///
    /// Requires scope `scim:provision`. `userName` must be unique in the institution.
    #[oai(path = "/Users", method = "post", operation_id = "scimCreateUser")]
    async fn scim_create_user(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        body: Json<ScimUserCreate>,
    ) -> Result<ScimUserCreated, ApiError> {
        let input = body.0;
        let name = input.name.unwrap_or(ScimName {
            formatted: None,
            given_name: None,
            family_name: None,
        });
        let user = ScimUser {
            user_name: input.user_name,
            formatted_name: name.formatted,
            given_name: name.given_name,
            family_name: name.family_name,
            display_name: input.display_name,
            email: first(input.emails),
            phone: first(input.phone_numbers),
            active: input.active.unwrap_or(true),
        };
        let scope = state.tenancy.scope(&auth.0).await?;
        let person = scim::create_user(&scope, user).await?;
        scope.commit().await?;
        let location = format!("/v1/scim/v2/Users/{}", person.id);
        Ok(ScimUserCreated::Created(
            Json(user_resource(person, Vec::new())),
            location,
        ))
    }

    /// SCIM: list users
    ///
    /// Requires scope `scim:provision`. `filter` supports `userName eq "…"`; `startIndex`
    /// is 1-based; `count` at most 200.
    ///
    /// Returns other people's personal data: every call is recorded in the audit trail.
    #[oai(path = "/Users", method = "get", operation_id = "scimListUsers")]
    async fn scim_list_users(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        filter: Query<Option<String>>,
        #[oai(name = "startIndex")] start_index: Query<Option<u64>>,
        count: Query<Option<u64>>,
    ) -> Result<ScimUsersListed, ApiError> {
        let start = start_index.0.unwrap_or(1).max(1);
        let count = count.0.unwrap_or(100).min(scim::MAX_COUNT);
        let scope = state.tenancy.scope(&auth.0).await?;
        let (total, found) = scim::list_users(&scope, filter.0.as_deref(), start, count).await?;
        let mut resources = Vec::new();
        for person in found {
            let groups = scim::groups_of(&scope, person.id).await?;
            resources.push(user_resource(person, groups));
        }
        scope.commit().await?;
        Ok(ScimUsersListed::Ok(Json(ScimUserList {
            schemas: vec![LIST_SCHEMA.into()],
            total_results: total,
            start_index: start,
            items_per_page: resources.len() as u64,
            resources,
        })))
    }

    /// SCIM: get a user
    ///
    /// Requires scope `scim:provision`.
    ///
    /// Returns other people's personal data: every call is recorded in the audit trail.
    #[oai(path = "/Users/:user_id", method = "get", operation_id = "scimGetUser")]
    async fn scim_get_user(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        user_id: Path<Uuid>,
    ) -> Result<ScimUserFound, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let person = scim::get_user(&scope, user_id.0).await?;
        let groups = scim::groups_of(&scope, person.id).await?;
        scope.commit().await?;
        Ok(ScimUserFound::Ok(Json(user_resource(person, groups))))
    }

    /// SCIM: change a user
    ///
    /// Requires scope `scim:provision`. PatchOp with `add`/`replace`/`remove` on `active`,
    /// `userName`, `displayName`, `name.*`, `emails`, `phoneNumbers`. `active: false`
    /// deactivates the person and ends their sessions at once.
    #[oai(
        path = "/Users/:user_id",
        method = "patch",
        operation_id = "scimPatchUser"
    )]
    async fn scim_patch_user(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        user_id: Path<Uuid>,
        body: Json<ScimPatch>,
    ) -> Result<ScimUserFound, ApiError> {
        let ops = operations(body.0);
        let scope = state.tenancy.scope(&auth.0).await?;
        let change = scim::patch_user(&scope, user_id.0, &ops).await?;
        let groups = scim::groups_of(&scope, change.person.id).await?;
        scope.commit().await?;
        if change.end_sessions {
            end_sessions(&state, auth.0.tenant_id(), &[change.person.id]).await?;
        }
        Ok(ScimUserFound::Ok(Json(user_resource(
            change.person,
            groups,
        ))))
    }

    /// SCIM: create a group
    ///
    /// Requires scope `scim:provision`. A `displayName` that is a role name (`instructor`,
    /// `tenant_admin`, …) grants that role to members provisioned through SCIM.
    #[oai(path = "/Groups", method = "post", operation_id = "scimCreateGroup")]
    async fn scim_create_group(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        body: Json<ScimGroupCreate>,
    ) -> Result<ScimGroupCreated, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let change = scim::create_group(&scope, &body.0.display_name, &body.0.members).await?;
        scope.commit().await?;
        end_sessions(&state, auth.0.tenant_id(), &change.roles_changed_for).await?;
        let location = format!("/v1/scim/v2/Groups/{}", change.group.id);
        Ok(ScimGroupCreated::Created(
            Json(group_resource(change.group)),
            location,
        ))
    }

    /// SCIM: list groups
    ///
    /// Requires scope `scim:provision`. `filter` supports `displayName eq "…"`.
    #[oai(path = "/Groups", method = "get", operation_id = "scimListGroups")]
    async fn scim_list_groups(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        filter: Query<Option<String>>,
        #[oai(name = "startIndex")] start_index: Query<Option<u64>>,
        count: Query<Option<u64>>,
    ) -> Result<ScimGroupsListed, ApiError> {
        let start = start_index.0.unwrap_or(1).max(1);
        let count = count.0.unwrap_or(100).min(scim::MAX_COUNT);
        let scope = state.tenancy.scope(&auth.0).await?;
        let (total, groups) = scim::list_groups(&scope, filter.0.as_deref(), start, count).await?;
        scope.commit().await?;
        let resources: Vec<ScimGroupResource> = groups.into_iter().map(group_resource).collect();
        Ok(ScimGroupsListed::Ok(Json(ScimGroupList {
            schemas: vec![LIST_SCHEMA.into()],
            total_results: total,
            start_index: start,
            items_per_page: resources.len() as u64,
            resources,
        })))
    }

    /// SCIM: get a group
    ///
    /// Requires scope `scim:provision`.
    #[oai(
        path = "/Groups/:group_id",
        method = "get",
        operation_id = "scimGetGroup"
    )]
    async fn scim_get_group(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        group_id: Path<Uuid>,
    ) -> Result<ScimGroupFound, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let group = scim::get_group(&scope, group_id.0).await?;
        scope.commit().await?;
        Ok(ScimGroupFound::Ok(Json(group_resource(group))))
    }

    /// SCIM: change a group
    ///
    /// Requires scope `scim:provision`. `add`/`replace`/`remove` on `members` (or
    /// `members[value eq "<id>"]`) and `replace` on `displayName`. People whose roles change
    /// have their sessions ended.
    #[oai(
        path = "/Groups/:group_id",
        method = "patch",
        operation_id = "scimPatchGroup"
    )]
    async fn scim_patch_group(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        group_id: Path<Uuid>,
        body: Json<ScimPatch>,
    ) -> Result<ScimGroupFound, ApiError> {
        let ops = operations(body.0);
        let scope = state.tenancy.scope(&auth.0).await?;
        let change = scim::patch_group(&scope, group_id.0, &ops).await?;
        scope.commit().await?;
        end_sessions(&state, auth.0.tenant_id(), &change.roles_changed_for).await?;
        Ok(ScimGroupFound::Ok(Json(group_resource(change.group))))
    }

    /// SCIM: delete a group
    ///
    /// Requires scope `scim:provision`. Its members lose the role it granted.
    #[oai(
        path = "/Groups/:group_id",
        method = "delete",
        operation_id = "scimDeleteGroup"
    )]
    async fn scim_delete_group(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        group_id: Path<Uuid>,
    ) -> Result<ScimGroupDeleted, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let changed = scim::delete_group(&scope, group_id.0).await?;
        scope.commit().await?;
        end_sessions(&state, auth.0.tenant_id(), &changed).await?;
        Ok(ScimGroupDeleted::NoContent)
    }
}
