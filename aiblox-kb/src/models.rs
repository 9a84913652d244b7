//! The contract's data: items and cached chunks, as plain serializable structs.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One knowledge document. `(source, external_id)` is its identity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KbItem {
    /// Surrogate key, assigned by the database.
    pub id: i64,
    /// Where the item comes from (`docs`, `tickets`, ...).
    pub source: String,
    /// The item's id within its source (a path, a ticket number, ...).
    pub external_id: String,
    /// Title, when the item has one.
    pub title: Option<String>,
    /// The text.
    pub content: String,
    /// SHA-256 of `content` (hex in JSON): detects changes and keys the chunk cache.
    #[serde(with = "hex_hash")]
    pub content_hash: [u8; 32],
    /// Free-form JSON object.
    pub metadata: serde_json::Value,
    /// Where each page starts in `content` (byte offsets, the first 0), for paged documents
    /// (PDF, Word); `None` for others. See [`KbItem::page_at`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_starts: Option<Vec<u32>>,
    /// When the item was first written.
    pub created_at: DateTime<Utc>,
    /// When its title, content or metadata last changed.
    pub updated_at: DateTime<Utc>,
}

/// What a sync client compares of an item: its identity within its source, its content's hash
/// and when it last changed ([`ItemRepo::digests_of_source`](crate::ItemRepo::digests_of_source)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemDigest {
    /// Surrogate key, assigned by the database.
    pub id: i64,
    /// The item's id within its source.
    pub external_id: String,
    /// SHA-256 of its content (hex in JSON).
    #[serde(with = "hex_hash")]
    pub content_hash: [u8; 32],
    /// When its title, content, metadata or pages last changed.
    pub updated_at: DateTime<Utc>,
}

/// An item to write with [`ItemRepo::upsert`](crate::ItemRepo::upsert).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewItem {
    /// Where the item comes from: 1 to 256 bytes.
    pub source: String,
    /// The item's id within its source: 1 to 1024 bytes.
    pub external_id: String,
    /// Title, if any.
    pub title: Option<String>,
    /// The text; its SHA-256 is computed on write.
    pub content: String,
    /// A JSON object (`{}` when there is nothing to say).
    pub metadata: serde_json::Value,
    /// Where each page starts in `content`, for paged documents: byte offsets on character
    /// boundaries, the first 0, non-decreasing (an empty page starts where the next does),
    /// none past the content's end, at most [`MAX_PAGES`](crate::MAX_PAGES).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_starts: Option<Vec<u32>>,
}

impl NewItem {
    /// An item without title and with empty metadata.
    pub fn new(
        source: impl Into<String>,
        external_id: impl Into<String>,
        content: impl Into<String>,
    ) -> Self {
        NewItem {
            source: source.into(),
            external_id: external_id.into(),
            title: None,
            content: content.into(),
            metadata: serde_json::Value::Object(serde_json::Map::new()),
            page_starts: None,
        }
    }

    /// With a title.
    pub fn with_title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// With metadata (must be a JSON object).
    pub fn with_metadata(mut self, metadata: serde_json::Value) -> Self {
        self.metadata = metadata;
        self
    }

    /// With pages: where each starts in the content (see [`NewItem::page_starts`]).
    pub fn with_page_starts(mut self, page_starts: Vec<u32>) -> Self {
        self.page_starts = Some(page_starts);
        self
    }
}

impl KbItem {
    /// The page (from 1) holding byte `offset` of the content; `None` for an item without
    /// pages.
    pub fn page_at(&self, offset: u32) -> Option<u32> {
        page_at(self.page_starts.as_deref()?, offset)
    }
}

/// The page (from 1) of `page_starts` holding byte `offset`: the last page starting at or
/// before it (of empty pages starting at the same offset, the one after them).
pub(crate) fn page_at(page_starts: &[u32], offset: u32) -> Option<u32> {
    let pages_before = page_starts.partition_point(|start| *start <= offset);
    u32::try_from(pages_before.max(1)).ok()
}

/// What an upsert did to one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpsertStatus {
    /// The item was new.
    Inserted,
    /// The item existed and its title, content or metadata changed.
    Updated,
    /// The item existed with the same title, content and metadata; nothing was written.
    Unchanged,
}

/// The outcome of an upsert for one input item, in input order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpsertOutcome {
    /// The item's id.
    pub id: i64,
    /// What was done.
    pub status: UpsertStatus,
}

/// A full-text search result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchHit {
    /// The item.
    #[serde(flatten)]
    pub item: KbItem,
    /// Relevance (`ts_rank_cd`); higher is better, comparable within one search only.
    pub rank: f32,
}

/// The parameters of BM25 ranking ([`ItemRepo::search_bm25`](crate::ItemRepo::search_bm25)).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bm25 {
    /// Term-frequency saturation: how much a term's tenth occurrence adds over its first
    /// (0 ignores frequency; usual values 0.9 to 2.0).
    pub k1: f64,
    /// Length normalisation, 0 (none) to 1 (full).
    pub b: f64,
    /// How many content occurrences one occurrence in the title counts as (at least 0).
    pub title_weight: f64,
}

impl Default for Bm25 {
    /// `k1` 1.2, `b` 0.75 (the usual values), a title term counting twice.
    fn default() -> Self {
        Bm25 {
            k1: 1.2,
            b: 0.75,
            title_weight: 2.0,
        }
    }
}

impl Bm25 {
    /// The inverse document frequency of a term held by `df` of `documents` documents: BM25's
    /// `ln(1 + (N - df + 0.5) / (df + 0.5))`, never negative. The one place it is written:
    /// pages ([`ItemRepo::search_bm25`](crate::ItemRepo::search_bm25)) and a service's
    /// passages are weighted alike.
    #[inline]
    pub fn idf(documents: f64, df: f64) -> f64 {
        (1.0 + (documents - df + 0.5) / (df + 0.5)).ln()
    }

    /// What one term adds to a document's score: its `idf`, its frequency `tf` in the
    /// document, and the document's `length` against the `average_length` of its kind.
    #[inline]
    pub fn term_score(&self, idf: f64, tf: f64, length: f64, average_length: f64) -> f64 {
        idf * tf * (self.k1 + 1.0)
            / (tf + self.k1 * (1.0 - self.b + self.b * length / average_length))
    }
}

/// A term of a question as the lexical index knows it, with its weight in this corpus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryTerm {
    /// The lexeme (PostgreSQL's `english` configuration: lower case, stemmed).
    pub term: String,
    /// Inverse document frequency over the whole corpus: `ln(1 + (N - df + 0.5) / (df + 0.5))`.
    pub idf: f64,
}

/// An item found by [`ItemRepo::search_bm25`](crate::ItemRepo::search_bm25): its identity and
/// score, without its content (fetch that with `get_many` when needed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankedItem {
    /// The item's id.
    pub id: i64,
    /// Where it comes from.
    pub source: String,
    /// Its id in the source.
    pub external_id: String,
    /// Its title, if any.
    pub title: Option<String>,
    /// SHA-256 of its content (hex in JSON): the key of its cached chunks.
    #[serde(with = "hex_hash")]
    pub content_hash: [u8; 32],
    /// BM25 score; higher is better, comparable within one search only.
    pub score: f64,
    /// Where each page starts in its content, for paged documents ([`KbItem::page_starts`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_starts: Option<Vec<u32>>,
}

impl RankedItem {
    /// The page (from 1) holding byte `offset` of the item's content ([`KbItem::page_at`]).
    pub fn page_at(&self, offset: u32) -> Option<u32> {
        page_at(self.page_starts.as_deref()?, offset)
    }
}

/// The result of a BM25 search: the question's terms and the best items.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RankedItems {
    /// The question's terms that some item holds, in term order, with their IDF.
    pub terms: Vec<QueryTerm>,
    /// The best items, best first; equal scores in id order.
    pub items: Vec<RankedItem>,
}

/// The terms one cached chunk holds, computed by the database when its set was cached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkTerms {
    /// Position of the chunk in its set.
    pub chunk_index: u32,
    /// The chunk's length in terms (stop words excluded).
    pub length: u32,
    /// The terms it holds, in term order, with how often it holds each.
    pub terms: Vec<(String, u32)>,
}

/// The term statistics of one item's cached chunk set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkSetTerms {
    /// Number of chunks in the set.
    pub chunk_count: u32,
    /// Every chunk, in chunk order.
    pub chunks: Vec<ChunkTerms>,
}

/// One cached chunk of an item, made by the chunker named by `chunker_key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KbChunkCache {
    /// The item chunked.
    pub item_id: i64,
    /// The chunker: algorithm, version and parameters.
    pub chunker_key: String,
    /// Position of this chunk in its set, from 0.
    pub chunk_index: u32,
    /// Number of chunks in the set.
    pub chunk_count: u32,
    /// The item's content hash the chunks were made from (hex in JSON).
    #[serde(with = "hex_hash")]
    pub content_hash: [u8; 32],
    /// Start of the chunk: byte offset into the item's content.
    pub start_offset: u32,
    /// End of the chunk (exclusive): byte offset into the item's content.
    pub end_offset: u32,
    /// The chunk's text.
    pub text: String,
    /// Number of tokens, as the chunker counts them.
    pub token_count: u32,
    /// When the chunk was written.
    pub created_at: DateTime<Utc>,
}

/// A chunk to cache, part of a [`NewChunkSet`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewChunk {
    /// Start: byte offset into the item's content.
    pub start_offset: u32,
    /// End (exclusive): byte offset into the item's content; not before `start_offset`.
    pub end_offset: u32,
    /// The chunk's text.
    pub text: String,
    /// Number of tokens.
    pub token_count: u32,
}

/// Every chunk of one item, made from the content with hash `content_hash`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewChunkSet {
    /// The item chunked.
    pub item_id: i64,
    /// The content hash the chunks were made from; the set is only stored while the item
    /// still has it.
    #[serde(with = "hex_hash")]
    pub content_hash: [u8; 32],
    /// The chunks, in order; at least one.
    pub chunks: Vec<NewChunk>,
}

/// SHA-256 digests as lower-case hex in serialized form.
mod hex_hash {
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    pub(super) fn serialize<S: Serializer>(
        hash: &[u8; 32],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(hash))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<[u8; 32], D::Error> {
        let hex = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        let invalid = || D::Error::custom("expected a SHA-256 hash: 64 hexadecimal digits");
        let mut hash = [0u8; 32];
        hex::decode_to_slice(hex.as_bytes(), &mut hash).map_err(|_| invalid())?;
        Ok(hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_hex_in_json_and_round_trip() {
        let set = NewChunkSet {
            item_id: 7,
            content_hash: [0xab; 32],
            chunks: vec![],
        };
        let json = serde_json::to_value(&set).unwrap();
        assert_eq!(json["content_hash"], "ab".repeat(32));
        assert_eq!(serde_json::from_value::<NewChunkSet>(json).unwrap(), set);
        let bad = serde_json::json!({"item_id": 1, "content_hash": "zz", "chunks": []});
        assert!(
            serde_json::from_value::<NewChunkSet>(bad)
                .unwrap_err()
                .to_string()
                .contains("64 hexadecimal")
        );
    }
}

/// The vectors of one item's chunk set for one chunker and embedding model, to store with
/// [`EmbeddingRepo::put`](crate::EmbeddingRepo::put): `vectors[n]` is chunk `n`'s.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewEmbeddingSet {
    /// The item whose chunks were embedded.
    pub item_id: i64,
    /// The item's content hash the chunks were cut from (hex in JSON): the set is not
    /// written if the item no longer has it.
    #[serde(with = "hex_hash")]
    pub content_hash: [u8; 32],
    /// One vector per chunk, in chunk order, all of one length.
    pub vectors: Vec<Vec<f32>>,
}

/// An item's content claimed by an indexer with
/// [`EmbeddingRepo::claim`](crate::EmbeddingRepo::claim).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EmbeddingClaim {
    /// The item claimed.
    pub item_id: i64,
    /// The content hash it had when claimed (hex in JSON).
    #[serde(with = "hex_hash")]
    pub content_hash: [u8; 32],
}

/// A stored chunk vector, valid for its item's current content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredVector {
    /// The item.
    pub item_id: i64,
    /// The item's source.
    pub source: String,
    /// The chunk's position in its set.
    pub chunk_index: u32,
    /// Number of chunks in the set.
    pub chunk_count: u32,
    /// The content hash the chunk was cut from (hex in JSON).
    #[serde(with = "hex_hash")]
    pub content_hash: [u8; 32],
    /// The vector.
    pub vector: Vec<f32>,
}

/// Where a reader of [`EmbeddingRepo::changes_since`](crate::EmbeddingRepo::changes_since)
/// stands: start with [`EmbeddingCursor::START`], then pass the cursor each read returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EmbeddingCursor(pub(crate) i64);

impl EmbeddingCursor {
    /// Before every vector.
    pub const START: EmbeddingCursor = EmbeddingCursor(0);
}

/// The vectors written since a cursor, and the cursor to read on from.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddingChanges {
    /// Vectors written since the cursor (some may have been seen before: a reader replaces
    /// what it holds for the same chunk), in the order written.
    pub vectors: Vec<StoredVector>,
    /// Where to read on from.
    pub next: EmbeddingCursor,
    /// More vectors are waiting: read again at once.
    pub more: bool,
}

/// How far the vectors of one chunker and model cover the knowledge base.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmbeddingProgress {
    /// Items in the knowledge base.
    pub items: u64,
    /// Items whose current content is indexed (vectors written, or found to have no chunk).
    pub indexed: u64,
}
