//! The query pipeline: route, retrieve candidates (BM25 over the contract's lexical index),
//! score their cached chunks from the chunk cache's term statistics (chunking and caching the
//! ones not cached yet), read the text of the best only, all within the request's time budget.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aiblox_kb::{
    ChunkCacheRepo, ChunkSetTerms, ItemRepo, KbChunkCache, KbPool, NewChunk, NewChunkSet,
};

use crate::chunker::Chunker;
use crate::evidence::{self, Passage};
use crate::observability::Metrics;
use crate::protocol::{
    CandidateExplain, Evidence, EvidenceExplain, MatchedTerm, QueryExplain, QueryResponse, Stats,
    TermWeight, ValidQuery,
};
use crate::retriever::{Candidate, Retrieved, Retriever};
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
        let (route, mut retrieved) = self.router.route(&self.retriever, query).await?;
        self.metrics.observe_stage("retrieve", started.elapsed());

        let chunking = Instant::now();
        let (sets, hits, misses) = self.chunk_terms(&mut retrieved).await?;
        self.metrics.observe_stage("chunk", chunking.elapsed());
        self.metrics.count_cache(hits, misses);

        let scoring = Instant::now();
        let Retrieved { terms, candidates } = &retrieved;
        let passages = passages(candidates, &sets, terms.is_empty(), query.top_k);
        let page_scores: Vec<f64> = candidates.iter().map(|c| c.score).collect();
        let selected = evidence::select(
            &passages,
            &page_scores,
            terms,
            self.retriever.bm25(),
            query.top_k,
            query.max_chunks_per_item,
            query.min_score,
        );
        let wanted: Vec<(i64, u32, [u8; 32])> = selected
            .iter()
            .map(|scored| {
                let passage = &passages[scored.passage];
                let candidate = &candidates[passage.item];
                (candidate.id, passage.chunk, candidate.content_hash)
            })
            .collect();
        let mut texts: HashMap<(i64, u32), KbChunkCache> = ChunkCacheRepo::new(&self.pool)
            .get_at(&self.chunker.key(), &wanted)
            .await?
            .into_iter()
            .map(|chunk| ((chunk.item_id, chunk.chunk_index), chunk))
            .collect();
        let idf: HashMap<&str, f64> = terms.iter().map(|t| (t.term.as_str(), t.idf)).collect();
        let evidence = selected
            .iter()
            .filter_map(|scored| {
                let passage = &passages[scored.passage];
                let candidate = &candidates[passage.item];
                // Absent only if the item changed since it was ranked: leave it out.
                let chunk = texts.remove(&(candidate.id, passage.chunk))?;
                Some(Evidence {
                    item_id: candidate.id,
                    source: candidate.source.clone(),
                    external_id: candidate.external_id.clone(),
                    title: candidate.title.clone(),
                    chunk_index: chunk.chunk_index,
                    highlights: evidence::highlights(&chunk.text, terms),
                    text: chunk.text,
                    start: chunk.start_offset,
                    end: chunk.end_offset,
                    score: rounded(scored.score),
                    explain: query.explain.then(|| EvidenceExplain {
                        page_score: rounded(scored.page_score),
                        passage_score: rounded(scored.passage_score),
                        page_weight: evidence::PAGE_WEIGHT,
                        matched_terms: passage
                            .terms
                            .iter()
                            .map(|(term, frequency)| MatchedTerm {
                                term: term.clone(),
                                idf: rounded(idf.get(term.as_str()).copied().unwrap_or(0.0)),
                                frequency: *frequency,
                            })
                            .collect(),
                    }),
                })
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
            explain: query.explain.then(|| QueryExplain {
                terms: terms
                    .iter()
                    .map(|t| TermWeight {
                        term: t.term.clone(),
                        idf: rounded(t.idf),
                    })
                    .collect(),
                candidates: candidates
                    .iter()
                    .map(|c| CandidateExplain {
                        item_id: c.id,
                        source: c.source.clone(),
                        external_id: c.external_id.clone(),
                        score: rounded(c.score),
                    })
                    .collect(),
            }),
        })
    }

    /// What the chunk cache's lexical index holds about every candidate's chunk set for the
    /// question's terms, by item id. Candidates whose set is not cached for their content are
    /// chunked now (their content read in one round trip), written back (the database indexes
    /// their terms as it stores them) and asked for again. Returns the sets and the hit and
    /// miss counts.
    async fn chunk_terms(
        &self,
        retrieved: &mut Retrieved,
    ) -> Result<(HashMap<i64, ChunkSetTerms>, usize, usize), aiblox_kb::Error> {
        let key = self.chunker.key();
        let cache = ChunkCacheRepo::new(&self.pool);
        let terms: Vec<&str> = retrieved.terms.iter().map(|t| t.term.as_str()).collect();
        let wanted: Vec<(i64, [u8; 32])> = retrieved
            .candidates
            .iter()
            .map(|c| (c.id, c.content_hash))
            .collect();
        let mut sets = cache.term_hits(&key, &wanted, &terms).await?;
        let missing: Vec<i64> = wanted
            .iter()
            .map(|(id, _)| *id)
            .filter(|id| !sets.contains_key(id))
            .collect();
        let misses = missing.len();
        let hits = wanted.len() - misses;
        if missing.is_empty() {
            return Ok((sets, hits, misses));
        }
        let items = ItemRepo::new(&self.pool).get_many(&missing).await?;
        let mut made = Vec::with_capacity(items.len());
        for item in items.into_iter().flatten() {
            // The item may have changed since it was ranked: chunk what it holds now.
            if let Some(candidate) = retrieved.candidates.iter_mut().find(|c| c.id == item.id) {
                candidate.content_hash = item.content_hash;
            }
            let chunks: Vec<NewChunk> = self
                .chunker
                .split(&item.content)
                .into_iter()
                .map(|chunk| NewChunk {
                    start_offset: chunk.range.start as u32,
                    end_offset: chunk.range.end as u32,
                    text: item.content[chunk.range].to_owned(),
                    token_count: chunk.token_count as u32,
                })
                .collect();
            if !chunks.is_empty() {
                made.push(NewChunkSet {
                    item_id: item.id,
                    content_hash: item.content_hash,
                    chunks,
                });
            }
        }
        if !made.is_empty() {
            cache.put(&key, &made).await?;
            let fresh: Vec<(i64, [u8; 32])> = made
                .iter()
                .map(|set| (set.item_id, set.content_hash))
                .collect();
            sets.extend(cache.term_hits(&key, &fresh, &terms).await?);
        }
        Ok((sets, hits, misses))
    }
}

/// The passages worth scoring: every chunk holding a term of the question; for a candidate
/// none of whose chunks does (its title matched), its first chunk; for a query without terms
/// (a direct lookup), the first `top_k` chunks of each candidate.
fn passages<'a>(
    candidates: &[Candidate],
    sets: &'a HashMap<i64, ChunkSetTerms>,
    without_terms: bool,
    top_k: usize,
) -> Vec<Passage<'a>> {
    let mut passages = Vec::new();
    for (item, candidate) in candidates.iter().enumerate() {
        let Some(set) = sets.get(&candidate.id) else {
            continue;
        };
        if without_terms || set.chunks.is_empty() {
            let shown = if without_terms { top_k } else { 1 };
            passages.extend((0..set.chunk_count.min(shown as u32)).map(|chunk| Passage {
                item,
                chunk,
                length: 0,
                terms: &[],
            }));
            continue;
        }
        passages.extend(set.chunks.iter().map(|chunk| Passage {
            item,
            chunk: chunk.chunk_index,
            length: chunk.length,
            terms: &chunk.terms,
        }));
    }
    passages
}

/// A score as shown: six decimals.
fn rounded(score: f64) -> f64 {
    (score * 1e6).round() / 1e6
}
