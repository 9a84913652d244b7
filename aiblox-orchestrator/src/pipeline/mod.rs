//! The query pipeline: route, retrieve candidates (BM25 over the contract's lexical index),
//! score their cached chunks from the chunk cache's term statistics (chunking and caching the
//! ones not cached yet), read the text of the best only, all within the request's time budget.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aiblox_embed::{BatchingEmbedder, EmbedError};
use aiblox_kb::{ChunkCacheRepo, ItemRepo, KbPool, QueryTerm};

use crate::chunk_store::{ChunkKey, ChunkStore, SetIndex, SetKey, ShownChunk, lock};
use crate::chunker::Chunker;
use crate::dense::DenseIndex;
use crate::evidence::{self, Passage};
use crate::indexer::IndexProgress;
use crate::observability::Metrics;
use crate::protocol::{
    CandidateExplain, Evidence, EvidenceExplain, LegRank, MatchedTerm, Mode, QueryExplain,
    QueryResponse, Stats, TermWeight, ValidQuery,
};
use crate::retriever::{Candidate, Retrieved, Retriever};
use crate::router::{LookupRoute, Router};

/// The `k` of reciprocal rank fusion: a result at rank `r` of a leg adds `1 / (k + r)`.
pub(crate) const RRF_K: f64 = 60.0;

/// What a result at `rank` (from 1) of one ranking adds in reciprocal rank fusion.
fn rrf(rank: usize) -> f64 {
    1.0 / (RRF_K + rank as f64)
}

/// Why a query got no answer.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The knowledge base failed.
    #[error(transparent)]
    Kb(#[from] aiblox_kb::Error),
    /// The time budget ran out.
    #[error("the query did not finish within its {0:?} budget")]
    Timeout(Duration),
    /// The query asked for a dense leg and the service has no embedding model.
    #[error(
        "`mode` {} needs an embedding model and this service has none: ask for `lexical`, or start the service with AIBLOX_EMBEDDING_MODEL (`cargo xtask fetch-model` gets one)",
        .0.as_str()
    )]
    NoModel(Mode),
    /// Embedding the question failed.
    #[error(transparent)]
    Embed(#[from] EmbedError),
}

/// The dense leg: the model (questions queue for it) and the chunk vectors in memory.
#[derive(Debug)]
pub struct DenseLeg {
    /// Embeds questions, concurrent ones in one batch.
    pub(crate) embedder: BatchingEmbedder,
    /// The corpus' chunk vectors.
    pub(crate) index: Arc<DenseIndex>,
    /// How much of the corpus the indexer has covered.
    pub(crate) progress: Arc<IndexProgress>,
}

/// Share of the items that must have vectors before queries that name no `mode` are hybrid:
/// a dense leg that knows only part of the corpus ranks that part too high (on a demo that
/// has embedded its first 40 pages, every question's best dense hits were among them).
pub(crate) const HYBRID_COVERAGE: f64 = 0.95;

/// Where each leg ranked one candidate.
#[derive(Debug, Clone, Copy, Default)]
struct Legs {
    lexical: Option<LegRank>,
    dense: Option<LegRank>,
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
    /// The dense leg, when the service has an embedding model.
    dense: Option<DenseLeg>,
}

impl Orchestrator {
    /// A pipeline over `pool`.
    pub fn new(
        pool: KbPool,
        retriever: Retriever,
        chunker: Chunker,
        budget: Duration,
        metrics: Arc<Metrics>,
        dense: Option<DenseLeg>,
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
            dense,
        }
    }

    /// The mode of a query that names none: hybrid with an embedding model once its vectors
    /// cover [`HYBRID_COVERAGE`] of the items, else lexical.
    pub fn default_mode(&self) -> Mode {
        match &self.dense {
            Some(dense) if dense.progress.coverage() >= HYBRID_COVERAGE => Mode::Hybrid,
            _ => Mode::Lexical,
        }
    }

    /// The dense leg's vectors in memory and their bytes, and the question batches run (for
    /// metrics); `None` without a model.
    pub(crate) fn dense_sizes(&self) -> Option<((usize, usize), aiblox_embed::BatchStats)> {
        let dense = self.dense.as_ref()?;
        Some((dense.index.sizes(), dense.embedder.stats()))
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
        let mode = query.mode.unwrap_or(self.default_mode());
        let dense = match (mode, &self.dense) {
            (Mode::Lexical, _) => None,
            (_, Some(dense)) => Some(dense),
            (_, None) => return Err(PipelineError::NoModel(mode)),
        };
        // The legs side by side: the lexical search (or a lookup) and the question's vector.
        let lexical = async {
            if mode == Mode::Dense && LookupRoute::parse(&query.query).is_none() {
                Ok(("search", Retrieved::default()))
            } else {
                self.router.route(&self.retriever, query).await
            }
        };
        let embedding = async {
            let dense = dense?;
            let embedding = Instant::now();
            let vector = dense.embedder.embed(query.query.clone()).await;
            self.metrics.observe_stage("embed", embedding.elapsed());
            Some(vector)
        };
        let (routed, question) = tokio::join!(lexical, embedding);
        let (route, mut retrieved) = routed?;
        let question = question.transpose()?;
        // A lookup names its item: nothing to rank it against.
        let question = question.filter(|_| route == "search");
        let legs = match (&question, dense) {
            (Some(vector), Some(dense)) => {
                self.fuse(&mut retrieved, dense, vector, mode, query)
                    .await?
            }
            _ => lexical_legs(&retrieved.candidates),
        };
        self.metrics.observe_stage("retrieve", started.elapsed());

        let chunking = Instant::now();
        let (sets, hits, misses) = self.chunk_terms(&mut retrieved).await?;
        self.metrics.observe_stage("chunk", chunking.elapsed());
        self.metrics.count_cache(hits, misses);

        let scoring = Instant::now();
        let Retrieved { terms, candidates } = &retrieved;
        let mut passages = passages(candidates, &sets, terms, query.top_k);
        // The cosine of each candidate's chunks, where the vectors of its content are in memory.
        let cosines: Vec<Option<Vec<f32>>> = match (&question, dense) {
            (Some(vector), Some(dense)) => {
                let items: Vec<(i64, [u8; 32])> =
                    candidates.iter().map(|c| (c.id, c.content_hash)).collect();
                dense.index.chunk_scores(&items, vector)
            }
            _ => Vec::new(),
        };
        add_dense_passages(&mut passages, &cosines, candidates, &sets);
        let passage_bm25 = evidence::passage_bm25_scores(&passages, terms, self.retriever.bm25());
        let passage_cosine: Vec<Option<f64>> = passages
            .iter()
            .map(|p| {
                let scores = cosines.get(p.item)?.as_ref()?;
                Some(f64::from(
                    scores.get(p.chunk as usize).copied().unwrap_or(0.0),
                ))
            })
            .collect();
        let own_scores = match mode {
            Mode::Lexical => passage_bm25.clone(),
            Mode::Dense => passage_cosine.iter().map(|c| c.unwrap_or(0.0)).collect(),
            Mode::Hybrid => reciprocal_rank_fusion(&passage_bm25, &passage_cosine),
        };
        let page_scores: Vec<f64> = candidates.iter().map(|c| c.score).collect();
        let selected = evidence::rank(
            &passages,
            &page_scores,
            &own_scores,
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
                let shown = texts.get(&(candidate.id, candidate.content_hash, passage.chunk))?;
                let chunk = &shown.chunk;
                Some(Evidence {
                    item_id: candidate.id,
                    source: candidate.source.clone(),
                    external_id: candidate.external_id.clone(),
                    title: candidate.title.clone(),
                    chunk_index: chunk.chunk_index,
                    highlights: shown.words.highlights(terms),
                    text: chunk.text.clone(),
                    start: chunk.start_offset,
                    end: chunk.end_offset,
                    score: rounded(scored.score),
                    explain: query.explain.then(|| EvidenceExplain {
                        page_score: rounded(scored.page_score),
                        passage_score: rounded(scored.passage_score),
                        passage_bm25: (mode != Mode::Dense)
                            .then(|| rounded(passage_bm25[scored.passage])),
                        passage_cosine: passage_cosine[scored.passage].map(rounded),
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
                mode: mode.as_str().to_owned(),
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
                    .zip(&legs)
                    .map(|(c, legs)| CandidateExplain {
                        item_id: c.id,
                        source: c.source.clone(),
                        external_id: c.external_id.clone(),
                        score: rounded(c.score),
                        lexical: legs.lexical.map(|leg| LegRank {
                            score: rounded(leg.score),
                            ..leg
                        }),
                        dense: legs.dense.map(|leg| LegRank {
                            score: rounded(leg.score),
                            ..leg
                        }),
                    })
                    .collect(),
            }),
        })
    }

    /// Adds the dense leg's candidates to the lexical ones (none in dense mode) and scores
    /// every candidate by its mode: the best chunk's cosine (dense) or reciprocal rank fusion
    /// of both legs (hybrid); best first. A dense hit whose vectors are of content its item no
    /// longer has (or of a deleted item) is dropped, and its vectors forgotten. Returns where
    /// each leg ranked each candidate, in the candidates' new order.
    async fn fuse(
        &self,
        retrieved: &mut Retrieved,
        dense: &DenseLeg,
        question: &[f32],
        mode: Mode,
        query: &ValidQuery,
    ) -> Result<Vec<Legs>, aiblox_kb::Error> {
        let searching = Instant::now();
        let hits = dense.index.search(
            question,
            query.sources.as_deref(),
            self.retriever.limit() as usize,
        );
        self.metrics
            .observe_stage("dense_search", searching.elapsed());
        let mut legs: HashMap<i64, Legs> = retrieved
            .candidates
            .iter()
            .map(|c| c.id)
            .zip(lexical_legs(&retrieved.candidates))
            .collect();
        let unknown: Vec<i64> = hits
            .iter()
            .map(|hit| hit.item_id)
            .filter(|id| !legs.contains_key(id))
            .collect();
        let mut heads: HashMap<i64, Candidate> = ItemRepo::new(&self.pool)
            .heads(&unknown)
            .await?
            .into_iter()
            .map(|head| (head.id, head))
            .collect();
        let mut rank = 0;
        for hit in &hits {
            let lexical = retrieved.candidates.iter().find(|c| c.id == hit.item_id);
            match (lexical, heads.get(&hit.item_id)) {
                (Some(candidate), _) if candidate.content_hash != hit.content_hash => continue,
                (Some(_), _) => {}
                (None, Some(head)) if head.content_hash == hit.content_hash => {}
                (None, _) => {
                    dense.index.forget(hit.item_id);
                    continue;
                }
            }
            rank += 1;
            legs.entry(hit.item_id).or_default().dense = Some(LegRank {
                rank,
                score: f64::from(hit.score),
            });
            if lexical.is_none()
                && let Some(head) = heads.remove(&hit.item_id)
            {
                retrieved.candidates.push(head);
            }
        }
        for candidate in &mut retrieved.candidates {
            let leg = legs.get(&candidate.id).copied().unwrap_or_default();
            candidate.score = match mode {
                Mode::Dense => leg.dense.map_or(0.0, |leg| leg.score),
                _ => [leg.lexical, leg.dense]
                    .into_iter()
                    .flatten()
                    .map(|leg| rrf(leg.rank))
                    .sum(),
            };
        }
        // Stable: equal scores keep the lexical leg's order, then the dense leg's.
        retrieved
            .candidates
            .sort_by(|a, b| b.score.total_cmp(&a.score));
        Ok(retrieved
            .candidates
            .iter()
            .map(|c| legs.get(&c.id).copied().unwrap_or_default())
            .collect())
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
        // Found by a search on the primary: read as of now, so that a lagging replica cannot
        // miss them.
        let items = crate::retriever::items_now(&self.pool)
            .await?
            .get_many(&missing)
            .await?;
        let mut made = Vec::with_capacity(items.len());
        for item in items.into_iter().flatten() {
            // The item may have changed since it was ranked: chunk what it holds now.
            if let Some(candidate) = retrieved.candidates.iter_mut().find(|c| c.id == item.id) {
                candidate.content_hash = item.content_hash;
            }
            made.extend(self.chunker.chunk_set(&item));
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
    ) -> Result<HashMap<ChunkKey, Arc<ShownChunk>>, aiblox_kb::Error> {
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
            texts.insert(chunk_key, self.store.keep_text(chunk_key, chunk));
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

/// The lexical leg's rank (from 1) and BM25 score of each candidate, in their order.
fn lexical_legs(candidates: &[Candidate]) -> Vec<Legs> {
    candidates
        .iter()
        .enumerate()
        .map(|(rank, candidate)| Legs {
            lexical: Some(LegRank {
                rank: rank + 1,
                score: candidate.score,
            }),
            dense: None,
        })
        .collect()
}

/// Adds, for every candidate whose chunk vectors are known, each of its chunks not yet a
/// passage (a chunk can answer a question without holding its words).
fn add_dense_passages(
    passages: &mut Vec<Passage<'_>>,
    cosines: &[Option<Vec<f32>>],
    candidates: &[Candidate],
    sets: &HashMap<i64, Arc<SetIndex>>,
) {
    let present: std::collections::HashSet<(usize, u32)> =
        passages.iter().map(|p| (p.item, p.chunk)).collect();
    for (item, scores) in cosines.iter().enumerate() {
        let (Some(scores), Some(set)) = (scores, sets.get(&candidates[item].id)) else {
            continue;
        };
        for chunk in 0..set.chunk_count.min(scores.len() as u32) {
            if !present.contains(&(item, chunk)) {
                passages.push(Passage {
                    item,
                    chunk,
                    length: set.lengths.get(chunk as usize).copied().unwrap_or(0),
                    terms: Vec::new(),
                });
            }
        }
    }
}

/// Reciprocal rank fusion of two rankings of the same passages: `1 / (RRF_K + rank)` summed
/// over the rankings that hold a passage (a BM25 of 0 or no cosine: not ranked there).
fn reciprocal_rank_fusion(bm25: &[f64], cosine: &[Option<f64>]) -> Vec<f64> {
    let ranks = |scores: Vec<(usize, f64)>| {
        let mut scores = scores;
        scores.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut ranks = vec![None; bm25.len()];
        for (rank, (index, _)) in scores.into_iter().enumerate() {
            ranks[index] = Some(rank + 1);
        }
        ranks
    };
    let lexical = ranks(
        bm25.iter()
            .copied()
            .enumerate()
            .filter(|(_, score)| *score > 0.0)
            .collect(),
    );
    let dense = ranks(
        cosine
            .iter()
            .enumerate()
            .filter_map(|(index, score)| Some((index, (*score)?)))
            .collect(),
    );
    lexical
        .iter()
        .zip(&dense)
        .map(|(a, b)| [a, b].into_iter().flatten().map(|rank| rrf(*rank)).sum())
        .collect()
}

/// A score as shown: six decimals.
fn rounded(score: f64) -> f64 {
    (score * 1e6).round() / 1e6
}
