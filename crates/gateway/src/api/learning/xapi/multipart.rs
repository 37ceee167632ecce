//! The multipart/mixed transmission format of statements with attachments (xAPI
//! Communication 1.5.2, RFC 2046 5.1): reading a PUT or POST's body into its statements (the
//! first part, application/json) and its attachment parts, and writing a GET's answer with
//! attachments the same way. Matching parts with the attachments the statements declare is
//! the LRS's ([`hub_course::xapi::attachments`]).
//!
//! Limits: the whole request is bounded by the gateway's body limit (`body_limit_bytes`,
//! 413), each attachment part by [`MAX_ATTACHMENT_BYTES`] (413 too).

use crate::problem::ApiError;
use hub_course::CourseError;
use hub_course::xapi::attachments::{AttachmentContent, AttachmentPart, MAX_ATTACHMENT_BYTES};
use hub_kernel::FieldViolation;
use poem::http::StatusCode;
use poem::{FromRequest, Request, RequestBody};
use poem_openapi::payload::{ParsePayload, Payload};
use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use serde_json::Value;

pub const MULTIPART_MIXED: &str = "multipart/mixed";

/// A multipart/mixed request body, as received.
pub struct MultipartMixed {
    pub content_type: String,
    pub body: Vec<u8>,
}

pub fn binary_schema() -> MetaSchemaRef {
    MetaSchemaRef::Inline(Box::new(MetaSchema {
        format: Some("binary"),
        ..MetaSchema::new("string")
    }))
}

/// The media type of a `Content-Type`, without parameters, in lower case.
pub fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

impl Payload for MultipartMixed {
    const CONTENT_TYPE: &'static str = MULTIPART_MIXED;

    fn check_content_type(content_type: &str) -> bool {
        essence(content_type) == MULTIPART_MIXED
    }

    fn schema_ref() -> MetaSchemaRef {
        binary_schema()
    }
}

impl ParsePayload for MultipartMixed {
    const IS_REQUIRED: bool = true;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        Ok(Self {
            content_type: request.content_type().unwrap_or_default().to_string(),
            body: <Vec<u8>>::from_request(request, body).await?,
        })
    }
}

fn invalid(field: &str, message: &str) -> ApiError {
    ApiError::from(CourseError::XapiInvalid(vec![FieldViolation::new(
        field,
        format!("{message} (xAPI 1.0.3, Communication 1.5.2)"),
    )]))
}

/// The `boundary` parameter of a multipart `Content-Type` (RFC 2046 5.1.1), quoted or not.
fn boundary_of(content_type: &str) -> Option<String> {
    let (_, parameters) = content_type.split_once(';')?;
    let lower = parameters.to_ascii_lowercase();
    let start = lower.find("boundary=")? + "boundary=".len();
    let rest = &parameters[start..];
    let value = match rest.strip_prefix('"') {
        Some(quoted) => quoted.split('"').next()?,
        None => rest.split(';').next()?.trim(),
    };
    (!value.is_empty() && value.len() <= 70).then(|| value.to_string())
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if from > haystack.len() {
        return None;
    }
    haystack[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// The end of the line starting at `at` (after its CRLF or LF).
fn after_line(body: &[u8], at: usize) -> Option<usize> {
    find(body, b"\n", at).map(|p| p + 1)
}

/// One part: its headers (names in lower case) and content.
struct Part<'a> {
    headers: Vec<(String, String)>,
    content: &'a [u8],
}

impl Part<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

fn parts<'a>(body: &'a [u8], boundary: &str) -> Option<Vec<Part<'a>>> {
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    // The first delimiter opens the body or follows the preamble's line break.
    let mut at = if body.starts_with(delimiter) {
        0
    } else {
        find(body, &[b"\n", delimiter].concat(), 0)? + 1
    };
    let mut out = Vec::new();
    loop {
        let after = at + delimiter.len();
        if body.get(after..after + 2) == Some(b"--") {
            return Some(out);
        }
        let start = after_line(body, after)?;
        let next = find(body, &[b"\n", delimiter].concat(), start)?;
        let mut end = next;
        if end > start && body[end - 1] == b'\r' {
            end -= 1;
        }
        let raw = body.get(start..end.max(start))?;
        // Headers end at the first empty line; a part may have none.
        let (head, content) = if raw.starts_with(b"\r\n") {
            (&raw[..0], &raw[2..])
        } else if raw.starts_with(b"\n") {
            (&raw[..0], &raw[1..])
        } else if let Some(p) = find(raw, b"\r\n\r\n", 0) {
            (&raw[..p], &raw[p + 4..])
        } else if let Some(p) = find(raw, b"\n\n", 0) {
            (&raw[..p], &raw[p + 2..])
        } else {
            (raw, &raw[raw.len()..])
        };
        let head = std::str::from_utf8(head).ok()?;
        let headers = head
            .lines()
            .filter_map(|line| line.split_once(':'))
            .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
            .collect();
        out.push(Part { headers, content });
        at = next + 1;
    }
}

/// A multipart/mixed request's statements (its first part) and attachment parts.
pub fn read(request: &MultipartMixed) -> Result<(Value, Vec<AttachmentPart>), ApiError> {
    let boundary = boundary_of(&request.content_type).ok_or_else(|| {
        invalid(
            "Content-Type",
            "a multipart/mixed request names its boundary",
        )
    })?;
    let found = parts(&request.body, &boundary).ok_or_else(|| {
        invalid(
            "",
            "the body is not a multipart/mixed document with this boundary (RFC 2046)",
        )
    })?;
    let mut found = found.into_iter();
    let first = found.next().ok_or_else(|| {
        invalid(
            "part 1",
            "the first part holds the statements, as application/json",
        )
    })?;
    if first.header("content-type").map(essence).as_deref() != Some("application/json") {
        return Err(invalid(
            "part 1",
            "the first part holds the statements and its Content-Type is application/json",
        ));
    }
    let statements: Value = serde_json::from_slice(first.content)
        .map_err(|_| invalid("part 1", "the first part is not JSON"))?;
    let mut attachments = Vec::new();
    for (i, part) in found.enumerate() {
        let field = format!("part {}", i + 2);
        let hash = part.header("x-experience-api-hash").ok_or_else(|| {
            invalid(
                &field,
                "every part after the first has an X-Experience-API-Hash",
            )
        })?;
        // Binary is assumed when a part names no encoding (Communication 1.5.2.s3.b6).
        if let Some(encoding) = part.header("content-transfer-encoding")
            && !encoding.eq_ignore_ascii_case("binary")
        {
            return Err(invalid(
                &field,
                "the Content-Transfer-Encoding of an attachment part is binary",
            ));
        }
        if part.content.len() > MAX_ATTACHMENT_BYTES {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!(
                    "{field}: an attachment is at most {MAX_ATTACHMENT_BYTES} bytes in this LRS (xAPI 1.0.3, Communication 1.5.2.s3.b7)"
                ),
            ));
        }
        attachments.push(AttachmentPart {
            content_type: part.header("content-type").map(str::to_string),
            hash: hash.to_string(),
            content: part.content.to_vec(),
        });
    }
    Ok((statements, attachments))
}

/// A GET's answer with attachments (Communication 2.1.3, 1.5.2): the statement or
/// StatementResult first, then each attachment's content. Answers the `Content-Type` (with
/// its boundary) and the body.
pub fn write(result: &Value, contents: &[AttachmentContent]) -> (String, Vec<u8>) {
    let json = result.to_string().into_bytes();
    // A boundary that occurs in no part (RFC 2046 5.1.1).
    let boundary = loop {
        let candidate = format!("xapi-{}", uuid::Uuid::new_v4().simple());
        let needle = candidate.as_bytes();
        let clash = find(&json, needle, 0).is_some()
            || contents
                .iter()
                .any(|c| find(&c.content, needle, 0).is_some());
        if !clash {
            break candidate;
        }
    };
    let mut body = Vec::with_capacity(json.len() + 256);
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Type: application/json\r\n\r\n").as_bytes(),
    );
    body.extend_from_slice(&json);
    for content in contents {
        body.extend_from_slice(
            format!(
                "\r\n--{boundary}\r\nContent-Type: {}\r\nContent-Transfer-Encoding: binary\r\nX-Experience-API-Hash: {}\r\n\r\n",
                content.content_type, content.sha2
            )
            .as_bytes(),
        );
        body.extend_from_slice(&content.content);
    }
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("{MULTIPART_MIXED}; boundary={boundary}"), body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_specifications_example_reads() {
        let body = "--abcABC0123'()+_,-./:=?\r\nContent-Type:application/json\r\n\r\n{\"a\": 1}\r\n--abcABC0123'()+_,-./:=?\r\nContent-Type:text/plain\r\nContent-Transfer-Encoding:binary\r\nX-Experience-API-Hash:495395e777cd98da653df9615d09c0fd6bb2f8d4788394cd53c56a3bfdcd848a\r\n\r\nhere is a simple attachment\r\n--abcABC0123'()+_,-./:=?--";
        let request = MultipartMixed {
            content_type: "multipart/mixed; boundary=\"abcABC0123'()+_,-./:=?\"".into(),
            body: body.as_bytes().to_vec(),
        };
        let (statements, parts) = read(&request).unwrap();
        assert_eq!(statements["a"], 1);
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].content, b"here is a simple attachment");
        assert_eq!(parts[0].content_type.as_deref(), Some("text/plain"));
    }

    #[test]
    fn an_answer_reads_back() {
        let contents = vec![AttachmentContent {
            sha2: "ab".into(),
            content_type: "text/plain".into(),
            content: b"x\r\ny".to_vec(),
        }];
        let (content_type, body) = write(&serde_json::json!({"s": []}), &contents);
        let (statements, parts) = read(&MultipartMixed { content_type, body }).unwrap();
        assert_eq!(statements["s"], serde_json::json!([]));
        assert_eq!(parts[0].content, b"x\r\ny");
        assert_eq!(parts[0].hash, "ab");
    }
}
