//! A course's structure: `/v1/courses/{id}/outline`, its modules (`/v1/modules/{id}`) and
//! their lessons (`/v1/lessons/{id}`) in order, and its completion rule.

use crate::api::{ApiTags, etag, parse_if_match, require_if_match};
use crate::auth::TenantCredential;
use crate::problem::ApiError;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use hub_course::structure::{
    CompletionRule, CompletionRuleInput, Lesson, LessonPatch, Module, ModulePatch, NewLesson,
    NewModule, Outline, RequiredLessons, service,
};
use poem::web::Data;
use poem_openapi::param::{Header, Path};
use poem_openapi::payload::Json;
use poem_openapi::types::{Example, MaybeUndefined};
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use std::sync::Arc;
use uuid::Uuid;

/// A new module, placed after the course's last one.
#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct ModuleCreate {
    /// 1–200 characters.
    pub title: String,
    /// Up to 10,000 characters.
    #[oai(default)]
    pub description: String,
}

impl Example for ModuleCreate {
    fn example() -> Self {
        Self {
            title: "Week 1: Foundations".into(),
            description: "Variables, types and control flow.".into(),
        }
    }
}

/// Changes to a module; omitted fields stay as they are. Its place changes only by
/// reordering the course's modules.
#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct ModuleUpdate {
    #[oai(skip_serializing_if_is_none)]
    pub title: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub description: Option<String>,
}

impl Example for ModuleUpdate {
    fn example() -> Self {
        Self {
            title: Some("Week 1: Getting started".into()),
            description: None,
        }
    }
}

/// A module of a course.
#[derive(Debug, Clone, Object)]
pub struct ModuleView {
    pub id: Uuid,
    pub course_id: Uuid,
    /// 0-based place among the course's modules (dense: 0, 1, 2, …).
    pub position: i32,
    pub title: String,
    pub description: String,
    /// Increments on every change to the module's own fields; the `ETag` carries it.
    pub revision: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Module> for ModuleView {
    fn from(m: Module) -> Self {
        Self {
            id: m.id,
            course_id: m.course_id,
            position: m.position,
            title: m.title,
            description: m.description,
            revision: m.revision,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

fn required_default() -> bool {
    true
}

/// A new lesson, placed after the module's last one.
#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct LessonCreate {
    /// 1–200 characters.
    pub title: String,
    /// Up to 10,000 characters.
    #[oai(default)]
    pub description: String,
    /// The xAPI activity whose statements tell this lesson's progress: an absolute IRI
    /// (RFC 3987) of up to 500 characters, unique in the institution (409 otherwise). Omit
    /// for none.
    #[oai(skip_serializing_if_is_none)]
    pub activity_id: Option<String>,
    /// Whether completing the course needs this lesson (default true).
    #[oai(default = "required_default")]
    pub required: bool,
}

impl Example for LessonCreate {
    fn example() -> Self {
        Self {
            title: "What is a variable?".into(),
            description: String::new(),
            activity_id: Some("https://courses.example.edu/cs-101/lessons/variables".into()),
            required: true,
        }
    }
}

/// Changes to a lesson; omitted fields stay as they are.
#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct LessonUpdate {
    #[oai(skip_serializing_if_is_none)]
    pub title: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub description: Option<String>,
    /// `null` removes the content reference.
    #[oai(nullable)]
    pub activity_id: MaybeUndefined<String>,
    #[oai(skip_serializing_if_is_none)]
    pub required: Option<bool>,
}

impl Example for LessonUpdate {
    fn example() -> Self {
        Self {
            title: Some("Variables and values".into()),
            description: None,
            activity_id: MaybeUndefined::Value(
                "https://courses.example.edu/cs-101/lessons/values".into(),
            ),
            required: Some(false),
        }
    }
}

/// A lesson of a module.
#[derive(Debug, Clone, Object)]
pub struct LessonView {
    pub id: Uuid,
    pub module_id: Uuid,
    pub course_id: Uuid,
    /// 0-based place among the module's lessons (dense).
    pub position: i32,
    pub title: String,
    pub description: String,
    #[oai(nullable)]
    pub activity_id: Option<String>,
    pub required: bool,
    /// Increments on every change to the lesson's own fields; the `ETag` carries it.
    pub revision: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Lesson> for LessonView {
    fn from(l: Lesson) -> Self {
        Self {
            id: l.id,
            module_id: l.module_id,
            course_id: l.course_id,
            position: l.position,
            title: l.title,
            description: l.description,
            activity_id: l.activity_id,
            required: l.required,
            revision: l.revision,
            created_at: l.created_at,
            updated_at: l.updated_at,
        }
    }
}

/// A module in the outline, with its lessons in order.
#[derive(Debug, Clone, Object)]
pub struct OutlineModule {
    pub id: Uuid,
    pub position: i32,
    pub title: String,
    pub description: String,
    pub revision: i32,
    pub lessons: Vec<LessonView>,
}

/// A quiz of the course as the outline lists it.
#[derive(Debug, Clone, Object)]
pub struct OutlineQuiz {
    pub id: Uuid,
    pub title: String,
}

/// A course's structure: its modules in order, each with its lessons in order, and its
/// quizzes (which stand beside the modules), oldest first.
#[derive(Debug, Clone, Object)]
pub struct OutlineView {
    pub course_id: Uuid,
    pub modules: Vec<OutlineModule>,
    pub quizzes: Vec<OutlineQuiz>,
}

impl From<Outline> for OutlineView {
    fn from(o: Outline) -> Self {
        Self {
            course_id: o.course_id,
            modules: o
                .modules
                .into_iter()
                .map(|m| OutlineModule {
                    id: m.module.id,
                    position: m.module.position,
                    title: m.module.title,
                    description: m.module.description,
                    revision: m.module.revision,
                    lessons: m.lessons.into_iter().map(Into::into).collect(),
                })
                .collect(),
            quizzes: o
                .quizzes
                .into_iter()
                .map(|q| OutlineQuiz {
                    id: q.id,
                    title: q.title,
                })
                .collect(),
        }
    }
}

/// A new order of the course's modules: every module's id exactly once.
#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct ModuleOrder {
    pub module_ids: Vec<String>,
}

impl Example for ModuleOrder {
    fn example() -> Self {
        Self {
            module_ids: vec![
                "01890a5d-ac96-774b-bcce-b302099a8057".into(),
                "01890a5d-ac96-774b-bcce-b302099a8058".into(),
            ],
        }
    }
}

/// A new order of the module's lessons: every lesson's id exactly once.
#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct LessonOrder {
    pub lesson_ids: Vec<String>,
}

impl Example for LessonOrder {
    fn example() -> Self {
        Self {
            lesson_ids: vec![
                "01890a5d-ac96-774b-bcce-b302099a8059".into(),
                "01890a5d-ac96-774b-bcce-b302099a805a".into(),
            ],
        }
    }
}

/// A module's lessons in order.
#[derive(Debug, Clone, Object)]
pub struct LessonList {
    pub items: Vec<LessonView>,
}

/// Which lessons completing the course needs: those marked `required`, every lesson, or
/// none (only the quizzes count).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum RequiredLessonsView {
    AllRequired,
    All,
    #[oai(rename = "none")]
    NoLessons,
}

impl From<RequiredLessons> for RequiredLessonsView {
    fn from(r: RequiredLessons) -> Self {
        match r {
            RequiredLessons::AllRequired => Self::AllRequired,
            RequiredLessons::All => Self::All,
            RequiredLessons::NoLessons => Self::NoLessons,
        }
    }
}

impl From<RequiredLessonsView> for RequiredLessons {
    fn from(r: RequiredLessonsView) -> Self {
        match r {
            RequiredLessonsView::AllRequired => Self::AllRequired,
            RequiredLessonsView::All => Self::All,
            RequiredLessonsView::NoLessons => Self::NoLessons,
        }
    }
}

/// When a learner has completed the course: the lessons `required_lessons` names are
/// completed and every quiz of `passing_quizzes` is passed.
#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct CompletionRuleSet {
    pub required_lessons: RequiredLessonsView,
    /// Distinct quizzes of this course (422 naming the entry otherwise).
    #[oai(default)]
    pub passing_quizzes: Vec<String>,
}

impl Example for CompletionRuleSet {
    fn example() -> Self {
        Self {
            required_lessons: RequiredLessonsView::AllRequired,
            passing_quizzes: vec![],
        }
    }
}

/// A course's completion rule.
#[derive(Debug, Clone, Object)]
pub struct CompletionRuleView {
    pub course_id: Uuid,
    pub required_lessons: RequiredLessonsView,
    pub passing_quizzes: Vec<Uuid>,
    /// 0 while the course has the default rule (the required lessons, no quiz).
    pub revision: i32,
    #[oai(nullable)]
    pub updated_at: Option<DateTime<Utc>>,
}

impl From<CompletionRule> for CompletionRuleView {
    fn from(r: CompletionRule) -> Self {
        Self {
            course_id: r.course_id,
            required_lessons: r.required_lessons.into(),
            passing_quizzes: r.passing_quizzes,
            revision: r.revision,
            updated_at: r.updated_at,
        }
    }
}

#[derive(ApiResponse)]
pub enum OutlineFound {
    /// The outline.
    #[oai(status = 200)]
    Ok(Json<OutlineView>),
}

#[derive(ApiResponse)]
pub enum ModuleCreated {
    /// The module was created.
    #[oai(status = 201)]
    Created(
        Json<ModuleView>,
        #[oai(header = "Location")] String,
        #[oai(header = "ETag")] String,
    ),
}

#[derive(ApiResponse)]
pub enum ModuleFound {
    /// The module.
    #[oai(status = 200)]
    Ok(Json<ModuleView>, #[oai(header = "ETag")] String),
}

#[derive(ApiResponse)]
pub enum LessonCreated {
    /// The lesson was created.
    #[oai(status = 201)]
    Created(
        Json<LessonView>,
        #[oai(header = "Location")] String,
        #[oai(header = "ETag")] String,
    ),
}

#[derive(ApiResponse)]
pub enum LessonFound {
    /// The lesson.
    #[oai(status = 200)]
    Ok(Json<LessonView>, #[oai(header = "ETag")] String),
}

#[derive(ApiResponse)]
pub enum LessonsOrdered {
    /// The module's lessons in their new order.
    #[oai(status = 200)]
    Ok(Json<LessonList>),
}

#[derive(ApiResponse)]
pub enum RuleFound {
    /// The completion rule.
    #[oai(status = 200)]
    Ok(Json<CompletionRuleView>, #[oai(header = "ETag")] String),
}

#[derive(ApiResponse)]
pub enum StructureDeleted {
    /// It is gone.
    #[oai(status = 204)]
    NoContent,
}

#[derive(Default)]
pub struct StructureApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Courses")]
impl StructureApi {
    /// Get a course's outline
    ///
    /// The course's modules in order, each with its lessons in order, and its quizzes.
    /// Requires scope `courses:read`.
    #[oai(
        path = "/courses/:course_id/outline",
        method = "get",
        operation_id = "getCourseOutline"
    )]
    async fn get_outline(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        course_id: Path<Uuid>,
    ) -> Result<OutlineFound, ApiError> {
        let id = course_id.0;
        let tenancy = &state.tenancy;
        let outline = state
            .tenancy
            .read(&auth.0, move |scope| async move {
                service::outline(tenancy, &scope, id).await
            })
            .await?;
        Ok(OutlineFound::Ok(Json(outline.into())))
    }

    /// Add a module to a course
    ///
    /// Places it after the course's last module. Requires scope `courses:write`.
    #[oai(
        path = "/courses/:course_id/modules",
        method = "post",
        operation_id = "createCourseModule"
    )]
    async fn create_module(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        course_id: Path<Uuid>,
        body: Json<ModuleCreate>,
    ) -> Result<ModuleCreated, ApiError> {
        let input = NewModule {
            title: body.0.title,
            description: body.0.description,
        };
        let scope = state.tenancy.scope(&auth.0).await?;
        let module = service::create_module(&scope, course_id.0, input).await?;
        scope.commit().await?;
        let location = format!("/v1/modules/{}", module.id);
        let tag = etag(module.revision);
        Ok(ModuleCreated::Created(Json(module.into()), location, tag))
    }

    /// Put a course's modules in a new order
    ///
    /// Lists every module of the course exactly once; all positions change together or
    /// none does. Answers the new outline. Requires scope `courses:write`.
    #[oai(
        path = "/courses/:course_id/module-order",
        method = "put",
        operation_id = "reorderCourseModules"
    )]
    async fn reorder_modules(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        course_id: Path<Uuid>,
        body: Json<ModuleOrder>,
    ) -> Result<OutlineFound, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let outline = service::reorder_modules(&scope, course_id.0, &body.0.module_ids).await?;
        scope.commit().await?;
        Ok(OutlineFound::Ok(Json(outline.into())))
    }

    /// Get a module
    ///
    /// Requires scope `courses:read`. The `ETag` is the revision to send back in `If-Match`.
    #[oai(
        path = "/modules/:module_id",
        method = "get",
        operation_id = "getCourseModule"
    )]
    async fn get_module(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        module_id: Path<Uuid>,
    ) -> Result<ModuleFound, ApiError> {
        let id = module_id.0;
        let tenancy = &state.tenancy;
        let module = state
            .tenancy
            .read(&auth.0, move |scope| async move {
                service::get_module(tenancy, &scope, id).await
            })
            .await?;
        let tag = etag(module.revision);
        Ok(ModuleFound::Ok(Json(module.into()), tag))
    }

    /// Update a module
    ///
    /// Changes the given fields. Requires scope `courses:write` and `If-Match` with the
    /// `ETag` last read (428 without it, 412 when it no longer matches).
    #[oai(
        path = "/modules/:module_id",
        method = "patch",
        operation_id = "updateCourseModule"
    )]
    async fn update_module(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        module_id: Path<Uuid>,
        /// The `ETag` of the revision this change is based on.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        body: Json<ModuleUpdate>,
    ) -> Result<ModuleFound, ApiError> {
        let expected = require_if_match(if_match.0.as_deref())?;
        let patch = ModulePatch {
            title: body.0.title,
            description: body.0.description,
        };
        let scope = state.tenancy.scope(&auth.0).await?;
        let module = service::update_module(&scope, module_id.0, patch, expected).await?;
        scope.commit().await?;
        let tag = etag(module.revision);
        Ok(ModuleFound::Ok(Json(module.into()), tag))
    }

    /// Delete a module
    ///
    /// Deletes the module with its lessons; the modules after it move up one place.
    /// Requires scope `courses:write`. With `If-Match`, deletes only that revision.
    #[oai(
        path = "/modules/:module_id",
        method = "delete",
        operation_id = "deleteCourseModule"
    )]
    async fn delete_module(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        module_id: Path<Uuid>,
        /// Optional: the `ETag` of the revision to delete.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
    ) -> Result<StructureDeleted, ApiError> {
        let expected = parse_if_match(if_match.0.as_deref())?;
        let scope = state.tenancy.scope(&auth.0).await?;
        service::delete_module(&scope, module_id.0, expected).await?;
        scope.commit().await?;
        Ok(StructureDeleted::NoContent)
    }

    /// Add a lesson to a module
    ///
    /// Places it after the module's last lesson. Requires scope `courses:write`. An
    /// `activity_id` another lesson of the institution has is a 409.
    #[oai(
        path = "/modules/:module_id/lessons",
        method = "post",
        operation_id = "createLesson"
    )]
    async fn create_lesson(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        module_id: Path<Uuid>,
        body: Json<LessonCreate>,
    ) -> Result<LessonCreated, ApiError> {
        let input = NewLesson {
            title: body.0.title,
            description: body.0.description,
            activity_id: body.0.activity_id,
            required: body.0.required,
        };
        let scope = state.tenancy.scope(&auth.0).await?;
        let lesson = service::create_lesson(&scope, module_id.0, input).await?;
        scope.commit().await?;
        let location = format!("/v1/lessons/{}", lesson.id);
        let tag = etag(lesson.revision);
        Ok(LessonCreated::Created(Json(lesson.into()), location, tag))
    }

    /// Put a module's lessons in a new order
    ///
    /// Lists every lesson of the module exactly once; all positions change together or
    /// none does. Requires scope `courses:write`.
    #[oai(
        path = "/modules/:module_id/lesson-order",
        method = "put",
        operation_id = "reorderLessons"
    )]
    async fn reorder_lessons(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        module_id: Path<Uuid>,
        body: Json<LessonOrder>,
    ) -> Result<LessonsOrdered, ApiError> {
        let scope = state.tenancy.scope(&auth.0).await?;
        let lessons = service::reorder_lessons(&scope, module_id.0, &body.0.lesson_ids).await?;
        scope.commit().await?;
        Ok(LessonsOrdered::Ok(Json(LessonList {
            items: lessons.into_iter().map(Into::into).collect(),
        })))
    }

    /// Get a lesson
    ///
    /// Requires scope `courses:read`. The `ETag` is the revision to send back in `If-Match`.
    #[oai(
        path = "/lessons/:lesson_id",
        method = "get",
        operation_id = "getLesson"
    )]
    async fn get_lesson(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        lesson_id: Path<Uuid>,
    ) -> Result<LessonFound, ApiError> {
        let id = lesson_id.0;
        let tenancy = &state.tenancy;
        let lesson = state
            .tenancy
            .read(&auth.0, move |scope| async move {
                service::get_lesson(tenancy, &scope, id).await
            })
            .await?;
        let tag = etag(lesson.revision);
        Ok(LessonFound::Ok(Json(lesson.into()), tag))
    }

    /// Update a lesson
    ///
    /// Changes the given fields. Requires scope `courses:write` and `If-Match` with the
    /// `ETag` last read (428 without it, 412 when it no longer matches). An `activity_id`
    /// another lesson has is a 409.
    #[oai(
        path = "/lessons/:lesson_id",
        method = "patch",
        operation_id = "updateLesson"
    )]
    async fn update_lesson(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        lesson_id: Path<Uuid>,
        /// The `ETag` of the revision this change is based on.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        body: Json<LessonUpdate>,
    ) -> Result<LessonFound, ApiError> {
        let expected = require_if_match(if_match.0.as_deref())?;
        let input = body.0;
        let patch = LessonPatch {
            title: input.title,
            description: input.description,
            activity_id: match input.activity_id {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(id) => Some(Some(id)),
            },
            required: input.required,
        };
        let scope = state.tenancy.scope(&auth.0).await?;
        let lesson = service::update_lesson(&scope, lesson_id.0, patch, expected).await?;
        scope.commit().await?;
        let tag = etag(lesson.revision);
        Ok(LessonFound::Ok(Json(lesson.into()), tag))
    }

    /// Delete a lesson
    ///
    /// The lessons after it move up one place. Requires scope `courses:write`. With
    /// `If-Match`, deletes only that revision.
    #[oai(
        path = "/lessons/:lesson_id",
        method = "delete",
        operation_id = "deleteLesson"
    )]
    async fn delete_lesson(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        lesson_id: Path<Uuid>,
        /// Optional: the `ETag` of the revision to delete.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
    ) -> Result<StructureDeleted, ApiError> {
        let expected = parse_if_match(if_match.0.as_deref())?;
        let scope = state.tenancy.scope(&auth.0).await?;
        service::delete_lesson(&scope, lesson_id.0, expected).await?;
        scope.commit().await?;
        Ok(StructureDeleted::NoContent)
    }

    /// Get a course's completion rule
    ///
    /// Until one is set, the default: the required lessons, no quiz (revision 0). Requires
    /// scope `courses:read`.
    #[oai(
        path = "/courses/:course_id/completion-rule",
        method = "get",
        operation_id = "getCompletionRule"
    )]
    async fn get_rule(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        course_id: Path<Uuid>,
    ) -> Result<RuleFound, ApiError> {
        let id = course_id.0;
        let tenancy = &state.tenancy;
        let rule = state
            .tenancy
            .read(&auth.0, move |scope| async move {
                service::completion_rule(tenancy, &scope, id).await
            })
            .await?;
        let tag = etag(rule.revision);
        Ok(RuleFound::Ok(Json(rule.into()), tag))
    }

    /// Set a course's completion rule
    ///
    /// Replaces the rule. Every quiz it names must be one of the course's own (422 naming
    /// the entry). Requires scope `courses:write` and `If-Match` with the `ETag` last read
    /// (`"0"` for the default rule; 428 without it, 412 when it no longer matches).
    #[oai(
        path = "/courses/:course_id/completion-rule",
        method = "put",
        operation_id = "setCompletionRule"
    )]
    async fn set_rule(
        &self,
        state: Data<&Arc<AppState>>,
        auth: TenantCredential,
        course_id: Path<Uuid>,
        /// The `ETag` of the rule this one replaces.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        body: Json<CompletionRuleSet>,
    ) -> Result<RuleFound, ApiError> {
        let expected = require_if_match(if_match.0.as_deref())?;
        let input = CompletionRuleInput {
            required_lessons: body.0.required_lessons.into(),
            passing_quizzes: body.0.passing_quizzes,
        };
        let scope = state.tenancy.scope(&auth.0).await?;
        let rule = service::set_completion_rule(&scope, course_id.0, input, expected).await?;
        scope.commit().await?;
        let tag = etag(rule.revision);
        Ok(RuleFound::Ok(Json(rule.into()), tag))
    }
}
