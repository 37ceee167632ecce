//! For tests that need a real service (PostgreSQL, Redis): the one place that decides what a
//! missing service means, so no such test can pass silently without it.
//!
//! - In CI (`CI` set to anything but empty, `0` or `false`, as every CI system sets it) a
//!   missing service fails the test: a run without its services proves nothing.
//! - Elsewhere the test is skipped, and says so on a line of its own,
//!   `SKIPPED: <test> needs <service> (set <VAR>; make test sets it)`. The line goes straight
//!   to the process's stderr, past the test harness's output capture, so it shows in a
//!   plain `cargo test` run and not only with `--nocapture`.

use std::io::Write;

/// The value of `var` (the service's URL), or `None` after reporting the skip. Panics in CI.
///
/// ```ignore
/// let Some(url) = hub_kernel::testing::required_service("HUB_TEST_REDIS_URL", "Redis") else {
///     return;
/// };
/// ```
pub fn required_service(var: &str, service: &str) -> Option<String> {
    let ci = std::env::var("CI").ok();
    match std::env::var(var) {
        Ok(value) if !value.trim().is_empty() => Some(value),
        _ => {
            let test = current_test();
            if in_ci(ci.as_deref()) {
                panic!(
                    "{test} needs {service}: set {var} (CI is set, so a missing service fails the run)"
                );
            }
            let _ = writeln!(
                std::io::stderr().lock(),
                "{}",
                skip_line(&test, service, var)
            );
            None
        }
    }
}

fn in_ci(value: Option<&str>) -> bool {
    value.is_some_and(|v| !matches!(v.trim().to_ascii_lowercase().as_str(), "" | "0" | "false"))
}

fn skip_line(test: &str, service: &str, var: &str) -> String {
    format!("SKIPPED: {test} needs {service} (set {var}; make test sets it)")
}

/// The test harness names each test's thread after the test (`module::name`).
fn current_test() -> String {
    std::thread::current()
        .name()
        .unwrap_or("a test")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ci_is_any_value_but_empty_zero_or_false() {
        for yes in ["true", "1", "TRUE", "yes"] {
            assert!(in_ci(Some(yes)), "{yes}");
        }
        for no in [None, Some(""), Some("0"), Some("false"), Some("False")] {
            assert!(!in_ci(no), "{no:?}");
        }
    }

    #[test]
    fn the_skip_line_names_the_test_the_service_and_the_variable() {
        assert_eq!(
            skip_line("limiter::tests::shared", "Redis", "HUB_TEST_REDIS_URL"),
            "SKIPPED: limiter::tests::shared needs Redis (set HUB_TEST_REDIS_URL; make test sets it)"
        );
        assert!(current_test().contains("the_skip_line_names"));
    }
}
