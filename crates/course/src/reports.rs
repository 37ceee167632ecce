//! The learning records as report populations (C7, U5): enrollments started, completions
//! recorded, certificates issued and learners active in a period, each broken down by
//! course (its code) and by cohort (the learner's organisational unit, by its code, or
//! `(no unit)`). Each producer reads the records of the period and counts them; it hands
//! no person on, and `hub_tenant::reports` decides what a report shows of the counts.

use crate::catalog::entity as course;
use crate::certificates::entity as certificate;
use crate::completion::entity as completion;
use crate::enrollment::EnrollmentState;
use crate::enrollment::entity::enrollment;
use crate::organisation::entity::{affiliation, org_unit};
use crate::progress::entity as progress;
use chrono::{DateTime, Utc};
use hub_tenant::TenantError;
use hub_tenant::TenantScope;
use hub_tenant::profile::ReportKind;
use hub_tenant::reports::disclosure::Population;
use hub_tenant::reports::period::Period;
use hub_tenant::reports::producer::ReportProducer;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

const DIMENSIONS: &[&str] = &["course", "cohort"];
/// The cohort of a learner with no organisational unit.
pub const NO_UNIT: &str = "(no unit)";

/// Every producer of this crate.
pub fn producers() -> Vec<Box<dyn ReportProducer>> {
    vec![
        Box::new(Enrollments),
        Box::new(Completions),
        Box::new(Certificates),
        Box::new(Engagement),
    ]
}

/// Labels the records of a period are counted under: course codes and each learner's unit.
struct Labels {
    courses: HashMap<Uuid, String>,
    cohorts: HashMap<Uuid, String>,
}

impl Labels {
    async fn read(scope: &TenantScope) -> Result<Self, TenantError> {
        let courses: Vec<(Uuid, String)> = course::Entity::find()
            .select_only()
            .column(course::Column::Id)
            .column(course::Column::Code)
            .into_tuple()
            .all(scope.db())
            .await?;
        let units: HashMap<Uuid, String> = org_unit::Entity::find()
            .select_only()
            .column(org_unit::Column::Id)
            .column(org_unit::Column::Code)
            .into_tuple::<(Uuid, String)>()
            .all(scope.db())
            .await?
            .into_iter()
            .collect();
        let cohorts = affiliation::Entity::find()
            .select_only()
            .column(affiliation::Column::PersonId)
            .column(affiliation::Column::OrgUnitId)
            .into_tuple::<(Uuid, Uuid)>()
            .all(scope.db())
            .await?
            .into_iter()
            .filter_map(|(person, unit)| units.get(&unit).map(|code| (person, code.clone())))
            .collect();
        Ok(Self {
            courses: courses.into_iter().collect(),
            cohorts,
        })
    }

    /// `[course, cohort]` of one record; `None` for a course since deleted.
    fn of(&self, course: Uuid, person: Uuid) -> Option<Vec<String>> {
        let course = self.courses.get(&course)?.clone();
        let cohort = self
            .cohorts
            .get(&person)
            .cloned()
            .unwrap_or_else(|| NO_UNIT.to_string());
        Some(vec![course, cohort])
    }
}

fn population(class_field: &'static str, classes: &[&str]) -> Population {
    Population::new(
        DIMENSIONS.to_vec(),
        class_field,
        classes.iter().map(|c| (*c).to_string()).collect(),
    )
}

/// Enrollments started in the period, by their state now.
pub struct Enrollments;

#[async_trait::async_trait]
impl ReportProducer for Enrollments {
    fn population(&self) -> &'static str {
        "enrollments"
    }
    fn kinds(&self) -> &'static [ReportKind] {
        &[ReportKind::EnrollmentSummary]
    }
    fn dimensions(&self) -> &'static [&'static str] {
        DIMENSIONS
    }
    fn class_field(&self) -> &'static str {
        "state"
    }
    async fn count(&self, scope: &TenantScope, period: &Period) -> Result<Population, TenantError> {
        let labels = Labels::read(scope).await?;
        let states: Vec<&str> = EnrollmentState::ALL.iter().map(|s| s.as_str()).collect();
        let mut counted = population("state", &states);
        let rows: Vec<(Uuid, Uuid, String)> = enrollment::Entity::find()
            .select_only()
            .column(enrollment::Column::CourseId)
            .column(enrollment::Column::PersonId)
            .column(enrollment::Column::State)
            .filter(enrollment::Column::CreatedAt.gte(period.start))
            .filter(enrollment::Column::CreatedAt.lt(period.end))
            .into_tuple()
            .all(scope.db())
            .await?;
        for (course, person, state) in rows {
            if let (Some(key), Some(class)) = (labels.of(course, person), counted.class(&state)) {
                counted.add(key, class, 1);
            }
        }
        Ok(counted)
    }
}

/// How long a completion took from enrollment, in bands.
const TIME_BANDS: &[&str] = &["under_30_days", "30_to_89_days", "90_days_or_more"];

fn time_band(enrolled: DateTime<Utc>, completed: DateTime<Utc>) -> usize {
    match (completed - enrolled).num_days() {
        ..30 => 0,
        30..90 => 1,
        _ => 2,
    }
}

/// Course completions recorded in the period, by how long they took. Accreditation reports
/// show the same records, with only the fields the profile names.
pub struct Completions;

#[async_trait::async_trait]
impl ReportProducer for Completions {
    fn population(&self) -> &'static str {
        "completions"
    }
    fn kinds(&self) -> &'static [ReportKind] {
        &[ReportKind::Completions, ReportKind::Accreditation]
    }
    fn dimensions(&self) -> &'static [&'static str] {
        DIMENSIONS
    }
    fn class_field(&self) -> &'static str {
        "time_to_complete"
    }
    async fn count(&self, scope: &TenantScope, period: &Period) -> Result<Population, TenantError> {
        let labels = Labels::read(scope).await?;
        let mut counted = population("time_to_complete", TIME_BANDS);
        let rows: Vec<(Uuid, Uuid, Uuid, DateTime<Utc>)> = completion::Entity::find()
            .select_only()
            .column(completion::Column::CourseId)
            .column(completion::Column::PersonId)
            .column(completion::Column::EnrollmentId)
            .column(completion::Column::CompletedAt)
            .filter(completion::Column::CompletedAt.gte(period.start))
            .filter(completion::Column::CompletedAt.lt(period.end))
            .into_tuple()
            .all(scope.db())
            .await?;
        // In chunks: SQLite bounds the parameters of one statement.
        let mut enrolled: HashMap<Uuid, DateTime<Utc>> = HashMap::new();
        for chunk in rows.chunks(500) {
            let found: Vec<(Uuid, DateTime<Utc>)> = enrollment::Entity::find()
                .select_only()
                .column(enrollment::Column::Id)
                .column(enrollment::Column::CreatedAt)
                .filter(enrollment::Column::Id.is_in(chunk.iter().map(|r| r.2)))
                .into_tuple()
                .all(scope.db())
                .await?;
            enrolled.extend(found);
        }
        for (course, person, enrollment_id, completed_at) in rows {
            let started = enrolled
                .get(&enrollment_id)
                .copied()
                .unwrap_or(completed_at);
            if let Some(key) = labels.of(course, person) {
                counted.add(key, time_band(started, completed_at), 1);
            }
        }
        Ok(counted)
    }
}

/// Certificates issued in the period, valid or since revoked. A certificate is issued in
/// its completion's transaction, so each is also a completion of the same period, course
/// and learner: the two populations are suppressed together (`within`).
pub struct Certificates;

#[async_trait::async_trait]
impl ReportProducer for Certificates {
    fn population(&self) -> &'static str {
        "certificates"
    }
    fn kinds(&self) -> &'static [ReportKind] {
        &[ReportKind::Certificates]
    }
    fn dimensions(&self) -> &'static [&'static str] {
        DIMENSIONS
    }
    fn class_field(&self) -> &'static str {
        "status"
    }
    fn within(&self) -> Option<&'static str> {
        Some("completions")
    }
    async fn count(&self, scope: &TenantScope, period: &Period) -> Result<Population, TenantError> {
        let labels = Labels::read(scope).await?;
        let mut counted = population("status", &["valid", "revoked"]);
        let rows: Vec<(Uuid, Uuid, Option<DateTime<Utc>>)> = certificate::Entity::find()
            .select_only()
            .column(certificate::Column::CourseId)
            .column(certificate::Column::PersonId)
            .column(certificate::Column::RevokedAt)
            .filter(certificate::Column::IssuedAt.gte(period.start))
            .filter(certificate::Column::IssuedAt.lt(period.end))
            .into_tuple()
            .all(scope.db())
            .await?;
        for (course, person, revoked) in rows {
            if let Some(key) = labels.of(course, person) {
                counted.add(key, usize::from(revoked.is_some()), 1);
            }
        }
        Ok(counted)
    }
}

const LESSON_BANDS: &[&str] = &["no_lesson_completed", "1_to_4_lessons", "5_or_more_lessons"];

/// Learners active in a course in the period (any lesson progress recorded in it), each
/// once per course, by how many lessons they completed in it.
pub struct Engagement;

#[async_trait::async_trait]
impl ReportProducer for Engagement {
    fn population(&self) -> &'static str {
        "engagement"
    }
    fn kinds(&self) -> &'static [ReportKind] {
        &[ReportKind::Engagement]
    }
    fn dimensions(&self) -> &'static [&'static str] {
        DIMENSIONS
    }
    fn class_field(&self) -> &'static str {
        "lessons_completed"
    }
    async fn count(&self, scope: &TenantScope, period: &Period) -> Result<Population, TenantError> {
        let labels = Labels::read(scope).await?;
        let mut counted = population("lessons_completed", LESSON_BANDS);
        let rows: Vec<(Uuid, Uuid, Option<DateTime<Utc>>)> = progress::Entity::find()
            .select_only()
            .column(progress::Column::CourseId)
            .column(progress::Column::PersonId)
            .column(progress::Column::CompletedAt)
            .filter(progress::Column::LastAt.gte(period.start))
            .filter(progress::Column::LastAt.lt(period.end))
            .into_tuple()
            .all(scope.db())
            .await?;
        let mut lessons: BTreeMap<(Uuid, Uuid), u64> = BTreeMap::new();
        for (course, person, completed) in rows {
            let done = completed.is_some_and(|at| at >= period.start && at < period.end);
            *lessons.entry((course, person)).or_default() += u64::from(done);
        }
        for ((course, person), n) in lessons {
            let band = match n {
                0 => 0,
                1..=4 => 1,
                _ => 2,
            };
            if let Some(key) = labels.of(course, person) {
                counted.add(key, band, 1);
            }
        }
        Ok(counted)
    }
}
