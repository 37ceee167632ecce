//! The HTTP caching conventions of every answer, in one middleware ([`Caching`]):
//! - every `/v1` answer carries `Cache-Control: no-store`: most of them carry personal data
//!   or credentials, and a shared cache or the browser's disk must keep none of them (ASVS
//!   V8.2.1). The probes (`/healthz`, `/readyz`) and the spec stay cacheable, and so do
//!   the answers [`publicly_cacheable`] names (public, nothing personal), when they succeed;
//! - a `GET` answered 200 with an `ETag` becomes 304 Not Modified, without a body, when the
//!   request's `If-None-Match` names that ETag or is `*` (RFC 9110 §13.1.2, weak comparison).
//!   The spec declares it on exactly those operations (crate::spec).

use poem::http::{HeaderValue, Method, StatusCode, header};
use poem::{Endpoint, IntoResponse, Middleware, Request, Response};

pub struct Caching;

impl<E: Endpoint> Middleware<E> for Caching {
    type Output = CachingEndpoint<E>;
    fn transform(&self, ep: E) -> Self::Output {
        CachingEndpoint(ep)
    }
}

pub struct CachingEndpoint<E>(E);

/// Whether an `If-None-Match` value names `etag`: `*`, or a list of entity tags compared
/// weakly (`W/"3"` matches `"3"`).
pub fn if_none_match_matches(if_none_match: &str, etag: &str) -> bool {
    let opaque = |tag: &str| tag.trim().trim_start_matches("W/").to_string();
    let current = opaque(etag);
    if_none_match
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || (!tag.is_empty() && opaque(tag) == current))
}

/// `/v1` answers for anyone that hold nothing personal and that caches may keep as their
/// handler says: an institution's published signing keys
/// (`/v1/institutions/{tenant_slug}/jwks.json`). Only a 200 that sets `Cache-Control`
/// itself; an error on the same path is `no-store` like every other.
pub fn publicly_cacheable(path: &str) -> bool {
    path.strip_prefix("/v1/institutions/")
        .and_then(|rest| rest.strip_suffix("/jwks.json"))
        .is_some_and(|slug| !slug.is_empty() && !slug.contains('/'))
}

impl<E: Endpoint> Endpoint for CachingEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Self::Output> {
        let personal = req.uri().path().starts_with("/v1/");
        let public = publicly_cacheable(req.uri().path());
        let conditional = (req.method() == Method::GET)
            .then(|| req.headers().get(header::IF_NONE_MATCH))
            .flatten()
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let mut response = self.0.call(req).await?.into_response();
        if let Some(if_none_match) = conditional
            && response.status() == StatusCode::OK
            && let Some(etag) = response
                .headers()
                .get(header::ETAG)
                .and_then(|v| v.to_str().ok())
            && if_none_match_matches(&if_none_match, etag)
        {
            let mut not_modified = Response::builder()
                .status(StatusCode::NOT_MODIFIED)
                .finish();
            for (name, value) in response.headers() {
                if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
                    not_modified
                        .headers_mut()
                        .append(name.clone(), value.clone());
                }
            }
            response = not_modified;
        }
        let cacheable = public
            && response.status() == StatusCode::OK
            && response.headers().contains_key(header::CACHE_CONTROL);
        if personal && !cacheable {
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::{if_none_match_matches, publicly_cacheable};

    #[test]
    fn only_published_key_sets_are_publicly_cacheable() {
        assert!(publicly_cacheable("/v1/institutions/north/jwks.json"));
        for path in [
            "/v1/institutions//jwks.json",
            "/v1/institutions/north/x/jwks.json",
            "/v1/institutions/north/jwks.json/x",
            "/v1/privacy/receipt-keys",
            "/v1/people",
        ] {
            assert!(!publicly_cacheable(path), "{path}");
        }
    }

    #[test]
    fn if_none_match_forms() {
        assert!(if_none_match_matches("\"3\"", "\"3\""));
        assert!(if_none_match_matches("W/\"3\"", "\"3\""));
        assert!(if_none_match_matches("\"1\", \"3\"", "\"3\""));
        assert!(if_none_match_matches("*", "\"3\""));
        assert!(!if_none_match_matches("\"4\"", "\"3\""));
        assert!(!if_none_match_matches("", "\"3\""));
    }
}
