//! What wraps every request: its id, span, log line and latency (`observe`), and on `/v1/*`
//! the API key check and rate limit (`authorize`).

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument as _;

use super::REQUEST_ID;
use super::errors::{ApiError, in_api_words};
use super::state::AppState;
use crate::protocol::ErrorCode;
use crate::service::observability;

/// With keys in force: the caller's bearer token must match a key (401 otherwise, with
/// `WWW-Authenticate`), and the key's rate limit must allow the request (429 with
/// `Retry-After` otherwise). The key's name goes into the request's log lines and metrics.
pub(super) async fn authorize(
    State(state): State<Arc<AppState>>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(access) = &state.access else {
        return next.run(request).await;
    };
    let token = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    let Some(caller) = token.and_then(|token| access.authenticate(token)) else {
        state.metrics.count_unauthorized();
        let mut response = ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthorized,
            "send an API key as `Authorization: Bearer <token>`; this one is missing or unknown",
        )
        .into_response();
        response.headers_mut().insert(
            axum::http::header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"aiblox\""),
        );
        return response;
    };
    tracing::Span::current().record("key", tracing::field::display(&caller.name));
    if let Err(wait) = access.admit(&caller, Instant::now()) {
        state
            .metrics
            .count_key_request(&caller.name, "rate_limited");
        let seconds = crate::service::access::retry_after_seconds(wait);
        let mut response = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::RateLimited,
            caller.over_rate(wait),
        )
        .into_response();
        if let Ok(value) = HeaderValue::from_str(&format!("{seconds}")) {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, value);
        }
        return response;
    }
    state.metrics.count_key_request(&caller.name, "admitted");
    request.extensions_mut().insert(caller);
    next.run(request).await
}

/// Request id (taken from `x-request-id` or made, and returned), a span for the request's
/// logs, a log line, and the latency histogram.
/// Before an item write's body is read: a key must be allowed to write at all (its sources are
/// checked by the handler), and an anonymous caller must be on a loopback service and name
/// loopback in `Host` (a web page that rebinds a name to 127.0.0.1 cannot write). Reads of the
/// write routes (`GET`) pass.
pub(super) async fn writers_only(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() == axum::http::Method::GET {
        return next.run(request).await;
    }
    let refusal = match request.extensions().get::<crate::service::access::Caller>() {
        Some(caller) => caller.cannot_write(),
        None if state.loopback_only && names_loopback(&request) => None,
        None => Some(
            "anonymous callers write only to a loopback service, by a loopback name: give the \
             service API keys (`keys new --write`)"
                .to_owned(),
        ),
    };
    match refusal {
        None => next.run(request).await,
        Some(message) => {
            ApiError::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden, message).into_response()
        }
    }
}

/// Whether the request's `Host` names loopback (`localhost`, `127.0.0.1`, `[::1]`, any port).
fn names_loopback(request: &Request) -> bool {
    let Some(host) = request
        .headers()
        .get(axum::http::header::HOST)
        .and_then(|value| value.to_str().ok())
    else {
        return false;
    };
    let name = match host.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => host.split(':').next().unwrap_or_default(),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

pub(super) async fn observe(
    State(state): State<Arc<AppState>>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let incoming = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|value| value.to_str().ok());
    let id = observability::request_id(incoming);
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    if let Ok(value) = HeaderValue::from_str(&id) {
        request.headers_mut().insert(REQUEST_ID.clone(), value);
    }
    let path = request.uri().path().to_owned();
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %method,
        route = %route,
        key = tracing::field::Empty
    );
    let mut response = next.run(request).instrument(span.clone()).await;
    // MCP's own answers (rmcp's: 406 without `Accept: text/event-stream`, ...) keep their
    // words: an MCP client reads them, not the API's error body.
    if (response.status().is_client_error() || response.status().is_server_error())
        && route != "/mcp"
    {
        response = in_api_words(response, &method, &path);
    }
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    span.in_scope(|| {
        tracing::info!(
            status,
            elapsed_ms = elapsed.as_secs_f64() * 1000.0,
            "request finished"
        )
    });
    state
        .metrics
        .observe_request(&method, &route, status, elapsed);
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID.clone(), value);
    }
    response
}
