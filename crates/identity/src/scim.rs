//! SCIM 2.0 (RFC 7643/7644) push provisioning from the institution's IdP: Users and Groups.
//! The protocol's shapes are mapped here onto people and roles; the gateway only moves JSON.
//! [`discovery`] holds the documents that describe exactly what is supported.
//!
//! Supported: create, read, replace (PUT), list with `filter` (`userName eq "…"` for users,
//! `displayName eq "…"` for groups) and `startIndex`/`count`, PATCH (`add`, `replace`,
//! `remove`) on the attributes below, user and group delete, optimistic concurrency on the
//! revision (`meta.version`). Deactivation (`active: false`) and deletion tell the caller to
//! end the person's sessions ([`Provisioned::end_sessions`]). A deleted user is deprovisioned:
//! deactivated, removed from every group (so their roles fall back to learner) and no longer
//! served by SCIM; the person record stays for the audit trail.
//! A group whose `displayName` is a role name (`instructor`, `tenant_admin`, …) grants that
//! role to members provisioned through SCIM; a SCIM person in no such group is a learner.

pub mod discovery;

use crate::entities::{person, scim_deprovisioned, scim_group, scim_group_member};
use crate::error::IdentityError;
use crate::people::{self, Person, PersonSource, PersonStatus, PersonalData};
use crate::roles::Role;
use chrono::{DateTime, Utc};
use hub_kernel::Pii;
use hub_tenant::audit::{self, AuditEvent};
use hub_tenant::{Scope, TenantScope};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde_json::Value;
use uuid::Uuid;

pub const MAX_COUNT: u64 = 200;

/// A parsed `filter`: SCIM's full grammar is large; IdPs use equality on one attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EqFilter {
    pub attribute: String,
    pub value: String,
}

/// Parses `<attribute> eq "<value>"`. Anything else is `invalidFilter`.
pub fn parse_filter(text: &str, allowed: &[&str]) -> Result<EqFilter, IdentityError> {
    let invalid = |why: &str| IdentityError::ScimInvalid {
        scim_type: "invalidFilter",
        detail: format!("{why}; supported: {} eq \"value\"", allowed.join(" or ")),
    };
    if text.len() > 500 {
        return Err(invalid("the filter is too long"));
    }
    let text = text.trim();
    let (attribute, rest) = text
        .split_once(char::is_whitespace)
        .ok_or_else(|| invalid("the filter is not `attribute eq \"value\"`"))?;
    let (op, value) = rest
        .trim_start()
        .split_once(char::is_whitespace)
        .ok_or_else(|| invalid("the filter is not `attribute eq \"value\"`"))?;
    if !op.eq_ignore_ascii_case("eq") {
        return Err(invalid(&format!("operator `{op}` is not supported")));
    }
    let attribute = allowed
        .iter()
        .find(|a| a.eq_ignore_ascii_case(attribute))
        .ok_or_else(|| invalid(&format!("attribute `{attribute}` cannot be filtered on")))?;
    let value: String = serde_json::from_str(value.trim())
        .map_err(|_| invalid("the value must be a JSON string in double quotes"))?;
    Ok(EqFilter {
        attribute: attribute.to_string(),
        value,
    })
}

/// What the IdP asserts about a user.
#[derive(Debug, Clone, Default)]
pub struct ScimUser {
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
            phone: self.phone.clone().map(Pii::new),
            birth_date: None,
        }
    }

    pub fn of(person: &Person) -> Self {
        Self {
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

/// One operation of a SCIM PatchOp.
#[derive(Debug, Clone)]
pub struct PatchOperation {
    pub op: String,
    pub path: Option<String>,
    pub value: Option<Value>,
}

#[derive(Debug, Clone)]
pub struct ScimGroup {
    pub id: Uuid,
    pub display_name: String,
    pub members: Vec<Uuid>,
    pub revision: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn bad_value(detail: impl Into<String>) -> IdentityError {
    IdentityError::ScimInvalid {
        scim_type: "invalidValue",
        detail: detail.into(),
    }
}

fn bad_path(path: &str) -> IdentityError {
    IdentityError::ScimInvalid {
        scim_type: "invalidPath",
        detail: format!("the path `{path}` is not supported"),
    }
}

fn as_string(value: &Value, what: &str) -> Result<String, IdentityError> {
    value
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| bad_value(format!("`{what}` must be a string")))
}

/// Maps invalid person fields to SCIM's `invalidValue`, taken usernames to `uniqueness`.
fn scim_error(e: IdentityError) -> IdentityError {
    match e {
        IdentityError::Invalid(v) => bad_value(
            v.into_iter()
                .map(|f| format!("{}: {}", f.field, f.message))
                .collect::<Vec<_>>()
                .join("; "),
        ),
        IdentityError::Conflict(detail) => IdentityError::ScimInvalid {
            scim_type: "uniqueness",
            detail,
        },
        other => other,
    }
}

/// Applies one attribute (`path`) of a PATCH or of a path-less value object to `user`.
fn apply(
    user: &mut ScimUser,
    op: &str,
    path: &str,
    value: Option<&Value>,
) -> Result<(), IdentityError> {
    let remove = op == "remove";
    let need = |v: Option<&Value>| {
        v.cloned()
            .ok_or_else(|| bad_value(format!("`{path}` needs a value")))
    };
    match path.to_ascii_lowercase().as_str() {
        "active" => {
            user.active = need(value)?
                .as_bool()
                .ok_or_else(|| bad_value("`active` must be true or false"))?
        }
        "username" if !remove => user.user_name = as_string(&need(value)?, path)?,
        "displayname" => {
            user.display_name = if remove {
                None
            } else {
                Some(as_string(&need(value)?, path)?)
            }
        }
        "name.formatted" => {
            user.formatted_name = if remove {
                None
            } else {
                Some(as_string(&need(value)?, path)?)
            }
        }
        "name.givenname" => {
            user.given_name = if remove {
                None
            } else {
                Some(as_string(&need(value)?, path)?)
            }
        }
        "name.familyname" => {
            user.family_name = if remove {
                None
            } else {
                Some(as_string(&need(value)?, path)?)
            }
        }
        "name" if remove => {
            user.formatted_name = None;
            user.given_name = None;
            user.family_name = None;
        }
        "name" => {
            let v = need(value)?;
            for (key, inner) in v
                .as_object()
                .ok_or_else(|| bad_value("`name` must be an object"))?
            {
                apply(user, op, &format!("name.{key}"), Some(inner))?;
            }
        }
        "emails" | "emails[type eq \"work\"].value" | "emails[primary eq true].value" => {
            user.email = if remove {
                None
            } else {
                Some(first_value(&need(value)?, "emails")?)
            }
        }
        "phonenumbers"
        | "phonenumbers[type eq \"work\"].value"
        | "phonenumbers[type eq \"mobile\"].value" => {
            user.phone = if remove {
                None
            } else {
                Some(first_value(&need(value)?, "phoneNumbers")?)
            }
        }
        _ => return Err(bad_path(path)),
    }
    Ok(())
}

/// A multi-valued attribute's primary (or first) `value`, or a bare string.
pub fn first_value(value: &Value, what: &str) -> Result<String, IdentityError> {
    if let Some(s) = value.as_str() {
        return Ok(s.to_string());
    }
    let items = value
        .as_array()
        .ok_or_else(|| bad_value(format!("`{what}` must be a list of {{\"value\": …}}")))?;
    let chosen = items
        .iter()
        .find(|i| i["primary"] == Value::Bool(true))
        .or_else(|| items.first())
        .ok_or_else(|| bad_value(format!("`{what}` is empty")))?;
    as_string(&chosen["value"], what)
}

async fn group_roles_of(scope: &TenantScope, person_id: Uuid) -> Result<Vec<Role>, IdentityError> {
    let group_ids: Vec<Uuid> = scim_group_member::Entity::find()
        .filter(scim_group_member::Column::PersonId.eq(person_id))
        .all(scope.db())
        .await?
        .into_iter()
        .map(|m| m.group_id)
        .collect();
    let groups = scim_group::Entity::find()
        .filter(scim_group::Column::Id.is_in(group_ids))
        .all(scope.db())
        .await?;
    let mut roles: Vec<Role> = groups
        .iter()
        .filter_map(|g| Role::parse(&g.display_name))
        .collect();
    if roles.is_empty() {
        roles.push(Role::Learner);
    }
    roles.sort();
    roles.dedup();
    Ok(roles)
}

/// Groups a person belongs to, as `(id, display name)`.
pub async fn groups_of(
    scope: &TenantScope,
    person_id: Uuid,
) -> Result<Vec<(Uuid, String)>, IdentityError> {
    let ids: Vec<Uuid> = scim_group_member::Entity::find()
        .filter(scim_group_member::Column::PersonId.eq(person_id))
        .all(scope.db())
        .await?
        .into_iter()
        .map(|m| m.group_id)
        .collect();
    Ok(scim_group::Entity::find()
        .filter(scim_group::Column::Id.is_in(ids))
        .order_by_asc(scim_group::Column::DisplayName)
        .all(scope.db())
        .await?
        .into_iter()
        .map(|g| (g.id, g.display_name))
        .collect())
}

/// Result of a change: the person, and whether their sessions must end now.
pub struct Provisioned {
    pub person: Person,
    pub end_sessions: bool,
}

pub async fn create_user(scope: &TenantScope, user: ScimUser) -> Result<Person, IdentityError> {
    scope.require(Scope::ScimProvision)?;
    if user.user_name.trim().is_empty() {
        return Err(bad_value("`userName` is required"));
    }
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
    let person = if user.active {
        person
    } else {
        people::set_status_and_roles(scope, &person, PersonStatus::Deactivated, &person.roles)
            .await?
    };
    audit::record(
        scope,
        AuditEvent::new("scim.user_created").person(person.id),
    )
    .await?;
    Ok(person)
}

/// A provisioned person's record (another person's data): the read is audited.
pub async fn get_user(scope: &TenantScope, id: Uuid) -> Result<Person, IdentityError> {
    scope.require(Scope::ScimProvision)?;
    let person = load_served(scope, id).await?;
    audit::record(scope, AuditEvent::new("scim.user_read").person(id)).await?;
    Ok(person)
}

pub async fn list_users(
    scope: &TenantScope,
    filter: Option<&str>,
    start_index: u64,
    count: u64,
) -> Result<(u64, Vec<Person>), IdentityError> {
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
    Ok((total, page))
}

pub async fn patch_user(
    scope: &TenantScope,
    id: Uuid,
    operations: &[PatchOperation],
    expected_revision: Option<i32>,
) -> Result<Provisioned, IdentityError> {
    scope.require(Scope::ScimProvision)?;
    if operations.is_empty() || operations.len() > 100 {
        return Err(bad_value("a PatchOp needs 1–100 Operations"));
    }
    let person = load_for_change(scope, id, expected_revision).await?;
    let mut user = ScimUser::of(&person);
    for operation in operations {
        let op = operation.op.to_ascii_lowercase();
        if !matches!(op.as_str(), "add" | "replace" | "remove") {
            return Err(bad_value(format!("unknown op `{}`", operation.op)));
        }
        match &operation.path {
            Some(path) => apply(&mut user, &op, path, operation.value.as_ref())?,
            None => {
                let object = operation
                    .value
                    .as_ref()
                    .and_then(Value::as_object)
                    .ok_or_else(|| {
                        bad_value("an operation without `path` needs an object value")
                    })?;
                for (key, value) in object {
                    apply(&mut user, &op, key, Some(value))?;
                }
            }
        }
    }
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
) -> Result<Provisioned, IdentityError> {
    scope.require(Scope::ScimProvision)?;
    if user.user_name.trim().is_empty() {
        return Err(bad_value("`userName` is required"));
    }
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
/// group (their roles fall back to learner), and SCIM answers 404 for them from now on; the
/// caller ends their sessions (`end_sessions` is always true).
pub async fn delete_user(
    scope: &TenantScope,
    id: Uuid,
    expected_revision: Option<i32>,
) -> Result<Provisioned, IdentityError> {
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
    let roles = if person.source == PersonSource::Scim {
        vec![Role::Learner]
    } else {
        person.roles.clone()
    };
    let person =
        people::set_status_and_roles(scope, &person, PersonStatus::Deactivated, &roles).await?;
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
    Ok(Provisioned {
        person,
        end_sessions: true,
    })
}

async fn is_deprovisioned(scope: &TenantScope, id: Uuid) -> Result<bool, IdentityError> {
    Ok(scim_deprovisioned::Entity::find_by_id(id)
        .one(scope.db())
        .await?
        .is_some())
}

/// A person SCIM still serves: a deprovisioned one is `NotFound`, like one that never was.
async fn load_served(scope: &TenantScope, id: Uuid) -> Result<Person, IdentityError> {
    if is_deprovisioned(scope, id).await? {
        return Err(IdentityError::NotFound("person"));
    }
    people::load(scope, id).await
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
) -> Result<Provisioned, IdentityError> {
    let id = person.id;
    let mut current = person.clone();
    let data = user.data();
    let changed_data = data.name.expose() != person.name.expose()
        || data.username.as_ref().map(|u| u.expose())
            != person.username.as_ref().map(|u| u.expose())
        || data.email.as_ref().map(|e| e.expose()) != person.email.as_ref().map(|e| e.expose())
        || data.phone.as_ref().map(|p| p.expose()) != person.phone.as_ref().map(|p| p.expose());
    if changed_data {
        let mut data = data;
        data.birth_date = people::data_of(&person).birth_date;
        current = people::replace_data(scope, &current, &data)
            .await
            .map_err(scim_error)?;
    }
    let status = if user.active {
        PersonStatus::Active
    } else {
        PersonStatus::Deactivated
    };
    let deactivated = status == PersonStatus::Deactivated && person.status == PersonStatus::Active;
    current = people::set_status_and_roles(scope, &current, status, &current.roles.clone()).await?;
    audit::record(
        scope,
        AuditEvent::new(action)
            .person(id)
            .detail(serde_json::json!({ "active": user.active, "fields_changed": changed_data })),
    )
    .await?;
    Ok(Provisioned {
        person: current,
        end_sessions: deactivated,
    })
}

fn group_view(row: scim_group::Model, members: Vec<Uuid>) -> ScimGroup {
    ScimGroup {
        id: row.id,
        display_name: row.display_name,
        members,
        revision: row.revision,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

async fn members_of(scope: &TenantScope, group_id: Uuid) -> Result<Vec<Uuid>, IdentityError> {
    Ok(scim_group_member::Entity::find()
        .filter(scim_group_member::Column::GroupId.eq(group_id))
        .order_by_asc(scim_group_member::Column::PersonId)
        .all(scope.db())
        .await?
        .into_iter()
        .map(|m| m.person_id)
        .collect())
}

pub async fn get_group(scope: &TenantScope, id: Uuid) -> Result<ScimGroup, IdentityError> {
    scope.require(Scope::ScimProvision)?;
    let row = scim_group::Entity::find_by_id(id)
        .one(scope.db())
        .await?
        .ok_or(IdentityError::NotFound("group"))?;
    let members = members_of(scope, id).await?;
    Ok(group_view(row, members))
}

pub async fn list_groups(
    scope: &TenantScope,
    filter: Option<&str>,
    start_index: u64,
    count: u64,
) -> Result<(u64, Vec<ScimGroup>), IdentityError> {
    scope.require(Scope::ScimProvision)?;
    let mut query = scim_group::Entity::find().order_by_asc(scim_group::Column::Id);
    if let Some(text) = filter {
        let filter = parse_filter(text, &["displayName"])?;
        query = query.filter(scim_group::Column::DisplayName.eq(filter.value));
    }
    let total = query.clone().count(scope.db()).await?;
    let rows = query
        .offset(start_index.saturating_sub(1))
        .limit(count.min(MAX_COUNT))
        .all(scope.db())
        .await?;
    let mut groups = Vec::new();
    for row in rows {
        let members = members_of(scope, row.id).await?;
        groups.push(group_view(row, members));
    }
    Ok((total, groups))
}

/// People whose roles changed because of a membership change; their sessions must end.
pub struct GroupChange {
    pub group: ScimGroup,
    pub roles_changed_for: Vec<Uuid>,
}

async fn sync_roles(scope: &TenantScope, people_ids: &[Uuid]) -> Result<Vec<Uuid>, IdentityError> {
    let mut changed = Vec::new();
    for id in people_ids {
        let person = people::load(scope, *id).await?;
        if person.source != PersonSource::Scim {
            continue;
        }
        let roles = group_roles_of(scope, *id).await?;
        if roles != person.roles {
            people::set_status_and_roles(scope, &person, person.status, &roles).await?;
            changed.push(*id);
        }
    }
    Ok(changed)
}

async fn add_members(
    scope: &TenantScope,
    group_id: Uuid,
    members: &[Uuid],
) -> Result<(), IdentityError> {
    let existing = members_of(scope, group_id).await?;
    for person_id in members {
        if existing.contains(person_id) {
            continue;
        }
        load_served(scope, *person_id)
            .await
            .map_err(|_| bad_value(format!("member {person_id} is not a user here")))?;
        scim_group_member::Entity::insert(scim_group_member::ActiveModel {
            group_id: Set(group_id),
            person_id: Set(*person_id),
        })
        .exec_without_returning(scope.db())
        .await?;
    }
    Ok(())
}

fn member_ids(value: &Value) -> Result<Vec<Uuid>, IdentityError> {
    let items = value
        .as_array()
        .ok_or_else(|| bad_value("`members` must be a list of {\"value\": \"<user id>\"}"))?;
    items
        .iter()
        .map(|m| {
            m["value"]
                .as_str()
                .and_then(|v| Uuid::try_parse(v).ok())
                .ok_or_else(|| bad_value("each member needs a `value` with a user id"))
        })
        .collect()
}

pub async fn create_group(
    scope: &TenantScope,
    display_name: &str,
    members: &[Value],
) -> Result<GroupChange, IdentityError> {
    scope.require(Scope::ScimProvision)?;
    let display_name = display_name.trim();
    if display_name.is_empty() || display_name.chars().count() > 200 {
        return Err(bad_value("`displayName` must be 1–200 characters"));
    }
    let taken = scim_group::Entity::find()
        .filter(scim_group::Column::DisplayName.eq(display_name))
        .one(scope.db())
        .await?;
    if taken.is_some() {
        return Err(IdentityError::ScimInvalid {
            scim_type: "uniqueness",
            detail: "a group with this displayName exists".into(),
        });
    }
    let member_ids = member_ids(&Value::Array(members.to_vec()))?;
    let id = Uuid::now_v7();
    let now = Utc::now();
    scim_group::Entity::insert(scim_group::ActiveModel {
        id: Set(id),
        display_name: Set(display_name.to_string()),
        revision: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .exec_without_returning(scope.db())
    .await?;
    add_members(scope, id, &member_ids).await?;
    let roles_changed_for = sync_roles(scope, &member_ids).await?;
    audit::record(
        scope,
        AuditEvent::new("scim.group_created")
            .subject(format!("group:{id}"))
            .detail(
                serde_json::json!({ "display_name": display_name, "members": member_ids.len() }),
            ),
    )
    .await?;
    Ok(GroupChange {
        group: get_group(scope, id).await?,
        roles_changed_for,
    })
}

pub async fn patch_group(
    scope: &TenantScope,
    id: Uuid,
    operations: &[PatchOperation],
) -> Result<GroupChange, IdentityError> {
    scope.require(Scope::ScimProvision)?;
    let before = get_group(scope, id).await?;
    let mut touched: Vec<Uuid> = Vec::new();
    for operation in operations {
        let op = operation.op.to_ascii_lowercase();
        let path = operation.path.clone().unwrap_or_default();
        let lower = path.to_ascii_lowercase();
        match (op.as_str(), lower.as_str()) {
            ("add", "members") | ("replace", "members") => {
                let ids = member_ids(operation.value.as_ref().unwrap_or(&Value::Null))?;
                if op == "replace" {
                    touched.extend(members_of(scope, id).await?);
                    scim_group_member::Entity::delete_many()
                        .filter(scim_group_member::Column::GroupId.eq(id))
                        .exec(scope.db())
                        .await?;
                }
                add_members(scope, id, &ids).await?;
                touched.extend(ids);
            }
            ("remove", p) if p.starts_with("members") => {
                // `members[value eq "<id>"]`, or `members` with a value list.
                let ids = match p
                    .strip_prefix("members[value eq ")
                    .and_then(|r| r.strip_suffix(']'))
                {
                    Some(quoted) => {
                        let value: String =
                            serde_json::from_str(quoted).map_err(|_| bad_path(&path))?;
                        vec![Uuid::try_parse(&value).map_err(|_| bad_value("not a user id"))?]
                    }
                    None if p == "members" => match &operation.value {
                        Some(v) => member_ids(v)?,
                        None => members_of(scope, id).await?,
                    },
                    None => return Err(bad_path(&path)),
                };
                for person_id in &ids {
                    scim_group_member::Entity::delete_many()
                        .filter(scim_group_member::Column::GroupId.eq(id))
                        .filter(scim_group_member::Column::PersonId.eq(*person_id))
                        .exec(scope.db())
                        .await?;
                }
                touched.extend(ids);
            }
            ("replace", "displayname") => {
                let name = as_string(
                    operation.value.as_ref().unwrap_or(&Value::Null),
                    "displayName",
                )?;
                scim_group::Entity::update_many()
                    .col_expr(
                        scim_group::Column::DisplayName,
                        sea_orm::sea_query::Expr::value(name),
                    )
                    .filter(scim_group::Column::Id.eq(id))
                    .exec(scope.db())
                    .await?;
                touched.extend(before.members.iter().copied());
            }
            _ => return Err(bad_path(&path)),
        }
    }
    scim_group::Entity::update_many()
        .col_expr(
            scim_group::Column::Revision,
            sea_orm::sea_query::Expr::value(before.revision + 1),
        )
        .col_expr(
            scim_group::Column::UpdatedAt,
            sea_orm::sea_query::Expr::value(Utc::now()),
        )
        .filter(scim_group::Column::Id.eq(id))
        .exec(scope.db())
        .await?;
    touched.sort();
    touched.dedup();
    let roles_changed_for = sync_roles(scope, &touched).await?;
    audit::record(
        scope,
        AuditEvent::new("scim.group_patched")
            .subject(format!("group:{id}"))
            .detail(serde_json::json!({ "roles_changed_for": roles_changed_for })),
    )
    .await?;
    Ok(GroupChange {
        group: get_group(scope, id).await?,
        roles_changed_for,
    })
}

pub async fn delete_group(scope: &TenantScope, id: Uuid) -> Result<Vec<Uuid>, IdentityError> {
    scope.require(Scope::ScimProvision)?;
    let group = get_group(scope, id).await?;
    scim_group_member::Entity::delete_many()
        .filter(scim_group_member::Column::GroupId.eq(id))
        .exec(scope.db())
        .await?;
    scim_group::Entity::delete_by_id(id)
        .exec(scope.db())
        .await?;
    let changed = sync_roles(scope, &group.members).await?;
    audit::record(
        scope,
        AuditEvent::new("scim.group_deleted").subject(format!("group:{id}")),
    )
    .await?;
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_equality_on_one_allowed_attribute() {
        assert_eq!(
            parse_filter(r#"userName eq "alice@uni.test""#, &["userName"]).unwrap(),
            EqFilter {
                attribute: "userName".into(),
                value: "alice@uni.test".into()
            }
        );
        assert_eq!(
            parse_filter(r#"username EQ "a \"quoted\" name""#, &["userName"])
                .unwrap()
                .value,
            "a \"quoted\" name"
        );
        for garbage in [
            "",
            "userName",
            r#"userName co "a""#,
            r#"password eq "x""#,
            r#"userName eq alice"#,
            r#"userName eq "a" and active eq true"#,
            "((((",
        ] {
            assert!(parse_filter(garbage, &["userName"]).is_err(), "{garbage}");
        }
    }
}
