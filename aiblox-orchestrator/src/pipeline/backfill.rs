//! The embedding backfill, in the background: claims items whose current content has no
//! vectors for the service's chunker and model (the contract hands each item to one replica at a time),
//! chunks them into the chunk cache, embeds every chunk and stores the vectors. Changed items
//! are claimed again for their new content; deleted items take their vectors with them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aiblox_embed::{EmbedError, Embedder};
use aiblox_kb::{ChunkCacheRepo, EmbeddingRepo, KbPool, NewEmbeddingSet};

use super::chunker::Chunker;

/// Items claimed at once: a claim's work takes a few seconds on two cores.
const ITEMS_PER_CLAIM: u32 = 4;
/// How long a claim holds before another replica may take it over.
const LEASE: Duration = Duration::from_secs(600);
/// Chunks embedded in one call: small batches keep questions from waiting long behind them.
const CHUNKS_PER_BATCH: usize = 8;
/// Pause when there is nothing to index, or after a failure.
const IDLE: Duration = Duration::from_secs(2);
/// How often the item counts are refreshed while there is work.
const COUNT_EVERY: Duration = Duration::from_secs(10);

/// Why one round of the backfill failed (it logs it and tries again).
#[derive(Debug, thiserror::Error)]
enum BackfillError {
    #[error(transparent)]
    Kb(#[from] aiblox_kb::Error),
    #[error(transparent)]
    Embed(#[from] EmbedError),
    #[error("the embedding task ended abnormally: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Progress, shared with `/v1/index` and the metrics.
#[derive(Debug, Default)]
pub(crate) struct BackfillProgress {
    /// Items in the knowledge base, at the last count.
    pub(crate) items: AtomicU64,
    /// Of them, indexed for the chunker and model, at the last count.
    pub(crate) indexed: AtomicU64,
    /// Items this replica embedded since it started.
    pub(crate) items_embedded: AtomicU64,
    /// Chunks this replica embedded since it started.
    pub(crate) chunks_embedded: AtomicU64,
    /// Microseconds this replica spent embedding.
    pub(crate) embedding_micros: AtomicU64,
    /// Whether the items were counted at least once.
    pub(crate) counted: std::sync::atomic::AtomicBool,
}

impl BackfillProgress {
    /// Indexed items as a share of all, at the last count (1 for an empty knowledge base, 0
    /// before the first count).
    pub(crate) fn coverage(&self) -> f64 {
        let items = self.items.load(Ordering::Relaxed);
        let indexed = self.indexed.load(Ordering::Relaxed);
        if !self.counted.load(Ordering::Relaxed) {
            0.0
        } else if items == 0 {
            1.0
        } else {
            indexed as f64 / items as f64
        }
    }
}

/// Embeds what lacks vectors, until dropped.
pub(crate) struct Backfill {
    pub(crate) pool: KbPool,
    pub(crate) chunker: Chunker,
    pub(crate) chunker_key: String,
    pub(crate) embedder: Arc<Embedder>,
    pub(crate) progress: Arc<BackfillProgress>,
}

impl Backfill {
    /// Runs for as long as the task lives.
    pub(crate) async fn run(self) {
        let model = self.embedder.key().to_owned();
        tracing::info!(model = %model, chunker = %self.chunker_key, "embedding backfill started");
        let mut counted: Option<Instant> = None;
        loop {
            if counted.is_none_or(|at| at.elapsed() >= COUNT_EVERY) {
                self.count().await;
                counted = Some(Instant::now());
            }
            match self.round().await {
                Ok(0) => {
                    self.count().await;
                    counted = Some(Instant::now());
                    tokio::time::sleep(IDLE).await;
                }
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(error = %err, "embedding backfill failed; retrying");
                    tokio::time::sleep(IDLE).await;
                }
            }
        }
    }

    /// Refreshes the item counts.
    async fn count(&self) {
        match EmbeddingRepo::new(&self.pool)
            .progress(&self.chunker_key, self.embedder.key())
            .await
        {
            Ok(progress) => {
                self.progress.items.store(progress.items, Ordering::Relaxed);
                self.progress
                    .indexed
                    .store(progress.indexed, Ordering::Relaxed);
                self.progress.counted.store(true, Ordering::Relaxed);
            }
            Err(err) => tracing::warn!(error = %err, "counting indexed items failed"),
        }
    }

    /// Claims, chunks, embeds and stores one batch of items; returns how many were claimed.
    async fn round(&self) -> Result<usize, BackfillError> {
        let model = self.embedder.key();
        let vectors = EmbeddingRepo::new(&self.pool);
        let claims = vectors
            .claim(&self.chunker_key, model, ITEMS_PER_CLAIM, LEASE)
            .await?;
        if claims.is_empty() {
            return Ok(0);
        }
        let ids: Vec<i64> = claims.iter().map(|claim| claim.item_id).collect();
        // Deleted since claimed: nothing to do (their claims went with them).
        let items = super::lexical::items_now(&self.pool)
            .await?
            .get_many(&ids)
            .await?;
        let sets: Vec<_> = items
            .iter()
            .flatten()
            .filter_map(|item| self.chunker.chunk_set(item))
            .collect();
        ChunkCacheRepo::new(&self.pool)
            .put(&self.chunker_key, &sets)
            .await?;
        let started = Instant::now();
        let mut embedded = Vec::with_capacity(sets.len());
        let mut chunks = 0;
        for set in &sets {
            let texts: Vec<String> = set.chunks.iter().map(|chunk| chunk.text.clone()).collect();
            let mut set_vectors = Vec::with_capacity(texts.len());
            for batch in texts.chunks(CHUNKS_PER_BATCH) {
                let batch = batch.to_vec();
                let embedder = Arc::clone(&self.embedder);
                let batch_vectors = tokio::task::spawn_blocking(move || {
                    let refs: Vec<&str> = batch.iter().map(String::as_str).collect();
                    embedder.embed(&refs)
                })
                .await??;
                set_vectors.extend(batch_vectors);
            }
            chunks += set_vectors.len();
            embedded.push(NewEmbeddingSet {
                item_id: set.item_id,
                content_hash: set.content_hash,
                vectors: set_vectors,
            });
        }
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        vectors.put(&self.chunker_key, model, &embedded).await?;
        // Done also for items without chunks; an item changed meanwhile stays claimable for
        // its new content (its vectors were not written: the put checks the content hash).
        vectors.finish(&self.chunker_key, model, &claims).await?;
        let progress = &self.progress;
        progress
            .items_embedded
            .fetch_add(embedded.len() as u64, Ordering::Relaxed);
        progress
            .chunks_embedded
            .fetch_add(chunks as u64, Ordering::Relaxed);
        progress
            .embedding_micros
            .fetch_add(micros, Ordering::Relaxed);
        tracing::debug!(items = claims.len(), chunks, "indexed");
        Ok(claims.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coverage_is_zero_until_counted_then_the_indexed_share() {
        let progress = BackfillProgress::default();
        assert_eq!(progress.coverage(), 0.0, "not counted yet");
        progress.counted.store(true, Ordering::Relaxed);
        assert_eq!(
            progress.coverage(),
            1.0,
            "an empty knowledge base is covered"
        );
        progress.items.store(40, Ordering::Relaxed);
        progress.indexed.store(38, Ordering::Relaxed);
        assert_eq!(progress.coverage(), 0.95);
    }
}
