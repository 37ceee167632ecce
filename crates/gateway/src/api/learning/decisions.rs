//! Automated decisions (U7): a learner reads the decisions a rule made about them, and why
//! (`/v1/me/decisions`), and contests one still under review; reviewers (`decisions:review`:
//! a course's instructor, an admin) list the queue (`/v1/decisions`) and confirm or
//! overturn a decision with a reason. Only a confirmation makes an adverse outcome apply;
//! an overturned `certificate_denied` issues the withheld certificate, an overturned
//! `enrollment_refused` enrolls the learner.

use crate::api::ApiTags;
use crate::api::described::Described;
use crate::api::learning::certificate_signer;
use crate::api::page_request;
use crate::auth::TenantCredential;
use crate::problem::ApiError;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use hub_course::decisions::model::{NOTE_MAX_CHARS, STATEMENT_MAX_CHARS};
use hub_course::decisions::service;
use hub_course::decisions::{Decision, DecisionFilter, DecisionKind, DecisionState};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use std::sync::Arc;
use uuid::Uuid;

const _: () = assert!(STATEMENT_MAX_CHARS == 2000 && NOTE_MAX_CHARS == 1000);

/// What the rule would do to the learner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum AutomatedDecisionKind {
    /// Fail the course: the enrollment becomes `failed`.
    CourseFailed,
    /// Deny the certificate of a completion: it is never issued.
    CertificateDenied,
    /// Refuse the learner's own enrollment: they stay unenrolled.
    EnrollmentRefused,
}

impl From<DecisionKind> for AutomatedDecisionKind {
    fn from(k: DecisionKind) -> Self {
        match k {
            DecisionKind::CourseFailed => Self::CourseFailed,
            DecisionKind::CertificateDenied => Self::CertificateDenied,
            DecisionKind::EnrollmentRefused => Self::EnrollmentRefused,
        }
    }
}

/// Where a decision stands; only `confirmed` has taken effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum AutomatedDecisionState {
    /// Recorded by the rule, nothing applied, waiting for a reviewer.
    PendingReview,
    /// Contested by the learner, nothing applied, waiting for a reviewer.
    Contested,
    /// A reviewer confirmed it: the outcome applied.
    Confirmed,
    /// A reviewer overturned it: the outcome never applies.
    Overturned,
}

impl From<DecisionState> for AutomatedDecisionState {
    fn from(s: DecisionState) -> Self {
        match s {
            DecisionState::PendingReview => Self::PendingReview,
            DecisionState::Contested => Self::Contested,
            DecisionState::Confirmed => Self::Confirmed,
            DecisionState::Overturned => Self::Overturned,
        }
    }
}

impl From<AutomatedDecisionState> for DecisionState {
    fn from(s: AutomatedDecisionState) -> Self {
        match s {
            AutomatedDecisionState::PendingReview => Self::PendingReview,
            AutomatedDecisionState::Contested => Self::Contested,
            AutomatedDecisionState::Confirmed => Self::Confirmed,
            AutomatedDecisionState::Overturned => Self::Overturned,
        }
    }
}

/// An automated decision about a learner, with why and its review.
#[derive(Debug, Clone, Object)]
pub struct AutomatedDecisionView {
    pub id: Uuid,
    pub person_id: Uuid,
    pub course_id: Uuid,
    /// The quiz the rule read (`course_failed`); `null` for the other kinds.
    #[oai(nullable)]
    pub quiz_id: Option<Uuid>,
    pub kind: Described<AutomatedDecisionKind>,
    /// The rule's machine name (`required_quiz_attempts_exhausted` for `course_failed`,
    /// `completed_after_certificate_deadline` for `certificate_denied`,
    /// `prerequisites_not_completed` for `enrollment_refused`).
    pub rule: String,
    /// What the rule says, in words.
    pub explanation: String,
    /// What the rule read: for `course_failed` the quiz, its passing score, the attempts
    /// allowed and used, each attempt's score; for `certificate_denied` the completion, when
    /// it was recorded and the course's certificate deadline; for `enrollment_refused` each
    /// prerequisite course and the learner's enrollment state in it (`not_enrolled` for
    /// none).
    pub inputs: serde_json::Value,
    pub state: Described<AutomatedDecisionState>,
    /// When a reviewer is due to have decided: 14 days after it was recorded, and 14 days
    /// after it was contested.
    pub review_due_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    #[oai(nullable)]
    pub contested_at: Option<DateTime<Utc>>,
    /// The learner's contest statement.
    #[oai(nullable)]
    pub statement: Option<String>,
    #[oai(nullable)]
    pub reviewed_at: Option<DateTime<Utc>>,
    /// Who reviewed it (`person:<id>`, `api-key:<id> (<name>)`).
    #[oai(nullable)]
    pub reviewed_by: Option<String>,
    /// Why the reviewer confirmed or overturned it.
    #[oai(nullable)]
    pub review_note: Option<String>,
}

impl From<Decision> for AutomatedDecisionView {
    fn from(d: Decision) -> Self {
        Self {
            id: d.id,
            person_id: d.person_id,
            course_id: d.course_id,
            quiz_id: d.quiz_id,
            kind: Described(d.kind.into()),
            rule: d.rule,
            explanation: d.explanation,
            inputs: d.inputs,
            state: Described(d.state.into()),
            review_due_at: d.review_due_at,
            created_at: d.created_at,
            contested_at: d.contested_at,
            statement: d.statement,
            reviewed_at: d.reviewed_at,
            reviewed_by: d.reviewed_by,
            review_note: d.review_note,
        }
    }
}

/// A page of decisions.
#[derive(Debug, Clone, Object)]
pub struct AutomatedDecisionPage {
    pub items: Vec<AutomatedDecisionView>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

/// The learner's contest of a decision.
#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct DecisionContestCreate {
    /// Required: 1–2000 characters, kept (sealed) for the reviewer.
    #[oai(default, validator(max_length = 2000))]
    pub statement: String,
}

impl Example for DecisionContestCreate {
    fn example() -> Self {
        Self {
            statement: "I was ill during the last attempt; I have a medical certificate.".into(),
        }
    }
}

/// A reviewer's confirmation or overturn.
#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct DecisionReviewCreate {
    /// Required: 1–1000 characters, kept (sealed) and sent to the learner.
    #[oai(default, validator(max_length = 1000))]
    pub reason: String,
}

impl Example for DecisionReviewCreate {
    fn example() -> Self {
        Self {
            reason: "The attempts were graded correctly; the course rule applies.".into(),
        }
    }
}

#[derive(ApiResponse)]
pub enum MyDecisionsFound {
    /// The caller's decisions, newest first.
    #[oai(status = 200)]
    Ok(Json<Vec<AutomatedDecisionView>>),
}

#[derive(ApiResponse)]
pub enum AutomatedDecisionsListed {
    /// A page of decisions, by id.
    #[oai(status = 200)]
    Ok(Json<AutomatedDecisionPage>),
}

#[derive(ApiResponse)]
pub enum AutomatedDecisionChanged {
    /// The decision as it now stands.
    #[oai(status = 200)]
    Ok(Json<AutomatedDecisionView>),
}

#[derive(Default)]
pub struct DecisionsApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Decisions")]
impl DecisionsApi {
    /// My automated decisions, and why
    ///
    /// Requires scope `courses:read`, as a signed-in person (not an API key). Every
    /// decision a rule made about the caller, newest first: its rule and explanation, the
    /// inputs it read (scores, attempts), its state and review deadline, and the review.
    /// A decision in `pending_review` or `contested` has not taken effect.
    #[oai(
        path = "/me/decisions",
        method = "get",
        operation_id = "listMyDecisions"
    )]
    async fn list_my_decisions(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
    ) -> Result<MyDecisionsFound, ApiError> {
        let mine = state
            .tenancy
            .read(
                &auth.0,
                move |scope| async move { service::mine(&scope).await },
            )
            .await?;
        Ok(MyDecisionsFound::Ok(Json(
            mine.into_iter().map(Into::into).collect(),
        )))
    }

    /// Contest an automated decision about me
    ///
    /// Requires scope `courses:read`, as a signed-in person, the decision's learner (404
    /// `decision_not_found` otherwise). Only a decision in `pending_review`: it moves to
    /// `contested`, the statement kept sealed for the reviewer, with a new review deadline
    /// 14 days from now; audited (`decision.contested`). A statement is required (422
    /// `validation_failed`, field `statement`). One contested already is 409
    /// `decision_already_contested`; one reviewed 409 `decision_already_reviewed`.
    #[oai(
        path = "/me/decisions/:decision_id/contest",
        method = "post",
        operation_id = "contestMyDecision"
    )]
    async fn contest_my_decision(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        decision_id: Path<Uuid>,
        body: Json<DecisionContestCreate>,
    ) -> Result<AutomatedDecisionChanged, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let contested = service::contest(&scope, decision_id.0, &body.0.statement).await?;
        scope.commit().await?;
        Ok(AutomatedDecisionChanged::Ok(Json(contested.into())))
    }

    /// The automated-decision review queue
    ///
    /// Requires scope `decisions:review`: decisions about the learners of the courses the
    /// caller teaches (every course with `all_enrollments:write`), by id, filtered by
    /// `state` (`pending_review` and `contested` are the queue) and `course_id` (another
    /// course answers 404), in pages.
    ///
    /// Returns other people's personal data: every call is recorded in the audit trail.
    #[oai(path = "/decisions", method = "get", operation_id = "listDecisions")]
    async fn list_decisions(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        /// Only decisions in this state.
        #[oai(name = "state")]
        decision_state: Query<Option<AutomatedDecisionState>>,
        /// Only decisions of this course.
        course_id: Query<Option<Uuid>>,
        /// Cursor from the previous page's `next_cursor`.
        cursor: Query<Option<String>>,
        /// Page size, 1–200 (default 50).
        limit: Query<Option<u64>>,
    ) -> Result<AutomatedDecisionsListed, ApiError> {
        let page = page_request(cursor.0.as_deref(), limit.0)?;
        let filter = DecisionFilter {
            state: decision_state.0.map(Into::into),
            course_id: course_id.0,
        };
        let scope = state.tenancy.scope(&auth.0).await?;
        let found = service::list(&scope, &filter, &page).await?;
        scope.commit().await?;
        Ok(AutomatedDecisionsListed::Ok(Json(AutomatedDecisionPage {
            items: found.items.into_iter().map(Into::into).collect(),
            next_cursor: found.next_cursor,
        })))
    }

    /// Confirm an automated decision
    ///
    /// Requires scope `decisions:review`, for a course the caller teaches (every course
    /// with `all_enrollments:write`; another answers 404). A reason is required (422
    /// `validation_failed`, field `reason`), kept sealed. Only now does the outcome apply:
    /// for `course_failed` the enrollment becomes `failed` (409 `invalid_transition` if it
    /// is no longer active); for `certificate_denied` the completion's certificate is never
    /// issued (the completion stands); for `enrollment_refused` the held request is refused
    /// and the learner stays unenrolled. Audited (`decision.confirmed`: who, old and new state) and the
    /// learner is told by an essential message. One reviewed already is 409
    /// `decision_already_reviewed`.
    #[oai(
        path = "/decisions/:decision_id/confirm",
        method = "post",
        operation_id = "confirmDecision"
    )]
    async fn confirm_decision(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        decision_id: Path<Uuid>,
        body: Json<DecisionReviewCreate>,
    ) -> Result<AutomatedDecisionChanged, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let confirmed = service::confirm(
            &scope,
            state.privacy.messages().as_ref(),
            decision_id.0,
            &body.0.reason,
        )
        .await?;
        scope.commit().await?;
        Ok(AutomatedDecisionChanged::Ok(Json(confirmed.into())))
    }

    /// Overturn an automated decision
    ///
    /// Requires scope `decisions:review`, for a course the caller teaches (every course
    /// with `all_enrollments:write`; another answers 404). A reason is required (422
    /// `validation_failed`, field `reason`), kept sealed. The outcome never applies: for
    /// `course_failed` the learner may start one more attempt at the quiz; for
    /// `certificate_denied` the completion's certificate is issued now (the learner finds
    /// it at `/v1/me/certificates`); for `enrollment_refused` the learner is enrolled
    /// (`active`, a seat claimed: none left is 409 `seats_exhausted` and the decision stays
    /// open). Audited (`decision.overturned`) and the learner is told by an essential
    /// message. One reviewed already is 409 `decision_already_reviewed`.
    #[oai(
        path = "/decisions/:decision_id/overturn",
        method = "post",
        operation_id = "overturnDecision"
    )]
    async fn overturn_decision(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        decision_id: Path<Uuid>,
        body: Json<DecisionReviewCreate>,
    ) -> Result<AutomatedDecisionChanged, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let overturned = service::overturn(
            &scope,
            state.privacy.messages().as_ref(),
            &certificate_signer(&state),
            decision_id.0,
            &body.0.reason,
        )
        .await?;
        scope.commit().await?;
        Ok(AutomatedDecisionChanged::Ok(Json(overturned.into())))
    }
}
