//! `/v1/people`: the institution's people, for its admins (and, read-only, auditors). Personal
//! fields are encrypted at rest under the institution's key; email lookups use a blind index.

use crate::api::described::Described;
use crate::api::privacy::requests::JurisdictionView;
use crate::api::{ApiTags, etag, page_request, require_if_match};
use crate::auth::TenantCredential;
use crate::problem::ApiError;
use crate::state::AppState;
use chrono::{DateTime, NaiveDate, Utc};
use hub_identity::Role;
use hub_identity::people::{self, AdminPatch, NewPerson, Person, PersonStatus, PersonalData};
use hub_kernel::Pii;
use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::{Example, MaybeUndefined};
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use std::sync::Arc;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum PersonStatusView {
    Active,
    Deactivated,
}

/// A person of the institution.
#[derive(Debug, Clone, Object)]
pub struct PersonView {
    pub id: Uuid,
    pub name: String,
    #[oai(nullable)]
    pub username: Option<String>,
    #[oai(nullable)]
    pub email: Option<String>,
    #[oai(nullable)]
    pub phone: Option<String>,
    #[oai(nullable)]
    pub birth_date: Option<NaiveDate>,
    /// Which law's rules the person's privacy requests follow when one states none (L1);
    /// `null`: the institution's default.
    #[oai(nullable)]
    pub jurisdiction: Option<Described<JurisdictionView>>,
    /// The person's own country, ISO 3166-1 alpha-2 (A1): the age of digital consent they
    /// are under follows it before their jurisdiction's country. `null`: none kept.
    #[oai(nullable)]
    pub country: Option<String>,
    /// `learner`, `instructor`, `tenant_admin`, `finance`, `auditor`, `guardian`.
    pub roles: Vec<String>,
    pub status: PersonStatusView,
    /// `admin` (created through the API), `sso` (created at first sign-in), `scim` (pushed
    /// by the institution's IdP) or `guardian_consent` (created when they confirmed their
    /// consent for a minor, with the guardian role).
    pub source: String,
    pub revision: i32,
    #[oai(nullable)]
    pub last_sign_in_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Person> for PersonView {
    fn from(p: Person) -> Self {
        Self {
            id: p.id,
            name: p.name.into_inner(),
            username: p.username.map(Pii::into_inner),
            email: p.email.map(Pii::into_inner),
            phone: p.phone.map(Pii::into_inner),
            birth_date: p.birth_date.map(Pii::into_inner),
            jurisdiction: p.jurisdiction.map(|j| Described(j.into())),
            country: p.country.map(Pii::into_inner),
            roles: p.roles.iter().map(|r| r.as_str().to_string()).collect(),
            status: match p.status {
                PersonStatus::Active => PersonStatusView::Active,
                PersonStatus::Deactivated => PersonStatusView::Deactivated,
            },
            source: p.source.as_str().to_string(),
            revision: p.revision,
            last_sign_in_at: p.last_sign_in_at,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

/// A new person. Only `name` is required (C8).
#[derive(Debug, Clone, Object)]
// Absent optional fields are left out of the example: they are not nullable.
#[oai(example, deny_unknown_fields, skip_serializing_if_is_none)]
pub struct PersonCreate {
    /// Full name, 1–200 characters. Personal data (identity).
    pub name: String,
    /// Sign-in name, unique in the institution. Personal data (identity).
    pub username: Option<String>,
    /// Email, unique in the institution; links the person at their first SSO sign-in when the
    /// IdP asserts the same verified address. Personal data (contact).
    pub email: Option<String>,
    /// E.164 phone number. Optional personal data (contact).
    pub phone: Option<String>,
    /// `YYYY-MM-DD`. Optional; only where the law protects minors.
    pub birth_date: Option<String>,
    /// ISO 3166-1 alpha-2 in upper case, e.g. `DE`. Optional; the age of digital consent the
    /// person is under (A1) follows it before their jurisdiction's country.
    pub country: Option<String>,
    /// Roles; empty means no access beyond the person's own record.
    #[oai(default)]
    pub roles: Vec<String>,
}

impl Example for PersonCreate {
    fn example() -> Self {
        Self {
            name: "Grace Hopper".into(),
            username: Some("ghopper".into()),
            email: Some("grace@northfield.example".into()),
            phone: None,
            birth_date: None,
            country: None,
            roles: vec!["instructor".into()],
        }
    }
}

/// An admin's change to a person: roles, status, jurisdiction and country. Changing roles or
/// status ends the person's sessions (they carry the scopes granted at sign-in).
#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct PersonAdminUpdate {
    #[oai(skip_serializing_if_is_none)]
    pub roles: Option<Vec<String>>,
    #[oai(skip_serializing_if_is_none)]
    pub status: Option<PersonStatusView>,
    /// Which law's rules the person's privacy requests follow when one states none (L1);
    /// omitted: unchanged; `null`: cleared (the institution's default applies).
    #[oai(nullable)]
    pub jurisdiction: MaybeUndefined<Described<JurisdictionView>>,
    /// The person's own country, ISO 3166-1 alpha-2 in upper case (A1); omitted: unchanged;
    /// `null`: cleared (their jurisdiction's country, else the institution's home, applies).
    #[oai(nullable)]
    pub country: MaybeUndefined<String>,
}

impl Example for PersonAdminUpdate {
    fn example() -> Self {
        Self {
            roles: Some(vec!["learner".into(), "instructor".into()]),
            status: None,
            jurisdiction: MaybeUndefined::Undefined,
            country: MaybeUndefined::Undefined,
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct PersonPage {
    pub items: Vec<PersonView>,
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

#[derive(ApiResponse)]
pub enum PersonCreated {
    #[oai(status = 201)]
    Created(
        Json<PersonView>,
        #[oai(header = "Location")] String,
        #[oai(header = "ETag")] String,
    ),
}

#[derive(ApiResponse)]
pub enum PersonFound {
    #[oai(status = 200)]
    Ok(Json<PersonView>, #[oai(header = "ETag")] String),
}

#[derive(ApiResponse)]
pub enum PeopleListed {
    #[oai(status = 200)]
    Ok(Json<PersonPage>),
}

pub fn person_found(person: Person) -> PersonFound {
    let tag = etag(person.revision);
    PersonFound::Ok(Json(person.into()), tag)
}

#[derive(Default)]
pub struct PeopleApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::People")]
impl PeopleApi {
    /// Add a person
    ///
    /// Requires scope `people:write`. Personal fields are stored encrypted under the
    /// institution's own key.
    #[oai(path = "/people", method = "post", operation_id = "createPerson")]
    async fn create_person(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        body: Json<PersonCreate>,
    ) -> Result<PersonCreated, ApiError> {
        let input = body.0;
        let new = NewPerson {
            data: PersonalData {
                name: Pii::new(input.name),
                username: input.username.map(Pii::new),
                email: input.email.map(Pii::new),
                phone: input.phone.map(Pii::new),
                birth_date: input.birth_date.map(Pii::new),
                country: input.country.map(Pii::new),
            },
            roles: input.roles,
        };
        let scope = state.tenancy.scope(&auth.0).await?;
        let person = people::create(&scope, new).await?;
        scope.commit().await?;
        let location = format!("/v1/people/{}", person.id);
        let tag = etag(person.revision);
        Ok(PersonCreated::Created(Json(person.into()), location, tag))
    }

    /// List people
    ///
    /// Requires scope `people:read`. `email` finds a person by exact address
    /// (case-insensitive) through the blind index.
    ///
    /// Returns other people's personal data: every call is recorded in the audit trail.
    #[oai(path = "/people", method = "get", operation_id = "listPeople")]
    async fn list_people(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        /// Cursor from the previous page's `next_cursor`.
        cursor: Query<Option<String>>,
        /// Page size, 1–200 (default 50).
        limit: Query<Option<u64>>,
        /// Only the person with this email address.
        email: Query<Option<String>>,
        /// Only people holding this role.
        role: Query<Option<String>>,
    ) -> Result<PeopleListed, ApiError> {
        let page = page_request(cursor.0.as_deref(), limit.0)?;
        let role = match role.0.as_deref() {
            None => None,
            Some(text) => Some(Role::parse(text).ok_or_else(|| {
                ApiError::from(hub_identity::IdentityError::invalid("role", "unknown role"))
            })?),
        };
        let scope = state.tenancy.scope(&auth.0).await?;
        let found = people::list(&scope, &page, email.0.as_deref(), role).await?;
        scope.commit().await?;
        Ok(PeopleListed::Ok(Json(PersonPage {
            items: found.items.into_iter().map(Into::into).collect(),
            next_cursor: found.next_cursor,
        })))
    }

    /// Get a person
    ///
    /// Requires scope `people:read`.
    ///
    /// Returns other people's personal data: every call is recorded in the audit trail.
    #[oai(
        path = "/people/:person_id",
        method = "get",
        operation_id = "getPerson"
    )]
    async fn get_person(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        person_id: Path<Uuid>,
    ) -> Result<PersonFound, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let person = people::get(&scope, person_id.0).await?;
        scope.commit().await?;
        Ok(person_found(person))
    }

    /// Change a person's roles, status, jurisdiction or country
    ///
    /// Requires scope `people:write` and `If-Match`. A change of roles or a deactivation ends
    /// all of the person's sessions at once. The jurisdiction is the one the person's privacy
    /// requests follow when they state none (L1); the country, the one whose age of digital
    /// consent they are under (A1).
    #[oai(
        path = "/people/:person_id",
        method = "patch",
        operation_id = "updatePerson"
    )]
    async fn update_person(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        person_id: Path<Uuid>,
        /// The `ETag` of the revision this change is based on.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        body: Json<PersonAdminUpdate>,
    ) -> Result<PersonFound, ApiError> {
        let expected = require_if_match(if_match.0.as_deref())?;
        let patch = AdminPatch {
            roles: body.0.roles,
            status: body.0.status.map(|s| match s {
                PersonStatusView::Active => PersonStatus::Active,
                PersonStatusView::Deactivated => PersonStatus::Deactivated,
            }),
            jurisdiction: match body.0.jurisdiction {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(j) => Some(Some(j.0.into())),
            },
            country: match body.0.country {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(c) => Some(Some(Pii::new(c))),
            },
        };
        let scope = state.tenancy.scope(&auth.0).await?;
        let change = people::administer(&scope, person_id.0, patch, expected).await?;
        let person = state.identity.commit(scope, change).await?;
        Ok(person_found(person))
    }
}
