//! SCIM `/Users`: create, list, search, read, replace, change and delete (deprovision)
//! users. Every answer carrying a user honours `attributes`/`excludedAttributes`.

use super::{
    LIST_SCHEMA, Projected, ScimDeleted, ScimError, ScimMeta, ScimPatch, ScimReference,
    ScimSearchRequest, etag, expected_revision, not_modified, operations, page_of,
};
use crate::api::ApiTags;
use crate::auth::TenantCredential;
use crate::state::AppState;
use hub_identity::people::PersonStatus;
use hub_identity::scim::discovery::{BASE_PATH, USER_SCHEMA};
use hub_identity::scim::{self, Projection, ScimAttributes, ScimUser, ServedUser};
use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Object, OpenApi};
use std::sync::Arc;
use uuid::Uuid;

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

/// A user as SCIM shows it. Only `schemas` and `id` are always present: `attributes` and
/// `excludedAttributes` choose the rest (by default, all of it).
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct ScimUserResource {
    pub schemas: Vec<String>,
    pub id: Uuid,
    #[oai(skip_serializing_if_is_none)]
    pub user_name: Option<String>,
    /// The person's one stored name (`name` is accepted on input and folded into it).
    #[oai(skip_serializing_if_is_none)]
    pub display_name: Option<String>,
    /// The IdP's own id for the user, as it sent it.
    #[oai(skip_serializing_if_is_none)]
    pub external_id: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub emails: Option<Vec<ScimMultiValue>>,
    #[oai(skip_serializing_if_is_none)]
    pub phone_numbers: Option<Vec<ScimMultiValue>>,
    #[oai(skip_serializing_if_is_none)]
    pub active: Option<bool>,
    #[oai(skip_serializing_if_is_none)]
    pub groups: Option<Vec<ScimReference>>,
    #[oai(skip_serializing_if_is_none)]
    pub meta: Option<ScimMeta>,
}

impl ScimUserResource {
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

/// A user the IdP creates (POST) or replaces (PUT). Unknown attributes (extensions) are
/// ignored; `name.givenName`/`familyName` are joined into the one stored name.
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
    /// The IdP's own id for the user; stored (sealed) and answered as sent.
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

#[derive(ApiResponse)]
pub enum ScimUserCreated {
    #[oai(status = 201)]
    Created(
        Projected<ScimUserResource>,
        #[oai(header = "Location")] String,
        #[oai(header = "ETag")] String,
    ),
}

// An answer is built once and moved to the wire; boxing the resource would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(ApiResponse)]
pub enum ScimUserFound {
    #[oai(status = 200)]
    Ok(Projected<ScimUserResource>, #[oai(header = "ETag")] String),
    /// `If-None-Match` names the current version.
    #[oai(status = 304)]
    NotModified(#[oai(header = "ETag")] String),
}

impl ScimUserFound {
    fn of(resource: ScimUserResource, projection: Projection, if_none_match: Option<&str>) -> Self {
        let version = resource.version();
        if not_modified(if_none_match, &version) {
            Self::NotModified(version)
        } else {
            Self::Ok(Projected(resource, projection), version)
        }
    }
}

#[derive(ApiResponse)]
pub enum ScimUsersListed {
    #[oai(status = 200)]
    Ok(Projected<ScimUserList>),
}

/// `attributes`/`excludedAttributes` of a request on users.
fn projection(attributes: Option<&str>, excluded: Option<&str>) -> Result<Projection, ScimError> {
    Ok(Projection::from_query(attributes, excluded, USER_SCHEMA)?)
}

fn listed(
    (total, found): (u64, Vec<ServedUser>),
    start: u64,
    projection: Projection,
) -> ScimUsersListed {
    let resources: Vec<ScimUserResource> = found.into_iter().map(user_resource).collect();
    ScimUsersListed::Ok(Projected(
        ScimUserList {
            schemas: vec![LIST_SCHEMA.into()],
            total_results: total,
            start_index: start,
            items_per_page: resources.len() as u64,
            resources,
        },
        projection,
    ))
}

pub(super) fn user_resource(served: ServedUser) -> ScimUserResource {
    let ServedUser {
        person,
        groups,
        attributes,
    } = served;
    let user = ScimUser::of(&person, &attributes);
    ScimUserResource {
        schemas: vec![USER_SCHEMA.into()],
        id: person.id,
        user_name: Some(user.user_name),
        display_name: Some(person.name.expose().clone()),
        external_id: attributes.external_id,
        emails: Some(
            user.email
                .map(|value| ScimMultiValue {
                    value,
                    kind: None,
                    primary: attributes.email_primary,
                })
                .into_iter()
                .collect(),
        ),
        phone_numbers: Some(
            user.phone
                .map(|value| ScimMultiValue {
                    value,
                    kind: None,
                    primary: attributes.phone_primary,
                })
                .into_iter()
                .collect(),
        ),
        active: Some(person.status == PersonStatus::Active),
        groups: Some(
            groups
                .into_iter()
                .map(|(id, name)| ScimReference {
                    value: id.to_string(),
                    reference: Some(format!("{BASE_PATH}/Groups/{id}")),
                    display: Some(name),
                })
                .collect(),
        ),
        meta: Some(ScimMeta {
            resource_type: "User".into(),
            created: person.created_at,
            last_modified: person.updated_at,
            location: format!("{BASE_PATH}/Users/{}", person.id),
            version: etag(person.revision),
        }),
    }
}

/// The primary (or first) value sent, and the `primary` it was sent with.
fn first(values: Option<Vec<ScimMultiValue>>) -> (Option<String>, Option<bool>) {
    let Some(values) = values else {
        return (None, None);
    };
    values
        .iter()
        .find(|v| v.primary == Some(true))
        .or(values.first())
        .map_or((None, None), |v| (Some(v.value.clone()), v.primary))
}

fn scim_user(input: ScimUserCreate) -> (ScimUser, Option<bool>) {
    let name = input.name.unwrap_or(ScimName {
        formatted: None,
        given_name: None,
        family_name: None,
    });
    let (email, email_primary) = first(input.emails);
    let (phone, phone_primary) = first(input.phone_numbers);
    let user = ScimUser {
        attributes: ScimAttributes {
            external_id: input.external_id,
            email_primary,
            phone_primary,
        },
        user_name: input.user_name,
        formatted_name: name.formatted,
        given_name: name.given_name,
        family_name: name.family_name,
        display_name: input.display_name,
        email,
        phone,
        active: input.active.unwrap_or(true),
    };
    (user, input.active)
}

#[derive(Default)]
pub struct ScimUsersApi;

#[OpenApi(prefix_path = "/v1/scim/v2", tag = "ApiTags::Scim")]
impl ScimUsersApi {
    /// SCIM: create a user
    ///
    /// Requires scope `scim:provision`. `userName` must be unique in the institution.
    /// `attributes`/`excludedAttributes` choose what the answer carries.
    #[oai(path = "/Users", method = "post", operation_id = "scimCreateUser")]
    async fn scim_create_user(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        attributes: Query<Option<String>>,
        #[oai(name = "excludedAttributes")] excluded: Query<Option<String>>,
        body: Json<ScimUserCreate>,
    ) -> Result<ScimUserCreated, ScimError> {
        let projection = projection(attributes.0.as_deref(), excluded.0.as_deref())?;
        let (user, _) = scim_user(body.0);
        let scope = state.tenancy.scope(&auth.0).await?;
        let created = scim::create_user(&scope, user).await?;
        scope.commit().await?;
        let resource = user_resource(created);
        let (location, version) = (resource.location(), resource.version());
        Ok(ScimUserCreated::Created(
            Projected(resource, projection),
            location,
            version,
        ))
    }

    /// SCIM: list users
    ///
    /// Requires scope `scim:provision`. `filter` supports `userName eq "…"`; `startIndex`
    /// is 1-based; `count` at most 200. Deleted users are not listed.
    /// `attributes`/`excludedAttributes` choose what each user carries.
    ///
    /// Returns other people's personal data: every call is recorded in the audit trail.
    #[oai(path = "/Users", method = "get", operation_id = "scimListUsers")]
    // Each argument is one declared parameter of the operation.
    #[allow(clippy::too_many_arguments)]
    async fn scim_list_users(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        filter: Query<Option<String>>,
        #[oai(name = "startIndex")] start_index: Query<Option<u64>>,
        count: Query<Option<u64>>,
        attributes: Query<Option<String>>,
        #[oai(name = "excludedAttributes")] excluded: Query<Option<String>>,
    ) -> Result<ScimUsersListed, ScimError> {
        let projection = projection(attributes.0.as_deref(), excluded.0.as_deref())?;
        let (start, count) = page_of(start_index.0, count.0);
        let scope = state.tenancy.scope(&auth.0).await?;
        let found = scim::list_users(&scope, filter.0.as_deref(), start, count).await?;
        scope.commit().await?;
        Ok(listed(found, start, projection))
    }

    /// SCIM: search users
    ///
    /// Requires scope `scim:provision`. RFC 7644 §3.4.3: the query of `GET /Users` (filter,
    /// `startIndex`, `count`, `attributes`, `excludedAttributes`) sent as a SearchRequest
    /// body.
    ///
    /// Returns other people's personal data: every call is recorded in the audit trail.
    #[oai(
        path = "/Users/.search",
        method = "post",
        operation_id = "scimSearchUsers"
    )]
    async fn scim_search_users(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        body: Json<ScimSearchRequest>,
    ) -> Result<ScimUsersListed, ScimError> {
        let search = body.0;
        let projection = Projection::from_lists(
            search.attributes,
            &search.excluded_attributes.unwrap_or_default(),
            USER_SCHEMA,
        )?;
        let (start, count) = page_of(search.start_index, search.count);
        let scope = state.tenancy.scope(&auth.0).await?;
        let found = scim::list_users(&scope, search.filter.as_deref(), start, count).await?;
        scope.commit().await?;
        Ok(listed(found, start, projection))
    }

    /// SCIM: get a user
    ///
    /// Requires scope `scim:provision`. A deleted user is 404. With `If-None-Match` naming
    /// the current `meta.version`, 304. `attributes`/`excludedAttributes` choose what the
    /// answer carries.
    ///
    /// Returns other people's personal data: every call is recorded in the audit trail.
    #[oai(path = "/Users/:user_id", method = "get", operation_id = "scimGetUser")]
    async fn scim_get_user(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        user_id: Path<Uuid>,
        attributes: Query<Option<String>>,
        #[oai(name = "excludedAttributes")] excluded: Query<Option<String>>,
        #[oai(name = "If-None-Match")] if_none_match: Header<Option<String>>,
    ) -> Result<ScimUserFound, ScimError> {
        let projection = projection(attributes.0.as_deref(), excluded.0.as_deref())?;
        let scope = state.tenancy.scope(&auth.0).await?;
        let user = scim::get_user(&scope, user_id.0).await?;
        scope.commit().await?;
        Ok(ScimUserFound::of(
            user_resource(user),
            projection,
            if_none_match.0.as_deref(),
        ))
    }

    /// SCIM: replace a user
    ///
    /// Requires scope `scim:provision`. RFC 7644 §3.5.1: every writable attribute is
    /// replaced; one left out is cleared (`active` left out keeps its value). `If-Match`
    /// with a `meta.version` refuses the change (412) if the user changed since. `active:
    /// false` deactivates the person and ends their sessions at once.
    #[oai(
        path = "/Users/:user_id",
        method = "put",
        operation_id = "scimReplaceUser"
    )]
    // Each argument is one declared parameter of the operation.
    #[allow(clippy::too_many_arguments)]
    async fn scim_replace_user(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        user_id: Path<Uuid>,
        attributes: Query<Option<String>>,
        #[oai(name = "excludedAttributes")] excluded: Query<Option<String>>,
        #[oai(name = "If-Match")] if_match: Header<Option<String>>,
        body: Json<ScimUserCreate>,
    ) -> Result<ScimUserFound, ScimError> {
        let projection = projection(attributes.0.as_deref(), excluded.0.as_deref())?;
        let expected = expected_revision(if_match.0.as_deref())?;
        let (user, active) = scim_user(body.0);
        let scope = state.tenancy.scope(&auth.0).await?;
        let change = scim::replace_user(&scope, user_id.0, user, active, expected).await?;
        let user = state.identity.commit(scope, change).await?;
        Ok(ScimUserFound::of(user_resource(user), projection, None))
    }

    /// SCIM: change a user
    ///
    /// Requires scope `scim:provision`. PatchOp with `add`/`replace`/`remove` on `active`,
    /// `userName`, `displayName`, `name`, `name.*`, `externalId`, `emails`, `phoneNumbers`
    /// (or a path-less value object of them). `If-Match`
    /// with a `meta.version` refuses the change (412) if the user changed since. `active:
    /// false` deactivates the person and ends their sessions at once.
    #[oai(
        path = "/Users/:user_id",
        method = "patch",
        operation_id = "scimPatchUser"
    )]
    // Each argument is one declared parameter of the operation.
    #[allow(clippy::too_many_arguments)]
    async fn scim_patch_user(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        user_id: Path<Uuid>,
        attributes: Query<Option<String>>,
        #[oai(name = "excludedAttributes")] excluded: Query<Option<String>>,
        #[oai(name = "If-Match")] if_match: Header<Option<String>>,
        body: Json<ScimPatch>,
    ) -> Result<ScimUserFound, ScimError> {
        let projection = projection(attributes.0.as_deref(), excluded.0.as_deref())?;
        let expected = expected_revision(if_match.0.as_deref())?;
        let ops = operations(body.0);
        let scope = state.tenancy.scope(&auth.0).await?;
        let change = scim::patch_user(&scope, user_id.0, &ops, expected).await?;
        let user = state.identity.commit(scope, change).await?;
        Ok(ScimUserFound::of(user_resource(user), projection, None))
    }

    /// SCIM: delete a user
    ///
    /// Requires scope `scim:provision`. Deprovisions the person: deactivated, removed from
    /// every group (their roles fall back to learner), their sessions ended; SCIM answers
    /// 404 for them afterwards. The person record stays for the audit trail.
    #[oai(
        path = "/Users/:user_id",
        method = "delete",
        operation_id = "scimDeleteUser"
    )]
    async fn scim_delete_user(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        user_id: Path<Uuid>,
        #[oai(name = "If-Match")] if_match: Header<Option<String>>,
    ) -> Result<ScimDeleted, ScimError> {
        let expected = expected_revision(if_match.0.as_deref())?;
        let scope = state.tenancy.scope(&auth.0).await?;
        let change = scim::delete_user(&state.tenancy, &scope, user_id.0, expected).await?;
        state.identity.commit(scope, change).await?;
        Ok(ScimDeleted::NoContent)
    }
}
