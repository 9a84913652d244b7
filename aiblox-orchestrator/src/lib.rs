//! The aiblox orchestrator: an HTTP service that answers questions with cited passages from
//! the knowledge base, reading it only through the `aiblox-kb` contract.
//!
//! # Layout
//! - [`config`]: settings from defaults, a TOML file, the environment and flags.
//! - [`protocol`]: the versioned JSON types of the API.
//! - [`router`]: how a request finds candidates ([`router::Route`]: lookup, search).
//! - [`retriever`]: candidate items through `ItemRepo`.
//! - [`chunker`]: deterministic paragraph and sentence chunking.
//! - [`evidence`]: BM25 scoring of passages, with the item's rank; top-k with a cap per item.
//! - [`orchestrator`]: the pipeline, the chunk cache round trips, the time budget.
//! - [`observability`]: logs, request ids, Prometheus metrics.
//! - [`server`]: axum routes, errors, health, readiness, graceful shutdown.
//! - [`openapi`]: the API's OpenAPI document.
//!
//! The service keeps no state of its own: any number of replicas can serve one database.

mod chunk_store;
pub mod chunker;
pub mod config;
pub mod evidence;
pub mod observability;
pub mod openapi;
pub mod orchestrator;
pub mod protocol;
pub mod retriever;
pub mod router;
pub mod server;
