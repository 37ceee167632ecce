//! SCIM `POST /.search` at the service root (RFC 7644 §3.4.3): users and groups in one
//! ListResponse, each resource with the attributes its own schema's projection selects.

use super::groups::group_resource;
use super::users::user_resource;
use super::{LIST_SCHEMA, ScimError, ScimJson, ScimSearchRequest, page_of};
use crate::api::ApiTags;
use crate::auth::TenantCredential;
use crate::state::AppState;
use hub_identity::scim::discovery::{GROUP_SCHEMA, USER_SCHEMA};
use hub_identity::scim::{self, Projection};
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::types::ToJSON;
use poem_openapi::{ApiResponse, Object, OpenApi};
use std::sync::Arc;

/// A ListResponse of users (`urn:ietf:params:scim:schemas:core:2.0:User`) and groups
/// (`…:Group`), users first; each resource is shaped as `GET /Users/{id}` or
/// `GET /Groups/{id}` would answer it.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct ScimResourceList {
    pub schemas: Vec<String>,
    pub total_results: u64,
    pub start_index: u64,
    pub items_per_page: u64,
    #[oai(rename = "Resources")]
    pub resources: Vec<serde_json::Value>,
}

#[derive(ApiResponse)]
pub enum ScimSearched {
    #[oai(status = 200)]
    Ok(ScimJson<ScimResourceList>),
}

#[derive(Default)]
pub struct ScimSearchApi;

#[OpenApi(prefix_path = "/v1/scim/v2", tag = "ApiTags::Scim")]
impl ScimSearchApi {
    /// SCIM: search users and groups
    ///
    /// Requires scope `scim:provision`. RFC 7644 §3.4.3 at the root: users, then groups,
    /// paged across both (`startIndex`, `count`). `filter` supports `userName eq "…"` (which
    /// only users match); `attributes`/`excludedAttributes` apply to each resource by its
    /// schema.
    ///
    /// Returns other people's personal data: every call is recorded in the audit trail.
    #[oai(path = "/.search", method = "post", operation_id = "scimSearch")]
    async fn scim_search(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        body: Json<ScimSearchRequest>,
    ) -> Result<ScimSearched, ScimError> {
        let search = body.0;
        let excluded = search.excluded_attributes.unwrap_or_default();
        let users_projection =
            Projection::from_lists(search.attributes.clone(), &excluded, USER_SCHEMA)?;
        let groups_projection = Projection::from_lists(search.attributes, &excluded, GROUP_SCHEMA)?;
        let (start, count) = page_of(search.start_index, search.count);
        let scope = state.tenancy.scope(&auth.0).await?;
        let page = scim::search_all(&scope, search.filter.as_deref(), start, count).await?;
        scope.commit().await?;
        let mut resources = Vec::new();
        for user in page.users {
            let mut value = user_resource(user).to_json().unwrap_or_default();
            users_projection.apply(&mut value);
            resources.push(value);
        }
        for group in page.groups {
            let mut value = group_resource(group).to_json().unwrap_or_default();
            groups_projection.apply(&mut value);
            resources.push(value);
        }
        Ok(ScimSearched::Ok(ScimJson(ScimResourceList {
            schemas: vec![LIST_SCHEMA.into()],
            total_results: page.total,
            start_index: start,
            items_per_page: resources.len() as u64,
            resources,
        })))
    }
}
