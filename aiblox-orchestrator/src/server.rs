//! The HTTP server (axum): routes, error responses, request ids and metrics, health and
//! readiness, graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aiblox_kb::{ItemRepo, KbConfig, KbPool, Migrator};
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, Extension, MatchedPath, Path, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use tokio::net::TcpListener;
use tower_http::timeout::TimeoutLayer;
use tracing::Instrument as _;

use aiblox_embed::{BatchingEmbedder, Embedder};

use crate::access::{Access, Caller};
use crate::chunker::Chunker;
use crate::config::Settings;
use crate::dense::DenseIndex;
use crate::indexer::{IndexProgress, Indexer};
use crate::observability::{self, DenseReport, Metrics};
use crate::orchestrator::{DenseLeg, Orchestrator, PipelineError};
use crate::protocol::{ErrorBody, ErrorCode, ErrorDetail, QueryRequest};
use crate::retriever::Retriever;

/// Time beyond the query budget that a request may take as a whole (reading its body
/// included) before it is cut off with 408.
const SLOW_CLIENT_GRACE: Duration = Duration::from_secs(2);

/// The header carrying the request id, in and out.
static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What every handler shares.
#[derive(Debug)]
pub struct AppState {
    /// The pool of the knowledge base.
    pub pool: KbPool,
    /// The contract configuration (for the readiness check).
    pub database: KbConfig,
    /// The pipeline.
    pub orchestrator: Orchestrator,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Longest query text.
    pub max_query_chars: usize,
    /// Default cap of passages per item.
    pub max_chunks_per_item: u32,
    /// The time budget of a query.
    pub request_timeout: Duration,
    /// The embedding model, the vectors in memory and the indexer's progress (`None`: lexical
    /// retrieval only).
    pub(crate) indexing: Option<Indexing>,
    /// The API keys in force (`None`: anonymous access).
    pub(crate) access: Option<Arc<Access>>,
    /// The last readiness check: when, and what it found.
    readiness: std::sync::Mutex<Option<(Instant, Result<serde_json::Value, String>)>>,
}

/// How old a readiness check `/readyz` may answer from.
const READINESS_MAX_AGE: Duration = Duration::from_secs(3);
/// How often the background readiness check pings the database.
const READINESS_INTERVAL: Duration = Duration::from_secs(1);
/// How often the background readiness check reads the contract's history.
const CONTRACT_CHECK_INTERVAL: Duration = Duration::from_secs(5);

/// What the dense leg's background tasks work with.
#[derive(Debug)]
pub(crate) struct Indexing {
    embedder: Arc<Embedder>,
    index: Arc<DenseIndex>,
    progress: Arc<IndexProgress>,
    chunker: Chunker,
    chunker_key: String,
}

/// Why the service could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The knowledge base's pool.
    #[error(transparent)]
    Kb(#[from] aiblox_kb::Error),
    /// The embedding model.
    #[error(transparent)]
    Model(#[from] aiblox_embed::EmbedError),
    /// The embedding worker thread.
    #[error("cannot start the embedding worker: {0}")]
    Worker(#[from] std::io::Error),
    /// The API keys file.
    #[error("{0}")]
    Access(String),
}

/// Questions embedded in one batch at most (there is a worker per core, each on one core).
/// Small batches stay in the core's cache: at 32 concurrent callers, batches of at most 8 gave
/// 258-299 questions/s on 2 cores against 219-265 for batches of up to 32 (the throughput
/// example, docs/benchmarks.md).
const QUESTION_BATCH: usize = 8;
/// How often the vectors in memory catch up with the knowledge base.
const VECTOR_SYNC_INTERVAL: Duration = Duration::from_secs(1);

impl AppState {
    /// The state for `settings`, with a pool that opens no connection until used, and the
    /// embedding model loaded when the settings name one ([`AppState::start_indexing`] starts
    /// its background tasks).
    pub fn new(settings: &Settings) -> Result<AppState, SetupError> {
        let pool = KbPool::builder(&settings.database)
            .max_size(settings.pool.max_size)
            .wait_timeout(settings.pool.wait_timeout())
            .connect_timeout(settings.pool.connect_timeout())
            .application_name("aiblox-orchestrator")
            .build()?;
        let metrics = if settings.embedding.model.is_some() {
            Arc::new(Metrics::default().with_dense_gauges())
        } else {
            Arc::new(Metrics::default())
        };
        let retriever = Retriever::new(
            pool.clone(),
            settings.retrieval.candidates,
            crate::retriever::BM25,
        );
        let chunker = Chunker::new(
            settings.retrieval.chunk_max_bytes,
            settings.retrieval.chunk_overlap_bytes,
        );
        let indexing = match &settings.embedding.model {
            Some(dir) => {
                let embedder = Arc::new(Embedder::load(dir)?);
                tracing::info!(model = %embedder.key(), "embedding model loaded");
                Some(Indexing {
                    index: Arc::new(DenseIndex::new(
                        embedder.dimensions(),
                        settings.embedding.precision,
                    )),
                    embedder,
                    progress: Arc::default(),
                    chunker,
                    chunker_key: chunker.key(),
                })
            }
            None => None,
        };
        let dense = match &indexing {
            Some(indexing) => Some(DenseLeg {
                embedder: BatchingEmbedder::start(
                    indexing.embedder.clone(),
                    QUESTION_BATCH,
                    std::thread::available_parallelism().map_or(1, usize::from),
                )?,
                index: indexing.index.clone(),
                progress: indexing.progress.clone(),
            }),
            None => None,
        };
        let orchestrator = Orchestrator::new(
            pool.clone(),
            retriever,
            chunker,
            settings.limits.request_timeout(),
            metrics.clone(),
            dense,
        );
        let access = match &settings.access.keys_file {
            Some(path) => Some(Arc::new(Access::open(path).map_err(SetupError::Access)?)),
            None => None,
        };
        Ok(AppState {
            readiness: std::sync::Mutex::default(),
            access,
            pool,
            database: settings.database.clone(),
            orchestrator,
            metrics,
            max_query_chars: settings.limits.max_query_chars,
            max_chunks_per_item: settings.retrieval.max_chunks_per_item,
            request_timeout: settings.limits.request_timeout(),
            indexing,
        })
    }

    /// The dense leg's figures as of now (`None` without a model).
    fn dense_report(&self) -> Option<DenseReport> {
        use std::sync::atomic::Ordering::Relaxed;
        let indexing = self.indexing.as_ref()?;
        let ((vectors, vector_bytes), batches) = self.orchestrator.dense_sizes()?;
        let progress = &indexing.progress;
        Some(DenseReport {
            items: progress.items.load(Relaxed),
            indexed: progress.indexed.load(Relaxed),
            items_embedded: progress.items_embedded.load(Relaxed),
            chunks_embedded: progress.chunks_embedded.load(Relaxed),
            embedding_seconds: progress.embedding_micros.load(Relaxed) as f64 / 1e6,
            vectors,
            vector_bytes,
            question_batches: batches.batches,
            questions: batches.texts,
        })
    }

    /// Starts the dense leg's background tasks on the current runtime: the indexer and the
    /// sync of the vectors in memory (nothing without a model). They run until aborted.
    pub fn start_indexing(&self) -> Vec<tokio::task::JoinHandle<()>> {
        let Some(indexing) = &self.indexing else {
            return Vec::new();
        };
        let indexer = Indexer {
            pool: self.pool.clone(),
            chunker: indexing.chunker,
            chunker_key: indexing.chunker_key.clone(),
            embedder: indexing.embedder.clone(),
            progress: indexing.progress.clone(),
        };
        let sync = indexing.index.clone().sync(
            self.pool.clone(),
            indexing.chunker_key.clone(),
            indexing.embedder.key().to_owned(),
            VECTOR_SYNC_INTERVAL,
        );
        vec![tokio::spawn(indexer.run()), tokio::spawn(sync)]
    }

    /// Whether the database answers (within 2 s), through a pooled connection.
    async fn ping_database(&self) -> Result<(), String> {
        match tokio::time::timeout(Duration::from_secs(2), self.pool.ping()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => Err(format!("database unreachable: {err}")),
            Err(_) => Err("database did not answer within 2 s".to_owned()),
        }
    }

    /// Whether the database's contract is one this build can work with (the migration
    /// history, read on a connection of its own), as `/readyz` reports it.
    async fn check_contract(&self) -> Result<serde_json::Value, String> {
        let migrator = Migrator::new(&self.database);
        let status = match tokio::time::timeout(Duration::from_secs(2), migrator.check()).await {
            Ok(Ok(status)) => status,
            Ok(Err(err)) => return Err(err.to_string()),
            Err(_) => return Err("contract check did not finish within 2 s".to_owned()),
        };
        Ok(serde_json::json!({
            "status": "ready",
            "schema": status.schema,
            "contract_version": status.contract_version,
            "compatibility": status.compatibility,
        }))
    }

    /// The last check if it is recent enough, else a check made now.
    async fn readiness(&self) -> Result<serde_json::Value, String> {
        let last = self
            .readiness
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        if let Some((at, result)) = last
            && at.elapsed() <= READINESS_MAX_AGE
        {
            return result;
        }
        let result = match self.ping_database().await {
            Ok(()) => self.check_contract().await,
            Err(err) => Err(err),
        };
        self.remember_readiness(result.clone());
        result
    }

    fn remember_readiness(&self, result: Result<serde_json::Value, String>) {
        *self
            .readiness
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((Instant::now(), result));
    }

    /// Checks readiness in the background, so that `/readyz` answers from a check at most a
    /// few seconds old and probes cost the database nothing: a ping on a pooled connection
    /// every second, and the contract check (a connection of its own) every
    /// `CONTRACT_CHECK_INTERVAL` (5 s). Runs until aborted.
    pub fn check_readiness_in_background(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let state = Arc::clone(self);
        tokio::spawn(async move {
            let mut contract: Option<(Instant, Result<serde_json::Value, String>)> = None;
            loop {
                let result = match state.ping_database().await {
                    Err(err) => Err(err),
                    Ok(()) => {
                        let due = contract
                            .as_ref()
                            .is_none_or(|(at, _)| at.elapsed() >= CONTRACT_CHECK_INTERVAL);
                        if due {
                            contract = Some((Instant::now(), state.check_contract().await));
                        }
                        contract
                            .as_ref()
                            .map_or_else(|| Err("not checked yet".to_owned()), |(_, r)| r.clone())
                    }
                };
                state.remember_readiness(result);
                tokio::time::sleep(READINESS_INTERVAL).await;
            }
        })
    }

    /// Re-reads the keys file on each SIGHUP, until aborted. A file that does not load leaves
    /// the keys in force, and the log says why. Without keys SIGHUP is still caught (its
    /// default would stop the service) and logged.
    pub fn reload_keys_on_hangup(&self) -> Option<tokio::task::JoinHandle<()>> {
        use tokio::signal::unix::{SignalKind, signal};
        let access = self.access.clone();
        let mut hangups = match signal(SignalKind::hangup()) {
            Ok(hangups) => hangups,
            Err(err) => {
                tracing::warn!(error = %err, "cannot watch SIGHUP: the keys file is read at start only");
                return None;
            }
        };
        Some(tokio::spawn(async move {
            while hangups.recv().await.is_some() {
                let Some(access) = &access else {
                    tracing::info!("SIGHUP: no keys file (AIBLOX_API_KEYS_FILE) to reload");
                    continue;
                };
                match access.reload() {
                    Ok(keys) => tracing::info!(keys, "SIGHUP: API keys reloaded"),
                    Err(err) => tracing::warn!(
                        error = %err,
                        keys = access.len(),
                        "SIGHUP: the keys file did not load; the keys in force stay"
                    ),
                }
            }
        }))
    }
}

/// The application's routes, without a socket (tests call it with `oneshot`).
pub fn app(state: Arc<AppState>, max_body_bytes: usize) -> Router {
    // The API proper asks for a key when the service has keys; health, readiness, metrics
    // and the API description stay open (docs/operations.md: keeping /metrics private).
    let api = Router::new()
        .route("/v1/query", post(query))
        .route("/v1/items/{id}", get(item))
        .route("/v1/index", get(index))
        .route_layer(middleware::from_fn_with_state(state.clone(), authorize));
    Router::new()
        .merge(api)
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        // Bounds slow clients too: a body that never finishes arriving gets 408.
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            state.request_timeout + SLOW_CLIENT_GRACE,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// An error response: status and `{"error": {"code", "message"}}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: ErrorCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let message = rejection.body_text();
        match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::PayloadTooLarge,
                "the request body is over the size limit",
            ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::UnsupportedMediaType,
                "send `Content-Type: application/json`",
            ),
            StatusCode::UNPROCESSABLE_ENTITY => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::InvalidRequest,
                message,
            ),
            _ => ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidJson, message),
        }
    }
}

impl From<PipelineError> for ApiError {
    fn from(err: PipelineError) -> Self {
        match err {
            PipelineError::Timeout(_) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Timeout,
                err.to_string(),
            ),
            PipelineError::NoModel(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::InvalidRequest,
                err.to_string(),
            ),
            PipelineError::Embed(err) => {
                tracing::error!(error = %err, "embedding the question failed");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ErrorCode::Internal,
                    "internal error; the request id in the logs has details",
                )
            }
            PipelineError::Kb(err) => err.into(),
        }
    }
}

impl From<aiblox_kb::Error> for ApiError {
    fn from(err: aiblox_kb::Error) -> Self {
        match err {
            aiblox_kb::Error::InvalidInput { message } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::InvalidRequest,
                message,
            ),
            aiblox_kb::Error::Unavailable { .. } | aiblox_kb::Error::Conflict { .. } => {
                tracing::warn!(error = %err, "knowledge base unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorCode::Unavailable,
                    "the knowledge base is unavailable; retry later",
                )
            }
            other => {
                tracing::error!(error = %other, "knowledge base error");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ErrorCode::Internal,
                    "internal error; the request id in the logs has details",
                )
            }
        }
    }
}

async fn query(
    State(state): State<Arc<AppState>>,
    caller: Option<Extension<Caller>>,
    body: Result<Json<QueryRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(mut request) = body?;
    if let Some(Extension(caller)) = &caller {
        request.sources = caller.scope(request.sources.take()).map_err(|message| {
            ApiError::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden, message)
        })?;
    }
    let query = request
        .validate(state.max_query_chars, state.max_chunks_per_item)
        .map_err(|message| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::InvalidRequest,
                message,
            )
        })?;
    let response = state.orchestrator.answer(&query).await?;
    tracing::info!(route = %response.route, candidates = response.stats.candidates, evidence = response.evidence.len(), "query answered");
    Ok(Json(response).into_response())
}

async fn item(
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
    let readable = |source: &str| {
        caller
            .as_ref()
            .is_none_or(|Extension(caller)| caller.may_read(source))
    };
    // An item outside the caller's sources is answered as missing: its existence is not told.
    match ItemRepo::new(&state.pool).get(id).await? {
        Some(item) if readable(&item.source) => {
            Ok(Json(crate::protocol::ItemResponse::from(item)).into_response())
        }
        _ => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            format!("no item with id {id}"),
        )),
    }
}

/// How far the dense leg's vectors cover the knowledge base (counted by the indexer every
/// few seconds while idle), and what this replica holds and did.
async fn index(State(state): State<Arc<AppState>>) -> Json<serde_json::Value> {
    let mode = state.orchestrator.default_mode().as_str();
    let (Some(indexing), Some(report)) = (&state.indexing, state.dense_report()) else {
        return Json(serde_json::json!({
            "model": null,
            "mode": mode,
            "message": "no embedding model: lexical retrieval only (set AIBLOX_EMBEDDING_MODEL)",
        }));
    };
    Json(serde_json::json!({
        "model": indexing.embedder.key(),
        "chunker": indexing.chunker_key,
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

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// Ready when the database answers and its contract is one this build can work with: the
/// answer of the last check (run every second in the background, so probes cost the database
/// nothing), or of a check made now when that one is older than [`READINESS_MAX_AGE`].
async fn readyz(State(state): State<Arc<AppState>>) -> Result<Json<serde_json::Value>, ApiError> {
    let mut ready = state.readiness().await.map_err(|message| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Unavailable,
            message,
        )
    })?;
    ready["retrieval"] = state.orchestrator.default_mode().as_str().into();
    ready["embedding_model"] = state
        .indexing
        .as_ref()
        .map(|indexing| indexing.embedder.key())
        .into();
    Ok(Json(ready))
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let body = state.metrics.render(
        &state.pool,
        state.orchestrator.chunk_store_sizes(),
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

async fn openapi() -> Json<serde_json::Value> {
    Json(crate::openapi::document())
}

/// With keys in force: the caller's bearer token must match a key (401 otherwise, with
/// `WWW-Authenticate`), and the key's rate limit must allow the request (429 with
/// `Retry-After` otherwise). The key's name goes into the request's log lines and metrics.
async fn authorize(
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
        let seconds = wait.as_secs_f64().ceil().max(1.0);
        let mut response = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::RateLimited,
            format!(
                "key {:?} is over its requests per second; retry after {seconds} s",
                caller.name
            ),
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

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        ErrorCode::NotFound,
        "no such endpoint; see /openapi.json",
    )
}

/// Request id (taken from `x-request-id` or made, and returned), a span for the request's
/// logs, a log line, and the latency histogram.
async fn observe(State(state): State<Arc<AppState>>, mut request: Request, next: Next) -> Response {
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
    if response.status().is_client_error() || response.status().is_server_error() {
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

/// An error answer made outside the handlers (routing, the timeout and body-limit layers)
/// given the API's JSON error body, its headers (`Allow`, ...) kept; handlers' own errors
/// pass unchanged.
fn in_api_words(response: Response, method: &str, path: &str) -> Response {
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/json"));
    if is_json {
        return response;
    }
    let status = response.status();
    let (code, message) = match status {
        StatusCode::METHOD_NOT_ALLOWED => (
            ErrorCode::MethodNotAllowed,
            format!("{method} is not allowed on {path}; the Allow header says what is"),
        ),
        StatusCode::REQUEST_TIMEOUT => (
            ErrorCode::RequestTimeout,
            "the request did not arrive in time; send the whole body at once".to_owned(),
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (
            ErrorCode::PayloadTooLarge,
            "the request body is over the size limit".to_owned(),
        ),
        _ if status.is_server_error() => (
            ErrorCode::Internal,
            "internal error; the request id in the logs has details".to_owned(),
        ),
        _ => (
            ErrorCode::InvalidRequest,
            status
                .canonical_reason()
                .unwrap_or("invalid request")
                .to_owned(),
        ),
    };
    let (parts, _) = response.into_parts();
    let mut answer = ApiError::new(status, code, message).into_response();
    for (name, value) in &parts.headers {
        if name != axum::http::header::CONTENT_TYPE && name != axum::http::header::CONTENT_LENGTH {
            answer.headers_mut().insert(name.clone(), value.clone());
        }
    }
    answer
}

/// A service bound to its listener, ready to run.
pub struct Application {
    listener: TcpListener,
    router: Router,
    pool: KbPool,
    /// The dense leg's background tasks, stopped with the service.
    background: Vec<tokio::task::JoinHandle<()>>,
}

impl Application {
    /// Migrates (or, with migrations off, checks the contract), then binds the listener
    /// (port 0 picks a free one).
    pub async fn build(settings: &Settings) -> anyhow::Result<Application> {
        tracing::info!(
            schema = settings.database.schema(),
            database = %settings.database.redacted_url(),
            "knowledge base"
        );
        if settings.migrate_on_start {
            let report = aiblox_kb::migrate(&settings.database).await?;
            tracing::info!(schema = %report.schema, applied = ?report.applied, "migrations done");
        } else {
            Migrator::new(&settings.database).check().await?;
        }
        let state = Arc::new(AppState::new(settings)?);
        tracing::info!(retrieval = %settings.retrieval_modes(), "retrieval");
        tracing::info!(access = %settings.access_mode(), keys = state.access.as_ref().map(|access| access.len()), "access");
        let mut background = state.start_indexing();
        background.extend(state.reload_keys_on_hangup());
        background.push(state.check_readiness_in_background());
        let pool = state.pool.clone();
        let router = app(state, settings.limits.max_body_bytes);
        let listener = TcpListener::bind(settings.listen)
            .await
            .map_err(|err| anyhow::anyhow!("cannot listen on {}: {err}", settings.listen))?;
        Ok(Application {
            listener,
            router,
            pool,
            background,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then stops accepting, lets in-flight requests
    /// finish, and closes the pool.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        tracing::info!(address = %self.listener.local_addr()?, "listening");
        let served = axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await;
        for task in &self.background {
            task.abort();
        }
        self.pool.close();
        tracing::info!("stopped");
        served
    }
}

/// Completes on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested: finishing in-flight requests");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Overrides;

    /// `/readyz` answers from a recent check without touching the database, and checks again
    /// once the last check is too old. (The database here does not exist: a check fails.)
    #[tokio::test]
    async fn readiness_answers_from_a_recent_check_and_checks_again_when_it_is_old() {
        let settings = Settings::resolve(&Overrides {
            database_url: Some("postgresql://app@%2Fnonexistent%2Faiblox/kb".to_owned()),
            numbers: vec![("AIBLOX_POOL_CONNECT_TIMEOUT_MS", "200".to_owned())],
            ..Overrides::default()
        })
        .unwrap();
        let state = AppState::new(&settings).unwrap();
        let recent = serde_json::json!({"status": "ready"});
        *state.readiness.lock().unwrap() = Some((Instant::now(), Ok(recent.clone())));
        assert_eq!(
            state.readiness().await,
            Ok(recent),
            "answered from the cache"
        );
        let old = Instant::now()
            .checked_sub(READINESS_MAX_AGE + Duration::from_secs(1))
            .unwrap();
        *state.readiness.lock().unwrap() = Some((old, Ok(serde_json::json!({}))));
        let checked = state.readiness().await.unwrap_err();
        assert!(checked.starts_with("database unreachable"), "{checked}");
        let (at, stored) = state.readiness.lock().unwrap().clone().unwrap();
        assert!(at > old && stored.is_err(), "the new check is kept");
    }
}
