//! The reminder job.

use super::entity::{reminder, schedule};
use super::{EVERY_MINUTES, INACTIVE_DAYS, QUIZ_DUE_HOURS};
use crate::CourseError;
use crate::attempts::entity::attempt;
use crate::catalog::entity as course;
use crate::completion::entity as completion;
use crate::enrollment::entity::enrollment;
use crate::progress::entity as progress;
use crate::quiz::entity as quiz;
use chrono::{DateTime, Duration, Utc};
use hub_tenant::personal_data::{EssentialMessage, EssentialMessages};
use hub_tenant::{Tenancy, TenantScope};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
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
        match remind_tenant(&scope, messages, now, &mut report).await {
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

/// Records the reminder (once) and, when it is new, queues its message; whether it did.
async fn send_once(
    scope: &TenantScope,
    messages: &dyn EssentialMessages,
    e: &enrollment::Model,
    kind: ReminderKind,
    subject_id: Uuid,
    now: DateTime<Utc>,
    message: EssentialMessage,
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
    if recorded == 0 {
        return Ok(false);
    }
    messages
        .send(scope, e.person_id, message)
        .await
        .map_err(|e| CourseError::Messaging(e.to_string()))?;
    Ok(true)
}

async fn remind_tenant(
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
            && send_once(
                scope,
                messages,
                &e,
                ReminderKind::Inactive,
                e.course_id,
                now,
                EssentialMessage {
                    kind: "course.reminder.inactive",
                    subject: format!("A reminder about your course {}", course.title),
                    body: format!(
                        "You are enrolled in the course \"{}\" and have not made progress in \
                         it for {INACTIVE_DAYS} days. You can continue where you left off.",
                        course.title
                    ),
                },
            )
            .await?
        {
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
            if !submitted
                && send_once(
                    scope,
                    messages,
                    &e,
                    ReminderKind::QuizDue,
                    q.id,
                    now,
                    EssentialMessage {
                        kind: "course.reminder.quiz_due",
                        subject: format!("A quiz of your course {} is due soon", course.title),
                        body: format!(
                            "The quiz \"{}\" of your course \"{}\" is due on {}.",
                            q.title,
                            course.title,
                            due_at.format("%Y-%m-%d %H:%M UTC")
                        ),
                    },
                )
                .await?
            {
                sent += 1;
            }
        }
    }
    report.sent += sent;
    if sent > 0 {
        hub_tenant::audit::record(
            scope,
            hub_tenant::audit::AuditEvent::new("course.reminders_sent")
                .detail(serde_json::json!({ "reminders": sent })),
        )
        .await?;
    }
    Ok(())
}
