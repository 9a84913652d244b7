//! Highlighting finds a passage's words by stemming them in Rust; the index and the questions
//! get their terms from PostgreSQL's `english` configuration. The two must agree on every word
//! of a real vocabulary, or highlights would miss matched terms (or mark others).

use std::collections::BTreeSet;

use aiblox_kb_testkit::TestKb;
use aiblox_orchestrator::evidence;

/// The distinct words (runs of letters and digits) of this repository's documentation (about
/// 1,800), or of
/// `AIBLOX_VOCABULARY_DIR` (e.g. `/usr/share/doc/postgresql-doc-15/html`) when set.
fn vocabulary() -> BTreeSet<String> {
    let dir = std::env::var("AIBLOX_VOCABULARY_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../docs").to_owned());
    let mut words = BTreeSet::new();
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
    let kb = TestKb::new().await;
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
        // Highlighting stems only words whose first letter starts some term.
        assert_eq!(
            evidence::stem(&word).chars().next(),
            word.to_lowercase().chars().next(),
            "{word}: the stem keeps the first letter"
        );
        let lexemes: Vec<String> = row.get(1);
        match lexemes.as_slice() {
            [] => {} // a stop word: never a question term
            [lexeme] if *lexeme == evidence::stem(&word) => agreed += 1,
            [lexeme] if word.chars().all(char::is_alphabetic) => {
                disagreed.push(format!("{word}: {lexeme} vs {}", evidence::stem(&word)));
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
