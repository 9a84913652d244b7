//! The dense leg: the question's embedding (questions queue for the model, concurrent ones in
//! one batch) and the items whose chunk vectors in memory are nearest to it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use aiblox_embed::{BatchingEmbedder, EmbedError};
use aiblox_kb::{ItemRepo, KbPool};

use super::backfill::BackfillProgress;
use super::fusion::DenseFound;
use super::lexical::Candidate;
use super::narrowing::Narrowing;
use super::vectors::ChunkVectors;
use crate::service::observability::Metrics;

/// Share of the items that must have vectors before queries that name no `mode` are hybrid:
/// a dense leg that knows only part of the corpus ranks that part too high (on a demo that
/// has embedded its first 40 pages, every question's best dense hits were among them).
pub(crate) const HYBRID_COVERAGE: f64 = 0.95;

/// The model (questions queue for it), the chunk vectors in memory, and how much of the
/// corpus the backfill has embedded.
#[derive(Debug)]
pub(crate) struct DenseLeg {
    /// Embeds questions, concurrent ones in one batch.
    pub(crate) embedder: BatchingEmbedder,
    /// The corpus' chunk vectors.
    pub(crate) vectors: Arc<ChunkVectors>,
    /// How much of the corpus has vectors.
    pub(crate) progress: Arc<BackfillProgress>,
}

impl DenseLeg {
    /// Whether the vectors cover enough of the corpus for hybrid to be the default mode.
    pub(crate) fn covers_the_corpus(&self) -> bool {
        self.progress.coverage() >= HYBRID_COVERAGE
    }

    /// The question's unit vector (timed as stage `embed`).
    pub(crate) async fn embed(
        &self,
        question: &str,
        metrics: &Metrics,
    ) -> Result<Vec<f32>, EmbedError> {
        let started = Instant::now();
        let vector = self.embedder.embed(question.to_owned()).await;
        metrics.observe_stage("embed", started.elapsed());
        vector
    }

    /// The best `limit` items for `question` (only of `sources` when given; the scan is timed
    /// as stage `dense_search`), with the heads of those the lexical leg did not find (`known`).
    pub(crate) async fn search(
        &self,
        pool: &KbPool,
        question: &[f32],
        narrowing: Narrowing<'_>,
        limit: usize,
        known: &[Candidate],
        metrics: &Metrics,
    ) -> Result<DenseFound, aiblox_kb::Error> {
        let searching = Instant::now();
        let hits = self.vectors.search(question, narrowing, limit);
        metrics.observe_stage("dense_search", searching.elapsed());
        let unknown: Vec<i64> = hits
            .iter()
            .map(|hit| hit.item_id)
            .filter(|id| !known.iter().any(|c| c.id == *id))
            .collect();
        let heads: HashMap<i64, Candidate> = ItemRepo::new(pool)
            .heads(&unknown)
            .await?
            .into_iter()
            .map(|head| (head.id, head))
            .collect();
        Ok(DenseFound { hits, heads })
    }
}
