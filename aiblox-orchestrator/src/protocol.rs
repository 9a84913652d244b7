//! The versioned JSON protocol of the HTTP API (`/v1/...`): requests, responses, errors.

use serde::{Deserialize, Serialize};

/// Most evidence passages one query may ask for.
pub const MAX_TOP_K: u32 = 50;
/// Passages returned when a query does not say.
pub const DEFAULT_TOP_K: u32 = 5;
/// Most sources one query may filter on.
pub const MAX_SOURCES: usize = 100;

/// `POST /v1/query`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryRequest {
    /// The question, or `source:external_id` to name one item.
    pub query: String,
    /// Passages wanted, 1 to 50 (default 5).
    #[serde(default)]
    pub top_k: Option<u32>,
    /// Only items of these sources.
    #[serde(default)]
    pub sources: Option<Vec<String>>,
    /// At most this many passages from one item (default from the settings).
    #[serde(default)]
    pub max_chunks_per_item: Option<u32>,
}

/// A request that passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidQuery {
    /// The question, trimmed.
    pub query: String,
    /// Passages wanted.
    pub top_k: usize,
    /// Source filter.
    pub sources: Option<Vec<String>>,
    /// Cap per item.
    pub max_chunks_per_item: usize,
}

impl QueryRequest {
    /// Checks the request against the protocol's rules; the message says which one failed.
    pub fn validate(
        self,
        max_query_chars: usize,
        default_max_chunks_per_item: u32,
    ) -> Result<ValidQuery, String> {
        let query = self.query.trim();
        if query.is_empty() {
            return Err("`query` is empty".to_owned());
        }
        let chars = query.chars().count();
        if chars > max_query_chars {
            return Err(format!(
                "`query` has {chars} characters; the limit is {max_query_chars}"
            ));
        }
        if query.contains('\0') {
            return Err("`query` contains a NUL character".to_owned());
        }
        let top_k = self.top_k.unwrap_or(DEFAULT_TOP_K);
        if !(1..=MAX_TOP_K).contains(&top_k) {
            return Err(format!("`top_k` is {top_k}; it must be 1 to {MAX_TOP_K}"));
        }
        let max_chunks_per_item = self
            .max_chunks_per_item
            .unwrap_or(default_max_chunks_per_item);
        if !(1..=MAX_TOP_K).contains(&max_chunks_per_item) {
            return Err(format!(
                "`max_chunks_per_item` is {max_chunks_per_item}; it must be 1 to {MAX_TOP_K}"
            ));
        }
        if let Some(sources) = &self.sources {
            if sources.is_empty() {
                return Err("`sources` is empty: leave it out to search every source".to_owned());
            }
            if sources.len() > MAX_SOURCES {
                return Err(format!(
                    "`sources` has {} entries; the limit is {MAX_SOURCES}",
                    sources.len()
                ));
            }
            if sources
                .iter()
                .any(|source| source.is_empty() || source.len() > 256 || source.contains('\0'))
            {
                return Err("every entry of `sources` must be 1 to 256 bytes".to_owned());
            }
        }
        Ok(ValidQuery {
            query: query.to_owned(),
            top_k: top_k as usize,
            sources: self.sources,
            max_chunks_per_item: max_chunks_per_item as usize,
        })
    }
}

/// The answer to a query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryResponse {
    /// The route taken (`lookup`, `search`).
    pub route: String,
    /// Passages, best first.
    pub evidence: Vec<Evidence>,
    /// What it took.
    pub stats: Stats,
}

/// One cited passage: `content[start..end] == text` for the item's content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// The item.
    pub item_id: i64,
    /// Its source.
    pub source: String,
    /// Its id within the source.
    pub external_id: String,
    /// Its title, if any.
    pub title: Option<String>,
    /// Index of the chunk within the item.
    pub chunk_index: u32,
    /// The passage.
    pub text: String,
    /// Byte offset of the passage's start in the item's content.
    pub start: u32,
    /// Byte offset of its end (exclusive).
    pub end: u32,
    /// Relevance, comparable within one response.
    pub score: f64,
}

/// Counters of one query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Candidate items considered.
    pub candidates: usize,
    /// Items whose chunks came from the cache.
    pub chunk_cache_hits: usize,
    /// Items chunked now (and cached).
    pub chunk_cache_misses: usize,
    /// Time spent, in milliseconds.
    pub elapsed_ms: u64,
}

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `invalid_json`, `invalid_request`, `payload_too_large`,
    /// `not_found`, `unsupported_media_type`, `unavailable`, `timeout`, `internal`.
    pub code: String,
    /// For people.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(json: serde_json::Value) -> Result<ValidQuery, String> {
        serde_json::from_value::<QueryRequest>(json)
            .map_err(|err| err.to_string())?
            .validate(100, 3)
    }

    #[test]
    fn defaults_and_limits() {
        let valid = request(serde_json::json!({"query": "  vacuum  "})).unwrap();
        assert_eq!(
            (
                valid.query.as_str(),
                valid.top_k,
                valid.max_chunks_per_item,
                valid.sources
            ),
            ("vacuum", 5, 3, None)
        );
        for (json, expected) in [
            (serde_json::json!({"query": " "}), "`query` is empty"),
            (
                serde_json::json!({"query": "x".repeat(101)}),
                "the limit is 100",
            ),
            (
                serde_json::json!({"query": "x", "top_k": 0}),
                "`top_k` is 0",
            ),
            (
                serde_json::json!({"query": "x", "top_k": 51}),
                "`top_k` is 51",
            ),
            (
                serde_json::json!({"query": "x", "sources": []}),
                "`sources` is empty",
            ),
            (
                serde_json::json!({"query": "x", "max_chunks_per_item": 0}),
                "`max_chunks_per_item` is 0",
            ),
            (
                serde_json::json!({"query": "x", "topk": 3}),
                "unknown field `topk`",
            ),
            (serde_json::json!({"top_k": 3}), "missing field `query`"),
            (
                serde_json::json!({"query": "x", "top_k": -1}),
                "invalid value",
            ),
        ] {
            let err = request(json).unwrap_err();
            assert!(err.contains(expected), "{expected}: {err}");
        }
    }
}
