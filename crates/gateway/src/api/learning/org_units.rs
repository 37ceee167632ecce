//! `/v1/org-units` and `/v1/people/{id}/org-unit`: the institution's organisational units
//! (a tree: faculties, departments, teams) and each person's unit, which enrollment
//! listings filter by.

use crate::api::{ApiTags, etag, page_request, parse_if_match, require_if_match};
use crate::auth::TenantCredential;
use crate::problem::ApiError;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use hub_course::organisation::service;
use hub_course::organisation::{Affiliation, NewOrgUnit, OrgUnit, OrgUnitPatch};
use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::{Example, MaybeUndefined};
use poem_openapi::{ApiResponse, Object, OpenApi};
use std::sync::Arc;
use uuid::Uuid;

/// A new organisational unit.
#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct OrgUnitCreate {
    /// Institution-unique code: 1–40 letters, digits, `-`, `_` or `.`.
    pub code: String,
    /// 1–200 characters.
    pub name: String,
    /// The unit it sits below (at most 20 deep); omit for a top-level unit.
    #[oai(skip_serializing_if_is_none)]
    pub parent_id: Option<Uuid>,
}

impl Example for OrgUnitCreate {
    fn example() -> Self {
        Self {
            code: "ENG".into(),
            name: "Faculty of Engineering".into(),
            parent_id: None,
        }
    }
}

/// Changes to a unit; omitted fields stay as they are.
#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct OrgUnitUpdate {
    #[oai(skip_serializing_if_is_none)]
    pub code: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub name: Option<String>,
    /// `null` makes it a top-level unit; a unit cannot move below itself.
    #[oai(nullable)]
    pub parent_id: MaybeUndefined<Uuid>,
}

impl Example for OrgUnitUpdate {
    fn example() -> Self {
        Self {
            code: None,
            name: Some("School of Engineering".into()),
            parent_id: MaybeUndefined::Undefined,
        }
    }
}

/// An organisational unit.
#[derive(Debug, Clone, Object)]
pub struct OrgUnitView {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    #[oai(nullable)]
    pub parent_id: Option<Uuid>,
    /// Increments on every change; the `ETag` carries it.
    pub revision: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<OrgUnit> for OrgUnitView {
    fn from(u: OrgUnit) -> Self {
        Self {
            id: u.id,
            code: u.code,
            name: u.name,
            parent_id: u.parent_id,
            revision: u.revision,
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct OrgUnitPage {
    pub items: Vec<OrgUnitView>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

/// The unit a person belongs to.
#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct AffiliationInput {
    pub org_unit_id: Uuid,
}

impl Example for AffiliationInput {
    fn example() -> Self {
        Self {
            org_unit_id: Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0010),
        }
    }
}

/// A person's organisational unit (`null` when they have none).
#[derive(Debug, Clone, Object)]
pub struct AffiliationView {
    pub person_id: Uuid,
    #[oai(nullable)]
    pub org_unit_id: Option<Uuid>,
    /// When the unit was last set.
    #[oai(nullable)]
    pub updated_at: Option<DateTime<Utc>>,
}

impl From<Affiliation> for AffiliationView {
    fn from(a: Affiliation) -> Self {
        Self {
            person_id: a.person_id,
            org_unit_id: Some(a.org_unit_id),
            updated_at: Some(a.updated_at),
        }
    }
}

#[derive(ApiResponse)]
pub enum OrgUnitCreated {
    /// The unit was created.
    #[oai(status = 201)]
    Created(
        Json<OrgUnitView>,
        #[oai(header = "Location")] String,
        #[oai(header = "ETag")] String,
    ),
}

#[derive(ApiResponse)]
pub enum OrgUnitFound {
    /// The unit.
    #[oai(status = 200)]
    Ok(Json<OrgUnitView>, #[oai(header = "ETag")] String),
}

#[derive(ApiResponse)]
pub enum OrgUnitsListed {
    /// A page of units, oldest first.
    #[oai(status = 200)]
    Ok(Json<OrgUnitPage>),
}

#[derive(ApiResponse)]
pub enum AffiliationFound {
    /// The person's unit.
    #[oai(status = 200)]
    Ok(Json<AffiliationView>),
}

#[derive(ApiResponse)]
pub enum Removed {
    /// Gone.
    #[oai(status = 204)]
    NoContent,
}

fn found(unit: OrgUnit) -> OrgUnitFound {
    let tag = etag(unit.revision);
    OrgUnitFound::Ok(Json(unit.into()), tag)
}

#[derive(Default)]
pub struct OrgUnitsApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::OrgUnits")]
impl OrgUnitsApi {
    /// Create an organisational unit
    ///
    /// Requires scope `org_units:write`. 409 `org_unit_code_taken` for a code in use.
    #[oai(path = "/org-units", method = "post", operation_id = "createOrgUnit")]
    async fn create_org_unit(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        body: Json<OrgUnitCreate>,
    ) -> Result<OrgUnitCreated, ApiError> {
        let input = body.0;
        let scope = state.tenancy.scope(&auth.0).await?;
        let unit = service::create(
            &scope,
            NewOrgUnit {
                code: input.code,
                name: input.name,
                parent_id: input.parent_id,
            },
        )
        .await?;
        scope.commit().await?;
        let (at, tag) = (format!("/v1/org-units/{}", unit.id), etag(unit.revision));
        Ok(OrgUnitCreated::Created(Json(unit.into()), at, tag))
    }

    /// List organisational units
    ///
    /// Requires scope `org_units:read`. Oldest first, in pages; `parent_id` lists one
    /// unit's children.
    #[oai(path = "/org-units", method = "get", operation_id = "listOrgUnits")]
    async fn list_org_units(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        /// Cursor from the previous page's `next_cursor`.
        cursor: Query<Option<String>>,
        /// Page size, 1–200 (default 50).
        limit: Query<Option<u64>>,
        /// Only the children of this unit.
        parent_id: Query<Option<Uuid>>,
    ) -> Result<OrgUnitsListed, ApiError> {
        let page = page_request(cursor.0.as_deref(), limit.0)?;
        let (page, parent) = (&page, parent_id.0);
        let units = state
            .tenancy
            .read(&auth.0, move |scope| async move {
                service::list(&scope, page, parent).await
            })
            .await?;
        Ok(OrgUnitsListed::Ok(Json(OrgUnitPage {
            items: units.items.into_iter().map(Into::into).collect(),
            next_cursor: units.next_cursor,
        })))
    }

    /// Get an organisational unit
    ///
    /// Requires scope `org_units:read`.
    #[oai(
        path = "/org-units/:org_unit_id",
        method = "get",
        operation_id = "getOrgUnit"
    )]
    async fn get_org_unit(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        org_unit_id: Path<Uuid>,
    ) -> Result<OrgUnitFound, ApiError> {
        let id = org_unit_id.0;
        let unit = state
            .tenancy
            .read(&auth.0, move |scope| async move {
                service::get(&scope, id).await
            })
            .await?;
        Ok(found(unit))
    }

    /// Update an organisational unit
    ///
    /// Requires scope `org_units:write` and `If-Match` with the `ETag` last read (412 when
    /// it no longer matches). 409 `org_unit_code_taken` for a code in use.
    #[oai(
        path = "/org-units/:org_unit_id",
        method = "patch",
        operation_id = "updateOrgUnit"
    )]
    async fn update_org_unit(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        org_unit_id: Path<Uuid>,
        /// The `ETag` of the revision this change is based on.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        body: Json<OrgUnitUpdate>,
    ) -> Result<OrgUnitFound, ApiError> {
        let expected = require_if_match(if_match.0.as_deref())?;
        let input = body.0;
        let patch = OrgUnitPatch {
            code: input.code,
            name: input.name,
            parent_id: match input.parent_id {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(parent) => Some(Some(parent)),
            },
        };
        let scope = state.tenancy.scope(&auth.0).await?;
        let unit = service::update(&scope, org_unit_id.0, patch, expected).await?;
        scope.commit().await?;
        Ok(found(unit))
    }

    /// Delete an organisational unit
    ///
    /// Requires scope `org_units:write`. With `If-Match`, deletes only that revision. A
    /// unit with sub-units or people is 409 `org_unit_in_use`.
    #[oai(
        path = "/org-units/:org_unit_id",
        method = "delete",
        operation_id = "deleteOrgUnit"
    )]
    async fn delete_org_unit(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        org_unit_id: Path<Uuid>,
        /// Optional: the `ETag` of the revision to delete.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
    ) -> Result<Removed, ApiError> {
        let expected = parse_if_match(if_match.0.as_deref())?;
        let scope = state.tenancy.scope(&auth.0).await?;
        service::delete(&scope, org_unit_id.0, expected).await?;
        scope.commit().await?;
        Ok(Removed::NoContent)
    }

    /// Set a person's organisational unit
    ///
    /// Requires scope `org_units:write`. Replaces the person's previous unit. 404 for an
    /// unknown person; 422 (`org_unit_id`) for an unknown unit.
    #[oai(
        path = "/people/:person_id/org-unit",
        method = "put",
        operation_id = "setPersonOrgUnit"
    )]
    async fn set_person_org_unit(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        person_id: Path<Uuid>,
        body: Json<AffiliationInput>,
    ) -> Result<AffiliationFound, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let affiliation =
            service::set_affiliation(&state.tenancy, &scope, person_id.0, body.0.org_unit_id)
                .await?;
        scope.commit().await?;
        Ok(AffiliationFound::Ok(Json(affiliation.into())))
    }

    /// A person's organisational unit
    ///
    /// Requires scope `org_units:read`. `org_unit_id` is `null` when the person has none;
    /// 404 for an unknown person.
    ///
    /// Returns other people's personal data: every call is recorded in the audit trail.
    #[oai(
        path = "/people/:person_id/org-unit",
        method = "get",
        operation_id = "getPersonOrgUnit"
    )]
    async fn get_person_org_unit(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        person_id: Path<Uuid>,
    ) -> Result<AffiliationFound, ApiError> {
        let (id, tenancy) = (person_id.0, &state.tenancy);
        let scope = state.tenancy.scope(&auth.0).await?;
        let affiliation = service::affiliation_of(tenancy, &scope, id).await?;
        scope.commit().await?;
        Ok(AffiliationFound::Ok(Json(match affiliation {
            Some(affiliation) => affiliation.into(),
            None => AffiliationView {
                person_id: id,
                org_unit_id: None,
                updated_at: None,
            },
        })))
    }

    /// Remove a person from their organisational unit
    ///
    /// Requires scope `org_units:write`. 404 when the person has none.
    #[oai(
        path = "/people/:person_id/org-unit",
        method = "delete",
        operation_id = "clearPersonOrgUnit"
    )]
    async fn clear_person_org_unit(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        person_id: Path<Uuid>,
    ) -> Result<Removed, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        service::clear_affiliation(&scope, person_id.0).await?;
        scope.commit().await?;
        Ok(Removed::NoContent)
    }
}
