//! Scoring passages from the term statistics the chunk cache keeps (no text is read): BM25 of
//! each chunk with the corpus IDF, fused with its page's BM25 score; the best `top_k`, at most
//! `max_per_item` from one item; and where the question's terms occur in a passage's text.

use std::collections::HashMap;
use std::sync::LazyLock;

use aiblox_kb::{Bm25, QueryTerm};
use rust_stemmers::{Algorithm, Stemmer};

/// Weight of the page's score in a passage's score; the passage's own BM25 has the rest.
/// Tuned on the development set (docs/retrieval.md).
pub(crate) const PAGE_WEIGHT: f64 = 0.7;

/// A passage to score: which candidate (by position), which chunk, and the question's terms
/// it holds with their frequencies (none for a chunk standing in for a page without matches).
#[derive(Debug, Clone)]
pub(crate) struct Passage<'a> {
    /// Position of the item among the candidates.
    pub item: usize,
    /// The chunk's index within the item.
    pub chunk: u32,
    /// The chunk's length in terms.
    pub length: u32,
    /// `(term, frequency)` of the question's terms it holds.
    pub terms: Vec<(&'a str, u32)>,
}

/// A scored passage.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Scored {
    /// Index into the passages given.
    pub passage: usize,
    /// Its score, in `[0, 1]`: comparable within one query.
    pub score: f64,
    /// The page's BM25 score, as the retriever gave it.
    pub page_score: f64,
    /// The passage's own BM25 score.
    pub passage_score: f64,
}

/// The best passages by BM25 (lexical mode), best first; equal scores in candidate order,
/// then chunk order. `page_scores` is indexed by candidate; `terms` gives each query term's
/// IDF. The pipeline runs the two steps itself (it keeps the passage scores); the tests score
/// through this.
#[cfg(test)]
fn select(
    passages: &[Passage<'_>],
    page_scores: &[f64],
    terms: &[QueryTerm],
    bm25: &Bm25,
    top_k: usize,
    max_per_item: usize,
    min_score: f64,
) -> Vec<Scored> {
    let passage_scores = passage_bm25_scores(passages, terms, bm25);
    rank(
        passages,
        page_scores,
        &passage_scores,
        top_k,
        max_per_item,
        min_score,
    )
}

/// Each passage's own BM25: the question's terms it holds, weighted by their corpus IDF,
/// normalised by the length of the query's passages.
pub(crate) fn passage_bm25_scores(
    passages: &[Passage<'_>],
    terms: &[QueryTerm],
    bm25: &Bm25,
) -> Vec<f64> {
    let idf: HashMap<&str, f64> = terms
        .iter()
        .map(|term| (term.term.as_str(), term.idf))
        .collect();
    let measured: Vec<&Passage<'_>> = passages.iter().filter(|p| p.length > 0).collect();
    let average_length = if measured.is_empty() {
        1.0
    } else {
        (measured.iter().map(|p| f64::from(p.length)).sum::<f64>() / measured.len() as f64).max(1.0)
    };
    passages
        .iter()
        .map(|passage| passage_bm25(passage, &idf, bm25, average_length))
        .collect()
}

/// The best passages by `page_weight * page / best page + (1 - page_weight) * own / best own`,
/// best first; equal scores in candidate order, then chunk order; at most `max_per_item`
/// from one item.
pub(crate) fn rank(
    passages: &[Passage<'_>],
    page_scores: &[f64],
    passage_scores: &[f64],
    top_k: usize,
    max_per_item: usize,
    min_score: f64,
) -> Vec<Scored> {
    let best_passage = passage_scores.iter().copied().fold(0.0, f64::max);
    let best_page = page_scores.iter().copied().fold(0.0, f64::max);

    let mut scored: Vec<Scored> = passages
        .iter()
        .zip(passage_scores)
        .enumerate()
        .map(|(index, (passage, &passage_score))| {
            let page_score = page_scores.get(passage.item).copied().unwrap_or(0.0);
            let page = if best_page > 0.0 {
                page_score / best_page
            } else {
                0.0
            };
            let own = if best_passage > 0.0 {
                passage_score / best_passage
            } else {
                0.0
            };
            // Nothing to rank by (a direct lookup names its item): every passage fits fully.
            let score = if best_page > 0.0 || best_passage > 0.0 {
                PAGE_WEIGHT * page + (1.0 - PAGE_WEIGHT) * own
            } else {
                1.0
            };
            Scored {
                passage: index,
                score,
                page_score,
                passage_score,
            }
        })
        .filter(|scored| scored.score >= min_score)
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

/// BM25 of one passage: the question's terms it holds, each weighted by its corpus IDF.
fn passage_bm25(
    passage: &Passage<'_>,
    idf: &HashMap<&str, f64>,
    bm25: &Bm25,
    average_length: f64,
) -> f64 {
    let length_norm = 1.0 - bm25.b + bm25.b * f64::from(passage.length) / average_length;
    passage
        .terms
        .iter()
        .map(|(term, frequency)| {
            let tf = f64::from(*frequency);
            idf.get(term).copied().unwrap_or(0.0) * tf * (bm25.k1 + 1.0)
                / (tf + bm25.k1 * length_norm)
        })
        .sum()
}

/// A passage's words by stem (lexemes of PostgreSQL's `english` configuration: lower case,
/// Snowball-stemmed): what its highlights are made of. Stemming was most of a question's CPU
/// when done per question, so it is done once per passage shown and kept with its text.
#[derive(Debug, Default)]
pub(crate) struct WordStems {
    /// Stem -> byte ranges `[start, end)` of the words with that stem, in order.
    ranges: HashMap<Box<str>, Vec<[u32; 2]>>,
}

impl WordStems {
    /// The stems of `text`'s words.
    pub(crate) fn of(text: &str) -> WordStems {
        let mut ranges: HashMap<Box<str>, Vec<[u32; 2]>> = HashMap::new();
        for (start, word) in words(text) {
            let end = start + word.len();
            ranges
                .entry(stem(word).into_boxed_str())
                .or_default()
                .push([start as u32, end as u32]);
        }
        WordStems { ranges }
    }

    /// Byte ranges `[start, end)` of the words whose stem is one of `terms`, in order.
    pub(crate) fn highlights(&self, terms: &[QueryTerm]) -> Vec<[u32; 2]> {
        let mut highlights: Vec<[u32; 2]> = terms
            .iter()
            .filter_map(|term| self.ranges.get(term.term.as_str()))
            .flatten()
            .copied()
            .collect();
        highlights.sort_unstable();
        highlights.dedup();
        highlights
    }

    /// About how many bytes it holds, for the bound on memory.
    pub(crate) fn size(&self) -> usize {
        self.ranges
            .iter()
            .map(|(stem, ranges)| stem.len() + 48 + ranges.len() * size_of::<[u32; 2]>())
            .sum()
    }
}

/// A word (a run of letters and digits) as PostgreSQL's `english` configuration makes it a
/// lexeme: lower case, then Snowball's English stemmer for words of letters only (words with
/// digits are only lower-cased); stop words are not told apart.
pub(crate) fn stem(word: &str) -> String {
    let lower = word.to_lowercase();
    if lower.chars().all(char::is_alphabetic) {
        ENGLISH.stem(&lower).into_owned()
    } else {
        lower
    }
}

static ENGLISH: LazyLock<Stemmer> = LazyLock::new(|| Stemmer::create(Algorithm::English));

/// The words of `text` (runs of letters and digits) with their byte offsets.
fn words(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut rest = text.char_indices().peekable();
    std::iter::from_fn(move || {
        let (start, _) = rest.find(|(_, c)| c.is_alphanumeric())?;
        let mut end = text.len();
        while let Some(&(offset, c)) = rest.peek() {
            if !c.is_alphanumeric() {
                end = offset;
                break;
            }
            rest.next();
        }
        Some((start, &text[start..end]))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hostile::hostile_text;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn scoring_keeps_its_promises(
        frequencies in proptest::collection::vec((0usize..4, 0u32..20, 0u32..500), 0..40),
        page_scores in proptest::collection::vec(0.0f64..50.0, 4),
        top_k in 1usize..50,
        max_per_item in 1usize..4,
        min_score in 0.0f64..1.0,
    ) {
        let terms = [QueryTerm { term: "vacuum".to_owned(), idf: 2.0 }, QueryTerm { term: "tabl".to_owned(), idf: 0.1 }];
        let passages: Vec<Passage<'_>> = frequencies.iter().enumerate().map(|(index, (item, tf, length))| Passage { item: *item, chunk: index as u32, length: *length, terms: vec![("vacuum", *tf), ("tabl", tf / 2)] }).collect();
        let selected = select(&passages, &page_scores, &terms, &Bm25::default(), top_k, max_per_item, min_score);
        prop_assert!(selected.len() <= top_k);
        prop_assert!(selected.windows(2).all(|pair| pair[0].score >= pair[1].score), "best first");
        for scored in &selected {
            prop_assert!((0.0..=1.0).contains(&scored.score) && scored.score >= min_score && scored.passage < passages.len());
            let item = passages[scored.passage].item;
            prop_assert!(selected.iter().filter(|other| passages[other.passage].item == item).count() <= max_per_item);
        }
    }

    #[test]
    fn highlights_are_ordered_words_of_the_text(text in hostile_text(), query in hostile_text()) {
        let terms: Vec<QueryTerm> = query.split_whitespace().map(|word| QueryTerm { term: word.to_lowercase(), idf: 1.0 }).collect();
        let ranges = WordStems::of(&text).highlights(&terms);
        let mut previous_end = 0;
        for [start, end] in ranges {
            let (start, end) = (start as usize, end as usize);
            prop_assert!(previous_end <= start && start < end && end <= text.len());
            prop_assert!(text.is_char_boundary(start) && text.is_char_boundary(end));
            prop_assert!(text[start..end].chars().all(char::is_alphanumeric));
            previous_end = end;
        }
    }
    }

    fn term(term: &str, idf: f64) -> QueryTerm {
        QueryTerm {
            term: term.to_owned(),
            idf,
        }
    }

    fn tf<'a>(pairs: &[(&'a str, u32)]) -> Vec<(&'a str, u32)> {
        pairs.to_vec()
    }

    #[test]
    fn a_rare_term_outweighs_a_common_one_and_the_page_counts() {
        let terms = [term("vacuum", 3.0), term("tabl", 0.2)];
        let rare = tf(&[("vacuum", 1)]);
        let common = tf(&[("tabl", 3)]);
        let passages = [
            Passage {
                item: 0,
                chunk: 0,
                length: 50,
                terms: common.clone(),
            },
            Passage {
                item: 1,
                chunk: 0,
                length: 50,
                terms: rare.clone(),
            },
        ];
        let bm25 = Bm25::default();
        let best = select(&passages, &[1.0, 1.0], &terms, &bm25, 2, 1, 0.0);
        assert_eq!(best[0].passage, 1);
        assert!(best[0].score > best[1].score);
        assert!(best.iter().all(|s| (0.0..=1.0).contains(&s.score)));
        // A much better page lifts its passage above an equal one.
        let equal = [
            passages[1].clone(),
            Passage {
                item: 0,
                ..passages[1].clone()
            },
        ];
        let best = select(&equal, &[5.0, 1.0], &terms, &bm25, 2, 1, 0.0);
        assert_eq!(passages[0].item, equal[best[0].passage].item);
    }

    #[test]
    fn caps_per_item_top_k_and_min_score_apply() {
        let hit = tf(&[("vacuum", 1)]);
        let passages: Vec<Passage<'_>> = [(0, 0), (0, 1), (0, 2), (1, 0)]
            .iter()
            .map(|&(item, chunk)| Passage {
                item,
                chunk,
                length: 10,
                terms: hit.clone(),
            })
            .collect();
        let terms = [term("vacuum", 1.0)];
        let bm25 = Bm25::default();
        let best = select(&passages, &[1.0, 0.5], &terms, &bm25, 10, 2, 0.0);
        assert_eq!(
            best.iter()
                .filter(|s| passages[s.passage].item == 0)
                .count(),
            2
        );
        assert_eq!(best.len(), 3);
        assert_eq!(
            select(&passages, &[1.0, 0.5], &terms, &bm25, 1, 2, 0.0).len(),
            1
        );
        let strict = select(&passages, &[1.0, 0.5], &terms, &bm25, 10, 3, 0.9);
        assert!(
            strict
                .iter()
                .all(|s| passages[s.passage].item == 0 && s.score >= 0.9)
        );
        assert!(select(&[], &[], &terms, &bm25, 5, 2, 0.0).is_empty());
        // A lookup: no terms, no page score; passages keep chunk order and score 1.
        let named: Vec<Passage<'_>> = (0..3)
            .map(|chunk| Passage {
                item: 0,
                chunk,
                length: 0,
                terms: Vec::new(),
            })
            .collect();
        let shown = select(&named, &[0.0], &[], &bm25, 2, 3, 0.5);
        assert_eq!(shown.iter().map(|s| s.passage).collect::<Vec<_>>(), [0, 1]);
        assert!(shown.iter().all(|s| s.score == 1.0));
    }

    #[test]
    fn a_long_passage_does_not_win_by_length_alone() {
        let short = tf(&[("replic", 2)]);
        let long = tf(&[("replic", 3)]);
        let passages = [
            Passage {
                item: 0,
                chunk: 0,
                length: 400,
                terms: long.clone(),
            },
            Passage {
                item: 1,
                chunk: 0,
                length: 20,
                terms: short.clone(),
            },
        ];
        let best = select(
            &passages,
            &[1.0, 1.0],
            &[term("replic", 1.0)],
            &Bm25::default(),
            2,
            1,
            0.0,
        );
        assert_eq!(best[0].passage, 1);
    }

    #[test]
    fn highlights_cover_every_inflection_of_a_term() {
        let text = "Vacuuming reclaims space; VACUUM FULL rewrites. Héllo vacuumed!";
        let stems = WordStems::of(text);
        let ranges = stems.highlights(&[
            term("vacuum", 1.0),
            term("reclaim", 1.0),
            term("vacuum", 2.0),
        ]);
        let words: Vec<&str> = ranges
            .iter()
            .map(|[s, e]| &text[*s as usize..*e as usize])
            .collect();
        assert_eq!(words, ["Vacuuming", "reclaims", "VACUUM", "vacuumed"]);
        assert!(stems.highlights(&[]).is_empty());
        assert!(stems.highlights(&[term("absent", 1.0)]).is_empty());
        let words: Vec<(usize, &str)> = super::words("é1 a_b").collect();
        assert_eq!(words, [(0, "é1"), (4, "a"), (6, "b")]);
    }

    // Highlighting finds a passage's words by stemming them in Rust; the index and the
    // questions get their terms from PostgreSQL's `english` configuration. The two must agree
    // on every word of a real vocabulary, or highlights would miss matched terms (or mark
    // others).

    /// The distinct words (runs of letters and digits) of this repository's documentation (about
    /// 1,800), or of
    /// `AIBLOX_VOCABULARY_DIR` (e.g. `/usr/share/doc/postgresql-doc-15/html`) when set.
    fn vocabulary() -> std::collections::BTreeSet<String> {
        let dir = std::env::var("AIBLOX_VOCABULARY_DIR")
            .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../docs").to_owned());
        let mut words = std::collections::BTreeSet::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            words.extend(
                text.split(|c: char| !c.is_alphanumeric())
                    .filter(|word| !word.is_empty())
                    .map(str::to_owned),
            );
        }
        words
    }

    #[tokio::test]
    async fn rust_stems_agree_with_postgresql_lexemes_on_a_real_vocabulary() {
        let words: Vec<String> = vocabulary().into_iter().collect();
        assert!(
            words.len() > 1_000,
            "a real vocabulary: {} words",
            words.len()
        );
        let kb = aiblox_kb_testkit::TestKb::new().await;
        let rows = kb
            .raw_client()
            .await
            .query(
                "SELECT w, array(SELECT lexeme FROM unnest(to_tsvector('english', w)))
                 FROM unnest($1::text[]) AS w",
                &[&words],
            )
            .await
            .unwrap();
        let (mut agreed, mut split, mut disagreed) = (0, 0, Vec::new());
        for row in rows {
            let word: String = row.get(0);
            let lexemes: Vec<String> = row.get(1);
            match lexemes.as_slice() {
                [] => {} // a stop word: never a question term
                [lexeme] if *lexeme == stem(&word) => agreed += 1,
                [lexeme] if word.chars().all(char::is_alphabetic) => {
                    disagreed.push(format!("{word}: {lexeme} vs {}", stem(&word)));
                }
                // PostgreSQL's parser reads some tokens of letters and digits as a number and a
                // word (`1e10d`, `2e372869a`): hex strings and the like, seldom asked for.
                _ => split += 1,
            }
        }
        assert!(
            disagreed.is_empty(),
            "{} of {agreed} words disagree: {disagreed:?}",
            disagreed.len()
        );
        assert!(
            split * 100 < agreed,
            "{split} words split by PostgreSQL's parser, {agreed} agreed"
        );
    }
}
