//! A course's outline as the domain sees it (modules, their lessons, in order), the rule
//! that says when a learner has completed the course, and the validation every write goes
//! through.

use chrono::{DateTime, Utc};
use hub_kernel::problem::Violations;
use std::sync::OnceLock;
use uuid::Uuid;

use crate::CourseError;
use crate::text::check_text;

// The limits every write is validated against; the gateway declares them in the OpenAPI
// document from these constants (hub_gateway::spec).
pub const MAX_TITLE: usize = 200;
pub const MAX_DESCRIPTION: usize = 10_000;
/// Modules per course and lessons per module.
pub const MAX_MODULES: usize = 200;
pub const MAX_LESSONS: usize = 500;
/// An activity id is at most this many characters (at most 2,000 bytes, which every
/// backend's unique index takes).
pub const MAX_ACTIVITY_ID: usize = 500;
/// What [`is_activity_id`] accepts besides the length, as a regex (ECMAScript and the
/// `regex` crate read it alike): an absolute IRI (RFC 3987 §2.2): a scheme, `:`, then no
/// white space, control character or `<>"{}|\^`` and every `%` an escape of two hex digits.
pub const ACTIVITY_ID_PATTERN: &str = "^[A-Za-z][A-Za-z0-9+.-]*:(?:[^\\u0000-\\u0020\\u007F-\\u009F\\s<>\"{}|\\\\^`%]|%[0-9A-Fa-f]{2})+$";

/// Whether `text` is an absolute IRI as [`ACTIVITY_ID_PATTERN`] says, of at most
/// [`MAX_ACTIVITY_ID`] characters.
pub fn is_activity_id(text: &str) -> bool {
    static PATTERN: OnceLock<Option<regex::Regex>> = OnceLock::new();
    text.chars().count() <= MAX_ACTIVITY_ID
        && PATTERN
            .get_or_init(|| regex::Regex::new(ACTIVITY_ID_PATTERN).ok())
            .as_ref()
            .is_some_and(|re| re.is_match(text))
}

/// A module of a course: a titled, ordered group of lessons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    pub id: Uuid,
    pub course_id: Uuid,
    /// 0-based and dense within the course: the modules are 0, 1, 2, …
    pub position: i32,
    pub title: String,
    pub description: String,
    pub revision: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A lesson of a module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lesson {
    pub id: Uuid,
    pub module_id: Uuid,
    pub course_id: Uuid,
    /// 0-based and dense within the module.
    pub position: i32,
    pub title: String,
    pub description: String,
    /// The xAPI activity (an absolute IRI) whose statements tell this lesson's progress;
    /// unique in the institution.
    pub activity_id: Option<String>,
    /// Whether completing the course needs this lesson (under
    /// [`RequiredLessons::AllRequired`]).
    pub required: bool,
    pub revision: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A quiz as the outline lists it (the quiz itself: [`crate::quiz`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuizEntry {
    pub id: Uuid,
    pub title: String,
}

/// One module with its lessons in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleOutline {
    pub module: Module,
    pub lessons: Vec<Lesson>,
}

/// A course's whole structure: its modules in order, each with its lessons in order, and
/// its quizzes (which stand beside the modules, oldest first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outline {
    pub course_id: Uuid,
    pub modules: Vec<ModuleOutline>,
    pub quizzes: Vec<QuizEntry>,
}

impl Outline {
    /// Every lesson, in course order (module by module).
    pub fn lessons(&self) -> impl Iterator<Item = &Lesson> {
        self.modules.iter().flat_map(|m| m.lessons.iter())
    }
}

/// Which lessons a learner must complete to complete the course.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequiredLessons {
    /// The lessons marked `required` (the default).
    AllRequired,
    /// Every lesson, whatever its flag.
    All,
    /// None: only the quizzes count.
    NoLessons,
}

impl RequiredLessons {
    pub const NAMES: &'static [&'static str] = &["all_required", "all", "none"];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AllRequired => "all_required",
            Self::All => "all",
            Self::NoLessons => "none",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::AllRequired, Self::All, Self::NoLessons]
            .into_iter()
            .find(|r| r.as_str() == text)
    }
}

/// When a learner has completed a course: the lessons [`RequiredLessons`] names are
/// completed and every quiz of `passing_quizzes` is passed (its kept score at or above its
/// passing score).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletionRule {
    pub course_id: Uuid,
    pub required_lessons: RequiredLessons,
    /// Quizzes of this course, in the order given.
    pub passing_quizzes: Vec<Uuid>,
    /// 0 while the course has the default rule (never set).
    pub revision: i32,
    pub updated_at: Option<DateTime<Utc>>,
}

impl CompletionRule {
    /// A course's rule until one is set: the required lessons, no quiz.
    pub fn default_for(course_id: Uuid) -> Self {
        Self {
            course_id,
            required_lessons: RequiredLessons::AllRequired,
            passing_quizzes: Vec::new(),
            revision: 0,
            updated_at: None,
        }
    }

    /// The lessons of `outline` this rule requires, in course order.
    pub fn lessons_to_complete(&self, outline: &Outline) -> Vec<Uuid> {
        outline
            .lessons()
            .filter(|l| match self.required_lessons {
                RequiredLessons::AllRequired => l.required,
                RequiredLessons::All => true,
                RequiredLessons::NoLessons => false,
            })
            .map(|l| l.id)
            .collect()
    }
}

/// The rule as a caller sets it. Quiz ids arrive as text so a malformed one is named like
/// any other bad entry.
#[derive(Debug, Clone)]
pub struct CompletionRuleInput {
    pub required_lessons: RequiredLessons,
    pub passing_quizzes: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct NewModule {
    pub title: String,
    pub description: String,
}

/// `None` leaves a field unchanged.
#[derive(Debug, Clone, Default)]
pub struct ModulePatch {
    pub title: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewLesson {
    pub title: String,
    pub description: String,
    pub activity_id: Option<String>,
    pub required: bool,
}

/// `None` leaves a field unchanged; `activity_id: Some(None)` removes the reference.
#[derive(Debug, Clone, Default)]
pub struct LessonPatch {
    pub title: Option<String>,
    pub description: Option<String>,
    pub activity_id: Option<Option<String>>,
    pub required: Option<bool>,
}

fn check_activity_id(v: &mut Violations, activity_id: &str) {
    v.check(
        is_activity_id(activity_id),
        "activity_id",
        "an absolute IRI of at most 500 characters (a scheme, ':', no spaces; '%' starts a two-digit escape)",
    );
}

impl NewModule {
    pub(crate) fn validate(&self) -> Result<(), CourseError> {
        let mut v = Violations::new();
        check_text(&mut v, "title", &self.title, MAX_TITLE, true);
        check_text(
            &mut v,
            "description",
            &self.description,
            MAX_DESCRIPTION,
            false,
        );
        v.finish().map_err(CourseError::Invalid)
    }
}

impl ModulePatch {
    pub(crate) fn validate(&self) -> Result<(), CourseError> {
        let mut v = Violations::new();
        if let Some(title) = &self.title {
            check_text(&mut v, "title", title, MAX_TITLE, true);
        }
        if let Some(description) = &self.description {
            check_text(&mut v, "description", description, MAX_DESCRIPTION, false);
        }
        v.finish().map_err(CourseError::Invalid)
    }
}

impl NewLesson {
    pub(crate) fn validate(&self) -> Result<(), CourseError> {
        let mut v = Violations::new();
        check_text(&mut v, "title", &self.title, MAX_TITLE, true);
        check_text(
            &mut v,
            "description",
            &self.description,
            MAX_DESCRIPTION,
            false,
        );
        if let Some(activity_id) = &self.activity_id {
            check_activity_id(&mut v, activity_id);
        }
        v.finish().map_err(CourseError::Invalid)
    }
}

impl LessonPatch {
    pub(crate) fn validate(&self) -> Result<(), CourseError> {
        let mut v = Violations::new();
        if let Some(title) = &self.title {
            check_text(&mut v, "title", title, MAX_TITLE, true);
        }
        if let Some(description) = &self.description {
            check_text(&mut v, "description", description, MAX_DESCRIPTION, false);
        }
        if let Some(Some(activity_id)) = &self.activity_id {
            check_activity_id(&mut v, activity_id);
        }
        v.finish().map_err(CourseError::Invalid)
    }
}

/// Checks that `ids` (a new order, as text) is exactly a permutation of `current`: every id
/// once, none missing, none foreign. The error names `field` or one of its entries.
pub(crate) fn check_order(
    field: &str,
    ids: &[String],
    current: &[Uuid],
) -> Result<Vec<Uuid>, CourseError> {
    let mut v = Violations::new();
    let mut order = Vec::with_capacity(ids.len());
    for (i, text) in ids.iter().enumerate() {
        match Uuid::parse_str(text) {
            Ok(id) if !current.contains(&id) => v.add(
                format!("{field}[{i}]"),
                "not one of the items being ordered",
            ),
            Ok(id) if order.contains(&id) => v.add(format!("{field}[{i}]"), "listed twice"),
            Ok(id) => order.push(id),
            Err(_) => v.add(format!("{field}[{i}]"), "not an id"),
        }
    }
    if v.is_empty() && order.len() != current.len() {
        v.add(
            field,
            format!(
                "must list each of the {} items exactly once (it lists {})",
                current.len(),
                order.len()
            ),
        );
    }
    v.finish().map_err(CourseError::Invalid)?;
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activity_ids_are_absolute_iris() {
        for good in [
            "https://example.org/courses/cs-101/lesson-1",
            "urn:uuid:0189ec4a-1111-7000-8000-000000000000",
            "http://example.org/a%20b",
            "https://例え.jp/レッスン",
            "tag:example.org,2026:lesson/1",
        ] {
            assert!(is_activity_id(good), "{good}");
        }
        let long = format!("https://example.org/{}", "a".repeat(MAX_ACTIVITY_ID));
        for bad in [
            "",
            "lesson-1",
            "/relative/path",
            "1http://example.org",
            "https://example.org/a b",
            "https://example.org/%zz",
            "https://example.org/<x>",
            "https:",
            "https://example.org/\u{7}",
            long.as_str(),
        ] {
            assert!(!is_activity_id(bad), "{bad:?}");
        }
        let at_limit = format!("https://{}", "a".repeat(MAX_ACTIVITY_ID - 8));
        assert!(is_activity_id(&at_limit));
    }

    #[test]
    fn an_order_is_a_permutation() {
        let a = Uuid::now_v7();
        let b = Uuid::now_v7();
        let text = |ids: &[Uuid]| ids.iter().map(Uuid::to_string).collect::<Vec<_>>();
        assert_eq!(check_order("ids", &text(&[b, a]), &[a, b]).unwrap(), [b, a]);
        let fields = |r: Result<Vec<Uuid>, CourseError>| match r {
            Err(CourseError::Invalid(v)) => v.into_iter().map(|f| f.field).collect::<Vec<_>>(),
            other => panic!("{other:?}"),
        };
        assert_eq!(fields(check_order("ids", &text(&[a]), &[a, b])), ["ids"]);
        assert_eq!(
            fields(check_order("ids", &text(&[a, a]), &[a, b])),
            ["ids[1]"]
        );
        let stranger = Uuid::now_v7();
        assert_eq!(
            fields(check_order("ids", &text(&[a, stranger]), &[a, b])),
            ["ids[1]"]
        );
        assert_eq!(
            fields(check_order("ids", &["nope".into(), b.to_string()], &[a, b])),
            ["ids[0]"]
        );
    }

    #[test]
    fn the_rule_picks_lessons_in_course_order() {
        let course_id = Uuid::now_v7();
        let now = Utc::now();
        let lesson = |position, required| Lesson {
            id: Uuid::now_v7(),
            module_id: Uuid::nil(),
            course_id,
            position,
            title: "L".into(),
            description: String::new(),
            activity_id: None,
            required,
            revision: 1,
            created_at: now,
            updated_at: now,
        };
        let module = Module {
            id: Uuid::nil(),
            course_id,
            position: 0,
            title: "M".into(),
            description: String::new(),
            revision: 1,
            created_at: now,
            updated_at: now,
        };
        let lessons = vec![lesson(0, true), lesson(1, false), lesson(2, true)];
        let outline = Outline {
            course_id,
            modules: vec![ModuleOutline {
                module,
                lessons: lessons.clone(),
            }],
            quizzes: Vec::new(),
        };
        let mut rule = CompletionRule::default_for(course_id);
        assert_eq!(
            rule.lessons_to_complete(&outline),
            [lessons[0].id, lessons[2].id]
        );
        rule.required_lessons = RequiredLessons::All;
        assert_eq!(rule.lessons_to_complete(&outline).len(), 3);
        rule.required_lessons = RequiredLessons::NoLessons;
        assert!(rule.lessons_to_complete(&outline).is_empty());
    }
}
