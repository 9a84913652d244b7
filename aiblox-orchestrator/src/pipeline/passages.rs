//! The passages worth scoring: every chunk of a candidate holding a term of the question (with
//! those terms, from the chunk set's statistics: no text is read), every chunk whose vector is
//! known in modes that rank by meaning; and each passage's own scores (BM25 with the corpus
//! IDF, cosine, or both fused by rank in hybrid mode).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use aiblox_kb::{Bm25, QueryTerm};

use super::fusion::reciprocal_rank_fusion;
use super::lexical::Candidate;
use super::passage_store::SetIndex;
use crate::protocol::Mode;

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

/// The passages of a question and their own scores, by passage.
#[derive(Debug)]
pub(crate) struct PassageScores<'a> {
    pub(crate) passages: Vec<Passage<'a>>,
    /// Each passage's own BM25.
    pub(crate) bm25: Vec<f64>,
    /// Each passage's cosine to the question, where its vectors are in memory.
    pub(crate) cosine: Vec<Option<f64>>,
    /// The score each ranks by in the question's mode.
    pub(crate) own: Vec<f64>,
}

/// The passages of the candidates and their scores in `mode`. `cosines` holds, by candidate,
/// the cosine of each chunk to the question (empty when no leg ranks by meaning).
pub(crate) fn score<'a>(
    candidates: &[Candidate],
    sets: &'a HashMap<i64, Arc<SetIndex>>,
    terms: &'a [QueryTerm],
    cosines: &[Option<Vec<f32>>],
    mode: Mode,
    top_k: usize,
    bm25: &Bm25,
) -> PassageScores<'a> {
    let mut passages = with_terms(candidates, sets, terms, top_k);
    add_by_meaning(&mut passages, cosines, candidates, sets);
    let passage_bm25 = passage_bm25_scores(&passages, terms, bm25);
    let cosine: Vec<Option<f64>> = passages
        .iter()
        .map(|p| {
            let scores = cosines.get(p.item)?.as_ref()?;
            Some(f64::from(
                scores.get(p.chunk as usize).copied().unwrap_or(0.0),
            ))
        })
        .collect();
    let own = match mode {
        Mode::Lexical => passage_bm25.clone(),
        Mode::Dense => cosine.iter().map(|c| c.unwrap_or(0.0)).collect(),
        Mode::Hybrid => reciprocal_rank_fusion(&passage_bm25, &cosine),
    };
    PassageScores {
        passages,
        bm25: passage_bm25,
        cosine,
        own,
    }
}

/// Every chunk holding a term of the question, with those terms; for a candidate none of
/// whose chunks does (its title matched), its first chunk; for a query without terms (a
/// direct lookup), the first `top_k` chunks of each candidate.
fn with_terms<'a>(
    candidates: &[Candidate],
    sets: &'a HashMap<i64, Arc<SetIndex>>,
    terms: &'a [QueryTerm],
    top_k: usize,
) -> Vec<Passage<'a>> {
    let mut passages = Vec::new();
    let mut by_chunk: Vec<(u32, &'a str, u32)> = Vec::new();
    for (item, candidate) in candidates.iter().enumerate() {
        let Some(set) = sets.get(&candidate.id) else {
            continue;
        };
        by_chunk.clear();
        for term in terms {
            if let Some(postings) = set.postings.get(term.term.as_str()) {
                by_chunk.extend(
                    postings
                        .iter()
                        .map(|&(chunk, frequency)| (chunk, term.term.as_str(), frequency)),
                );
            }
        }
        by_chunk.sort_unstable_by_key(|&(chunk, term, _)| (chunk, term));
        for group in by_chunk.chunk_by(|a, b| a.0 == b.0) {
            let chunk = group[0].0;
            passages.push(Passage {
                item,
                chunk,
                length: set.lengths.get(chunk as usize).copied().unwrap_or(0),
                terms: group.iter().map(|&(_, term, tf)| (term, tf)).collect(),
            });
        }
        if by_chunk.is_empty() {
            let shown = if terms.is_empty() { top_k } else { 1 };
            passages.extend((0..set.chunk_count.min(shown as u32)).map(|chunk| Passage {
                item,
                chunk,
                length: 0,
                terms: Vec::new(),
            }));
        }
    }
    passages
}

/// Adds, for every candidate whose chunk vectors are known, each of its chunks not yet a
/// passage (a chunk can answer a question without holding its words).
fn add_by_meaning(
    passages: &mut Vec<Passage<'_>>,
    cosines: &[Option<Vec<f32>>],
    candidates: &[Candidate],
    sets: &HashMap<i64, Arc<SetIndex>>,
) {
    let present: HashSet<(usize, u32)> = passages.iter().map(|p| (p.item, p.chunk)).collect();
    for (item, scores) in cosines.iter().enumerate() {
        let (Some(scores), Some(set)) = (scores, sets.get(&candidates[item].id)) else {
            continue;
        };
        for chunk in 0..set.chunk_count.min(scores.len() as u32) {
            if !present.contains(&(item, chunk)) {
                passages.push(Passage {
                    item,
                    chunk,
                    length: set.lengths.get(chunk as usize).copied().unwrap_or(0),
                    terms: Vec::new(),
                });
            }
        }
    }
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

/// BM25 of one passage: the question's terms it holds, each weighted by its corpus IDF.
fn passage_bm25(
    passage: &Passage<'_>,
    idf: &HashMap<&str, f64>,
    bm25: &Bm25,
    average_length: f64,
) -> f64 {
    let length = f64::from(passage.length);
    passage
        .terms
        .iter()
        .map(|(term, frequency)| {
            let idf = idf.get(term).copied().unwrap_or(0.0);
            bm25.term_score(idf, f64::from(*frequency), length, average_length)
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(id: i64) -> Candidate {
        Candidate {
            id,
            source: "docs".to_owned(),
            external_id: format!("{id}.md"),
            title: None,
            content_hash: [1; 32],
            score: 1.0,
            page_starts: None,
        }
    }

    /// A set of `lengths.len()` chunks holding `postings` (term -> (chunk, frequency)).
    fn set(lengths: &[u32], postings: &[(&str, &[(u32, u32)])]) -> Arc<SetIndex> {
        Arc::new(SetIndex {
            chunk_count: lengths.len() as u32,
            lengths: lengths.to_vec(),
            postings: postings
                .iter()
                .map(|(term, chunks)| ((*term).into(), chunks.to_vec()))
                .collect(),
        })
    }

    fn terms() -> Vec<QueryTerm> {
        ["vacuum", "space"]
            .map(|term| QueryTerm {
                term: term.to_owned(),
                idf: 2.0,
            })
            .to_vec()
    }

    #[test]
    fn chunks_holding_a_term_are_passages_and_a_title_match_shows_its_first_chunk() {
        let sets = HashMap::from([
            (
                1,
                set(
                    &[10, 20, 30],
                    &[("vacuum", &[(0, 1), (2, 3)]), ("space", &[(2, 1)])],
                ),
            ),
            (2, set(&[5, 5], &[])),
        ]);
        let terms = terms();
        let scores = score(
            &[candidate(1), candidate(2), candidate(3)],
            &sets,
            &terms,
            &[],
            Mode::Lexical,
            5,
            &Bm25::default(),
        );
        type Found<'a> = (usize, u32, Vec<(&'a str, u32)>);
        let found: Vec<Found<'_>> = scores
            .passages
            .iter()
            .map(|p| (p.item, p.chunk, p.terms.clone()))
            .collect();
        assert_eq!(
            found,
            [
                (0, 0, vec![("vacuum", 1)]),
                (0, 2, vec![("space", 1), ("vacuum", 3)]),
                (1, 0, vec![]),
            ],
            "candidate 3 has no chunk set: no passage"
        );
        assert!(scores.bm25[1] > scores.bm25[0], "more of the terms");
        assert_eq!(scores.bm25[2], 0.0);
        assert_eq!(scores.own, scores.bm25, "lexical mode ranks by BM25");
        assert_eq!(scores.cosine, [None, None, None]);
    }

    #[test]
    fn a_lookup_shows_the_first_top_k_chunks() {
        let sets = HashMap::from([(1, set(&[10, 20, 30], &[]))]);
        let scores = score(
            &[candidate(1)],
            &sets,
            &[],
            &[],
            Mode::Lexical,
            2,
            &Bm25::default(),
        );
        let chunks: Vec<u32> = scores.passages.iter().map(|p| p.chunk).collect();
        assert_eq!(chunks, [0, 1]);
    }

    #[test]
    fn modes_by_meaning_add_every_chunk_with_a_vector_and_rank_by_it() {
        let sets = HashMap::from([(1, set(&[10, 20, 30], &[("vacuum", &[(1, 2)])]))]);
        let terms = terms();
        let cosines = [Some(vec![0.9, 0.1, 0.5])];
        let dense = score(
            &[candidate(1)],
            &sets,
            &terms,
            &cosines,
            Mode::Dense,
            5,
            &Bm25::default(),
        );
        let chunks: Vec<u32> = dense.passages.iter().map(|p| p.chunk).collect();
        assert_eq!(chunks, [1, 0, 2], "the term's chunk first, then the others");
        assert_eq!(
            dense.own,
            [f64::from(0.1f32), f64::from(0.9f32), f64::from(0.5f32)]
        );
        let hybrid = score(
            &[candidate(1)],
            &sets,
            &terms,
            &cosines,
            Mode::Hybrid,
            5,
            &Bm25::default(),
        );
        assert_eq!(
            hybrid.own,
            reciprocal_rank_fusion(&hybrid.bm25, &hybrid.cosine)
        );
        assert!(hybrid.own[0] > hybrid.own[2], "ranked by both legs");
    }
}
