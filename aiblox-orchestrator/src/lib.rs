//! The aiblox orchestrator: an HTTP service that answers questions with cited passages from
//! the knowledge base, reading it only through the `aiblox-kb` contract.
//!
//! # Layout
//! - `pipeline/`: the question's path as stages (route, the lexical and dense legs, fusion,
//!   chunk sets, passages, evidence, explain), the chunk vectors in memory and the embedding
//!   backfill that fills them. Knows nothing of HTTP.
//! - `service/`: the service around it: [`config`] (settings from defaults, a TOML file, the
//!   environment and flags), `access` (API keys), `observability` (logs, request ids,
//!   Prometheus metrics), `openapi`, and [`server`] (axum routes, errors, health, readiness,
//!   graceful shutdown).
//! - [`protocol`]: the versioned JSON types of the API, the language both speak.
//!
//! What a user of the crate names is public: the settings ([`config`]), the application and
//! its router ([`server`]), the protocol's types ([`protocol`]), [`new_key`],
//! [`init_tracing`], and for the benchmark programs [`bench`]; every other module is private.
//!
//! The service keeps no state of its own: any number of replicas can serve one database.

mod pipeline;
pub mod protocol;
mod service;

/// Parts of the service measured alone by the benchmark programs (`examples/bench_dense.rs`).
pub mod bench {
    pub use crate::pipeline::dense_bench::{DenseBenchOptions, DenseBenchReport, run as dense};
}

pub use service::access::new_key;
pub use service::observability::init_tracing;
pub use service::{config, server};

/// Hostile text for the property tests, shared with `tests/properties.rs`.
#[cfg(test)]
#[path = "../tests/support/hostile.rs"]
mod hostile;
