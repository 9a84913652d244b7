//! Scoring passages: BM25 over the candidate chunks of one query, combined with each item's
//! retrieval rank; the best `top_k`, at most `max_per_item` from one item.

use std::collections::HashMap;
use std::sync::LazyLock;

/// BM25 term-frequency saturation.
const K1: f64 = 1.2;
/// BM25 length normalisation.
const B: f64 = 0.75;
/// Weight of the item's retrieval rank against the passage's own BM25 score.
const ITEM_RANK_WEIGHT: f64 = 0.25;

/// A passage to score: which item (by position among the candidates), which chunk, its text.
#[derive(Debug, Clone, Copy)]
pub struct Passage<'a> {
    /// Position of the item among the candidates.
    pub item: usize,
    /// The item's retrieval rank (higher is better; any scale).
    pub item_rank: f64,
    /// The chunk's index within the item.
    pub chunk: usize,
    /// The chunk's text.
    pub text: &'a str,
}

/// A scored passage.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    /// Index into the passages given.
    pub passage: usize,
    /// Its score, in `[0, 1]`; comparable within one query.
    pub score: f64,
}

/// The best passages for `query`, best first, deterministic for equal scores (candidate
/// order, then chunk order).
pub fn select(
    query: &str,
    passages: &[Passage<'_>],
    top_k: usize,
    max_per_item: usize,
) -> Vec<Scored> {
    let mut query_terms = terms(query);
    query_terms.sort();
    query_terms.dedup();
    let mut buffer = String::new();
    let counts: Vec<TermCounts> = passages
        .iter()
        .map(|passage| count_terms(passage.text, &query_terms, &mut buffer))
        .collect();
    let bm25 = bm25_scores(query_terms.len(), &counts);
    let best_bm25 = bm25.iter().copied().fold(0.0, f64::max);
    let best_rank = passages.iter().map(|p| p.item_rank).fold(0.0, f64::max);

    let mut scored: Vec<Scored> = passages
        .iter()
        .enumerate()
        .map(|(index, passage)| {
            let text_score = if best_bm25 > 0.0 {
                bm25[index] / best_bm25
            } else {
                0.0
            };
            let rank_score = if best_rank > 0.0 {
                passage.item_rank / best_rank
            } else {
                0.0
            };
            Scored {
                passage: index,
                score: (1.0 - ITEM_RANK_WEIGHT) * text_score + ITEM_RANK_WEIGHT * rank_score,
            }
        })
        .collect();
    scored.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(passages[a.passage].item.cmp(&passages[b.passage].item))
            .then(passages[a.passage].chunk.cmp(&passages[b.passage].chunk))
    });
    let mut per_item: HashMap<usize, usize> = HashMap::new();
    scored
        .into_iter()
        .filter(|scored| {
            let taken = per_item.entry(passages[scored.passage].item).or_default();
            *taken += 1;
            *taken <= max_per_item
        })
        .take(top_k)
        .collect()
}

/// How often each query term occurs in one passage, and the passage's length in terms.
struct TermCounts {
    frequencies: Vec<u32>,
    length: usize,
}

/// Counts the query terms in `text` without allocating per word (this runs over every
/// candidate chunk of every query).
fn count_terms(text: &str, query_terms: &[String], buffer: &mut String) -> TermCounts {
    let mut frequencies = vec![0u32; query_terms.len()];
    let mut length = 0;
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
    {
        buffer.clear();
        if word.is_ascii() {
            buffer.push_str(word);
            buffer.make_ascii_lowercase();
        } else {
            buffer.extend(word.chars().flat_map(char::to_lowercase));
        }
        if is_stop_word(buffer) {
            continue;
        }
        length += 1;
        let (stem, suffix) = stem_parts(buffer);
        if let Some(index) = query_terms.iter().position(|term| {
            term.len() == stem.len() + suffix.len()
                && term.starts_with(stem)
                && term.ends_with(suffix)
        }) {
            frequencies[index] += 1;
        }
    }
    TermCounts {
        frequencies,
        length,
    }
}

fn bm25_scores(terms: usize, documents: &[TermCounts]) -> Vec<f64> {
    if documents.is_empty() {
        return Vec::new();
    }
    let count = documents.len() as f64;
    let average_length =
        (documents.iter().map(|doc| doc.length).sum::<usize>() as f64 / count).max(1.0);
    let idf: Vec<f64> = (0..terms)
        .map(|term| {
            let frequency = documents
                .iter()
                .filter(|doc| doc.frequencies[term] > 0)
                .count() as f64;
            (1.0 + (count - frequency + 0.5) / (frequency + 0.5)).ln()
        })
        .collect();
    documents
        .iter()
        .map(|doc| {
            let length_norm = 1.0 - B + B * doc.length as f64 / average_length;
            idf.iter()
                .zip(&doc.frequencies)
                .map(|(idf, &tf)| {
                    let tf = f64::from(tf);
                    idf * tf * (K1 + 1.0) / (tf + K1 * length_norm)
                })
                .sum()
        })
        .collect()
}

/// Lower-cased words without stop words, lightly stemmed (plurals and a few suffixes), so
/// that "indexes" meets "index" and "vacuuming" meets "vacuum".
pub fn terms(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
        .filter(|word| !is_stop_word(word))
        .map(|word| {
            let (stem, suffix) = stem_parts(&word);
            format!("{stem}{suffix}")
        })
        .collect()
}

/// A word's stem as a prefix of it plus a replacement suffix (`"queries"` is `("quer", "y")`).
fn stem_parts(word: &str) -> (&str, &'static str) {
    if !word.is_ascii() || word.len() <= 3 {
        return (word, "");
    }
    for (suffix, replacement) in [
        ("ies", "y"),
        ("sses", "ss"),
        ("xes", "x"),
        ("ches", "ch"),
        ("shes", "sh"),
        ("ing", ""),
        ("ed", ""),
    ] {
        if let Some(stem) = word.strip_suffix(suffix)
            && stem.len() >= 3
        {
            return (stem, replacement);
        }
    }
    match word.strip_suffix('s') {
        Some(stem) if !stem.ends_with('s') && !stem.ends_with('u') && !stem.ends_with('i') => {
            (stem, "")
        }
        _ => (word, ""),
    }
}

/// Whether `word` (lower case) is a stop word. Runs for every word of every candidate chunk:
/// a short word is packed into an integer and looked up among the packed stop words.
fn is_stop_word(word: &str) -> bool {
    static PACKED: LazyLock<Vec<u64>> = LazyLock::new(|| {
        let mut packed: Vec<u64> = STOP_WORDS.iter().filter_map(|word| pack(word)).collect();
        packed.sort_unstable();
        packed
    });
    pack(word).is_some_and(|key| PACKED.binary_search(&key).is_ok())
}

/// A word of at most [`MAX_STOP_WORD_BYTES`] bytes as an integer, distinct per word.
fn pack(word: &str) -> Option<u64> {
    if word.len() > MAX_STOP_WORD_BYTES {
        return None;
    }
    let mut bytes = [0u8; 8];
    bytes[..word.len()].copy_from_slice(word.as_bytes());
    bytes[7] = word.len() as u8;
    Some(u64::from_le_bytes(bytes))
}

/// Length of the longest stop word.
const MAX_STOP_WORD_BYTES: usize = 6;

/// English words too common to tell passages apart, sorted (binary search).
const STOP_WORDS: [&str; 70] = [
    "a", "about", "after", "all", "also", "an", "and", "any", "are", "as", "at", "be", "been",
    "but", "by", "can", "could", "did", "do", "does", "for", "from", "had", "has", "have", "how",
    "i", "if", "in", "into", "is", "it", "its", "may", "me", "more", "my", "no", "not", "of", "on",
    "or", "our", "should", "so", "some", "such", "than", "that", "the", "their", "them", "then",
    "there", "these", "they", "this", "to", "was", "we", "what", "when", "where", "which", "who",
    "why", "will", "with", "would", "you",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn passage(item: usize, chunk: usize, text: &str) -> Passage<'_> {
        Passage {
            item,
            item_rank: 0.0,
            chunk,
            text,
        }
    }

    #[test]
    fn the_passage_that_answers_ranks_first() {
        let passages = [
            passage(0, 0, "Indexes speed up lookups on large tables."),
            passage(0, 1, "VACUUM reclaims storage occupied by dead tuples."),
            passage(
                1,
                0,
                "Autovacuum runs vacuum automatically in the background.",
            ),
        ];
        let best = select("how does vacuum reclaim storage?", &passages, 3, 3);
        assert_eq!(best[0].passage, 1);
        assert!(best[0].score > best[1].score);
        assert!(best.iter().all(|s| (0.0..=1.0).contains(&s.score)));
    }

    #[test]
    fn caps_per_item_and_top_k_apply() {
        let passages = [
            passage(0, 0, "vacuum one"),
            passage(0, 1, "vacuum two"),
            passage(0, 2, "vacuum three"),
            passage(1, 0, "vacuum four"),
        ];
        let best = select("vacuum", &passages, 10, 2);
        assert_eq!(
            best.iter()
                .filter(|s| passages[s.passage].item == 0)
                .count(),
            2
        );
        assert_eq!(best.len(), 3);
        assert_eq!(select("vacuum", &passages, 1, 2).len(), 1);
        assert!(select("vacuum", &[], 5, 2).is_empty());
    }

    #[test]
    fn item_rank_breaks_ties_between_equal_passages() {
        let passages = [
            Passage {
                item: 0,
                item_rank: 0.1,
                chunk: 0,
                text: "replication slots",
            },
            Passage {
                item: 1,
                item_rank: 0.9,
                chunk: 0,
                text: "replication slots",
            },
        ];
        assert_eq!(select("replication", &passages, 2, 1)[0].passage, 1);
    }

    #[test]
    fn stop_words_are_sorted_and_within_the_length_bound() {
        assert!(STOP_WORDS.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(
            STOP_WORDS
                .iter()
                .all(|word| word.len() <= MAX_STOP_WORD_BYTES)
        );
        assert_eq!(
            STOP_WORDS.iter().map(|word| word.len()).max(),
            Some(MAX_STOP_WORD_BYTES)
        );
        assert!(STOP_WORDS.iter().all(|word| is_stop_word(word)));
        assert!(!is_stop_word("vacuum") && !is_stop_word("shoulder"));
    }

    #[test]
    fn counting_is_case_insensitive_for_ascii_and_other_scripts() {
        let terms = vec!["index".to_owned(), "ünïcödé".to_owned()];
        let counts = count_terms(
            "The INDEXES; Index ÜNÏCÖDÉ and the",
            &terms,
            &mut String::new(),
        );
        assert_eq!(counts.frequencies, [2, 1]);
        assert_eq!(counts.length, 3, "stop words are not counted");
    }

    #[test]
    fn terms_are_normalised() {
        assert_eq!(
            terms("The Indexes, VACUUMING and queries!"),
            ["index", "vacuum", "query"]
        );
        assert_eq!(
            terms("status analysis Ünïcödé"),
            ["status", "analysis", "ünïcödé"]
        );
    }
}
