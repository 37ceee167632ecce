//! SCIM `/Groups`: create, list, read, change and delete groups; a group named after a role
//! grants it to its SCIM-provisioned members.

use super::{
    LIST_SCHEMA, ScimDeleted, ScimError, ScimJson, ScimMeta, ScimPatch, ScimReference, etag,
    not_modified, operations,
};
use crate::api::ApiTags;
use crate::auth::TenantCredential;
use crate::state::AppState;
use hub_identity::scim::discovery::{BASE_PATH, GROUP_SCHEMA};
use hub_identity::scim::{self, ScimGroup};
use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Object, OpenApi};
use std::sync::Arc;
use uuid::Uuid;

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
pub enum ScimGroupCreated {
    #[oai(status = 201)]
    Created(
        ScimJson<ScimGroupResource>,
        #[oai(header = "Location")] String,
        #[oai(header = "ETag")] String,
    ),
}

#[derive(ApiResponse)]
pub enum ScimGroupFound {
    #[oai(status = 200)]
    Ok(ScimJson<ScimGroupResource>, #[oai(header = "ETag")] String),
    /// `If-None-Match` names the current version.
    #[oai(status = 304)]
    NotModified(#[oai(header = "ETag")] String),
}

impl ScimGroupFound {
    fn of(resource: ScimGroupResource, if_none_match: Option<&str>) -> Self {
        let version = resource.meta.version.clone();
        if not_modified(if_none_match, &version) {
            Self::NotModified(version)
        } else {
            Self::Ok(ScimJson(resource), version)
        }
    }
}

#[derive(ApiResponse)]
pub enum ScimGroupsListed {
    #[oai(status = 200)]
    Ok(ScimJson<ScimGroupList>),
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
                reference: Some(format!("{BASE_PATH}/Users/{m}")),
                display: None,
            })
            .collect(),
        meta: ScimMeta {
            resource_type: "Group".into(),
            created: group.created_at,
            last_modified: group.updated_at,
            location: format!("{BASE_PATH}/Groups/{}", group.id),
            version: etag(group.revision),
        },
    }
}

#[derive(Default)]
pub struct ScimGroupsApi;

#[OpenApi(prefix_path = "/v1/scim/v2", tag = "ApiTags::Scim")]
impl ScimGroupsApi {
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
    ) -> Result<ScimGroupCreated, ScimError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let change = scim::create_group(&scope, &body.0.display_name, &body.0.members).await?;
        let resource = group_resource(state.identity.commit(scope, change).await?);
        let (location, version) = (
            resource.meta.location.clone(),
            resource.meta.version.clone(),
        );
        Ok(ScimGroupCreated::Created(
            ScimJson(resource),
            location,
            version,
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
    ) -> Result<ScimGroupsListed, ScimError> {
        let start = start_index.0.unwrap_or(1).max(1);
        let count = count.0.unwrap_or(100).min(scim::MAX_COUNT);
        let scope = state.tenancy.scope(&auth.0).await?;
        let (total, groups) = scim::list_groups(&scope, filter.0.as_deref(), start, count).await?;
        scope.commit().await?;
        let resources: Vec<ScimGroupResource> = groups.into_iter().map(group_resource).collect();
        Ok(ScimGroupsListed::Ok(ScimJson(ScimGroupList {
            schemas: vec![LIST_SCHEMA.into()],
            total_results: total,
            start_index: start,
            items_per_page: resources.len() as u64,
            resources,
        })))
    }

    /// SCIM: get a group
    ///
    /// Requires scope `scim:provision`. With `If-None-Match` naming the current
    /// `meta.version`, 304.
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
        #[oai(name = "If-None-Match")] if_none_match: Header<Option<String>>,
    ) -> Result<ScimGroupFound, ScimError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let group = scim::get_group(&scope, group_id.0).await?;
        scope.commit().await?;
        Ok(ScimGroupFound::of(
            group_resource(group),
            if_none_match.0.as_deref(),
        ))
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
    ) -> Result<ScimGroupFound, ScimError> {
        let ops = operations(body.0);
        let scope = state.tenancy.scope(&auth.0).await?;
        let change = scim::patch_group(&scope, group_id.0, &ops).await?;
        let group = state.identity.commit(scope, change).await?;
        Ok(ScimGroupFound::of(group_resource(group), None))
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
    ) -> Result<ScimDeleted, ScimError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let change = scim::delete_group(&scope, group_id.0).await?;
        state.identity.commit(scope, change).await?;
        Ok(ScimDeleted::NoContent)
    }
}
