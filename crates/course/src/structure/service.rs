//! Structure operations. Each runs inside the caller's [`TenantScope`]; the caller commits,
//! so a reorder (every position rewritten) is one transaction: all of it or none.
//!
//! Positions stay dense (0, 1, 2, … within a course's modules and a module's lessons): a new
//! item goes last, a deleted one closes its gap, a reorder lists every item. Writes that
//! place items first lock the parent row (a no-op `UPDATE` of a column no key covers, portable to both
//! backends), so
//! two concurrent creates cannot take the same position.

use super::entity::{lesson, module, rule};
use super::model::{
    CompletionRule, CompletionRuleInput, Lesson, LessonPatch, MAX_LESSONS, MAX_MODULES, Module,
    ModuleOutline, ModulePatch, NewLesson, NewModule, Outline, QuizEntry, RequiredLessons,
    check_order,
};
use crate::CourseError;
use chrono::Utc;
use hub_kernel::problem::Violations;
use hub_tenant::{Scope, Tenancy, TenantScope};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, ExprTrait, PaginatorTrait, QueryFilter, QueryOrder,
    SqlErr,
};
use uuid::Uuid;

fn module_from_row(row: module::Model) -> Module {
    Module {
        id: row.id,
        course_id: row.course_id,
        position: row.position,
        title: row.title,
        description: row.description,
        revision: row.revision,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

fn lesson_from_row(row: lesson::Model) -> Lesson {
    Lesson {
        id: row.id,
        module_id: row.module_id,
        course_id: row.course_id,
        position: row.position,
        title: row.title,
        description: row.description,
        activity_id: row.activity_id,
        required: row.required,
        revision: row.revision,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

fn activity_taken(error: sea_orm::DbErr, activity_id: Option<&str>) -> CourseError {
    match (error.sql_err(), activity_id) {
        (Some(SqlErr::UniqueConstraintViolation(_)), Some(id)) => {
            CourseError::ActivityIdTaken(id.to_string())
        }
        _ => CourseError::Database(error),
    }
}

/// Locks the course's row for the rest of the unit of work; `NotFound` when there is none.
pub(crate) async fn lock_course(scope: &TenantScope, course_id: Uuid) -> Result<(), CourseError> {
    use crate::catalog::entity as course;
    let locked = course::Entity::update_many()
        .col_expr(
            course::Column::Revision,
            Expr::col(course::Column::Revision),
        )
        .filter(course::Column::Id.eq(course_id))
        .exec(scope.db())
        .await?;
    if locked.rows_affected == 0 {
        return Err(CourseError::NotFound);
    }
    Ok(())
}

/// Locks the module's row; `ModuleNotFound` when there is none.
async fn lock_module(scope: &TenantScope, module_id: Uuid) -> Result<Module, CourseError> {
    let locked = module::Entity::update_many()
        .col_expr(
            module::Column::Revision,
            Expr::col(module::Column::Revision),
        )
        .filter(module::Column::Id.eq(module_id))
        .exec(scope.db())
        .await?;
    if locked.rows_affected == 0 {
        return Err(CourseError::ModuleNotFound);
    }
    find_module(scope, module_id).await
}

async fn find_module(scope: &TenantScope, id: Uuid) -> Result<Module, CourseError> {
    module::Entity::find_by_id(id)
        .one(scope.db())
        .await?
        .map(module_from_row)
        .ok_or(CourseError::ModuleNotFound)
}

async fn find_lesson(scope: &TenantScope, id: Uuid) -> Result<Lesson, CourseError> {
    lesson::Entity::find_by_id(id)
        .one(scope.db())
        .await?
        .map(lesson_from_row)
        .ok_or(CourseError::LessonNotFound)
}

async fn modules_of(scope: &TenantScope, course_id: Uuid) -> Result<Vec<Module>, CourseError> {
    Ok(module::Entity::find()
        .filter(module::Column::CourseId.eq(course_id))
        .order_by_asc(module::Column::Position)
        .order_by_asc(module::Column::Id)
        .all(scope.db())
        .await?
        .into_iter()
        .map(module_from_row)
        .collect())
}

async fn lessons_of(scope: &TenantScope, module_id: Uuid) -> Result<Vec<Lesson>, CourseError> {
    Ok(lesson::Entity::find()
        .filter(lesson::Column::ModuleId.eq(module_id))
        .order_by_asc(lesson::Column::Position)
        .order_by_asc(lesson::Column::Id)
        .all(scope.db())
        .await?
        .into_iter()
        .map(lesson_from_row)
        .collect())
}

/// The course's modules with their lessons, in order, and its quizzes (a course hidden
/// from the caller, A1, is `NotFound`).
pub async fn outline(
    tenancy: &Tenancy,
    scope: &TenantScope,
    course_id: Uuid,
) -> Result<Outline, CourseError> {
    scope.require(Scope::CoursesRead)?;
    crate::catalog::service::course_for(tenancy, scope, course_id).await?;
    outline_of(scope, course_id).await
}

/// The outline of a course already known to exist (and be the caller's to see).
pub(crate) async fn outline_of(
    scope: &TenantScope,
    course_id: Uuid,
) -> Result<Outline, CourseError> {
    let modules = modules_of(scope, course_id).await?;
    let mut lessons: Vec<Lesson> = lesson::Entity::find()
        .filter(lesson::Column::CourseId.eq(course_id))
        .order_by_asc(lesson::Column::Position)
        .order_by_asc(lesson::Column::Id)
        .all(scope.db())
        .await?
        .into_iter()
        .map(lesson_from_row)
        .collect();
    let modules = modules
        .into_iter()
        .map(|module| {
            let (own, rest): (Vec<Lesson>, Vec<Lesson>) =
                lessons.drain(..).partition(|l| l.module_id == module.id);
            lessons = rest;
            ModuleOutline {
                module,
                lessons: own,
            }
        })
        .collect();
    let quizzes = crate::quiz::service::entries_of(scope, course_id)
        .await?
        .into_iter()
        .map(|(id, title)| QuizEntry { id, title })
        .collect();
    Ok(Outline {
        course_id,
        modules,
        quizzes,
    })
}

/// Adds a module at the end of the course.
pub async fn create_module(
    scope: &TenantScope,
    course_id: Uuid,
    input: NewModule,
) -> Result<Module, CourseError> {
    scope.require(Scope::CoursesWrite)?;
    input.validate()?;
    lock_course(scope, course_id).await?;
    let count = module::Entity::find()
        .filter(module::Column::CourseId.eq(course_id))
        .count(scope.db())
        .await?;
    if count as usize >= MAX_MODULES {
        return Err(CourseError::Invalid(vec![hub_kernel::FieldViolation::new(
            "course_id",
            format!("a course has at most {MAX_MODULES} modules"),
        )]));
    }
    let id = Uuid::now_v7();
    let now = Utc::now();
    module::Entity::insert(module::ActiveModel {
        id: Set(id),
        course_id: Set(course_id),
        position: Set(count as i32),
        title: Set(input.title.trim().to_string()),
        description: Set(input.description),
        revision: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .exec_without_returning(scope.db())
    .await?;
    find_module(scope, id).await
}

/// A module; one of a course hidden from the caller (A1) answers like an unknown one.
pub async fn get_module(
    tenancy: &Tenancy,
    scope: &TenantScope,
    id: Uuid,
) -> Result<Module, CourseError> {
    scope.require(Scope::CoursesRead)?;
    let found = find_module(scope, id).await?;
    seen_as(tenancy, scope, found.course_id, CourseError::ModuleNotFound).await?;
    Ok(found)
}

/// The course decision (A1) for an item of the course: hidden answers `unknown`, the
/// item's own not-found error, so nothing tells the caller the item exists.
pub(crate) async fn seen_as(
    tenancy: &Tenancy,
    scope: &TenantScope,
    course_id: Uuid,
    unknown: CourseError,
) -> Result<(), CourseError> {
    match crate::catalog::service::course_for(tenancy, scope, course_id).await {
        Ok(_) => Ok(()),
        Err(CourseError::NotFound) => Err(unknown),
        Err(other) => Err(other),
    }
}

fn check_revision(current: i32, expected: Option<i32>) -> Result<(), CourseError> {
    match expected {
        Some(expected) if expected != current => Err(CourseError::RevisionMismatch { current }),
        _ => Ok(()),
    }
}

/// Applies a patch when `expected_revision` (from `If-Match`) still holds.
pub async fn update_module(
    scope: &TenantScope,
    id: Uuid,
    patch: ModulePatch,
    expected_revision: Option<i32>,
) -> Result<Module, CourseError> {
    scope.require(Scope::CoursesWrite)?;
    patch.validate()?;
    let current = find_module(scope, id).await?;
    check_revision(current.revision, expected_revision)?;
    let changes = module::ActiveModel {
        title: Set(patch
            .title
            .map(|t| t.trim().to_string())
            .unwrap_or(current.title)),
        description: Set(patch.description.unwrap_or(current.description)),
        revision: Set(current.revision + 1),
        updated_at: Set(Utc::now()),
        ..Default::default()
    };
    let result = module::Entity::update_many()
        .set(changes)
        .filter(module::Column::Id.eq(id))
        .filter(module::Column::Revision.eq(current.revision))
        .exec(scope.db())
        .await?;
    if result.rows_affected == 0 {
        return Err(CourseError::RevisionMismatch {
            current: current.revision + 1,
        });
    }
    find_module(scope, id).await
}

/// Deletes a module with its lessons; the modules after it move up one place.
pub async fn delete_module(
    scope: &TenantScope,
    id: Uuid,
    expected_revision: Option<i32>,
) -> Result<(), CourseError> {
    scope.require(Scope::CoursesWrite)?;
    let current = find_module(scope, id).await?;
    lock_course(scope, current.course_id).await?;
    check_revision(current.revision, expected_revision)?;
    lesson::Entity::delete_many()
        .filter(lesson::Column::ModuleId.eq(id))
        .exec(scope.db())
        .await?;
    module::Entity::delete_by_id(id).exec(scope.db()).await?;
    module::Entity::update_many()
        .col_expr(
            module::Column::Position,
            Expr::col(module::Column::Position).sub(1),
        )
        .filter(module::Column::CourseId.eq(current.course_id))
        .filter(module::Column::Position.gt(current.position))
        .exec(scope.db())
        .await?;
    Ok(())
}

/// Puts the course's modules in the order given (every module exactly once).
pub async fn reorder_modules(
    scope: &TenantScope,
    course_id: Uuid,
    module_ids: &[String],
) -> Result<Outline, CourseError> {
    scope.require(Scope::CoursesWrite)?;
    lock_course(scope, course_id).await?;
    let current: Vec<Uuid> = modules_of(scope, course_id)
        .await?
        .iter()
        .map(|m| m.id)
        .collect();
    let order = check_order("module_ids", module_ids, &current)?;
    for (position, id) in order.iter().enumerate() {
        module::Entity::update_many()
            .col_expr(module::Column::Position, Expr::value(position as i32))
            .filter(module::Column::Id.eq(*id))
            .exec(scope.db())
            .await?;
    }
    outline_of(scope, course_id).await
}

/// Adds a lesson at the end of the module.
pub async fn create_lesson(
    scope: &TenantScope,
    module_id: Uuid,
    input: NewLesson,
) -> Result<Lesson, CourseError> {
    scope.require(Scope::CoursesWrite)?;
    input.validate()?;
    let parent = lock_module(scope, module_id).await?;
    let count = lesson::Entity::find()
        .filter(lesson::Column::ModuleId.eq(module_id))
        .count(scope.db())
        .await?;
    if count as usize >= MAX_LESSONS {
        return Err(CourseError::Invalid(vec![hub_kernel::FieldViolation::new(
            "module_id",
            format!("a module has at most {MAX_LESSONS} lessons"),
        )]));
    }
    if let Some(activity_id) = &input.activity_id {
        ensure_activity_free(scope, activity_id, None).await?;
    }
    let id = Uuid::now_v7();
    let now = Utc::now();
    lesson::Entity::insert(lesson::ActiveModel {
        id: Set(id),
        module_id: Set(module_id),
        course_id: Set(parent.course_id),
        position: Set(count as i32),
        title: Set(input.title.trim().to_string()),
        description: Set(input.description),
        activity_id: Set(input.activity_id.clone()),
        required: Set(input.required),
        revision: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .exec_without_returning(scope.db())
    .await
    .map_err(|e| activity_taken(e, input.activity_id.as_deref()))?;
    find_lesson(scope, id).await
}

async fn ensure_activity_free(
    scope: &TenantScope,
    activity_id: &str,
    except: Option<Uuid>,
) -> Result<(), CourseError> {
    let mut query = lesson::Entity::find().filter(lesson::Column::ActivityId.eq(activity_id));
    if let Some(except) = except {
        query = query.filter(lesson::Column::Id.ne(except));
    }
    if query.one(scope.db()).await?.is_some() {
        return Err(CourseError::ActivityIdTaken(activity_id.to_string()));
    }
    Ok(())
}

/// A lesson; one of a course hidden from the caller (A1) answers like an unknown one.
pub async fn get_lesson(
    tenancy: &Tenancy,
    scope: &TenantScope,
    id: Uuid,
) -> Result<Lesson, CourseError> {
    scope.require(Scope::CoursesRead)?;
    let found = find_lesson(scope, id).await?;
    seen_as(tenancy, scope, found.course_id, CourseError::LessonNotFound).await?;
    Ok(found)
}

/// The lesson whose xAPI activity is `activity_id`, if any (statements find their lesson so).
pub async fn lesson_by_activity(
    scope: &TenantScope,
    activity_id: &str,
) -> Result<Option<Lesson>, CourseError> {
    scope.require(Scope::CoursesRead)?;
    Ok(lesson::Entity::find()
        .filter(lesson::Column::ActivityId.eq(activity_id))
        .one(scope.db())
        .await?
        .map(lesson_from_row))
}

/// Applies a patch when `expected_revision` (from `If-Match`) still holds.
pub async fn update_lesson(
    scope: &TenantScope,
    id: Uuid,
    patch: LessonPatch,
    expected_revision: Option<i32>,
) -> Result<Lesson, CourseError> {
    scope.require(Scope::CoursesWrite)?;
    patch.validate()?;
    let current = find_lesson(scope, id).await?;
    check_revision(current.revision, expected_revision)?;
    let activity_id = patch.activity_id.unwrap_or(current.activity_id);
    if let Some(activity) = &activity_id {
        ensure_activity_free(scope, activity, Some(id)).await?;
    }
    let changes = lesson::ActiveModel {
        title: Set(patch
            .title
            .map(|t| t.trim().to_string())
            .unwrap_or(current.title)),
        description: Set(patch.description.unwrap_or(current.description)),
        activity_id: Set(activity_id.clone()),
        required: Set(patch.required.unwrap_or(current.required)),
        revision: Set(current.revision + 1),
        updated_at: Set(Utc::now()),
        ..Default::default()
    };
    let result = lesson::Entity::update_many()
        .set(changes)
        .filter(lesson::Column::Id.eq(id))
        .filter(lesson::Column::Revision.eq(current.revision))
        .exec(scope.db())
        .await
        .map_err(|e| activity_taken(e, activity_id.as_deref()))?;
    if result.rows_affected == 0 {
        return Err(CourseError::RevisionMismatch {
            current: current.revision + 1,
        });
    }
    find_lesson(scope, id).await
}

/// Deletes a lesson; the lessons after it move up one place.
pub async fn delete_lesson(
    scope: &TenantScope,
    id: Uuid,
    expected_revision: Option<i32>,
) -> Result<(), CourseError> {
    scope.require(Scope::CoursesWrite)?;
    let current = find_lesson(scope, id).await?;
    lock_module(scope, current.module_id).await?;
    check_revision(current.revision, expected_revision)?;
    lesson::Entity::delete_by_id(id).exec(scope.db()).await?;
    lesson::Entity::update_many()
        .col_expr(
            lesson::Column::Position,
            Expr::col(lesson::Column::Position).sub(1),
        )
        .filter(lesson::Column::ModuleId.eq(current.module_id))
        .filter(lesson::Column::Position.gt(current.position))
        .exec(scope.db())
        .await?;
    Ok(())
}

/// Puts the module's lessons in the order given (every lesson exactly once).
pub async fn reorder_lessons(
    scope: &TenantScope,
    module_id: Uuid,
    lesson_ids: &[String],
) -> Result<Vec<Lesson>, CourseError> {
    scope.require(Scope::CoursesWrite)?;
    lock_module(scope, module_id).await?;
    let current: Vec<Uuid> = lessons_of(scope, module_id)
        .await?
        .iter()
        .map(|l| l.id)
        .collect();
    let order = check_order("lesson_ids", lesson_ids, &current)?;
    for (position, id) in order.iter().enumerate() {
        lesson::Entity::update_many()
            .col_expr(lesson::Column::Position, Expr::value(position as i32))
            .filter(lesson::Column::Id.eq(*id))
            .exec(scope.db())
            .await?;
    }
    lessons_of(scope, module_id).await
}

fn rule_from_row(row: rule::Model) -> CompletionRule {
    CompletionRule {
        course_id: row.course_id,
        // Only validated values are ever written.
        required_lessons: RequiredLessons::parse(&row.required_lessons)
            .unwrap_or(RequiredLessons::AllRequired),
        passing_quizzes: serde_json::from_str(&row.passing_quizzes).unwrap_or_default(),
        revision: row.revision,
        updated_at: Some(row.updated_at),
    }
}

async fn find_rule(scope: &TenantScope, course_id: Uuid) -> Result<CompletionRule, CourseError> {
    Ok(rule::Entity::find_by_id(course_id)
        .one(scope.db())
        .await?
        .map(rule_from_row)
        .unwrap_or_else(|| CompletionRule::default_for(course_id)))
}

/// The course's completion rule (the default one, revision 0, until one is set).
pub async fn completion_rule(
    tenancy: &Tenancy,
    scope: &TenantScope,
    course_id: Uuid,
) -> Result<CompletionRule, CourseError> {
    scope.require(Scope::CoursesRead)?;
    crate::catalog::service::course_for(tenancy, scope, course_id).await?;
    find_rule(scope, course_id).await
}

/// Whether some course's completion rule names the quiz (which may then not be deleted).
pub(crate) async fn rule_names_quiz(
    scope: &TenantScope,
    course_id: Uuid,
    quiz_id: Uuid,
) -> Result<bool, CourseError> {
    Ok(find_rule(scope, course_id)
        .await?
        .passing_quizzes
        .contains(&quiz_id))
}

/// Replaces the course's completion rule when `expected_revision` (from `If-Match`) holds.
/// Every quiz it names must be one of the course's own.
pub async fn set_completion_rule(
    scope: &TenantScope,
    course_id: Uuid,
    input: CompletionRuleInput,
    expected_revision: Option<i32>,
) -> Result<CompletionRule, CourseError> {
    scope.require(Scope::CoursesWrite)?;
    lock_course(scope, course_id).await?;
    let own: Vec<Uuid> = crate::quiz::service::entries_of(scope, course_id)
        .await?
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let mut v = Violations::new();
    let mut quizzes = Vec::new();
    // A longer list than a course can have quizzes must repeat one or name a stranger: say
    // so once rather than per entry.
    let most = crate::quiz::service::MAX_QUIZZES;
    if input.passing_quizzes.len() > most {
        v.add(
            "passing_quizzes",
            format!("a course has at most {most} quizzes; each may be named once"),
        );
    } else {
        for (i, text) in input.passing_quizzes.iter().enumerate() {
            let field = format!("passing_quizzes[{i}]");
            match Uuid::parse_str(text) {
                Ok(id) if !own.contains(&id) => v.add(field, "not a quiz of this course"),
                Ok(id) if quizzes.contains(&id) => v.add(field, "listed twice"),
                Ok(id) => quizzes.push(id),
                Err(_) => v.add(field, "not a quiz id"),
            }
        }
    }
    v.finish().map_err(CourseError::Invalid)?;
    let current = find_rule(scope, course_id).await?;
    check_revision(current.revision, expected_revision)?;
    let row = rule::ActiveModel {
        course_id: Set(course_id),
        required_lessons: Set(input.required_lessons.as_str().to_string()),
        passing_quizzes: Set(serde_json::to_string(&quizzes).unwrap_or_else(|_| "[]".into())),
        revision: Set(current.revision + 1),
        updated_at: Set(Utc::now()),
    };
    if current.revision == 0 {
        rule::Entity::insert(row)
            .exec_without_returning(scope.db())
            .await?;
    } else {
        rule::Entity::update_many()
            .set(row)
            .filter(rule::Column::CourseId.eq(course_id))
            .filter(rule::Column::Revision.eq(current.revision))
            .exec(scope.db())
            .await?;
    }
    find_rule(scope, course_id).await
}
