//! The chunk vectors in memory: every chunk vector of the knowledge base for the service's
//! chunker and model, held in a compact form (int8 with a scale per vector, or f32), kept
//! current from the contract's change feed, searched by exact cosine below
//! [`GRAPH_FROM`] vectors and through an HNSW graph ([`super::hnsw`]) above it, except for
//! questions narrowed to a small part of the corpus, which are scored exactly on that part.
//!
//! With a graph, slots are stable: a vector that goes (its item deleted or changed) leaves its
//! slot dead but its codes in place, so the graph, whose nodes are the slots, can still be walked
//! through it; dead slots are never returned, and once they are a quarter of the store it
//! compacts, the graph dropping their nodes alike. Without a graph the last slot moves into a
//! removed one's place.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use super::hnsw::{self, Graph};
use super::narrowing::Narrowing;
use super::passage_store::lock_read;
use crate::service::config::Precision;
use aiblox_kb::{EmbeddingCursor, EmbeddingRepo, ItemSet, KbPool, StoredVector};

/// One item's best chunk for a question.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct DenseHit {
    /// The item.
    pub(crate) item_id: i64,
    /// The content hash its vectors were made from.
    pub(crate) content_hash: [u8; 32],
    /// Its best chunk.
    pub(crate) chunk_index: u32,
    /// That chunk's cosine similarity to the question.
    pub(crate) score: f32,
}

/// Vectors held from which the graph is built and searched (below it the exact scan costs at
/// most a few milliseconds per question: about 0.17 us a vector, docs/scaling.md).
pub(crate) const GRAPH_FROM: usize = 50_000;
/// Candidates the graph looks at per question, at least.
const GRAPH_EF: usize = 256;
/// How long linking may hold the write lock at a time, so that questions are not held up for
/// long while a large corpus is indexed (a node takes 0.1-0.3 ms to link at a million).
const LINKING_PER_LOCK: Duration = Duration::from_millis(10);
/// A narrowing that keeps at most this share of the items is scored exactly on what it keeps.
const EXACT_SHARE: f64 = 0.05;

/// How a search finds its chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scan {
    /// Through the graph when it holds every vector and the narrowing keeps much.
    AsFits,
    /// Every kept vector scored.
    Exact,
}

/// A chunk's place among the vectors.
#[derive(Debug, Clone, Copy)]
struct Slot {
    item_id: i64,
    chunk_index: u32,
    source: u16,
    /// False once its vector went (its item was deleted or changed).
    alive: bool,
}

/// An item's vectors: which content they were made from, and how many chunks it has.
#[derive(Debug, Clone, Copy)]
struct ItemEntry {
    content_hash: [u8; 32],
    chunk_count: u32,
}

#[derive(Debug, Default)]
struct Vectors {
    slots: Vec<Slot>,
    /// Int8: `dimensions` codes per slot; f32: empty.
    codes: Vec<i8>,
    /// Int8: the scale of each slot's codes.
    scales: Vec<f32>,
    /// F32: `dimensions` values per slot.
    values: Vec<f32>,
    positions: HashMap<(i64, u32), usize>,
    items: HashMap<i64, ItemEntry>,
    sources: Vec<String>,
    source_ids: HashMap<String, u16>,
    /// Slots whose vector went (only while there is a graph: without one they are removed).
    dead: usize,
    /// Live slots per source id.
    source_live: Vec<usize>,
    /// The graph over the slots (node n is slot n), once there are [`GRAPH_FROM`] vectors;
    /// it may lag behind the slots while they are being linked.
    graph: Option<Graph>,
}

/// The in-memory vectors, shared by every request; written by one [`ChunkVectors::sync`] task.
#[derive(Debug)]
pub(crate) struct ChunkVectors {
    dimensions: usize,
    precision: Precision,
    /// Vectors from which the graph is used.
    graph_from: usize,
    vectors: RwLock<Vectors>,
}

impl ChunkVectors {
    /// No vectors yet, of `dimensions`-long vectors.
    pub(crate) fn new(dimensions: usize, precision: Precision) -> ChunkVectors {
        Self::with_graph_from(dimensions, precision, GRAPH_FROM)
    }

    /// As [`ChunkVectors::new`], with the graph used from `graph_from` vectors.
    pub(crate) fn with_graph_from(
        dimensions: usize,
        precision: Precision,
        graph_from: usize,
    ) -> ChunkVectors {
        ChunkVectors {
            dimensions,
            precision,
            graph_from,
            vectors: RwLock::default(),
        }
    }

    /// Vectors held, and bytes they take (codes, scales, slots and the graph's links; not the
    /// maps).
    pub(crate) fn sizes(&self) -> (usize, usize) {
        let vectors = lock_read(&self.vectors);
        let per_slot = size_of::<Slot>()
            + match self.precision {
                Precision::Int8 => self.dimensions + 4,
                Precision::F32 => 4 * self.dimensions,
            };
        let graph = vectors.graph.as_ref().map_or(0, Graph::bytes);
        (
            vectors.slots.len() - vectors.dead,
            vectors.slots.len() * per_slot + graph,
        )
    }

    /// The sync task's upkeep: compacts the store when dead slots are a quarter of it, and
    /// links vectors not yet in the graph for at most [`LINKING_PER_LOCK`] (building it once
    /// there are enough); whether it has caught up. Looks under the read lock first, so that
    /// nothing waits when there is nothing to do.
    pub(crate) fn link_pending(&self) -> bool {
        {
            let vectors = lock_read(&self.vectors);
            if vectors.linked(self) && !vectors.sparse() {
                return true;
            }
        }
        let mut vectors = self.vectors.write().unwrap_or_else(|e| e.into_inner());
        vectors.compact_if_sparse(self);
        vectors.link(self, LINKING_PER_LOCK)
    }

    /// Takes in vectors read from the knowledge base: a vector for an item's new content
    /// drops the vectors of its old content; a set's vectors beyond its chunk count go.
    /// Vectors of another length than the others are skipped (another model wrote them under
    /// the same key: a broken invariant, logged).
    pub(crate) fn apply(&self, stored: &[StoredVector]) {
        let mut vectors = self.vectors.write().unwrap_or_else(|e| e.into_inner());
        for vector in stored {
            if vector.vector.len() != self.dimensions {
                tracing::warn!(
                    item_id = vector.item_id,
                    length = vector.vector.len(),
                    expected = self.dimensions,
                    "a stored vector has the wrong length for the model: skipped"
                );
                continue;
            }
            vectors.take(self, vector);
        }
    }

    /// Drops an item's vectors (it was deleted, or its content changed).
    pub(crate) fn forget(&self, item_id: i64) {
        let mut vectors = self.vectors.write().unwrap_or_else(|e| e.into_inner());
        vectors.remove_item(self.dimensions, item_id);
    }

    /// The best `limit` items for a question's unit vector, each with its best chunk, best
    /// first (equal scores in item order); only items `narrowing` keeps.
    pub(crate) fn search(
        &self,
        question: &[f32],
        narrowing: Narrowing<'_>,
        limit: usize,
    ) -> Vec<DenseHit> {
        self.search_by(question, narrowing, limit, Scan::AsFits)
    }

    /// As [`ChunkVectors::search`], by the exact scan whatever the size (what the graph's
    /// recall is measured against).
    pub(crate) fn search_exact(
        &self,
        question: &[f32],
        narrowing: Narrowing<'_>,
        limit: usize,
    ) -> Vec<DenseHit> {
        self.search_by(question, narrowing, limit, Scan::Exact)
    }

    /// Whether questions may go through the graph (it holds every vector).
    pub(crate) fn has_graph(&self) -> bool {
        let vectors = lock_read(&self.vectors);
        vectors
            .graph
            .as_ref()
            .is_some_and(|graph| graph.len() == vectors.slots.len())
    }

    fn search_by(
        &self,
        question: &[f32],
        narrowing: Narrowing<'_>,
        limit: usize,
        scan: Scan,
    ) -> Vec<DenseHit> {
        let vectors = lock_read(&self.vectors);
        let mut ranked = vectors.ranked_chunks(self, question, narrowing, limit, scan);
        // The best chunks first, until `limit` items are found: a few times `limit` chunks
        // usually hold them (an item's chunks tend to score alike), else all are sorted.
        let by_score = |a: &(f32, usize), b: &(f32, usize)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
        let mut hits: Vec<DenseHit> = Vec::with_capacity(limit);
        for head in [limit.saturating_mul(8), ranked.len()] {
            let head = head.min(ranked.len());
            if head < ranked.len() {
                ranked.select_nth_unstable_by(head, by_score);
            }
            ranked[..head].sort_unstable_by(by_score);
            hits.clear();
            let mut seen = std::collections::HashSet::with_capacity(limit);
            for &(score, slot) in &ranked[..head] {
                let Slot {
                    item_id,
                    chunk_index,
                    ..
                } = vectors.slots[slot];
                if hits.len() == limit {
                    break;
                }
                if seen.insert(item_id)
                    && let Some(entry) = vectors.items.get(&item_id)
                {
                    hits.push(DenseHit {
                        item_id,
                        content_hash: entry.content_hash,
                        chunk_index,
                        score,
                    });
                }
            }
            if hits.len() == limit || head == ranked.len() {
                break;
            }
        }
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.item_id.cmp(&b.item_id)));
        hits.truncate(limit);
        hits
    }

    /// For each item (id, content hash), the cosine of every chunk of that content to the
    /// question, by chunk index (`None` when no vectors are held of that content; a
    /// chunk without a vector scores 0). One lock and one quantisation of the question for all.
    pub(crate) fn chunk_scores(
        &self,
        items: &[(i64, [u8; 32])],
        question: &[f32],
    ) -> Vec<Option<Vec<f32>>> {
        let vectors = lock_read(&self.vectors);
        let query = Query::new(self.precision, question);
        items
            .iter()
            .map(|(item_id, content_hash)| {
                let entry = vectors.items.get(item_id)?;
                if &entry.content_hash != content_hash {
                    return None;
                }
                Some(
                    (0..entry.chunk_count)
                        .map(|chunk| {
                            vectors
                                .positions
                                .get(&(*item_id, chunk))
                                .map_or(0.0, |&slot| vectors.score(self, &query, slot))
                        })
                        .collect(),
                )
            })
            .collect()
    }

    /// Keeps the vectors current: reads every vector of `chunker_key` and `model_key` from the
    /// knowledge base, then what is written from then on, every `interval`, until the task is
    /// dropped. A failed read is logged and retried.
    pub(crate) async fn sync(
        self: Arc<Self>,
        pool: KbPool,
        chunker_key: String,
        model_key: String,
        interval: Duration,
    ) {
        let mut cursor = EmbeddingCursor::START;
        loop {
            match EmbeddingRepo::new(&pool)
                .changes_since(&chunker_key, &model_key, cursor)
                .await
            {
                Ok(changes) => {
                    self.apply(&changes.vectors);
                    cursor = changes.next;
                    if changes.more {
                        continue;
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, "reading chunk vectors failed; retrying");
                }
            }
            // Link what came into the graph until the next read of the feed is due, a little at
            // a time off the async workers (questions scan exactly until it has caught up).
            let due = tokio::time::Instant::now() + interval;
            loop {
                let vectors = Arc::clone(&self);
                let caught_up = tokio::task::spawn_blocking(move || vectors.link_pending())
                    .await
                    .unwrap_or(true);
                if caught_up || tokio::time::Instant::now() >= due {
                    break;
                }
            }
            tokio::time::sleep_until(due).await;
        }
    }
}

/// A question as the vectors are compared with it: quantised like the stored vectors.
enum Query<'a> {
    Int8 { codes: Vec<i8>, scale: f32 },
    F32(&'a [f32]),
}

impl<'a> Query<'a> {
    fn new(precision: Precision, question: &'a [f32]) -> Query<'a> {
        match precision {
            Precision::Int8 => {
                let (codes, scale) = quantise(question);
                Query::Int8 { codes, scale }
            }
            Precision::F32 => Query::F32(question),
        }
    }
}

/// Symmetric int8 codes of `values` and their scale (`value ≈ code * scale`).
fn quantise(values: &[f32]) -> (Vec<i8>, f32) {
    let largest = values.iter().fold(0.0f32, |max, v| max.max(v.abs()));
    if largest == 0.0 {
        return (vec![0; values.len()], 0.0);
    }
    let scale = largest / 127.0;
    let codes = values
        .iter()
        .map(|v| (v / scale).round().clamp(-127.0, 127.0) as i8)
        .collect();
    (codes, scale)
}

fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    // Widened to i16 thirty-two at a time, then multiplied and summed into i32: the shape the
    // compiler turns into multiply-add instructions (pmaddwd) on every x86-64; widening each
    // product to i32 on the way compiled to a chain of unpacks, 1.7 x slower (51 against 30 ns
    // for 384 dimensions, measured here).
    let (a_rows, b_rows) = (a.chunks_exact(32), b.chunks_exact(32));
    let mut total: i32 = a_rows
        .remainder()
        .iter()
        .zip(b_rows.remainder())
        .map(|(&x, &y)| i32::from(x) * i32::from(y))
        .sum();
    for (x, y) in a_rows.zip(b_rows) {
        let x: [i16; 32] = std::array::from_fn(|i| i16::from(x[i]));
        let y: [i16; 32] = std::array::from_fn(|i| i16::from(y[i]));
        let mut sum = 0i32;
        for lane in 0..32 {
            sum += i32::from(x[lane]) * i32::from(y[lane]);
        }
        total += sum;
    }
    total
}

fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    // Sixteen running sums the compiler keeps in vector registers (one sum would be a chain
    // of dependent additions it may not reorder).
    let mut sums = [0.0f32; 16];
    let (a_rows, b_rows) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail: f32 = a_rows
        .remainder()
        .iter()
        .zip(b_rows.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a_rows.zip(b_rows) {
        for lane in 0..16 {
            sums[lane] += x[lane] * y[lane];
        }
    }
    sums.iter().sum::<f32>() + tail
}

impl Vectors {
    /// Every slot's score, in slot order (one pass over the codes or values).
    fn scores(&self, vectors: &ChunkVectors, query: &Query<'_>) -> Vec<f32> {
        let d = vectors.dimensions;
        match query {
            Query::Int8 { codes, scale } => self
                .codes
                .chunks_exact(d)
                .zip(&self.scales)
                .map(|(row, row_scale)| dot_i8(codes, row) as f32 * scale * row_scale)
                .collect(),
            Query::F32(question) => self
                .values
                .chunks_exact(d)
                .map(|row| dot_f32(question, row))
                .collect(),
        }
    }

    /// Chunks nearest to the question, as (score, slot), of slots `narrowing` keeps: through
    /// the graph when it covers every slot and the narrowing keeps much of the corpus, else
    /// exactly (every kept slot, or the slots of the few items kept).
    fn ranked_chunks(
        &self,
        vectors: &ChunkVectors,
        question: &[f32],
        narrowing: Narrowing<'_>,
        limit: usize,
        scan: Scan,
    ) -> Vec<(f32, usize)> {
        let allowed = self.allowed_sources(narrowing.sources);
        let keeps = |slot: usize| {
            let Slot {
                item_id,
                source,
                alive,
                ..
            } = self.slots[slot];
            alive
                && allowed
                    .as_ref()
                    .is_none_or(|allowed| allowed[usize::from(source)])
                && narrowing
                    .within
                    .is_none_or(|within| within.contains(item_id))
        };
        let query = Query::new(vectors.precision, question);
        let items_share = narrowing.within.map_or(1.0, |within| {
            (within.len() as f64 / self.items.len().max(1) as f64).min(1.0)
        });
        if scan == Scan::AsFits
            && let Some(within) = narrowing.within.filter(|_| items_share <= EXACT_SHARE)
        {
            return self.scored_within(vectors, &query, within, &keeps);
        }
        let graph = self
            .graph
            .as_ref()
            .filter(|graph| scan == Scan::AsFits && graph.len() == self.slots.len());
        // The share of the vectors the narrowing keeps (sources counted, items estimated).
        let kept_share = graph.map_or(1.0, |_| items_share * self.source_share(allowed.as_deref()));
        let graph = graph.filter(|_| kept_share > EXACT_SHARE);
        match graph {
            Some(graph) => self.graph_chunks(graph, vectors, &query, limit, kept_share, &keeps),
            // Unnarrowed: one pass over every row (then the dead left out).
            None if allowed.is_none() && narrowing.within.is_none() => self
                .scores(vectors, &query)
                .into_iter()
                .enumerate()
                .filter(|&(slot, _)| self.slots[slot].alive)
                .map(|(slot, score)| (score, slot))
                .collect(),
            None => (0..self.slots.len())
                .filter(|&slot| keeps(slot))
                .map(|slot| (self.score(vectors, &query, slot), slot))
                .collect(),
        }
    }

    /// The nearest kept chunks through the graph: enough of them to hold `limit` items
    /// (an item's chunks tend to be near one another, so the chunks asked for double until
    /// they do), the beam widened as the narrowing keeps less.
    fn graph_chunks(
        &self,
        graph: &Graph,
        vectors: &ChunkVectors,
        query: &Query<'_>,
        limit: usize,
        kept_share: f64,
        keeps: &impl Fn(usize) -> bool,
    ) -> Vec<(f32, usize)> {
        let live = self.slots.len() - self.dead;
        // No more chunks than the narrowing keeps can be found.
        let kept = ((live as f64 * kept_share).ceil() as usize).max(1);
        let mut k = limit.saturating_mul(8).clamp(1, kept);
        loop {
            let ef =
                ((GRAPH_EF.max(k) as f64 / kept_share.max(EXACT_SHARE)) as usize).min(graph.len());
            let found: Vec<(f32, usize)> = graph
                .search(
                    &|node| self.score(vectors, query, node as usize),
                    k,
                    ef,
                    &|node| keeps(node as usize),
                )
                .into_iter()
                .map(|(score, node)| (score, node as usize))
                .collect();
            let items: std::collections::HashSet<i64> = found
                .iter()
                .map(|&(_, slot)| self.slots[slot].item_id)
                .collect();
            if items.len() >= limit || found.len() < k || k >= kept {
                return found;
            }
            k = k.saturating_mul(2).min(kept);
        }
    }

    /// The share of the live vectors in the sources `allowed` marks (all: 1).
    fn source_share(&self, allowed: Option<&[bool]>) -> f64 {
        let Some(allowed) = allowed else {
            return 1.0;
        };
        let kept: usize = self
            .source_live
            .iter()
            .zip(allowed)
            .filter(|(_, keep)| **keep)
            .map(|(live, _)| live)
            .sum();
        kept as f64 / (self.slots.len() - self.dead).max(1) as f64
    }

    /// Whether dead slots are over a thousand and a quarter of all: time to compact.
    fn sparse(&self) -> bool {
        self.dead > 1_000 && self.dead * 4 > self.slots.len()
    }

    /// Whether the graph has nothing to link (caught up, or not needed yet).
    fn linked(&self, vectors: &ChunkVectors) -> bool {
        match &self.graph {
            Some(graph) => graph.len() == self.slots.len(),
            None => self.slots.len() - self.dead < vectors.graph_from,
        }
    }

    /// Which source ids `sources` names (`None`: every source).
    fn allowed_sources(&self, sources: Option<&[String]>) -> Option<Vec<bool>> {
        sources.map(|sources| {
            let mut allowed = vec![false; self.sources.len()];
            for source in sources {
                if let Some(&id) = self.source_ids.get(source) {
                    allowed[usize::from(id)] = true;
                }
            }
            allowed
        })
    }

    /// Every kept chunk of the items `within`, scored exactly.
    fn scored_within(
        &self,
        vectors: &ChunkVectors,
        query: &Query<'_>,
        within: &ItemSet,
        keeps: &impl Fn(usize) -> bool,
    ) -> Vec<(f32, usize)> {
        let mut ranked = Vec::new();
        for &item_id in within.ids() {
            let Some(entry) = self.items.get(&item_id) else {
                continue;
            };
            for chunk in 0..entry.chunk_count {
                if let Some(&slot) = self.positions.get(&(item_id, chunk))
                    && keeps(slot)
                {
                    ranked.push((self.score(vectors, query, slot), slot));
                }
            }
        }
        ranked
    }

    /// Links slots not yet in the graph for at most `budget`, building it once there are
    /// `graph_from` vectors; whether it has caught up (or is not needed).
    fn link(&mut self, vectors: &ChunkVectors, budget: Duration) -> bool {
        if self.linked(vectors) {
            return true;
        }
        let mut graph = self
            .graph
            .take()
            .unwrap_or_else(|| Graph::new(hnsw::Params::default()));
        let space = SlotSpace {
            vectors: self,
            chunk_vectors: vectors,
        };
        let started = std::time::Instant::now();
        while graph.len() < self.slots.len() {
            graph.insert(&space);
            if graph.len().is_multiple_of(16) && started.elapsed() >= budget {
                break;
            }
        }
        let caught_up = graph.len() == self.slots.len();
        self.graph = Some(graph);
        caught_up
    }

    /// Drops dead slots once they are a quarter of all (and over a thousand); the slots move,
    /// and the graph drops their nodes and renumbers the rest alike (no linking again).
    fn compact_if_sparse(&mut self, vectors: &ChunkVectors) {
        if !self.sparse() {
            return;
        }
        if let Some(graph) = &mut self.graph {
            let kept: Vec<bool> = self.slots[..graph.len()].iter().map(|s| s.alive).collect();
            graph.retain(&kept);
        }
        let d = vectors.dimensions;
        let mut kept = 0;
        for slot in 0..self.slots.len() {
            if !self.slots[slot].alive {
                continue;
            }
            if kept != slot {
                self.slots[kept] = self.slots[slot];
                if !self.codes.is_empty() {
                    self.codes.copy_within(slot * d..(slot + 1) * d, kept * d);
                    self.scales[kept] = self.scales[slot];
                }
                if !self.values.is_empty() {
                    self.values.copy_within(slot * d..(slot + 1) * d, kept * d);
                }
            }
            kept += 1;
        }
        self.slots.truncate(kept);
        if !self.codes.is_empty() {
            self.codes.truncate(kept * d);
            self.scales.truncate(kept);
        }
        if !self.values.is_empty() {
            self.values.truncate(kept * d);
        }
        self.positions = self
            .slots
            .iter()
            .enumerate()
            .map(|(slot, s)| ((s.item_id, s.chunk_index), slot))
            .collect();
        self.dead = 0;
    }

    fn score(&self, vectors: &ChunkVectors, query: &Query<'_>, slot: usize) -> f32 {
        let d = vectors.dimensions;
        match query {
            Query::Int8 { codes, scale } => {
                let stored = &self.codes[slot * d..(slot + 1) * d];
                dot_i8(codes, stored) as f32 * scale * self.scales[slot]
            }
            Query::F32(question) => dot_f32(question, &self.values[slot * d..(slot + 1) * d]),
        }
    }

    fn take(&mut self, vectors: &ChunkVectors, vector: &StoredVector) {
        let d = vectors.dimensions;
        if vector.chunk_index >= vector.chunk_count {
            tracing::warn!(
                item_id = vector.item_id,
                chunk_index = vector.chunk_index,
                chunk_count = vector.chunk_count,
                "a stored vector's chunk is past its set's chunk count: skipped"
            );
            return;
        }
        match self.items.get(&vector.item_id) {
            Some(entry) if entry.content_hash != vector.content_hash => {
                self.remove_item(d, vector.item_id);
            }
            Some(entry) if entry.chunk_count > vector.chunk_count => {
                for chunk in vector.chunk_count..entry.chunk_count {
                    self.remove_slot(d, vector.item_id, chunk);
                }
            }
            _ => {}
        }
        self.items.insert(
            vector.item_id,
            ItemEntry {
                content_hash: vector.content_hash,
                chunk_count: vector.chunk_count,
            },
        );
        let source = match self.source_ids.get(&vector.source) {
            Some(&id) => id,
            None => {
                let id = u16::try_from(self.sources.len()).unwrap_or(u16::MAX);
                self.sources.push(vector.source.clone());
                self.source_ids.insert(vector.source.clone(), id);
                id
            }
        };
        if self.source_live.len() <= usize::from(source) {
            self.source_live.resize(usize::from(source) + 1, 0);
        }
        let key = (vector.item_id, vector.chunk_index);
        let slot = match self.positions.get(&key) {
            Some(&slot) => {
                self.source_live[usize::from(self.slots[slot].source)] -= 1;
                slot
            }
            None => {
                let slot = self.slots.len();
                self.slots.push(Slot {
                    item_id: vector.item_id,
                    chunk_index: vector.chunk_index,
                    source,
                    alive: true,
                });
                match vectors.precision {
                    Precision::Int8 => {
                        self.codes.resize(self.codes.len() + d, 0);
                        self.scales.push(0.0);
                    }
                    Precision::F32 => self.values.resize(self.values.len() + d, 0.0),
                }
                self.positions.insert(key, slot);
                slot
            }
        };
        self.slots[slot].source = source;
        self.source_live[usize::from(source)] += 1;
        match vectors.precision {
            Precision::Int8 => {
                let (codes, scale) = quantise(&vector.vector);
                self.codes[slot * d..(slot + 1) * d].copy_from_slice(&codes);
                self.scales[slot] = scale;
            }
            Precision::F32 => {
                self.values[slot * d..(slot + 1) * d].copy_from_slice(&vector.vector);
            }
        }
    }

    fn remove_item(&mut self, d: usize, item_id: i64) {
        if let Some(entry) = self.items.remove(&item_id) {
            for chunk in 0..entry.chunk_count {
                self.remove_slot(d, item_id, chunk);
            }
        }
    }

    /// Removes one chunk's vector. With a graph its slot is dead (its codes stay for the
    /// graph's walks); without one the last slot moves into its place, as no dead vector is
    /// worth scoring.
    fn remove_slot(&mut self, d: usize, item_id: i64, chunk_index: u32) {
        let Some(slot) = self.positions.remove(&(item_id, chunk_index)) else {
            return;
        };
        self.source_live[usize::from(self.slots[slot].source)] -= 1;
        if self.graph.is_some() {
            self.slots[slot].alive = false;
            self.dead += 1;
            return;
        }
        let last = self.slots.len() - 1;
        self.slots.swap_remove(slot);
        if !self.codes.is_empty() {
            self.codes.copy_within(last * d..(last + 1) * d, slot * d);
            self.codes.truncate(last * d);
            self.scales.swap_remove(slot);
        }
        if !self.values.is_empty() {
            self.values.copy_within(last * d..(last + 1) * d, slot * d);
            self.values.truncate(last * d);
        }
        if slot != last {
            let moved = self.slots[slot];
            self.positions
                .insert((moved.item_id, moved.chunk_index), slot);
        }
    }
}

/// The slots' vectors as the graph sees them.
struct SlotSpace<'a> {
    vectors: &'a Vectors,
    chunk_vectors: &'a ChunkVectors,
}

impl hnsw::Space for SlotSpace<'_> {
    fn between(&self, a: u32, b: u32) -> f32 {
        let d = self.chunk_vectors.dimensions;
        let (a, b) = (a as usize, b as usize);
        match self.chunk_vectors.precision {
            Precision::Int8 => {
                let codes = &self.vectors.codes;
                dot_i8(&codes[a * d..(a + 1) * d], &codes[b * d..(b + 1) * d]) as f32
                    * self.vectors.scales[a]
                    * self.vectors.scales[b]
            }
            Precision::F32 => {
                let values = &self.vectors.values;
                dot_f32(&values[a * d..(a + 1) * d], &values[b * d..(b + 1) * d])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::hnsw::tests::clustered;

    fn stored(
        item_id: i64,
        chunk: u32,
        count: u32,
        hash: u8,
        source: &str,
        v: [f32; 3],
    ) -> StoredVector {
        StoredVector {
            item_id,
            source: source.to_owned(),
            chunk_index: chunk,
            chunk_count: count,
            content_hash: [hash; 32],
            vector: unit(v).to_vec(),
        }
    }

    fn unit(v: [f32; 3]) -> [f32; 3] {
        let length = dot_f32(&v, &v).sqrt();
        v.map(|x| x / length)
    }

    fn ids(hits: &[DenseHit]) -> Vec<(i64, u32)> {
        hits.iter().map(|h| (h.item_id, h.chunk_index)).collect()
    }

    static DOCS: std::sync::LazyLock<[String; 1]> =
        std::sync::LazyLock::new(|| ["docs".to_owned()]);

    #[test]
    fn items_rank_by_their_best_chunk_in_both_precisions() {
        for precision in [Precision::Int8, Precision::F32] {
            let vectors = ChunkVectors::new(3, precision);
            vectors.apply(&[
                stored(1, 0, 2, 1, "docs", [1.0, 0.0, 0.0]),
                stored(1, 1, 2, 1, "docs", [0.0, 1.0, 0.0]),
                stored(2, 0, 1, 1, "wiki", [0.7, 0.7, 0.1]),
                stored(3, 0, 1, 1, "docs", [0.0, 0.0, 1.0]),
            ]);
            let question = unit([0.1, 1.0, 0.0]);
            let hits = vectors.search(&question, Narrowing::default(), 10);
            assert_eq!(ids(&hits), [(1, 1), (2, 0), (3, 0)], "{precision:?}");
            assert!((hits[0].score - 0.995).abs() < 0.01, "{}", hits[0].score);
            let sources = |names: &'static [String]| Narrowing {
                sources: Some(names),
                within: None,
            };
            let docs = vectors.search(&question, sources(&*DOCS), 10);
            assert_eq!(ids(&docs), [(1, 1), (3, 0)]);
            assert!(vectors.search(&question, sources(&[]), 10).is_empty());
            let within = ItemSet::new(vec![2, 3]);
            let kept = Narrowing {
                sources: Some(&*DOCS),
                within: Some(&within),
            };
            assert_eq!(ids(&vectors.search(&question, kept, 10)), [(3, 0)]);
            assert_eq!(
                ids(&vectors.search(&question, Narrowing::default(), 1)),
                [(1, 1)]
            );
            let mut scores = vectors.chunk_scores(&[(1, [1; 32]), (1, [2; 32])], &question);
            let chunks = scores[0].take().unwrap();
            assert!(chunks[1] > chunks[0]);
            assert_eq!(scores[1], None, "another content");
        }
    }

    #[test]
    fn new_content_replaces_old_vectors_and_forgotten_items_go() {
        let vectors = ChunkVectors::new(3, Precision::Int8);
        vectors.apply(&[
            stored(1, 0, 3, 1, "docs", [1.0, 0.0, 0.0]),
            stored(1, 1, 3, 1, "docs", [0.0, 1.0, 0.0]),
            stored(1, 2, 3, 1, "docs", [0.0, 0.0, 1.0]),
            stored(2, 0, 1, 1, "docs", [1.0, 1.0, 0.0]),
        ]);
        assert_eq!(vectors.sizes().0, 4);
        // Item 1 changed: one chunk now, pointing elsewhere.
        vectors.apply(&[stored(1, 0, 1, 9, "docs", [0.0, 0.0, 1.0])]);
        assert_eq!(vectors.sizes().0, 2, "the old content's three vectors went");
        let hits = vectors.search(&unit([0.0, 0.0, 1.0]), Narrowing::default(), 10);
        assert_eq!(hits[0].item_id, 1);
        assert_eq!(hits[0].content_hash, [9; 32]);
        // Item 2 shrank to nothing: it is forgotten (deleted).
        vectors.forget(2);
        assert_eq!(
            ids(&vectors.search(&unit([1.0, 1.0, 0.0]), Narrowing::default(), 10)),
            [(1, 0)]
        );
        // The moved slot is still found by its key.
        vectors.apply(&[stored(1, 0, 1, 9, "docs", [1.0, 0.0, 0.0])]);
        assert_eq!(vectors.sizes().0, 1);
        let again = vectors.search(&unit([1.0, 0.0, 0.0]), Narrowing::default(), 10);
        assert!(again[0].score > 0.99);
    }

    /// `items` items of `chunks` chunks each, in `d` dimensions, around a few topics, source
    /// `docs` or `wiki` by parity, all of content hash `hash`.
    fn corpus(items: i64, chunks: u32, d: usize, hash: u8) -> Vec<StoredVector> {
        let raw = clustered(items as usize * chunks as usize, d, 25, u64::from(hash));
        (0..items)
            .flat_map(|item| (0..chunks).map(move |chunk| (item, chunk)))
            .zip(raw)
            .map(|((item, chunk), vector)| StoredVector {
                item_id: item + 1,
                source: if item % 2 == 0 { "docs" } else { "wiki" }.to_owned(),
                chunk_index: chunk,
                chunk_count: chunks,
                content_hash: [hash; 32],
                vector,
            })
            .collect()
    }

    fn linked(vectors: &ChunkVectors) {
        while !vectors.link_pending() {}
    }

    #[test]
    fn the_graph_finds_what_the_exact_scan_finds() {
        let (d, stored) = (32, corpus(1_500, 3, 32, 1));
        let exact = ChunkVectors::with_graph_from(d, Precision::Int8, usize::MAX);
        let graph = ChunkVectors::with_graph_from(d, Precision::Int8, 0);
        exact.apply(&stored);
        graph.apply(&stored);
        linked(&graph);
        assert!(
            lock_read(&graph.vectors)
                .graph
                .as_ref()
                .is_some_and(|g| g.len() == 4_500)
        );
        assert!(lock_read(&exact.vectors).graph.is_none());
        let questions = clustered(30, d, 25, 77);
        let (mut same, mut asked) = (0, 0);
        for question in &questions {
            let truth: std::collections::HashSet<i64> = exact
                .search(question, Narrowing::default(), 20)
                .iter()
                .map(|h| h.item_id)
                .collect();
            let found = graph.search(question, Narrowing::default(), 20);
            assert_eq!(found.len(), 20);
            same += found.iter().filter(|h| truth.contains(&h.item_id)).count();
            asked += 20;
            // Narrowed to a source (half the corpus): through the graph, only that source.
            let wiki = ["wiki".to_owned()];
            let narrowed = graph.search(question, Narrowing::new(Some(&wiki), None), 20);
            assert_eq!(narrowed.len(), 20);
            assert!(
                narrowed.iter().all(|h| h.item_id % 2 == 0),
                "wiki items have even ids"
            );
            // Narrowed to 1 % of the items: scored exactly on them, the exact scan's answer.
            let few = ItemSet::new((1..=15).map(|i| i * 97).collect());
            let kept = Narrowing::new(None, Some(&few));
            assert_eq!(
                ids(&graph.search(question, kept, 5)),
                ids(&exact.search(question, kept, 5))
            );
        }
        let recall = same as f64 / asked as f64;
        assert!(recall >= 0.95, "items recalled through the graph: {recall}");
    }

    #[test]
    fn through_the_graph_deleted_and_changed_items_are_never_returned() {
        let d = 16;
        let vectors = ChunkVectors::with_graph_from(d, Precision::F32, 0);
        vectors.apply(&corpus(1_200, 2, d, 1));
        linked(&vectors);
        let question = clustered(1, d, 25, 1).remove(0);
        let first: Vec<i64> = vectors
            .search(&question, Narrowing::default(), 10)
            .iter()
            .map(|h| h.item_id)
            .collect();
        // The best items go: five deleted, five changed (new content, one chunk, far away).
        for &gone in &first[..5] {
            vectors.forget(gone);
        }
        let far: Vec<f32> = question.iter().map(|x| -x).collect();
        let changed: Vec<StoredVector> = first[5..]
            .iter()
            .map(|&item| StoredVector {
                item_id: item,
                source: "docs".to_owned(),
                chunk_index: 0,
                chunk_count: 1,
                content_hash: [2; 32],
                vector: far.clone(),
            })
            .collect();
        vectors.apply(&changed);
        linked(&vectors);
        let after = vectors.search(&question, Narrowing::default(), 10);
        assert_eq!(after.len(), 10);
        for hit in &after {
            assert!(
                !first[..5].contains(&hit.item_id),
                "deleted item {} returned",
                hit.item_id
            );
            // Their new content points away from the question: only their old vectors
            // could bring them back into the first ten.
            assert!(
                !first[5..].contains(&hit.item_id),
                "old content of item {} used",
                hit.item_id
            );
        }
        // Deleting most of the corpus compacts the store and rebuilds the graph: still right.
        for item in 1..=900 {
            vectors.forget(item);
        }
        linked(&vectors);
        let (held, _) = vectors.sizes();
        let expected: usize = (901..=1_200)
            .map(|item| match first.iter().position(|&f| f == item) {
                Some(0..5) => 0,
                Some(_) => 1,
                None => 2,
            })
            .sum();
        assert_eq!(
            held, expected,
            "items 901-1200, two chunks each (one if changed, none if deleted)"
        );
        {
            let store = lock_read(&vectors.vectors);
            assert!(
                store.slots.len() < 2_400 && store.dead <= 1_000,
                "compacted"
            );
            let graph = store.graph.as_ref().expect("the graph is linked again");
            assert_eq!(graph.len(), store.slots.len());
        }
        let rest = vectors.search(&question, Narrowing::default(), 100);
        assert_eq!(rest.len(), 100);
        assert!(rest.iter().all(|h| h.item_id > 900));
    }

    #[test]
    fn vectors_not_yet_linked_are_found_by_the_exact_scan() {
        let d = 16;
        let vectors = ChunkVectors::with_graph_from(d, Precision::Int8, 0);
        vectors.apply(&corpus(300, 2, d, 1));
        linked(&vectors);
        // A new item arrives; until it is linked, questions are answered exactly.
        let question = clustered(1, d, 25, 3).remove(0);
        let new = StoredVector {
            item_id: 10_000,
            source: "docs".to_owned(),
            chunk_index: 0,
            chunk_count: 1,
            content_hash: [5; 32],
            vector: question.clone(),
        };
        vectors.apply(&[new]);
        assert!(!vectors.has_graph(), "the graph lags the slots");
        let hits = vectors.search(&question, Narrowing::default(), 3);
        assert_eq!(hits[0].item_id, 10_000);
        linked(&vectors);
        assert!(vectors.has_graph());
        assert_eq!(
            vectors.search(&question, Narrowing::default(), 3)[0].item_id,
            10_000
        );
    }

    #[test]
    fn the_int8_dot_product_is_the_plain_sum_at_any_length() {
        for d in [1, 31, 32, 33, 100, 384] {
            let a: Vec<i8> = (0..d).map(|i| ((i * 37 + 11) % 255) as u8 as i8).collect();
            let b: Vec<i8> = (0..d).map(|i| ((i * 91 + 3) % 255) as u8 as i8).collect();
            let plain: i32 = a
                .iter()
                .zip(&b)
                .map(|(&x, &y)| i32::from(x) * i32::from(y))
                .sum();
            assert_eq!(dot_i8(&a, &b), plain, "{d} dimensions");
        }
        let extreme = vec![-128i8; 64];
        assert_eq!(dot_i8(&extreme, &extreme), 64 * 128 * 128);
    }

    #[test]
    fn a_vector_of_the_wrong_length_is_skipped() {
        let vectors = ChunkVectors::new(3, Precision::F32);
        let mut wrong = stored(1, 0, 1, 1, "docs", [1.0, 0.0, 0.0]);
        wrong.vector.push(0.0);
        vectors.apply(&[wrong]);
        assert_eq!(vectors.sizes().0, 0);
    }
}
