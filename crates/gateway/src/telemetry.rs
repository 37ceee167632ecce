//! Logging: human-readable lines by default, one JSON object per line with `log_format =
//! "json"`. Request spans carry the request id, so every line of a request can be found.
//!
//! Every line is written through [`RedactingWriter`], which removes card numbers
//! ([`hub_kernel::pan`]) from the formatted line, whatever field, span or message they came
//! in with (promise D4: no card number is ever logged). The input guard refuses requests
//! that hold one, but the refused request's own path is still logged.

use std::io::Write;
use tracing::Subscriber;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::util::{SubscriberInitExt, TryInitError};

/// Logs to standard error; a second init (tests start several apps in one process) is
/// harmless and ignored.
pub fn init(format: &str, level: &str) {
    let _ = try_init_with_writer(format, level, std::io::stderr);
}

/// Installs the process-wide subscriber writing to `writer` (a test captures lines this way).
pub fn try_init_with_writer<W>(format: &str, level: &str, writer: W) -> Result<(), TryInitError>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    subscriber(format, level, writer).try_init()
}

/// The subscriber the gateway logs with, writing redacted lines to `writer`.
pub fn subscriber<W>(format: &str, level: &str, writer: W) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(RedactingWriter {
            inner: writer,
            json: format == "json",
        });
    if format == "json" {
        Box::new(
            builder
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .finish(),
        )
    } else {
        Box::new(builder.finish())
    }
}

/// Makes, per event, a [`RedactingLine`] over the inner writer; `json`: lines are JSON
/// objects, which must stay JSON.
#[derive(Debug, Clone)]
pub struct RedactingWriter<W> {
    pub inner: W,
    pub json: bool,
}

impl<'a, W: MakeWriter<'a>> MakeWriter<'a> for RedactingWriter<W> {
    type Writer = RedactingLine<W::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingLine {
            inner: self.inner.make_writer(),
            line: Vec::new(),
            json: self.json,
        }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        RedactingLine {
            inner: self.inner.make_writer_for(meta),
            line: Vec::new(),
            json: self.json,
        }
    }
}

/// Holds what one event formats (the formatter may write it in pieces) and writes it on,
/// card numbers removed, when the event is done: a number split across two writes is still
/// seen whole.
pub struct RedactingLine<W: Write> {
    inner: W,
    line: Vec<u8>,
    json: bool,
}

/// Whether byte `at` of a JSON text is inside a string.
fn in_json_string(text: &[u8], at: usize) -> bool {
    let (mut inside, mut escaped) = (false, false);
    for &b in &text[..at] {
        match b {
            _ if escaped => escaped = false,
            b'\\' if inside => escaped = true,
            b'"' => inside = !inside,
            _ => {}
        }
    }
    inside
}

impl<W: Write> RedactingLine<W> {
    fn write_out(&mut self) -> std::io::Result<()> {
        if self.line.is_empty() {
            return Ok(());
        }
        let line = std::mem::take(&mut self.line);
        // A number logged as a JSON number becomes a string: the line stays JSON.
        let redacted = hub_kernel::pan::redact_bytes_with(&line, |start, marker| {
            if self.json && !in_json_string(&line, start) {
                format!("\"{marker}\"")
            } else {
                marker
            }
        });
        self.inner.write_all(&redacted)?;
        self.inner.flush()
    }
}

impl<W: Write> Write for RedactingLine<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.line.extend_from_slice(buf);
        Ok(buf.len())
    }

    /// Buffered bytes wait for the end of the event: a flush mid-event must not split a
    /// number.
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<W: Write> Drop for RedactingLine<W> {
    fn drop(&mut self) {
        // Nowhere to report a failed log write to.
        let _ = self.write_out();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Collects what is written, for reading back.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Self;
        fn make_writer(&'a self) -> Self {
            self.clone()
        }
    }

    fn logged(format: &str) -> String {
        let captured = Captured::default();
        let subscriber = subscriber(format, "debug", captured.clone());
        tracing::subscriber::with_default(subscriber, || {
            let span =
                tracing::info_span!("request", path = "/v1/courses/4242%204242%204242%204242");
            let _entered = span.enter();
            tracing::info!(card = "5555-5555-5555-4444", "served");
            tracing::warn!(number = 378282246310005_u64, "odd");
            tracing::debug!(
                "pasted 6011 1111 1111 1117 and id 0190a0b0-0000-7000-8000-000000000001"
            );
            tracing::info!(detail = ?Some("4000056655665556"), "debug-formatted");
        });
        String::from_utf8(captured.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn no_card_number_reaches_a_log_line_in_either_format() {
        for format in ["text", "json"] {
            let text = logged(format);
            assert_eq!(text.lines().count(), 4, "{format}: {text}");
            for number in [
                "4242%204242%204242%204242",
                "5555-5555-5555-4444",
                "378282246310005",
                "6011 1111 1111 1117",
                "4000056655665556",
            ] {
                assert!(!text.contains(number), "{format}: {number} in {text}");
            }
            for kept in [
                "[card number removed, last4 4242]",
                "[card number removed, last4 4444]",
                "[card number removed, last4 0005]",
                "[card number removed, last4 1117]",
                "[card number removed, last4 5556]",
                "0190a0b0-0000-7000-8000-000000000001",
                "served",
            ] {
                assert!(text.contains(kept), "{format}: no {kept} in {text}");
            }
        }
        let json = logged("json");
        for line in json.lines() {
            serde_json::from_str::<serde_json::Value>(line).expect("still one JSON object a line");
        }
        assert!(
            json.contains("\"number\":\"[card number removed, last4 0005]\""),
            "{json}"
        );
    }

    #[test]
    fn a_number_written_in_pieces_is_seen_whole() {
        let captured = Captured::default();
        {
            let writer = RedactingWriter {
                inner: captured.clone(),
                json: false,
            };
            let mut line = writer.make_writer();
            line.write_all(b"card 4242 4242 ").unwrap();
            line.flush().unwrap();
            line.write_all(b"4242 4242 end\n").unwrap();
        }
        assert_eq!(
            String::from_utf8(captured.0.lock().unwrap().clone()).unwrap(),
            "card [card number removed, last4 4242] end\n"
        );
    }
}
