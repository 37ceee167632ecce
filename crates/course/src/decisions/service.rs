//! Recording automated decisions, the learner's view and contest, and the review queue,
//! each inside the caller's [`TenantScope`] (the caller commits).
//!
//! Who may do what: the learner (`courses:read`, a signed-in person) reads and contests
//! their own decisions; another person's answers 404. A reviewer holds `decisions:review`
//! and reviews the decisions of the courses they teach (an admin, holding
//! `all_enrollments:write`, every course); another course's decision answers 404.

use super::entity as decision;
use super::model::{
    Decision, DecisionFilter, DecisionKind, DecisionState, NOTE_MAX_CHARS, REVIEW_PERIOD_DAYS,
    STATEMENT_MAX_CHARS,
};
use crate::catalog::entity as course;
use crate::certificates::CertificateSigner;
use crate::completion::entity as completion;
use crate::enrollment::entity::instructor;
use crate::{ALL_ENROLLMENTS_WRITE, CourseError, DECISIONS_REVIEW};
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use hub_kernel::FieldViolation;
use hub_kernel::page::{Page, PageRequest};
use hub_tenant::audit::{self, AuditEvent};
use hub_tenant::personal_data::{EssentialMessage, EssentialMessages};
use hub_tenant::{Scope, TenantScope};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use uuid::Uuid;

/// The table whose sealed columns carry this area's associated data.
pub const DECISIONS: &str = "automated_decisions";

/// The rule that fails a course: a quiz its completion rule requires, every allowed
/// attempt used, the kept score below the passing score.
pub const RULE_LAST_ATTEMPT_BELOW_PASSING: &str = "required_quiz_attempts_exhausted";

fn explanation_of_last_attempt(title: &str, passing_score: i32, limit: i32) -> String {
    format!(
        "The course's completion rule requires passing the quiz \"{title}\" (at least \
         {passing_score}% of its points). Every allowed attempt ({limit}) has been used and \
         the score kept is below that, so the rule would fail the course. Nothing changes \
         until a reviewer confirms or overturns this; you may contest it meanwhile."
    )
}

/// The rule that denies a certificate: the completion was recorded after the course's
/// certificate deadline.
pub const RULE_COMPLETED_AFTER_CERTIFICATE_DEADLINE: &str = "completed_after_certificate_deadline";

fn explanation_of_late_completion(
    title: &str,
    deadline: DateTime<Utc>,
    completed_at: DateTime<Utc>,
) -> String {
    format!(
        "The course \"{title}\" issues certificates for completions recorded by its \
         certificate deadline, {}. Your completion was recorded at {}, after it, so the rule \
         would deny the certificate. Your completion stands. No certificate is issued until \
         a reviewer confirms or overturns this (an overturn issues it); you may contest it \
         meanwhile.",
        deadline.to_rfc3339_opts(SecondsFormat::Secs, true),
        completed_at.to_rfc3339_opts(SecondsFormat::Secs, true),
    )
}

/// The rule that holds a learner's own enrollment: a course whose prerequisites they have
/// not all completed.
pub const RULE_PREREQUISITES_NOT_COMPLETED: &str = "prerequisites_not_completed";

fn explanation_of_missing_prerequisites(title: &str, missing: &[String]) -> String {
    let missing = missing
        .iter()
        .map(|t| format!("\"{t}\""))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "The course \"{title}\" asks that its prerequisite courses be completed first. You \
         have not completed {missing}, so the rule would refuse your enrollment. You are not \
         enrolled while a reviewer decides: confirming this refuses the enrollment, \
         overturning it enrolls you. You may contest it meanwhile."
    )
}

fn caller(scope: &TenantScope) -> Result<Uuid, CourseError> {
    scope
        .actor()
        .and_then(|a| a.person_id())
        .ok_or(CourseError::PersonOnly)
}

fn holds(scope: &TenantScope, scope_name: Scope) -> bool {
    scope
        .actor_scopes()
        .is_none_or(|held| held.contains(&scope_name))
}

fn sealing(e: impl std::fmt::Display) -> CourseError {
    CourseError::Sealing(e.to_string())
}

fn open_optional(
    scope: &TenantScope,
    column: &'static str,
    id: Uuid,
    sealed: Option<&[u8]>,
) -> Result<Option<String>, CourseError> {
    sealed
        .map(|s| {
            scope
                .keys()
                .open_str(DECISIONS, column, id, s)
                .map_err(sealing)
        })
        .transpose()
}

pub(crate) fn open(scope: &TenantScope, row: decision::Model) -> Result<Decision, CourseError> {
    let inputs = scope
        .keys()
        .open_str(DECISIONS, "inputs", row.id, &row.inputs_sealed)
        .map_err(sealing)?;
    Ok(Decision {
        id: row.id,
        person_id: row.person_id,
        course_id: row.course_id,
        quiz_id: row.quiz_id,
        // Only the model's names are ever written.
        kind: DecisionKind::parse(&row.kind).unwrap_or(DecisionKind::CourseFailed),
        rule: row.rule,
        explanation: row.explanation,
        inputs: serde_json::from_str(&inputs).unwrap_or(serde_json::Value::Null),
        state: DecisionState::parse(&row.state).unwrap_or(DecisionState::PendingReview),
        review_due_at: row.review_due_at,
        created_at: row.created_at,
        contested_at: row.contested_at,
        statement: open_optional(scope, "statement", row.id, row.statement_sealed.as_deref())?,
        reviewed_at: row.reviewed_at,
        reviewed_by: row.reviewed_by,
        review_note: open_optional(
            scope,
            "review_note",
            row.id,
            row.review_note_sealed.as_deref(),
        )?,
    })
}

async fn load(scope: &TenantScope, id: Uuid) -> Result<decision::Model, CourseError> {
    decision::Entity::find_by_id(id)
        .one(scope.db())
        .await?
        .ok_or(CourseError::DecisionNotFound)
}

/// Attempts an overturned `course_failed` decision gave back: one per overturn, on top of
/// the quiz's `max_attempts` (what "a fresh attempt" means to the attempt limit).
pub(crate) async fn extra_attempts(
    scope: &TenantScope,
    quiz_id: Uuid,
    person_id: Uuid,
) -> Result<i32, CourseError> {
    let n = decision::Entity::find()
        .filter(decision::Column::PersonId.eq(person_id))
        .filter(decision::Column::QuizId.eq(quiz_id))
        .filter(decision::Column::Kind.eq(DecisionKind::CourseFailed.as_str()))
        .filter(decision::Column::State.eq(DecisionState::Overturned.as_str()))
        .count(scope.db())
        .await?;
    Ok(i32::try_from(n).unwrap_or(i32::MAX))
}

/// After a submission: when the quiz is one the course's completion rule requires, every
/// allowed attempt is used and the kept score does not pass, records a `course_failed`
/// decision for review instead of failing the learner (once: not while one is open). The
/// enrollment does not change. `Some` with the new decision when one was recorded.
pub(crate) async fn after_submission(
    scope: &TenantScope,
    quiz_id: Uuid,
    person_id: Uuid,
) -> Result<Option<Decision>, CourseError> {
    let quiz = crate::attempts::service::terms(scope, quiz_id).await?;
    let Some(max_attempts) = quiz.max_attempts else {
        return Ok(None);
    };
    let rule = crate::progress::service::rule_of(scope, quiz.course_id).await?;
    if !rule.passing_quizzes.contains(&quiz_id) {
        return Ok(None);
    }
    let allowed = max_attempts.saturating_add(extra_attempts(scope, quiz_id, person_id).await?);
    let attempts = crate::attempts::service::rows_of(scope, quiz_id, person_id).await?;
    let used = i32::try_from(attempts.len()).unwrap_or(i32::MAX);
    if used < allowed
        || attempts.iter().any(|a| a.submitted_at.is_none())
        || crate::attempts::service::quiz_passed(scope, quiz_id, person_id).await?
        || crate::enrollment::active_enrollment(scope, quiz.course_id, person_id)
            .await?
            .is_none()
    {
        return Ok(None);
    }
    if open_decisions(scope, person_id, quiz.course_id, DecisionKind::CourseFailed).await? > 0 {
        return Ok(None);
    }
    let scores: Vec<serde_json::Value> = attempts
        .iter()
        .map(|a| {
            serde_json::json!({
                "attempt_id": a.id,
                "number": a.number,
                "score": a.score,
                "max_score": a.max_score,
            })
        })
        .collect();
    let inputs = serde_json::json!({
        "quiz_id": quiz_id,
        "quiz_title": quiz.title,
        "passing_score_percent": quiz.passing_score,
        "kept_score_policy": quiz.kept_score.as_str(),
        "attempts_allowed": allowed,
        "attempts_used": used,
        "attempts": scores,
        "completion_rule_revision": rule.revision,
    });
    let explanation = explanation_of_last_attempt(&quiz.title, quiz.passing_score, allowed);
    record(
        scope,
        Recorded {
            person_id,
            course_id: quiz.course_id,
            quiz_id: Some(quiz_id),
            kind: DecisionKind::CourseFailed,
            rule: RULE_LAST_ATTEMPT_BELOW_PASSING,
            explanation,
            inputs,
        },
    )
    .await
    .map(Some)
}

/// What a rule reached about a learner, to record for review.
struct Recorded {
    person_id: Uuid,
    course_id: Uuid,
    quiz_id: Option<Uuid>,
    kind: DecisionKind,
    rule: &'static str,
    explanation: String,
    inputs: serde_json::Value,
}

/// Records a rule's adverse outcome in `pending_review` (its inputs sealed, its review due
/// [`REVIEW_PERIOD_DAYS`] from now), audited as `decision.recorded`. Every rule records
/// through here; nothing of the outcome is applied.
async fn record(scope: &TenantScope, r: Recorded) -> Result<Decision, CourseError> {
    let id = Uuid::now_v7();
    let now = Utc::now();
    decision::Entity::insert(decision::ActiveModel {
        id: Set(id),
        person_id: Set(r.person_id),
        course_id: Set(r.course_id),
        quiz_id: Set(r.quiz_id),
        kind: Set(r.kind.as_str().into()),
        rule: Set(r.rule.into()),
        explanation: Set(r.explanation),
        inputs_sealed: Set(scope
            .keys()
            .seal_str(DECISIONS, "inputs", id, &r.inputs.to_string())),
        state: Set(DecisionState::PendingReview.as_str().into()),
        review_due_at: Set(now + Duration::days(REVIEW_PERIOD_DAYS)),
        created_at: Set(now),
        contested_at: Set(None),
        statement_sealed: Set(None),
        reviewed_at: Set(None),
        reviewed_by: Set(None),
        review_note_sealed: Set(None),
    })
    .exec_without_returning(scope.db())
    .await?;
    audit::record(
        scope,
        AuditEvent::new("decision.recorded")
            .person(r.person_id)
            .detail(serde_json::json!({
                "decision_id": id,
                "course_id": r.course_id,
                "kind": r.kind.as_str(),
                "rule": r.rule,
            })),
    )
    .await?;
    open(scope, load(scope, id).await?)
}

/// Whether the certificate of this completion may be issued now: the one place the
/// certificate rule is applied, called by every issuance (the completion's own, the repair
/// on the learner's read, an overturn).
///
/// The `certificate_denied` decision about this completion (one recorded since it was
/// completed) decides while there is one: only an overturned one lets the certificate be
/// issued; one open or confirmed withholds it. Without one, a completion recorded after the
/// course's certificate deadline gets one, in `pending_review`, with the deadline and the
/// completion time as its inputs, and no certificate; any other completion its certificate.
pub(crate) async fn certificate_allowed(
    scope: &TenantScope,
    done: &completion::Model,
    course: &course::Model,
) -> Result<bool, CourseError> {
    let decided = decision::Entity::find()
        .filter(decision::Column::PersonId.eq(done.person_id))
        .filter(decision::Column::CourseId.eq(done.course_id))
        .filter(decision::Column::Kind.eq(DecisionKind::CertificateDenied.as_str()))
        .order_by_desc(decision::Column::Id)
        .all(scope.db())
        .await?
        .into_iter()
        // A decision about an earlier completion (since expired) is not about this one.
        .find(|d| d.created_at >= done.completed_at);
    if let Some(d) = decided {
        return Ok(DecisionState::parse(&d.state) == Some(DecisionState::Overturned));
    }
    let Some(deadline) = course.certificate_deadline else {
        return Ok(true);
    };
    if done.completed_at <= deadline {
        return Ok(true);
    }
    let inputs = serde_json::json!({
        "completion_id": done.id,
        "certificate_deadline": deadline.to_rfc3339_opts(SecondsFormat::Micros, true),
        "completed_at": done.completed_at.to_rfc3339_opts(SecondsFormat::Micros, true),
        "completion_source": done.source,
    });
    record(
        scope,
        Recorded {
            person_id: done.person_id,
            course_id: done.course_id,
            quiz_id: None,
            kind: DecisionKind::CertificateDenied,
            rule: RULE_COMPLETED_AFTER_CERTIFICATE_DEADLINE,
            explanation: explanation_of_late_completion(&course.title, deadline, done.completed_at),
            inputs,
        },
    )
    .await?;
    Ok(false)
}

/// One prerequisite of a course, as a learner stands in it.
pub(crate) struct PrerequisiteStanding {
    pub course_id: Uuid,
    pub title: String,
    /// Their enrollment's state in it, `not_enrolled` without one.
    pub learner_state: &'static str,
}

impl PrerequisiteStanding {
    pub fn completed(&self) -> bool {
        self.learner_state == crate::enrollment::EnrollmentState::Completed.as_str()
    }
}

/// What the rule `prerequisites_not_completed` (U7) reads: each prerequisite of the course,
/// in order, with the person's state in it; the rule holds when one is not completed. A
/// learner's own enrollment is held for review on it ([`before_self_enrollment`]); a sale is
/// refused, and a paid enrollment refunded ([`crate::enrollment::purchases`]).
pub(crate) async fn prerequisite_standing(
    scope: &TenantScope,
    course_id: Uuid,
    person_id: Uuid,
) -> Result<Vec<PrerequisiteStanding>, CourseError> {
    let prerequisites = crate::catalog::prerequisites::of(scope, course_id).await?;
    let mut standing = Vec::with_capacity(prerequisites.len());
    for id in prerequisites {
        let title = course::Entity::find_by_id(id)
            .one(scope.db())
            .await?
            .map(|c| c.title)
            .unwrap_or_default();
        let learner_state = crate::enrollment::store::find(scope, id, person_id)
            .await?
            .map_or("not_enrolled", |e| e.state.as_str());
        standing.push(PrerequisiteStanding {
            course_id: id,
            title,
            learner_state,
        });
    }
    Ok(standing)
}

/// Whether the person completed every prerequisite of the course (the rule does not hold).
pub(crate) async fn prerequisites_completed(
    scope: &TenantScope,
    course_id: Uuid,
    person_id: Uuid,
) -> Result<bool, CourseError> {
    Ok(prerequisite_standing(scope, course_id, person_id)
        .await?
        .iter()
        .all(PrerequisiteStanding::completed))
}

/// Before a learner's own enrollment in `course` (one that would make them active: not
/// the take-up of an invitation, which a person made): when one of its prerequisites is a
/// course they have not completed, records an `enrollment_refused` decision in
/// `pending_review` instead of enrolling them (its inputs: each prerequisite and their
/// enrollment state in it), and returns it; the caller enrolls nobody. `None` when they
/// completed every prerequisite (or there are none): the enrollment applies at once. One
/// still open for this course answers `EnrollmentUnderReview` and records nothing: the
/// course row is locked first (PostgreSQL; SQLite's writes are serial), so two requests at
/// once record one decision.
pub(crate) async fn before_self_enrollment(
    scope: &TenantScope,
    course: &crate::Course,
    person_id: Uuid,
) -> Result<Option<Decision>, CourseError> {
    crate::enrollment::store::lock_course(scope, course.id).await?;
    if open_decisions(scope, person_id, course.id, DecisionKind::EnrollmentRefused).await? > 0 {
        return Err(CourseError::EnrollmentUnderReview);
    }
    let standing = prerequisite_standing(scope, course.id, person_id).await?;
    let missing: Vec<String> = standing
        .iter()
        .filter(|p| !p.completed())
        .map(|p| p.title.clone())
        .collect();
    if missing.is_empty() {
        return Ok(None);
    }
    let read: Vec<serde_json::Value> = standing
        .iter()
        .map(|p| {
            serde_json::json!({
                "course_id": p.course_id,
                "title": p.title,
                "learner_state": p.learner_state,
            })
        })
        .collect();
    let inputs = serde_json::json!({
        "course_id": course.id,
        "prerequisites": read,
        "required_state": crate::enrollment::EnrollmentState::Completed.as_str(),
    });
    record(
        scope,
        Recorded {
            person_id,
            course_id: course.id,
            quiz_id: None,
            kind: DecisionKind::EnrollmentRefused,
            rule: RULE_PREREQUISITES_NOT_COMPLETED,
            explanation: explanation_of_missing_prerequisites(&course.title, &missing),
            inputs,
        },
    )
    .await
    .map(Some)
}

/// The signed-in learner's decisions, newest first, each with its rule, explanation and
/// inputs. Scope `courses:read`.
pub async fn mine(scope: &TenantScope) -> Result<Vec<Decision>, CourseError> {
    scope.require(Scope::CoursesRead)?;
    let person = caller(scope)?;
    decision::Entity::find()
        .filter(decision::Column::PersonId.eq(person))
        .order_by_desc(decision::Column::Id)
        .all(scope.db())
        .await?
        .into_iter()
        .map(|row| open(scope, row))
        .collect()
}

fn check_text(field: &'static str, text: &str, max: usize) -> Result<(), CourseError> {
    if text.trim().is_empty()
        || text.chars().count() > max
        || text.chars().any(|c| c.is_control() && c != '\n')
    {
        return Err(CourseError::Invalid(vec![FieldViolation::new(
            field,
            format!("required: 1 to {max} characters without control characters"),
        )]));
    }
    Ok(())
}

/// The learner contests one of their decisions still waiting for review: it moves to
/// `contested` with their statement (sealed) and a new review deadline
/// ([`REVIEW_PERIOD_DAYS`] from now). One reviewed already is `DecisionReviewed`; one
/// contested already is `DecisionContested`.
pub async fn contest(
    scope: &TenantScope,
    id: Uuid,
    statement: &str,
) -> Result<Decision, CourseError> {
    scope.require(Scope::CoursesRead)?;
    let person = caller(scope)?;
    check_text("statement", statement, STATEMENT_MAX_CHARS)?;
    let row = load(scope, id).await?;
    if row.person_id != person {
        return Err(CourseError::DecisionNotFound);
    }
    match DecisionState::parse(&row.state) {
        Some(DecisionState::PendingReview) => {}
        Some(DecisionState::Contested) => return Err(CourseError::DecisionContested),
        _ => return Err(CourseError::DecisionReviewed),
    }
    let now = Utc::now();
    let moved = decision::Entity::update_many()
        .set(decision::ActiveModel {
            state: Set(DecisionState::Contested.as_str().into()),
            contested_at: Set(Some(now)),
            review_due_at: Set(now + Duration::days(REVIEW_PERIOD_DAYS)),
            statement_sealed: Set(Some(scope.keys().seal_str(
                DECISIONS,
                "statement",
                id,
                statement,
            ))),
            ..Default::default()
        })
        .filter(decision::Column::Id.eq(id))
        .filter(decision::Column::State.eq(DecisionState::PendingReview.as_str()))
        .exec(scope.db())
        .await?;
    if moved.rows_affected == 0 {
        return Err(CourseError::DecisionContested);
    }
    audit::record(
        scope,
        AuditEvent::new("decision.contested")
            .person(person)
            .detail(serde_json::json!({
                "decision_id": id,
                "course_id": row.course_id,
                "kind": row.kind,
                "old_state": DecisionState::PendingReview.as_str(),
                "new_state": DecisionState::Contested.as_str(),
            })),
    )
    .await?;
    open(scope, load(scope, id).await?)
}

/// The courses whose decisions the caller reviews: `None` for every course (an admin).
async fn reviewed_courses(scope: &TenantScope) -> Result<Option<Vec<Uuid>>, CourseError> {
    scope.require(DECISIONS_REVIEW)?;
    if holds(scope, ALL_ENROLLMENTS_WRITE) {
        return Ok(None);
    }
    let Some(person) = scope.actor().and_then(|a| a.person_id()) else {
        return Ok(Some(Vec::new()));
    };
    Ok(Some(
        instructor::Entity::find()
            .select_only()
            .column(instructor::Column::CourseId)
            .filter(instructor::Column::PersonId.eq(person))
            .into_tuple::<Uuid>()
            .all(scope.db())
            .await?,
    ))
}

/// The review queue and its history: decisions of the courses the caller reviews, by id
/// (oldest first), filtered by state and course, in pages. Audited (`decision.listed`,
/// with the ids shown): it shows other people's learning records.
pub async fn list(
    scope: &TenantScope,
    filter: &DecisionFilter,
    page: &PageRequest,
) -> Result<Page<Decision>, CourseError> {
    let courses = reviewed_courses(scope).await?;
    if let Some(course) = filter.course_id {
        crate::enrollment::store::course(scope, course).await?;
        if courses.as_ref().is_some_and(|c| !c.contains(&course)) {
            return Err(CourseError::NotFound);
        }
    }
    let mut query = decision::Entity::find()
        .order_by_asc(decision::Column::Id)
        .limit(page.fetch_limit());
    if let Some(courses) = courses {
        query = query.filter(decision::Column::CourseId.is_in(courses));
    }
    if let Some(course) = filter.course_id {
        query = query.filter(decision::Column::CourseId.eq(course));
    }
    if let Some(state) = filter.state {
        query = query.filter(decision::Column::State.eq(state.as_str()));
    }
    if let Some(after) = page.after {
        query = query.filter(decision::Column::Id.gt(after));
    }
    let rows = query.all(scope.db()).await?;
    let found = Page::from_rows(rows, page, |r| r.id).try_map(|r| open(scope, r))?;
    // Every call is on record, an empty page too: the call itself asked for others' data.
    audit::record(
        scope,
        AuditEvent::new("decision.listed").detail(serde_json::json!({
            "count": found.items.len(),
            "decision_ids": found.items.iter().map(|d| d.id).collect::<Vec<_>>(),
            "course_id": filter.course_id,
            "state": filter.state.map(DecisionState::as_str),
        })),
    )
    .await?;
    Ok(found)
}

/// The decision, open for review by the caller: they review its course (else
/// `DecisionNotFound`) and it is still open (else `DecisionReviewed`).
async fn reviewable(scope: &TenantScope, id: Uuid) -> Result<decision::Model, CourseError> {
    let courses = reviewed_courses(scope).await?;
    let row = load(scope, id).await?;
    if courses.is_some_and(|c| !c.contains(&row.course_id)) {
        return Err(CourseError::DecisionNotFound);
    }
    if !DecisionState::parse(&row.state).is_some_and(DecisionState::is_open) {
        return Err(CourseError::DecisionReviewed);
    }
    if crate::enrollment::store::is_restricted(scope, row.person_id).await? {
        return Err(CourseError::LearnerRestricted);
    }
    Ok(row)
}

/// What the review letter says the rule would have done, and what the review now means.
fn wording(kind: DecisionKind, outcome: DecisionState) -> (&'static str, &'static str) {
    let confirmed = outcome == DecisionState::Confirmed;
    match kind {
        DecisionKind::CourseFailed => (
            "failed you in the course",
            if confirmed {
                "It now applies: your enrollment is marked failed."
            } else {
                "It will not apply: you may start one more attempt at the quiz."
            },
        ),
        DecisionKind::CertificateDenied => (
            "denied you the certificate of the course",
            if confirmed {
                "It now applies: no certificate is issued for your completion, which stands."
            } else {
                "It will not apply: your certificate is issued; you find it with your \
                 certificates."
            },
        ),
        DecisionKind::EnrollmentRefused => (
            "refused your enrollment in the course",
            if confirmed {
                "It now applies: you are not enrolled. Once you have completed its \
                 prerequisite courses you may enroll again."
            } else {
                "It will not apply: you are enrolled in the course."
            },
        ),
    }
}

/// A review's outcome, with what an overturn needs to undo the rule.
#[derive(Clone, Copy)]
enum Review<'a> {
    Confirm,
    /// Issues the certificate a `certificate_denied` withheld.
    Overturn(&'a dyn CertificateSigner),
}

async fn review(
    scope: &TenantScope,
    messages: &dyn EssentialMessages,
    id: Uuid,
    note: &str,
    how: Review<'_>,
) -> Result<Decision, CourseError> {
    let outcome = match how {
        Review::Confirm => DecisionState::Confirmed,
        Review::Overturn(_) => DecisionState::Overturned,
    };
    check_text("reason", note, NOTE_MAX_CHARS)?;
    let row = reviewable(scope, id).await?;
    let kind = DecisionKind::parse(&row.kind).unwrap_or(DecisionKind::CourseFailed);
    let old_state = row.state.clone();
    // An overturned `enrollment_refused` enrolls the learner first: with no seat left it
    // is `seats_exhausted` and, nothing committed, the decision stays open.
    if matches!(how, Review::Overturn(_)) && kind == DecisionKind::EnrollmentRefused {
        crate::enrollment::service::admit_after_review(
            scope,
            row.course_id,
            row.person_id,
            "a reviewer overturned the automated decision that refused this enrollment \
             (prerequisites not completed)",
        )
        .await?;
    }
    let now = Utc::now();
    let moved = decision::Entity::update_many()
        .set(decision::ActiveModel {
            state: Set(outcome.as_str().into()),
            reviewed_at: Set(Some(now)),
            reviewed_by: Set(Some(scope.actor_label())),
            review_note_sealed: Set(Some(scope.keys().seal_str(
                DECISIONS,
                "review_note",
                id,
                note,
            ))),
            ..Default::default()
        })
        .filter(decision::Column::Id.eq(id))
        .filter(decision::Column::State.eq(old_state.as_str()))
        .exec(scope.db())
        .await?;
    if moved.rows_affected == 0 {
        return Err(CourseError::DecisionReviewed);
    }
    // Only now does the outcome apply (confirmed), or never (overturned: the extra attempt
    // it gives back is counted by `extra_attempts`; the certificate it withheld is issued
    // now, in this transaction; the held enrollment was made above). A confirmed
    // `certificate_denied` needs nothing done: the certificate was never issued, and
    // `certificate_allowed` keeps it so; nor does a confirmed `enrollment_refused`: the
    // learner was never enrolled by their request.
    if let Review::Overturn(signer) = how
        && kind == DecisionKind::CertificateDenied
        && let Some(done) = completion::Entity::find()
            .filter(completion::Column::PersonId.eq(row.person_id))
            .filter(completion::Column::CourseId.eq(row.course_id))
            .one(scope.db())
            .await?
    {
        crate::certificates::service::issue_for_completion(signer, scope, done).await?;
    }
    if outcome == DecisionState::Confirmed && kind == DecisionKind::CourseFailed {
        let enrollment = crate::enrollment::store::find(scope, row.course_id, row.person_id)
            .await?
            .ok_or(CourseError::EnrollmentNotFound)?;
        crate::enrollment::fail(
            scope,
            enrollment.id,
            "a reviewer confirmed the automated decision that the course is failed",
        )
        .await?;
    }
    let action = if outcome == DecisionState::Confirmed {
        "decision.confirmed"
    } else {
        "decision.overturned"
    };
    audit::record(
        scope,
        AuditEvent::new(action)
            .person(row.person_id)
            .detail(serde_json::json!({
                "decision_id": id,
                "course_id": row.course_id,
                "kind": kind.as_str(),
                "old_state": old_state,
                "new_state": outcome.as_str(),
            })),
    )
    .await?;
    let course = crate::catalog::entity::Entity::find_by_id(row.course_id)
        .one(scope.db())
        .await?
        .map(|c| c.title)
        .unwrap_or_default();
    let subject = if outcome == DecisionState::Confirmed {
        format!("A reviewer confirmed the decision about {course}")
    } else {
        format!("A reviewer overturned the decision about {course}")
    };
    let (what, effect) = wording(kind, outcome);
    messages
        .send(
            scope,
            row.person_id,
            EssentialMessage {
                kind: action,
                subject,
                body: format!(
                    "An automated rule would have {what} \"{course}\". A reviewer looked at \
                     it. {effect}\nTheir reason: {note}"
                ),
            },
        )
        .await
        .map_err(|e| CourseError::Messaging(e.to_string()))?;
    open(scope, load(scope, id).await?)
}

/// A reviewer confirms an open decision with a reason (sealed): only now does its outcome
/// take effect (`course_failed`: the enrollment becomes `failed`; `certificate_denied`: the
/// completion's certificate is never issued; `enrollment_refused`: the held request is
/// refused, the learner stays unenrolled). Audited, the learner told.
pub async fn confirm(
    scope: &TenantScope,
    messages: &dyn EssentialMessages,
    id: Uuid,
    reason: &str,
) -> Result<Decision, CourseError> {
    review(scope, messages, id, reason, Review::Confirm).await
}

/// A reviewer overturns an open decision with a reason (sealed): its outcome never applies.
/// A `course_failed` gives the learner one more attempt at the quiz; a
/// `certificate_denied` issues the completion's certificate, signed through `signer`, in
/// this transaction; an `enrollment_refused` enrolls the learner (`active`, a seat claimed
/// like any enrollment's: none left is `SeatsExhausted`, and the decision stays open).
/// Audited, the learner told.
pub async fn overturn(
    scope: &TenantScope,
    messages: &dyn EssentialMessages,
    signer: &dyn CertificateSigner,
    id: Uuid,
    reason: &str,
) -> Result<Decision, CourseError> {
    review(scope, messages, id, reason, Review::Overturn(signer)).await
}

/// How many decisions of `kind` about the person in the course are still open (pending
/// review or contested): a rule records at most one open decision of a kind at a time.
async fn open_decisions(
    scope: &TenantScope,
    person_id: Uuid,
    course_id: Uuid,
    kind: DecisionKind,
) -> Result<u64, CourseError> {
    Ok(decision::Entity::find()
        .filter(decision::Column::PersonId.eq(person_id))
        .filter(decision::Column::CourseId.eq(course_id))
        .filter(decision::Column::Kind.eq(kind.as_str()))
        .filter(decision::Column::State.is_in([
            DecisionState::PendingReview.as_str(),
            DecisionState::Contested.as_str(),
        ]))
        .count(scope.db())
        .await?)
}
