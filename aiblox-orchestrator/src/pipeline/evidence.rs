//! Evidence: the best passages by their page's score fused with their own (the best
//! `top_k`, at most `max_per_item` from one item, none below `min_score`), cited with their
//! item, offsets, text and highlights.

use std::collections::HashMap;
use std::sync::Arc;

use super::explain;
use super::lexical::Candidate;
use super::passage_store::{ChunkKey, ShownChunk};
use super::passages::{Passage, PassageScores};
use crate::protocol::{Evidence, Mode, ValidQuery};
#[cfg(test)]
use aiblox_kb::Bm25;
use aiblox_kb::QueryTerm;

/// Weight of the page's score in a passage's score; the passage's own BM25 has the rest.
/// Tuned on the development set (docs/retrieval.md).
pub(crate) const PAGE_WEIGHT: f64 = 0.7;

/// A scored passage.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Scored {
    /// Index into the passages given.
    pub passage: usize,
    /// Its score, in `[0, 1]`: comparable within one query.
    pub score: f64,
    /// The page's score, as the legs and their fusion gave it.
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
    let passage_scores = super::passages::passage_bm25_scores(passages, terms, bm25);
    rank(
        passages,
        page_scores,
        &passage_scores,
        top_k,
        max_per_item,
        min_score,
    )
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

/// The chunks the selected passages are, as the passage store keys them.
pub(crate) fn wanted(
    selected: &[Scored],
    passages: &[Passage<'_>],
    candidates: &[Candidate],
) -> Vec<ChunkKey> {
    selected
        .iter()
        .map(|scored| {
            let passage = &passages[scored.passage];
            let candidate = &candidates[passage.item];
            (candidate.id, candidate.content_hash, passage.chunk)
        })
        .collect()
}

/// The evidence of the selected passages, best first, with their texts (`texts`) and the
/// question's terms highlighted; a passage whose text is gone (its item changed since it was
/// ranked) is left out.
pub(crate) fn cite(
    selected: &[Scored],
    scores: &PassageScores<'_>,
    candidates: &[Candidate],
    texts: &HashMap<ChunkKey, Arc<ShownChunk>>,
    terms: &[QueryTerm],
    mode: Mode,
    query: &ValidQuery,
) -> Vec<Evidence> {
    let idf = explain::idf_of(terms, query.explain);
    selected
        .iter()
        .filter_map(|scored| {
            let passage = &scores.passages[scored.passage];
            let candidate = &candidates[passage.item];
            // Absent only if the item changed since it was ranked: leave it out.
            let shown = texts.get(&(candidate.id, candidate.content_hash, passage.chunk))?;
            let chunk = &shown.chunk;
            let page = candidate.page_at(chunk.start_offset);
            let last_page =
                candidate.page_at(chunk.end_offset.saturating_sub(1).max(chunk.start_offset));
            Some(Evidence {
                item_id: candidate.id,
                source: candidate.source.clone(),
                external_id: candidate.external_id.clone(),
                title: candidate.title.clone(),
                chunk_index: chunk.chunk_index,
                highlights: shown.words.highlights(terms),
                text: chunk.text.clone(),
                start: chunk.start_offset,
                end: chunk.end_offset,
                page,
                pages: page
                    .zip(last_page)
                    .filter(|(first, last)| last > first)
                    .map(|(first, last)| [first, last]),
                score: rounded(scored.score),
                explain: query
                    .explain
                    .then(|| explain::passage(scored, scores, mode, &idf)),
            })
        })
        .collect()
}

/// A score as shown: six decimals.
pub(crate) fn rounded(score: f64) -> f64 {
    (score * 1e6).round() / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;
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
}
