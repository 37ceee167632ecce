//! Courses as the domain sees them, and the validation every write goes through.

use chrono::{DateTime, Utc};
use hub_kernel::problem::Violations;
use serde::Serialize;
use uuid::Uuid;

use crate::CourseError;

// The limits every write is validated against. The gateway declares them in the OpenAPI
// document from these constants (hub_gateway::spec), so the two cannot drift apart.
pub const MAX_CODE: usize = 40;
/// A code: letters, digits, `-`, `_`, `.` (what [`check_code`] accepts, as a regex).
pub const CODE_PATTERN: &str = "^[A-Za-z0-9._-]+$";
pub const MAX_TITLE: usize = 200;
pub const MAX_TAGS: usize = 20;
pub const MAX_TAG: usize = 40;
/// A tag: lower-case letters, digits and `-` (what [`is_valid_tag`] accepts, as a regex).
pub const TAG_PATTERN: &str = "^[a-z0-9-]+$";
pub const MAX_DESCRIPTION: usize = 10_000;
pub const MIN_AGE: i32 = 0;
pub const MAX_AGE: i32 = 120;
/// Seats a course may limit itself to (invited and active learners count against them).
pub const MIN_SEATS: i32 = 1;
pub const MAX_SEATS: i32 = 1_000_000;
/// The most prerequisite courses one course names.
pub const MAX_PREREQUISITES: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CourseStatus {
    Draft,
    Published,
    Archived,
}

impl CourseStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Published => "published",
            Self::Archived => "archived",
        }
    }
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Draft, Self::Published, Self::Archived]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Course {
    pub id: Uuid,
    pub code: String,
    pub title: String,
    pub description: String,
    pub status: CourseStatus,
    pub tags: Vec<String>,
    /// Learners younger than this may not enrol (A1); `None` means no limit.
    pub minimum_age: Option<i32>,
    /// Content not for minors (A1): a minor never sees the course, in any listing.
    pub restricted_content: bool,
    /// At most this many invited and active learners; `None` means no limit.
    pub seat_limit: Option<i32>,
    /// A completion recorded after this earns no certificate by itself: the rule records a
    /// `certificate_denied` decision for a reviewer instead (U7). `None`: no deadline.
    pub certificate_deadline: Option<DateTime<Utc>>,
    /// Courses of the institution a learner completes first, in the order given: a
    /// learner's own enrollment without them completed records an `enrollment_refused`
    /// decision for a reviewer instead (U7). Filled by the catalog's reads
    /// ([`super::service`]); a course row loaded elsewhere carries none.
    pub prerequisites: Vec<Uuid>,
    pub revision: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Serialisable so an idempotent retry can be compared with the first attempt.
#[derive(Debug, Clone, Serialize)]
pub struct NewCourse {
    pub code: String,
    pub title: String,
    pub description: String,
    pub status: CourseStatus,
    pub tags: Vec<String>,
    pub minimum_age: Option<i32>,
    pub restricted_content: bool,
    pub seat_limit: Option<i32>,
    pub certificate_deadline: Option<DateTime<Utc>>,
    /// Other courses of the institution, at most [`MAX_PREREQUISITES`], each once.
    pub prerequisites: Vec<Uuid>,
}

/// `None` leaves a field unchanged; `minimum_age: Some(None)` removes the limit.
#[derive(Debug, Clone, Default)]
pub struct CoursePatch {
    pub code: Option<String>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub status: Option<CourseStatus>,
    pub tags: Option<Vec<String>>,
    pub minimum_age: Option<Option<i32>>,
    pub restricted_content: Option<bool>,
    /// `Some(None)` removes the seat limit.
    pub seat_limit: Option<Option<i32>>,
    /// `Some(None)` removes the certificate deadline.
    pub certificate_deadline: Option<Option<DateTime<Utc>>>,
    /// Replaces the prerequisites; `Some(vec![])` removes them.
    pub prerequisites: Option<Vec<Uuid>>,
}

#[derive(Debug, Clone, Default)]
pub struct CourseFilter {
    pub status: Option<CourseStatus>,
    pub tag: Option<String>,
    pub code: Option<String>,
}

fn check_code(v: &mut Violations, code: &str) {
    v.check(
        (1..=MAX_CODE).contains(&code.len())
            && code
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')),
        "code",
        "1 to 40 characters: letters, digits, '-', '_' or '.'",
    );
}

fn check_text(v: &mut Violations, field: &str, text: &str, max: usize, required: bool) {
    if required && text.trim().is_empty() {
        v.add(field, "must not be empty");
    } else if text.chars().count() > max {
        v.add(field, format!("must be at most {max} characters"));
    } else if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
    {
        v.add(field, "must not contain control characters");
    }
}

pub(crate) fn is_valid_tag(tag: &str) -> bool {
    (1..=MAX_TAG).contains(&tag.len())
        && tag
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn check_tags(v: &mut Violations, tags: &[String]) {
    if tags.len() > MAX_TAGS {
        v.add("tags", format!("at most {MAX_TAGS} tags"));
    }
    for (i, tag) in tags.iter().enumerate() {
        if !is_valid_tag(tag) {
            v.add(
                format!("tags[{i}]"),
                "1 to 40 characters: lower-case letters, digits and '-'",
            );
        } else if tags[..i].contains(tag) {
            v.add(format!("tags[{i}]"), "duplicate tag");
        }
    }
}

/// The shape of a prerequisite list (how many, each once); that each is a course of the
/// institution, not the course itself and not in a cycle is checked against the catalog
/// ([`super::prerequisites::check`]).
fn check_prerequisites(v: &mut Violations, prerequisites: &[Uuid]) {
    if prerequisites.len() > MAX_PREREQUISITES {
        v.add(
            "prerequisites",
            format!("at most {MAX_PREREQUISITES} courses"),
        );
    }
    for (i, id) in prerequisites.iter().enumerate() {
        if prerequisites[..i].contains(id) {
            v.add(format!("prerequisites[{i}]"), "listed twice");
        }
    }
}

fn check_age(v: &mut Violations, age: Option<i32>) {
    if let Some(age) = age {
        v.check(
            (MIN_AGE..=MAX_AGE).contains(&age),
            "minimum_age",
            "must be between 0 and 120",
        );
    }
}

fn check_seats(v: &mut Violations, seats: Option<i32>) {
    if let Some(seats) = seats {
        v.check(
            (MIN_SEATS..=MAX_SEATS).contains(&seats),
            "seat_limit",
            "must be between 1 and 1000000",
        );
    }
}

impl NewCourse {
    pub(crate) fn validate(&self) -> Result<(), CourseError> {
        let mut v = Violations::new();
        check_code(&mut v, &self.code);
        check_text(&mut v, "title", &self.title, MAX_TITLE, true);
        check_text(
            &mut v,
            "description",
            &self.description,
            MAX_DESCRIPTION,
            false,
        );
        check_tags(&mut v, &self.tags);
        check_age(&mut v, self.minimum_age);
        check_seats(&mut v, self.seat_limit);
        check_prerequisites(&mut v, &self.prerequisites);
        v.finish().map_err(CourseError::Invalid)
    }
}

impl CoursePatch {
    pub(crate) fn validate(&self) -> Result<(), CourseError> {
        let mut v = Violations::new();
        if let Some(code) = &self.code {
            check_code(&mut v, code);
        }
        if let Some(title) = &self.title {
            check_text(&mut v, "title", title, MAX_TITLE, true);
        }
        if let Some(description) = &self.description {
            check_text(&mut v, "description", description, MAX_DESCRIPTION, false);
        }
        if let Some(tags) = &self.tags {
            check_tags(&mut v, tags);
        }
        if let Some(age) = self.minimum_age {
            check_age(&mut v, age);
        }
        if let Some(seats) = self.seat_limit {
            check_seats(&mut v, seats);
        }
        if let Some(prerequisites) = &self.prerequisites {
            check_prerequisites(&mut v, prerequisites);
        }
        v.finish().map_err(CourseError::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn course() -> NewCourse {
        NewCourse {
            code: "CS-101".into(),
            title: "Intro".into(),
            description: String::new(),
            status: CourseStatus::Draft,
            tags: vec!["intro".into()],
            minimum_age: Some(16),
            restricted_content: false,
            seat_limit: None,
            certificate_deadline: None,
            prerequisites: Vec::new(),
        }
    }

    #[test]
    fn valid_course_passes_and_each_bad_field_is_named() {
        course().validate().unwrap();
        let mut bad = course();
        bad.code = "no spaces".into();
        bad.title = "  ".into();
        bad.tags = vec!["Bad_Tag".into(), "ok".into(), "ok".into()];
        bad.minimum_age = Some(-1);
        bad.seat_limit = Some(0);
        let twice = Uuid::from_u128(7);
        bad.prerequisites = vec![twice, Uuid::from_u128(8), twice];
        let CourseError::Invalid(v) = bad.validate().unwrap_err() else {
            panic!()
        };
        let fields: Vec<_> = v.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "code",
                "title",
                "tags[0]",
                "tags[2]",
                "minimum_age",
                "seat_limit",
                "prerequisites[2]"
            ]
        );
    }
}
