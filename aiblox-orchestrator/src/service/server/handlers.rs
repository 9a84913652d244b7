//! The handlers of the routes: query, item, sources, index, health, readiness, metrics, the
//! API description; and what they answer for any door (`answer`, `read_item`,
//! `list_sources`), which the MCP server calls too.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::errors::{ApiError, BodyLimit};
use super::state::AppState;
use crate::protocol::{
    ErrorCode, IndexCoverage, ItemResponse, QueryRequest, QueryResponse, SourceSummary,
    SourcesResponse,
};
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
    let caller = caller.map(|Extension(caller)| caller);
    Ok(Json(answer(&state, caller.as_ref(), request).await?).into_response())
}

/// `request` asked by `caller` (`None`: the service has no keys): validated, narrowed to the
/// caller's sources and filter, answered. Every door (HTTP, MCP) asks through here.
pub(super) async fn answer(
    state: &AppState,
    caller: Option<&Caller>,
    request: QueryRequest,
) -> Result<QueryResponse, ApiError> {
    let mut query = request.validate(&state.limits, &state.retrieval)?;
    // A valid request, narrowed to the caller's sources.
    if let Some(caller) = caller {
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
    Ok(response)
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
             external id, GET /v1/items/{source}/{external_id}",
        )
    })?;
    let caller = caller.map(|Extension(caller)| caller);
    let item = read_item(&state, caller.as_ref(), ItemKey::Id(id)).await?;
    Ok(Json(item).into_response())
}

/// How an item is named: by its id, or by its source and external id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ItemKey {
    Id(i64),
    SourceAndExternalId(String, String),
}

impl std::fmt::Display for ItemKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ItemKey::Id(id) => write!(f, "id {id}"),
            ItemKey::SourceAndExternalId(source, external_id) => {
                write!(f, "source {source:?} and external id {external_id:?}")
            }
        }
    }
}

/// The item `key` names, when `caller` may read it. An item outside the caller's sources or
/// filter is answered as missing: its existence is not told.
pub(super) async fn read_item(
    state: &AppState,
    caller: Option<&Caller>,
    key: ItemKey,
) -> Result<ItemResponse, ApiError> {
    let items = crate::pipeline::lexical::items_now(&state.pool).await?;
    // The items the caller's key keeps, when it is bound to a filter.
    let within = match caller.and_then(|caller| caller.filter.as_ref()) {
        Some(filter) => Some(items.matching(filter).await?),
        None => None,
    };
    let readable = |source: &str, id: i64| {
        caller.is_none_or(|caller| caller.may_read(source))
            && within.as_ref().is_none_or(|within| within.contains(id))
    };
    let found = match &key {
        ItemKey::Id(id) => items.get(*id).await?,
        ItemKey::SourceAndExternalId(source, external_id) => {
            items.get_by_key(source, external_id).await?
        }
    };
    match found {
        Some(item) if readable(&item.source, item.id) => Ok(ItemResponse::from(item)),
        _ => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            format!("no item with {key}"),
        )),
    }
}

pub(super) async fn sources(
    State(state): State<Arc<AppState>>,
    caller: Option<Extension<Caller>>,
) -> Result<Json<SourcesResponse>, ApiError> {
    let caller = caller.map(|Extension(caller)| caller);
    Ok(Json(list_sources(&state, caller.as_ref()).await?))
}

/// The sources `caller` may read, with their item counts, and the dense leg's coverage. For a
/// key bound to a filter, only the sources that hold items its filter keeps, each counted
/// within the filter (one filter match per source), and no corpus-wide coverage: nothing
/// tells of items it may not read.
pub(super) async fn list_sources(
    state: &AppState,
    caller: Option<&Caller>,
) -> Result<SourcesResponse, ApiError> {
    let items = crate::pipeline::lexical::items_now(&state.pool).await?;
    let counts = items.source_counts().await?;
    let readable = counts
        .into_iter()
        .filter(|(source, _)| caller.is_none_or(|caller| caller.may_read(source)));
    let filter = caller.and_then(|caller| caller.filter.as_ref());
    let mut sources = Vec::new();
    for (source, all) in readable {
        let items = match filter {
            None => all,
            Some(filter) => {
                let in_source = aiblox_kb::ItemFilter::And(vec![
                    filter.clone(),
                    aiblox_kb::ItemFilter::Where(
                        aiblox_kb::ItemField::Source,
                        aiblox_kb::FieldTest::Equals(aiblox_kb::FilterValue::Text(source.clone())),
                    ),
                ]);
                let kept = items.matching(&in_source).await?.len() as i64;
                if kept == 0 {
                    continue;
                }
                kept
            }
        };
        sources.push(SourceSummary { source, items });
    }
    let index = state
        .dense_report()
        .filter(|_| filter.is_none())
        .map(|report| IndexCoverage {
            items: report.items,
            indexed: report.indexed,
        });
    Ok(SourcesResponse { sources, index })
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
