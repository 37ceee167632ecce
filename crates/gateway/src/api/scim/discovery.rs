//! SCIM discovery (RFC 7644 §4): `/ServiceProviderConfig`, `/ResourceTypes`, `/Schemas`,
//! served from the documents of `hub_identity::scim::discovery`.

use super::{LIST_SCHEMA, ScimError, ScimJson};
use crate::api::ApiTags;
use crate::auth::TenantCredential;
use crate::state::AppState;
use hub_identity::scim::discovery;
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::{ApiResponse, OpenApi};
use std::sync::Arc;

/// A discovery document or list (RFC 7644 §4), as JSON.
#[derive(ApiResponse)]
pub enum ScimDiscovery {
    #[oai(status = 200)]
    Ok(ScimJson<serde_json::Value>),
}

fn discovery_list(resources: Vec<serde_json::Value>) -> ScimDiscovery {
    ScimDiscovery::Ok(ScimJson(serde_json::json!({
        "schemas": [LIST_SCHEMA],
        "totalResults": resources.len(),
        "startIndex": 1,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })))
}

#[derive(Default)]
pub struct ScimDiscoveryApi;

#[OpenApi(prefix_path = "/v1/scim/v2", tag = "ApiTags::Scim")]
impl ScimDiscoveryApi {
    /// SCIM: service provider configuration
    ///
    /// Requires scope `scim:provision`. RFC 7644 §4: what this service supports (filter
    /// with its `maxResults`, PATCH, ETags) and does not (bulk, sort, changePassword).
    #[oai(
        path = "/ServiceProviderConfig",
        method = "get",
        operation_id = "scimServiceProviderConfig"
    )]
    async fn scim_service_provider_config(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
    ) -> Result<ScimDiscovery, ScimError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let config = discovery::service_provider_config(&scope)?;
        scope.commit().await?;
        Ok(ScimDiscovery::Ok(ScimJson(config)))
    }

    /// SCIM: list resource types
    ///
    /// Requires scope `scim:provision`. `User` and `Group`.
    #[oai(
        path = "/ResourceTypes",
        method = "get",
        operation_id = "scimListResourceTypes"
    )]
    async fn scim_list_resource_types(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
    ) -> Result<ScimDiscovery, ScimError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let types = discovery::resource_types(&scope)?;
        scope.commit().await?;
        Ok(discovery_list(types))
    }

    /// SCIM: get a resource type
    ///
    /// Requires scope `scim:provision`.
    #[oai(
        path = "/ResourceTypes/:name",
        method = "get",
        operation_id = "scimGetResourceType"
    )]
    async fn scim_get_resource_type(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        name: Path<String>,
    ) -> Result<ScimDiscovery, ScimError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let found = discovery::find(discovery::resource_types(&scope)?, &name.0, "resource type")?;
        scope.commit().await?;
        Ok(ScimDiscovery::Ok(ScimJson(found)))
    }

    /// SCIM: list schemas
    ///
    /// Requires scope `scim:provision`. The User and Group schemas, with exactly the
    /// attributes this service stores.
    #[oai(path = "/Schemas", method = "get", operation_id = "scimListSchemas")]
    async fn scim_list_schemas(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
    ) -> Result<ScimDiscovery, ScimError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let schemas = discovery::schemas(&scope)?;
        scope.commit().await?;
        Ok(discovery_list(schemas))
    }

    /// SCIM: get a schema
    ///
    /// Requires scope `scim:provision`. By its URN.
    #[oai(path = "/Schemas/:urn", method = "get", operation_id = "scimGetSchema")]
    async fn scim_get_schema(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        urn: Path<String>,
    ) -> Result<ScimDiscovery, ScimError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let found = discovery::find(discovery::schemas(&scope)?, &urn.0, "schema")?;
        scope.commit().await?;
        Ok(ScimDiscovery::Ok(ScimJson(found)))
    }
}
