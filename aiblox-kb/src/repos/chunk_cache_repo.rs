//! [`ChunkCacheRepo`]: chunk sets cached per item and chunker, valid for one content hash.

use std::collections::{HashMap, HashSet};

use aiblox_kb_gen::queries::chunk_cache as queries;

use crate::engine::{Executor, ReadPath, Runner};
use crate::repos::{content_hash_from_db, timestamp_from_db, unsigned_from_db};
use crate::{ChunkSetTerms, ChunkTerms, Error, KbChunkCache, KbPosition, NewChunkSet};

/// Longest `chunker_key`, in bytes (the schema's limit).
const MAX_CHUNKER_KEY_BYTES: usize = 256;
/// Largest offset or count the schema stores (`integer`).
const MAX_STORED: u32 = i32::MAX as u32;

/// Reads and writes cached chunk sets. A set is "missing" when absent, made from another
/// content hash than the one asked for (stale), or incomplete; a reader never sees half a set.
///
/// ```no_run
/// # async fn demo(pool: &aiblox_kb::KbPool, item: &aiblox_kb::KbItem) -> Result<(), aiblox_kb::Error> {
/// use aiblox_kb::{ChunkCacheRepo, NewChunk, NewChunkSet};
///
/// let cache = ChunkCacheRepo::new(pool);
/// if cache.get(item.id, "para-v1:800", &item.content_hash).await?.is_none() {
///     let chunk = NewChunk { start_offset: 0, end_offset: item.content.len() as u32, text: item.content.clone(), token_count: 1 };
///     let set = NewChunkSet { item_id: item.id, content_hash: item.content_hash, chunks: vec![chunk] };
///     cache.put("para-v1:800", &[set]).await?;
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Copy)]
pub struct ChunkCacheRepo<'a> {
    runner: Runner<'a>,
}

impl<'a> ChunkCacheRepo<'a> {
    /// The chunk cache on `executor`: a [`KbPool`](crate::KbPool), a
    /// [`KbConnection`](crate::KbConnection) or a [`KbTransaction`](crate::KbTransaction).
    pub fn new(executor: &'a impl Executor) -> Self {
        ChunkCacheRepo {
            runner: Runner::of(executor),
        }
    }

    /// The same repository, its reads seeing every write committed before `position` (taken
    /// with [`KbPool::position`](crate::KbPool::position) after those writes, here or in
    /// another process): on a pool with read replicas, a read goes to a replica only once it
    /// has replayed that far, else to the primary. Without replicas, or on a connection or a
    /// transaction, reads see every committed write anyway.
    pub fn after(mut self, position: KbPosition) -> Self {
        self.runner = self.runner.after(position);
        self
    }

    /// The chunks of `item_id` made by `chunker_key` from content hashing to `content_hash`,
    /// in order; `None` when missing, stale or incomplete.
    pub async fn get(
        &self,
        item_id: i64,
        chunker_key: &str,
        content_hash: &[u8; 32],
    ) -> Result<Option<Vec<KbChunkCache>>, Error> {
        let hash = content_hash.as_slice();
        let rows = self
            .runner
            .read(ReadPath::REPLICA_PIPELINED, |client| async move {
                queries::get_chunks()
                    .bind(&client, &item_id, &chunker_key, &hash)
                    .all()
                    .await
                    .map_err(Error::from_driver)
            })
            .await?;
        let chunks = rows
            .into_iter()
            .map(chunk_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(complete_set(chunks))
    }

    /// [`ChunkCacheRepo::get`] for many items in one round trip: `(item_id, content_hash)`
    /// pairs in, the complete sets found out, by item id. Items whose set is missing, stale or
    /// incomplete are absent from the map.
    pub async fn get_many(
        &self,
        chunker_key: &str,
        items: &[(i64, [u8; 32])],
    ) -> Result<HashMap<i64, Vec<KbChunkCache>>, Error> {
        if items.is_empty() {
            return Ok(HashMap::new());
        }
        let item_ids: &Vec<i64> = &items.iter().map(|(id, _)| *id).collect();
        let hashes: &Vec<&[u8]> = &items.iter().map(|(_, hash)| hash.as_slice()).collect();
        let rows = self
            .runner
            .read(ReadPath::REPLICA, |client| async move {
                queries::get_chunks_for_items()
                    .bind(&client, item_ids, hashes, &chunker_key)
                    .all()
                    .await
                    .map_err(Error::from_driver)
            })
            .await?;
        let mut by_item: HashMap<i64, Vec<KbChunkCache>> = HashMap::new();
        for row in rows {
            let chunk = chunk_from_row(row)?;
            by_item.entry(chunk.item_id).or_default().push(chunk);
        }
        Ok(by_item
            .into_iter()
            .filter_map(|(id, chunks)| complete_set(chunks).map(|chunks| (id, chunks)))
            .collect())
    }

    /// Stores chunk sets made by `chunker_key`, replacing each item's previous set, all in one
    /// statement: a reader sees the old set or the new one, never a mix. A set whose item is
    /// gone or no longer has `content_hash` is skipped (it would be stale at once). Returns the
    /// number of chunks written.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an empty or too long chunker key, an empty set, two sets
    /// for one item, offsets out of order or beyond 2^31, or a NUL character in a text.
    pub async fn put(&self, chunker_key: &str, sets: &[NewChunkSet]) -> Result<u64, Error> {
        validate_chunker_key(chunker_key)?;
        validate_sets(sets)?;
        if sets.is_empty() {
            return Ok(0);
        }
        let rows = sets.iter().map(|set| set.chunks.len()).sum();
        let mut item_ids = Vec::with_capacity(rows);
        let mut indexes = Vec::with_capacity(rows);
        let mut counts = Vec::with_capacity(rows);
        let mut hashes: Vec<&[u8]> = Vec::with_capacity(rows);
        let mut starts = Vec::with_capacity(rows);
        let mut ends = Vec::with_capacity(rows);
        let mut texts: Vec<&str> = Vec::with_capacity(rows);
        let mut token_counts = Vec::with_capacity(rows);
        for set in sets {
            let count = stored(set.chunks.len() as u64);
            for (index, chunk) in set.chunks.iter().enumerate() {
                item_ids.push(set.item_id);
                indexes.push(stored(index as u64));
                counts.push(count);
                hashes.push(set.content_hash.as_slice());
                starts.push(stored(chunk.start_offset.into()));
                ends.push(stored(chunk.end_offset.into()));
                texts.push(&chunk.text);
                token_counts.push(stored(chunk.token_count.into()));
            }
        }
        let written = self
            .runner
            .write(|client| async move {
                queries::put_chunks()
                    .bind(
                        &client,
                        &item_ids,
                        &indexes,
                        &counts,
                        &hashes,
                        &starts,
                        &ends,
                        &texts,
                        &token_counts,
                        &chunker_key,
                    )
                    .one()
                    .await
                    .map_err(Error::from_driver)
            })
            .await?;
        Ok(u64::try_from(written.chunks_written).unwrap_or(0))
    }

    /// The term statistics of the items' chunk sets by `chunker_key` cached for the given
    /// content hashes, by item id: every chunk's terms (the `english` lexemes, in term order),
    /// their frequencies and its length in terms, computed by the database when the set was
    /// put. Items whose set is missing, stale, incomplete or written before the statistics
    /// existed (contract 0.1.2) are absent. A set's statistics never change for its content
    /// hash and chunker, so a caller may keep them as long as it likes. One round trip; no
    /// chunk text is read.
    pub async fn terms_of(
        &self,
        chunker_key: &str,
        items: &[(i64, [u8; 32])],
    ) -> Result<HashMap<i64, ChunkSetTerms>, Error> {
        validate_chunker_key(chunker_key)?;
        if items.is_empty() {
            return Ok(HashMap::new());
        }
        let item_ids: &Vec<i64> = &items.iter().map(|(id, _)| *id).collect();
        let hashes: &Vec<&[u8]> = &items.iter().map(|(_, hash)| hash.as_slice()).collect();
        let rows = self
            .runner
            .read(ReadPath::PRIMARY, |client| async move {
                queries::chunk_terms()
                    .bind(&client, item_ids, hashes, &chunker_key)
                    .all()
                    .await
                    .map_err(Error::from_driver)
            })
            .await?;
        sets_from_rows(rows, items.len())
    }

    /// Single chunks by position: `(item_id, chunk_index, content_hash)` in, the chunks of
    /// the sets by `chunker_key` cached for those hashes out, in the order asked. Chunks that
    /// are absent or stale are left out. One round trip.
    pub async fn get_at(
        &self,
        chunker_key: &str,
        chunks: &[(i64, u32, [u8; 32])],
    ) -> Result<Vec<KbChunkCache>, Error> {
        validate_chunker_key(chunker_key)?;
        if chunks.is_empty() {
            return Ok(Vec::new());
        }
        let item_ids: &Vec<i64> = &chunks.iter().map(|(id, _, _)| *id).collect();
        let indexes: &Vec<i32> = &chunks
            .iter()
            .map(|(_, index, _)| stored(u64::from(*index)))
            .collect();
        let hashes: &Vec<&[u8]> = &chunks.iter().map(|(_, _, hash)| hash.as_slice()).collect();
        let rows = self
            .runner
            .read(ReadPath::PRIMARY, |client| async move {
                queries::get_chunks_at()
                    .bind(&client, item_ids, indexes, hashes, &chunker_key)
                    .all()
                    .await
                    .map_err(Error::from_driver)
            })
            .await?;
        let mut found: HashMap<(i64, u32), KbChunkCache> = HashMap::with_capacity(rows.len());
        for row in rows {
            let chunk = chunk_from_row(row)?;
            found.insert((chunk.item_id, chunk.chunk_index), chunk);
        }
        Ok(chunks
            .iter()
            .filter_map(|(id, index, _)| found.remove(&(*id, *index)))
            .collect())
    }

    /// Removes every cached chunk made from content its item no longer has. Returns how many.
    pub async fn purge_stale(&self) -> Result<u64, Error> {
        self.runner
            .write(|client| async move {
                queries::delete_stale_chunks()
                    .bind(&client)
                    .await
                    .map_err(Error::from_driver)
            })
            .await
    }

    /// Removes every cached chunk made by a chunker other than `current_chunker_key` (after a
    /// chunker upgrade). Returns how many.
    pub async fn purge_other_chunkers(&self, current_chunker_key: &str) -> Result<u64, Error> {
        validate_chunker_key(current_chunker_key)?;
        self.runner
            .write(|client| async move {
                queries::delete_chunks_of_other_chunkers()
                    .bind(&client, &current_chunker_key)
                    .await
                    .map_err(Error::from_driver)
            })
            .await
    }
}

impl std::fmt::Debug for ChunkCacheRepo<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkCacheRepo").finish_non_exhaustive()
    }
}

/// Rows of `chunk_terms` (one per chunk, in order) as whole chunk sets by item id.
fn sets_from_rows(
    rows: Vec<queries::ChunkTermList>,
    capacity: usize,
) -> Result<HashMap<i64, ChunkSetTerms>, Error> {
    let mut by_item: HashMap<i64, (ChunkSetTerms, bool)> = HashMap::with_capacity(capacity);
    for row in rows {
        let (set, whole) = by_item.entry(row.item_id).or_insert((
            ChunkSetTerms {
                chunk_count: unsigned_from_db(row.chunk_count, "chunk_count")?,
                chunks: Vec::new(),
            },
            true,
        ));
        let index = unsigned_from_db(row.chunk_index, "chunk_index")?;
        let (Some(terms), Some(frequencies), Some(length)) =
            (row.terms, row.term_frequencies, row.term_count)
        else {
            *whole = false;
            continue;
        };
        if index as usize != set.chunks.len()
            || terms.len() != frequencies.len()
            || unsigned_from_db(row.chunk_count, "chunk_count")? != set.chunk_count
        {
            *whole = false;
            continue;
        }
        set.chunks.push(ChunkTerms {
            chunk_index: index,
            length: unsigned_from_db(length, "term_count")?,
            terms: terms
                .into_iter()
                .zip(frequencies)
                .map(|(term, tf)| (term, u32::from(tf.max(0).unsigned_abs())))
                .collect(),
        });
    }
    Ok(by_item
        .into_iter()
        .filter(|(_, (set, whole))| *whole && set.chunks.len() == set.chunk_count as usize)
        .map(|(id, (set, _))| (id, set))
        .collect())
}

/// Values are validated to fit before they get here.
fn stored(value: u64) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

pub(crate) fn validate_chunker_key(chunker_key: &str) -> Result<(), Error> {
    if chunker_key.is_empty()
        || chunker_key.len() > MAX_CHUNKER_KEY_BYTES
        || chunker_key.contains('\0')
    {
        return Err(Error::invalid(format!(
            "chunker key must be 1 to {MAX_CHUNKER_KEY_BYTES} bytes without NUL characters"
        )));
    }
    Ok(())
}

fn validate_sets(sets: &[NewChunkSet]) -> Result<(), Error> {
    let mut items = HashSet::with_capacity(sets.len());
    for set in sets {
        let set_error =
            |rule: String| Error::invalid(format!("chunk set of item {}: {rule}", set.item_id));
        if !items.insert(set.item_id) {
            return Err(set_error(
                "given twice; one put may hold one set per item".to_owned(),
            ));
        }
        if set.chunks.is_empty() {
            return Err(set_error("has no chunks".to_owned()));
        }
        if set.chunks.len() as u64 > u64::from(MAX_STORED) {
            return Err(set_error("has too many chunks".to_owned()));
        }
        for (index, chunk) in set.chunks.iter().enumerate() {
            if chunk.start_offset > chunk.end_offset {
                return Err(set_error(format!(
                    "chunk {index} ends ({}) before it starts ({})",
                    chunk.end_offset, chunk.start_offset
                )));
            }
            if chunk.end_offset > MAX_STORED || chunk.token_count > MAX_STORED {
                return Err(set_error(format!(
                    "chunk {index} has an offset or token count above {MAX_STORED}"
                )));
            }
            if chunk.text.contains('\0') {
                return Err(set_error(format!("chunk {index} contains a NUL character")));
            }
        }
    }
    Ok(())
}

/// The set if it is whole: indexes 0..n, every row saying the set has n chunks.
fn complete_set(mut chunks: Vec<KbChunkCache>) -> Option<Vec<KbChunkCache>> {
    chunks.sort_by_key(|chunk| chunk.chunk_index);
    let count = chunks.len();
    let whole = count > 0
        && chunks.iter().enumerate().all(|(index, chunk)| {
            chunk.chunk_index as usize == index && chunk.chunk_count as usize == count
        });
    whole.then_some(chunks)
}

fn chunk_from_row(row: queries::CachedChunk) -> Result<KbChunkCache, Error> {
    Ok(KbChunkCache {
        item_id: row.item_id,
        chunker_key: row.chunker_key,
        chunk_index: unsigned_from_db(row.chunk_index, "chunk_index")?,
        chunk_count: unsigned_from_db(row.chunk_count, "chunk_count")?,
        content_hash: content_hash_from_db(&row.content_hash)?,
        start_offset: unsigned_from_db(row.start_offset, "start_offset")?,
        end_offset: unsigned_from_db(row.end_offset, "end_offset")?,
        text: row.text,
        token_count: unsigned_from_db(row.token_count, "token_count")?,
        created_at: timestamp_from_db(row.created_at),
    })
}
