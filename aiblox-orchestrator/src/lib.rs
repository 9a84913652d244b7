//! The aiblox orchestrator: an HTTP service that answers questions with cited passages from
//! the knowledge base, reading it only through the `aiblox-kb` contract.
//!
//! # Layout
//! - [`config`]: settings from defaults, a TOML file, the environment and flags.
//! - [`access`]: API keys scoped to sources, per-key rate limits, `keys new`.
//! - [`protocol`]: the versioned JSON types of the API.
//! - `router`: how a request finds candidates (the `Route` trait: lookup, search).
//! - `retriever`: candidate items through `ItemRepo::search_bm25`.
//! - [`chunker`]: deterministic paragraph and sentence chunking.
//! - `chunk_store`: chunk-set term statistics and shown texts kept in memory.
//! - `dense`: the corpus' chunk vectors in memory (int8 or f32), kept current from the
//!   contract's change feed; brute-force cosine search.
//! - `indexer`: the background indexer that chunks and embeds what lacks vectors.
//! - [`evidence`]: BM25 of passages from stored statistics, fused with the page score; top-k
//!   with a cap per item; highlights.
//! - `orchestrator`: the pipeline, the chunk cache round trips, the time budget.
//! - [`observability`]: logs, request ids, Prometheus metrics.
//! - [`server`]: axum routes, errors, health, readiness, graceful shutdown.
//! - `openapi`: the API's OpenAPI document.
//!
//! Modules a user of the crate names are public (settings, the application and its router,
//! the protocol's types, keys); the pipeline's inner modules are not.
//!
//! The service keeps no state of its own: any number of replicas can serve one database.

pub mod access;
mod chunk_store;
pub mod chunker;
pub mod config;
mod dense;
pub mod evidence;
mod indexer;
pub mod observability;
mod openapi;
mod orchestrator;
pub mod protocol;
mod retriever;
mod router;
pub mod server;
