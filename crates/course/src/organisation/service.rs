//! Organisational units and affiliations, each inside the caller's [`TenantScope`] (the
//! caller commits).

use super::entity::{affiliation, org_unit};
use crate::catalog::model::{CODE_PATTERN, MAX_CODE, MAX_TITLE};
use crate::{CourseError, ORG_UNITS_READ, ORG_UNITS_WRITE};
use chrono::{DateTime, Utc};
use hub_kernel::FieldViolation;
use hub_kernel::page::{Page, PageRequest};
use hub_kernel::problem::Violations;
use hub_tenant::audit::{self, AuditEvent};
use hub_tenant::{Tenancy, TenantScope};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, SqlErr,
};
use uuid::Uuid;

/// The deepest a unit may sit below a root (a guard against cycles, too).
pub const MAX_DEPTH: usize = 20;
/// A unit's name, in characters.
pub const MAX_NAME: usize = MAX_TITLE;
/// A unit's code: what a course code allows.
pub const UNIT_CODE_PATTERN: &str = CODE_PATTERN;
pub const MAX_UNIT_CODE: usize = MAX_CODE;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgUnit {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    pub parent_id: Option<Uuid>,
    pub revision: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewOrgUnit {
    pub code: String,
    pub name: String,
    pub parent_id: Option<Uuid>,
}

/// `None` leaves a field; `parent_id: Some(None)` makes the unit a root.
#[derive(Debug, Clone, Default)]
pub struct OrgUnitPatch {
    pub code: Option<String>,
    pub name: Option<String>,
    pub parent_id: Option<Option<Uuid>>,
}

/// A person's unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Affiliation {
    pub person_id: Uuid,
    pub org_unit_id: Uuid,
    pub updated_at: DateTime<Utc>,
}

fn from_row(row: org_unit::Model) -> OrgUnit {
    OrgUnit {
        id: row.id,
        code: row.code,
        name: row.name,
        parent_id: row.parent_id,
        revision: row.revision,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

fn check_code(v: &mut Violations, code: &str) {
    v.check(
        (1..=MAX_UNIT_CODE).contains(&code.len())
            && code
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')),
        "code",
        "1 to 40 characters: letters, digits, '-', '_' or '.'",
    );
}

fn check_name(v: &mut Violations, name: &str) {
    v.check(
        !name.trim().is_empty()
            && name.chars().count() <= MAX_NAME
            && !name.chars().any(char::is_control),
        "name",
        "1 to 200 characters without control characters",
    );
}

fn code_taken(error: sea_orm::DbErr, code: &str) -> CourseError {
    match error.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => CourseError::OrgUnitCodeTaken(code.into()),
        _ => CourseError::Database(error),
    }
}

async fn load(scope: &TenantScope, id: Uuid) -> Result<OrgUnit, CourseError> {
    org_unit::Entity::find_by_id(id)
        .one(scope.db())
        .await?
        .map(from_row)
        .ok_or(CourseError::OrgUnitNotFound)
}

/// Checks that `parent` exists and that putting `unit` under it (`None`: a new unit) makes
/// no cycle and no tree deeper than [`MAX_DEPTH`].
async fn check_parent(
    scope: &TenantScope,
    unit: Option<Uuid>,
    parent: Uuid,
) -> Result<(), CourseError> {
    let invalid = |why: &str| CourseError::Invalid(vec![FieldViolation::new("parent_id", why)]);
    let mut at = Some(parent);
    let mut depth = 0;
    while let Some(id) = at {
        if Some(id) == unit {
            return Err(invalid("a unit cannot be placed below itself"));
        }
        depth += 1;
        if depth > MAX_DEPTH {
            return Err(invalid("units nest at most 20 deep"));
        }
        let row = org_unit::Entity::find_by_id(id).one(scope.db()).await?;
        match row {
            Some(row) => at = row.parent_id,
            None if id == parent => return Err(invalid("no such organisational unit")),
            None => at = None,
        }
    }
    Ok(())
}

async fn taken(scope: &TenantScope, code: &str, except: Option<Uuid>) -> Result<bool, CourseError> {
    let mut query = org_unit::Entity::find().filter(org_unit::Column::Code.eq(code));
    if let Some(id) = except {
        query = query.filter(org_unit::Column::Id.ne(id));
    }
    Ok(query.one(scope.db()).await?.is_some())
}

pub async fn create(scope: &TenantScope, input: NewOrgUnit) -> Result<OrgUnit, CourseError> {
    scope.require(ORG_UNITS_WRITE)?;
    let mut v = Violations::new();
    check_code(&mut v, &input.code);
    check_name(&mut v, &input.name);
    v.finish().map_err(CourseError::Invalid)?;
    if let Some(parent) = input.parent_id {
        check_parent(scope, None, parent).await?;
    }
    if taken(scope, &input.code, None).await? {
        return Err(CourseError::OrgUnitCodeTaken(input.code));
    }
    let id = Uuid::now_v7();
    let now = Utc::now();
    org_unit::Entity::insert(org_unit::ActiveModel {
        id: Set(id),
        code: Set(input.code.clone()),
        name: Set(input.name.trim().to_string()),
        parent_id: Set(input.parent_id),
        revision: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .exec_without_returning(scope.db())
    .await
    .map_err(|e| code_taken(e, &input.code))?;
    load(scope, id).await
}

pub async fn get(scope: &TenantScope, id: Uuid) -> Result<OrgUnit, CourseError> {
    scope.require(ORG_UNITS_READ)?;
    load(scope, id).await
}

/// Units oldest first; `parent` narrows to the children of one unit.
pub async fn list(
    scope: &TenantScope,
    page: &PageRequest,
    parent: Option<Uuid>,
) -> Result<Page<OrgUnit>, CourseError> {
    scope.require(ORG_UNITS_READ)?;
    let mut query = org_unit::Entity::find()
        .order_by_asc(org_unit::Column::Id)
        .limit(page.fetch_limit());
    if let Some(after) = page.after {
        query = query.filter(org_unit::Column::Id.gt(after));
    }
    if let Some(parent) = parent {
        query = query.filter(org_unit::Column::ParentId.eq(parent));
    }
    let rows = query.all(scope.db()).await?;
    Ok(Page::from_rows(rows, page, |r| r.id).map(from_row))
}

pub async fn update(
    scope: &TenantScope,
    id: Uuid,
    patch: OrgUnitPatch,
    expected_revision: Option<i32>,
) -> Result<OrgUnit, CourseError> {
    scope.require(ORG_UNITS_WRITE)?;
    let mut v = Violations::new();
    if let Some(code) = &patch.code {
        check_code(&mut v, code);
    }
    if let Some(name) = &patch.name {
        check_name(&mut v, name);
    }
    v.finish().map_err(CourseError::Invalid)?;
    let current = load(scope, id).await?;
    if let Some(expected) = expected_revision
        && expected != current.revision
    {
        return Err(CourseError::RevisionMismatch {
            current: current.revision,
        });
    }
    if let Some(Some(parent)) = patch.parent_id {
        check_parent(scope, Some(id), parent).await?;
    }
    let code = patch.code.unwrap_or(current.code);
    if taken(scope, &code, Some(id)).await? {
        return Err(CourseError::OrgUnitCodeTaken(code));
    }
    let changed = org_unit::Entity::update_many()
        .set(org_unit::ActiveModel {
            code: Set(code.clone()),
            name: Set(patch
                .name
                .map(|n| n.trim().to_string())
                .unwrap_or(current.name)),
            parent_id: Set(patch.parent_id.unwrap_or(current.parent_id)),
            revision: Set(current.revision + 1),
            updated_at: Set(Utc::now()),
            ..Default::default()
        })
        .filter(org_unit::Column::Id.eq(id))
        .filter(org_unit::Column::Revision.eq(current.revision))
        .exec(scope.db())
        .await
        .map_err(|e| code_taken(e, &code))?;
    if changed.rows_affected == 0 {
        return Err(CourseError::RevisionMismatch {
            current: current.revision + 1,
        });
    }
    load(scope, id).await
}

/// Deletes a unit that has no sub-units and no people.
pub async fn delete(
    scope: &TenantScope,
    id: Uuid,
    expected_revision: Option<i32>,
) -> Result<(), CourseError> {
    scope.require(ORG_UNITS_WRITE)?;
    let current = load(scope, id).await?;
    if let Some(expected) = expected_revision
        && expected != current.revision
    {
        return Err(CourseError::RevisionMismatch {
            current: current.revision,
        });
    }
    let children = org_unit::Entity::find()
        .filter(org_unit::Column::ParentId.eq(id))
        .count(scope.db())
        .await?;
    let people = affiliation::Entity::find()
        .filter(affiliation::Column::OrgUnitId.eq(id))
        .count(scope.db())
        .await?;
    if children + people > 0 {
        return Err(CourseError::OrgUnitInUse);
    }
    org_unit::Entity::delete_by_id(id).exec(scope.db()).await?;
    Ok(())
}

/// Places a person in a unit (replacing their previous one).
pub async fn set_affiliation(
    tenancy: &Tenancy,
    scope: &TenantScope,
    person_id: Uuid,
    unit: Uuid,
) -> Result<Affiliation, CourseError> {
    scope.require(ORG_UNITS_WRITE)?;
    if tenancy.person(scope, person_id).await?.is_none() {
        return Err(CourseError::PersonNotFound);
    }
    if org_unit::Entity::find_by_id(unit)
        .one(scope.db())
        .await?
        .is_none()
    {
        return Err(CourseError::Invalid(vec![FieldViolation::new(
            "org_unit_id",
            "no such organisational unit",
        )]));
    }
    let now = Utc::now();
    let existing = affiliation::Entity::find_by_id(person_id)
        .one(scope.db())
        .await?;
    let row = affiliation::ActiveModel {
        person_id: Set(person_id),
        org_unit_id: Set(unit),
        assigned_by: Set(scope.actor_label()),
        updated_at: Set(now),
    };
    if existing.is_some() {
        affiliation::Entity::update(row).exec(scope.db()).await?;
    } else {
        affiliation::Entity::insert(row)
            .exec_without_returning(scope.db())
            .await?;
    }
    audit::record(
        scope,
        AuditEvent::new("org_unit.affiliation_set")
            .person(person_id)
            .detail(serde_json::json!({ "org_unit_id": unit })),
    )
    .await?;
    Ok(Affiliation {
        person_id,
        org_unit_id: unit,
        updated_at: now,
    })
}

/// A person's unit (`None`: they have none); an unknown person is `person_not_found`.
pub async fn affiliation_of(
    tenancy: &Tenancy,
    scope: &TenantScope,
    person_id: Uuid,
) -> Result<Option<Affiliation>, CourseError> {
    scope.require(ORG_UNITS_READ)?;
    if tenancy.person(scope, person_id).await?.is_none() {
        return Err(CourseError::PersonNotFound);
    }
    // A read of another person's affiliation (S2).
    audit::record(scope, AuditEvent::new("affiliation.read").person(person_id)).await?;
    Ok(affiliation::Entity::find_by_id(person_id)
        .one(scope.db())
        .await?
        .map(|row| Affiliation {
            person_id: row.person_id,
            org_unit_id: row.org_unit_id,
            updated_at: row.updated_at,
        }))
}

pub async fn clear_affiliation(scope: &TenantScope, person_id: Uuid) -> Result<(), CourseError> {
    scope.require(ORG_UNITS_WRITE)?;
    let removed = affiliation::Entity::delete_by_id(person_id)
        .exec(scope.db())
        .await?;
    if removed.rows_affected == 0 {
        return Err(CourseError::OrgUnitNotFound);
    }
    audit::record(
        scope,
        AuditEvent::new("org_unit.affiliation_cleared").person(person_id),
    )
    .await?;
    Ok(())
}

/// The people affiliated with `unit` or any unit below it (an unknown unit is a field
/// error: `org_unit`).
pub(crate) async fn people_in_unit_tree(
    scope: &TenantScope,
    unit: Uuid,
) -> Result<Vec<Uuid>, CourseError> {
    if org_unit::Entity::find_by_id(unit)
        .one(scope.db())
        .await?
        .is_none()
    {
        return Err(CourseError::Invalid(vec![FieldViolation::new(
            "org_unit",
            "no such organisational unit",
        )]));
    }
    let edges: Vec<(Uuid, Option<Uuid>)> = org_unit::Entity::find()
        .select_only()
        .column(org_unit::Column::Id)
        .column(org_unit::Column::ParentId)
        .into_tuple()
        .all(scope.db())
        .await?;
    let mut tree = vec![unit];
    let mut i = 0;
    while i < tree.len() {
        let at = tree[i];
        for (child, parent) in &edges {
            if *parent == Some(at) && !tree.contains(child) {
                tree.push(*child);
            }
        }
        i += 1;
    }
    Ok(affiliation::Entity::find()
        .select_only()
        .column(affiliation::Column::PersonId)
        .filter(affiliation::Column::OrgUnitId.is_in(tree))
        .into_tuple::<Uuid>()
        .all(scope.db())
        .await?)
}
