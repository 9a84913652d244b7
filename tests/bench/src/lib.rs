//! The reference benchmark `kbpeer-v1` (`shared/bench/workload-kbpeer-v1.md`) of the aiblox KB
//! contract: a generator of items and operations byte-identical to the Python peer's, and a
//! runner that measures every phase through the public `aiblox-kb` repositories beside
//! `pgbench` on the same cluster.
//!
//! # Layout
//! - [`cli`]: the programs' command lines (also printed by `cargo xtask bench --help`).
//! - [`rng`]: SplitMix64 and its derived draws.
//! - [`workload`]: vocabulary, items, operations, the `ws256-v1` chunker, fingerprints.
//! - [`server`]: the durable cluster under test, and pgbench on it.
//! - [`runner`]: concurrent callers over a list of operations, timed.
//! - [`kb_phases`]: the phases through the repositories, and the reference points.
//! - [`ceiling`]: pgbench running the contract's own statements, each phase's ceiling.
//! - [`service`]: the orchestrator under `wrk` load (binary `aiblox-bench-service`).
//! - [`cpu`], [`stats`], [`report`]: CPU time, percentiles, the table and the JSON.

pub mod ceiling;
pub mod cli;
pub mod cpu;
pub mod kb_phases;
pub mod report;
pub mod rng;
pub mod runner;
pub mod scale_corpus;
pub mod server;
pub mod service;
pub mod stats;
pub mod workload;
