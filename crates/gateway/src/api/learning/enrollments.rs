//! Enrollments: a learner's own (`/v1/me/enrollments`), a course's (`/v1/courses/{id}/
//! enrollments`, by admins and the course's instructors), one enrollment's state and
//! history (`/v1/enrollments/{id}`), and who teaches a course and which SCIM groups enroll
//! into it. An instructor sees and changes only the courses they teach: any other course
//! answers 404, as if it did not exist.

use crate::api::described::Described;
use crate::api::learning::decisions::AutomatedDecisionView;
use crate::api::{ApiTags, etag, page_request, require_if_match};
use crate::auth::TenantCredential;
use crate::problem::ApiError;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use hub_course::enrollment::service::{self, Admission, BulkOutcome};
use hub_course::enrollment::{
    Enrollment, EnrollmentEvent, EnrollmentFilter, EnrollmentSource, EnrollmentState,
};
use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use std::sync::Arc;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum EnrollmentStateView {
    Invited,
    Active,
    Completed,
    Withdrawn,
    /// A reviewer confirmed the automated decision that the learner failed the course.
    Failed,
}

impl From<EnrollmentState> for EnrollmentStateView {
    fn from(s: EnrollmentState) -> Self {
        match s {
            EnrollmentState::Invited => Self::Invited,
            EnrollmentState::Active => Self::Active,
            EnrollmentState::Completed => Self::Completed,
            EnrollmentState::Withdrawn => Self::Withdrawn,
            EnrollmentState::Failed => Self::Failed,
        }
    }
}

impl From<EnrollmentStateView> for EnrollmentState {
    fn from(s: EnrollmentStateView) -> Self {
        match s {
            EnrollmentStateView::Invited => Self::Invited,
            EnrollmentStateView::Active => Self::Active,
            EnrollmentStateView::Completed => Self::Completed,
            EnrollmentStateView::Withdrawn => Self::Withdrawn,
            EnrollmentStateView::Failed => Self::Failed,
        }
    }
}

/// The state a new enrollment starts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum EnrollmentStart {
    Invited,
    Active,
}

impl From<EnrollmentStart> for EnrollmentState {
    fn from(s: EnrollmentStart) -> Self {
        match s {
            EnrollmentStart::Invited => Self::Invited,
            EnrollmentStart::Active => Self::Active,
        }
    }
}

fn active() -> Described<EnrollmentStart> {
    Described(EnrollmentStart::Active)
}

/// How a person came to be enrolled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum EnrollmentSourceView {
    #[oai(rename = "self")]
    SelfService,
    #[oai(rename = "admin")]
    Admin,
    #[oai(rename = "bulk")]
    Bulk,
    #[oai(rename = "scim_group")]
    ScimGroup,
    /// Bought: Stripe confirmed the learner's payment.
    #[oai(rename = "purchase")]
    Purchase,
}

impl From<EnrollmentSource> for EnrollmentSourceView {
    fn from(s: EnrollmentSource) -> Self {
        match s {
            EnrollmentSource::SelfService => Self::SelfService,
            EnrollmentSource::Admin => Self::Admin,
            EnrollmentSource::Bulk => Self::Bulk,
            EnrollmentSource::ScimGroup => Self::ScimGroup,
            EnrollmentSource::Purchase => Self::Purchase,
        }
    }
}

/// A person's enrollment in a course.
#[derive(Debug, Clone, Object)]
pub struct EnrollmentView {
    pub id: Uuid,
    pub course_id: Uuid,
    pub person_id: Uuid,
    /// `invited` and `active` hold a seat; `completed` is final; `withdrawn` may be
    /// invited or enrolled again; `failed` (only once a reviewer confirmed an automated
    /// decision, or staff moved it) may be enrolled again.
    pub state: Described<EnrollmentStateView>,
    /// Who enrolled them: the learner (`self`), an admin or instructor, a bulk enrollment,
    /// or a SCIM group mapped to the course.
    pub source: Described<EnrollmentSourceView>,
    /// The SCIM group the enrollment came from (source `scim_group`).
    #[oai(nullable)]
    pub source_group_id: Option<Uuid>,
    /// Increments on every change; the `ETag` carries it.
    pub revision: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Enrollment> for EnrollmentView {
    fn from(e: Enrollment) -> Self {
        Self {
            id: e.id,
            course_id: e.course_id,
            person_id: e.person_id,
            state: Described(e.state.into()),
            source: Described(e.source.into()),
            source_group_id: e.source_group_id,
            revision: e.revision,
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

/// One page of enrollments.
#[derive(Debug, Clone, Object)]
pub struct EnrollmentPage {
    pub items: Vec<EnrollmentView>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

/// The course a learner enrolls in.
#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct SelfEnrollment {
    /// A published course of the caller's institution.
    pub course_id: Uuid,
}

impl Example for SelfEnrollment {
    fn example() -> Self {
        Self {
            course_id: Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001),
        }
    }
}

/// A person to enroll or invite.
#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct EnrollmentCreate {
    /// A person of the institution.
    pub person_id: Uuid,
    /// `active` (default) or `invited`.
    #[oai(default = "active")]
    pub state: Described<EnrollmentStart>,
    /// Why, kept (sealed) in the enrollment's history: 1–500 characters.
    pub reason: Option<String>,
}

impl Example for EnrollmentCreate {
    fn example() -> Self {
        Self {
            person_id: Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0002),
            state: Described(EnrollmentStart::Invited),
            reason: Some("Onboarding cohort, spring".into()),
        }
    }
}

/// Up to 200 people to enroll or invite at once.
#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct BulkEnrollmentCreate {
    /// People of the institution, 1–200, each once.
    pub person_ids: Vec<Uuid>,
    /// `active` (default) or `invited`, for all of them.
    #[oai(default = "active")]
    pub state: Described<EnrollmentStart>,
    /// Why, kept (sealed) in each enrollment's history: 1–500 characters.
    #[oai(skip_serializing_if_is_none)]
    pub reason: Option<String>,
}

impl Example for BulkEnrollmentCreate {
    fn example() -> Self {
        Self {
            person_ids: vec![
                Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0002),
                Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0003),
            ],
            state: Described(EnrollmentStart::Active),
            reason: None,
        }
    }
}

/// What a bulk enrollment did for one person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum BulkResult {
    /// A new enrollment.
    Created,
    /// An enrollment moved: a withdrawn learner back, an invitation taken up.
    Changed,
    /// Already enrolled as asked.
    Unchanged,
    /// Not enrolled; `code` says why.
    Refused,
}

/// One person of a bulk enrollment, and their enrollment unless refused.
#[derive(Debug, Clone, Object)]
pub struct BulkEnrollmentItem {
    pub person_id: Uuid,
    pub result: Described<BulkResult>,
    /// Why a person was refused: `person_not_found` (unknown or deactivated),
    /// `learner_restricted` (processing of their learning records is restricted),
    /// `learner_under_age` (a minor, and the course has restricted content or a minimum
    /// age above theirs: A1) or `duplicate` (listed before).
    #[oai(nullable)]
    pub code: Option<String>,
    #[oai(nullable)]
    pub enrollment: Option<Described<EnrollmentView>>,
}

/// Each person's result, in the order sent.
#[derive(Debug, Clone, Object)]
pub struct BulkEnrollmentResult {
    pub items: Vec<BulkEnrollmentItem>,
}

/// A state change.
#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct EnrollmentUpdate {
    /// The state to move to. Allowed: invited → active or withdrawn; active → completed,
    /// withdrawn or failed; withdrawn → invited or active; failed → active. Others are 409
    /// `invalid_transition`.
    pub state: Described<EnrollmentStateView>,
    /// Why, kept (sealed) in the history: 1–500 characters.
    pub reason: Option<String>,
}

impl Example for EnrollmentUpdate {
    fn example() -> Self {
        Self {
            state: Described(EnrollmentStateView::Withdrawn),
            reason: Some("Left the programme".into()),
        }
    }
}

/// One change of an enrollment (`from` is `null` for the event that created it).
#[derive(Debug, Clone, Object)]
pub struct EnrollmentEventView {
    pub id: Uuid,
    #[oai(nullable)]
    pub from: Option<Described<EnrollmentStateView>>,
    pub to: EnrollmentStateView,
    /// Who made the change: `person:<id>`, `api-key:<id> (<name>)`, or a pseudonym once
    /// that person's data was erased.
    pub actor: String,
    #[oai(nullable)]
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
}

impl From<EnrollmentEvent> for EnrollmentEventView {
    fn from(e: EnrollmentEvent) -> Self {
        Self {
            id: e.id,
            from: e.from.map(|s| Described(s.into())),
            to: e.to.into(),
            actor: e.actor,
            reason: e.reason,
            at: e.at,
        }
    }
}

/// An enrollment's changes, oldest first.
#[derive(Debug, Clone, Object)]
pub struct EnrollmentHistory {
    pub items: Vec<EnrollmentEventView>,
}

/// The people who teach a course.
#[derive(Debug, Clone, Object)]
pub struct InstructorList {
    pub person_ids: Vec<Uuid>,
}

#[derive(ApiResponse)]
pub enum SelfEnrollmentAnswered {
    /// The caller is enrolled.
    #[oai(status = 201)]
    Created(
        Json<EnrollmentView>,
        #[oai(header = "Location")] String,
        #[oai(header = "ETag")] String,
    ),
    /// The caller was already enrolled in the course: their enrollment.
    #[oai(status = 200)]
    Existing(Json<EnrollmentView>, #[oai(header = "ETag")] String),
    /// Not enrolled: the course's prerequisites are not all completed, and the request waits
    /// for a reviewer. The body is the `enrollment_refused` decision (state
    /// `pending_review`), with why; the learner also finds it at `/v1/me/decisions`.
    #[oai(status = 202)]
    Held(Json<AutomatedDecisionView>),
}

#[derive(ApiResponse)]
pub enum EnrollmentAdded {
    /// The person is enrolled (or invited).
    #[oai(status = 201)]
    Created(
        Json<EnrollmentView>,
        #[oai(header = "Location")] String,
        #[oai(header = "ETag")] String,
    ),
}

#[derive(ApiResponse)]
pub enum EnrollmentFound {
    /// The enrollment.
    #[oai(status = 200)]
    Ok(Json<EnrollmentView>, #[oai(header = "ETag")] String),
}

#[derive(ApiResponse)]
pub enum EnrollmentsListed {
    /// A page of enrollments, oldest first.
    #[oai(status = 200)]
    Ok(Json<EnrollmentPage>),
}

#[derive(ApiResponse)]
pub enum BulkEnrolled {
    /// Each person's result.
    #[oai(status = 200)]
    Ok(Json<BulkEnrollmentResult>),
}

#[derive(ApiResponse)]
pub enum HistoryListed {
    /// The enrollment's history.
    #[oai(status = 200)]
    Ok(Json<EnrollmentHistory>),
}

#[derive(ApiResponse)]
pub enum InstructorsListed {
    /// The course's instructors, by person id.
    #[oai(status = 200)]
    Ok(Json<InstructorList>),
}

#[derive(ApiResponse)]
pub enum Done {
    /// Done (doing it again changes nothing).
    #[oai(status = 204)]
    NoContent,
}

fn found(enrollment: Enrollment) -> EnrollmentFound {
    let tag = etag(enrollment.revision);
    EnrollmentFound::Ok(Json(enrollment.into()), tag)
}

fn location(enrollment: &Enrollment) -> String {
    format!("/v1/enrollments/{}", enrollment.id)
}

#[derive(Default)]
pub struct EnrollmentsApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Enrollments")]
impl EnrollmentsApi {
    /// Enroll myself in a course
    ///
    /// Any signed-in person: enrolls the caller in a published course of their institution
    /// (a draft or archived course answers 404, like an unknown one), takes up an
    /// invitation to it, or comes back after withdrawing. 200 with the enrollment when
    /// already enrolled; 409 `seats_exhausted` when the course is full, 409
    /// `already_enrolled` when completed. Not available to API keys.
    ///
    /// A course with prerequisites (U7): a caller who has not completed each of them is not
    /// enrolled and not refused by the rule alone: 202 with an `enrollment_refused` decision
    /// (rule `prerequisites_not_completed`, in `pending_review`) for a reviewer, who
    /// confirms the refusal or overturns it, which enrolls the caller. Asking again while it
    /// is open is 409 `enrollment_under_review`. Taking up an invitation skips the rule.
    #[oai(
        path = "/me/enrollments",
        method = "post",
        operation_id = "enrollMyself"
    )]
    async fn enroll_myself(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        body: Json<SelfEnrollment>,
    ) -> Result<SelfEnrollmentAnswered, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let answer = service::enroll_self(&state.tenancy, &scope, body.0.course_id).await?;
        scope.commit().await?;
        Ok(match answer {
            service::SelfEnrollment::Enrolled {
                enrollment,
                changed: true,
            } => {
                let (at, tag) = (location(&enrollment), etag(enrollment.revision));
                SelfEnrollmentAnswered::Created(Json(enrollment.into()), at, tag)
            }
            service::SelfEnrollment::Enrolled { enrollment, .. } => {
                let tag = etag(enrollment.revision);
                SelfEnrollmentAnswered::Existing(Json(enrollment.into()), tag)
            }
            service::SelfEnrollment::Held(decision) => {
                SelfEnrollmentAnswered::Held(Json(decision.into()))
            }
        })
    }

    /// My enrollments
    ///
    /// Any signed-in person: their own enrollments, oldest first, in pages. Not available
    /// to API keys.
    #[oai(
        path = "/me/enrollments",
        method = "get",
        operation_id = "listMyEnrollments"
    )]
    async fn list_my_enrollments(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        /// Cursor from the previous page's `next_cursor`.
        cursor: Query<Option<String>>,
        /// Page size, 1–200 (default 50).
        limit: Query<Option<u64>>,
    ) -> Result<EnrollmentsListed, ApiError> {
        let page = page_request(cursor.0.as_deref(), limit.0)?;
        let page = &page;
        let enrollments = state
            .tenancy
            .read(&auth.0, move |scope| async move {
                service::my_enrollments(&scope, page).await
            })
            .await?;
        Ok(EnrollmentsListed::Ok(Json(EnrollmentPage {
            items: enrollments.items.into_iter().map(Into::into).collect(),
            next_cursor: enrollments.next_cursor,
        })))
    }

    /// Withdraw from one of my enrollments
    ///
    /// Any signed-in person, for their own enrollment (another's answers 404). An invited
    /// or active enrollment becomes `withdrawn` (409 `invalid_transition` otherwise).
    #[oai(
        path = "/me/enrollments/:enrollment_id/withdraw",
        method = "post",
        operation_id = "withdrawMyEnrollment"
    )]
    async fn withdraw_my_enrollment(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        enrollment_id: Path<Uuid>,
    ) -> Result<EnrollmentFound, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let enrollment = service::withdraw_self(&scope, enrollment_id.0, None).await?;
        scope.commit().await?;
        Ok(found(enrollment))
    }

    /// Enroll or invite a person
    ///
    /// Requires scope `enrollments:write`, for a course the caller teaches (every course
    /// with `all_enrollments:write`; another answers 404). A withdrawn learner is enrolled
    /// again; an invited one asked to be `active` takes the invitation up. 404
    /// `person_not_found` for an unknown or deactivated person, 409 `already_enrolled`,
    /// 409 `seats_exhausted` when invited and active learners fill the course's seat
    /// limit, 409 `learner_restricted` while processing of the person's learning records is
    /// restricted.
    #[oai(
        path = "/courses/:course_id/enrollments",
        method = "post",
        operation_id = "createEnrollment"
    )]
    async fn create_enrollment(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        course_id: Path<Uuid>,
        body: Json<EnrollmentCreate>,
    ) -> Result<EnrollmentAdded, ApiError> {
        let input = body.0;
        let scope = state.tenancy.scope(&auth.0).await?;
        let enrollment = service::enroll(
            &state.tenancy,
            &scope,
            course_id.0,
            input.person_id,
            input.state.0.into(),
            input.reason.as_deref(),
        )
        .await?;
        scope.commit().await?;
        let (at, tag) = (location(&enrollment), etag(enrollment.revision));
        Ok(EnrollmentAdded::Created(Json(enrollment.into()), at, tag))
    }

    /// Enroll or invite people in bulk
    ///
    /// Requires scope `enrollments:write`, for a course the caller teaches (every course
    /// with `all_enrollments:write`). Up to 200 people; each gets a result of their own
    /// (`created`, `changed`, `unchanged`, or `refused` with a code), so one unknown id
    /// does not hold back the rest. Seats are all or nothing: when the people to admit
    /// need more seats than are free, the answer is 409 `seats_exhausted` and nobody is
    /// enrolled.
    #[oai(
        path = "/courses/:course_id/enrollments/bulk",
        method = "post",
        operation_id = "createEnrollmentsInBulk"
    )]
    async fn create_enrollments_in_bulk(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        course_id: Path<Uuid>,
        body: Json<BulkEnrollmentCreate>,
    ) -> Result<BulkEnrolled, ApiError> {
        let input = body.0;
        let scope = state.tenancy.scope(&auth.0).await?;
        let items = service::enroll_bulk(
            &state.tenancy,
            &scope,
            course_id.0,
            &input.person_ids,
            input.state.0.into(),
            input.reason.as_deref(),
        )
        .await?;
        scope.commit().await?;
        let items = items
            .into_iter()
            .map(|item| {
                let (result, code, enrollment) = match item.outcome {
                    BulkOutcome::Refused { code } => {
                        (BulkResult::Refused, Some(code.to_string()), None)
                    }
                    BulkOutcome::Admitted {
                        enrollment,
                        admission,
                    } => (
                        match admission {
                            Admission::Created => BulkResult::Created,
                            Admission::Changed => BulkResult::Changed,
                            Admission::Unchanged => BulkResult::Unchanged,
                        },
                        None,
                        Some(Described(enrollment.into())),
                    ),
                };
                BulkEnrollmentItem {
                    person_id: item.person_id,
                    result: Described(result),
                    code,
                    enrollment,
                }
            })
            .collect();
        Ok(BulkEnrolled::Ok(Json(BulkEnrollmentResult { items })))
    }

    /// List a course's enrollments
    ///
    /// Requires scope `enrollments:read`, for a course the caller teaches (every course
    /// with `all_enrollments:read`; another answers 404). Oldest first, in pages; filtered
    /// by state and by organisational unit (`org_unit`: people affiliated with that unit or
    /// any unit below it).
    ///
    /// Returns other people's personal data: every call is recorded in the audit trail.
    #[oai(
        path = "/courses/:course_id/enrollments",
        method = "get",
        operation_id = "listCourseEnrollments"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn list_course_enrollments(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        course_id: Path<Uuid>,
        /// Cursor from the previous page's `next_cursor`.
        cursor: Query<Option<String>>,
        /// Page size, 1–200 (default 50).
        limit: Query<Option<u64>>,
        /// Only enrollments in this state.
        #[oai(name = "state")]
        state_filter: Query<Option<EnrollmentStateView>>,
        /// Only learners of this organisational unit or a unit below it.
        org_unit: Query<Option<Uuid>>,
    ) -> Result<EnrollmentsListed, ApiError> {
        let page = page_request(cursor.0.as_deref(), limit.0)?;
        let filter = EnrollmentFilter {
            state: state_filter.0.map(Into::into),
            org_unit: org_unit.0,
        };
        let (page, filter, id) = (&page, &filter, course_id.0);
        let scope = state.tenancy.scope(&auth.0).await?;
        let enrollments = service::list(&scope, id, page, filter).await?;
        scope.commit().await?;
        Ok(EnrollmentsListed::Ok(Json(EnrollmentPage {
            items: enrollments.items.into_iter().map(Into::into).collect(),
            next_cursor: enrollments.next_cursor,
        })))
    }

    /// Get an enrollment
    ///
    /// Requires scope `enrollments:read`, for a course the caller teaches (every course
    /// with `all_enrollments:read`), or a signed-in person's own enrollment. The `ETag` is
    /// the revision to send back in `If-Match`.
    ///
    /// Returns other people's personal data: every call is recorded in the audit trail.
    #[oai(
        path = "/enrollments/:enrollment_id",
        method = "get",
        operation_id = "getEnrollment"
    )]
    async fn get_enrollment(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        enrollment_id: Path<Uuid>,
    ) -> Result<EnrollmentFound, ApiError> {
        let id = enrollment_id.0;
        let scope = state.tenancy.scope(&auth.0).await?;
        let enrollment = service::get(&scope, id).await?;
        scope.commit().await?;
        Ok(found(enrollment))
    }

    /// Change an enrollment's state
    ///
    /// Requires scope `enrollments:write`, for a course the caller teaches (every course
    /// with `all_enrollments:write`), and `If-Match` with the `ETag` last read (412 when
    /// it no longer matches). A change the states do not allow is 409
    /// `invalid_transition`; back into a seat when the course is full, 409
    /// `seats_exhausted`; while the person's learning records are restricted, 409
    /// `learner_restricted`.
    #[oai(
        path = "/enrollments/:enrollment_id",
        method = "patch",
        operation_id = "updateEnrollment"
    )]
    async fn update_enrollment(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        enrollment_id: Path<Uuid>,
        /// The `ETag` of the revision this change is based on.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        body: Json<EnrollmentUpdate>,
    ) -> Result<EnrollmentFound, ApiError> {
        let expected = require_if_match(if_match.0.as_deref())?;
        let input = body.0;
        let scope = state.tenancy.scope(&auth.0).await?;
        let enrollment = service::transition(
            &scope,
            enrollment_id.0,
            input.state.0.into(),
            input.reason.as_deref(),
            expected,
        )
        .await?;
        scope.commit().await?;
        Ok(found(enrollment))
    }

    /// An enrollment's history
    ///
    /// Requires scope `enrollments:read` (as for reading the enrollment): every change,
    /// oldest first, with who made it and why.
    ///
    /// Returns other people's personal data: every call is recorded in the audit trail.
    #[oai(
        path = "/enrollments/:enrollment_id/history",
        method = "get",
        operation_id = "getEnrollmentHistory"
    )]
    async fn get_enrollment_history(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        enrollment_id: Path<Uuid>,
    ) -> Result<HistoryListed, ApiError> {
        let id = enrollment_id.0;
        let scope = state.tenancy.scope(&auth.0).await?;
        let events = service::history(&scope, id).await?;
        scope.commit().await?;
        Ok(HistoryListed::Ok(Json(EnrollmentHistory {
            items: events.into_iter().map(Into::into).collect(),
        })))
    }

    /// A course's instructors
    ///
    /// Requires scope `enrollments:read`, for a course the caller teaches (every course
    /// with `all_enrollments:read`).
    #[oai(
        path = "/courses/:course_id/instructors",
        method = "get",
        operation_id = "listCourseInstructors"
    )]
    async fn list_course_instructors(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        course_id: Path<Uuid>,
    ) -> Result<InstructorsListed, ApiError> {
        let id = course_id.0;
        let person_ids = state
            .tenancy
            .read(&auth.0, move |scope| async move {
                service::instructors(&scope, id).await
            })
            .await?;
        Ok(InstructorsListed::Ok(Json(InstructorList { person_ids })))
    }

    /// Make a person an instructor of a course
    ///
    /// Requires scope `all_enrollments:write` (admins). The instructor then reads and
    /// changes that course's enrollments (with `enrollments:read`/`enrollments:write`).
    /// 404 for an unknown or deactivated person.
    #[oai(
        path = "/courses/:course_id/instructors/:person_id",
        method = "put",
        operation_id = "assignCourseInstructor"
    )]
    async fn assign_course_instructor(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        course_id: Path<Uuid>,
        person_id: Path<Uuid>,
    ) -> Result<Done, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        service::assign_instructor(&state.tenancy, &scope, course_id.0, person_id.0).await?;
        scope.commit().await?;
        Ok(Done::NoContent)
    }

    /// Remove an instructor from a course
    ///
    /// Requires scope `all_enrollments:write` (admins).
    #[oai(
        path = "/courses/:course_id/instructors/:person_id",
        method = "delete",
        operation_id = "removeCourseInstructor"
    )]
    async fn remove_course_instructor(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        course_id: Path<Uuid>,
        person_id: Path<Uuid>,
    ) -> Result<Done, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        service::remove_instructor(&scope, course_id.0, person_id.0).await?;
        scope.commit().await?;
        Ok(Done::NoContent)
    }

    /// Map a SCIM group to a course
    ///
    /// Requires scope `all_enrollments:write` (admins). The group's members are enrolled
    /// in the course now (source `scim_group`), and so are the people the institution's IdP
    /// adds to the group later (SCIM); people it removes are withdrawn from the enrollments
    /// that group made. A full course or a restricted person is skipped and audited
    /// (`enrollment.group_refused`), the IdP's push still succeeds. 404 `group_not_found`
    /// for an unknown group.
    #[oai(
        path = "/courses/:course_id/groups/:group_id",
        method = "put",
        operation_id = "mapCourseGroup"
    )]
    async fn map_course_group(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        course_id: Path<Uuid>,
        group_id: Path<Uuid>,
    ) -> Result<Done, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        service::map_group(&state.tenancy, &scope, course_id.0, group_id.0).await?;
        scope.commit().await?;
        Ok(Done::NoContent)
    }

    /// Unmap a SCIM group from a course
    ///
    /// Requires scope `all_enrollments:write` (admins). The enrollments the group made
    /// stay as they are.
    #[oai(
        path = "/courses/:course_id/groups/:group_id",
        method = "delete",
        operation_id = "unmapCourseGroup"
    )]
    async fn unmap_course_group(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        course_id: Path<Uuid>,
        group_id: Path<Uuid>,
    ) -> Result<Done, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        service::unmap_group(&scope, course_id.0, group_id.0).await?;
        scope.commit().await?;
        Ok(Done::NoContent)
    }
}
