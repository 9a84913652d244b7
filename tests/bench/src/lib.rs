//! The reference benchmark workload `kbpeer-v1` (`shared/bench/workload-kbpeer-v1.md`):
//! a deterministic generator of items and operations, byte-identical to the Python peer's,
//! so both are measured on the same data. Its fingerprints prove it.
//!
//! # Layout
//! - [`rng`]: SplitMix64 and its derived draws.
//! - [`workload`]: vocabulary, items, operations, the `ws256-v1` chunker, fingerprints.

pub mod rng;
pub mod workload;
