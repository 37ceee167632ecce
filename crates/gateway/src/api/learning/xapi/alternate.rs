//! The alternate request syntax (xAPI-Communication 1.3): a client that cannot send a
//! method, headers or query string of its own POSTs to the resource with `method=` as the
//! only query parameter and a form-encoded body carrying the headers it means, `content`
//! (the body) and the resource's parameters. The request is rewritten into the one it
//! stands for before any handler sees it, so it is checked exactly as that one is.

use crate::problem::ApiError;
use hub_course::CourseError;
use hub_kernel::FieldViolation;
use poem::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use poem::http::{HeaderName, HeaderValue, Method, Uri};
use poem::{Body, Request};

/// The headers the form may carry (Communication 1.3), lower-case.
const HEADERS: [&str; 8] = [
    "authorization",
    "x-experience-api-version",
    "content-type",
    "content-length",
    "if-match",
    "if-none-match",
    "accept-language",
    "accept",
];

fn refused(field: &str, message: &str) -> ApiError {
    ApiError::from(CourseError::XapiInvalid(vec![FieldViolation::new(
        field, message,
    )]))
}

/// One form or query component, percent-decoded (`+` is a space).
pub(super) fn decode(component: &str) -> String {
    let text = component.as_bytes();
    let hex = |byte: u8| (byte as char).to_digit(16).map(|digit| digit as u8);
    let mut bytes = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let escaped = match (text[i], text.get(i + 1), text.get(i + 2)) {
            (b'%', Some(&high), Some(&low)) => hex(high).zip(hex(low)),
            _ => None,
        };
        match (escaped, text[i]) {
            (Some((high, low)), _) => {
                bytes.push(high * 16 + low);
                i += 3;
            }
            (None, b'+') => {
                bytes.push(b' ');
                i += 1;
            }
            (None, byte) => {
                bytes.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// A form's or query string's pairs, decoded.
pub(super) fn pairs(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(name), decode(value))
        })
        .collect()
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Whether the request uses the alternate syntax: a POST naming `method` in its query.
pub(super) fn is_alternate(req: &Request) -> bool {
    req.method() == Method::POST
        && pairs(req.uri().query().unwrap_or_default())
            .iter()
            .any(|(name, _)| name == "method")
}

/// The request the alternate-syntax request stands for; 400 when `method` is not the only
/// query parameter, names no method of the LRS, or the body is not a form.
pub(super) async fn rewrite(mut req: Request) -> Result<Request, ApiError> {
    let query = pairs(req.uri().query().unwrap_or_default());
    if let Some((name, _)) = query.iter().find(|(name, _)| name != "method") {
        return Err(refused(
            name,
            "the alternate request syntax takes no query parameter but method (xAPI 1.0.3, Communication 1.3)",
        ));
    }
    let method = match query.as_slice() {
        [(_, method)] => match method.as_str() {
            "GET" => Method::GET,
            "PUT" => Method::PUT,
            "POST" => Method::POST,
            "DELETE" => Method::DELETE,
            _ => {
                return Err(refused(
                    "method",
                    "must be GET, PUT, POST or DELETE (xAPI 1.0.3, Communication 1.3)",
                ));
            }
        },
        _ => {
            return Err(refused(
                "method",
                "must be given once (xAPI 1.0.3, Communication 1.3)",
            ));
        }
    };
    let form_type = req
        .header("content-type")
        .and_then(|value| value.split(';').next())
        .map(|value| {
            value
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
        .unwrap_or(false);
    if !form_type {
        return Err(refused(
            "Content-Type",
            "the alternate request syntax sends application/x-www-form-urlencoded (xAPI 1.0.3, Communication 1.3)",
        ));
    }
    let body = req
        .take_body()
        .into_bytes()
        .await
        .map_err(|_| refused("", "the form could not be read"))?;
    let body = std::str::from_utf8(&body)
        .map_err(|_| refused("", "the form must be UTF-8 (xAPI 1.0.3, Communication 1.3)"))?;
    let mut headers = Vec::new();
    let mut parameters = Vec::new();
    let mut content = None;
    for (name, value) in pairs(body) {
        let lower = name.to_ascii_lowercase();
        if name == "content" {
            content = Some(value);
        } else if HEADERS.contains(&lower.as_str()) {
            headers.push((lower, value));
        } else {
            parameters.push(format!("{}={}", encode(&name), encode(&value)));
        }
    }
    let path = req.uri().path().to_string();
    let uri = if parameters.is_empty() {
        path
    } else {
        format!("{path}?{}", parameters.join("&"))
    };
    let uri: Uri = uri
        .parse()
        .map_err(|_| refused("", "the form's parameters do not make a URL"))?;
    req.set_method(method);
    *req.uri_mut() = uri;
    let carried = req.headers_mut();
    carried.remove(CONTENT_TYPE);
    carried.remove(CONTENT_LENGTH);
    for (name, value) in headers {
        if name == "content-length" {
            continue;
        }
        let value = HeaderValue::from_str(&value)
            .map_err(|_| refused(&name, "is not a valid header value"))?;
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| refused(&name, "is not a valid header name"))?;
        carried.insert(name, value);
    }
    let content = content.unwrap_or_default();
    carried.insert(CONTENT_LENGTH, HeaderValue::from(content.len()));
    req.set_body(Body::from_string(content));
    Ok(req)
}
