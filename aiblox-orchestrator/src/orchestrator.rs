//! The query pipeline: route, retrieve candidates, chunk them through the chunk cache, score
//! the passages, all within the request's time budget.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aiblox_kb::{ChunkCacheRepo, KbChunkCache, KbPool, NewChunk, NewChunkSet};

use crate::chunker::Chunker;
use crate::evidence::{self, Passage};
use crate::observability::Metrics;
use crate::protocol::{Evidence, QueryResponse, Stats, ValidQuery};
use crate::retriever::{Candidate, Retriever};
use crate::router::Router;

/// Why a query got no answer.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The knowledge base failed.
    #[error(transparent)]
    Kb(#[from] aiblox_kb::Error),
    /// The time budget ran out.
    #[error("the query did not finish within its {0:?} budget")]
    Timeout(Duration),
}

/// Everything the pipeline needs; cheap to share.
#[derive(Debug)]
pub struct Orchestrator {
    pool: KbPool,
    router: Router,
    retriever: Retriever,
    chunker: Chunker,
    budget: Duration,
    metrics: Arc<Metrics>,
}

impl Orchestrator {
    /// A pipeline over `pool`.
    pub fn new(
        pool: KbPool,
        retriever: Retriever,
        chunker: Chunker,
        budget: Duration,
        metrics: Arc<Metrics>,
    ) -> Self {
        Orchestrator {
            pool,
            router: Router::standard(),
            retriever,
            chunker,
            budget,
            metrics,
        }
    }

    /// Answers one query, or gives up when the budget runs out.
    pub async fn answer(&self, query: &ValidQuery) -> Result<QueryResponse, PipelineError> {
        match tokio::time::timeout(self.budget, self.run(query)).await {
            Ok(result) => result,
            Err(_) => Err(PipelineError::Timeout(self.budget)),
        }
    }

    async fn run(&self, query: &ValidQuery) -> Result<QueryResponse, PipelineError> {
        let started = Instant::now();
        let (route, candidates) = self.router.route(&self.retriever, query).await?;
        self.metrics.observe_stage("retrieve", started.elapsed());

        let chunking = Instant::now();
        let (chunks, hits, misses) = self.chunks_of(&candidates).await?;
        self.metrics.observe_stage("chunk", chunking.elapsed());
        self.metrics.count_cache(hits, misses);

        let scoring = Instant::now();
        let candidates = &candidates;
        let passages: Vec<Passage<'_>> = chunks
            .iter()
            .enumerate()
            .flat_map(|(item, item_chunks)| {
                item_chunks.iter().map(move |chunk| Passage {
                    item,
                    item_rank: candidates[item].rank,
                    chunk: chunk.chunk_index as usize,
                    text: &chunk.text,
                })
            })
            .collect();
        let selected = evidence::select(
            &query.query,
            &passages,
            query.top_k,
            query.max_chunks_per_item,
        );
        let evidence = selected
            .into_iter()
            .map(|scored| {
                let passage = &passages[scored.passage];
                let item = &candidates[passage.item].item;
                let chunk = &chunks[passage.item][passage.chunk];
                Evidence {
                    item_id: item.id,
                    source: item.source.clone(),
                    external_id: item.external_id.clone(),
                    title: item.title.clone(),
                    chunk_index: chunk.chunk_index,
                    text: chunk.text.clone(),
                    start: chunk.start_offset,
                    end: chunk.end_offset,
                    score: (scored.score * 1e6).round() / 1e6,
                }
            })
            .collect();
        self.metrics.observe_stage("score", scoring.elapsed());

        Ok(QueryResponse {
            route: route.to_owned(),
            evidence,
            stats: Stats {
                candidates: candidates.len(),
                chunk_cache_hits: hits,
                chunk_cache_misses: misses,
                elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            },
        })
    }

    /// The chunks of every candidate, in candidate order: from the cache where it holds a
    /// set for the item's current content, else chunked now and written back in one round
    /// trip. Returns the chunks and the hit and miss counts.
    async fn chunks_of(
        &self,
        candidates: &[Candidate],
    ) -> Result<(Vec<Vec<KbChunkCache>>, usize, usize), aiblox_kb::Error> {
        let key = self.chunker.key();
        let cache = ChunkCacheRepo::new(&self.pool);
        let wanted: Vec<(i64, [u8; 32])> = candidates
            .iter()
            .map(|c| (c.item.id, c.item.content_hash))
            .collect();
        let mut cached = cache.get_many(&key, &wanted).await?;
        let mut sets = Vec::new();
        let mut chunks = Vec::with_capacity(candidates.len());
        let mut hits = 0;
        for candidate in candidates {
            if let Some(hit) = cached.remove(&candidate.item.id) {
                hits += 1;
                chunks.push(hit);
                continue;
            }
            let item = &candidate.item;
            let made: Vec<KbChunkCache> = self
                .chunker
                .split(&item.content)
                .into_iter()
                .enumerate()
                .map(|(index, chunk)| KbChunkCache {
                    item_id: item.id,
                    chunker_key: key.clone(),
                    chunk_index: index as u32,
                    chunk_count: 0,
                    content_hash: item.content_hash,
                    start_offset: chunk.range.start as u32,
                    end_offset: chunk.range.end as u32,
                    text: item.content[chunk.range].to_owned(),
                    token_count: chunk.token_count as u32,
                    created_at: item.updated_at,
                })
                .collect();
            if !made.is_empty() {
                sets.push(NewChunkSet {
                    item_id: item.id,
                    content_hash: item.content_hash,
                    chunks: made
                        .iter()
                        .map(|c| NewChunk {
                            start_offset: c.start_offset,
                            end_offset: c.end_offset,
                            text: c.text.clone(),
                            token_count: c.token_count,
                        })
                        .collect(),
                });
            }
            chunks.push(made);
        }
        let misses = candidates.len() - hits;
        if !sets.is_empty() {
            cache.put(&key, &sets).await?;
        }
        Ok((chunks, hits, misses))
    }
}
