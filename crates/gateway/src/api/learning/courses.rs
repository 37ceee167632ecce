//! `/v1/courses`: the course catalog of the caller's institution.

use crate::api::described::Described;
use crate::api::{ApiTags, etag, page_request, parse_if_match, require_if_match};
use crate::auth::TenantCredential;
use crate::problem::ApiError;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use hub_course::catalog::service;
use hub_course::{Course, CourseFilter, CoursePatch, CourseStatus, NewCourse};
use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::{Example, MaybeUndefined};
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use std::sync::Arc;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum CourseStatusView {
    Draft,
    Published,
    Archived,
}

impl From<CourseStatus> for CourseStatusView {
    fn from(s: CourseStatus) -> Self {
        match s {
            CourseStatus::Draft => Self::Draft,
            CourseStatus::Published => Self::Published,
            CourseStatus::Archived => Self::Archived,
        }
    }
}

impl From<CourseStatusView> for CourseStatus {
    fn from(s: CourseStatusView) -> Self {
        match s {
            CourseStatusView::Draft => Self::Draft,
            CourseStatusView::Published => Self::Published,
            CourseStatusView::Archived => Self::Archived,
        }
    }
}

fn draft() -> Described<CourseStatusView> {
    Described(CourseStatusView::Draft)
}

/// A new course.
#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct CourseCreate {
    /// Institution-unique code: 1–40 letters, digits, `-`, `_` or `.`.
    pub code: String,
    /// Title shown to learners, 1–200 characters.
    pub title: String,
    /// Longer description, up to 10,000 characters.
    #[oai(default)]
    pub description: String,
    /// Publication status; new courses start as drafts unless told otherwise.
    #[oai(default = "draft")]
    pub status: Described<CourseStatusView>,
    /// Up to 20 tags: lower-case letters, digits and `-`.
    #[oai(default)]
    pub tags: Vec<String>,
    /// Youngest age allowed to enrol (0–120); omit for no limit. A minor younger than this
    /// does not see the course at all (A1).
    pub minimum_age: Option<i32>,
    /// Content not for minors (A1): no minor sees the course in any listing, filter or
    /// look-up, nor can be enrolled in it.
    #[oai(default)]
    pub restricted_content: bool,
    /// At most this many invited and active learners (1–1,000,000); omit for no limit.
    /// Enrollments beyond it are refused with 409 `seats_exhausted`.
    pub seat_limit: Option<i32>,
    /// A timestamp (RFC 3339); omit for none. A completion recorded after it still
    /// completes the course, but its certificate is not issued by itself: a
    /// `certificate_denied` decision waits for a reviewer (U7, `/v1/decisions`).
    pub certificate_deadline: Option<DateTime<Utc>>,
    /// Up to 20 other courses of the institution (ids, each once) a learner completes
    /// first. A learner who enrolls themselves without having completed each of them is
    /// not enrolled at once: an `enrollment_refused` decision waits for a reviewer (U7).
    /// An unknown course is 422 `validation_failed`, field `prerequisites[i]`.
    #[oai(default)]
    pub prerequisites: Vec<Uuid>,
}

impl Example for CourseCreate {
    fn example() -> Self {
        Self {
            code: "CS-101".into(),
            title: "Introduction to Computer Science".into(),
            description: "Algorithms, data and programs.".into(),
            status: Described(CourseStatusView::Draft),
            tags: vec!["computing".into(), "first-year".into()],
            minimum_age: Some(16),
            restricted_content: false,
            seat_limit: Some(120),
            certificate_deadline: "2027-07-31T23:59:59Z".parse().ok(),
            prerequisites: Vec::new(),
        }
    }
}

/// Changes to a course; omitted fields stay as they are.
#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct CourseUpdate {
    // Omitted, not `null`, in the spec's example: these are not nullable.
    #[oai(skip_serializing_if_is_none)]
    pub code: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub title: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub description: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub status: Option<CourseStatusView>,
    #[oai(skip_serializing_if_is_none)]
    pub tags: Option<Vec<String>>,
    /// `null` removes the age limit.
    #[oai(nullable)]
    pub minimum_age: MaybeUndefined<i32>,
    /// Content not for minors (A1).
    #[oai(skip_serializing_if_is_none)]
    pub restricted_content: Option<bool>,
    /// `null` removes the seat limit. A limit below the seats already taken admits nobody
    /// new until enough learners leave.
    #[oai(nullable)]
    pub seat_limit: MaybeUndefined<i32>,
    /// A timestamp (RFC 3339); `null` removes the certificate deadline. It applies to
    /// completions recorded from now on.
    #[oai(nullable)]
    pub certificate_deadline: MaybeUndefined<DateTime<Utc>>,
    /// Replaces the prerequisites (`[]` removes them): up to 20 other courses of the
    /// institution, each once, none that needs this course first (directly or through its
    /// own prerequisites). Otherwise 422 `validation_failed`, field `prerequisites[i]`. It
    /// applies to enrollments requested from now on.
    #[oai(skip_serializing_if_is_none)]
    pub prerequisites: Option<Vec<Uuid>>,
}

impl Example for CourseUpdate {
    fn example() -> Self {
        Self {
            code: None,
            title: Some("Introduction to Computer Science (2027)".into()),
            description: None,
            status: Some(CourseStatusView::Published),
            tags: None,
            minimum_age: MaybeUndefined::Undefined,
            restricted_content: None,
            seat_limit: MaybeUndefined::Undefined,
            certificate_deadline: MaybeUndefined::Undefined,
            prerequisites: None,
        }
    }
}

/// A course.
#[derive(Debug, Clone, Object)]
pub struct CourseView {
    pub id: Uuid,
    pub code: String,
    pub title: String,
    pub description: String,
    pub status: CourseStatusView,
    pub tags: Vec<String>,
    #[oai(nullable)]
    pub minimum_age: Option<i32>,
    /// Content not for minors: hidden from every minor (A1).
    pub restricted_content: bool,
    /// At most this many invited and active learners; `null`: no limit.
    #[oai(nullable)]
    pub seat_limit: Option<i32>,
    /// Completions recorded after it earn no certificate until a reviewer overturns the
    /// `certificate_denied` decision; `null`: no deadline.
    #[oai(nullable)]
    pub certificate_deadline: Option<DateTime<Utc>>,
    /// Courses a learner completes first, in order; a learner's own enrollment without them
    /// waits on an `enrollment_refused` decision for a reviewer.
    pub prerequisites: Vec<Uuid>,
    /// Increments on every change; the `ETag` carries it.
    pub revision: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Course> for CourseView {
    fn from(c: Course) -> Self {
        Self {
            id: c.id,
            code: c.code,
            title: c.title,
            description: c.description,
            status: c.status.into(),
            tags: c.tags,
            minimum_age: c.minimum_age,
            restricted_content: c.restricted_content,
            seat_limit: c.seat_limit,
            certificate_deadline: c.certificate_deadline,
            prerequisites: c.prerequisites,
            revision: c.revision,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// One page of courses.
#[derive(Debug, Clone, Object)]
pub struct CoursePage {
    pub items: Vec<CourseView>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

#[derive(ApiResponse)]
pub enum CourseCreated {
    /// The course was created.
    #[oai(status = 201)]
    Created(
        Json<CourseView>,
        #[oai(header = "Location")] String,
        #[oai(header = "ETag")] String,
    ),
    /// A retry with the same `Idempotency-Key`: the course the first attempt created.
    #[oai(status = 200)]
    Replayed(Json<CourseView>, #[oai(header = "ETag")] String),
}

#[derive(ApiResponse)]
pub enum CourseFound {
    /// The course.
    #[oai(status = 200)]
    Ok(Json<CourseView>, #[oai(header = "ETag")] String),
}

#[derive(ApiResponse)]
pub enum CourseListed {
    /// A page of courses, oldest first.
    #[oai(status = 200)]
    Ok(Json<CoursePage>),
}

#[derive(ApiResponse)]
pub enum CourseDeleted {
    /// The course is gone.
    #[oai(status = 204)]
    NoContent,
}

#[derive(Default)]
pub struct CoursesApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Courses")]
impl CoursesApi {
    /// Create a course
    ///
    /// Creates a course in the caller's institution. Requires scope `courses:write`.
    /// With an `Idempotency-Key`, retrying the same request returns the course the first
    /// attempt created (200) instead of creating another; reusing the key for a different
    /// request is a 409.
    #[oai(path = "/courses", method = "post", operation_id = "createCourse")]
    async fn create_course(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        /// Makes retries safe: up to 200 visible ASCII characters, unique per request.
        #[oai(name = "Idempotency-Key")]
        idempotency_key: Header<Option<String>>,
        body: Json<CourseCreate>,
    ) -> Result<CourseCreated, ApiError> {
        let input = body.0;
        let new = NewCourse {
            code: input.code,
            title: input.title,
            description: input.description,
            status: input.status.0.into(),
            tags: input.tags,
            minimum_age: input.minimum_age,
            restricted_content: input.restricted_content,
            seat_limit: input.seat_limit,
            certificate_deadline: input.certificate_deadline,
            prerequisites: input.prerequisites,
        };
        let scope = state.tenancy.scope(&auth.0).await?;
        let (course, created) = service::create(&scope, new, idempotency_key.0.as_deref()).await?;
        scope.commit().await?;
        let tag = etag(course.revision);
        Ok(if created {
            let location = format!("/v1/courses/{}", course.id);
            CourseCreated::Created(Json(course.into()), location, tag)
        } else {
            CourseCreated::Replayed(Json(course.into()), tag)
        })
    }

    /// List courses
    ///
    /// Courses of the caller's institution, oldest first, in pages. Requires scope
    /// `courses:read`. A minor sees no course with restricted content and none whose
    /// minimum age is above theirs (A1), whatever the filter.
    #[oai(path = "/courses", method = "get", operation_id = "listCourses")]
    // poem-openapi takes every query parameter as an argument of its own.
    #[allow(clippy::too_many_arguments)]
    async fn list_courses(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        /// Cursor from the previous page's `next_cursor`.
        cursor: Query<Option<String>>,
        /// Page size, 1–200 (default 50).
        limit: Query<Option<u64>>,
        /// Only courses with this status.
        status: Query<Option<CourseStatusView>>,
        /// Only courses carrying this tag.
        tag: Query<Option<String>>,
        /// Only the course with this code.
        code: Query<Option<String>>,
    ) -> Result<CourseListed, ApiError> {
        let page = page_request(cursor.0.as_deref(), limit.0)?;
        let filter = CourseFilter {
            status: status.0.map(Into::into),
            tag: tag.0,
            code: code.0,
        };
        let (page, filter) = (&page, &filter);
        let tenancy = &state.tenancy;
        let courses = state
            .tenancy
            .read(&auth.0, move |scope| async move {
                service::list(tenancy, &scope, page, filter).await
            })
            .await?;
        Ok(CourseListed::Ok(Json(CoursePage {
            items: courses.items.into_iter().map(Into::into).collect(),
            next_cursor: courses.next_cursor,
        })))
    }

    /// Get a course
    ///
    /// Requires scope `courses:read`. The `ETag` is the revision to send back in `If-Match`.
    /// A course hidden from a minor (A1) answers 404 to them.
    #[oai(
        path = "/courses/:course_id",
        method = "get",
        operation_id = "getCourse"
    )]
    async fn get_course(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        course_id: Path<Uuid>,
    ) -> Result<CourseFound, ApiError> {
        let id = course_id.0;
        let tenancy = &state.tenancy;
        let course = state
            .tenancy
            .read(&auth.0, move |scope| async move {
                service::get_visible(tenancy, &scope, id).await
            })
            .await?;
        let tag = etag(course.revision);
        Ok(CourseFound::Ok(Json(course.into()), tag))
    }

    /// Update a course
    ///
    /// Changes the given fields. Requires scope `courses:write` and `If-Match` with the
    /// `ETag` last read, so concurrent edits are not lost (412 when it no longer matches).
    #[oai(
        path = "/courses/:course_id",
        method = "patch",
        operation_id = "updateCourse"
    )]
    async fn update_course(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        course_id: Path<Uuid>,
        /// The `ETag` of the revision this change is based on.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        body: Json<CourseUpdate>,
    ) -> Result<CourseFound, ApiError> {
        let expected = require_if_match(if_match.0.as_deref())?;
        let input = body.0;
        let patch = CoursePatch {
            code: input.code,
            title: input.title,
            description: input.description,
            status: input.status.map(Into::into),
            tags: input.tags,
            minimum_age: match input.minimum_age {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(age) => Some(Some(age)),
            },
            restricted_content: input.restricted_content,
            seat_limit: match input.seat_limit {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(seats) => Some(Some(seats)),
            },
            certificate_deadline: match input.certificate_deadline {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(at) => Some(Some(at)),
            },
            prerequisites: input.prerequisites,
        };
        let scope = state.tenancy.scope(&auth.0).await?;
        let course = service::update(&scope, course_id.0, patch, expected).await?;
        scope.commit().await?;
        let tag = etag(course.revision);
        Ok(CourseFound::Ok(Json(course.into()), tag))
    }

    /// Delete a course
    ///
    /// Requires scope `courses:write`. With `If-Match`, deletes only that revision. A course
    /// with enrollments is archived instead (409 `course_has_enrollments`): its learning
    /// records stay records of a course that exists. One another course names as a
    /// prerequisite is 409 `course_is_prerequisite`: change that course first.
    #[oai(
        path = "/courses/:course_id",
        method = "delete",
        operation_id = "deleteCourse"
    )]
    async fn delete_course(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        course_id: Path<Uuid>,
        /// Optional: the `ETag` of the revision to delete.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
    ) -> Result<CourseDeleted, ApiError> {
        let expected = parse_if_match(if_match.0.as_deref())?;
        let scope = state.tenancy.scope(&auth.0).await?;
        service::delete(&scope, course_id.0, expected).await?;
        scope.commit().await?;
        Ok(CourseDeleted::NoContent)
    }
}
