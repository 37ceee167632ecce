//! The reminder job.

use super::entity::{reminder, schedule};
use super::{EVERY_MINUTES, INACTIVE_DAYS, QUIZ_DUE_HOURS};
use crate::CourseError;
use crate::attempts::entity::attempt;
use crate::catalog::entity as course;
use crate::completion::entity as completion;
use crate::enrollment::entity::enrollment;
use crate::progress::LessonStatus;
use crate::progress::entity as progress;
use crate::quiz::entity as quiz;
use chrono::{DateTime, Duration, Utc};
use hub_tenant::consent_gate::{ConsentPurpose, Decision};
use hub_tenant::personal_data::{EssentialMessage, EssentialMessages};
use hub_tenant::{Tenancy, TenantScope};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

/// The platform job's name (the purpose of its units of work).
pub const JOB: &str = "course.reminders";
/// Enrollments looked at per institution and pass (the rest next pass).
const BATCH: u64 = 1_000;
const SCHEDULE_ROW: i32 = 1;

/// What a reminder is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReminderKind {
    /// No progress for [`INACTIVE_DAYS`] days (about the course).
    Inactive,
    /// A quiz due within [`QUIZ_DUE_HOURS`] hours, not submitted (about the quiz).
    QuizDue,
}

impl ReminderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Inactive => "inactive",
            Self::QuizDue => "quiz_due",
        }
    }
}

/// What one pass did.
#[derive(Debug, Clone, Default)]
pub struct ReminderReport {
    /// Institutions whose pass this process claimed.
    pub tenants: usize,
    /// Reminders sent (one message each).
    pub sent: usize,
    /// Institutions whose pass failed, with why (tried again next pass).
    pub failed: Vec<(Uuid, String)>,
}

/// One pass of the reminder job across institutions, as of `now` (every replica calls it
/// periodically with the wall clock; each institution's pass runs in one of them). An
/// institution's failure is reported, not fatal.
pub async fn send_due(
    tenancy: &Tenancy,
    messages: &dyn EssentialMessages,
    now: DateTime<Utc>,
) -> Result<ReminderReport, CourseError> {
    let mut report = ReminderReport::default();
    for tenant in tenancy.active_tenant_ids().await? {
        let Some(scope) = tenancy.periodic_job_scope(tenant, JOB).await? else {
            continue;
        };
        match remind_tenant(tenancy, &scope, messages, now, &mut report).await {
            Ok(()) => scope.commit().await?,
            Err(error) => {
                tracing::warn!(%tenant, %error, "course reminders failed; retrying next pass");
                report.failed.push((tenant, error.to_string()));
            }
        }
    }
    Ok(report)
}

async fn claimed(scope: &TenantScope, now: DateTime<Utc>) -> Result<bool, CourseError> {
    schedule::Entity::insert(schedule::ActiveModel {
        id: Set(SCHEDULE_ROW),
        next_due_at: Set(DateTime::<Utc>::UNIX_EPOCH),
    })
    .on_conflict(
        OnConflict::column(schedule::Column::Id)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(scope.db())
    .await?;
    let won = schedule::Entity::update_many()
        .col_expr(
            schedule::Column::NextDueAt,
            Expr::value(now + Duration::minutes(EVERY_MINUTES)),
        )
        .filter(schedule::Column::Id.eq(SCHEDULE_ROW))
        .filter(schedule::Column::NextDueAt.lte(now))
        .exec(scope.db())
        .await?;
    Ok(won.rows_affected == 1)
}

/// Records the reminder, once; whether it is new (then its message is to be queued in the
/// same unit of work).
async fn recorded_once(
    scope: &TenantScope,
    e: &enrollment::Model,
    kind: ReminderKind,
    subject_id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, CourseError> {
    let recorded = reminder::Entity::insert(reminder::ActiveModel {
        id: Set(Uuid::now_v7()),
        enrollment_id: Set(e.id),
        person_id: Set(e.person_id),
        course_id: Set(e.course_id),
        kind: Set(kind.as_str().into()),
        subject_id: Set(subject_id),
        sent_at: Set(now),
    })
    .on_conflict(
        OnConflict::columns([
            reminder::Column::EnrollmentId,
            reminder::Column::Kind,
            reminder::Column::SubjectId,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(scope.db())
    .await?;
    Ok(recorded > 0)
}

async fn send(
    scope: &TenantScope,
    messages: &dyn EssentialMessages,
    person: Uuid,
    message: EssentialMessage,
) -> Result<(), CourseError> {
    messages
        .send(scope, person, message)
        .await
        .map_err(|e| CourseError::Messaging(e.to_string()))
}

/// Whether this learner's reminders may be tailored (U3): the consent gate's answer for
/// personalisation, asked once per learner and pass and only when a reminder is about to
/// be sent (module doc).
#[derive(Default)]
struct Tailoring {
    decision: Option<Decision>,
}

impl Tailoring {
    async fn allowed(
        &mut self,
        tenancy: &Tenancy,
        scope: &TenantScope,
        person: Uuid,
        now: DateTime<Utc>,
    ) -> Result<bool, CourseError> {
        if self.decision.is_none() {
            let decision = tenancy
                .may_use(scope, person, ConsentPurpose::Personalisation, now)
                .await
                .map_err(|e| CourseError::Messaging(format!("the consent gate failed: {e}")))?;
            self.decision = Some(decision);
        }
        Ok(self.decision.is_some_and(|d| d.allowed))
    }
}

/// What one pass tailored, per learner: how many were, and the gate's reasons for the
/// others (recorded in the pass's audit entry; nothing per person is kept).
#[derive(Default)]
struct Tailored {
    learners: usize,
    refused: BTreeMap<&'static str, usize>,
}

impl Tailored {
    fn count(&mut self, tailoring: &Tailoring) {
        match tailoring.decision {
            Some(d) if d.allowed => self.learners += 1,
            Some(d) => *self.refused.entry(d.reason).or_default() += 1,
            None => {}
        }
    }
}

/// The tailored line of an inactivity reminder: the learner's next lesson, the first in
/// course order they have not completed (`None` when every lesson is done).
async fn next_lesson_line(
    scope: &TenantScope,
    e: &enrollment::Model,
) -> Result<Option<String>, CourseError> {
    let done: BTreeSet<Uuid> = crate::progress::service::rows_of(scope, e.course_id, e.person_id)
        .await?
        .into_iter()
        .filter(|r| LessonStatus::parse(&r.status) == Some(LessonStatus::Completed))
        .map(|r| r.lesson_id)
        .collect();
    let outline = crate::structure::service::outline_of(scope, e.course_id).await?;
    Ok(outline
        .lessons()
        .find(|l| !done.contains(&l.id))
        .map(|l| format!("Your next lesson is \"{}\".", l.title)))
}

/// The tailored line of a quiz-due reminder: how the learner's attempts stand (used, left
/// of the limit, one in progress) against what passes. The reminder only goes to a learner
/// with no submitted attempt, so there is no score of theirs to compare yet.
async fn attempts_line(
    scope: &TenantScope,
    q: &quiz::Model,
    person: Uuid,
    now: DateTime<Utc>,
) -> Result<String, CourseError> {
    let mine = crate::attempts::service::rows_of(scope, q.id, person).await?;
    let used = i32::try_from(mine.len()).unwrap_or(i32::MAX);
    let standing = match q.max_attempts {
        Some(limit) => {
            let limit = limit.saturating_add(
                crate::decisions::service::extra_attempts(scope, q.id, person).await?,
            );
            let left = (limit - used).max(0);
            format!("You have used {used} of your {limit} attempts: {left} left.")
        }
        None => format!("You have used {used} attempts; there is no limit."),
    };
    let in_progress = mine
        .iter()
        .any(|a| a.submitted_at.is_none() && a.deadline_at.is_none_or(|deadline| now <= deadline));
    Ok(format!(
        " {standing}{} You have no submitted score yet; {}% of the points passes.",
        if in_progress {
            " One attempt is in progress: submit it before its deadline."
        } else {
            ""
        },
        q.passing_score
    ))
}

async fn remind_tenant(
    tenancy: &Tenancy,
    scope: &TenantScope,
    messages: &dyn EssentialMessages,
    now: DateTime<Utc>,
    report: &mut ReminderReport,
) -> Result<(), CourseError> {
    if !claimed(scope, now).await? {
        return Ok(());
    }
    report.tenants += 1;
    let active = enrollment::Entity::find()
        .filter(enrollment::Column::State.eq("active"))
        .order_by_asc(enrollment::Column::Id)
        .limit(BATCH)
        .all(scope.db())
        .await?;
    let mut sent = 0;
    let mut tailored = Tailored::default();
    for e in active {
        let done = completion::Entity::find()
            .filter(completion::Column::PersonId.eq(e.person_id))
            .filter(completion::Column::CourseId.eq(e.course_id))
            .count(scope.db())
            .await?
            > 0;
        if done || crate::enrollment::store::is_restricted(scope, e.person_id).await? {
            continue;
        }
        let Some(course) = course::Entity::find_by_id(e.course_id)
            .one(scope.db())
            .await?
        else {
            continue;
        };
        let mut tailoring = Tailoring::default();
        let last_progress: Option<DateTime<Utc>> = progress::Entity::find()
            .select_only()
            .column_as(progress::Column::LastAt.max(), "last")
            .filter(progress::Column::PersonId.eq(e.person_id))
            .filter(progress::Column::CourseId.eq(e.course_id))
            .into_tuple::<Option<DateTime<Utc>>>()
            .one(scope.db())
            .await?
            .flatten();
        let since = last_progress.unwrap_or(e.updated_at).max(e.updated_at);
        if now - since >= Duration::days(INACTIVE_DAYS)
            && recorded_once(scope, &e, ReminderKind::Inactive, e.course_id, now).await?
        {
            let next = match tailoring.allowed(tenancy, scope, e.person_id, now).await? {
                true => next_lesson_line(scope, &e).await?,
                false => None,
            };
            let body = format!(
                "You are enrolled in the course \"{}\" and have not made progress in it for \
                 {INACTIVE_DAYS} days. {}",
                course.title,
                next.unwrap_or_else(|| "You can continue where you left off.".into())
            );
            send(
                scope,
                messages,
                e.person_id,
                EssentialMessage {
                    kind: "course.reminder.inactive",
                    subject: format!("A reminder about your course {}", course.title),
                    body,
                },
            )
            .await?;
            sent += 1;
        }
        let due_quizzes = quiz::Entity::find()
            .filter(quiz::Column::CourseId.eq(e.course_id))
            .filter(quiz::Column::DueAt.gt(now))
            .filter(quiz::Column::DueAt.lte(now + Duration::hours(QUIZ_DUE_HOURS)))
            .order_by_asc(quiz::Column::Id)
            .all(scope.db())
            .await?;
        for q in due_quizzes {
            let submitted = attempt::Entity::find()
                .filter(attempt::Column::QuizId.eq(q.id))
                .filter(attempt::Column::PersonId.eq(e.person_id))
                .filter(attempt::Column::SubmittedAt.is_not_null())
                .count(scope.db())
                .await?
                > 0;
            let Some(due_at) = q.due_at else { continue };
            if submitted || !recorded_once(scope, &e, ReminderKind::QuizDue, q.id, now).await? {
                continue;
            }
            let standing = match tailoring.allowed(tenancy, scope, e.person_id, now).await? {
                true => attempts_line(scope, &q, e.person_id, now).await?,
                false => String::new(),
            };
            send(
                scope,
                messages,
                e.person_id,
                EssentialMessage {
                    kind: "course.reminder.quiz_due",
                    subject: format!("A quiz of your course {} is due soon", course.title),
                    body: format!(
                        "The quiz \"{}\" of your course \"{}\" is due on {}.{standing}",
                        q.title,
                        course.title,
                        due_at.format("%Y-%m-%d %H:%M UTC"),
                    ),
                },
            )
            .await?;
            sent += 1;
        }
        tailored.count(&tailoring);
    }
    report.sent += sent;
    if sent > 0 {
        hub_tenant::audit::record(
            scope,
            hub_tenant::audit::AuditEvent::new("course.reminders_sent").detail(serde_json::json!({
                "reminders": sent,
                // Tailored per learner (U3), or not and the gate's reasons why.
                "tailored_learners": tailored.learners,
                "untailored_learners": tailored.refused,
            })),
        )
        .await?;
    }
    Ok(())
}
