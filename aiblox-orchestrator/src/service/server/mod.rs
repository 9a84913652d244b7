//! The HTTP server (axum), in parts: `state` (what handlers share, background tasks),
//! `handlers` (the routes), `writes` (items written, deleted and listed for sync), `mcp` (the
//! Model Context Protocol server, at `/mcp` and over stdio), `layers` (request ids, logs, metrics, API keys), `errors` (the JSON error answers),
//! `startup` (build, serve, shutdown); the router is assembled here.

mod errors;
mod handlers;
mod layers;
mod mcp;
mod startup;
mod state;
mod writes;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, StatusCode};
use axum::middleware;
use axum::routing::{get, post, put};
use axum::{Extension, Router};
use tower_http::timeout::TimeoutLayer;

use errors::not_found;
use handlers::{healthz, index, item, metrics, openapi, query, readyz, sources};
use layers::{authorize, observe, writers_only};
pub use startup::{Application, serve_mcp_stdio, shutdown_signal};
pub use state::{AppState, SetupError};

/// Time beyond the query budget that a request may take as a whole (reading its body
/// included) before it is cut off with 408.
const SLOW_CLIENT_GRACE: Duration = Duration::from_secs(2);

/// The header carrying the request id, in and out.
static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The application's routes, without a socket (tests call it with `oneshot`).
pub fn app(state: Arc<AppState>, max_body_bytes: usize) -> Router {
    // The API proper asks for a key when the service has keys; health, readiness, metrics
    // and the API description stay open (docs/operations.md: keeping /metrics private).
    // Writes take bodies up to their own limit (a page, a batch of pages).
    let write_limit = state.limits.max_write_body_bytes;
    let writes = Router::new()
        .route(
            "/v1/items/{id}/{*external_id}",
            put(writes::put_item)
                .delete(writes::delete_item)
                .get(writes::get_item),
        )
        .route("/v1/items", post(writes::write_batch))
        .layer(DefaultBodyLimit::max(write_limit))
        .layer(Extension(errors::BodyLimit(
            write_limit,
            "limits.max_write_body_bytes",
        )))
        .route_layer(middleware::from_fn_with_state(state.clone(), writers_only));
    let api = Router::new()
        .merge(writes)
        .route("/v1/query", post(query))
        .route("/v1/items/{id}", get(item))
        .route("/v1/sources/{source}/items", get(writes::list_source_items))
        .route("/v1/index", get(index))
        .route("/v1/sources", get(sources))
        .route_service("/mcp", mcp::http_service(state.clone(), max_body_bytes))
        .route_layer(middleware::from_fn_with_state(state.clone(), authorize));
    Router::new()
        .merge(api)
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(Extension(errors::BodyLimit(
            max_body_bytes,
            "limits.max_body_bytes",
        )))
        // Bounds slow clients too: a body that never finishes arriving gets 408.
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            state.limits.request_timeout() + SLOW_CLIENT_GRACE,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}
