//! SCIM `/Groups`: create, list, search, read, replace, change and delete groups; a group
//! named after a role grants it to its SCIM-provisioned members. Every answer carrying a
//! group honours `attributes`/`excludedAttributes`.

use super::{
    LIST_SCHEMA, Projected, ScimDeleted, ScimError, ScimMeta, ScimPatch, ScimReference,
    ScimSearchRequest, etag, expected_revision, not_modified, operations, page_of,
};
use crate::api::ApiTags;
use crate::auth::TenantCredential;
use crate::state::AppState;
use hub_identity::scim::discovery::{BASE_PATH, GROUP_SCHEMA};
use hub_identity::scim::{self, GroupInput, Projection, ScimGroup};
use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Object, OpenApi};
use std::sync::Arc;
use uuid::Uuid;

/// A group as SCIM shows it. Only `schemas` and `id` are always present: `attributes` and
/// `excludedAttributes` choose the rest (by default, all of it).
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct ScimGroupResource {
    pub schemas: Vec<String>,
    pub id: Uuid,
    #[oai(skip_serializing_if_is_none)]
    pub display_name: Option<String>,
    /// The IdP's own id for the group, as it sent it.
    #[oai(skip_serializing_if_is_none)]
    pub external_id: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub members: Option<Vec<ScimReference>>,
    #[oai(skip_serializing_if_is_none)]
    pub meta: Option<ScimMeta>,
}

impl ScimGroupResource {
    fn version(&self) -> String {
        self.meta
            .as_ref()
            .map(|m| m.version.clone())
            .unwrap_or_default()
    }

    fn location(&self) -> String {
        self.meta
            .as_ref()
            .map(|m| m.location.clone())
            .unwrap_or_default()
    }
}

/// A group the IdP creates (POST) or replaces (PUT). A `displayName` that is a role name
/// grants that role.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", example, skip_serializing_if_is_none)]
pub struct ScimGroupCreate {
    pub schemas: Option<Vec<String>>,
    /// Unique in the institution.
    pub display_name: String,
    /// The IdP's own id for the group; stored and answered as sent.
    pub external_id: Option<String>,
    /// `{"value": "<user id>"}` for each member.
    #[oai(default)]
    pub members: Vec<serde_json::Value>,
}

impl Example for ScimGroupCreate {
    fn example() -> Self {
        Self {
            schemas: Some(vec![GROUP_SCHEMA.into()]),
            display_name: "instructor".into(),
            external_id: None,
            members: Vec::new(),
        }
    }
}

impl ScimGroupCreate {
    fn input(self) -> GroupInput {
        GroupInput {
            display_name: self.display_name,
            external_id: self.external_id,
            members: self.members,
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
        Projected<ScimGroupResource>,
        #[oai(header = "Location")] String,
        #[oai(header = "ETag")] String,
    ),
}

// An answer is built once and moved to the wire; boxing the resource would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(ApiResponse)]
pub enum ScimGroupFound {
    #[oai(status = 200)]
    Ok(Projected<ScimGroupResource>, #[oai(header = "ETag")] String),
    /// `If-None-Match` names the current version.
    #[oai(status = 304)]
    NotModified(#[oai(header = "ETag")] String),
}

impl ScimGroupFound {
    fn of(group: ScimGroup, projection: Projection, if_none_match: Option<&str>) -> Self {
        let resource = group_resource(group);
        let version = resource.version();
        if not_modified(if_none_match, &version) {
            Self::NotModified(version)
        } else {
            Self::Ok(Projected(resource, projection), version)
        }
    }
}

#[derive(ApiResponse)]
pub enum ScimGroupsListed {
    #[oai(status = 200)]
    Ok(Projected<ScimGroupList>),
}

/// `attributes`/`excludedAttributes` of a request on groups.
fn projection(attributes: Option<&str>, excluded: Option<&str>) -> Result<Projection, ScimError> {
    Ok(Projection::from_query(attributes, excluded, GROUP_SCHEMA)?)
}

fn listed(
    (total, groups): (u64, Vec<ScimGroup>),
    start: u64,
    projection: Projection,
) -> ScimGroupsListed {
    let resources: Vec<ScimGroupResource> = groups.into_iter().map(group_resource).collect();
    ScimGroupsListed::Ok(Projected(
        ScimGroupList {
            schemas: vec![LIST_SCHEMA.into()],
            total_results: total,
            start_index: start,
            items_per_page: resources.len() as u64,
            resources,
        },
        projection,
    ))
}

pub(super) fn group_resource(group: ScimGroup) -> ScimGroupResource {
    ScimGroupResource {
        schemas: vec![GROUP_SCHEMA.into()],
        id: group.id,
        display_name: Some(group.display_name),
        external_id: group.external_id,
        members: Some(
            group
                .members
                .into_iter()
                .map(|m| ScimReference {
                    value: m.to_string(),
                    reference: Some(format!("{BASE_PATH}/Users/{m}")),
                    display: None,
                })
                .collect(),
        ),
        meta: Some(ScimMeta {
            resource_type: "Group".into(),
            created: group.created_at,
            last_modified: group.updated_at,
            location: format!("{BASE_PATH}/Groups/{}", group.id),
            version: etag(group.revision),
        }),
    }
}

#[derive(Default)]
pub struct ScimGroupsApi;

#[OpenApi(prefix_path = "/v1/scim/v2", tag = "ApiTags::Scim")]
impl ScimGroupsApi {
    /// SCIM: create a group
    ///
    /// Requires scope `scim:provision`. A `displayName` that is a role name (`instructor`,
    /// `tenant_admin`, …) grants that role to members provisioned through SCIM; their
    /// sessions end (they carry the old roles). `attributes`/`excludedAttributes` choose
    /// what the answer carries.
    #[oai(path = "/Groups", method = "post", operation_id = "scimCreateGroup")]
    async fn scim_create_group(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        attributes: Query<Option<String>>,
        #[oai(name = "excludedAttributes")] excluded: Query<Option<String>>,
        body: Json<ScimGroupCreate>,
    ) -> Result<ScimGroupCreated, ScimError> {
        let projection = projection(attributes.0.as_deref(), excluded.0.as_deref())?;
        let scope = state.tenancy.scope(&auth.0).await?;
        let change = scim::create_group(&state.tenancy, &scope, body.0.input()).await?;
        let resource = group_resource(state.identity.commit(scope, change).await?);
        let (location, version) = (resource.location(), resource.version());
        Ok(ScimGroupCreated::Created(
            Projected(resource, projection),
            location,
            version,
        ))
    }

    /// SCIM: list groups
    ///
    /// Requires scope `scim:provision`. `filter` supports `displayName eq "…"`; `startIndex`
    /// is 1-based; `count` at most 200. `attributes`/`excludedAttributes` choose what each
    /// group carries.
    #[oai(path = "/Groups", method = "get", operation_id = "scimListGroups")]
    // Each argument is one declared parameter of the operation.
    #[allow(clippy::too_many_arguments)]
    async fn scim_list_groups(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        filter: Query<Option<String>>,
        #[oai(name = "startIndex")] start_index: Query<Option<u64>>,
        count: Query<Option<u64>>,
        attributes: Query<Option<String>>,
        #[oai(name = "excludedAttributes")] excluded: Query<Option<String>>,
    ) -> Result<ScimGroupsListed, ScimError> {
        let projection = projection(attributes.0.as_deref(), excluded.0.as_deref())?;
        let (start, count) = page_of(start_index.0, count.0);
        let scope = state.tenancy.scope(&auth.0).await?;
        let found = scim::list_groups(&scope, filter.0.as_deref(), start, count).await?;
        scope.commit().await?;
        Ok(listed(found, start, projection))
    }

    /// SCIM: search groups
    ///
    /// Requires scope `scim:provision`. RFC 7644 §3.4.3: the query of `GET /Groups` (filter,
    /// `startIndex`, `count`, `attributes`, `excludedAttributes`) sent as a SearchRequest
    /// body.
    #[oai(
        path = "/Groups/.search",
        method = "post",
        operation_id = "scimSearchGroups"
    )]
    async fn scim_search_groups(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        body: Json<ScimSearchRequest>,
    ) -> Result<ScimGroupsListed, ScimError> {
        let search = body.0;
        let projection = Projection::from_lists(
            search.attributes,
            &search.excluded_attributes.unwrap_or_default(),
            GROUP_SCHEMA,
        )?;
        let (start, count) = page_of(search.start_index, search.count);
        let scope = state.tenancy.scope(&auth.0).await?;
        let found = scim::list_groups(&scope, search.filter.as_deref(), start, count).await?;
        scope.commit().await?;
        Ok(listed(found, start, projection))
    }

    /// SCIM: get a group
    ///
    /// Requires scope `scim:provision`. With `If-None-Match` naming the current
    /// `meta.version`, 304. `attributes`/`excludedAttributes` choose what the answer
    /// carries.
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
        attributes: Query<Option<String>>,
        #[oai(name = "excludedAttributes")] excluded: Query<Option<String>>,
        #[oai(name = "If-None-Match")] if_none_match: Header<Option<String>>,
    ) -> Result<ScimGroupFound, ScimError> {
        let projection = projection(attributes.0.as_deref(), excluded.0.as_deref())?;
        let scope = state.tenancy.scope(&auth.0).await?;
        let group = scim::get_group(&scope, group_id.0).await?;
        scope.commit().await?;
        Ok(ScimGroupFound::of(
            group,
            projection,
            if_none_match.0.as_deref(),
        ))
    }

    /// SCIM: replace a group
    ///
    /// Requires scope `scim:provision`. RFC 7644 §3.5.1: `displayName`, `externalId` and
    /// `members` are replaced as sent (one left out is cleared). `If-Match` with a
    /// `meta.version` refuses the change (412) if the group changed since. People whose
    /// roles change have their sessions ended.
    #[oai(
        path = "/Groups/:group_id",
        method = "put",
        operation_id = "scimReplaceGroup"
    )]
    // Each argument is one declared parameter of the operation.
    #[allow(clippy::too_many_arguments)]
    async fn scim_replace_group(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        group_id: Path<Uuid>,
        attributes: Query<Option<String>>,
        #[oai(name = "excludedAttributes")] excluded: Query<Option<String>>,
        #[oai(name = "If-Match")] if_match: Header<Option<String>>,
        body: Json<ScimGroupCreate>,
    ) -> Result<ScimGroupFound, ScimError> {
        let projection = projection(attributes.0.as_deref(), excluded.0.as_deref())?;
        let expected = expected_revision(if_match.0.as_deref())?;
        let scope = state.tenancy.scope(&auth.0).await?;
        let change =
            scim::replace_group(&state.tenancy, &scope, group_id.0, body.0.input(), expected)
                .await?;
        let group = state.identity.commit(scope, change).await?;
        Ok(ScimGroupFound::of(group, projection, None))
    }

    /// SCIM: change a group
    ///
    /// Requires scope `scim:provision`. `add`/`replace`/`remove` on `members` (or
    /// `members[value eq "<id>"]`), `displayName` and `externalId` (or a path-less value
    /// object of them). People whose roles change have their sessions ended.
    /// `attributes`/`excludedAttributes` choose what the answer carries.
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
        attributes: Query<Option<String>>,
        #[oai(name = "excludedAttributes")] excluded: Query<Option<String>>,
        body: Json<ScimPatch>,
    ) -> Result<ScimGroupFound, ScimError> {
        let projection = projection(attributes.0.as_deref(), excluded.0.as_deref())?;
        let ops = operations(body.0);
        let scope = state.tenancy.scope(&auth.0).await?;
        let change = scim::patch_group(&state.tenancy, &scope, group_id.0, &ops).await?;
        let group = state.identity.commit(scope, change).await?;
        Ok(ScimGroupFound::of(group, projection, None))
    }

    /// SCIM: delete a group
    ///
    /// Requires scope `scim:provision`. Its members lose the role it granted, and their
    /// sessions end.
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
        let change = scim::delete_group(&state.tenancy, &scope, group_id.0).await?;
        state.identity.commit(scope, change).await?;
        Ok(ScimDeleted::NoContent)
    }
}
