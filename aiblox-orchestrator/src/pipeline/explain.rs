//! `explain`: how each score of an answer was made, for the request that asks for it: the
//! question's terms with their IDF, every candidate with each leg's rank and score, and for
//! every passage its page score, its own scores and the terms it holds.

use std::collections::HashMap;

use aiblox_kb::QueryTerm;

use super::evidence::{PAGE_WEIGHT, Scored, rounded};
use super::fusion::Legs;
use super::lexical::Candidate;
use super::passages::PassageScores;
use crate::protocol::{
    CandidateExplain, EvidenceExplain, LegRank, MatchedTerm, Mode, QueryExplain, TermWeight,
};

/// Each term's IDF, when the request asks to explain (else nothing: it is not needed).
pub(crate) fn idf_of(terms: &[QueryTerm], explain: bool) -> HashMap<&str, f64> {
    if explain {
        terms.iter().map(|t| (t.term.as_str(), t.idf)).collect()
    } else {
        HashMap::new()
    }
}

/// How one passage's score was made.
pub(crate) fn passage(
    scored: &Scored,
    scores: &PassageScores<'_>,
    mode: Mode,
    idf: &HashMap<&str, f64>,
) -> EvidenceExplain {
    let passage = &scores.passages[scored.passage];
    EvidenceExplain {
        page_score: rounded(scored.page_score),
        passage_score: rounded(scored.passage_score),
        passage_bm25: (mode != Mode::Dense).then(|| rounded(scores.bm25[scored.passage])),
        passage_cosine: scores.cosine[scored.passage].map(rounded),
        page_weight: PAGE_WEIGHT,
        matched_terms: passage
            .terms
            .iter()
            .map(|(term, frequency)| MatchedTerm {
                term: (*term).to_owned(),
                idf: rounded(idf.get(term).copied().unwrap_or(0.0)),
                frequency: *frequency,
            })
            .collect(),
    }
}

/// How the candidates were found: the terms, and each candidate (best first) with where each
/// leg ranked it.
pub(crate) fn query(terms: &[QueryTerm], candidates: &[Candidate], legs: &[Legs]) -> QueryExplain {
    let rounded_leg = |leg: LegRank| LegRank {
        score: rounded(leg.score),
        ..leg
    };
    QueryExplain {
        terms: terms
            .iter()
            .map(|t| TermWeight {
                term: t.term.clone(),
                idf: rounded(t.idf),
            })
            .collect(),
        candidates: candidates
            .iter()
            .zip(legs)
            .map(|(c, legs)| CandidateExplain {
                item_id: c.id,
                source: c.source.clone(),
                external_id: c.external_id.clone(),
                score: rounded(c.score),
                lexical: legs.lexical.map(rounded_leg),
                dense: legs.dense.map(rounded_leg),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::passages::Passage;

    #[test]
    fn a_passage_says_how_its_score_was_made_rounded() {
        let scores = PassageScores {
            passages: vec![Passage {
                item: 0,
                chunk: 3,
                length: 40,
                terms: vec![("vacuum", 2)],
            }],
            bm25: vec![1.234_567_89],
            cosine: vec![Some(0.5)],
            own: vec![1.234_567_89],
        };
        let scored = Scored {
            passage: 0,
            score: 0.9,
            page_score: 7.000_000_4,
            passage_score: 1.234_567_89,
        };
        let terms = [QueryTerm {
            term: "vacuum".to_owned(),
            idf: 4.567_891_2,
        }];
        let explained = passage(&scored, &scores, Mode::Hybrid, &idf_of(&terms, true));
        assert_eq!(explained.page_score, 7.0);
        assert_eq!(explained.passage_bm25, Some(1.234_568));
        assert_eq!(explained.passage_cosine, Some(0.5));
        assert_eq!(explained.matched_terms[0].idf, 4.567_891);
        assert_eq!(explained.matched_terms[0].frequency, 2);
        let dense = passage(&scored, &scores, Mode::Dense, &idf_of(&terms, true));
        assert_eq!(dense.passage_bm25, None, "dense mode has no lexical leg");
        assert!(
            idf_of(&terms, false).is_empty(),
            "not worked out unless asked"
        );
    }

    #[test]
    fn candidates_are_explained_in_order_with_their_legs() {
        let candidate = Candidate {
            id: 7,
            source: "docs".to_owned(),
            external_id: "a.md".to_owned(),
            title: None,
            content_hash: [0; 32],
            score: 0.123_456_789,
            page_starts: None,
        };
        let legs = Legs {
            lexical: None,
            dense: Some(LegRank {
                rank: 1,
                score: 0.987_654_321,
            }),
        };
        let explained = query(&[], &[candidate], &[legs]);
        assert_eq!(explained.candidates[0].score, 0.123_457);
        assert_eq!(explained.candidates[0].lexical, None);
        assert_eq!(
            explained.candidates[0].dense,
            Some(LegRank {
                rank: 1,
                score: 0.987_654
            })
        );
    }
}
