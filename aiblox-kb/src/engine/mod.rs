//! The machinery under the repositories, apart from the contract's models: the connection
//! pool and its shared read connections, the read replicas, the item get coalescer, the lexical
//! postings and filters' matches kept in memory, and the one path every repository statement takes ([`Runner`] with
//! the [`ReadPath`] a repository method states).
//!
//! Modules depend on each other one way: `shared_reads` <- `replicas` <- `pool` <- `runner`;
//! `item_gets`, `postings` and `filter_matches` depend on none of them.

mod filter_matches;
mod item_gets;
mod pool;
mod postings;
mod replicas;
mod runner;
mod shared_reads;

pub(crate) use item_gets::{BatchFetch, ItemGets, distinct_sorted, hand_out};
pub use pool::{KbConnection, KbPool, KbPoolBuilder, KbPoolStatus, KbTransaction};
pub(crate) use postings::{Corpus, Head, Keep, LexicalCache, Posting, PostingsByTerm, rank};
pub use replicas::{KbPosition, KbReplicaStatus};
pub use runner::Executor;
pub(crate) use runner::{KbClient, ReadPath, Runner, Steps};
