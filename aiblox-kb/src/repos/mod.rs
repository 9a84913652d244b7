//! The repositories, the only code that runs the generated queries, and the conversions from
//! database rows to the contract's models.

mod chunk_cache_repo;
mod embedding_repo;
mod item_repo;
mod lexical;

pub use chunk_cache_repo::ChunkCacheRepo;
pub use embedding_repo::EmbeddingRepo;
pub use item_repo::{ItemRepo, MAX_PAGES};

use chrono::{DateTime, FixedOffset, Utc};

use crate::Error;

/// A `content_hash` column as a SHA-256 digest (the schema checks its length).
pub(crate) fn content_hash_from_db(bytes: &[u8]) -> Result<[u8; 32], Error> {
    bytes.try_into().map_err(|_| {
        Error::internal(format!(
            "a stored content hash has {} bytes instead of 32",
            bytes.len()
        ))
    })
}

pub(crate) fn timestamp_from_db(timestamp: DateTime<FixedOffset>) -> DateTime<Utc> {
    timestamp.with_timezone(&Utc)
}

/// A count from the database as the contract's unsigned type.
pub(crate) fn unsigned_from_db(value: i32, column: &str) -> Result<u32, Error> {
    u32::try_from(value)
        .map_err(|_| Error::internal(format!("a stored {column} is negative ({value})")))
}
