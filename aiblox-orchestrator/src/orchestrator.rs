//! The query pipeline: route, retrieve candidates (BM25 over the contract's lexical index),
//! score their cached chunks from the chunk cache's term statistics (chunking and caching the
//! ones not cached yet), read the text of the best only, all within the request's time budget.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aiblox_kb::{ChunkCacheRepo, ItemRepo, KbChunkCache, KbPool, NewChunk, NewChunkSet, QueryTerm};

use crate::chunk_store::{ChunkKey, ChunkStore, SetIndex, SetKey, lock};
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
    /// The chunker's key, made once.
    chunker_key: String,
    budget: Duration,
    metrics: Arc<Metrics>,
    store: ChunkStore,
    /// Items being chunked now, each with the turn a request takes to chunk it.
    chunking: Mutex<HashMap<SetKey, Arc<tokio::sync::Mutex<()>>>>,
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
            chunker_key: chunker.key(),
            chunker,
            budget,
            metrics,
            store: ChunkStore::default(),
            chunking: Mutex::default(),
        }
    }

    /// Chunk sets and bytes of chunk text kept in memory (for metrics).
    pub fn chunk_store_sizes(&self) -> (usize, usize) {
        self.store.sizes()
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
        let passages = passages(candidates, &sets, terms, query.top_k);
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
        let wanted: Vec<ChunkKey> = selected
            .iter()
            .map(|scored| {
                let passage = &passages[scored.passage];
                let candidate = &candidates[passage.item];
                (candidate.id, candidate.content_hash, passage.chunk)
            })
            .collect();
        let texts = self.texts(&wanted).await?;
        let idf: HashMap<&str, f64> = if query.explain {
            terms.iter().map(|t| (t.term.as_str(), t.idf)).collect()
        } else {
            HashMap::new()
        };
        let evidence = selected
            .iter()
            .filter_map(|scored| {
                let passage = &passages[scored.passage];
                let candidate = &candidates[passage.item];
                // Absent only if the item changed since it was ranked: leave it out.
                let chunk = texts.get(&(candidate.id, candidate.content_hash, passage.chunk))?;
                Some(Evidence {
                    item_id: candidate.id,
                    source: candidate.source.clone(),
                    external_id: candidate.external_id.clone(),
                    title: candidate.title.clone(),
                    chunk_index: chunk.chunk_index,
                    highlights: evidence::highlights(&chunk.text, terms),
                    text: chunk.text.clone(),
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
                                term: (*term).to_owned(),
                                idf: rounded(idf.get(term).copied().unwrap_or(0.0)),
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

    /// The term statistics of every candidate's chunk set, by item id: kept in memory, else
    /// read from the chunk cache's lexical index (one round trip for all), else (not cached
    /// yet) chunked now from the item's content, written back (the database indexes the
    /// chunks' terms as it stores them) and read again. Returns the sets and the hit and miss
    /// counts (a miss is a set chunked now).
    async fn chunk_terms(
        &self,
        retrieved: &mut Retrieved,
    ) -> Result<(HashMap<i64, Arc<SetIndex>>, usize, usize), aiblox_kb::Error> {
        let key = self.chunker_key.as_str();
        let cache = ChunkCacheRepo::new(&self.pool);
        let mut sets = HashMap::with_capacity(retrieved.candidates.len());
        let mut unknown: Vec<SetKey> = Vec::new();
        for candidate in &retrieved.candidates {
            let set_key = (candidate.id, candidate.content_hash);
            match self.store.set(&set_key) {
                Some(set) => {
                    sets.insert(candidate.id, set);
                }
                None => unknown.push(set_key),
            }
        }
        if !unknown.is_empty() {
            self.read_sets(&cache, key, &unknown, &mut sets).await?;
        }
        let mut keys: Vec<SetKey> = retrieved
            .candidates
            .iter()
            .filter(|c| !sets.contains_key(&c.id))
            .map(|c| (c.id, c.content_hash))
            .collect();
        let misses = keys.len();
        let hits = retrieved.candidates.len() - misses;
        if keys.is_empty() {
            return Ok((sets, hits, misses));
        }
        // One request at a time chunks an item; others that want it wait, then find it kept
        // (without this, the first requests of a cold service all chunked the same pages).
        keys.sort_unstable();
        let turns: Vec<Arc<tokio::sync::Mutex<()>>> = {
            let mut chunking = lock(&self.chunking);
            keys.iter()
                .map(|key| chunking.entry(*key).or_default().clone())
                .collect()
        };
        let mut held = Vec::with_capacity(turns.len());
        for turn in &turns {
            // In key order: two requests wanting overlapping items cannot wait on each other.
            held.push(turn.lock().await);
        }
        let result = self
            .chunk_missing(retrieved, &keys, &cache, key, &mut sets)
            .await;
        drop(held);
        drop(turns);
        let mut chunking = lock(&self.chunking);
        for key in &keys {
            if chunking
                .get(key)
                .is_some_and(|turn| Arc::strong_count(turn) == 1)
            {
                chunking.remove(key);
            }
        }
        result?;
        Ok((sets, hits, misses))
    }

    /// Chunks the items of `keys` whose sets are still unknown (another request may have
    /// chunked them meanwhile), writes the sets back and reads their statistics into `sets`.
    async fn chunk_missing(
        &self,
        retrieved: &mut Retrieved,
        keys: &[SetKey],
        cache: &ChunkCacheRepo<'_>,
        key: &str,
        sets: &mut HashMap<i64, Arc<SetIndex>>,
    ) -> Result<(), aiblox_kb::Error> {
        let mut missing = Vec::with_capacity(keys.len());
        for set_key in keys {
            match self.store.set(set_key) {
                Some(set) => {
                    sets.insert(set_key.0, set);
                }
                None => missing.push(set_key.0),
            }
        }
        if missing.is_empty() {
            return Ok(());
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
            cache.put(key, &made).await?;
            let fresh: Vec<SetKey> = made
                .iter()
                .map(|set| (set.item_id, set.content_hash))
                .collect();
            self.read_sets(cache, key, &fresh, sets).await?;
        }
        Ok(())
    }

    /// Reads the statistics of the sets `wanted` from the chunk cache into `sets` (those
    /// cached) and into the store.
    async fn read_sets(
        &self,
        cache: &ChunkCacheRepo<'_>,
        key: &str,
        wanted: &[SetKey],
        sets: &mut HashMap<i64, Arc<SetIndex>>,
    ) -> Result<(), aiblox_kb::Error> {
        let found = cache.terms_of(key, wanted).await?;
        for (id, hash) in wanted {
            if let Some(set) = found.get(id) {
                let set = Arc::new(SetIndex::new(set));
                self.store.keep_set((*id, *hash), set.clone());
                sets.insert(*id, set);
            }
        }
        Ok(())
    }

    /// The texts of the chunks `wanted`: kept in memory, else read in one round trip (and
    /// kept). Chunks no longer cached for their hash are absent.
    async fn texts(
        &self,
        wanted: &[ChunkKey],
    ) -> Result<HashMap<ChunkKey, Arc<KbChunkCache>>, aiblox_kb::Error> {
        let mut texts = HashMap::with_capacity(wanted.len());
        let mut unknown = Vec::new();
        for chunk_key in wanted {
            match self.store.text(chunk_key) {
                Some(chunk) => {
                    texts.insert(*chunk_key, chunk);
                }
                None => unknown.push((chunk_key.0, chunk_key.2, chunk_key.1)),
            }
        }
        if unknown.is_empty() {
            return Ok(texts);
        }
        for chunk in ChunkCacheRepo::new(&self.pool)
            .get_at(&self.chunker_key, &unknown)
            .await?
        {
            let chunk_key = (chunk.item_id, chunk.content_hash, chunk.chunk_index);
            let chunk = Arc::new(chunk);
            self.store.keep_text(chunk_key, chunk.clone());
            texts.insert(chunk_key, chunk);
        }
        Ok(texts)
    }
}

/// The passages worth scoring: every chunk holding a term of the question, with those terms;
/// for a candidate none of whose chunks does (its title matched), its first chunk; for a
/// query without terms (a direct lookup), the first `top_k` chunks of each candidate.
fn passages<'a>(
    candidates: &[Candidate],
    sets: &'a HashMap<i64, Arc<SetIndex>>,
    terms: &'a [QueryTerm],
    top_k: usize,
) -> Vec<Passage<'a>> {
    let mut passages = Vec::new();
    let mut by_chunk: Vec<(u32, &'a str, u32)> = Vec::new();
    for (item, candidate) in candidates.iter().enumerate() {
        let Some(set) = sets.get(&candidate.id) else {
            continue;
        };
        by_chunk.clear();
        for term in terms {
            if let Some(postings) = set.postings.get(term.term.as_str()) {
                by_chunk.extend(
                    postings
                        .iter()
                        .map(|&(chunk, frequency)| (chunk, term.term.as_str(), frequency)),
                );
            }
        }
        by_chunk.sort_unstable_by_key(|&(chunk, term, _)| (chunk, term));
        for group in by_chunk.chunk_by(|a, b| a.0 == b.0) {
            let chunk = group[0].0;
            passages.push(Passage {
                item,
                chunk,
                length: set.lengths.get(chunk as usize).copied().unwrap_or(0),
                terms: group.iter().map(|&(_, term, tf)| (term, tf)).collect(),
            });
        }
        if by_chunk.is_empty() {
            let shown = if terms.is_empty() { top_k } else { 1 };
            passages.extend((0..set.chunk_count.min(shown as u32)).map(|chunk| Passage {
                item,
                chunk,
                length: 0,
                terms: Vec::new(),
            }));
        }
    }
    passages
}

/// A score as shown: six decimals.
fn rounded(score: f64) -> f64 {
    (score * 1e6).round() / 1e6
}
