//! The question's path, as stages, each in a module of its own with typed input and output:
//!
//! 1. [`route`]: a lookup of a named item, or a search by the legs the mode asks for.
//! 2. The legs, side by side: [`lexical`] (BM25 over the contract's lexical index, or the
//!    named item) and [`dense`] (the question's embedding against the [`vectors`] in memory).
//! 3. [`fusion`]: the dense leg's items join the lexical ones, each scored by the mode.
//! 4. [`chunk_sets`]: each candidate's chunk statistics (kept in the [`passage_store`], read
//!    from the chunk cache, or made now by the [`chunker`]).
//! 5. [`passages`]: the chunks worth scoring and their own scores.
//! 6. [`evidence`]: the best passages, cited, with [`highlights`]; [`explain`] when asked.
//!
//! Along the way, [`warnings`] say why an answer is empty or not what was asked for.
//!
//! [`Pipeline::run`] composes them and times each stage in one place, all within the
//! request's time budget. [`backfill`] embeds the corpus in the background for the dense leg.

pub(crate) mod backfill;
mod chunk_sets;
pub(crate) mod chunker;
pub(crate) mod dense;
pub(crate) mod dense_bench;
mod evidence;
mod explain;
mod facets;
mod fusion;
mod highlights;
mod hnsw;
pub(crate) mod lexical;
mod narrowing;
pub(crate) mod passage_store;
mod passages;
mod route;
pub(crate) mod vectors;
mod warnings;

use std::sync::Arc;
use std::time::{Duration, Instant};

use aiblox_embed::EmbedError;
use aiblox_kb::KbPool;

use crate::protocol::{Mode, QueryResponse, RouteName, Stats, ValidQuery, Warning};
use crate::service::observability::Metrics;
use chunk_sets::{ChunkSets, ChunkSetsFound};
use chunker::Chunker;
use dense::DenseLeg;
use fusion::{DenseFound, Legs};
use lexical::{LexicalLeg, ReadAt, Retrieved};
use narrowing::Narrowing;
use route::Route;

/// Why a query got no answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PipelineError {
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

/// Everything the stages need; shared by every request.
#[derive(Debug)]
pub(crate) struct Pipeline {
    pool: KbPool,
    lexical: LexicalLeg,
    /// The dense leg, when the service has an embedding model.
    dense: Option<DenseLeg>,
    chunk_sets: ChunkSets,
    budget: Duration,
    metrics: Arc<Metrics>,
}

/// What the legs found, fused: the route taken, the candidates (best first) with the
/// question's terms, where each leg ranked each candidate, the question's vector when a leg
/// ranks by meaning, and what the caller should be told about it.
struct Found<'a> {
    route: RouteName,
    retrieved: Retrieved,
    legs: Vec<Legs>,
    question: Option<(Vec<f32>, &'a DenseLeg)>,
    warnings: Vec<Warning>,
}

/// What the lexical leg found: the route it took, its candidates, and whether it searched.
struct LexicalFound {
    route: RouteName,
    retrieved: Retrieved,
    searched: bool,
}

impl Pipeline {
    /// A pipeline over `pool`.
    pub(crate) fn new(
        pool: KbPool,
        lexical: LexicalLeg,
        chunker: Chunker,
        budget: Duration,
        metrics: Arc<Metrics>,
        dense: Option<DenseLeg>,
    ) -> Self {
        Pipeline {
            chunk_sets: ChunkSets::new(pool.clone(), chunker),
            pool,
            lexical,
            dense,
            budget,
            metrics,
        }
    }

    /// The mode of a query that names none: hybrid with an embedding model once its vectors
    /// cover [`dense::HYBRID_COVERAGE`] of the items, else lexical.
    pub(crate) fn default_mode(&self) -> Mode {
        match &self.dense {
            Some(dense) if dense.covers_the_corpus() => Mode::Hybrid,
            _ => Mode::Lexical,
        }
    }

    /// The dense leg's vectors in memory and their bytes, and the question batches run (for
    /// metrics); `None` without a model.
    pub(crate) fn dense_sizes(&self) -> Option<((usize, usize), aiblox_embed::BatchStats)> {
        let dense = self.dense.as_ref()?;
        Some((dense.vectors.sizes(), dense.embedder.stats()))
    }

    /// Chunk sets and bytes of passage text kept in memory (for metrics).
    pub(crate) fn passage_store_sizes(&self) -> (usize, usize) {
        self.chunk_sets.kept()
    }

    /// Answers one query, or gives up when the budget runs out.
    pub(crate) async fn answer(&self, query: &ValidQuery) -> Result<QueryResponse, PipelineError> {
        match tokio::time::timeout(self.budget, self.run(query)).await {
            Ok(result) => result,
            Err(_) => Err(PipelineError::Timeout(self.budget)),
        }
    }

    /// The stages in order, each timed (`retrieve` covers the legs and their fusion).
    async fn run(&self, query: &ValidQuery) -> Result<QueryResponse, PipelineError> {
        let started = Instant::now();
        let mode = query.mode.unwrap_or(self.default_mode());
        let route = Route::of(&query.query, mode);
        let at = ReadAt::of(&self.pool, query.after).await?;
        let mut found = self.find(route, mode, query, at).await?;
        self.metrics.observe_stage("retrieve", started.elapsed());

        let chunking = Instant::now();
        let ChunkSetsFound { sets, hits, misses } =
            self.chunk_sets.terms_of(&mut found.retrieved, at).await?;
        self.metrics.observe_stage("chunk", chunking.elapsed());
        self.metrics.count_cache(hits, misses);

        let scoring = Instant::now();
        let Retrieved { terms, candidates } = &found.retrieved;
        let cosines = match &found.question {
            Some((vector, dense)) => {
                let items: Vec<(i64, [u8; 32])> =
                    candidates.iter().map(|c| (c.id, c.content_hash)).collect();
                dense.vectors.chunk_scores(&items, vector)
            }
            None => Vec::new(),
        };
        let bm25 = self.lexical.bm25();
        let scores = passages::score(candidates, &sets, terms, &cosines, mode, query.top_k, bm25);
        let page_scores: Vec<f64> = candidates.iter().map(|c| c.score).collect();
        let selected = evidence::rank(
            &scores.passages,
            &page_scores,
            &scores.own,
            query.top_k,
            query.max_chunks_per_item,
            query.min_score,
        );
        let wanted = evidence::wanted(&selected, &scores.passages, candidates);
        let texts = self.chunk_sets.texts(&wanted).await?;
        let evidence = evidence::cite(&selected, &scores, candidates, &texts, terms, mode, query);
        self.metrics.observe_stage("score", scoring.elapsed());
        let facets = facets::count(&self.pool, &query.facets, candidates, at).await?;

        Ok(QueryResponse {
            route: found.route,
            evidence,
            stats: Stats {
                mode,
                candidates: candidates.len(),
                chunk_cache_hits: hits,
                chunk_cache_misses: misses,
                elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            },
            explain: query
                .explain
                .then(|| explain::query(terms, candidates, &found.legs)),
            warnings: found.warnings,
            facets,
        })
    }

    /// The dense leg, when `mode` ranks by meaning (an error without a model).
    fn dense_for(&self, mode: Mode) -> Result<Option<&DenseLeg>, PipelineError> {
        match (mode, &self.dense) {
            (Mode::Lexical, _) => Ok(None),
            (_, Some(dense)) => Ok(Some(dense)),
            (_, None) => Err(PipelineError::NoModel(mode)),
        }
    }

    /// Stages 1-3: the route's legs side by side (the lexical search or lookup, and the
    /// question's embedding), then their fusion.
    async fn find(
        &self,
        route: Route<'_>,
        mode: Mode,
        query: &ValidQuery,
        at: ReadAt,
    ) -> Result<Found<'_>, PipelineError> {
        let dense = self.dense_for(mode)?;
        let embedding = async {
            match dense {
                Some(dense) => Some(dense.embed(&query.query, &self.metrics).await),
                None => None,
            }
        };
        // The filter's matches first (one short statement, none while a repeated filter's
        // matches stand), then the lexical leg within them, beside the question's embedding.
        let lexical = async {
            let within = narrowing::matches(&self.pool, query.filter.as_ref(), at).await?;
            let narrowing = Narrowing::new(query.sources.as_deref(), within.as_deref());
            let found = self.lexical_leg(route, query, narrowing, at).await?;
            Ok::<_, aiblox_kb::Error>((within, found))
        };
        let (lexical, question) = tokio::join!(lexical, embedding);
        let (within, lexical) = lexical?;
        let narrowing = Narrowing::new(query.sources.as_deref(), within.as_deref());
        let LexicalFound {
            route: taken,
            mut retrieved,
            searched,
        } = lexical;
        let question = question.transpose()?;
        let mut warnings = warnings::of_the_route(route, taken, searched, &retrieved.terms);
        if within.as_ref().is_some_and(|within| within.is_empty()) {
            warnings.push(warnings::filter_without_items());
        }
        let route = taken;
        // A lookup names its item: nothing to rank it against.
        let question = question.filter(|_| route == RouteName::Search).zip(dense);
        let legs = match &question {
            Some((vector, dense)) => {
                let found = self
                    .dense_leg(dense, vector, narrowing, &retrieved.candidates)
                    .await?;
                let fused = fusion::fuse(&mut retrieved, found, mode);
                for item_id in fused.stale {
                    dense.vectors.forget(item_id);
                }
                fused.legs
            }
            None => fusion::lexical_legs(&retrieved.candidates),
        };
        // Under a filter (the key's, perhaps) whether a source holds items is not told: a
        // caller could learn of items outside what it may read.
        if let Some(asked) = query
            .sources
            .as_ref()
            .filter(|_| query.sources_named && within.is_none())
        {
            let empty = self
                .lexical
                .sources_without_items(asked, &retrieved.candidates, at)
                .await?;
            if !empty.is_empty() {
                warnings.push(warnings::sources_without_items(&empty));
            }
        }
        Ok(Found {
            route,
            retrieved,
            legs,
            question,
            warnings,
        })
    }

    /// The named item when the route is a lookup and it exists, else the lexical search
    /// (nothing on a dense-only search).
    async fn lexical_leg(
        &self,
        route: Route<'_>,
        query: &ValidQuery,
        narrowing: Narrowing<'_>,
        at: ReadAt,
    ) -> Result<LexicalFound, aiblox_kb::Error> {
        if let Route::Lookup {
            source,
            external_id,
            ..
        } = route
            && let Some(candidate) = self
                .lexical
                .lookup(source, external_id, narrowing, at)
                .await?
        {
            let named = Retrieved {
                terms: Vec::new(),
                candidates: vec![candidate],
            };
            return Ok(LexicalFound {
                route: RouteName::Lookup,
                retrieved: named,
                searched: false,
            });
        }
        let searched = route.searches_lexically();
        let retrieved = if searched {
            self.lexical.search(&query.query, narrowing, at).await?
        } else {
            Retrieved::default()
        };
        Ok(LexicalFound {
            route: RouteName::Search,
            retrieved,
            searched,
        })
    }

    /// The dense leg's items for the question's vector.
    async fn dense_leg(
        &self,
        dense: &DenseLeg,
        vector: &[f32],
        narrowing: Narrowing<'_>,
        known: &[lexical::Candidate],
    ) -> Result<DenseFound, aiblox_kb::Error> {
        let limit = self.lexical.limit() as usize;
        dense
            .search(&self.pool, vector, narrowing, limit, known, &self.metrics)
            .await
    }
}
