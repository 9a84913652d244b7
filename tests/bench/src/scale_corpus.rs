//! The scale corpus of `../shared/bench/scale_corpus.py`, byte for byte: N items of
//! Zipf-distributed pseudo-words (13 sentences of 12 words, a 5-word title) as JSONL files of
//! 1,500 items under `OUT/items/`, and 300 questions of 3-6 words from vocabulary ranks
//! 50-20,000 in `OUT/questions.jsonl`. The script draws from Python's `random` (the Mersenne
//! Twister, seeded 7 for the corpus and 1 for the vocabulary); [`PythonRandom`] draws the same
//! numbers, so the same N gives the same files as the script.

use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;

/// Items per JSONL file.
const ITEMS_PER_FILE: u64 = 1_500;
/// Questions written.
const QUESTIONS: usize = 300;
/// Draws of pseudo-words before duplicates are removed.
const VOCABULARY_DRAWS: usize = 50_000;
/// The syllables words are made of.
const SYLLABLES: [&str; 20] = [
    "ka", "to", "ri", "mu", "se", "la", "no", "vi", "de", "po", "an", "el", "or", "ut", "is", "be",
    "go", "fa", "zu", "qi",
];

/// CPython's `random.Random`: MT19937 seeded as `random.seed(int)` seeds it, with `random()`,
/// `randint` and `choice` drawing as CPython does.
pub struct PythonRandom {
    state: [u32; 624],
    index: usize,
}

impl PythonRandom {
    /// `random.Random(seed)` for a non-negative integer seed below 2^32.
    pub fn new(seed: u32) -> PythonRandom {
        let mut random = PythonRandom::from_u32(19_650_218);
        // init_by_array with the key [seed].
        let key = [seed];
        let (mut i, mut j) = (1_usize, 0_usize);
        let state = &mut random.state;
        for _ in 0..624.max(key.len()) {
            let previous = state[i - 1] ^ (state[i - 1] >> 30);
            state[i] = (state[i] ^ previous.wrapping_mul(1_664_525))
                .wrapping_add(key[j])
                .wrapping_add(j as u32);
            i += 1;
            j += 1;
            if i >= 624 {
                state[0] = state[623];
                i = 1;
            }
            if j >= key.len() {
                j = 0;
            }
        }
        for _ in 0..623 {
            let previous = state[i - 1] ^ (state[i - 1] >> 30);
            state[i] = (state[i] ^ previous.wrapping_mul(1_566_083_941)).wrapping_sub(i as u32);
            i += 1;
            if i >= 624 {
                state[0] = state[623];
                i = 1;
            }
        }
        state[0] = 0x8000_0000;
        random.index = 624;
        random
    }

    /// MT19937's `init_genrand`.
    fn from_u32(seed: u32) -> PythonRandom {
        let mut state = [0_u32; 624];
        state[0] = seed;
        for i in 1..624 {
            state[i] = 1_812_433_253_u32
                .wrapping_mul(state[i - 1] ^ (state[i - 1] >> 30))
                .wrapping_add(i as u32);
        }
        PythonRandom { state, index: 624 }
    }

    /// The next 32 random bits.
    fn next_u32(&mut self) -> u32 {
        if self.index >= 624 {
            for i in 0..624 {
                let y = (self.state[i] & 0x8000_0000) | (self.state[(i + 1) % 624] & 0x7fff_ffff);
                let mut next = self.state[(i + 397) % 624] ^ (y >> 1);
                if y & 1 == 1 {
                    next ^= 0x9908_b0df;
                }
                self.state[i] = next;
            }
            self.index = 0;
        }
        let mut y = self.state[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// `random.random()`: a float in [0, 1) from 53 random bits.
    pub fn random(&mut self) -> f64 {
        let a = f64::from(self.next_u32() >> 5);
        let b = f64::from(self.next_u32() >> 6);
        (a * 67_108_864.0 + b) * (1.0 / 9_007_199_254_740_992.0)
    }

    /// `_randbelow(n)`: uniform in 0..n, by rejection from the fewest bits that hold n.
    fn below(&mut self, n: u32) -> u32 {
        let bits = 32 - n.leading_zeros();
        loop {
            let drawn = self.next_u32() >> (32 - bits);
            if drawn < n {
                return drawn;
            }
        }
    }

    /// `randint(low, high)`, both included.
    pub fn randint(&mut self, low: u32, high: u32) -> u32 {
        low + self.below(high - low + 1)
    }

    /// `choice(items)`.
    pub fn choice<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u32) as usize]
    }
}

/// The vocabulary and its cumulative Zipf weights, as the script builds them.
struct Vocabulary {
    words: Vec<String>,
    cumulative: Vec<f64>,
}

impl Vocabulary {
    fn new() -> Vocabulary {
        let mut random = PythonRandom::new(1);
        let mut drawn = Vec::with_capacity(VOCABULARY_DRAWS);
        while drawn.len() < VOCABULARY_DRAWS {
            let syllables = random.randint(2, 4);
            let word: String = (0..syllables).map(|_| *random.choice(&SYLLABLES)).collect();
            drawn.push(word);
        }
        // dict.fromkeys: duplicates dropped, first places kept.
        let mut seen = std::collections::HashSet::new();
        let words: Vec<String> = drawn
            .into_iter()
            .filter(|word| seen.insert(word.clone()))
            .collect();
        let mut total = 0.0;
        let cumulative = (0..words.len())
            .map(|rank| {
                total += 1.0 / ((rank + 1) as f64).powf(1.05);
                total
            })
            .collect();
        Vocabulary { words, cumulative }
    }

    /// A word drawn by its Zipf weight (`bisect.bisect(cum, random() * acc)`).
    fn word(&self, random: &mut PythonRandom) -> &str {
        let total = *self.cumulative.last().expect("a vocabulary");
        let point = random.random() * total;
        let index = self.cumulative.partition_point(|&sum| sum <= point);
        &self.words[index]
    }
}

/// Writes the corpus of `items` items into `out` (`items/part-NNNNN.jsonl` and
/// `questions.jsonl`), as `python3 scale_corpus.py ITEMS OUT` does.
pub fn write(items: u64, out: &Path) -> anyhow::Result<()> {
    let vocabulary = Vocabulary::new();
    let mut random = PythonRandom::new(7);
    let items_dir = out.join("items");
    std::fs::create_dir_all(&items_dir)
        .with_context(|| format!("could not create {}", items_dir.display()))?;
    let mut file = None;
    for item in 0..items {
        if item % ITEMS_PER_FILE == 0 {
            if let Some(mut done) = file.take() {
                std::io::BufWriter::flush(&mut done)?;
            }
            let path = items_dir.join(format!("part-{:05}.jsonl", item / ITEMS_PER_FILE));
            let created = std::fs::File::create(&path)
                .with_context(|| format!("could not create {}", path.display()))?;
            file = Some(std::io::BufWriter::new(created));
        }
        let title = words(&vocabulary, &mut random, 5);
        let sentences: Vec<String> = (0..13)
            .map(|_| words(&vocabulary, &mut random, 12))
            .collect();
        let line = format!(
            "{{\"external_id\": \"doc-{item}\", \"title\": \"{title}\", \"content\": \"{}\"}}\n",
            sentences.join(". ")
        );
        if let Some(file) = file.as_mut() {
            file.write_all(line.as_bytes())?;
        }
    }
    if let Some(mut done) = file.take() {
        done.flush()?;
    }
    let mut questions = String::new();
    for _ in 0..QUESTIONS {
        let count = random.randint(3, 6);
        let question: Vec<&str> = (0..count)
            .map(|_| vocabulary.words[random.randint(50, 20_000) as usize].as_str())
            .collect();
        questions.push_str(&format!("{{\"q\": \"{}\"}}\n", question.join(" ")));
    }
    let path = out.join("questions.jsonl");
    std::fs::write(&path, questions).with_context(|| format!("could not write {}", path.display()))
}

/// `count` words joined by spaces.
fn words(vocabulary: &Vocabulary, random: &mut PythonRandom, count: usize) -> String {
    (0..count)
        .map(|_| vocabulary.word(random))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use sha2::{Digest as _, Sha256};

    use super::*;

    /// CPython 3.11's first draws for `random.Random(7)`.
    #[test]
    fn draws_are_cpythons() {
        let mut random = PythonRandom::new(7);
        assert_eq!(random.random(), 0.32383276483316237);
        assert_eq!(random.randint(3, 6), 4);
    }

    /// The files `python3 scale_corpus.py 3001 OUT` wrote (CPython 3.11), by SHA-256: three
    /// item files, the last of one item, and the questions drawn after them.
    #[test]
    fn the_corpus_is_the_scripts_byte_for_byte() {
        let out = tempfile::tempdir().unwrap();
        write(3001, out.path()).unwrap();
        let digest = |path: &str| {
            let bytes = std::fs::read(out.path().join(path)).unwrap();
            hex::encode(Sha256::digest(bytes))
        };
        let first = std::fs::read_to_string(out.path().join("items/part-00000.jsonl")).unwrap();
        assert!(
            first.starts_with(
                "{\"external_id\": \"doc-0\", \"title\": \"elvi mubeis muorla zuri isde\", \
                 \"content\": \"zubego zuri munozu zuri elzufa zuri zuri elisdefa deorsefa mubeis \
                 kaorut utfanofa. poririqi"
            ),
            "{}",
            &first[..200]
        );
        assert_eq!(
            [
                digest("items/part-00000.jsonl"),
                digest("items/part-00001.jsonl"),
                digest("items/part-00002.jsonl"),
                digest("questions.jsonl"),
            ],
            [
                "9a690bb3c46811482eb7444b4eb08278ec0d7f854b143de7c74dd588e228354b",
                "6792ac245e1f95b26f6e1b5e7a1309512508276da56eaa7238439925e6c676a9",
                "1e9889b9e57961679adac06c07e02503052a9f8b2391fbaea2190911fc1cf6e9",
                "48931d502a753292bfc135b18c03961ec1a17986b7d1d83922fb159de352bf04",
            ]
        );
    }
}
