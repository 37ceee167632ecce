//! Enrollments as personal data (C3: learning records, used to deliver the courses the
//! person takes, U1): the person's enrollments and their history (the reason of a change is
//! sealed: free text may name people), the courses they teach, the SCIM group mappings and
//! enrollments they made as an admin, and the restriction of their learning records.
//!
//! - **Erase** deletes the person's enrollments, their history and their instructor
//!   assignments; where they acted on other people's records (`enrollment_events.actor`,
//!   `enrollments.enrolled_by`, `course_instructors.assigned_by`, `course_groups.mapped_by`)
//!   they are replaced by one fresh pseudonym ([`pseudonymise_references`]).
//! - **Expire** (category `learning`) deletes enrollments that ended (`completed` or
//!   `withdrawn`) before the cutoff, with their history; ongoing ones are the service
//!   itself and stay.
//! - **Restrict** (R3) records the restriction (`learning_restrictions`): while it holds the
//!   person is enrolled nowhere anew (self, admin, bulk, SCIM) and their enrollments do not
//!   change state; lifting it removes the record.

use super::entity::{enrollment, event, instructor, restriction};
use super::store;
use crate::{ALL_ENROLLMENTS_READ, ALL_ENROLLMENTS_WRITE};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hub_kernel::classification::{DataCategory, FieldClassification, Purpose, RetentionClass};
use hub_tenant::TenantScope;
use hub_tenant::personal_data::{
    DataSubject, EXPIRE_BATCH, Outcome, PersonalDataSource, SourceError, Summary,
    pseudonymise_references,
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use uuid::Uuid;

/// The classified fields of the enrollment tables.
pub const PERSONAL_FIELDS: &[FieldClassification] = &[FieldClassification {
    table: store::EVENTS,
    column: "reason",
    category: DataCategory::Learning,
    purpose: Purpose::ServiceDelivery,
    retention: RetentionClass::CategoryPeriod,
    identifying: true,
    blind_index: false,
    optional: true,
}];

/// The columns naming who acted (`person:<id>`), pseudonymised on erasure.
const ACTOR_COLUMNS: &[(&str, &str)] = &[
    ("enrollment_events", "actor"),
    ("enrollments", "enrolled_by"),
    ("course_instructors", "assigned_by"),
    ("course_groups", "mapped_by"),
];

fn label(person: Uuid) -> String {
    hub_tenant::audit::person_label(person)
}

pub struct EnrollmentsSource;

#[async_trait]
impl PersonalDataSource for EnrollmentsSource {
    fn name(&self) -> &'static str {
        "enrollments"
    }

    fn fields(&self) -> Vec<FieldClassification> {
        PERSONAL_FIELDS.to_vec()
    }

    fn tables(&self) -> &'static [&'static str] {
        &[
            "enrollments",
            "enrollment_events",
            "course_instructors",
            "course_groups",
            "learning_restrictions",
        ]
    }

    async fn summary(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Summary, SourceError> {
        scope.require(ALL_ENROLLMENTS_READ)?;
        let Some(id) = subject.person_id() else {
            return Ok(Summary { records: 0 });
        };
        let enrollments = enrollment::Entity::find()
            .filter(enrollment::Column::PersonId.eq(id))
            .count(scope.db())
            .await?;
        let acted = event::Entity::find()
            .filter(event::Column::Actor.eq(label(id)))
            .filter(event::Column::PersonId.ne(id))
            .count(scope.db())
            .await?;
        let teaching = instructor::Entity::find()
            .filter(instructor::Column::PersonId.eq(id))
            .count(scope.db())
            .await?;
        Ok(Summary {
            records: enrollments + acted + teaching,
        })
    }

    async fn export(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Vec<serde_json::Value>, SourceError> {
        scope.require(ALL_ENROLLMENTS_READ)?;
        let Some(id) = subject.person_id() else {
            return Ok(Vec::new());
        };
        let mut exported = Vec::new();
        for row in enrollment::Entity::find()
            .filter(enrollment::Column::PersonId.eq(id))
            .order_by_asc(enrollment::Column::Id)
            .all(scope.db())
            .await?
        {
            let history: Vec<serde_json::Value> = store::events_of(scope, row.id)
                .await?
                .into_iter()
                .map(|e| {
                    serde_json::json!({
                        "from": e.from.map(|s| s.as_str()),
                        "to": e.to.as_str(),
                        "actor": e.actor,
                        "reason": e.reason,
                        "at": e.at,
                    })
                })
                .collect();
            exported.push(serde_json::json!({
                "record": "enrollment",
                "enrollment_id": row.id,
                "course_id": row.course_id,
                "state": row.state,
                "source": row.source,
                "created_at": row.created_at,
                "updated_at": row.updated_at,
                "history": history,
            }));
        }
        for row in event::Entity::find()
            .filter(event::Column::Actor.eq(label(id)))
            .filter(event::Column::PersonId.ne(id))
            .order_by_asc(event::Column::Id)
            .all(scope.db())
            .await?
        {
            // What the person did to another's enrollment: the change, not whose it was.
            exported.push(serde_json::json!({
                "record": "enrollment_change_made",
                "enrollment_id": row.enrollment_id,
                "from": row.from_state,
                "to": row.to_state,
                "at": row.at,
            }));
        }
        for row in instructor::Entity::find()
            .filter(instructor::Column::PersonId.eq(id))
            .order_by_asc(instructor::Column::CourseId)
            .all(scope.db())
            .await?
        {
            exported.push(serde_json::json!({
                "record": "instructor_of",
                "course_id": row.course_id,
                "assigned_at": row.assigned_at,
            }));
        }
        if let Some(row) = restriction::Entity::find_by_id(id).one(scope.db()).await? {
            exported.push(serde_json::json!({
                "record": "learning_restricted",
                "since": row.restricted_at,
            }));
        }
        Ok(exported)
    }

    async fn erase(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
    ) -> Result<Outcome, SourceError> {
        scope.require(ALL_ENROLLMENTS_WRITE)?;
        let Some(id) = subject.person_id() else {
            return Ok(Outcome::NotApplicable {
                reason: "enrollments are people's",
            });
        };
        let events = event::Entity::delete_many()
            .filter(event::Column::PersonId.eq(id))
            .exec(scope.db())
            .await?
            .rows_affected;
        let enrollments = enrollment::Entity::delete_many()
            .filter(enrollment::Column::PersonId.eq(id))
            .exec(scope.db())
            .await?
            .rows_affected;
        let teaching = instructor::Entity::delete_many()
            .filter(instructor::Column::PersonId.eq(id))
            .exec(scope.db())
            .await?
            .rows_affected;
        let restricted = restriction::Entity::delete_many()
            .filter(restriction::Column::PersonId.eq(id))
            .exec(scope.db())
            .await?
            .rows_affected;
        let acted = pseudonymise_references(scope, ACTOR_COLUMNS, id).await?;
        let records = events + enrollments + teaching + restricted + acted;
        hub_tenant::personal_data::audit_erased(scope, "enrollments.erased", id, records).await?;
        Ok(Outcome::Deleted { records })
    }

    async fn expire(
        &self,
        scope: &TenantScope,
        category: DataCategory,
        cutoff: DateTime<Utc>,
        keep: &[Uuid],
    ) -> Result<Outcome, SourceError> {
        scope.require(ALL_ENROLLMENTS_WRITE)?;
        if category != DataCategory::Learning {
            return Ok(Outcome::Deleted { records: 0 });
        }
        let mut ended = enrollment::Entity::find()
            .select_only()
            .column(enrollment::Column::Id)
            .filter(enrollment::Column::State.is_in(["completed", "withdrawn"]))
            .filter(enrollment::Column::UpdatedAt.lt(cutoff))
            .order_by_asc(enrollment::Column::Id)
            .limit(EXPIRE_BATCH);
        if !keep.is_empty() {
            ended = ended.filter(enrollment::Column::PersonId.is_not_in(keep.iter().copied()));
        }
        let ids: Vec<Uuid> = ended.into_tuple::<Uuid>().all(scope.db()).await?;
        if ids.is_empty() {
            return Ok(Outcome::Deleted { records: 0 });
        }
        event::Entity::delete_many()
            .filter(event::Column::EnrollmentId.is_in(ids.iter().copied()))
            .exec(scope.db())
            .await?;
        let records = enrollment::Entity::delete_many()
            .filter(enrollment::Column::Id.is_in(ids))
            .exec(scope.db())
            .await?
            .rows_affected;
        Ok(Outcome::Deleted { records })
    }

    async fn restrict(
        &self,
        scope: &TenantScope,
        subject: &DataSubject,
        restricted: bool,
    ) -> Result<Outcome, SourceError> {
        scope.require(ALL_ENROLLMENTS_WRITE)?;
        let Some(id) = subject.person_id() else {
            return Ok(Outcome::NotApplicable {
                reason: "enrollments are people's",
            });
        };
        let existing = restriction::Entity::find_by_id(id).one(scope.db()).await?;
        let records = match (restricted, existing) {
            (true, None) => {
                restriction::Entity::insert(restriction::ActiveModel {
                    person_id: Set(id),
                    restricted_at: Set(Utc::now()),
                })
                .exec_without_returning(scope.db())
                .await?;
                1
            }
            (false, Some(_)) => {
                restriction::Entity::delete_by_id(id)
                    .exec(scope.db())
                    .await?
                    .rows_affected
            }
            _ => 0,
        };
        Ok(Outcome::Restricted {
            records,
            restricted,
        })
    }
}
