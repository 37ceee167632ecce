//! A learner's stated learning preferences (`/v1/me/learning-preferences`) and the course
//! recommendations computed from them and their learning records (`/v1/me/recommendations`),
//! only while their consent covers personalisation (the domain asks the consent gate).

use crate::api::ApiTags;
use crate::api::described::Described;
use crate::auth::TenantCredential;
use crate::problem::ApiError;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use hub_course::recommendations::service;
use hub_course::recommendations::{
    LearningPreferences, Recommendation, RecommendationReason, Recommendations,
};
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use std::sync::Arc;
use uuid::Uuid;

/// What the learner wants recommendations about.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct LearningPreferencesView {
    /// Catalogue topics (course tags), sorted, each once.
    pub topics: Vec<String>,
    /// When they were last stated; null when never.
    #[oai(nullable)]
    pub updated_at: Option<DateTime<Utc>>,
}

impl Example for LearningPreferencesView {
    fn example() -> Self {
        Self {
            topics: vec!["computing".into(), "statistics".into()],
            updated_at: None,
        }
    }
}

impl From<LearningPreferences> for LearningPreferencesView {
    fn from(p: LearningPreferences) -> Self {
        Self {
            topics: p.topics,
            updated_at: p.updated_at,
        }
    }
}

/// The learner's preferences, replacing the stated ones.
#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct LearningPreferencesUpdate {
    /// Up to 20 catalogue topics (course tags: lower-case letters, digits and `-`).
    pub topics: Vec<String>,
}

impl Example for LearningPreferencesUpdate {
    fn example() -> Self {
        Self {
            topics: vec!["computing".into(), "statistics".into()],
        }
    }
}

/// Why a course is recommended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum RecommendationReasonView {
    /// An active enrollment with a lesson still to do (`next_lesson_id`).
    ContinueCourse,
    /// A published course on a topic the learner stated.
    MatchesPreferences,
    /// A published course on a topic of a course the learner completed.
    RelatedToCompleted,
}

impl From<RecommendationReason> for RecommendationReasonView {
    fn from(r: RecommendationReason) -> Self {
        match r {
            RecommendationReason::ContinueCourse => Self::ContinueCourse,
            RecommendationReason::MatchesPreferences => Self::MatchesPreferences,
            RecommendationReason::RelatedToCompleted => Self::RelatedToCompleted,
        }
    }
}

/// One recommended course.
#[derive(Debug, Clone, Object)]
pub struct RecommendationView {
    pub course_id: Uuid,
    pub title: String,
    pub reason: RecommendationReasonView,
    /// The next lesson in course order, for `continue_course`; null otherwise.
    #[oai(nullable)]
    pub next_lesson_id: Option<Uuid>,
    /// The topics that matched, for the topic reasons.
    pub topics: Vec<String>,
}

impl From<Recommendation> for RecommendationView {
    fn from(r: Recommendation) -> Self {
        Self {
            course_id: r.course_id,
            title: r.title,
            reason: r.reason.into(),
            next_lesson_id: r.next_lesson_id,
            topics: r.topics,
        }
    }
}

/// Why nothing was personalised (no recommendations computed, an attempt in the quiz's own
/// order): the consent gate's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum WithheldReasonView {
    /// The learner never granted personalisation.
    NoConsent,
    /// The learner withdrew personalisation.
    ConsentWithdrawn,
    /// The processing of the learner's data is restricted.
    Restricted,
    /// The policy version that names personalisation is not accepted yet.
    PolicyNotAccepted,
    /// The institution's policy does not name personalisation.
    NotInPolicy,
    /// No consent service answers (nothing is computed without one).
    NoConsentGate,
    /// The learner is a minor and no guardian has confirmed consent yet.
    GuardianConsentRequired,
}

impl WithheldReasonView {
    pub(crate) fn parse(reason: &str) -> Self {
        match reason {
            "consent_withdrawn" => Self::ConsentWithdrawn,
            "restricted" => Self::Restricted,
            "policy_not_accepted" => Self::PolicyNotAccepted,
            "not_in_policy" => Self::NotInPolicy,
            "no_consent_gate" => Self::NoConsentGate,
            hub_tenant::consent_gate::GUARDIAN_CONSENT_REQUIRED => Self::GuardianConsentRequired,
            _ => Self::NoConsent,
        }
    }
}

/// The learner's recommendations, or none and why.
#[derive(Debug, Clone, Object)]
pub struct RecommendationsView {
    /// At most 20: courses to continue first, then courses on stated topics, then courses
    /// on the topics of completed ones. Empty when `withheld` is set.
    pub items: Vec<RecommendationView>,
    /// Set when nothing was computed because personalisation is not allowed now; null when
    /// the list was computed.
    #[oai(nullable)]
    pub withheld: Option<Described<WithheldReasonView>>,
}

impl From<Recommendations> for RecommendationsView {
    fn from(r: Recommendations) -> Self {
        Self {
            items: r.items.into_iter().map(Into::into).collect(),
            withheld: r.withheld.map(|w| Described(WithheldReasonView::parse(w))),
        }
    }
}

#[derive(ApiResponse)]
pub enum LearningPreferencesFound {
    /// The learner's stated preferences.
    #[oai(status = 200)]
    Ok(Json<LearningPreferencesView>),
}

#[derive(ApiResponse)]
pub enum RecommendationsFound {
    /// Recommendations computed now, or an empty list with `withheld`.
    #[oai(status = 200)]
    Ok(Json<RecommendationsView>),
}

#[derive(Default)]
pub struct RecommendationsApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Enrollments")]
impl RecommendationsApi {
    /// My learning preferences
    ///
    /// Requires scope `courses:read`, as a signed-in person (not an API key). The catalogue
    /// topics the person wants recommendations about; empty when never stated.
    #[oai(
        path = "/me/learning-preferences",
        method = "get",
        operation_id = "getMyLearningPreferences"
    )]
    async fn get_my_learning_preferences(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
    ) -> Result<LearningPreferencesFound, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let found = service::my_preferences(&scope).await?;
        scope.commit().await?;
        Ok(LearningPreferencesFound::Ok(Json(found.into())))
    }

    /// State my learning preferences
    ///
    /// Requires scope `courses:read`, as a signed-in person. Replaces the stated topics
    /// (course tags; up to 20, each once). 409 `learner_restricted` while the processing of
    /// the person's learning records is restricted. Used for recommendations only while
    /// the person's consent covers personalisation.
    #[oai(
        path = "/me/learning-preferences",
        method = "put",
        operation_id = "setMyLearningPreferences"
    )]
    async fn set_my_learning_preferences(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        body: Json<LearningPreferencesUpdate>,
    ) -> Result<LearningPreferencesFound, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let set = service::set_my_preferences(&state.tenancy, &scope, &body.0.topics).await?;
        scope.commit().await?;
        Ok(LearningPreferencesFound::Ok(Json(set.into())))
    }

    /// My course recommendations
    ///
    /// Requires scope `courses:read`, as a signed-in person. Computed at this request from
    /// the person's enrollments, progress and stated preferences (nothing stored, nothing
    /// cached): the next lesson of each active course, then published courses not taken
    /// yet on a stated topic, then on a completed course's topic. Only while the person's
    /// consent covers personalisation and their processing is not restricted; otherwise
    /// 200 with an empty `items` and `withheld` saying why (not an error: the person asked
    /// for nothing wrong), taking effect at the first request after the change.
    #[oai(
        path = "/me/recommendations",
        method = "get",
        operation_id = "listMyRecommendations"
    )]
    async fn list_my_recommendations(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
    ) -> Result<RecommendationsFound, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let found = service::my_recommendations(&state.tenancy, &scope, Utc::now()).await?;
        scope.commit().await?;
        Ok(RecommendationsFound::Ok(Json(found.into())))
    }
}
