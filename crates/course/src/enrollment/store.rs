//! The enrollment tables: reads, the seat claim, and the writes every state change makes
//! (the row, its history entry, the audit event). Callers check access first.

use super::entity::{course_group, enrollment, event, instructor, restriction};
use super::model::{Enrollment, EnrollmentEvent, EnrollmentSource, EnrollmentState};
use crate::CourseError;
use crate::catalog::entity as course;
use chrono::Utc;
use hub_tenant::TenantScope;
use hub_tenant::audit::{self, AuditEvent};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, SqlErr,
};
use uuid::Uuid;

pub(crate) const EVENTS: &str = "enrollment_events";

pub(crate) fn from_row(row: enrollment::Model) -> Enrollment {
    Enrollment {
        id: row.id,
        course_id: row.course_id,
        person_id: row.person_id,
        // Only validated values are ever written.
        state: EnrollmentState::parse(&row.state).unwrap_or(EnrollmentState::Withdrawn),
        source: EnrollmentSource::parse(&row.source).unwrap_or(EnrollmentSource::Admin),
        source_group_id: row.source_group_id,
        revision: row.revision,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

pub(crate) fn open_event(
    scope: &TenantScope,
    row: event::Model,
) -> Result<EnrollmentEvent, CourseError> {
    let reason = row
        .reason_sealed
        .as_ref()
        .map(|sealed| scope.keys().open_str(EVENTS, "reason", row.id, sealed))
        .transpose()
        .map_err(|e| CourseError::Tenant(e.into()))?;
    Ok(EnrollmentEvent {
        id: row.id,
        enrollment_id: row.enrollment_id,
        from: row.from_state.as_deref().and_then(EnrollmentState::parse),
        to: EnrollmentState::parse(&row.to_state).unwrap_or(EnrollmentState::Withdrawn),
        actor: row.actor,
        reason,
        at: row.at,
    })
}

/// Whether any enrollment names the course.
pub(crate) async fn has_enrollments(
    scope: &TenantScope,
    course_id: Uuid,
) -> Result<bool, CourseError> {
    Ok(enrollment::Entity::find()
        .filter(enrollment::Column::CourseId.eq(course_id))
        .count(scope.db())
        .await?
        > 0)
}

/// How many people hold at least one active enrollment: the seats the institution uses.
pub(crate) async fn people_enrolled(scope: &TenantScope) -> Result<u64, CourseError> {
    Ok(enrollment::Entity::find()
        .select_only()
        .column(enrollment::Column::PersonId)
        .distinct()
        .filter(enrollment::Column::State.eq(EnrollmentState::Active.as_str()))
        .count(scope.db())
        .await?)
}

/// Removes what only a course's existence gave meaning to: its instructors and the SCIM
/// groups mapped to it (a course with enrollments is never deleted).
pub(crate) async fn forget_course(scope: &TenantScope, course_id: Uuid) -> Result<(), CourseError> {
    instructor::Entity::delete_many()
        .filter(instructor::Column::CourseId.eq(course_id))
        .exec(scope.db())
        .await?;
    course_group::Entity::delete_many()
        .filter(course_group::Column::CourseId.eq(course_id))
        .exec(scope.db())
        .await?;
    Ok(())
}

pub(crate) async fn course(
    scope: &TenantScope,
    course_id: Uuid,
) -> Result<crate::Course, CourseError> {
    course::Entity::find_by_id(course_id)
        .one(scope.db())
        .await?
        .map(crate::catalog::service::from_row)
        .ok_or(CourseError::NotFound)
}

pub(crate) async fn is_instructor(
    scope: &TenantScope,
    course_id: Uuid,
    person_id: Uuid,
) -> Result<bool, CourseError> {
    Ok(instructor::Entity::find_by_id((course_id, person_id))
        .one(scope.db())
        .await?
        .is_some())
}

pub(crate) async fn is_restricted(
    scope: &TenantScope,
    person_id: Uuid,
) -> Result<bool, CourseError> {
    Ok(restriction::Entity::find_by_id(person_id)
        .one(scope.db())
        .await?
        .is_some())
}

/// The courses a person is (or was) enrolled in, in course-id order.
pub(crate) async fn of_person(
    scope: &TenantScope,
    person_id: Uuid,
) -> Result<Vec<Uuid>, CourseError> {
    Ok(enrollment::Entity::find()
        .select_only()
        .column(enrollment::Column::CourseId)
        .filter(enrollment::Column::PersonId.eq(person_id))
        .order_by_asc(enrollment::Column::CourseId)
        .into_tuple::<Uuid>()
        .all(scope.db())
        .await?)
}

pub(crate) async fn find(
    scope: &TenantScope,
    course_id: Uuid,
    person_id: Uuid,
) -> Result<Option<Enrollment>, CourseError> {
    Ok(enrollment::Entity::find()
        .filter(enrollment::Column::CourseId.eq(course_id))
        .filter(enrollment::Column::PersonId.eq(person_id))
        .one(scope.db())
        .await?
        .map(from_row))
}

pub(crate) async fn load(scope: &TenantScope, id: Uuid) -> Result<Enrollment, CourseError> {
    enrollment::Entity::find_by_id(id)
        .one(scope.db())
        .await?
        .map(from_row)
        .ok_or(CourseError::EnrollmentNotFound)
}

/// Locks the course row until the caller's transaction ends (PostgreSQL: `SELECT … FOR
/// UPDATE`; on SQLite a writing unit of work is serial already), so two requests about
/// the same course decide one after the other.
pub(crate) async fn lock_course(scope: &TenantScope, course_id: Uuid) -> Result<(), CourseError> {
    course::Entity::find_by_id(course_id)
        .lock_exclusive()
        .one(scope.db())
        .await?
        .ok_or(CourseError::NotFound)?;
    Ok(())
}

/// Claims `seats` more seats of the course, or refuses with `seats_exhausted`. Race-safe on
/// both backends, in the caller's transaction: on PostgreSQL the course row is locked
/// (`SELECT … FOR UPDATE`) until commit, so a second claim for the same course waits and
/// then counts what the first wrote; on SQLite a unit of work that may write holds the
/// database's single write lock from `BEGIN IMMEDIATE`, so claims are serial already (the
/// lock clause is not sent there).
pub(crate) async fn claim_seats(
    scope: &TenantScope,
    course_id: Uuid,
    seats: u64,
) -> Result<(), CourseError> {
    let row = course::Entity::find_by_id(course_id)
        .lock_exclusive()
        .one(scope.db())
        .await?
        .ok_or(CourseError::NotFound)?;
    let Some(limit) = row.seat_limit else {
        return Ok(());
    };
    if seats == 0 {
        return Ok(());
    }
    if seats_taken(scope, course_id).await? + seats > u64::try_from(limit).unwrap_or(0) {
        return Err(CourseError::SeatsExhausted { limit });
    }
    Ok(())
}

/// Whether the course has a seat free now, without claiming it (a sale asks before the
/// learner pays; the enrollment the payment makes claims it, [`claim_seats`]).
pub(crate) async fn seat_free(
    scope: &TenantScope,
    course: &crate::Course,
) -> Result<bool, CourseError> {
    let Some(limit) = course.seat_limit else {
        return Ok(true);
    };
    Ok(seats_taken(scope, course.id).await? < u64::try_from(limit).unwrap_or(0))
}

/// The course's seats taken: its invited and active enrollments.
async fn seats_taken(scope: &TenantScope, course_id: Uuid) -> Result<u64, CourseError> {
    Ok(enrollment::Entity::find()
        .filter(enrollment::Column::CourseId.eq(course_id))
        .filter(enrollment::Column::State.is_in([
            EnrollmentState::Invited.as_str(),
            EnrollmentState::Active.as_str(),
        ]))
        .count(scope.db())
        .await?)
}

async fn record_event(
    scope: &TenantScope,
    enrollment: &Enrollment,
    from: Option<EnrollmentState>,
    reason: Option<&str>,
) -> Result<(), CourseError> {
    let id = Uuid::now_v7();
    event::Entity::insert(event::ActiveModel {
        id: Set(id),
        enrollment_id: Set(enrollment.id),
        course_id: Set(enrollment.course_id),
        person_id: Set(enrollment.person_id),
        from_state: Set(from.map(|s| s.as_str().to_string())),
        to_state: Set(enrollment.state.as_str().to_string()),
        actor: Set(scope.actor_label()),
        reason_sealed: Set(reason.map(|r| scope.keys().seal_str(EVENTS, "reason", id, r))),
        at: Set(enrollment.updated_at),
    })
    .exec_without_returning(scope.db())
    .await?;
    audit::record(
        scope,
        AuditEvent::new(if from.is_none() {
            "enrollment.created"
        } else {
            "enrollment.state_changed"
        })
        .person(enrollment.person_id)
        .detail(serde_json::json!({
            "enrollment_id": enrollment.id,
            "course_id": enrollment.course_id,
            "from": from.map(|s| s.as_str()),
            "to": enrollment.state.as_str(),
            "source": enrollment.source.as_str(),
        })),
    )
    .await?;
    Ok(())
}

/// Inserts a new enrollment and its first history entry (seats already claimed).
pub(crate) async fn insert(
    scope: &TenantScope,
    course_id: Uuid,
    person_id: Uuid,
    state: EnrollmentState,
    source: EnrollmentSource,
    group: Option<Uuid>,
    reason: Option<&str>,
) -> Result<Enrollment, CourseError> {
    let now = Utc::now();
    let row = enrollment::Model {
        id: Uuid::now_v7(),
        course_id,
        person_id,
        state: state.as_str().to_string(),
        source: source.as_str().to_string(),
        source_group_id: group,
        enrolled_by: scope.actor_label(),
        revision: 1,
        created_at: now,
        updated_at: now,
    };
    enrollment::Entity::insert(enrollment::ActiveModel {
        id: Set(row.id),
        course_id: Set(row.course_id),
        person_id: Set(row.person_id),
        state: Set(row.state.clone()),
        source: Set(row.source.clone()),
        source_group_id: Set(row.source_group_id),
        enrolled_by: Set(row.enrolled_by.clone()),
        revision: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .exec_without_returning(scope.db())
    .await
    .map_err(|e| match e.sql_err() {
        // Two enrollments of the same person at once: the second finds the first.
        Some(SqlErr::UniqueConstraintViolation(_)) => CourseError::AlreadyEnrolled {
            state: state.as_str(),
        },
        _ => CourseError::Database(e),
    })?;
    let created = from_row(row);
    record_event(scope, &created, None, reason).await?;
    Ok(created)
}

/// Moves an enrollment read at `current` to `next` (the caller checked the transition and
/// claimed a seat if it needs one); a concurrent change makes it a revision mismatch. A
/// move back into a seat from a SCIM group records the group as the source.
pub(crate) async fn change_state(
    scope: &TenantScope,
    current: &Enrollment,
    next: EnrollmentState,
    source: Option<(EnrollmentSource, Option<Uuid>)>,
    reason: Option<&str>,
) -> Result<Enrollment, CourseError> {
    let now = Utc::now();
    let mut update = enrollment::Entity::update_many()
        .col_expr(enrollment::Column::State, Expr::value(next.as_str()))
        .col_expr(
            enrollment::Column::Revision,
            Expr::value(current.revision + 1),
        )
        .col_expr(enrollment::Column::UpdatedAt, Expr::value(now));
    if let Some((source, group)) = source {
        update = update
            .col_expr(enrollment::Column::Source, Expr::value(source.as_str()))
            .col_expr(enrollment::Column::SourceGroupId, Expr::value(group));
    }
    let changed = update
        .filter(enrollment::Column::Id.eq(current.id))
        .filter(enrollment::Column::Revision.eq(current.revision))
        .exec(scope.db())
        .await?;
    if changed.rows_affected == 0 {
        return Err(CourseError::RevisionMismatch {
            current: current.revision + 1,
        });
    }
    let updated = load(scope, current.id).await?;
    record_event(scope, &updated, Some(current.state), reason).await?;
    Ok(updated)
}

pub(crate) async fn events_of(
    scope: &TenantScope,
    enrollment_id: Uuid,
) -> Result<Vec<EnrollmentEvent>, CourseError> {
    event::Entity::find()
        .filter(event::Column::EnrollmentId.eq(enrollment_id))
        .order_by_asc(event::Column::Id)
        .all(scope.db())
        .await?
        .into_iter()
        .map(|row| open_event(scope, row))
        .collect()
}

/// The courses a SCIM group is mapped to.
pub(crate) async fn courses_of_group(
    scope: &TenantScope,
    group_id: Uuid,
) -> Result<Vec<Uuid>, CourseError> {
    Ok(course_group::Entity::find()
        .select_only()
        .column(course_group::Column::CourseId)
        .filter(course_group::Column::GroupId.eq(group_id))
        .order_by_asc(course_group::Column::CourseId)
        .into_tuple::<Uuid>()
        .all(scope.db())
        .await?)
}
