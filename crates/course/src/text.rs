//! The text checks every authored field of the learning domain goes through.

use hub_kernel::problem::Violations;

/// Refuses an empty (when required), too long, or control-character-bearing text.
pub(crate) fn check_text(v: &mut Violations, field: &str, text: &str, max: usize, required: bool) {
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
