//! Fusion of the legs: the dense leg's items join the lexical ones and every candidate is
//! scored by its mode (the best chunk's cosine in dense mode, reciprocal rank fusion of both
//! legs in hybrid mode); passages of the hybrid mode are fused the same way.

use std::collections::HashMap;

use super::lexical::{Candidate, Retrieved};
use super::vectors::DenseHit;
use crate::protocol::{LegRank, Mode};

/// The `k` of reciprocal rank fusion: a result at rank `r` of a leg adds `1 / (k + r)`.
pub(crate) const RRF_K: f64 = 60.0;

/// What a result at `rank` (from 1) of one ranking adds in reciprocal rank fusion.
fn rrf(rank: usize) -> f64 {
    1.0 / (RRF_K + rank as f64)
}

/// Where each leg ranked one candidate.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Legs {
    pub(crate) lexical: Option<LegRank>,
    pub(crate) dense: Option<LegRank>,
}

/// The lexical leg's rank (from 1) and BM25 score of each candidate, in their order.
pub(crate) fn lexical_legs(candidates: &[Candidate]) -> Vec<Legs> {
    candidates
        .iter()
        .enumerate()
        .map(|(rank, candidate)| Legs {
            lexical: Some(LegRank {
                rank: rank + 1,
                score: candidate.score,
            }),
            dense: None,
        })
        .collect()
}

/// What the dense leg found: its hits, best first, and the heads of the hit items the lexical
/// leg did not find (read as of now; a deleted item has none).
#[derive(Debug, Default)]
pub(crate) struct DenseFound {
    pub(crate) hits: Vec<DenseHit>,
    pub(crate) heads: HashMap<i64, Candidate>,
}

/// What fusing the legs made: where each leg ranked each candidate (in the candidates' new
/// order), and the items whose vectors in memory are of content they no longer have.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Fused {
    pub(crate) legs: Vec<Legs>,
    pub(crate) stale: Vec<i64>,
}

/// Adds the dense leg's items to the lexical candidates (none in dense mode) and scores every
/// candidate by its mode: the best chunk's cosine (dense) or reciprocal rank fusion of both
/// legs (hybrid); best first, equal scores in the lexical leg's order, then the dense leg's.
/// A hit whose vectors are of content its item no longer has (or of a deleted item) is not
/// ranked; unless the lexical leg found the item, its vectors are reported stale.
pub(crate) fn fuse(retrieved: &mut Retrieved, found: DenseFound, mode: Mode) -> Fused {
    let DenseFound { hits, mut heads } = found;
    let mut legs: HashMap<i64, Legs> = retrieved
        .candidates
        .iter()
        .map(|c| c.id)
        .zip(lexical_legs(&retrieved.candidates))
        .collect();
    let mut stale = Vec::new();
    let mut rank = 0;
    for hit in &hits {
        let lexical = retrieved.candidates.iter().find(|c| c.id == hit.item_id);
        match (lexical, heads.get(&hit.item_id)) {
            (Some(candidate), _) if candidate.content_hash != hit.content_hash => continue,
            (Some(_), _) => {}
            (None, Some(head)) if head.content_hash == hit.content_hash => {}
            (None, _) => {
                stale.push(hit.item_id);
                continue;
            }
        }
        rank += 1;
        legs.entry(hit.item_id).or_default().dense = Some(LegRank {
            rank,
            score: f64::from(hit.score),
        });
        if lexical.is_none()
            && let Some(head) = heads.remove(&hit.item_id)
        {
            retrieved.candidates.push(head);
        }
    }
    for candidate in &mut retrieved.candidates {
        let leg = legs.get(&candidate.id).copied().unwrap_or_default();
        candidate.score = match mode {
            Mode::Dense => leg.dense.map_or(0.0, |leg| leg.score),
            _ => [leg.lexical, leg.dense]
                .into_iter()
                .flatten()
                .map(|leg| rrf(leg.rank))
                .sum(),
        };
    }
    // Stable: equal scores keep the lexical leg's order, then the dense leg's.
    retrieved
        .candidates
        .sort_by(|a, b| b.score.total_cmp(&a.score));
    let legs = retrieved
        .candidates
        .iter()
        .map(|c| legs.get(&c.id).copied().unwrap_or_default())
        .collect();
    Fused { legs, stale }
}

/// Reciprocal rank fusion of two rankings of the same passages: `1 / (RRF_K + rank)` summed
/// over the rankings that hold a passage (a BM25 of 0 or no cosine: not ranked there).
pub(crate) fn reciprocal_rank_fusion(bm25: &[f64], cosine: &[Option<f64>]) -> Vec<f64> {
    let ranks = |scores: Vec<(usize, f64)>| {
        let mut scores = scores;
        scores.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut ranks = vec![None; bm25.len()];
        for (rank, (index, _)) in scores.into_iter().enumerate() {
            ranks[index] = Some(rank + 1);
        }
        ranks
    };
    let lexical = ranks(
        bm25.iter()
            .copied()
            .enumerate()
            .filter(|(_, score)| *score > 0.0)
            .collect(),
    );
    let dense = ranks(
        cosine
            .iter()
            .enumerate()
            .filter_map(|(index, score)| Some((index, (*score)?)))
            .collect(),
    );
    lexical
        .iter()
        .zip(&dense)
        .map(|(a, b)| [a, b].into_iter().flatten().map(|rank| rrf(*rank)).sum())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(id: i64, hash: u8, score: f64) -> Candidate {
        Candidate {
            id,
            source: "docs".to_owned(),
            external_id: format!("{id}.md"),
            title: None,
            content_hash: [hash; 32],
            score,
            page_starts: None,
        }
    }

    fn hit(item_id: i64, hash: u8, score: f32) -> DenseHit {
        DenseHit {
            item_id,
            content_hash: [hash; 32],
            chunk_index: 0,
            score,
        }
    }

    #[test]
    fn hybrid_sums_the_reciprocal_ranks_of_both_legs() {
        let mut retrieved = Retrieved {
            terms: Vec::new(),
            candidates: vec![candidate(1, 1, 9.0), candidate(2, 1, 5.0)],
        };
        let found = DenseFound {
            hits: vec![
                hit(3, 1, 0.9),
                hit(2, 1, 0.8),
                hit(4, 7, 0.7),
                hit(1, 2, 0.6),
            ],
            heads: HashMap::from([(3, candidate(3, 1, 0.0)), (4, candidate(4, 8, 0.0))]),
        };
        let fused = fuse(&mut retrieved, found, Mode::Hybrid);
        let order: Vec<i64> = retrieved.candidates.iter().map(|c| c.id).collect();
        // 2: lexical 2 + dense 2; 1: lexical 1 only (its vectors are of other content);
        // 3: dense 1 only; 4: its vectors are stale.
        assert_eq!(order, [2, 1, 3]);
        assert_eq!(retrieved.candidates[0].score, rrf(2) + rrf(2));
        assert_eq!(fused.stale, [4]);
        assert_eq!(fused.legs[0].dense.map(|leg| leg.rank), Some(2));
        assert_eq!(fused.legs[1].dense, None);
        assert_eq!(fused.legs[2].lexical, None);
    }

    #[test]
    fn dense_mode_scores_by_the_best_cosine() {
        let mut retrieved = Retrieved::default();
        let found = DenseFound {
            hits: vec![hit(5, 1, 0.75), hit(6, 1, 0.5)],
            heads: HashMap::from([(5, candidate(5, 1, 0.0)), (6, candidate(6, 1, 0.0))]),
        };
        let fused = fuse(&mut retrieved, found, Mode::Dense);
        assert_eq!(retrieved.candidates[0].score, 0.75);
        assert_eq!(retrieved.candidates[1].id, 6);
        assert!(fused.stale.is_empty());
    }

    #[test]
    fn passages_fuse_by_rank_and_a_zero_bm25_is_not_ranked() {
        let fused = reciprocal_rank_fusion(&[0.0, 2.0, 1.0], &[Some(0.9), None, Some(0.1)]);
        assert_eq!(fused, [rrf(1), rrf(1), rrf(2) + rrf(2)]);
    }
}
