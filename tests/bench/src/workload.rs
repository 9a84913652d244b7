//! The workload: vocabulary, items, operations, the `ws256-v1` chunker, fingerprints.

use sha2::{Digest as _, Sha256};

use crate::rng::SplitMix64;

const VOCABULARY_SIZE: usize = 4096;
const ONSETS: [&str; 32] = [
    "", "b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "br",
    "ch", "cl", "cr", "dr", "fl", "gr", "pl", "pr", "sh", "sl", "st", "th", "tr",
];
const NUCLEI: [&str; 8] = ["a", "e", "i", "o", "u", "ea", "ou", "ai"];
const CODAS: [&str; 16] = [
    "", "", "n", "r", "s", "t", "l", "m", "d", "ng", "st", "nd", "rk", "ck", "sh", "th",
];
const SOURCES: [&str; 4] = ["wiki", "tickets", "docs", "chat"];
/// The chunker key of the workload's chunk sets.
pub const CHUNKER_KEY: &str = "ws256-v1";
const CHUNK_MAX: usize = 256;

/// `items_sha256` of the reference sizes, as the specification prints it.
pub const SPEC_ITEMS_SHA256: &str =
    "767372fd06fcd8f6d73efcdce9497e6572899f409c05ff1b1dd800a71924d8c0";
/// `workload_sha256` of the reference sizes, as the specification prints it.
pub const SPEC_WORKLOAD_SHA256: &str =
    "4a3a393523119e5fda96ce77b69e7e408c7d87da0555f203a3d77646c78c230d";
/// The specification's result check of the search phase at full size: mean hits per query
/// (limit 10, to one decimal) and queries without a hit.
pub const SPEC_SEARCH_HITS: (f64, u64) = (9.2, 23);

/// Stream numbers of the specification.
const VOCAB: u64 = 0;
const ITEMS: u64 = 1;
const GET: u64 = 2;
const GET_MANY: u64 = 3;
const SEARCH: u64 = 4;
const CHUNK_GET: u64 = 5;

/// The sizes of a workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizes {
    /// Generator seed.
    pub seed: u64,
    /// Items.
    pub items: usize,
    /// `get` operations.
    pub gets: usize,
    /// `get_many` calls.
    pub get_many_calls: usize,
    /// Ids per `get_many` call.
    pub get_many_size: usize,
    /// Search queries.
    pub searches: usize,
    /// Items whose chunks are put.
    pub chunk_puts: usize,
    /// `chunk_get` operations.
    pub chunk_gets: usize,
}

impl Default for Sizes {
    /// The reference sizes (seed 42).
    fn default() -> Self {
        Sizes {
            seed: 42,
            items: 20_000,
            gets: 20_000,
            get_many_calls: 2_000,
            get_many_size: 100,
            searches: 2_000,
            chunk_puts: 2_000,
            chunk_gets: 20_000,
        }
    }
}

/// One generated item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Position, 0-based.
    pub index: usize,
    /// One of four sources, round robin.
    pub source: &'static str,
    /// `doc-%07d`.
    pub external_id: String,
    /// Title.
    pub title: String,
    /// Content (ASCII).
    pub content: String,
    /// The two tags of its metadata.
    pub tags: [String; 2],
}

/// A chunk of the `ws256-v1` chunker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Start (byte = character offset: the content is ASCII).
    pub start: usize,
    /// End, exclusive.
    pub end: usize,
    /// Whitespace-separated words.
    pub token_count: usize,
}

/// Items and the operations on them (item indexes, mapped to database ids when run).
#[derive(Debug, Clone)]
pub struct Workload {
    /// The sizes it was made with.
    pub sizes: Sizes,
    /// The items.
    pub items: Vec<Item>,
    /// Items to get, one by one.
    pub get: Vec<usize>,
    /// Items to get, by call.
    pub get_many: Vec<Vec<usize>>,
    /// Search queries.
    pub search: Vec<String>,
    /// Items whose chunks are put.
    pub chunk_put: Vec<usize>,
    /// Items whose chunks are got.
    pub chunk_get: Vec<usize>,
}

impl Workload {
    /// Generates the workload of `sizes`.
    pub fn generate(sizes: Sizes) -> Workload {
        let vocabulary = vocabulary(sizes.seed);
        let items = items(sizes.seed, sizes.items, &vocabulary);
        let n = sizes.items as u64;
        let mut rng = SplitMix64::stream(sizes.seed, GET);
        let get = (0..sizes.gets).map(|_| rng.below(n) as usize).collect();
        let mut rng = SplitMix64::stream(sizes.seed, GET_MANY);
        let get_many = (0..sizes.get_many_calls)
            .map(|_| {
                (0..sizes.get_many_size)
                    .map(|_| rng.below(n) as usize)
                    .collect()
            })
            .collect();
        let mut rng = SplitMix64::stream(sizes.seed, SEARCH);
        let search = (0..sizes.searches)
            .map(|_| {
                let words = 2 + rng.below(2);
                (0..words)
                    .map(|_| zipf_word(&mut rng, &vocabulary))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        let puts = sizes.chunk_puts.min(sizes.items);
        let step = sizes.items.checked_div(puts).unwrap_or(1);
        let chunk_put: Vec<usize> = (0..puts).map(|i| i * step).collect();
        let mut rng = SplitMix64::stream(sizes.seed, CHUNK_GET);
        let chunk_get = if puts == 0 {
            Vec::new()
        } else {
            (0..sizes.chunk_gets)
                .map(|_| chunk_put[rng.below(puts as u64) as usize])
                .collect()
        };
        Workload {
            sizes,
            items,
            get,
            get_many,
            search,
            chunk_put,
            chunk_get,
        }
    }

    /// `items_sha256`: over `"{source}\t{external_id}\t{title}\t{content}\n"` of every item.
    pub fn items_sha256(&self) -> String {
        let mut hasher = Sha256::new();
        for item in &self.items {
            hasher.update(
                format!(
                    "{}\t{}\t{}\t{}\n",
                    item.source, item.external_id, item.title, item.content
                )
                .as_bytes(),
            );
        }
        hex::encode(hasher.finalize())
    }

    /// `workload_sha256`: over the operation lines of the specification.
    pub fn workload_sha256(&self) -> String {
        let joined = |indexes: &mut dyn Iterator<Item = &usize>| {
            indexes
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",")
        };
        let mut hasher = Sha256::new();
        hasher.update(format!("get:{}\n", joined(&mut self.get.iter())).as_bytes());
        hasher.update(
            format!("get_many:{}\n", joined(&mut self.get_many.iter().flatten())).as_bytes(),
        );
        hasher.update(format!("chunk_put:{}\n", joined(&mut self.chunk_put.iter())).as_bytes());
        hasher.update(format!("chunk_get:{}\n", joined(&mut self.chunk_get.iter())).as_bytes());
        hasher.update(format!("search:{}\n", self.search.join("|")).as_bytes());
        hex::encode(hasher.finalize())
    }
}

/// The `ws256-v1` chunker: greedy chunks of at most 256 characters, split at the last space in
/// `(start, start + 256]`; that space belongs to no chunk.
pub fn chunk(content: &str) -> Vec<Chunk> {
    let bytes = content.as_bytes();
    let mut chunks = Vec::new();
    let mut start = 0;
    while start < bytes.len() {
        let (end, next) = if bytes.len() - start <= CHUNK_MAX {
            (bytes.len(), bytes.len())
        } else {
            match bytes[start + 1..=start + CHUNK_MAX]
                .iter()
                .rposition(|&b| b == b' ')
            {
                Some(offset) => (start + 1 + offset, start + 2 + offset),
                None => (start + CHUNK_MAX, start + CHUNK_MAX),
            }
        };
        chunks.push(Chunk {
            start,
            end,
            token_count: content[start..end].split_whitespace().count(),
        });
        start = next;
    }
    chunks
}

fn vocabulary(seed: u64) -> Vec<String> {
    let mut rng = SplitMix64::stream(seed, VOCAB);
    let mut words: Vec<String> = Vec::with_capacity(VOCABULARY_SIZE);
    let mut seen = std::collections::HashSet::new();
    while words.len() < VOCABULARY_SIZE {
        let syllables = 1 + rng.below(3);
        let mut word = String::new();
        for _ in 0..syllables {
            word.push_str(ONSETS[rng.below(ONSETS.len() as u64) as usize]);
            word.push_str(NUCLEI[rng.below(NUCLEI.len() as u64) as usize]);
            word.push_str(CODAS[rng.below(CODAS.len() as u64) as usize]);
        }
        if word.len() >= 3 && seen.insert(word.clone()) {
            words.push(word);
        }
    }
    words.sort_by_key(String::len); // stable: ties keep generation order
    words
}

fn zipf_word<'a>(rng: &mut SplitMix64, vocabulary: &'a [String]) -> &'a str {
    let u = rng.unit();
    &vocabulary[(vocabulary.len() as f64 * ((u * u) * u)) as usize]
}

fn capitalized(mut text: String) -> String {
    if let Some(first) = text.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    text
}

fn items(seed: u64, count: usize, vocabulary: &[String]) -> Vec<Item> {
    let mut rng = SplitMix64::stream(seed, ITEMS);
    (0..count)
        .map(|index| {
            let title_words = 3 + rng.below(5);
            let title = capitalized(
                (0..title_words)
                    .map(|_| zipf_word(&mut rng, vocabulary))
                    .collect::<Vec<_>>()
                    .join(" "),
            );
            let target = 1536 + rng.below(1025) as i64;
            let mut content = String::new();
            let mut length: i64 = -1;
            while length < target {
                let words = 6 + rng.below(13);
                let sentence = capitalized(
                    (0..words)
                        .map(|_| zipf_word(&mut rng, vocabulary))
                        .collect::<Vec<_>>()
                        .join(" "),
                ) + ".";
                length += 1 + sentence.len() as i64;
                if !content.is_empty() {
                    content.push(' ');
                }
                content.push_str(&sentence);
            }
            let tags = [
                zipf_word(&mut rng, vocabulary).to_owned(),
                zipf_word(&mut rng, vocabulary).to_owned(),
            ];
            Item {
                index,
                source: SOURCES[index % SOURCES.len()],
                external_id: format!("doc-{index:07}"),
                title,
                content,
                tags,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_workload_has_the_specified_fingerprints() {
        let workload = Workload::generate(Sizes::default());
        assert_eq!(
            workload.items_sha256(),
            "767372fd06fcd8f6d73efcdce9497e6572899f409c05ff1b1dd800a71924d8c0"
        );
        assert_eq!(
            workload.workload_sha256(),
            "4a3a393523119e5fda96ce77b69e7e408c7d87da0555f203a3d77646c78c230d"
        );
        let chunks: usize = workload
            .chunk_put
            .iter()
            .map(|&index| chunk(&workload.items[index].content).len())
            .sum();
        assert_eq!(
            chunks, 17_495,
            "the specification's chunk count for the 2,000 items"
        );
    }

    #[test]
    fn chunks_split_at_the_last_space_and_drop_it() {
        let content = format!("{} {}", "a".repeat(200), "b".repeat(100));
        let chunks = chunk(&content);
        assert_eq!(
            (
                chunks[0].start,
                chunks[0].end,
                chunks[1].start,
                chunks[1].end
            ),
            (0, 200, 201, 301)
        );
        let unbroken = "x".repeat(600);
        assert_eq!(
            chunk(&unbroken)
                .iter()
                .map(|c| (c.start, c.end))
                .collect::<Vec<_>>(),
            [(0, 256), (256, 512), (512, 600)]
        );
    }
}
