//! Catalog operations. Each runs inside the caller's [`TenantScope`]; the caller commits.

use super::entity;
use super::model::{Course, CourseFilter, CoursePatch, CourseStatus, NewCourse, is_valid_tag};
use super::prerequisites;
use crate::CourseError;
use chrono::Utc;
use hub_kernel::page::{Page, PageRequest};
use hub_tenant::idempotency::{self, IdempotencyKey};
use hub_tenant::{Scope, Tenancy, TenantScope};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    SqlErr,
};
use uuid::Uuid;

const CREATE_OPERATION: &str = "course.create";

pub(crate) fn from_row(row: entity::Model) -> Course {
    Course {
        id: row.id,
        code: row.code,
        title: row.title,
        description: row.description,
        // Only validated statuses are ever written.
        status: CourseStatus::parse(&row.status).unwrap_or(CourseStatus::Draft),
        tags: serde_json::from_str(&row.tags).unwrap_or_default(),
        minimum_age: row.minimum_age,
        restricted_content: row.restricted_content,
        seat_limit: row.seat_limit,
        certificate_deadline: row.certificate_deadline,
        prerequisites: Vec::new(),
        revision: row.revision,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

fn tags_json(tags: &[String]) -> String {
    serde_json::to_string(tags).unwrap_or_else(|_| "[]".into())
}

fn code_taken(error: sea_orm::DbErr, code: &str) -> CourseError {
    match error.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => CourseError::CodeTaken(code.to_string()),
        _ => CourseError::Database(error),
    }
}

/// Creates a course. With an idempotency key, a retry of the same request returns the course
/// the first attempt created (and `false` for "newly created").
pub async fn create(
    scope: &TenantScope,
    input: NewCourse,
    idempotency_key: Option<&str>,
) -> Result<(Course, bool), CourseError> {
    scope.require(Scope::CoursesWrite)?;
    input.validate()?;
    prerequisites::check(scope, None, &input.prerequisites).await?;
    let key = idempotency_key
        .map(|k| IdempotencyKey::new(k, CREATE_OPERATION, &input))
        .transpose()?;
    if let Some(key) = &key
        && let Some(existing) = idempotency::replayed(scope, key).await?
    {
        return Ok((get(scope, existing).await?, false));
    }
    let taken = entity::Entity::find()
        .filter(entity::Column::Code.eq(&input.code))
        .one(scope.db())
        .await?;
    if taken.is_some() {
        return Err(CourseError::CodeTaken(input.code));
    }
    let id = Uuid::now_v7();
    let now = Utc::now();
    entity::Entity::insert(entity::ActiveModel {
        id: Set(id),
        code: Set(input.code.clone()),
        title: Set(input.title.trim().to_string()),
        description: Set(input.description.clone()),
        status: Set(input.status.as_str().to_string()),
        tags: Set(tags_json(&input.tags)),
        minimum_age: Set(input.minimum_age),
        restricted_content: Set(input.restricted_content),
        seat_limit: Set(input.seat_limit),
        certificate_deadline: Set(input.certificate_deadline),
        revision: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .exec_without_returning(scope.db())
    .await
    .map_err(|e| code_taken(e, &input.code))?;
    prerequisites::set(scope, id, &input.prerequisites).await?;
    if let Some(key) = &key {
        idempotency::remember(scope, key, id).await?;
    }
    Ok((get(scope, id).await?, true))
}

/// What of the catalogue a person may see (A1): a minor sees no course with restricted
/// content and none whose minimum age is above theirs. Everyone else (adults, people whose
/// age is not known, API keys) sees every course.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Audience {
    /// `Some(age)` for a minor.
    minor_aged: Option<u32>,
}

impl Audience {
    /// The audience a person is, asked of the minors port ([`Tenancy::minor_status`]).
    pub async fn of_person(
        tenancy: &Tenancy,
        scope: &TenantScope,
        person: Uuid,
    ) -> Result<Self, CourseError> {
        let status = tenancy.minor_status(scope, person, Utc::now()).await?;
        Ok(Self {
            minor_aged: if status.minor { status.age } else { None },
        })
    }

    /// The audience of whoever acts in this scope (a person, or none for an API key).
    pub async fn of_caller(tenancy: &Tenancy, scope: &TenantScope) -> Result<Self, CourseError> {
        match scope.actor().and_then(|a| a.person_id()) {
            Some(person) => Self::of_person(tenancy, scope, person).await,
            None => Ok(Self::default()),
        }
    }

    /// The condition a course row must meet to be visible (part of every catalogue query).
    pub(crate) fn condition(&self) -> Condition {
        match self.minor_aged {
            None => Condition::all(),
            Some(age) => Condition::all()
                .add(entity::Column::RestrictedContent.eq(false))
                .add(
                    Condition::any()
                        .add(entity::Column::MinimumAge.is_null())
                        .add(entity::Column::MinimumAge.lte(i32::try_from(age).unwrap_or(0))),
                ),
        }
    }

    /// Whether a course is visible (for a course already loaded, e.g. by enrollment).
    pub fn admits(&self, course: &Course) -> bool {
        match self.minor_aged {
            None => true,
            Some(age) => {
                !course.restricted_content
                    && course
                        .minimum_age
                        .is_none_or(|min| i64::from(min) <= i64::from(age))
            }
        }
    }
}

/// A course as the caller may see it: one hidden from them (A1) answers like an unknown
/// one (404).
pub async fn get_visible(
    tenancy: &Tenancy,
    scope: &TenantScope,
    id: Uuid,
) -> Result<Course, CourseError> {
    scope.require(Scope::CoursesRead)?;
    course_for(tenancy, scope, id).await
}

/// The one catalogue decision (A1) every learner-facing read or write naming a course goes
/// through: the course, if the caller's [`Audience`] may see it; otherwise (restricted
/// content, or a minimum age above a minor's) `NotFound`, exactly as for an unknown course,
/// so nothing tells a minor the course exists. The caller checked its scope.
pub async fn course_for(
    tenancy: &Tenancy,
    scope: &TenantScope,
    course_id: Uuid,
) -> Result<Course, CourseError> {
    let audience = Audience::of_caller(tenancy, scope).await?;
    visible_to(scope, audience, course_id).await
}

/// [`course_for`] with the audience of a given person rather than of the caller (records
/// about a person made by someone else, e.g. an xAPI statement sent by a learning tool).
pub async fn course_for_person(
    tenancy: &Tenancy,
    scope: &TenantScope,
    person_id: Uuid,
    course_id: Uuid,
) -> Result<Course, CourseError> {
    let audience = Audience::of_person(tenancy, scope, person_id).await?;
    visible_to(scope, audience, course_id).await
}

async fn visible_to(
    scope: &TenantScope,
    audience: Audience,
    course_id: Uuid,
) -> Result<Course, CourseError> {
    let course = entity::Entity::find_by_id(course_id)
        .filter(audience.condition())
        .one(scope.db())
        .await?
        .map(from_row)
        .ok_or(CourseError::NotFound)?;
    with_prerequisites(scope, course).await
}

async fn with_prerequisites(
    scope: &TenantScope,
    mut course: Course,
) -> Result<Course, CourseError> {
    course.prerequisites = prerequisites::of(scope, course.id).await?;
    Ok(course)
}

pub async fn get(scope: &TenantScope, id: Uuid) -> Result<Course, CourseError> {
    scope.require(Scope::CoursesRead)?;
    let course = entity::Entity::find_by_id(id)
        .one(scope.db())
        .await?
        .map(from_row)
        .ok_or(CourseError::NotFound)?;
    with_prerequisites(scope, course).await
}

/// The catalogue as the caller may see it (filters, tag search and pages all within what
/// their [`Audience`] admits).
pub async fn list(
    tenancy: &Tenancy,
    scope: &TenantScope,
    page: &PageRequest,
    filter: &CourseFilter,
) -> Result<Page<Course>, CourseError> {
    scope.require(Scope::CoursesRead)?;
    let audience = Audience::of_caller(tenancy, scope).await?;
    let mut query = entity::Entity::find()
        .filter(audience.condition())
        .order_by_asc(entity::Column::Id)
        .limit(page.fetch_limit());
    if let Some(after) = page.after {
        query = query.filter(entity::Column::Id.gt(after));
    }
    if let Some(status) = filter.status {
        query = query.filter(entity::Column::Status.eq(status.as_str()));
    }
    if let Some(code) = &filter.code {
        query = query.filter(entity::Column::Code.eq(code.as_str()));
    }
    if let Some(tag) = &filter.tag {
        if !is_valid_tag(tag) {
            return Err(CourseError::Invalid(vec![hub_kernel::FieldViolation::new(
                "tag",
                "1 to 40 characters: lower-case letters, digits and '-'",
            )]));
        }
        // Safe: a valid tag holds no quote or LIKE wildcard.
        query = query.filter(entity::Column::Tags.contains(format!("\"{tag}\"")));
    }
    let rows = query.all(scope.db()).await?;
    let mut found = Page::from_rows(rows, page, |r| r.id).map(from_row);
    let ids: Vec<Uuid> = found.items.iter().map(|c| c.id).collect();
    let mut named = prerequisites::of_many(scope, &ids).await?;
    for course in &mut found.items {
        course.prerequisites = named.remove(&course.id).unwrap_or_default();
    }
    Ok(found)
}

/// Applies a patch when `expected_revision` (from `If-Match`) still holds.
pub async fn update(
    scope: &TenantScope,
    id: Uuid,
    patch: CoursePatch,
    expected_revision: Option<i32>,
) -> Result<Course, CourseError> {
    scope.require(Scope::CoursesWrite)?;
    patch.validate()?;
    let current = get(scope, id).await?;
    if let Some(expected) = expected_revision
        && current.revision != expected
    {
        return Err(CourseError::RevisionMismatch {
            current: current.revision,
        });
    }
    if let Some(wanted) = &patch.prerequisites {
        prerequisites::check(scope, Some(id), wanted).await?;
    }
    let code = patch.code.unwrap_or(current.code);
    let changes = entity::ActiveModel {
        code: Set(code.clone()),
        title: Set(patch
            .title
            .map(|t| t.trim().to_string())
            .unwrap_or(current.title)),
        description: Set(patch.description.unwrap_or(current.description)),
        status: Set(patch.status.unwrap_or(current.status).as_str().to_string()),
        tags: Set(tags_json(&patch.tags.unwrap_or(current.tags))),
        minimum_age: Set(patch.minimum_age.unwrap_or(current.minimum_age)),
        restricted_content: Set(patch
            .restricted_content
            .unwrap_or(current.restricted_content)),
        seat_limit: Set(patch.seat_limit.unwrap_or(current.seat_limit)),
        certificate_deadline: Set(patch
            .certificate_deadline
            .unwrap_or(current.certificate_deadline)),
        revision: Set(current.revision + 1),
        updated_at: Set(Utc::now()),
        ..Default::default()
    };
    let clash = entity::Entity::find()
        .filter(entity::Column::Code.eq(&code))
        .filter(entity::Column::Id.ne(id))
        .one(scope.db())
        .await?;
    if clash.is_some() {
        return Err(CourseError::CodeTaken(code));
    }
    let result = entity::Entity::update_many()
        .set(changes)
        .filter(entity::Column::Id.eq(id))
        .filter(entity::Column::Revision.eq(current.revision))
        .exec(scope.db())
        .await
        .map_err(|e| code_taken(e, &code))?;
    if result.rows_affected == 0 {
        return Err(CourseError::RevisionMismatch {
            current: current.revision + 1,
        });
    }
    if let Some(wanted) = &patch.prerequisites {
        prerequisites::set(scope, id, wanted).await?;
    }
    get(scope, id).await
}

pub async fn delete(
    scope: &TenantScope,
    id: Uuid,
    expected_revision: Option<i32>,
) -> Result<(), CourseError> {
    scope.require(Scope::CoursesWrite)?;
    let current = get(scope, id).await?;
    if let Some(expected) = expected_revision
        && expected != current.revision
    {
        return Err(CourseError::RevisionMismatch {
            current: current.revision,
        });
    }
    // Learning records outlive a course only as records of a course that exists: one that
    // has enrollments is archived, not deleted.
    if crate::enrollment::store::has_enrollments(scope, id).await? {
        return Err(CourseError::CourseHasEnrollments);
    }
    // Another course's rule reads it: deleting it would change that rule unseen.
    if prerequisites::is_named(scope, id).await? {
        return Err(CourseError::CourseIsPrerequisite);
    }
    entity::Entity::delete_by_id(id).exec(scope.db()).await?;
    crate::enrollment::store::forget_course(scope, id).await?;
    prerequisites::forget_own(scope, id).await?;
    Ok(())
}
