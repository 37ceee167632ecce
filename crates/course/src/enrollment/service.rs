//! Enrollment operations, each inside the caller's [`TenantScope`] (the caller commits).
//!
//! Who may do what: `enrollments:read`/`enrollments:write` let a caller act on the courses
//! they teach (`course_instructors`); `all_enrollments:read`/`all_enrollments:write` (the
//! tenant admin, an auditor reads) on every course. A course the caller may not act on
//! answers like one that does not exist (404), so an instructor learns nothing of other
//! courses. A learner acts on their own enrollments only, through the `enroll_self` family,
//! in published courses; a draft or archived course answers like an unknown one.

use super::entity::{course_group, enrollment, instructor};
use super::model::{
    Enrollment, EnrollmentEvent, EnrollmentFilter, EnrollmentSource, EnrollmentState, MAX_BULK,
    MAX_REASON,
};
use super::store;
use crate::catalog::service::Audience;
use crate::{
    ALL_ENROLLMENTS_READ, ALL_ENROLLMENTS_WRITE, CourseError, CourseStatus, ENROLLMENTS_READ,
    ENROLLMENTS_WRITE,
};
use chrono::Utc;
use hub_kernel::FieldViolation;
use hub_kernel::page::{Page, PageRequest};
use hub_tenant::audit::{self, AuditEvent};
use hub_tenant::course_sales::{SaleRefusal, Withdrawal};
use hub_tenant::{Scope, Tenancy, TenantScope};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

fn holds(scope: &TenantScope, scope_name: Scope) -> bool {
    scope
        .actor_scopes()
        .is_none_or(|held| held.contains(&scope_name))
}

fn caller_person(scope: &TenantScope) -> Option<Uuid> {
    scope.actor().and_then(|a| a.person_id())
}

/// The course, when the caller may read (`write: false`) or change its enrollments.
async fn course_for(
    scope: &TenantScope,
    course_id: Uuid,
    write: bool,
) -> Result<crate::Course, CourseError> {
    let (needed, everywhere) = if write {
        (ENROLLMENTS_WRITE, ALL_ENROLLMENTS_WRITE)
    } else {
        (ENROLLMENTS_READ, ALL_ENROLLMENTS_READ)
    };
    scope.require(needed)?;
    let course = store::course(scope, course_id).await?;
    if holds(scope, everywhere) {
        return Ok(course);
    }
    match caller_person(scope) {
        Some(person) if store::is_instructor(scope, course_id, person).await? => Ok(course),
        _ => Err(CourseError::NotFound),
    }
}

fn check_reason(reason: Option<&str>) -> Result<(), CourseError> {
    if let Some(reason) = reason
        && (reason.trim().is_empty()
            || reason.chars().count() > MAX_REASON
            || reason.chars().any(|c| c.is_control() && c != '\n'))
    {
        return Err(CourseError::Invalid(vec![FieldViolation::new(
            "reason",
            "1 to 500 characters without control characters",
        )]));
    }
    Ok(())
}

/// What admitting a person did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// A new enrollment.
    Created,
    /// An existing one moved (a withdrawn learner back, an invitation taken up).
    Changed,
    /// The person was already enrolled as asked (bulk and SCIM only; a single request is
    /// refused with `already_enrolled`).
    Unchanged,
}

/// Whether admitting a person with `existing` into `target` needs a new seat, and what it
/// does.
fn plan(
    existing: Option<&Enrollment>,
    target: EnrollmentState,
) -> Result<(Admission, bool), CourseError> {
    match existing {
        None => Ok((Admission::Created, true)),
        Some(e) if e.state == EnrollmentState::Withdrawn => Ok((Admission::Changed, true)),
        Some(e) if e.state == EnrollmentState::Invited && target == EnrollmentState::Active => {
            Ok((Admission::Changed, false))
        }
        Some(e) => Err(CourseError::AlreadyEnrolled {
            state: e.state.as_str(),
        }),
    }
}

/// Admits one person (restriction checked, seat claimed unless `seat_claimed`).
#[allow(clippy::too_many_arguments)]
async fn admit(
    scope: &TenantScope,
    course_id: Uuid,
    person_id: Uuid,
    target: EnrollmentState,
    source: EnrollmentSource,
    group: Option<Uuid>,
    reason: Option<&str>,
    seat_claimed: bool,
) -> Result<(Enrollment, Admission), CourseError> {
    if store::is_restricted(scope, person_id).await? {
        return Err(CourseError::LearnerRestricted);
    }
    let existing = store::find(scope, course_id, person_id).await?;
    let (admission, needs_seat) = plan(existing.as_ref(), target)?;
    if needs_seat && !seat_claimed {
        store::claim_seats(scope, course_id, 1).await?;
    }
    let enrollment = match existing {
        None => store::insert(scope, course_id, person_id, target, source, group, reason).await?,
        Some(current) => {
            let source = (current.state == EnrollmentState::Withdrawn).then_some((source, group));
            store::change_state(scope, &current, target, source, reason).await?
        }
    };
    Ok((enrollment, admission))
}

/// A person of the institution who may be enrolled: known and active.
async fn check_person(
    tenancy: &Tenancy,
    scope: &TenantScope,
    person_id: Uuid,
) -> Result<Option<&'static str>, CourseError> {
    Ok(match tenancy.person(scope, person_id).await? {
        None => Some("no such person in this institution"),
        Some(record) if !record.active => Some("the person is deactivated"),
        Some(_) => None,
    })
}

/// Refuses a learner the course hides from them (A1: restricted content, or a minimum
/// age above a minor's), before anything is recorded.
async fn check_audience(
    tenancy: &Tenancy,
    scope: &TenantScope,
    course: &crate::Course,
    person_id: Uuid,
) -> Result<(), CourseError> {
    if Audience::of_person(tenancy, scope, person_id)
        .await?
        .admits(course)
    {
        Ok(())
    } else {
        Err(CourseError::LearnerUnderAge)
    }
}

/// What a learner's own enrollment request did.
#[derive(Debug, Clone)]
pub enum SelfEnrollment {
    /// Enrolled (`changed`: something changed; `false` when they were active already).
    Enrolled {
        enrollment: Enrollment,
        changed: bool,
    },
    /// Not enrolled: the prerequisites rule held the request for a reviewer, with this
    /// `enrollment_refused` decision (U7). Nothing else was written.
    Held(crate::decisions::Decision),
}

/// The signed-in learner enrolls in a published course (or takes up an invitation to it,
/// or comes back after withdrawing). A course hidden from a minor (A1) answers like an
/// unknown one.
///
/// A course with prerequisites (U7): when the learner has not completed each of them, the
/// rule `prerequisites_not_completed` does not refuse by itself: it records an
/// `enrollment_refused` decision for a reviewer and the request is held
/// ([`SelfEnrollment::Held`]). A held request is no enrollment row at all, only the
/// decision: every reader of enrollments (seats, progress, reports, SCIM, exports) sees
/// exactly what it saw before the request, and nothing needs undoing if a reviewer
/// confirms; overturning it enrolls the learner then. A request while one is held is
/// `EnrollmentUnderReview`. Taking up an invitation skips the rule: a person invited them.
/// A learner who completed every prerequisite is enrolled at once.
pub async fn enroll_self(
    tenancy: &Tenancy,
    scope: &TenantScope,
    course_id: Uuid,
) -> Result<SelfEnrollment, CourseError> {
    let person = caller_person(scope).ok_or(CourseError::PersonOnly)?;
    let course = store::course(scope, course_id).await?;
    if course.status != CourseStatus::Published
        || !Audience::of_person(tenancy, scope, person)
            .await?
            .admits(&course)
    {
        return Err(CourseError::NotFound);
    }
    let existing = store::find(scope, course_id, person).await?;
    if let Some(existing) = &existing
        && existing.state == EnrollmentState::Active
    {
        return Ok(SelfEnrollment::Enrolled {
            enrollment: existing.clone(),
            changed: false,
        });
    }
    // Nothing is decided about a person whose processing is restricted, nor about one the
    // request could not enroll anyway (completed, failed).
    if store::is_restricted(scope, person).await? {
        return Err(CourseError::LearnerRestricted);
    }
    plan(existing.as_ref(), EnrollmentState::Active)?;
    let invited = existing
        .as_ref()
        .is_some_and(|e| e.state == EnrollmentState::Invited);
    if !invited
        && let Some(held) =
            crate::decisions::service::before_self_enrollment(scope, &course, person).await?
    {
        return Ok(SelfEnrollment::Held(held));
    }
    let (enrollment, _) = admit(
        scope,
        course_id,
        person,
        EnrollmentState::Active,
        EnrollmentSource::SelfService,
        None,
        None,
        false,
    )
    .await?;
    Ok(SelfEnrollment::Enrolled {
        enrollment,
        changed: true,
    })
}

/// Enrolls the learner whose own request a reviewer's overturn of its
/// `enrollment_refused` decision lets through ([`crate::decisions`]): `active`, source
/// `self`, a seat claimed like any enrollment's (`SeatsExhausted` when none is left), the
/// history entry saying why. Nothing to do when a person enrolled them meanwhile (active,
/// completed); an invitation meanwhile is taken up.
pub(crate) async fn admit_after_review(
    scope: &TenantScope,
    course_id: Uuid,
    person_id: Uuid,
    reason: &str,
) -> Result<Option<Enrollment>, CourseError> {
    let existing = store::find(scope, course_id, person_id).await?;
    if existing.as_ref().is_some_and(|e| {
        !matches!(
            e.state,
            EnrollmentState::Withdrawn | EnrollmentState::Invited
        )
    }) {
        return Ok(None);
    }
    let (enrollment, _) = admit(
        scope,
        course_id,
        person_id,
        EnrollmentState::Active,
        EnrollmentSource::SelfService,
        None,
        Some(reason),
        false,
    )
    .await?;
    Ok(Some(enrollment))
}

/// Why the person may not have the course by purchase now, if anything: the rules their
/// enrollment would meet (as a learner's own enrollment meets them, [`enroll_self`]): not
/// restricted, not enrolled already (active, completed or failed: [`plan`]), every
/// prerequisite completed unless they take up an invitation (the rule
/// `prerequisites_not_completed`; a sale is refused rather than held for a reviewer: the
/// learner would pay for a held request), a seat free unless an invitation holds one. Reads only; the course's existence and visibility are the
/// caller's check.
pub(crate) async fn purchase_refusal(
    scope: &TenantScope,
    course: &crate::Course,
    person_id: Uuid,
) -> Result<Option<SaleRefusal>, CourseError> {
    if store::is_restricted(scope, person_id).await? {
        return Ok(Some(SaleRefusal::LearnerRestricted));
    }
    let existing = store::find(scope, course.id, person_id).await?;
    let needs_seat = match plan(existing.as_ref(), EnrollmentState::Active) {
        Ok((_, needs_seat)) => needs_seat,
        Err(_) => return Ok(Some(SaleRefusal::AlreadyEnrolled)),
    };
    let invited = existing
        .as_ref()
        .is_some_and(|e| e.state == EnrollmentState::Invited);
    if !invited
        && !crate::decisions::service::prerequisites_completed(scope, course.id, person_id).await?
    {
        return Ok(Some(SaleRefusal::PrerequisitesNotCompleted));
    }
    if needs_seat && !store::seat_free(scope, course).await? {
        return Ok(Some(SaleRefusal::SeatsExhausted));
    }
    Ok(None)
}

/// Enrolls the buyer of a course whose payment Stripe confirmed (billing, through the
/// course-sales port): `active`, source `purchase`, a seat claimed like any enrollment's.
/// An active or completed enrollment is returned as it is (a redelivered confirmation).
/// The sale's rules are asked again, since time passed since the sale: refused (nothing
/// written) when a prerequisite is not completed, no seat is left, the learner is
/// restricted or their enrollment ended in failure; billing refunds the payment then.
pub(crate) async fn admit_purchase(
    scope: &TenantScope,
    course_id: Uuid,
    person_id: Uuid,
    payment_id: Uuid,
) -> Result<Result<Uuid, SaleRefusal>, CourseError> {
    let existing = store::find(scope, course_id, person_id).await?;
    if let Some(existing) = &existing
        && matches!(
            existing.state,
            EnrollmentState::Active | EnrollmentState::Completed
        )
    {
        return Ok(Ok(existing.id));
    }
    let invited = existing
        .as_ref()
        .is_some_and(|e| e.state == EnrollmentState::Invited);
    if !invited
        && !crate::decisions::service::prerequisites_completed(scope, course_id, person_id).await?
    {
        return Ok(Err(SaleRefusal::PrerequisitesNotCompleted));
    }
    let reason = format!("paid: payment {payment_id}");
    // Every refusal below comes before anything is written (the seat claim only reads and
    // locks), so the caller's unit of work goes on to record the refusal and the refund.
    match admit(
        scope,
        course_id,
        person_id,
        EnrollmentState::Active,
        EnrollmentSource::Purchase,
        None,
        Some(&reason),
        false,
    )
    .await
    {
        Ok((enrollment, _)) => Ok(Ok(enrollment.id)),
        Err(CourseError::SeatsExhausted { .. }) => Ok(Err(SaleRefusal::SeatsExhausted)),
        Err(CourseError::LearnerRestricted) => Ok(Err(SaleRefusal::LearnerRestricted)),
        Err(CourseError::AlreadyEnrolled { .. }) => Ok(Err(SaleRefusal::AlreadyEnrolled)),
        Err(other) => Err(other),
    }
}

/// Withdraws the enrollment a payment made, once billing saw the payment refunded in full
/// (the course-sales port): only an enrollment whose source is still `purchase` and that
/// holds a seat (active, or invited); one an admin, a group or the learner made or re-made
/// since, or one that ended (completed, failed, withdrawn), is kept, as is a restricted
/// learner's (nothing is done with their records). The history entry names the payment;
/// the state change is audited like any.
pub(crate) async fn withdraw_purchase(
    scope: &TenantScope,
    enrollment_id: Uuid,
    payment_id: Uuid,
) -> Result<Withdrawal, CourseError> {
    let current = match store::load(scope, enrollment_id).await {
        Ok(current) => current,
        Err(CourseError::EnrollmentNotFound) => return Ok(Withdrawal::Kept("gone")),
        Err(e) => return Err(e),
    };
    if current.source != EnrollmentSource::Purchase {
        return Ok(Withdrawal::Kept("not_from_purchase"));
    }
    if !current.state.holds_seat() {
        return Ok(Withdrawal::Kept("ended"));
    }
    if store::is_restricted(scope, current.person_id).await? {
        return Ok(Withdrawal::Kept("learner_restricted"));
    }
    let reason = format!("refunded: payment {payment_id}");
    store::change_state(
        scope,
        &current,
        EnrollmentState::Withdrawn,
        None,
        Some(&reason),
    )
    .await?;
    Ok(Withdrawal::Withdrawn)
}

/// The signed-in person's own enrollments, oldest first.
pub async fn my_enrollments(
    scope: &TenantScope,
    page: &PageRequest,
) -> Result<Page<Enrollment>, CourseError> {
    let person = caller_person(scope).ok_or(CourseError::PersonOnly)?;
    let mut query = enrollment::Entity::find()
        .filter(enrollment::Column::PersonId.eq(person))
        .order_by_asc(enrollment::Column::Id)
        .limit(page.fetch_limit());
    if let Some(after) = page.after {
        query = query.filter(enrollment::Column::Id.gt(after));
    }
    let rows = query.all(scope.db()).await?;
    Ok(Page::from_rows(rows, page, |r| r.id).map(store::from_row))
}

/// The signed-in person withdraws from one of their enrollments (another person's answers
/// 404).
pub async fn withdraw_self(
    scope: &TenantScope,
    enrollment_id: Uuid,
    reason: Option<&str>,
) -> Result<Enrollment, CourseError> {
    let person = caller_person(scope).ok_or(CourseError::PersonOnly)?;
    check_reason(reason)?;
    let current = store::load(scope, enrollment_id).await?;
    if current.person_id != person {
        return Err(CourseError::EnrollmentNotFound);
    }
    move_to(scope, &current, EnrollmentState::Withdrawn, reason).await
}

/// Enrolls (`active`) or invites (`invited`) one person, by an admin or the course's
/// instructor.
pub async fn enroll(
    tenancy: &Tenancy,
    scope: &TenantScope,
    course_id: Uuid,
    person_id: Uuid,
    state: EnrollmentState,
    reason: Option<&str>,
) -> Result<Enrollment, CourseError> {
    let course = course_for(scope, course_id, true).await?;
    check_start(state)?;
    check_reason(reason)?;
    if store::is_restricted(scope, person_id).await? {
        return Err(CourseError::LearnerRestricted);
    }
    if check_person(tenancy, scope, person_id).await?.is_some() {
        return Err(CourseError::PersonNotFound);
    }
    check_audience(tenancy, scope, &course, person_id).await?;
    let (enrollment, _) = admit(
        scope,
        course_id,
        person_id,
        state,
        EnrollmentSource::Admin,
        None,
        reason,
        false,
    )
    .await?;
    Ok(enrollment)
}

fn check_start(state: EnrollmentState) -> Result<(), CourseError> {
    if state.holds_seat() {
        Ok(())
    } else {
        Err(CourseError::Invalid(vec![FieldViolation::new(
            "state",
            "a new enrollment is `invited` or `active`",
        )]))
    }
}

/// What a bulk enrollment did for one person.
#[derive(Debug, Clone)]
pub enum BulkOutcome {
    Admitted {
        enrollment: Enrollment,
        admission: Admission,
    },
    /// Not enrolled: `person_not_found` (unknown or deactivated), `learner_restricted`, `learner_under_age` (A1), or
    /// `duplicate` (listed before).
    Refused { code: &'static str },
}

#[derive(Debug, Clone)]
pub struct BulkItem {
    pub person_id: Uuid,
    pub outcome: BulkOutcome,
}

/// Enrolls or invites up to [`MAX_BULK`] people at once. Each person gets a result of
/// their own: admitted (created, changed or unchanged: already enrolled as asked) or
/// refused with a code (unknown or deactivated, restricted, listed twice), so one bad id
/// does not hold back the rest. Seats are all or nothing: when the people to admit need
/// more seats than are free, the whole request is `seats_exhausted` and nothing is written.
pub async fn enroll_bulk(
    tenancy: &Tenancy,
    scope: &TenantScope,
    course_id: Uuid,
    person_ids: &[Uuid],
    state: EnrollmentState,
    reason: Option<&str>,
) -> Result<Vec<BulkItem>, CourseError> {
    let course = course_for(scope, course_id, true).await?;
    check_start(state)?;
    check_reason(reason)?;
    if person_ids.is_empty() || person_ids.len() > MAX_BULK {
        return Err(CourseError::Invalid(vec![FieldViolation::new(
            "person_ids",
            format!("1 to {MAX_BULK} people"),
        )]));
    }
    let mut seats = 0;
    // Per person: refused with a code, already enrolled as asked, or to admit.
    let mut plans: Vec<(Uuid, Result<Option<Enrollment>, &'static str>)> = Vec::new();
    for (i, person) in person_ids.iter().enumerate() {
        let planned = if person_ids[..i].contains(person) {
            Err("duplicate")
        } else if store::is_restricted(scope, *person).await? {
            Err("learner_restricted")
        } else if check_person(tenancy, scope, *person).await?.is_some() {
            Err("person_not_found")
        } else if check_audience(tenancy, scope, &course, *person)
            .await
            .is_err()
        {
            Err("learner_under_age")
        } else {
            let existing = store::find(scope, course_id, *person).await?;
            match plan(existing.as_ref(), state) {
                Ok((_, needs_seat)) => {
                    seats += u64::from(needs_seat);
                    Ok(None)
                }
                Err(_) => Ok(existing),
            }
        };
        plans.push((*person, planned));
    }
    store::claim_seats(scope, course_id, seats).await?;
    let mut done = Vec::with_capacity(plans.len());
    for (person, planned) in plans {
        let outcome = match planned {
            Err(code) => BulkOutcome::Refused { code },
            Ok(Some(enrollment)) => BulkOutcome::Admitted {
                enrollment,
                admission: Admission::Unchanged,
            },
            Ok(None) => {
                let (enrollment, admission) = admit(
                    scope,
                    course_id,
                    person,
                    state,
                    EnrollmentSource::Bulk,
                    None,
                    reason,
                    true,
                )
                .await?;
                BulkOutcome::Admitted {
                    enrollment,
                    admission,
                }
            }
        };
        done.push(BulkItem {
            person_id: person,
            outcome,
        });
    }
    Ok(done)
}

/// A course's enrollments, oldest first, filtered by state and by organisational unit (the
/// unit and every unit below it).
pub async fn list(
    scope: &TenantScope,
    course_id: Uuid,
    page: &PageRequest,
    filter: &EnrollmentFilter,
) -> Result<Page<Enrollment>, CourseError> {
    course_for(scope, course_id, false).await?;
    let page = learners(scope, course_id, page, filter).await?;
    // Staff read other people's learning records: one audit entry per page, naming them.
    audit::record_listing(
        scope,
        "enrollments.listed",
        "person_ids",
        page.items.iter().map(|e| e.person_id),
    )
    .await?;
    Ok(page)
}

/// A course's enrollments, without an access check: for the learning crate's own areas
/// (progress, certificates) that have checked access to the course already.
pub async fn learners(
    scope: &TenantScope,
    course_id: Uuid,
    page: &PageRequest,
    filter: &EnrollmentFilter,
) -> Result<Page<Enrollment>, CourseError> {
    let mut query = enrollment::Entity::find()
        .filter(enrollment::Column::CourseId.eq(course_id))
        .order_by_asc(enrollment::Column::Id)
        .limit(page.fetch_limit());
    if let Some(after) = page.after {
        query = query.filter(enrollment::Column::Id.gt(after));
    }
    if let Some(state) = filter.state {
        query = query.filter(enrollment::Column::State.eq(state.as_str()));
    }
    if let Some(unit) = filter.org_unit {
        let people = crate::organisation::service::people_in_unit_tree(scope, unit).await?;
        query = query.filter(enrollment::Column::PersonId.is_in(people));
    }
    let rows = query.all(scope.db()).await?;
    Ok(Page::from_rows(rows, page, |r| r.id).map(store::from_row))
}

/// One enrollment, when the caller may read its course's enrollments (or, holding
/// `enrollments:read`, it is their own). Another person's is an audited read.
pub async fn get(scope: &TenantScope, id: Uuid) -> Result<Enrollment, CourseError> {
    let enrollment = readable(scope, id).await?;
    audit_staff_read(scope, "enrollment.read", &enrollment).await?;
    Ok(enrollment)
}

/// The enrollment, when the caller may read it ([`get`]'s check, without the audit entry).
async fn readable(scope: &TenantScope, id: Uuid) -> Result<Enrollment, CourseError> {
    scope.require(ENROLLMENTS_READ)?;
    let enrollment = store::load(scope, id).await?;
    if caller_person(scope) == Some(enrollment.person_id) {
        return Ok(enrollment);
    }
    course_for(scope, enrollment.course_id, false)
        .await
        .map_err(|e| match e {
            CourseError::NotFound => CourseError::EnrollmentNotFound,
            other => other,
        })?;
    Ok(enrollment)
}

/// An enrollment's history, oldest first (same access as [`get`]; another person's is an
/// audited read).
pub async fn history(scope: &TenantScope, id: Uuid) -> Result<Vec<EnrollmentEvent>, CourseError> {
    let enrollment = readable(scope, id).await?;
    audit_staff_read(scope, "enrollment.history_read", &enrollment).await?;
    store::events_of(scope, enrollment.id).await
}

/// A read of someone else's enrollment is recorded in the audit trail (S2); a learner's
/// read of their own is not.
async fn audit_staff_read(
    scope: &TenantScope,
    action: &'static str,
    enrollment: &Enrollment,
) -> Result<(), CourseError> {
    if caller_person(scope) == Some(enrollment.person_id) {
        return Ok(());
    }
    audit::record(
        scope,
        AuditEvent::new(action).person(enrollment.person_id).detail(
            serde_json::json!({"enrollment_id": enrollment.id, "course_id": enrollment.course_id}),
        ),
    )
    .await?;
    Ok(())
}

async fn move_to(
    scope: &TenantScope,
    current: &Enrollment,
    next: EnrollmentState,
    reason: Option<&str>,
) -> Result<Enrollment, CourseError> {
    if store::is_restricted(scope, current.person_id).await? {
        return Err(CourseError::LearnerRestricted);
    }
    if !current.state.may_become(next) {
        return Err(CourseError::InvalidTransition {
            from: current.state.as_str(),
            to: next.as_str(),
        });
    }
    if next.holds_seat() && !current.state.holds_seat() {
        store::claim_seats(scope, current.course_id, 1).await?;
    }
    store::change_state(scope, current, next, None, reason).await
}

/// Moves an enrollment to another state (admin or the course's instructor), when
/// `expected_revision` (from `If-Match`) still holds; a change the states do not allow is
/// `invalid_transition`.
pub async fn transition(
    scope: &TenantScope,
    id: Uuid,
    next: EnrollmentState,
    reason: Option<&str>,
    expected_revision: Option<i32>,
) -> Result<Enrollment, CourseError> {
    scope.require(ENROLLMENTS_WRITE)?;
    check_reason(reason)?;
    let current = store::load(scope, id).await?;
    course_for(scope, current.course_id, true)
        .await
        .map_err(|e| match e {
            CourseError::NotFound => CourseError::EnrollmentNotFound,
            other => other,
        })?;
    if let Some(expected) = expected_revision
        && expected != current.revision
    {
        return Err(CourseError::RevisionMismatch {
            current: current.revision,
        });
    }
    move_to(scope, &current, next, reason).await
}

/// The person's enrollment in the course that is `active` now, if any (for progress and
/// completion).
pub async fn active_enrollment(
    scope: &TenantScope,
    course_id: Uuid,
    person_id: Uuid,
) -> Result<Option<Enrollment>, CourseError> {
    Ok(store::find(scope, course_id, person_id)
        .await?
        .filter(|e| e.state == EnrollmentState::Active))
}

/// Marks an active enrollment completed, with why (`reason`, kept sealed in its history:
/// "all lessons done", "passed the final quiz"). For the learning crate's progress code,
/// which decides completion; it checks nothing but the state machine and the restriction.
pub async fn complete(
    scope: &TenantScope,
    enrollment_id: Uuid,
    reason: &str,
) -> Result<Enrollment, CourseError> {
    check_reason(Some(reason))?;
    let current = store::load(scope, enrollment_id).await?;
    move_to(scope, &current, EnrollmentState::Completed, Some(reason)).await
}

/// Marks an active enrollment failed, with why (kept sealed in its history). For the
/// automated-decisions review ([`crate::decisions`]), once a person confirmed it; it checks
/// nothing but the state machine and the restriction.
pub async fn fail(
    scope: &TenantScope,
    enrollment_id: Uuid,
    reason: &str,
) -> Result<Enrollment, CourseError> {
    check_reason(Some(reason))?;
    let current = store::load(scope, enrollment_id).await?;
    move_to(scope, &current, EnrollmentState::Failed, Some(reason)).await
}

/// Makes a person an instructor of a course (admin: `all_enrollments:write`).
pub async fn assign_instructor(
    tenancy: &Tenancy,
    scope: &TenantScope,
    course_id: Uuid,
    person_id: Uuid,
) -> Result<bool, CourseError> {
    scope.require(ALL_ENROLLMENTS_WRITE)?;
    store::course(scope, course_id).await?;
    if check_person(tenancy, scope, person_id).await?.is_some() {
        return Err(CourseError::PersonNotFound);
    }
    if store::is_instructor(scope, course_id, person_id).await? {
        return Ok(false);
    }
    instructor::Entity::insert(instructor::ActiveModel {
        course_id: Set(course_id),
        person_id: Set(person_id),
        assigned_by: Set(scope.actor_label()),
        assigned_at: Set(Utc::now()),
    })
    .exec_without_returning(scope.db())
    .await?;
    audit::record(
        scope,
        AuditEvent::new("course.instructor_assigned")
            .person(person_id)
            .detail(serde_json::json!({ "course_id": course_id })),
    )
    .await?;
    Ok(true)
}

pub async fn remove_instructor(
    scope: &TenantScope,
    course_id: Uuid,
    person_id: Uuid,
) -> Result<(), CourseError> {
    scope.require(ALL_ENROLLMENTS_WRITE)?;
    store::course(scope, course_id).await?;
    let removed = instructor::Entity::delete_by_id((course_id, person_id))
        .exec(scope.db())
        .await?;
    if removed.rows_affected == 0 {
        return Err(CourseError::PersonNotFound);
    }
    audit::record(
        scope,
        AuditEvent::new("course.instructor_removed")
            .person(person_id)
            .detail(serde_json::json!({ "course_id": course_id })),
    )
    .await?;
    Ok(())
}

/// The instructors of a course (`all_enrollments:read`, or one of them).
pub async fn instructors(scope: &TenantScope, course_id: Uuid) -> Result<Vec<Uuid>, CourseError> {
    course_for(scope, course_id, false).await?;
    Ok(instructor::Entity::find()
        .select_only()
        .column(instructor::Column::PersonId)
        .filter(instructor::Column::CourseId.eq(course_id))
        .order_by_asc(instructor::Column::PersonId)
        .into_tuple::<Uuid>()
        .all(scope.db())
        .await?)
}

/// Maps a SCIM group to a course: its members are enrolled now (source `scim_group`; a
/// full course, a restricted person or a minor the course is hidden from (A1,
/// `learner_under_age`) is skipped and audited as `enrollment.group_refused`), members the IdP adds later
/// too, and members it removes are withdrawn from the enrollments that group made. `true`
/// when the mapping is new.
pub async fn map_group(
    tenancy: &Tenancy,
    scope: &TenantScope,
    course_id: Uuid,
    group_id: Uuid,
) -> Result<bool, CourseError> {
    scope.require(ALL_ENROLLMENTS_WRITE)?;
    store::course(scope, course_id).await?;
    let members = tenancy
        .group_members(scope, group_id)
        .await?
        .ok_or(CourseError::GroupNotFound)?;
    if course_group::Entity::find_by_id((course_id, group_id))
        .one(scope.db())
        .await?
        .is_some()
    {
        return Ok(false);
    }
    course_group::Entity::insert(course_group::ActiveModel {
        course_id: Set(course_id),
        group_id: Set(group_id),
        mapped_by: Set(scope.actor_label()),
        mapped_at: Set(Utc::now()),
    })
    .exec_without_returning(scope.db())
    .await?;
    audit::record(
        scope,
        AuditEvent::new("course.group_mapped")
            .subject(format!("group:{group_id}"))
            .detail(serde_json::json!({ "course_id": course_id, "members": members.len() })),
    )
    .await?;
    admit_group_members(tenancy, scope, course_id, group_id, &members).await?;
    Ok(true)
}

/// Ends a mapping; the enrollments it made stay as they are.
pub async fn unmap_group(
    scope: &TenantScope,
    course_id: Uuid,
    group_id: Uuid,
) -> Result<(), CourseError> {
    scope.require(ALL_ENROLLMENTS_WRITE)?;
    store::course(scope, course_id).await?;
    course_group::Entity::delete_by_id((course_id, group_id))
        .exec(scope.db())
        .await?;
    audit::record(
        scope,
        AuditEvent::new("course.group_unmapped")
            .subject(format!("group:{group_id}"))
            .detail(serde_json::json!({ "course_id": course_id })),
    )
    .await?;
    Ok(())
}

/// What a SCIM group change does to the courses mapped to the group (the
/// [`hub_tenant::group_membership::GroupObserver`] port, [`super::groups`]).
pub(crate) async fn group_members_changed(
    tenancy: &Tenancy,
    scope: &TenantScope,
    group_id: Uuid,
    added: &[Uuid],
    removed: &[Uuid],
) -> Result<(), CourseError> {
    for course_id in store::courses_of_group(scope, group_id).await? {
        admit_group_members(tenancy, scope, course_id, group_id, added).await?;
        withdraw_group_members(scope, course_id, group_id, removed).await?;
    }
    Ok(())
}

/// Enrolls a group's members in one course mapped to it.
async fn admit_group_members(
    tenancy: &Tenancy,
    scope: &TenantScope,
    course_id: Uuid,
    group_id: Uuid,
    added: &[Uuid],
) -> Result<(), CourseError> {
    let course = store::course(scope, course_id).await?;
    for person in added {
        // A1: a member the course is hidden from is not enrolled, as an admin's enrollment
        // of them is refused.
        let admitted = match check_audience(tenancy, scope, &course, *person).await {
            Ok(()) => {
                admit(
                    scope,
                    course_id,
                    *person,
                    EnrollmentState::Active,
                    EnrollmentSource::ScimGroup,
                    Some(group_id),
                    None,
                    false,
                )
                .await
            }
            Err(refused) => Err(refused),
        };
        match admitted {
            Ok(_) | Err(CourseError::AlreadyEnrolled { .. }) => {}
            // The IdP's push succeeds; the enrollment it could not make is on record.
            Err(
                refused @ (CourseError::SeatsExhausted { .. }
                | CourseError::LearnerRestricted
                | CourseError::LearnerUnderAge),
            ) => {
                use hub_kernel::DescribeProblem;
                audit::record(
                    scope,
                    AuditEvent::new("enrollment.group_refused")
                        .person(*person)
                        .detail(serde_json::json!({
                            "course_id": course_id,
                            "group_id": group_id,
                            "code": refused.code(),
                        })),
                )
                .await?;
            }
            Err(other) => return Err(other),
        }
    }
    Ok(())
}

/// Withdraws a group's former members from the enrollments that group made in one course.
async fn withdraw_group_members(
    scope: &TenantScope,
    course_id: Uuid,
    group_id: Uuid,
    removed: &[Uuid],
) -> Result<(), CourseError> {
    for person in removed {
        let Some(current) = store::find(scope, course_id, *person).await? else {
            continue;
        };
        if current.source == EnrollmentSource::ScimGroup
            && current.source_group_id == Some(group_id)
            && current.state.holds_seat()
            && !store::is_restricted(scope, *person).await?
        {
            store::change_state(
                scope,
                &current,
                EnrollmentState::Withdrawn,
                None,
                Some("removed from the SCIM group mapped to the course"),
            )
            .await?;
        }
    }
    Ok(())
}
