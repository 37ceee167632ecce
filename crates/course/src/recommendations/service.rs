//! Stated preferences, and computing recommendations.

use super::entity::preference;
use crate::CourseError;
use crate::catalog::entity as course;
use crate::catalog::model::{CourseStatus, MAX_TAG, is_valid_tag};
use crate::completion::entity as completion;
use crate::enrollment::entity::enrollment;
use crate::progress::LessonStatus;
use crate::progress::service::{caller_person, rows_of};
use chrono::{DateTime, Utc};
use hub_kernel::FieldViolation;
use hub_tenant::consent_gate::ConsentPurpose;
use hub_tenant::{Scope, Tenancy, TenantScope};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use std::collections::BTreeSet;
use uuid::Uuid;

/// The most topics a person may state.
pub const MAX_TOPICS: usize = 20;
/// The most recommendations one answer gives.
pub const MAX_RECOMMENDATIONS: usize = 20;

/// What a learner told us they want to learn about: catalogue topics (course tags).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LearningPreferences {
    pub topics: Vec<String>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// Why a course is recommended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecommendationReason {
    /// An active enrollment with a lesson still to do (`next_lesson_id`).
    ContinueCourse,
    /// A published course on a topic the person stated.
    MatchesPreferences,
    /// A published course on a topic of a course the person completed.
    RelatedToCompleted,
}

impl RecommendationReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ContinueCourse => "continue_course",
            Self::MatchesPreferences => "matches_preferences",
            Self::RelatedToCompleted => "related_to_completed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recommendation {
    pub course_id: Uuid,
    pub title: String,
    pub reason: RecommendationReason,
    /// For [`RecommendationReason::ContinueCourse`]: the next lesson, in course order.
    pub next_lesson_id: Option<Uuid>,
    /// The topics that made it a match (for the topic reasons).
    pub topics: Vec<String>,
}

/// The answer: recommendations, or none and why (`withheld`: the consent gate's reason,
/// `no_consent`, `consent_withdrawn`, `restricted`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recommendations {
    pub items: Vec<Recommendation>,
    pub withheld: Option<&'static str>,
}

fn tags(row: &course::Model) -> Vec<String> {
    serde_json::from_str(&row.tags).unwrap_or_default()
}

fn check_topics(topics: &[String]) -> Result<Vec<String>, CourseError> {
    let mut violations = Vec::new();
    if topics.len() > MAX_TOPICS {
        violations.push(FieldViolation::new(
            "topics",
            format!("at most {MAX_TOPICS} topics"),
        ));
    }
    for (i, topic) in topics.iter().enumerate() {
        if topic.is_empty() || topic.len() > MAX_TAG || !is_valid_tag(topic) {
            violations.push(FieldViolation::new(
                format!("topics[{i}]"),
                format!("a topic is a course tag: 1 to {MAX_TAG} of a-z, 0-9 and '-'"),
            ));
        }
    }
    if !violations.is_empty() {
        return Err(CourseError::Invalid(violations));
    }
    let unique: BTreeSet<String> = topics.iter().cloned().collect();
    Ok(unique.into_iter().collect())
}

/// The table whose sealed column carries this area's associated data.
pub const PREFERENCES: &str = "learning_preferences";

/// A preferences row's topics, opened.
pub(crate) fn open_topics(
    scope: &TenantScope,
    row: &preference::Model,
) -> Result<Vec<String>, CourseError> {
    let json = scope
        .keys()
        .open_str(PREFERENCES, "topics", row.person_id, &row.topics_sealed)
        .map_err(hub_tenant::TenantError::from)?;
    Ok(serde_json::from_str(&json).unwrap_or_default())
}

async fn preferences_of(
    scope: &TenantScope,
    person: Uuid,
) -> Result<LearningPreferences, CourseError> {
    match preference::Entity::find_by_id(person)
        .one(scope.db())
        .await?
    {
        Some(row) => Ok(LearningPreferences {
            topics: open_topics(scope, &row)?,
            updated_at: Some(row.updated_at),
        }),
        None => Ok(LearningPreferences::default()),
    }
}

/// The signed-in person's stated preferences (empty when they stated none). Scope
/// `courses:read`.
pub async fn my_preferences(scope: &TenantScope) -> Result<LearningPreferences, CourseError> {
    scope.require(Scope::CoursesRead)?;
    let person = caller_person(scope)?;
    preferences_of(scope, person).await
}

/// Replaces the signed-in person's stated preferences. Topics are course tags (duplicates
/// kept once); while the person's processing is restricted (the privacy service's
/// restriction, as the consent gate answers it, or the learning records' own) nothing
/// changes (`LearnerRestricted`).
pub async fn set_my_preferences(
    tenancy: &Tenancy,
    scope: &TenantScope,
    topics: &[String],
) -> Result<LearningPreferences, CourseError> {
    scope.require(Scope::CoursesRead)?;
    let person = caller_person(scope)?;
    let topics = check_topics(topics)?;
    let decision = gate(tenancy, scope, person, Utc::now()).await?;
    if decision.reason == "restricted"
        || crate::enrollment::store::is_restricted(scope, person).await?
    {
        return Err(CourseError::LearnerRestricted);
    }
    let now = Utc::now();
    preference::Entity::insert(preference::ActiveModel {
        person_id: Set(person),
        topics_sealed: Set(scope.keys().seal_str(
            PREFERENCES,
            "topics",
            person,
            &serde_json::to_string(&topics).unwrap_or_else(|_| "[]".into()),
        )),
        updated_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(preference::Column::PersonId)
            .update_columns([
                preference::Column::TopicsSealed,
                preference::Column::UpdatedAt,
            ])
            .to_owned(),
    )
    .exec_without_returning(scope.db())
    .await?;
    preferences_of(scope, person).await
}

/// What the consent gate answers for personalising this person's service now.
async fn gate(
    tenancy: &Tenancy,
    scope: &TenantScope,
    person: Uuid,
    now: DateTime<Utc>,
) -> Result<hub_tenant::consent_gate::Decision, CourseError> {
    tenancy
        .may_use(scope, person, ConsentPurpose::Personalisation, now)
        .await
        .map_err(|e| CourseError::Messaging(format!("the consent gate failed: {e}")))
}

/// The signed-in person's recommendations, computed now from their records (module doc).
/// Scope `courses:read`. The consent gate is asked first; denied (no personalisation
/// consent, withdrawn, or processing restricted), the answer is empty with its reason.
pub async fn my_recommendations(
    tenancy: &Tenancy,
    scope: &TenantScope,
    now: DateTime<Utc>,
) -> Result<Recommendations, CourseError> {
    scope.require(Scope::CoursesRead)?;
    let person = caller_person(scope)?;
    let decision = gate(tenancy, scope, person, now).await?;
    if !decision.allowed {
        return Ok(Recommendations {
            items: Vec::new(),
            withheld: Some(decision.reason),
        });
    }
    // The learning records' own restriction record too (the learning sources' restrict
    // writes it), so the records are never read while it stands.
    if crate::enrollment::store::is_restricted(scope, person).await? {
        return Ok(Recommendations {
            items: Vec::new(),
            withheld: Some("restricted"),
        });
    }
    let enrollments = enrollment::Entity::find()
        .filter(enrollment::Column::PersonId.eq(person))
        .order_by_asc(enrollment::Column::Id)
        .all(scope.db())
        .await?;
    let taken: BTreeSet<Uuid> = enrollments.iter().map(|e| e.course_id).collect();
    let completed: BTreeSet<Uuid> = completion::Entity::find()
        .filter(completion::Column::PersonId.eq(person))
        .all(scope.db())
        .await?
        .into_iter()
        .map(|c| c.course_id)
        .collect();
    // Never a course the catalogue hides from them (A1).
    let audience = crate::catalog::service::Audience::of_person(tenancy, scope, person).await?;
    let published = course::Entity::find()
        .filter(course::Column::Status.eq(CourseStatus::Published.as_str()))
        .filter(audience.condition())
        .order_by_asc(course::Column::Id)
        .all(scope.db())
        .await?;
    let mut items = Vec::new();
    // 1. Continue: each active enrollment's next lesson, in course order.
    for e in enrollments.iter().filter(|e| e.state == "active") {
        if completed.contains(&e.course_id) {
            continue;
        }
        let Some(row) = published.iter().find(|c| c.id == e.course_id) else {
            continue;
        };
        let done: BTreeSet<Uuid> = rows_of(scope, e.course_id, person)
            .await?
            .into_iter()
            .filter(|r| LessonStatus::parse(&r.status) == Some(LessonStatus::Completed))
            .map(|r| r.lesson_id)
            .collect();
        let outline = crate::structure::service::outline_of(scope, e.course_id).await?;
        if let Some(next) = outline.lessons().find(|l| !done.contains(&l.id)) {
            items.push(Recommendation {
                course_id: row.id,
                title: row.title.clone(),
                reason: RecommendationReason::ContinueCourse,
                next_lesson_id: Some(next.id),
                topics: Vec::new(),
            });
        }
    }
    // 2. and 3. Courses not taken yet, on a stated topic, then on a completed course's.
    let stated: BTreeSet<String> = preferences_of(scope, person)
        .await?
        .topics
        .into_iter()
        .collect();
    let mut of_completed = BTreeSet::new();
    if !completed.is_empty() {
        for row in course::Entity::find()
            .filter(course::Column::Id.is_in(completed.iter().copied()))
            .all(scope.db())
            .await?
        {
            of_completed.extend(tags(&row));
        }
    }
    for (reason, wanted) in [
        (RecommendationReason::MatchesPreferences, &stated),
        (RecommendationReason::RelatedToCompleted, &of_completed),
    ] {
        for row in &published {
            if taken.contains(&row.id) || items.iter().any(|i| i.course_id == row.id) {
                continue;
            }
            let matched: Vec<String> = tags(row)
                .into_iter()
                .filter(|t| wanted.contains(t))
                .collect();
            if !matched.is_empty() {
                items.push(Recommendation {
                    course_id: row.id,
                    title: row.title.clone(),
                    reason,
                    next_lesson_id: None,
                    topics: matched,
                });
            }
        }
    }
    items.truncate(MAX_RECOMMENDATIONS);
    Ok(Recommendations {
        items,
        withheld: None,
    })
}
