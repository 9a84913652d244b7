//! The aiblox knowledge-base contract: the one crate that knows how the `kb` schema is stored.
//!
//! Every block that reads or writes the knowledge base depends on this crate and on nothing
//! else for storage: the orchestrator reads through it, ingestion blocks write through it, and
//! none of them copies SQL. Its public surface is deliberately small:
//!
//! - models: [`KbItem`], [`KbChunkCache`], and the inputs and outcomes of the repositories
//!   ([`NewItem`], [`UpsertOutcome`], [`SearchHit`], [`NewChunkSet`], ...), and filters
//!   ([`ItemFilter`]);
//! - repositories: [`ItemRepo`], [`ChunkCacheRepo`], [`EmbeddingRepo`] (chunk vectors per
//!   embedding model), usable on a pool, a connection or a
//!   transaction ([`Executor`]);
//! - configuration: [`KbConfig`] (database URL, a secret, and schema name, default `kb`);
//! - pooling: [`KbPool`], [`KbConnection`], [`KbTransaction`];
//! - migrations: [`migrate`] and [`Migrator`] (apply, status, startup check), safe for every
//!   replica to call at start;
//! - one error type: [`Error`].
//!
//! # Layout
//! - `config`: [`KbConfig`], schema name validation, password redaction.
//! - `models`: the plain serializable structs.
//! - `repos`: [`ItemRepo`], [`ChunkCacheRepo`] and [`EmbeddingRepo`], the only callers of the generated queries
//!   (crate `aiblox-kb-gen`, written by `cargo xtask codegen`; its types never leave here).
//! - `migrate`: the embedded migrations and their runner.
//! - `tls`: TLS to PostgreSQL (rustls), from the URL's `sslmode` and `sslrootcert`.
//! - `error`: [`Error`], database failures mapped from SQLSTATE.
//! - `filter`: [`ItemFilter`], what a search or lookup keeps by the items' own fields and
//!   metadata, and [`ItemSet`], the items one matched.
//! - `engine`: the machinery under the repositories: the deadpool-postgres pool ([`KbPool`]),
//!   shared read connections, read replicas, the get coalescer, the lexical postings kept in
//!   memory, and the [`Executor`] abstraction with the one path every statement takes.
//!
//! # Example
//! ```no_run
//! use aiblox_kb::{ItemRepo, KbConfig, KbPool, NewItem};
//!
//! # async fn demo() -> Result<(), aiblox_kb::Error> {
//! let config = KbConfig::from_env()?; // AIBLOX_KB_DATABASE_URL, AIBLOX_KB_SCHEMA
//! aiblox_kb::migrate(&config).await?;
//! let pool = KbPool::new(&config)?;
//! let items = ItemRepo::new(&pool);
//! items.upsert(&[NewItem::new("docs", "readme.md", "Hello, knowledge base.")]).await?;
//! for hit in items.search("knowledge", None, 5).await? {
//!     println!("{} {:.3}", hit.item.external_id, hit.rank);
//! }
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod config;
mod engine;
mod error;
mod filter;
mod migrate;
mod models;
mod repos;
mod tls;

pub use config::KbConfig;
pub use engine::{
    Executor, KbConnection, KbPool, KbPoolBuilder, KbPoolStatus, KbPosition, KbReplicaStatus,
    KbTransaction,
};
pub use error::{Error, ErrorSource};
pub use filter::{
    FieldTest, FilterBound, FilterValue, ItemField, ItemFilter, ItemSet, MAX_FILTER_CONDITIONS,
    MAX_FILTER_DEPTH, MAX_FILTER_NUMBER, MAX_FILTER_TEXT_BYTES, MAX_FILTER_VALUES,
    MAX_METADATA_PATH_KEYS,
};
pub use migrate::{
    AppliedMigration, ChecksumMismatch, Compatibility, MigrationReport, MigrationStatus, Migrator,
    migrate,
};
pub use models::{
    Bm25, ChunkSetTerms, ChunkTerms, EmbeddingChanges, EmbeddingClaim, EmbeddingCursor,
    EmbeddingProgress, ItemDigest, KbChunkCache, KbItem, NewChunk, NewChunkSet, NewEmbeddingSet,
    NewItem, QueryTerm, RankedItem, RankedItems, SearchHit, StoredVector, UpsertOutcome,
    UpsertStatus,
};
pub use repos::{ChunkCacheRepo, EmbeddingRepo, ItemRepo, MAX_PAGES};

/// The README's examples, compiled as doc tests so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
