//! A course's prerequisites: the `course_prerequisites` table (course ids only, not personal
//! data), the check a new list goes through, and the reads the catalog and the
//! `enrollment_refused` rule of [`crate::decisions`] make. Each runs inside the caller's
//! [`TenantScope`], so a course id of another institution is simply not found.

use super::entity as course;
use crate::CourseError;
use hub_kernel::FieldViolation;
use hub_tenant::TenantScope;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
};
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

pub(crate) mod entity {
    use sea_orm::entity::prelude::*;

    /// One prerequisite of a course; `position` keeps the order it was given in.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "course_prerequisites")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub course_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub prerequisite_course_id: Uuid,
        pub position: i32,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The prerequisites of a course, in their order.
pub(crate) async fn of(scope: &TenantScope, course_id: Uuid) -> Result<Vec<Uuid>, CourseError> {
    Ok(entity::Entity::find()
        .filter(entity::Column::CourseId.eq(course_id))
        .order_by_asc(entity::Column::Position)
        .all(scope.db())
        .await?
        .into_iter()
        .map(|r| r.prerequisite_course_id)
        .collect())
}

/// The prerequisites of several courses at once (a page of the catalogue).
pub(crate) async fn of_many(
    scope: &TenantScope,
    course_ids: &[Uuid],
) -> Result<BTreeMap<Uuid, Vec<Uuid>>, CourseError> {
    let mut found: BTreeMap<Uuid, Vec<Uuid>> = BTreeMap::new();
    if course_ids.is_empty() {
        return Ok(found);
    }
    let rows = entity::Entity::find()
        .filter(entity::Column::CourseId.is_in(course_ids.iter().copied()))
        .order_by_asc(entity::Column::CourseId)
        .order_by_asc(entity::Column::Position)
        .all(scope.db())
        .await?;
    for row in rows {
        found
            .entry(row.course_id)
            .or_default()
            .push(row.prerequisite_course_id);
    }
    Ok(found)
}

/// Whether another course names this one as a prerequisite.
pub(crate) async fn is_named(scope: &TenantScope, course_id: Uuid) -> Result<bool, CourseError> {
    Ok(entity::Entity::find()
        .filter(entity::Column::PrerequisiteCourseId.eq(course_id))
        .count(scope.db())
        .await?
        > 0)
}

/// Checks a prerequisite list against the catalog (its shape was checked already): each is
/// a course of this institution (`prerequisites[i]`: "no such course"), not the course
/// itself, and does not need the course first, directly or through its own prerequisites
/// (a cycle no learner could ever enter). `course_id` is `None` for a course being created
/// (nothing can name it yet, so no cycle).
pub(crate) async fn check(
    scope: &TenantScope,
    course_id: Option<Uuid>,
    wanted: &[Uuid],
) -> Result<(), CourseError> {
    let mut violations = Vec::new();
    for (i, id) in wanted.iter().enumerate() {
        let field = format!("prerequisites[{i}]");
        if Some(*id) == course_id {
            violations.push(FieldViolation::new(
                field,
                "a course is not its own prerequisite",
            ));
        } else if course::Entity::find_by_id(*id)
            .one(scope.db())
            .await?
            .is_none()
        {
            violations.push(FieldViolation::new(
                field,
                "no such course in this institution",
            ));
        } else if let Some(course_id) = course_id
            && needs(scope, *id, course_id).await?
        {
            violations.push(FieldViolation::new(
                field,
                "that course needs this one first (directly or through its prerequisites): \
                 a cycle",
            ));
        }
    }
    if violations.is_empty() {
        Ok(())
    } else {
        Err(CourseError::Invalid(violations))
    }
}

/// Whether `from` needs `target` first: `target` is among its prerequisites, theirs, and
/// so on (a walk of the stored graph, one query per level, each course visited once).
async fn needs(scope: &TenantScope, from: Uuid, target: Uuid) -> Result<bool, CourseError> {
    let mut seen = BTreeSet::from([from]);
    let mut level = vec![from];
    while !level.is_empty() {
        let next: Vec<Uuid> = entity::Entity::find()
            .filter(entity::Column::CourseId.is_in(level))
            .all(scope.db())
            .await?
            .into_iter()
            .map(|r| r.prerequisite_course_id)
            .filter(|id| seen.insert(*id))
            .collect();
        if next.contains(&target) {
            return Ok(true);
        }
        level = next;
    }
    Ok(false)
}

/// Replaces a course's prerequisites (checked already).
pub(crate) async fn set(
    scope: &TenantScope,
    course_id: Uuid,
    prerequisites: &[Uuid],
) -> Result<(), CourseError> {
    forget_own(scope, course_id).await?;
    if prerequisites.is_empty() {
        return Ok(());
    }
    entity::Entity::insert_many(prerequisites.iter().enumerate().map(|(i, id)| {
        entity::ActiveModel {
            course_id: Set(course_id),
            prerequisite_course_id: Set(*id),
            position: Set(i32::try_from(i).unwrap_or(i32::MAX)),
        }
    }))
    .exec_without_returning(scope.db())
    .await?;
    Ok(())
}

/// Removes a course's own prerequisites (it is being deleted, or they are replaced).
pub(crate) async fn forget_own(scope: &TenantScope, course_id: Uuid) -> Result<(), CourseError> {
    entity::Entity::delete_many()
        .filter(entity::Column::CourseId.eq(course_id))
        .exec(scope.db())
        .await?;
    Ok(())
}
