//! SCIM Users: what the IdP asserts about a person ([`ScimUser`]) mapped onto the people
//! records, and the create, read, list, PATCH, PUT and DELETE (deprovisioning) of them. A
//! deprovisioned person is no longer served by SCIM; their record stays for the audit trail.
//!
//! What SCIM carries beyond the person record ([`ScimAttributes`]: `externalId`, sealed like
//! every identifying field, and the `primary` marks sent with the email and phone number) is
//! kept in `scim_users`, one row per person SCIM has written.

use super::groups::groups_of;
use super::patch::{self, PatchOperation};
use super::{MAX_COUNT, bad_value, filter::parse_filter, scim_error};
use crate::entities::{person, scim_deprovisioned, scim_group_member, scim_user};
use crate::error::IdentityError;
use crate::people::{self, Person, PersonSource, PersonStatus, PersonalData};
use crate::roles::Role;
use crate::sessions::{Change, SessionsToEnd};
use chrono::Utc;
use hub_kernel::Pii;
use hub_kernel::classification::{DataCategory, FieldClassification, Purpose, RetentionClass};
use hub_tenant::audit::{self, AuditEvent};
use hub_tenant::{Scope, TenantScope};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use uuid::Uuid;

pub const TABLE: &str = "scim_users";

/// The longest `externalId` kept.
pub const MAX_EXTERNAL_ID: usize = 200;

/// The personal-data declaration of `scim_users`.
pub const PERSONAL_FIELDS: &[FieldClassification] = &[FieldClassification {
    table: TABLE,
    column: "external_id",
    category: DataCategory::Identity,
    purpose: Purpose::ServiceDelivery,
    retention: RetentionClass::CategoryPeriod,
    identifying: true,
    blind_index: false,
    optional: true,
}];

/// What SCIM stores about a user beyond the person record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScimAttributes {
    /// The IdP's own id for the user (RFC 7643 §3.1).
    pub external_id: Option<String>,
    /// The `primary` the email was sent with (`None`: not sent).
    pub email_primary: Option<bool>,
    /// The `primary` the phone number was sent with (`None`: not sent).
    pub phone_primary: Option<bool>,
}

impl ScimAttributes {
    /// A person SCIM never wrote: their one email and phone number are the primary ones.
    fn of_unprovisioned() -> Self {
        Self {
            external_id: None,
            email_primary: Some(true),
            phone_primary: Some(true),
        }
    }
}

/// What the IdP asserts about a user.
#[derive(Debug, Clone, Default)]
pub struct ScimUser {
    pub attributes: ScimAttributes,
    pub user_name: String,
    pub formatted_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub active: bool,
}

impl ScimUser {
    fn name(&self) -> String {
        let joined = match (&self.given_name, &self.family_name) {
            (Some(g), Some(f)) => Some(format!("{g} {f}")),
            (Some(n), None) | (None, Some(n)) => Some(n.clone()),
            _ => None,
        };
        self.formatted_name
            .clone()
            .or(self.display_name.clone())
            .or(joined)
            .unwrap_or_else(|| self.user_name.clone())
    }

    fn data(&self) -> PersonalData {
        PersonalData {
            name: Pii::new(self.name()),
            username: Some(Pii::new(self.user_name.clone())),
            email: self.email.clone().map(Pii::new),
            phone: self.phone.as_deref().map(normalise_phone).map(Pii::new),
            birth_date: None,
            country: None,
        }
    }

    pub fn of(person: &Person, attributes: &ScimAttributes) -> Self {
        Self {
            attributes: attributes.clone(),
            user_name: person
                .username
                .as_ref()
                .map(|u| u.expose().clone())
                .unwrap_or_default(),
            // The stored name is the display name; a PATCH of `displayName` must be able to change it.
            formatted_name: None,
            given_name: None,
            family_name: None,
            display_name: Some(person.name.expose().clone()),
            email: person.email.as_ref().map(|e| e.expose().clone()),
            phone: person.phone.as_ref().map(|p| p.expose().clone()),
            active: person.status == PersonStatus::Active,
        }
    }
}

/// RFC 3966 numbers (`tel:+1-201-555-0123`) as the E.164 form people store: the `tel:`
/// scheme and visual separators dropped. Anything else is left for the E.164 check to judge.
fn normalise_phone(text: &str) -> String {
    let text = text.trim();
    let text = text.strip_prefix("tel:").unwrap_or(text);
    text.chars()
        .filter(|c| !matches!(c, '-' | '.' | ' ' | '(' | ')'))
        .collect()
}

/// A user as SCIM serves it: the person, the groups they belong to as `(id, name)`, and
/// what SCIM stores beside the person record.
#[derive(Debug, Clone)]
pub struct ServedUser {
    pub person: Person,
    pub groups: Vec<(Uuid, String)>,
    pub attributes: ScimAttributes,
}

async fn served(scope: &TenantScope, person: Person) -> Result<ServedUser, IdentityError> {
    let groups = groups_of(scope, person.id).await?;
    let attributes = load_attributes(scope, person.id).await?;
    Ok(ServedUser {
        person,
        groups,
        attributes,
    })
}

async fn load_attributes(
    scope: &TenantScope,
    person_id: Uuid,
) -> Result<ScimAttributes, IdentityError> {
    let Some(row) = scim_user::Entity::find_by_id(person_id)
        .one(scope.db())
        .await?
    else {
        return Ok(ScimAttributes::of_unprovisioned());
    };
    let external_id = row
        .external_id_sealed
        .as_deref()
        .map(|s| scope.keys().open_str(TABLE, "external_id", person_id, s))
        .transpose()?;
    Ok(ScimAttributes {
        external_id,
        email_primary: row.email_primary,
        phone_primary: row.phone_primary,
    })
}

fn check_attributes(attributes: &ScimAttributes) -> Result<(), IdentityError> {
    super::groups::check_external_id(&attributes.external_id)
}

/// Writes the person's `scim_users` row, `externalId` sealed under the active key.
async fn store_attributes(
    scope: &TenantScope,
    person_id: Uuid,
    attributes: &ScimAttributes,
) -> Result<(), IdentityError> {
    scim_user::Entity::delete_by_id(person_id)
        .exec(scope.db())
        .await?;
    scim_user::Entity::insert(scim_user::ActiveModel {
        person_id: Set(person_id),
        external_id_sealed: Set(attributes
            .external_id
            .as_deref()
            .map(|e| scope.keys().seal_str(TABLE, "external_id", person_id, e))),
        email_primary: Set(attributes.email_primary),
        phone_primary: Set(attributes.phone_primary),
    })
    .exec_without_returning(scope.db())
    .await?;
    Ok(())
}

pub async fn create_user(scope: &TenantScope, user: ScimUser) -> Result<ServedUser, IdentityError> {
    scope.require(Scope::ScimProvision)?;
    if user.user_name.trim().is_empty() {
        return Err(bad_value("userName: is required"));
    }
    // Every value is judged before anything is looked up: a bad one is a 400 naming it.
    check_attributes(&user.attributes)?;
    people::validate(&user.data()).map_err(scim_error)?;
    if people::find_by_username(scope, &user.user_name)
        .await?
        .is_some()
    {
        return Err(IdentityError::ScimInvalid {
            scim_type: "uniqueness",
            detail: "a user with this userName exists".into(),
        });
    }
    let person = people::insert(
        scope,
        &user.data(),
        &["learner".to_string()],
        PersonSource::Scim,
    )
    .await
    .map_err(scim_error)?;
    store_attributes(scope, person.id, &user.attributes).await?;
    let person = if user.active {
        person
    } else {
        // A person created a moment ago has no session to end.
        let mut none = SessionsToEnd::default();
        people::set_status_and_roles(
            scope,
            &person,
            PersonStatus::Deactivated,
            &person.roles,
            &mut none,
        )
        .await?
    };
    audit::record(
        scope,
        AuditEvent::new("scim.user_created").person(person.id),
    )
    .await?;
    served(scope, person).await
}

/// A provisioned person's record (another person's data): the read is audited.
pub async fn get_user(scope: &TenantScope, id: Uuid) -> Result<ServedUser, IdentityError> {
    scope.require(Scope::ScimProvision)?;
    let person = load_served(scope, id).await?;
    audit::record(scope, AuditEvent::new("scim.user_read").person(id)).await?;
    served(scope, person).await
}

pub async fn list_users(
    scope: &TenantScope,
    filter: Option<&str>,
    start_index: u64,
    count: u64,
) -> Result<(u64, Vec<ServedUser>), IdentityError> {
    scope.require(Scope::ScimProvision)?;
    let count = count.min(MAX_COUNT);
    let (total, page) = match filter {
        Some(text) => {
            let filter = parse_filter(text, &["userName"])?;
            let mut all = Vec::new();
            if let Some(found) = people::find_by_username(scope, &filter.value).await?
                && !is_deprovisioned(scope, found.id).await?
            {
                all.push(found);
            }
            let total = all.len() as u64;
            let page = all
                .into_iter()
                .skip(start_index.saturating_sub(1) as usize)
                .take(count as usize)
                .collect();
            (total, page)
        }
        None => page_served(scope, start_index.saturating_sub(1), count).await?,
    };
    audit::record_listing(
        scope,
        "scim.users_listed",
        "person_ids",
        page.iter().map(|p| p.id),
    )
    .await?;
    let mut users = Vec::with_capacity(page.len());
    for person in page {
        users.push(served(scope, person).await?);
    }
    Ok((total, users))
}

pub async fn patch_user(
    scope: &TenantScope,
    id: Uuid,
    operations: &[PatchOperation],
    expected_revision: Option<i32>,
) -> Result<Change<ServedUser>, IdentityError> {
    scope.require(Scope::ScimProvision)?;
    if operations.is_empty() || operations.len() > patch::MAX_OPERATIONS {
        return Err(bad_value(format!(
            "Operations: a PatchOp needs 1–{} operations",
            patch::MAX_OPERATIONS
        )));
    }
    let person = load_for_change(scope, id, expected_revision).await?;
    let attributes = load_attributes(scope, person.id).await?;
    let mut user = ScimUser::of(&person, &attributes);
    patch::apply_all(&mut user, operations)?;
    write_user(scope, person, user, "scim.user_patched").await
}

/// RFC 7644 §3.5.1 PUT: `user` replaces every attribute the client may write; one it leaves
/// out is cleared. `active` left out keeps its current value.
pub async fn replace_user(
    scope: &TenantScope,
    id: Uuid,
    mut user: ScimUser,
    active: Option<bool>,
    expected_revision: Option<i32>,
) -> Result<Change<ServedUser>, IdentityError> {
    scope.require(Scope::ScimProvision)?;
    if user.user_name.trim().is_empty() {
        return Err(bad_value("userName: is required"));
    }
    check_attributes(&user.attributes)?;
    people::validate(&user.data()).map_err(scim_error)?;
    let person = load_for_change(scope, id, expected_revision).await?;
    user.active = active.unwrap_or(person.status == PersonStatus::Active);
    if let Some(other) = people::find_by_username(scope, &user.user_name).await?
        && other.id != id
    {
        return Err(IdentityError::ScimInvalid {
            scim_type: "uniqueness",
            detail: "a user with this userName exists".into(),
        });
    }
    write_user(scope, person, user, "scim.user_replaced").await
}

/// RFC 7644 §3.6 DELETE: deprovisions the person. They are deactivated, removed from every
/// group (their roles fall back to learner), and SCIM answers 404 for them from now on; their
/// sessions end when the change is committed, whatever their status was. Leaving the groups
/// is told to the group observers (`Tenancy::group_members_changed`: the courses mapped to
/// them withdraw the person) in the same transaction.
pub async fn delete_user(
    tenancy: &hub_tenant::Tenancy,
    scope: &TenantScope,
    id: Uuid,
    expected_revision: Option<i32>,
) -> Result<Change<ServedUser>, IdentityError> {
    scope.require(Scope::ScimProvision)?;
    let person = load_for_change(scope, id, expected_revision).await?;
    let groups: Vec<Uuid> = groups_of(scope, id)
        .await?
        .into_iter()
        .map(|(g, _)| g)
        .collect();
    scim_group_member::Entity::delete_many()
        .filter(scim_group_member::Column::PersonId.eq(id))
        .exec(scope.db())
        .await?;
    for group in &groups {
        let left = hub_tenant::group_membership::MembershipChange {
            group_id: *group,
            added: Vec::new(),
            removed: vec![id],
        };
        tenancy.group_members_changed(scope, &left).await?;
    }
    let roles = if person.source == PersonSource::Scim {
        vec![Role::Learner]
    } else {
        person.roles.clone()
    };
    let mut ending = SessionsToEnd::default();
    ending.add(id);
    let person = people::set_status_and_roles(
        scope,
        &person,
        PersonStatus::Deactivated,
        &roles,
        &mut ending,
    )
    .await?;
    scim_deprovisioned::Entity::insert(scim_deprovisioned::ActiveModel {
        person_id: Set(id),
        deprovisioned_at: Set(Utc::now()),
    })
    .exec_without_returning(scope.db())
    .await?;
    audit::record(
        scope,
        AuditEvent::new("scim.user_deprovisioned")
            .person(id)
            .detail(serde_json::json!({ "groups_left": groups })),
    )
    .await?;
    Ok(Change::new(served(scope, person).await?, ending))
}

async fn is_deprovisioned(scope: &TenantScope, id: Uuid) -> Result<bool, IdentityError> {
    Ok(scim_deprovisioned::Entity::find_by_id(id)
        .one(scope.db())
        .await?
        .is_some())
}

/// A person SCIM still serves: a deprovisioned one is `NotFound`, like one that never was,
/// and so is an erased one (the IdP cannot write the person back into the anonymised record).
pub(super) async fn load_served(scope: &TenantScope, id: Uuid) -> Result<Person, IdentityError> {
    if is_deprovisioned(scope, id).await? {
        return Err(IdentityError::NotFound("person"));
    }
    let person = people::load(scope, id).await?;
    if people::is_erased(&person) {
        return Err(IdentityError::NotFound("person"));
    }
    Ok(person)
}

/// [`load_served`], and the revision the client read (`If-Match`) is still the current one.
async fn load_for_change(
    scope: &TenantScope,
    id: Uuid,
    expected_revision: Option<i32>,
) -> Result<Person, IdentityError> {
    let person = load_served(scope, id).await?;
    match expected_revision {
        Some(expected) if expected != person.revision => Err(IdentityError::RevisionMismatch {
            current: person.revision,
        }),
        _ => Ok(person),
    }
}

/// One page of the people SCIM serves, ordered by id, and how many there are.
async fn page_served(
    scope: &TenantScope,
    offset: u64,
    count: u64,
) -> Result<(u64, Vec<Person>), IdentityError> {
    use sea_orm::sea_query::Query;
    let served = person::Column::Id.not_in_subquery(
        Query::select()
            .column(scim_deprovisioned::Column::PersonId)
            .from(scim_deprovisioned::Entity)
            .to_owned(),
    );
    let total = person::Entity::find()
        .filter(served.clone())
        .count(scope.db())
        .await?;
    let ids: Vec<Uuid> = person::Entity::find()
        .select_only()
        .column(person::Column::Id)
        .filter(served)
        .order_by_asc(person::Column::Id)
        .offset(offset)
        .limit(count)
        .into_tuple()
        .all(scope.db())
        .await?;
    let mut page = Vec::with_capacity(ids.len());
    for id in ids {
        page.push(people::load(scope, id).await?);
    }
    Ok((total, page))
}

/// Writes what a PATCH or PUT made of `person` and records `action` in the audit trail.
async fn write_user(
    scope: &TenantScope,
    person: Person,
    user: ScimUser,
    action: &'static str,
) -> Result<Change<ServedUser>, IdentityError> {
    let id = person.id;
    check_attributes(&user.attributes)?;
    let mut current = person.clone();
    let data = user.data();
    let changed_data = data.name.expose() != person.name.expose()
        || data.username.as_ref().map(|u| u.expose())
            != person.username.as_ref().map(|u| u.expose())
        || data.email.as_ref().map(|e| e.expose()) != person.email.as_ref().map(|e| e.expose())
        || data.phone.as_ref().map(|p| p.expose()) != person.phone.as_ref().map(|p| p.expose());
    if changed_data {
        let mut data = data;
        let kept = people::data_of(&person);
        data.birth_date = kept.birth_date;
        data.country = kept.country;
        current = people::replace_data(scope, &current, &data)
            .await
            .map_err(scim_error)?;
    }
    // A restricted person (R3) stays deactivated until the restriction is lifted: a push
    // that would reactivate them (or change their record) is refused with 409
    // `person_restricted` by the people rule, and nothing of it is written.
    let status = if user.active {
        PersonStatus::Active
    } else {
        PersonStatus::Deactivated
    };
    let changed_attributes = user.attributes != load_attributes(scope, id).await?;
    if changed_attributes {
        store_attributes(scope, id, &user.attributes).await?;
        if !changed_data {
            // `meta.version` names the resource, not only the person record.
            current = people::touch(scope, &current).await?;
        }
    }
    let mut ending = SessionsToEnd::default();
    current =
        people::set_status_and_roles(scope, &current, status, &current.roles.clone(), &mut ending)
            .await?;
    audit::record(
        scope,
        AuditEvent::new(action)
            .person(id)
            .detail(serde_json::json!({
                "active": user.active,
                "fields_changed": changed_data || changed_attributes,
            })),
    )
    .await?;
    Ok(Change::new(served(scope, current).await?, ending))
}
