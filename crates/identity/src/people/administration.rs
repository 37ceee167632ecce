//! Changes to people by their institution's admins (create, read, list, roles and status)
//! and by the institution's IdP (SCIM pushes of personal fields, status and roles).

use super::normalise_email;
use super::store::{
    check_country, check_data, ensure_unique, insert, load, open, parse_roles, seal_country,
    seal_into, seal_jurisdiction, write_revision,
};
use super::{AdminPatch, NewPerson, Person, PersonSource, PersonStatus, PersonalData, TABLE};
use crate::entities::person;
use crate::error::IdentityError;
use crate::roles::{Role, roles_to_text};
use crate::sessions::{Change, SessionsToEnd};
use chrono::Utc;
use hub_kernel::page::{Page, PageRequest};
use hub_kernel::problem::Violations;
use hub_tenant::audit::{self, AuditEvent};
use hub_tenant::{Scope, TenantScope};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

pub async fn create(scope: &TenantScope, input: NewPerson) -> Result<Person, IdentityError> {
    scope.require(Scope::PeopleWrite)?;
    let person = insert(scope, &input.data, &input.roles, PersonSource::Admin).await?;
    audit::record(
        scope,
        AuditEvent::new("person.created")
            .person(person.id)
            .detail(serde_json::json!({ "roles": roles_to_text(&person.roles) })),
    )
    .await?;
    Ok(person)
}

/// Another person's record: the read is audited.
pub async fn get(scope: &TenantScope, id: Uuid) -> Result<Person, IdentityError> {
    scope.require(Scope::PeopleRead)?;
    let person = load(scope, id).await?;
    audit::record(scope, AuditEvent::new("person.read").person(id)).await?;
    Ok(person)
}

pub async fn list(
    scope: &TenantScope,
    page: &PageRequest,
    email: Option<&str>,
    role: Option<Role>,
) -> Result<Page<Person>, IdentityError> {
    scope.require(Scope::PeopleRead)?;
    let mut query = person::Entity::find()
        .order_by_asc(person::Column::Id)
        .limit(page.fetch_limit());
    if let Some(after) = page.after {
        query = query.filter(person::Column::Id.gt(after));
    }
    if let Some(email) = email {
        let indexes = scope
            .keys()
            .blind_index_candidates(TABLE, "email", &normalise_email(email));
        query = query.filter(person::Column::EmailIndex.is_in(indexes));
    }
    if let Some(role) = role {
        query = query.filter(holds_role(role));
    }
    let rows = query.all(scope.db()).await?;
    let page = Page::from_rows(rows, page, |r| r.id).try_map(|r| open(scope, r))?;
    audit::record_listing(
        scope,
        "people.listed",
        "person_ids",
        page.items.iter().map(|p| p.id),
    )
    .await?;
    Ok(page)
}

/// People holding `role`. Roles are stored space-separated; this matches the whole word.
fn holds_role(role: Role) -> sea_orm::Condition {
    sea_orm::Condition::any()
        .add(person::Column::Roles.eq(role.as_str()))
        .add(person::Column::Roles.like(format!("{} %", role.as_str())))
        .add(person::Column::Roles.like(format!("% {}", role.as_str())))
        .add(person::Column::Roles.like(format!("% {} %", role.as_str())))
}

/// The active people holding `role`, oldest first, without a scope check or an audit entry:
/// for the service's own notices to them (e.g. the admins told of an incident).
pub(crate) async fn active_with_role(
    scope: &TenantScope,
    role: Role,
) -> Result<Vec<Person>, IdentityError> {
    person::Entity::find()
        .filter(holds_role(role))
        .filter(person::Column::Status.eq(PersonStatus::Active.as_str()))
        .order_by_asc(person::Column::Id)
        .all(scope.db())
        .await?
        .into_iter()
        .map(|r| open(scope, r))
        .collect()
}

/// The restriction rule (R3), the one place every change by an admin, the IdP (SCIM users and
/// groups) or an access review goes through: while processing of a person's data is
/// restricted, nobody but a privacy officer (lifting the restriction, which
/// [`super::PeopleSource`] writes itself) may reactivate them, grant them a role or change
/// their record. What only lessens processing stays allowed: keeping them deactivated, and
/// taking roles away (a reviewer's revocation, an IdP's deprovisioning), so an IdP or a
/// review never fails over a person who is already frozen.
fn refuse_if_restricted(
    before: &Person,
    status: PersonStatus,
    roles: &[Role],
    changes_record: bool,
) -> Result<(), IdentityError> {
    if before.restricted_at.is_none() {
        return Ok(());
    }
    // Falling back to the learner role alone (an IdP's deprovisioning, the last group left)
    // is the baseline every person has, not a grant.
    let grants = roles != [Role::Learner] && roles.iter().any(|r| !before.roles.contains(r));
    if status == PersonStatus::Active || grants || changes_record {
        return Err(IdentityError::PersonRestricted);
    }
    Ok(())
}

/// The rule of [`crate::sessions::SessionsToEnd`]: a change of roles, or a deactivation, ends
/// the person's sessions (they carry the scopes granted at sign-in).
fn note_ending(
    before: &Person,
    status: PersonStatus,
    roles: &[Role],
    ending: &mut SessionsToEnd,
) -> bool {
    let ends = roles != before.roles.as_slice()
        || (status == PersonStatus::Deactivated && before.status != PersonStatus::Deactivated);
    if ends {
        ending.add(before.id);
    }
    ends
}

/// Changes roles, status, the person's jurisdiction or country; a change of roles or a
/// deactivation ends the person's sessions when the change is committed
/// ([`crate::Identity::commit`]).
pub async fn administer(
    scope: &TenantScope,
    id: Uuid,
    patch: AdminPatch,
    expected_revision: Option<i32>,
) -> Result<Change<Person>, IdentityError> {
    scope.require(Scope::PeopleWrite)?;
    let mut v = Violations::new();
    let roles = patch.roles.as_ref().map(|r| parse_roles(&mut v, r));
    if let Some(Some(country)) = &patch.country {
        check_country(&mut v, country.expose());
    }
    v.finish().map_err(IdentityError::Invalid)?;
    let current = load(scope, id).await?;
    if let Some(expected) = expected_revision
        && current.revision != expected
    {
        return Err(IdentityError::RevisionMismatch {
            current: current.revision,
        });
    }
    let status = patch.status.unwrap_or(current.status);
    let new_roles = roles.as_deref().unwrap_or(&current.roles);
    let changes_record = patch.jurisdiction.is_some() || patch.country.is_some();
    refuse_if_restricted(&current, status, new_roles, changes_record)?;
    let mut row = person::ActiveModel {
        revision: Set(current.revision + 1),
        updated_at: Set(Utc::now()),
        ..Default::default()
    };
    let mut ending = SessionsToEnd::default();
    let sessions_end = note_ending(&current, status, new_roles, &mut ending);
    if let Some(roles) = &roles {
        row.roles = Set(roles_to_text(roles));
    }
    if let Some(status) = patch.status {
        row.status = Set(status.as_str().to_string());
    }
    if let Some(jurisdiction) = patch.jurisdiction {
        seal_jurisdiction(&mut row, scope, id, jurisdiction);
    }
    if let Some(country) = &patch.country {
        seal_country(
            &mut row,
            scope,
            id,
            country.as_ref().map(|c| c.expose().as_str()),
        );
    }
    write_revision(scope, id, current.revision, row).await?;
    let person = load(scope, id).await?;
    audit::record(
        scope,
        AuditEvent::new("person.administered")
            .person(id)
            .detail(serde_json::json!({
                "roles": roles_to_text(&person.roles),
                "status": person.status.as_str(),
                "jurisdiction_changed": patch.jurisdiction.is_some(),
                "country_changed": patch.country.is_some(),
                "sessions_ended": sessions_end,
            })),
    )
    .await?;
    Ok(Change::new(person, ending))
}

/// Replaces a person's personal fields as their IdP asserts them (SCIM), keeping the rest.
pub(crate) async fn replace_data(
    scope: &TenantScope,
    person: &Person,
    data: &PersonalData,
) -> Result<Person, IdentityError> {
    refuse_if_restricted(person, person.status, &person.roles, true)?;
    let mut v = Violations::new();
    let checked = check_data(&mut v, data);
    v.finish().map_err(IdentityError::Invalid)?;
    ensure_unique(scope, &checked, Some(person.id)).await?;
    let mut row = person::ActiveModel {
        revision: Set(person.revision + 1),
        updated_at: Set(Utc::now()),
        ..Default::default()
    };
    seal_into(&mut row, scope, person.id, &checked);
    write_revision(scope, person.id, person.revision, row).await?;
    load(scope, person.id).await
}

/// Sets status and roles without the admin scope check (SCIM pushes, access reviews); notes
/// in `ending` the person whose sessions must end for it.
pub(crate) async fn set_status_and_roles(
    scope: &TenantScope,
    person: &Person,
    status: PersonStatus,
    roles: &[Role],
    ending: &mut SessionsToEnd,
) -> Result<Person, IdentityError> {
    if status == person.status && roles == person.roles.as_slice() {
        return Ok(person.clone());
    }
    refuse_if_restricted(person, status, roles, false)?;
    note_ending(person, status, roles, ending);
    let row = person::ActiveModel {
        status: Set(status.as_str().to_string()),
        roles: Set(roles_to_text(roles)),
        revision: Set(person.revision + 1),
        updated_at: Set(Utc::now()),
        ..Default::default()
    };
    write_revision(scope, person.id, person.revision, row).await?;
    load(scope, person.id).await
}

/// A new revision of the person with nothing of theirs changed: what SCIM stores beside the
/// record changed, and the resource's version must say so.
pub(crate) async fn touch(scope: &TenantScope, person: &Person) -> Result<Person, IdentityError> {
    refuse_if_restricted(person, person.status, &person.roles, true)?;
    let row = person::ActiveModel {
        revision: Set(person.revision + 1),
        updated_at: Set(Utc::now()),
        ..Default::default()
    };
    write_revision(scope, person.id, person.revision, row).await?;
    load(scope, person.id).await
}

/// Checks personal fields as [`insert`] and [`replace_data`] will, without writing: so a
/// caller can refuse a bad value before it looks anything up.
pub(crate) fn validate(data: &PersonalData) -> Result<(), IdentityError> {
    let mut v = Violations::new();
    check_data(&mut v, data);
    v.finish().map_err(IdentityError::Invalid)
}
