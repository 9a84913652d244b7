//! [`EmbeddingRepo`]: dense vectors of cached chunks per chunker and embedding model, and the
//! claims that let several indexers share the work of computing them.

use std::collections::HashSet;
use std::time::Duration;

use aiblox_kb_gen::queries::embedding as queries;

use crate::engine::{Executor, ReadPath, Runner};
use crate::repos::chunk_cache_repo::validate_chunker_key;
use crate::repos::{content_hash_from_db, unsigned_from_db};
use crate::{
    EmbeddingChanges, EmbeddingClaim, EmbeddingCursor, EmbeddingProgress, Error, NewEmbeddingSet,
    StoredVector,
};

/// Longest `model_key`, in bytes (the schema's limit).
const MAX_MODEL_KEY_BYTES: usize = 256;
/// Most vectors one [`EmbeddingRepo::changes_since`] returns: more than one transaction of
/// puts can write (a page that ended inside one transaction would be read again and again).
const CHANGES_PAGE: usize = 5 * EmbeddingRepo::MAX_VECTORS_PER_PUT;

/// Reads and writes chunk vectors. A vector belongs to one chunk of an item's chunk set (by
/// chunker key, as in the chunk cache) for one model (by model key), and is valid while the
/// item keeps the content it was cut from; readers only ever see valid ones.
///
/// Indexers cooperate through claims: [`claim`](Self::claim) hands each item's current content
/// to one indexer at a time for a lease, [`put`](Self::put) stores the vectors and
/// [`finish`](Self::finish) marks the content done. An indexer that dies leaves its claims to
/// expire; another takes them over.
///
/// ```no_run
/// # async fn demo(pool: &aiblox_kb::KbPool) -> Result<(), aiblox_kb::Error> {
/// use std::time::Duration;
/// use aiblox_kb::{EmbeddingRepo, ItemRepo, NewEmbeddingSet};
///
/// let vectors = EmbeddingRepo::new(pool);
/// let claims = vectors.claim("para-v1:800", "my-model:1", 8, Duration::from_secs(300)).await?;
/// let mut sets = Vec::new();
/// for claim in &claims {
///     // chunk the item's content, embed each chunk ...
///     sets.push(NewEmbeddingSet { item_id: claim.item_id, content_hash: claim.content_hash, vectors: vec![vec![1.0, 0.0]] });
/// }
/// vectors.put("para-v1:800", "my-model:1", &sets).await?;
/// vectors.finish("para-v1:800", "my-model:1", &claims).await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Copy)]
pub struct EmbeddingRepo<'a> {
    runner: Runner<'a>,
}

impl<'a> EmbeddingRepo<'a> {
    /// Most values in one vector (the schema stores at most 64 KiB per vector).
    pub const MAX_DIMENSIONS: usize = 16_384;
    /// Most vectors one [`put`](Self::put) writes.
    pub const MAX_VECTORS_PER_PUT: usize = 10_000;

    /// The vectors on `executor`: a [`KbPool`](crate::KbPool), a
    /// [`KbConnection`](crate::KbConnection) or a [`KbTransaction`](crate::KbTransaction).
    pub fn new(executor: &'a impl Executor) -> Self {
        EmbeddingRepo {
            runner: Runner::of(executor),
        }
    }

    /// Claims up to `max_items` items whose current content has no vectors for the chunker
    /// and model and no live claim, for `lease`; lowest ids first. Two indexers claiming at
    /// the same time never get the same item. An item changed while claimed may be claimed
    /// again for its new content.
    pub async fn claim(
        &self,
        chunker_key: &str,
        model_key: &str,
        max_items: u32,
        lease: Duration,
    ) -> Result<Vec<EmbeddingClaim>, Error> {
        validate_keys(chunker_key, model_key)?;
        if lease.is_zero() {
            return Err(Error::invalid("a claim's lease must be longer than zero"));
        }
        let max_items = i64::from(max_items);
        let lease_seconds = lease.as_secs_f64();
        let rows = self
            .runner
            .write(|client| async move {
                queries::claim_unembedded()
                    .bind(
                        &client,
                        &chunker_key,
                        &model_key,
                        &max_items,
                        &lease_seconds,
                    )
                    .all()
                    .await
                    .map_err(Error::from_driver)
            })
            .await?;
        let mut claims = rows
            .into_iter()
            .map(|row| {
                Ok(EmbeddingClaim {
                    item_id: row.item_id,
                    content_hash: content_hash_from_db(&row.content_hash)?,
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        claims.sort_unstable_by_key(|claim| claim.item_id);
        Ok(claims)
    }

    /// Marks claimed contents done (their vectors are stored, or they have no chunk to
    /// embed). Returns how many claims were marked: a claim that expired and was taken over,
    /// or whose item changed, is not.
    pub async fn finish(
        &self,
        chunker_key: &str,
        model_key: &str,
        claims: &[EmbeddingClaim],
    ) -> Result<u64, Error> {
        validate_keys(chunker_key, model_key)?;
        if claims.is_empty() {
            return Ok(0);
        }
        let item_ids: Vec<i64> = claims.iter().map(|claim| claim.item_id).collect();
        let hashes: Vec<&[u8]> = claims
            .iter()
            .map(|claim| claim.content_hash.as_slice())
            .collect();
        let marked = self
            .runner
            .write(|client| async move {
                queries::finish_claims()
                    .bind(&client, &item_ids, &hashes, &chunker_key, &model_key)
                    .one()
                    .await
                    .map_err(Error::from_driver)
            })
            .await?;
        Ok(u64::try_from(marked).unwrap_or(0))
    }

    /// Replaces the vectors of each set's item for the chunker and model, all sets in one
    /// statement (readers see the old vectors of an item or the new ones, never a mix). A set
    /// whose item is gone or no longer has its content hash is not written. Returns the
    /// number of vectors written.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an empty or too long key, an empty set, two sets for one
    /// item, vectors of different lengths, an empty or longer than [`MAX_DIMENSIONS`](Self::MAX_DIMENSIONS) vector,
    /// a value that is not finite, or more than [`MAX_VECTORS_PER_PUT`](Self::MAX_VECTORS_PER_PUT) vectors.
    pub async fn put(
        &self,
        chunker_key: &str,
        model_key: &str,
        sets: &[NewEmbeddingSet],
    ) -> Result<u64, Error> {
        validate_keys(chunker_key, model_key)?;
        let rows = validate_embedding_sets(sets)?;
        if rows == 0 {
            return Ok(0);
        }
        let mut item_ids = Vec::with_capacity(rows);
        let mut indexes = Vec::with_capacity(rows);
        let mut counts = Vec::with_capacity(rows);
        let mut hashes: Vec<&[u8]> = Vec::with_capacity(rows);
        let mut vectors: Vec<Vec<u8>> = Vec::with_capacity(rows);
        for set in sets {
            let count = set.vectors.len() as i32;
            for (index, vector) in set.vectors.iter().enumerate() {
                item_ids.push(set.item_id);
                indexes.push(index as i32);
                counts.push(count);
                hashes.push(set.content_hash.as_slice());
                vectors.push(
                    vector
                        .iter()
                        .flat_map(|value| value.to_le_bytes())
                        .collect(),
                );
            }
        }
        let written = self
            .runner
            .write(|client| async move {
                queries::put_embeddings()
                    .bind(
                        &client,
                        &item_ids,
                        &indexes,
                        &counts,
                        &hashes,
                        &vectors,
                        &chunker_key,
                        &model_key,
                    )
                    .one()
                    .await
                    .map_err(Error::from_driver)
            })
            .await?;
        Ok(u64::try_from(written.vectors_written).unwrap_or(0))
    }

    /// The vectors for the chunker and model written since `cursor` and valid for their
    /// item's current content, in the order written, with the cursor to read on from. A
    /// reader that keeps every vector read this way holds all valid vectors (and, until it
    /// learns otherwise, the vectors of items changed or deleted since: check an item's content
    /// hash before trusting its vectors).
    pub async fn changes_since(
        &self,
        chunker_key: &str,
        model_key: &str,
        cursor: EmbeddingCursor,
    ) -> Result<EmbeddingChanges, Error> {
        validate_keys(chunker_key, model_key)?;
        let page = CHANGES_PAGE as i64;
        let rows = self
            .runner
            .read(ReadPath::PRIMARY, |client| async move {
                queries::embeddings_since()
                    .bind(&client, &chunker_key, &model_key, &cursor.0, &page)
                    .all()
                    .await
                    .map_err(Error::from_driver)
            })
            .await?;
        let horizon = rows.first().map_or(cursor.0, |row| row.horizon);
        let mut vectors = Vec::with_capacity(rows.len());
        let mut last_writer = None;
        for row in rows {
            let (
                Some(item_id),
                Some(chunk_index),
                Some(chunk_count),
                Some(hash),
                Some(bytes),
                Some(source),
                Some(written_by),
            ) = (
                row.item_id,
                row.chunk_index,
                row.chunk_count,
                row.content_hash,
                row.vector,
                row.source,
                row.written_by,
            )
            else {
                continue;
            };
            last_writer = Some(written_by);
            vectors.push(StoredVector {
                item_id,
                source,
                chunk_index: unsigned_from_db(chunk_index, "chunk_index")?,
                chunk_count: unsigned_from_db(chunk_count, "chunk_count")?,
                content_hash: content_hash_from_db(&hash)?,
                vector: bytes
                    .chunks_exact(4)
                    .map(|value| f32::from_le_bytes([value[0], value[1], value[2], value[3]]))
                    .collect(),
            });
        }
        let more = vectors.len() == CHANGES_PAGE;
        // A full page stops inside the transactions it reached: the next read starts at the
        // last one read (its rows come again), never past what the snapshot proved complete.
        let next = match (more, last_writer) {
            (true, Some(last)) => last.min(horizon),
            _ => horizon,
        };
        Ok(EmbeddingChanges {
            vectors,
            next: EmbeddingCursor(next.max(cursor.0)),
            more,
        })
    }

    /// How many items there are and how many have their current content indexed for the
    /// chunker and model. Reads every item's row: for progress reports, not for hot paths.
    pub async fn progress(
        &self,
        chunker_key: &str,
        model_key: &str,
    ) -> Result<EmbeddingProgress, Error> {
        validate_keys(chunker_key, model_key)?;
        let row = self
            .runner
            .read(ReadPath::PRIMARY, |client| async move {
                queries::embedding_progress()
                    .bind(&client, &chunker_key, &model_key)
                    .one()
                    .await
                    .map_err(Error::from_driver)
            })
            .await?;
        Ok(EmbeddingProgress {
            items: u64::try_from(row.items).unwrap_or(0),
            indexed: u64::try_from(row.indexed).unwrap_or(0),
        })
    }
}

fn validate_keys(chunker_key: &str, model_key: &str) -> Result<(), Error> {
    validate_chunker_key(chunker_key)?;
    if model_key.is_empty() || model_key.len() > MAX_MODEL_KEY_BYTES || model_key.contains('\0') {
        return Err(Error::invalid(format!(
            "model key must be 1 to {MAX_MODEL_KEY_BYTES} bytes without NUL characters"
        )));
    }
    Ok(())
}

/// Checks the sets; returns how many vectors they hold.
fn validate_embedding_sets(sets: &[NewEmbeddingSet]) -> Result<usize, Error> {
    let mut items = HashSet::with_capacity(sets.len());
    let mut dimensions = None;
    let mut rows = 0usize;
    for set in sets {
        let item = set.item_id;
        if !items.insert(item) {
            return Err(Error::invalid(format!(
                "item {item} has two embedding sets in one put: give one set per item"
            )));
        }
        if set.vectors.is_empty() {
            return Err(Error::invalid(format!(
                "the embedding set of item {item} is empty: a set holds a vector per chunk"
            )));
        }
        for (index, vector) in set.vectors.iter().enumerate() {
            if vector.is_empty() || vector.len() > EmbeddingRepo::MAX_DIMENSIONS {
                return Err(Error::invalid(format!(
                    "vector {index} of item {item} has {} values: 1 to {} allowed",
                    vector.len(),
                    EmbeddingRepo::MAX_DIMENSIONS
                )));
            }
            if *dimensions.get_or_insert(vector.len()) != vector.len() {
                return Err(Error::invalid(format!(
                    "vector {index} of item {item} has {} values where the others have {}: one put stores vectors of one model",
                    vector.len(),
                    dimensions.unwrap_or_default()
                )));
            }
            if !vector.iter().all(|value| value.is_finite()) {
                return Err(Error::invalid(format!(
                    "vector {index} of item {item} holds a value that is not finite"
                )));
            }
        }
        rows += set.vectors.len();
    }
    if rows > EmbeddingRepo::MAX_VECTORS_PER_PUT {
        return Err(Error::invalid(format!(
            "{rows} vectors in one put: at most {}, split the sets over several puts",
            EmbeddingRepo::MAX_VECTORS_PER_PUT
        )));
    }
    Ok(rows)
}
