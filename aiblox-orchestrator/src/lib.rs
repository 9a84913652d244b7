//! The aiblox orchestrator: an HTTP service that answers questions with cited passages from
//! the knowledge base, reading it only through the `aiblox-kb` contract.
//!
//! # Layout
//! - [`config`]: settings from defaults, a TOML file, the environment and flags.
//! - `access`: API keys scoped to sources, per-key rate limits, `keys new`.
//! - [`protocol`]: the versioned JSON types of the API.
//! - `router`: how a request finds candidates (the `Route` trait: lookup, search).
//! - `retriever`: candidate items through `ItemRepo::search_bm25`.
//! - `chunker`: deterministic paragraph and sentence chunking.
//! - `chunk_store`: chunk-set term statistics and shown texts kept in memory.
//! - `dense`: the corpus' chunk vectors in memory (int8 or f32), kept current from the
//!   contract's change feed; brute-force cosine search.
//! - `indexer`: the background indexer that chunks and embeds what lacks vectors.
//! - `evidence`: BM25 of passages from stored statistics, fused with the page score; top-k
//!   with a cap per item; highlights.
//! - `orchestrator`: the pipeline, the chunk cache round trips, the time budget.
//! - `observability`: logs, request ids, Prometheus metrics.
//! - [`server`]: axum routes, errors, health, readiness, graceful shutdown.
//! - `openapi`: the API's OpenAPI document.
//!
//! What a user of the crate names is public: the settings ([`config`]), the application and
//! its router ([`server`]), the protocol's types ([`protocol`]), [`new_key`] and
//! [`init_tracing`]; every other module is private.
//!
//! The service keeps no state of its own: any number of replicas can serve one database.

mod access;
mod chunk_store;
mod chunker;
pub mod config;
mod dense;
mod evidence;
mod indexer;
mod observability;
mod openapi;
mod orchestrator;
pub mod protocol;
mod retriever;
mod router;
pub mod server;

pub use access::new_key;
pub use observability::init_tracing;

/// Hostile text for the property tests, shared with `tests/properties.rs`.
#[cfg(test)]
#[path = "../tests/support/hostile.rs"]
mod hostile;
