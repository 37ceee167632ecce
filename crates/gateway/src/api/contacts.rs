//! `/v1/contacts`: the institution's named contacts. Names, emails and phones are personal
//! data, encrypted at rest under the institution's key; email lookups use a blind index.

use crate::api::{ApiTags, etag, page_request, parse_if_match, require_if_match};
use crate::auth::TenantCredential;
use crate::problem::ApiError;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use hub_kernel::Pii;
use hub_tenant::contacts::{self, Contact, ContactPatch, ContactRole, NewContact};
use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::{Example, MaybeUndefined};
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use std::sync::Arc;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum ContactRoleView {
    DataProtectionOfficer,
    Billing,
    Technical,
    Administrative,
}

impl From<ContactRole> for ContactRoleView {
    fn from(r: ContactRole) -> Self {
        match r {
            ContactRole::DataProtectionOfficer => Self::DataProtectionOfficer,
            ContactRole::Billing => Self::Billing,
            ContactRole::Technical => Self::Technical,
            ContactRole::Administrative => Self::Administrative,
        }
    }
}

impl From<ContactRoleView> for ContactRole {
    fn from(r: ContactRoleView) -> Self {
        match r {
            ContactRoleView::DataProtectionOfficer => Self::DataProtectionOfficer,
            ContactRoleView::Billing => Self::Billing,
            ContactRoleView::Technical => Self::Technical,
            ContactRoleView::Administrative => Self::Administrative,
        }
    }
}

/// A new contact. `phone` is optional (C8).
#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct ContactCreate {
    pub role: ContactRoleView,
    /// Full name, 1–200 characters. Personal data (identity).
    pub name: String,
    /// Email address. Personal data (contact); used for essential messages only.
    pub email: String,
    /// E.164 phone number such as `+441632960961`. Optional personal data (contact).
    pub phone: Option<String>,
}

impl Example for ContactCreate {
    fn example() -> Self {
        Self {
            role: ContactRoleView::DataProtectionOfficer,
            name: "Ada Lovelace".into(),
            email: "dpo@northfield.example".into(),
            phone: Some("+441632960961".into()),
        }
    }
}

/// Changes to a contact; omitted fields stay, `phone: null` removes the phone.
#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct ContactUpdate {
    // Omitted, not `null`, in the spec's example: these are not nullable.
    #[oai(skip_serializing_if_is_none)]
    pub role: Option<ContactRoleView>,
    #[oai(skip_serializing_if_is_none)]
    pub name: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub email: Option<String>,
    #[oai(nullable)]
    pub phone: MaybeUndefined<String>,
}

impl Example for ContactUpdate {
    fn example() -> Self {
        Self {
            role: None,
            name: None,
            email: Some("privacy@northfield.example".into()),
            phone: MaybeUndefined::Null,
        }
    }
}

/// A contact.
#[derive(Debug, Clone, Object)]
pub struct ContactView {
    pub id: Uuid,
    pub role: ContactRoleView,
    pub name: String,
    pub email: String,
    #[oai(nullable)]
    pub phone: Option<String>,
    pub revision: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Contact> for ContactView {
    fn from(c: Contact) -> Self {
        Self {
            id: c.id,
            role: c.role.into(),
            name: c.name.into_inner(),
            email: c.email.into_inner(),
            phone: c.phone.map(Pii::into_inner),
            revision: c.revision,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct ContactPage {
    pub items: Vec<ContactView>,
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

#[derive(ApiResponse)]
pub enum ContactCreated {
    #[oai(status = 201)]
    Created(
        Json<ContactView>,
        #[oai(header = "Location")] String,
        #[oai(header = "ETag")] String,
    ),
}

#[derive(ApiResponse)]
pub enum ContactFound {
    #[oai(status = 200)]
    Ok(Json<ContactView>, #[oai(header = "ETag")] String),
}

#[derive(ApiResponse)]
pub enum ContactsListed {
    #[oai(status = 200)]
    Ok(Json<ContactPage>),
}

#[derive(ApiResponse)]
pub enum ContactDeleted {
    #[oai(status = 204)]
    NoContent,
}

fn found(contact: Contact) -> ContactFound {
    let tag = etag(contact.revision);
    ContactFound::Ok(Json(contact.into()), tag)
}

#[derive(Default)]
pub struct ContactsApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Contacts")]
impl ContactsApi {
    /// Add a contact
    ///
    /// Requires scope `contacts:write`. Name, email and phone are stored encrypted under the
    /// institution's own key.
    #[oai(path = "/contacts", method = "post", operation_id = "createContact")]
    async fn create_contact(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        body: Json<ContactCreate>,
    ) -> Result<ContactCreated, ApiError> {
        let input = body.0;
        let new = NewContact {
            role: input.role.into(),
            name: Pii::new(input.name),
            email: Pii::new(input.email),
            phone: input.phone.map(Pii::new),
        };
        let scope = state.tenancy.scope(&auth.0).await?;
        let contact = contacts::create(&scope, new).await?;
        scope.commit().await?;
        let location = format!("/v1/contacts/{}", contact.id);
        let tag = etag(contact.revision);
        Ok(ContactCreated::Created(Json(contact.into()), location, tag))
    }

    /// List contacts
    ///
    /// Requires scope `contacts:read`. `email` finds a contact by exact address
    /// (case-insensitive) through the blind index, without decrypting every row.
    ///
    /// Returns other people's personal data: every call is recorded in the audit trail.
    #[oai(path = "/contacts", method = "get", operation_id = "listContacts")]
    async fn list_contacts(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        /// Cursor from the previous page's `next_cursor`.
        cursor: Query<Option<String>>,
        /// Page size, 1–200 (default 50).
        limit: Query<Option<u64>>,
        /// Only the contact with this email address.
        email: Query<Option<String>>,
        /// Only contacts in this role.
        role: Query<Option<ContactRoleView>>,
    ) -> Result<ContactsListed, ApiError> {
        let page = page_request(cursor.0.as_deref(), limit.0)?;
        let scope = state.tenancy.scope(&auth.0).await?;
        let found =
            contacts::list(&scope, &page, email.0.as_deref(), role.0.map(Into::into)).await?;
        scope.commit().await?;
        Ok(ContactsListed::Ok(Json(ContactPage {
            items: found.items.into_iter().map(Into::into).collect(),
            next_cursor: found.next_cursor,
        })))
    }

    /// Get a contact
    ///
    /// Requires scope `contacts:read`.
    ///
    /// Returns other people's personal data: every call is recorded in the audit trail.
    #[oai(
        path = "/contacts/:contact_id",
        method = "get",
        operation_id = "getContact"
    )]
    async fn get_contact(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        contact_id: Path<Uuid>,
    ) -> Result<ContactFound, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let contact = contacts::get(&scope, contact_id.0).await?;
        scope.commit().await?;
        Ok(found(contact))
    }

    /// Update a contact
    ///
    /// Requires scope `contacts:write` and `If-Match` with the `ETag` last read.
    #[oai(
        path = "/contacts/:contact_id",
        method = "patch",
        operation_id = "updateContact"
    )]
    async fn update_contact(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        contact_id: Path<Uuid>,
        /// The `ETag` of the revision this change is based on.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        body: Json<ContactUpdate>,
    ) -> Result<ContactFound, ApiError> {
        let expected = require_if_match(if_match.0.as_deref())?;
        let input = body.0;
        let patch = ContactPatch {
            role: input.role.map(Into::into),
            name: input.name.map(Pii::new),
            email: input.email.map(Pii::new),
            phone: match input.phone {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(p) => Some(Some(Pii::new(p))),
            },
        };
        let scope = state.tenancy.scope(&auth.0).await?;
        let contact = contacts::update(&scope, contact_id.0, patch, expected).await?;
        scope.commit().await?;
        Ok(found(contact))
    }

    /// Remove a contact
    ///
    /// Requires scope `contacts:write`. The row and its ciphertexts are deleted.
    #[oai(
        path = "/contacts/:contact_id",
        method = "delete",
        operation_id = "deleteContact"
    )]
    async fn delete_contact(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        contact_id: Path<Uuid>,
        /// Optional: the `ETag` of the revision to delete.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
    ) -> Result<ContactDeleted, ApiError> {
        let expected = parse_if_match(if_match.0.as_deref())?;
        let scope = state.tenancy.scope(&auth.0).await?;
        contacts::delete(&scope, contact_id.0, expected).await?;
        scope.commit().await?;
        Ok(ContactDeleted::NoContent)
    }
}
