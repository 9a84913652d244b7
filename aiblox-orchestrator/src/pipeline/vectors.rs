//! The chunk vectors in memory: every chunk vector of the knowledge base for the service's
//! chunker and model, held in a compact form (int8 with a scale per vector, or f32), kept
//! current from the contract's change feed, searched by brute-force cosine.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use super::narrowing::Narrowing;
use super::passage_store::lock_read;
use crate::service::config::Precision;
use aiblox_kb::{EmbeddingCursor, EmbeddingRepo, KbPool, StoredVector};

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

/// A chunk's place among the vectors.
#[derive(Debug, Clone, Copy)]
struct Slot {
    item_id: i64,
    chunk_index: u32,
    source: u16,
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
}

/// The in-memory vectors, shared by every request; written by one [`ChunkVectors::sync`] task.
#[derive(Debug)]
pub(crate) struct ChunkVectors {
    dimensions: usize,
    precision: Precision,
    vectors: RwLock<Vectors>,
}

impl ChunkVectors {
    /// No vectors yet, of `dimensions`-long vectors.
    pub(crate) fn new(dimensions: usize, precision: Precision) -> ChunkVectors {
        ChunkVectors {
            dimensions,
            precision,
            vectors: RwLock::default(),
        }
    }

    /// Vectors held, and bytes they take (codes, scales and slots; not the maps).
    pub(crate) fn sizes(&self) -> (usize, usize) {
        let vectors = lock_read(&self.vectors);
        let per_slot = size_of::<Slot>()
            + match self.precision {
                Precision::Int8 => self.dimensions + 4,
                Precision::F32 => 4 * self.dimensions,
            };
        (vectors.slots.len(), vectors.slots.len() * per_slot)
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
        let vectors = lock_read(&self.vectors);
        let allowed: Option<Vec<bool>> = narrowing.sources.map(|sources| {
            let mut allowed = vec![false; vectors.sources.len()];
            for source in sources {
                if let Some(&id) = vectors.source_ids.get(source) {
                    allowed[usize::from(id)] = true;
                }
            }
            allowed
        });
        let scores = vectors.scores(self, question);
        let mut ranked: Vec<(f32, usize)> = scores
            .into_iter()
            .enumerate()
            .filter(|&(slot, _)| {
                let Slot {
                    item_id, source, ..
                } = vectors.slots[slot];
                allowed
                    .as_ref()
                    .is_none_or(|allowed| allowed[usize::from(source)])
                    && narrowing
                        .within
                        .is_none_or(|within| within.contains(item_id))
            })
            .map(|(slot, score)| (score, slot))
            .collect();
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
            tokio::time::sleep(interval).await;
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
    a.iter()
        .zip(b)
        .map(|(&x, &y)| i32::from(x) * i32::from(y))
        .sum()
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
    fn scores(&self, vectors: &ChunkVectors, question: &[f32]) -> Vec<f32> {
        let d = vectors.dimensions;
        match Query::new(vectors.precision, question) {
            Query::Int8 { codes, scale } => self
                .codes
                .chunks_exact(d)
                .zip(&self.scales)
                .map(|(row, row_scale)| dot_i8(&codes, row) as f32 * scale * row_scale)
                .collect(),
            Query::F32(question) => self
                .values
                .chunks_exact(d)
                .map(|row| dot_f32(question, row))
                .collect(),
        }
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
        let key = (vector.item_id, vector.chunk_index);
        let slot = match self.positions.get(&key) {
            Some(&slot) => slot,
            None => {
                let slot = self.slots.len();
                self.slots.push(Slot {
                    item_id: vector.item_id,
                    chunk_index: vector.chunk_index,
                    source,
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

    /// Removes one chunk's slot: the last slot moves into its place.
    fn remove_slot(&mut self, d: usize, item_id: i64, chunk_index: u32) {
        let Some(slot) = self.positions.remove(&(item_id, chunk_index)) else {
            return;
        };
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

#[cfg(test)]
mod tests {
    use super::*;

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
            let within = aiblox_kb::ItemSet::new(vec![2, 3]);
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

    #[test]
    fn a_vector_of_the_wrong_length_is_skipped() {
        let vectors = ChunkVectors::new(3, Precision::F32);
        let mut wrong = stored(1, 0, 1, 1, "docs", [1.0, 0.0, 0.0]);
        wrong.vector.push(0.0);
        vectors.apply(&[wrong]);
        assert_eq!(vectors.sizes().0, 0);
    }
}
