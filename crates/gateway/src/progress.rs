//! One progress display for the command line's long jobs (`hub migrate` today; re-sealing,
//! retention, reporting and reconciliation runs as they arrive). On a terminal it is a bar
//! redrawn in place, with rate and time left (indicatif); otherwise (CI logs, `| tee`) it
//! writes a plain line at each tenth of the way and at least every [`PLAIN_EVERY`], so 10,000
//! items make about ten lines instead of 10,000.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// The longest a plain (non-terminal) display stays silent while work goes on.
pub const PLAIN_EVERY: Duration = Duration::from_secs(10);

pub struct Progress {
    display: Display,
}

enum Display {
    Bar(ProgressBar),
    Plain(PlainLines<std::io::Stderr>),
}

impl Progress {
    /// A display for `total` items of `what` (e.g. "tenants"), on standard error.
    pub fn new(what: &str, total: u64) -> Self {
        let display = if std::io::stderr().is_terminal() {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            let template =
                format!("{{bar:30}} {{pos}}/{{len}} {what} · {{per_sec}} · {{eta}} left · {{msg}}");
            if let Ok(style) = ProgressStyle::with_template(&template) {
                bar.set_style(style.progress_chars("#>."));
            }
            Display::Bar(bar)
        } else {
            Display::Plain(PlainLines::new(std::io::stderr(), what, total, PLAIN_EVERY))
        };
        Self { display }
    }

    /// One more item done; `label` names it (shown on the bar, not in plain lines).
    pub fn advance(&mut self, label: &str) {
        match &mut self.display {
            Display::Bar(bar) => {
                bar.set_message(label.to_string());
                bar.inc(1);
            }
            Display::Plain(lines) => lines.advance(),
        }
    }

    /// A line that must stay visible (a failure), printed above the bar.
    pub fn note(&mut self, line: &str) {
        match &mut self.display {
            Display::Bar(bar) => bar.println(line),
            Display::Plain(lines) => lines.note(line),
        }
    }

    pub fn finish(self) {
        match self.display {
            Display::Bar(bar) => bar.finish_with_message("done"),
            Display::Plain(mut lines) => lines.finish(),
        }
    }
}

/// The display for logs: a line per tenth of the way, or after `every` without one.
struct PlainLines<W: Write> {
    out: W,
    what: String,
    total: u64,
    done: u64,
    started: Instant,
    last_line: Instant,
    last_tenth: u64,
    every: Duration,
}

impl<W: Write> PlainLines<W> {
    fn new(out: W, what: &str, total: u64, every: Duration) -> Self {
        let now = Instant::now();
        Self {
            out,
            what: what.to_string(),
            total,
            done: 0,
            started: now,
            last_line: now,
            last_tenth: 0,
            every,
        }
    }

    fn advance(&mut self) {
        self.done += 1;
        let tenth = (self.done * 10).checked_div(self.total).unwrap_or(10);
        if tenth > self.last_tenth || self.last_line.elapsed() >= self.every {
            self.last_tenth = tenth;
            self.line();
        }
    }

    fn note(&mut self, line: &str) {
        let _ = writeln!(self.out, "{line}");
    }

    fn finish(&mut self) {
        if self.done == 0 || self.last_tenth < 10 {
            self.line();
        }
    }

    fn line(&mut self) {
        self.last_line = Instant::now();
        let elapsed = self.started.elapsed().as_secs_f64();
        let rate = if elapsed > 0.0 {
            self.done as f64 / elapsed
        } else {
            0.0
        };
        let left = self.total.saturating_sub(self.done);
        let eta = if rate > 0.0 {
            format!("{:.0} s left", left as f64 / rate)
        } else {
            "time left unknown".into()
        };
        let _ = writeln!(
            self.out,
            "{}/{} {} · {rate:.1}/s · {eta}",
            self.done, self.total, self.what
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_for(total: u64) -> Vec<String> {
        let mut plain = PlainLines::new(Vec::new(), "tenants", total, Duration::from_secs(3600));
        for _ in 0..total {
            plain.advance();
        }
        plain.finish();
        String::from_utf8(plain.out)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn plain_display_writes_a_line_per_tenth_not_per_item() {
        let lines = lines_for(10_000);
        assert_eq!(lines.len(), 10, "{lines:?}");
        assert!(lines[0].starts_with("1000/10000 tenants"), "{}", lines[0]);
        assert!(lines[9].starts_with("10000/10000 tenants"), "{}", lines[9]);
    }

    #[test]
    fn plain_display_reports_small_and_empty_runs() {
        assert_eq!(lines_for(3).len(), 3);
        let empty = lines_for(0);
        assert_eq!(empty.len(), 1);
        assert!(empty[0].starts_with("0/0 tenants"), "{}", empty[0]);
    }

    #[test]
    fn plain_display_speaks_up_after_a_silent_interval() {
        let mut plain = PlainLines::new(Vec::new(), "rows", 1_000_000, Duration::ZERO);
        plain.advance();
        plain.advance();
        let text = String::from_utf8(plain.out).unwrap_or_default();
        assert_eq!(text.lines().count(), 2, "{text}");
    }
}
