//! Sentence embeddings in process, in pure Rust: a BERT-family sentence model in Hugging Face
//! format (`config.json`, `model.safetensors`, `tokenizer.json`) run on candle's CPU backend,
//! mean-pooled and scaled to unit length as sentence-transformers does for models such as
//! all-MiniLM-L6-v2.
//!
//! ```no_run
//! let embedder = aiblox_embed::Embedder::load("/path/to/all-MiniLM-L6-v2".as_ref())?;
//! let vectors = embedder.embed(&["two transactions wait on each other forever"])?;
//! assert_eq!(vectors[0].len(), embedder.dimensions());
//! # Ok::<(), aiblox_embed::EmbedError>(())
//! ```
//!
//! [`BatchingEmbedder`] serves concurrent callers (a service's requests): whatever is queued
//! while a batch runs goes into the next one. [`fetch`] downloads the model this project uses
//! (`cargo xtask fetch-model`).

#[cfg(feature = "model")]
mod batching;
#[cfg(feature = "model")]
mod bert;
#[cfg(feature = "model")]
mod embedder;
pub mod fetch;

use std::path::PathBuf;

#[cfg(feature = "model")]
pub use batching::{BatchStats, BatchingEmbedder};
#[cfg(feature = "model")]
pub use embedder::Embedder;

/// What went wrong loading a model or embedding text.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// The model directory is missing a file, or a file is not what a BERT sentence model
    /// holds.
    #[error(
        "embedding model at {}: {problem} (a directory in Hugging Face format; `cargo xtask fetch-model` gets all-MiniLM-L6-v2)",
        path.display()
    )]
    Model {
        /// The directory or file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// The tokenizer failed on the input.
    #[error("tokenizing failed: {0}")]
    Tokenize(String),
    /// The model's computation failed.
    #[error("the embedding model failed: {0}")]
    Compute(String),
    /// Downloading or unpacking the model failed.
    #[error("fetching the model failed: {0}")]
    Fetch(String),
}

#[cfg(feature = "model")]
impl From<candle_core::Error> for EmbedError {
    fn from(err: candle_core::Error) -> Self {
        EmbedError::Compute(err.to_string())
    }
}
