//! The passage store: what the pipeline keeps in memory of the database's chunk cache, each
//! chunk set's term statistics and the texts of the passages it has shown. Both are fixed by an item's content hash and the
//! chunker key (a changed item has a new hash, so it is looked up anew), so nothing kept here
//! is ever stale; memory is bounded by forgetting the oldest entries first. It holds no
//! answers: every question is ranked and scored afresh.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard};

use aiblox_kb::{ChunkSetTerms, KbChunkCache};

use super::highlights::WordStems;

/// A chunk the pipeline has shown: its text, and its words by stem for highlighting.
#[derive(Debug)]
pub(crate) struct ShownChunk {
    pub(crate) chunk: KbChunkCache,
    pub(crate) words: WordStems,
}

/// A chunk set's term statistics turned around for scoring: term -> chunks holding it.
#[derive(Debug, Default)]
pub(crate) struct SetIndex {
    /// Number of chunks in the set.
    pub(crate) chunk_count: u32,
    /// Length in terms of each chunk, by chunk index.
    pub(crate) lengths: Vec<u32>,
    /// Per term: `(chunk_index, frequency)`, in chunk order.
    pub(crate) postings: HashMap<Box<str>, Vec<(u32, u32)>>,
}

impl SetIndex {
    /// The index of one set's statistics.
    pub(crate) fn new(set: &ChunkSetTerms) -> SetIndex {
        let mut index = SetIndex {
            chunk_count: set.chunk_count,
            lengths: vec![0; set.chunk_count as usize],
            postings: HashMap::new(),
        };
        for chunk in &set.chunks {
            if let Some(length) = index.lengths.get_mut(chunk.chunk_index as usize) {
                *length = chunk.length;
            }
            for (term, frequency) in &chunk.terms {
                index
                    .postings
                    .entry(term.as_str().into())
                    .or_default()
                    .push((chunk.chunk_index, *frequency));
            }
        }
        index
    }
}

/// Most chunk sets kept (a set of the PostgreSQL documentation takes about 20 KB).
const MAX_SETS: usize = 5_000;
/// Most bytes of chunk text kept.
const MAX_TEXT_BYTES: usize = 32 << 20;

/// A chunk set: its item and the content hash it was made from.
pub(crate) type SetKey = (i64, [u8; 32]);
/// One chunk of a set.
pub(crate) type ChunkKey = (i64, [u8; 32], u32);

/// Chunk statistics and texts, shared by every request of a process.
#[derive(Debug, Default)]
pub(crate) struct PassageStore {
    sets: Mutex<Bounded<SetKey, Arc<SetIndex>>>,
    texts: Mutex<Bounded<ChunkKey, Arc<ShownChunk>>>,
}

impl PassageStore {
    /// The statistics of a set, if kept.
    pub(crate) fn set(&self, key: &SetKey) -> Option<Arc<SetIndex>> {
        lock(&self.sets).get(key)
    }

    /// Keeps a set's statistics.
    pub(crate) fn keep_set(&self, key: SetKey, set: Arc<SetIndex>) {
        lock(&self.sets).insert(key, set, 1, MAX_SETS);
    }

    /// A chunk's text, if kept.
    pub(crate) fn text(&self, key: &ChunkKey) -> Option<Arc<ShownChunk>> {
        lock(&self.texts).get(key)
    }

    /// Keeps a chunk's text with its words by stem (worked out here, once).
    pub(crate) fn keep_text(&self, key: ChunkKey, chunk: KbChunkCache) -> Arc<ShownChunk> {
        let words = WordStems::of(&chunk.text);
        let bytes = chunk.text.len() + words.size();
        let shown = Arc::new(ShownChunk { chunk, words });
        lock(&self.texts).insert(key, shown.clone(), bytes, MAX_TEXT_BYTES);
        shown
    }

    /// Chunk sets kept, and bytes of chunk texts kept with their words by stem (for metrics).
    pub(crate) fn sizes(&self) -> (usize, usize) {
        (lock(&self.sets).len(), lock(&self.texts).size)
    }
}

/// Locks a map that every operation leaves whole: a poisoned lock still guards valid data.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Reads data behind a lock that every write leaves whole: a poisoned lock still guards valid
/// data.
pub(crate) fn lock_read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

/// A map that forgets its oldest entries once their summed size passes a bound.
#[derive(Debug)]
struct Bounded<K, V> {
    entries: HashMap<K, (V, usize)>,
    order: VecDeque<K>,
    /// Summed size, in the bound's unit.
    size: usize,
}

impl<K, V> Default for Bounded<K, V> {
    fn default() -> Self {
        Bounded {
            entries: HashMap::new(),
            order: VecDeque::new(),
            size: 0,
        }
    }
}

impl<K: Hash + Eq + Clone, V: Clone> Bounded<K, V> {
    fn get(&self, key: &K) -> Option<V> {
        self.entries.get(key).map(|(value, _)| value.clone())
    }

    fn len(&self) -> usize {
        self.entries.len()
    }

    fn insert(&mut self, key: K, value: V, size: usize, bound: usize) {
        if self.entries.contains_key(&key) {
            return;
        }
        self.entries.insert(key.clone(), (value, size));
        self.order.push_back(key);
        self.size += size;
        while self.size > bound {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            if let Some((_, size)) = self.entries.remove(&oldest) {
                self.size -= size;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_index_lists_the_chunks_of_each_term() {
        let set = ChunkSetTerms {
            chunk_count: 3,
            chunks: vec![
                aiblox_kb::ChunkTerms {
                    chunk_index: 0,
                    length: 4,
                    terms: vec![("vacuum".to_owned(), 2)],
                },
                aiblox_kb::ChunkTerms {
                    chunk_index: 2,
                    length: 7,
                    terms: vec![("index".to_owned(), 1), ("vacuum".to_owned(), 1)],
                },
            ],
        };
        let index = SetIndex::new(&set);
        assert_eq!(index.lengths, [4, 0, 7]);
        assert_eq!(index.postings["vacuum"], [(0, 2), (2, 1)]);
        assert_eq!(index.postings["index"], [(2, 1)]);
    }

    #[test]
    fn the_oldest_entries_go_first_once_the_bound_is_passed() {
        let mut map: Bounded<u32, &str> = Bounded::default();
        map.insert(1, "a", 4, 10);
        map.insert(2, "b", 4, 10);
        map.insert(2, "again", 4, 10);
        assert_eq!((map.len(), map.size, map.get(&2)), (2, 8, Some("b")));
        map.insert(3, "c", 4, 10);
        assert_eq!(map.get(&1), None, "the oldest went");
        assert_eq!((map.len(), map.size), (2, 8));
        map.insert(4, "huge", 50, 10);
        assert_eq!(map.len(), 0, "an entry above the bound is not kept either");
        assert_eq!(map.size, 0);
    }
}
