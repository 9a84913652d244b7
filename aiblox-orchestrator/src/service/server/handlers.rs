//! The handlers of the routes: query, item, index, health, readiness, metrics, the API
//! description.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::errors::{ApiError, BodyLimit};
use super::state::AppState;
use crate::protocol::{ErrorCode, QueryRequest};
use crate::service::access::Caller;

pub(super) async fn query(
    State(state): State<Arc<AppState>>,
    caller: Option<Extension<Caller>>,
    limit: Option<Extension<BodyLimit>>,
    body: Result<Json<QueryRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let limit = limit.map(|Extension(limit)| limit);
    let Json(request) =
        body.map_err(|rejection| ApiError::from_json_rejection(rejection, limit))?;
    let mut query = request.validate(&state.limits, &state.retrieval)?;
    // A valid request, narrowed to the caller's sources.
    if let Some(Extension(caller)) = &caller {
        query.sources = caller.scope(query.sources.take()).map_err(|message| {
            ApiError::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden, message)
        })?;
        query.filter = caller.narrow(query.filter.take());
    }
    let response = state.pipeline.answer(&query).await?;
    tracing::info!(
        route = response.route.as_str(),
        candidates = response.stats.candidates,
        evidence = response.evidence.len(),
        "query answered"
    );
    Ok(Json(response).into_response())
}

pub(super) async fn item(
    State(state): State<Arc<AppState>>,
    caller: Option<Extension<Caller>>,
    id: Result<Path<i64>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(id) = id.map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidRequest,
            "an item id is an integer (GET /v1/items/{id}); to name an item by its source and \
             external id, query `source:external_id` with POST /v1/query",
        )
    })?;
    let items = crate::pipeline::lexical::items_now(&state.pool).await?;
    // The items the caller's key keeps, when it is bound to a filter.
    let within = match caller
        .as_ref()
        .and_then(|Extension(caller)| caller.filter.as_ref())
    {
        Some(filter) => Some(items.matching(filter).await?),
        None => None,
    };
    let readable = |source: &str, id: i64| {
        caller
            .as_ref()
            .is_none_or(|Extension(caller)| caller.may_read(source))
            && within.as_ref().is_none_or(|within| within.contains(id))
    };
    // An item outside the caller's sources or filter is answered as missing: its existence is
    // not told.
    match items.get(id).await? {
        Some(item) if readable(&item.source, item.id) => {
            Ok(Json(crate::protocol::ItemResponse::from(item)).into_response())
        }
        _ => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            format!("no item with id {id}"),
        )),
    }
}

/// How far the dense leg's vectors cover the knowledge base (counted by the backfill every
/// few seconds while idle), and what this replica holds and did.
pub(super) async fn index(State(state): State<Arc<AppState>>) -> Json<serde_json::Value> {
    let mode = state.pipeline.default_mode().as_str();
    let (Some(embedding), Some(report)) = (&state.embedding, state.dense_report()) else {
        return Json(serde_json::json!({
            "model": null,
            "mode": mode,
            "message": "no embedding model: lexical retrieval only (set AIBLOX_EMBEDDING_MODEL)",
        }));
    };
    Json(serde_json::json!({
        "model": embedding.embedder.key(),
        "chunker": embedding.chunker_key,
        "mode": mode,
        "items": report.items,
        "indexed": report.indexed,
        "vectors_in_memory": report.vectors,
        "vector_bytes_in_memory": report.vector_bytes,
        "embedded_here": {
            "items": report.items_embedded,
            "chunks": report.chunks_embedded,
            "seconds": report.embedding_seconds,
        },
    }))
}

pub(super) async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// Ready when the database answers and its contract is one this build can work with: the
/// answer of the last check (run every second in the background, so probes cost the database
/// nothing), or of a check made now when that one is older than [`READINESS_MAX_AGE`].
pub(super) async fn readyz(
    State(state): State<Arc<AppState>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let mut ready = state.readiness().await.map_err(|message| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Unavailable,
            message,
        )
    })?;
    ready["retrieval"] = state.pipeline.default_mode().as_str().into();
    ready["embedding_model"] = state
        .embedding
        .as_ref()
        .map(|embedding| embedding.embedder.key())
        .into();
    Ok(Json(ready))
}

pub(super) async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let body = state.metrics.render(
        &state.pool,
        state.pipeline.passage_store_sizes(),
        state.dense_report(),
    );
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

pub(super) async fn openapi() -> Json<serde_json::Value> {
    Json(crate::service::openapi::document())
}
