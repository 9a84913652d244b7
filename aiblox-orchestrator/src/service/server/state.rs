//! What every handler shares (the pool, the pipeline, the dense leg, the keys, the last
//! readiness check) and the background tasks that keep it current.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aiblox_kb::{ItemRepo, KbConfig, KbPool, Migrator};

use aiblox_embed::{BatchingEmbedder, Embedder};

use crate::config::{Limits, RetrievalSettings};
use crate::pipeline::Pipeline;
use crate::pipeline::backfill::{Backfill, BackfillProgress};
use crate::pipeline::chunker::Chunker;
use crate::pipeline::dense::DenseLeg;
use crate::pipeline::lexical::{BM25, LexicalLeg};
use crate::pipeline::vectors::ChunkVectors;
use crate::service::access::Access;
use crate::service::config::Settings;
use crate::service::observability::{DenseReport, Metrics};

/// What every handler shares.
#[derive(Debug)]
pub struct AppState {
    /// The pool of the knowledge base.
    pub(crate) pool: KbPool,
    /// The contract configuration (for the readiness check).
    pub(crate) database: KbConfig,
    /// The question's path.
    pub(crate) pipeline: Pipeline,
    /// Metrics.
    pub(crate) metrics: Arc<Metrics>,
    /// The request limits (the longest query, the time budget of one).
    pub(crate) limits: Limits,
    /// Retrieval settings (what a request leaves to the server).
    pub(crate) retrieval: RetrievalSettings,
    /// The embedding model, the vectors in memory and the backfill's progress (`None`:
    /// lexical retrieval only).
    pub(crate) embedding: Option<EmbeddingModel>,
    /// The API keys in force (`None`: anonymous access).
    pub(crate) access: Option<Arc<Access>>,
    /// Whether the service serves anonymous callers on loopback only (no keys, a loopback
    /// listener): then `/mcp` checks that the `Host` header names loopback.
    pub(crate) loopback_only: bool,
    /// The last readiness check: when, and what it found.
    readiness: std::sync::Mutex<Option<(Instant, Result<serde_json::Value, String>)>>,
}

/// How old a readiness check `/readyz` may answer from.
const READINESS_MAX_AGE: Duration = Duration::from_secs(3);
/// How often the background readiness check pings the database.
const READINESS_INTERVAL: Duration = Duration::from_secs(1);
/// How often the background readiness check reads the contract's history.
const CONTRACT_CHECK_INTERVAL: Duration = Duration::from_secs(5);
/// How often the service merges the lexical index's postings (items written since the last
/// merge cost every search more until then).
const POSTINGS_MERGE_INTERVAL: Duration = Duration::from_secs(10);

/// The embedding model and what the dense leg's background tasks work with.
#[derive(Debug)]
pub(crate) struct EmbeddingModel {
    pub(super) embedder: Arc<Embedder>,
    vectors: Arc<ChunkVectors>,
    progress: Arc<BackfillProgress>,
    chunker: Chunker,
    pub(super) chunker_key: String,
}

impl EmbeddingModel {
    /// Loads the model in `dir`; no vectors in memory yet.
    fn load(
        settings: &Settings,
        dir: &std::path::Path,
        chunker: Chunker,
    ) -> Result<Self, SetupError> {
        let embedder = Arc::new(Embedder::load(dir)?);
        tracing::info!(model = %embedder.key(), "embedding model loaded");
        Ok(EmbeddingModel {
            vectors: Arc::new(ChunkVectors::new(
                embedder.dimensions(),
                settings.embedding.precision,
            )),
            embedder,
            progress: Arc::default(),
            chunker,
            chunker_key: chunker.key(),
        })
    }

    /// The pipeline's dense leg over this model: question batches on a worker per core.
    fn dense_leg(&self) -> Result<DenseLeg, SetupError> {
        Ok(DenseLeg {
            embedder: BatchingEmbedder::start(
                self.embedder.clone(),
                QUESTION_BATCH,
                std::thread::available_parallelism().map_or(1, usize::from),
            )?,
            vectors: self.vectors.clone(),
            progress: self.progress.clone(),
        })
    }
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
        let metrics = Arc::new(match settings.embedding.model {
            Some(_) => Metrics::default().with_dense_gauges(),
            None => Metrics::default(),
        });
        let retrieval = &settings.retrieval;
        let chunker = Chunker::new(retrieval.chunk_max_bytes, retrieval.chunk_overlap_bytes);
        let embedding = match &settings.embedding.model {
            Some(dir) => Some(EmbeddingModel::load(settings, dir, chunker)?),
            None => None,
        };
        let dense = embedding
            .as_ref()
            .map(EmbeddingModel::dense_leg)
            .transpose()?;
        let lexical = LexicalLeg::new(pool.clone(), retrieval.candidates, BM25);
        let budget = settings.limits.request_timeout();
        let pipeline = Pipeline::new(
            pool.clone(),
            lexical,
            chunker,
            budget,
            metrics.clone(),
            dense,
        );
        let access = match &settings.access.keys_file {
            Some(path) => Some(Arc::new(Access::open(path).map_err(SetupError::Access)?)),
            None => None,
        };
        Ok(AppState {
            readiness: std::sync::Mutex::default(),
            loopback_only: access.is_none() && settings.listen.ip().is_loopback(),
            access,
            pool,
            database: settings.database.clone(),
            pipeline,
            metrics,
            limits: settings.limits,
            retrieval: settings.retrieval,
            embedding,
        })
    }

    /// The dense leg's figures as of now (`None` without a model).
    pub(super) fn dense_report(&self) -> Option<DenseReport> {
        use std::sync::atomic::Ordering::Relaxed;
        let embedding = self.embedding.as_ref()?;
        let ((vectors, vector_bytes), batches) = self.pipeline.dense_sizes()?;
        let progress = &embedding.progress;
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

    /// Starts the dense leg's background tasks on the current runtime: the embedding backfill
    /// and the sync of the vectors in memory (nothing without a model). They run until
    /// aborted.
    pub fn start_indexing(&self) -> Vec<tokio::task::JoinHandle<()>> {
        let Some(embedding) = &self.embedding else {
            return Vec::new();
        };
        let backfill = Backfill {
            pool: self.pool.clone(),
            chunker: embedding.chunker,
            chunker_key: embedding.chunker_key.clone(),
            embedder: embedding.embedder.clone(),
            progress: embedding.progress.clone(),
        };
        let sync = embedding.vectors.clone().sync(
            self.pool.clone(),
            embedding.chunker_key.clone(),
            embedding.embedder.key().to_owned(),
            VECTOR_SYNC_INTERVAL,
        );
        vec![tokio::spawn(backfill.run()), tokio::spawn(sync)]
    }

    /// Merges the lexical index's stored postings at start and then every
    /// `POSTINGS_MERGE_INTERVAL` (10 s), so that items any writer added (fresh ones, whose
    /// postings a search computes from their search vectors) stop costing searches more;
    /// with nothing to merge, that is two short statements. A merge that fails is logged and
    /// tried again next time. Runs until aborted.
    pub fn merge_postings_in_background(&self) -> tokio::task::JoinHandle<()> {
        let pool = self.pool.clone();
        tokio::spawn(async move {
            loop {
                if let Err(err) = ItemRepo::new(&pool).merge_postings().await {
                    tracing::warn!(
                        error = %err,
                        retry_in_s = POSTINGS_MERGE_INTERVAL.as_secs(),
                        "merging the lexical index's postings failed"
                    );
                }
                tokio::time::sleep(POSTINGS_MERGE_INTERVAL).await;
            }
        })
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
    pub(super) async fn readiness(&self) -> Result<serde_json::Value, String> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::config::Overrides;

    /// `/readyz` answers from a recent check without touching the database, and checks again
    /// once the last check is too old. (The database here does not exist: a check fails.)
    #[tokio::test]
    async fn readiness_answers_from_a_recent_check_and_checks_again_when_it_is_old() {
        let settings = Settings::resolve(
            &Overrides::default()
                .set(
                    "database.url",
                    "postgresql://app@%2Fnonexistent%2Faiblox/kb",
                )
                .set("pool.connect_timeout_ms", "200"),
        )
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
