//! Items written through the service: `PUT` and `DELETE /v1/items/{source}/{external_id}` (and
//! `GET`, the item by its key),
//! `POST /v1/items` (a batch, one transaction), and `GET /v1/sources/{source}/items` (a
//! source's items as digests, page by page, for a client that keeps it in sync). Every write
//! goes through the contract's `ItemRepo` (an item's index entries, cached chunks and vectors
//! go with it); only keys with the `write` permission write, within their sources.

use std::sync::Arc;

use aiblox_kb::{
    FieldTest, FilterValue, ItemField, ItemFilter, ItemRepo, NewItem, UpsertOutcome, UpsertStatus,
};
use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::errors::{ApiError, BodyLimit};
use super::handlers::ItemKey;
use super::state::AppState;
use crate::protocol::{
    BatchWrite, BatchWritten, ErrorCode, ItemWrite, ItemWritten, MAX_BATCH_ITEMS, MAX_LISTED_ITEMS,
    SourceItem, SourceItems, SourceItemsQuery, WriteStatus,
};
use crate::service::access::{Caller, WriteRefusal};

/// Whether `caller` may write items of `source`: with a key, its `write` permission and scope;
/// without keys, only on a service that serves loopback alone.
pub(super) fn may_write(
    state: &AppState,
    caller: Option<&Caller>,
    source: &str,
) -> Result<(), ApiError> {
    match caller {
        Some(caller) => caller.may_write(source).map_err(|refusal| match refusal {
            WriteRefusal::Permission(message) => {
                ApiError::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden, message)
            }
            WriteRefusal::OutOfScope => missing_source(source),
        }),
        None if state.loopback_only => Ok(()),
        None => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            "anonymous callers may write only to a service on loopback: give the service API \
             keys (`keys new --write`)",
        )),
    }
}

/// What a caller is told of a source outside its scope: as of one that holds nothing.
fn missing_source(source: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        ErrorCode::NotFound,
        format!("no source {source:?} you may write or list"),
    )
}

fn status_of(status: UpsertStatus) -> WriteStatus {
    match status {
        UpsertStatus::Inserted => WriteStatus::Inserted,
        UpsertStatus::Updated => WriteStatus::Updated,
        UpsertStatus::Unchanged => WriteStatus::Unchanged,
    }
}

fn new_item(source: String, external_id: String, write: ItemWrite) -> NewItem {
    NewItem {
        source,
        external_id,
        title: write.title,
        content: write.content,
        metadata: write
            .metadata
            .map_or_else(|| serde_json::json!({}), serde_json::Value::Object),
        page_starts: write.page_starts,
    }
}

/// A path that names an item by source and external id; why not.
fn item_path(
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<(String, String), ApiError> {
    path.map(|Path(key)| key).map_err(|rejection| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidRequest,
            format!("{rejection}: name the item as /v1/items/{{source}}/{{external_id}}"),
        )
    })
}

pub(super) async fn put_item(
    State(state): State<Arc<AppState>>,
    caller: Option<Extension<Caller>>,
    limit: Option<Extension<BodyLimit>>,
    path: Result<Path<(String, String)>, PathRejection>,
    body: Result<Json<ItemWrite>, JsonRejection>,
) -> Result<Response, ApiError> {
    let (source, external_id) = item_path(path)?;
    let caller = caller.map(|Extension(caller)| caller);
    may_write(&state, caller.as_ref(), &source)?;
    let Json(write) = body.map_err(|rejection| {
        ApiError::from_json_rejection(rejection, limit.map(|Extension(limit)| limit))
    })?;
    let written = put(&state, caller.as_ref(), source, external_id, write).await?;
    let position = written.position.clone().unwrap_or_default();
    Ok(with_position(Json(written).into_response(), &position))
}

/// The header that carries the knowledge base's position after a write (the body's
/// `position` too, where there is a body).
const POSITION_HEADER: &str = "x-aiblox-position";

/// `response` with the position header.
fn with_position(mut response: Response, position: &str) -> Response {
    if let Ok(value) = axum::http::HeaderValue::from_str(position) {
        response.headers_mut().insert(POSITION_HEADER, value);
    }
    response
}

/// The knowledge base's position now (after a write): what a query's `after` takes.
async fn position_now(state: &AppState) -> Result<String, ApiError> {
    Ok(state.pool.position().await?.to_string())
}

/// Writes one item for `caller`: created, or replaced. Every door (HTTP, MCP) writes through
/// here.
pub(super) async fn put(
    state: &AppState,
    caller: Option<&Caller>,
    source: String,
    external_id: String,
    write: ItemWrite,
) -> Result<ItemWritten, ApiError> {
    may_write(state, caller, &source)?;
    let item = new_item(source, external_id, write);
    let outcome = upsert(state, caller, std::slice::from_ref(&item)).await?;
    Ok(ItemWritten {
        index: 0,
        id: outcome[0].id,
        source: item.source,
        external_id: item.external_id,
        status: status_of(outcome[0].status),
        position: Some(position_now(state).await?),
    })
}

pub(super) async fn get_item(
    State(state): State<Arc<AppState>>,
    caller: Option<Extension<Caller>>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Response, ApiError> {
    let (source, external_id) = item_path(path)?;
    let caller = caller.map(|Extension(caller)| caller);
    let key = ItemKey::SourceAndExternalId(source, external_id);
    let item = super::handlers::read_item(&state, caller.as_ref(), key).await?;
    Ok(Json(item).into_response())
}

pub(super) async fn delete_item(
    State(state): State<Arc<AppState>>,
    caller: Option<Extension<Caller>>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Response, ApiError> {
    let (source, external_id) = item_path(path)?;
    let caller = caller.map(|Extension(caller)| caller);
    delete(&state, caller.as_ref(), &source, &external_id).await?;
    let position = position_now(&state).await?;
    Ok(with_position(
        StatusCode::NO_CONTENT.into_response(),
        &position,
    ))
}

/// Deletes one item for `caller`; an item outside its scope is answered as a missing one.
pub(super) async fn delete(
    state: &AppState,
    caller: Option<&Caller>,
    source: &str,
    external_id: &str,
) -> Result<(), ApiError> {
    let missing = || {
        let key = ItemKey::SourceAndExternalId(source.to_owned(), external_id.to_owned());
        ApiError::new(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            format!("no item with {key}"),
        )
    };
    may_write(state, caller, source).map_err(|error| match error.code() {
        ErrorCode::NotFound => missing(),
        _ => error,
    })?;
    let deleted = match caller.and_then(|caller| caller.filter.as_ref()) {
        None => {
            ItemRepo::new(&state.pool)
                .delete_by_key(source, external_id)
                .await?
        }
        Some(filter) => {
            // In one transaction: the item must be one the key's filter keeps.
            let mut connection = state.pool.get().await?;
            let transaction = connection.transaction().await?;
            let items = ItemRepo::new(&transaction);
            let key = [(source.to_owned(), external_id.to_owned())];
            let kept = !items.matching(&keyed(Some(filter), &key)).await?.is_empty();
            let deleted = kept && items.delete_by_key(source, external_id).await?;
            transaction.commit().await?;
            deleted
        }
    };
    if deleted { Ok(()) } else { Err(missing()) }
}

/// `items` written for `caller`: as they are, or for a key bound to a filter in one
/// transaction in which every item that exists must be one the filter keeps (else it is
/// answered as missing) and every item written must be one it keeps (else nothing is
/// written).
async fn upsert(
    state: &AppState,
    caller: Option<&Caller>,
    items: &[NewItem],
) -> Result<Vec<UpsertOutcome>, ApiError> {
    let Some(filter) = caller.and_then(|caller| caller.filter.as_ref()) else {
        return Ok(ItemRepo::new(&state.pool).upsert(items).await?);
    };
    let keys: Vec<(String, String)> = items
        .iter()
        .map(|item| (item.source.clone(), item.external_id.clone()))
        .collect();
    let mut connection = state.pool.get().await?;
    let transaction = connection.transaction().await?;
    let repo = ItemRepo::new(&transaction);
    let existing = repo.matching(&keyed(None, &keys)).await?;
    let kept = repo.matching(&keyed(Some(filter), &keys)).await?;
    if existing.ids().iter().any(|id| !kept.contains(*id)) {
        transaction.rollback().await?;
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            "no item you may write at a key given (an item there is outside the key's filter); \
             nothing was written",
        ));
    }
    let outcomes = repo.upsert(items).await?;
    let kept = repo.matching(&keyed(Some(filter), &keys)).await?;
    if let Some(index) = outcomes
        .iter()
        .position(|outcome| !kept.contains(outcome.id))
    {
        transaction.rollback().await?;
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            format!(
                "item {index} would not match the key's filter: a key bound to a filter writes \
                 only items it keeps; nothing was written"
            ),
        ));
    }
    transaction.commit().await?;
    Ok(outcomes)
}

/// The items of `keys` (source and external id), those `filter` keeps when given.
fn keyed(filter: Option<&ItemFilter>, keys: &[(String, String)]) -> ItemFilter {
    let text = |value: &String| FilterValue::Text(value.clone());
    let any_key = ItemFilter::Or(
        keys.iter()
            .map(|(source, external_id)| {
                ItemFilter::And(vec![
                    ItemFilter::Where(ItemField::Source, FieldTest::Equals(text(source))),
                    ItemFilter::Where(ItemField::ExternalId, FieldTest::Equals(text(external_id))),
                ])
            })
            .collect(),
    );
    match filter {
        Some(filter) => ItemFilter::And(vec![filter.clone(), any_key]),
        None => any_key,
    }
}

pub(super) async fn write_batch(
    State(state): State<Arc<AppState>>,
    caller: Option<Extension<Caller>>,
    limit: Option<Extension<BodyLimit>>,
    body: Result<Json<BatchWrite>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(batch) = body.map_err(|rejection| {
        ApiError::from_json_rejection(rejection, limit.map(|Extension(limit)| limit))
    })?;
    if batch.items.is_empty() || batch.items.len() > MAX_BATCH_ITEMS {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::InvalidRequest,
            format!(
                "a batch of {} items: send 1 to {MAX_BATCH_ITEMS}",
                batch.items.len()
            ),
        ));
    }
    let caller = caller.map(|Extension(caller)| caller);
    // Every item must be writable, or nothing is written.
    for (index, item) in batch.items.iter().enumerate() {
        may_write(&state, caller.as_ref(), &item.source).map_err(|error| {
            ApiError::new(
                if error.code() == ErrorCode::NotFound {
                    StatusCode::NOT_FOUND
                } else {
                    StatusCode::FORBIDDEN
                },
                error.code(),
                format!("item {index}: {}; nothing was written", error.message()),
            )
        })?;
    }
    let items: Vec<NewItem> = batch
        .items
        .into_iter()
        .map(|item| {
            let (source, external_id, write) = item.split();
            new_item(source, external_id, write)
        })
        .collect();
    let outcomes = upsert(&state, caller.as_ref(), &items).await?;
    let written: Vec<ItemWritten> = items
        .into_iter()
        .zip(outcomes)
        .enumerate()
        .map(|(index, (item, outcome))| ItemWritten {
            index,
            id: outcome.id,
            source: item.source,
            external_id: item.external_id,
            status: status_of(outcome.status),
            position: None,
        })
        .collect();
    let position = position_now(&state).await?;
    let answer = BatchWritten {
        items: written,
        position: position.clone(),
    };
    Ok(with_position(Json(answer).into_response(), &position))
}

pub(super) async fn list_source_items(
    State(state): State<Arc<AppState>>,
    caller: Option<Extension<Caller>>,
    source: Result<Path<String>, PathRejection>,
    query: Result<Query<SourceItemsQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Path(source) = source.map_err(|rejection| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidRequest,
            rejection.body_text(),
        )
    })?;
    let Query(query) = query.map_err(|rejection| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidRequest,
            format!(
                "{}: the parameters are `after` and `limit`",
                rejection.body_text()
            ),
        )
    })?;
    let caller = caller.map(|Extension(caller)| caller);
    if caller
        .as_ref()
        .is_some_and(|caller| !caller.may_read(&source))
    {
        return Err(missing_source(&source));
    }
    let limit = query.limit.unwrap_or(1000);
    if !(1..=MAX_LISTED_ITEMS).contains(&limit) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::InvalidRequest,
            format!("limit {limit}: 1 to {MAX_LISTED_ITEMS}"),
        ));
    }
    let items = crate::pipeline::lexical::items_now(&state.pool).await?;
    let within = match caller.as_ref().and_then(|caller| caller.filter.as_ref()) {
        Some(filter) => Some(items.matching(filter).await?),
        None => None,
    };
    let (listed, next) =
        visible_page(&items, &source, query.after, limit, within.as_deref()).await?;
    Ok(Json(SourceItems {
        items: listed,
        next,
    })
    .into_response())
}

/// One page of `source` as the caller sees it: up to `limit` items after `after` that `within`
/// keeps (all, without a filter), and where the next page starts. For a key bound to a filter,
/// pages of the source may hold none it keeps: they are read on, and `next` never names an
/// item it does not.
async fn visible_page(
    items: &ItemRepo<'_>,
    source: &str,
    after: Option<String>,
    limit: usize,
    within: Option<&aiblox_kb::ItemSet>,
) -> Result<(Vec<SourceItem>, Option<String>), ApiError> {
    let mut listed: Vec<SourceItem> = Vec::new();
    let mut after = after;
    let more = loop {
        let page = items
            .digests_of_source(source, after.as_deref(), limit)
            .await?;
        let full = page.len() == limit;
        after = page.last().map(|digest| digest.external_id.clone());
        listed.extend(
            page.into_iter()
                .filter(|digest| within.is_none_or(|within| within.contains(digest.id)))
                .map(|digest| SourceItem {
                    id: digest.id,
                    external_id: digest.external_id,
                    content_hash: hex::encode(digest.content_hash),
                    updated_at: digest.updated_at,
                }),
        );
        if listed.len() >= limit || !full {
            break full || listed.len() > limit;
        }
    };
    listed.truncate(limit);
    let next = (more && listed.len() == limit)
        .then(|| listed.last().map(|item| item.external_id.clone()))
        .flatten();
    Ok((listed, next))
}
