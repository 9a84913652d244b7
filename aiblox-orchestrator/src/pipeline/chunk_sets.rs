//! Chunk sets: the term statistics of every candidate's chunks, kept in memory (the passage
//! store), else read from the database's chunk cache, else chunked now and written back; and
//! the texts of the passages shown.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aiblox_kb::{ChunkCacheRepo, KbPool};

use super::chunker::Chunker;
use super::lexical::{ReadAt, Retrieved};
use super::passage_store::{ChunkKey, PassageStore, SetIndex, SetKey, ShownChunk, lock};

/// The chunk sets of one question's candidates.
#[derive(Debug, Default)]
pub(crate) struct ChunkSetsFound {
    /// By item id.
    pub(crate) sets: HashMap<i64, Arc<SetIndex>>,
    /// Candidates whose set was kept or cached.
    pub(crate) hits: usize,
    /// Candidates chunked now.
    pub(crate) misses: usize,
}

/// Where chunk sets come from, shared by every request of a process.
#[derive(Debug)]
pub(crate) struct ChunkSets {
    pool: KbPool,
    chunker: Chunker,
    /// The chunker's key, made once.
    chunker_key: String,
    store: PassageStore,
    /// Items being chunked now, each with the turn a request takes to chunk it.
    chunking: Mutex<HashMap<SetKey, Arc<tokio::sync::Mutex<()>>>>,
}

impl ChunkSets {
    /// Chunk sets of `chunker` over `pool`, none kept yet.
    pub(crate) fn new(pool: KbPool, chunker: Chunker) -> ChunkSets {
        ChunkSets {
            pool,
            chunker_key: chunker.key(),
            chunker,
            store: PassageStore::default(),
            chunking: Mutex::default(),
        }
    }

    /// Chunk sets and bytes of passage text kept in memory (for metrics).
    pub(crate) fn kept(&self) -> (usize, usize) {
        self.store.sizes()
    }

    /// The term statistics of every candidate's chunk set, by item id: kept in memory, else
    /// read from the chunk cache's lexical index (one round trip for all), else (not cached
    /// yet) chunked now from the item's content, written back (the database indexes the
    /// chunks' terms as it stores them) and read again. Returns the sets and the hit and miss
    /// counts (a miss is a set chunked now).
    pub(crate) async fn terms_of(
        &self,
        retrieved: &mut Retrieved,
        at: ReadAt,
    ) -> Result<ChunkSetsFound, aiblox_kb::Error> {
        let key = self.chunker_key.as_str();
        let cache = ChunkCacheRepo::new(&self.pool);
        let mut sets = HashMap::with_capacity(retrieved.candidates.len());
        let mut unknown: Vec<SetKey> = Vec::new();
        for candidate in &retrieved.candidates {
            let set_key = (candidate.id, candidate.content_hash);
            match self.store.set(&set_key) {
                Some(set) => {
                    sets.insert(candidate.id, set);
                }
                None => unknown.push(set_key),
            }
        }
        if !unknown.is_empty() {
            self.read_sets(&cache, key, &unknown, &mut sets).await?;
        }
        let mut keys: Vec<SetKey> = retrieved
            .candidates
            .iter()
            .filter(|c| !sets.contains_key(&c.id))
            .map(|c| (c.id, c.content_hash))
            .collect();
        let misses = keys.len();
        let hits = retrieved.candidates.len() - misses;
        if keys.is_empty() {
            return Ok(ChunkSetsFound { sets, hits, misses });
        }
        // One request at a time chunks an item; others that want it wait, then find it kept
        // (without this, the first requests of a cold service all chunked the same pages).
        keys.sort_unstable();
        let turns: Vec<Arc<tokio::sync::Mutex<()>>> = {
            let mut chunking = lock(&self.chunking);
            keys.iter()
                .map(|key| chunking.entry(*key).or_default().clone())
                .collect()
        };
        let mut held = Vec::with_capacity(turns.len());
        for turn in &turns {
            // In key order: two requests wanting overlapping items cannot wait on each other.
            held.push(turn.lock().await);
        }
        let result = self
            .chunk_missing(retrieved, &keys, &cache, key, &mut sets, at)
            .await;
        drop(held);
        drop(turns);
        let mut chunking = lock(&self.chunking);
        for key in &keys {
            if chunking
                .get(key)
                .is_some_and(|turn| Arc::strong_count(turn) == 1)
            {
                chunking.remove(key);
            }
        }
        result?;
        Ok(ChunkSetsFound { sets, hits, misses })
    }

    /// Chunks the items of `keys` whose sets are still unknown (another request may have
    /// chunked them meanwhile), writes the sets back and reads their statistics into `sets`.
    async fn chunk_missing(
        &self,
        retrieved: &mut Retrieved,
        keys: &[SetKey],
        cache: &ChunkCacheRepo<'_>,
        key: &str,
        sets: &mut HashMap<i64, Arc<SetIndex>>,
        at: ReadAt,
    ) -> Result<(), aiblox_kb::Error> {
        let mut missing = Vec::with_capacity(keys.len());
        for set_key in keys {
            match self.store.set(set_key) {
                Some(set) => {
                    sets.insert(set_key.0, set);
                }
                None => missing.push(set_key.0),
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        // Found by a search as of the question's position: read as of it, so that a lagging
        // replica cannot miss them.
        let items = at.items(&self.pool).get_many(&missing).await?;
        let mut made = Vec::with_capacity(items.len());
        for item in items.into_iter().flatten() {
            // The item may have changed since it was ranked: chunk what it holds now.
            if let Some(candidate) = retrieved.candidates.iter_mut().find(|c| c.id == item.id) {
                candidate.content_hash = item.content_hash;
            }
            made.extend(self.chunker.chunk_set(&item));
        }
        if !made.is_empty() {
            cache.put(key, &made).await?;
            let fresh: Vec<SetKey> = made
                .iter()
                .map(|set| (set.item_id, set.content_hash))
                .collect();
            self.read_sets(cache, key, &fresh, sets).await?;
        }
        Ok(())
    }

    /// Reads the statistics of the sets `wanted` from the chunk cache into `sets` (those
    /// cached) and into the store.
    async fn read_sets(
        &self,
        cache: &ChunkCacheRepo<'_>,
        key: &str,
        wanted: &[SetKey],
        sets: &mut HashMap<i64, Arc<SetIndex>>,
    ) -> Result<(), aiblox_kb::Error> {
        let found = cache.terms_of(key, wanted).await?;
        for (id, hash) in wanted {
            if let Some(set) = found.get(id) {
                let set = Arc::new(SetIndex::new(set));
                self.store.keep_set((*id, *hash), set.clone());
                sets.insert(*id, set);
            }
        }
        Ok(())
    }

    /// The texts of the chunks `wanted`: kept in memory, else read in one round trip (and
    /// kept). Chunks no longer cached for their hash are absent.
    pub(crate) async fn texts(
        &self,
        wanted: &[ChunkKey],
    ) -> Result<HashMap<ChunkKey, Arc<ShownChunk>>, aiblox_kb::Error> {
        let mut texts = HashMap::with_capacity(wanted.len());
        let mut unknown = Vec::new();
        for chunk_key in wanted {
            match self.store.text(chunk_key) {
                Some(chunk) => {
                    texts.insert(*chunk_key, chunk);
                }
                None => unknown.push((chunk_key.0, chunk_key.2, chunk_key.1)),
            }
        }
        if unknown.is_empty() {
            return Ok(texts);
        }
        for chunk in ChunkCacheRepo::new(&self.pool)
            .get_at(&self.chunker_key, &unknown)
            .await?
        {
            let chunk_key = (chunk.item_id, chunk.content_hash, chunk.chunk_index);
            texts.insert(chunk_key, self.store.keep_text(chunk_key, chunk));
        }
        Ok(texts)
    }
}
