//! Cross-cutting HTTP concerns: request ids, the access log, security headers, the per-IP
//! rate limit and the request body size limit. Each is a small poem middleware composed in
//! [`crate::app`].

use crate::limiter::Decision;
use crate::problem::ApiError;
use crate::state::AppState;
use poem::http::{HeaderName, HeaderValue};
use poem::{Endpoint, IntoResponse, Middleware, Request, Response};
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The id of the request being served, available to handlers and problem answers.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Accepts a caller's `X-Request-Id` when it is short, printable and no card number (so ids can be traced
/// through a client's own logs), otherwise makes one; echoes it on the response; wraps the
/// request in a tracing span that carries it; logs one line per request.
pub struct RequestTracing;

impl<E: Endpoint> Middleware<E> for RequestTracing {
    type Output = RequestTracingEndpoint<E>;
    fn transform(&self, ep: E) -> Self::Output {
        RequestTracingEndpoint(ep)
    }
}

pub struct RequestTracingEndpoint<E>(E);

impl<E: Endpoint> Endpoint for RequestTracingEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Self::Output> {
        let id = req
            .headers()
            .get(REQUEST_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|v| (1..=128).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_graphic()))
            // It is echoed on the answer and in every problem: never a card number (D4).
            .filter(|v| !hub_kernel::pan::contains(v))
            .map(str::to_string)
            .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
        req.set_data(RequestId(id.clone()));
        let span = tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path());
        let started = Instant::now();
        let ep = &self.0;
        async move {
            let mut response = match ep.call(req).await {
                Ok(output) => output.into_response(),
                Err(error) => error.into_response(),
            };
            if let Ok(value) = HeaderValue::from_str(&id) {
                response
                    .headers_mut()
                    .insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
            }
            tracing::info!(
                status = response.status().as_u16(),
                micros = started.elapsed().as_micros() as u64,
                "served"
            );
            Ok(response)
        }
        .instrument(span)
        .await
    }
}

/// Headers every response carries; HSTS only when the gateway itself terminates TLS.
pub struct SecurityHeaders {
    pub hsts: bool,
}

impl<E: Endpoint> Middleware<E> for SecurityHeaders {
    type Output = SecurityHeadersEndpoint<E>;
    fn transform(&self, ep: E) -> Self::Output {
        SecurityHeadersEndpoint {
            ep,
            hsts: self.hsts,
        }
    }
}

pub struct SecurityHeadersEndpoint<E> {
    ep: E,
    hsts: bool,
}

impl<E: Endpoint> Endpoint for SecurityHeadersEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Self::Output> {
        let mut response = self.ep.call(req).await?.into_response();
        let headers = response.headers_mut();
        headers.insert(
            "x-content-type-options",
            HeaderValue::from_static("nosniff"),
        );
        headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
        if self.hsts {
            headers.insert(
                "strict-transport-security",
                HeaderValue::from_static("max-age=31536000; includeSubDomains"),
            );
        }
        Ok(response)
    }
}

/// Per-client-IP budget, checked before authentication so that guessing keys is throttled.
/// The IP is the one [`crate::client_ip::ResolveClientIp`] decided (run it outside this).
pub struct IpRateLimit;

impl<E: Endpoint> Middleware<E> for IpRateLimit {
    type Output = IpRateLimitEndpoint<E>;
    fn transform(&self, ep: E) -> Self::Output {
        IpRateLimitEndpoint(ep)
    }
}

pub struct IpRateLimitEndpoint<E>(E);

impl<E: Endpoint> Endpoint for IpRateLimitEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Self::Output> {
        if let Some(state) = req.data::<Arc<AppState>>() {
            let ip = crate::auth::client_ip(&req).unwrap_or_default();
            if let Decision::Deny { retry_after_secs } = state
                .limiter
                .check(&format!("ip:{ip}"), state.config.rate_limit_per_ip)
                .await
            {
                return Ok(poem::Error::from(ApiError::rate_limited(
                    state.config.rate_limit_per_ip,
                    retry_after_secs,
                ))
                .into_response());
            }
        }
        Ok(self.0.call(req).await?.into_response())
    }
}

/// Refuses bodies over the configured size with 413. A declared `Content-Length` is checked
/// up front; a chunked body is read up to the limit and refused as soon as it passes it.
/// (poem's own `SizeLimit` also refuses bodiless GETs without `Content-Length`.)
pub struct BodyLimit(pub usize);

impl<E: Endpoint> Middleware<E> for BodyLimit {
    type Output = BodyLimitEndpoint<E>;
    fn transform(&self, ep: E) -> Self::Output {
        BodyLimitEndpoint { ep, limit: self.0 }
    }
}

pub struct BodyLimitEndpoint<E> {
    ep: E,
    limit: usize,
}

/// Declared bodies up to this many times the limit are read and discarded before the 413.
const DRAIN_FACTOR: usize = 8;
/// How long discarding an oversized body may take before the connection is closed anyway.
const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

fn too_large(limit: usize) -> poem::Error {
    ApiError::new(
        poem::http::StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("the request body is larger than {limit} bytes"),
    )
    .into()
}

impl<E: Endpoint> Endpoint for BodyLimitEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Self::Output> {
        let declared = req
            .headers()
            .get(poem::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        match declared {
            Some(length) if length > self.limit => {
                // Lingering close, as nginx does: a client that declared a moderately
                // oversized body is probably still sending it, and closing now would make it
                // see a reset connection instead of this answer. Read and discard it first,
                // bounded in size and time; far larger bodies are refused at once.
                if length <= self.limit.saturating_mul(DRAIN_FACTOR) {
                    use futures::StreamExt as _;
                    let mut stream = req.take_body().into_bytes_stream();
                    let _ = tokio::time::timeout(DRAIN_TIMEOUT, async {
                        while let Some(Ok(_)) = stream.next().await {}
                    })
                    .await;
                }
                return Err(too_large(self.limit));
            }
            Some(_) => {}
            None if req
                .headers()
                .contains_key(poem::http::header::TRANSFER_ENCODING) =>
            {
                use futures::StreamExt as _;
                let mut stream = req.take_body().into_bytes_stream();
                let mut collected = Vec::new();
                while let Some(chunk) = stream.next().await {
                    let chunk = chunk.map_err(|e| {
                        poem::Error::from_string(e.to_string(), poem::http::StatusCode::BAD_REQUEST)
                    })?;
                    if collected.len() + chunk.len() > self.limit {
                        return Err(too_large(self.limit));
                    }
                    collected.extend_from_slice(&chunk);
                }
                req.set_body(collected);
            }
            None => {}
        }
        Ok(self.ep.call(req).await?.into_response())
    }
}
