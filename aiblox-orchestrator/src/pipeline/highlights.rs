//! Highlights: where the question's terms occur in a passage's text, found by stemming its
//! words as PostgreSQL's `english` configuration does.

use std::collections::HashMap;
use std::sync::LazyLock;

use aiblox_kb::QueryTerm;
use rust_stemmers::{Algorithm, Stemmer};

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
