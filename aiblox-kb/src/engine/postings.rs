//! The lexical postings and result heads a pool keeps in memory, tagged with the lexical
//! index's version, and BM25 ranking over postings.
//!
//! PostgreSQL holds the index (V0003) and parses questions; the ranking itself is computed
//! here, from postings read for the question's terms (`repos` reads them). What is kept is
//! tagged with the index's version (a sum that every change to the postings grows, read in the
//! same snapshot as the postings): anything kept under an older version is dropped, so a search
//! sees every write committed before it began.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, Mutex, PoisonError};

use crate::{Bm25, QueryTerm, RankedItem};

/// Most postings a pool keeps (about 40 bytes each); past it the copy starts over.
const MAX_KEPT_POSTINGS: usize = 1_000_000;
/// Most result heads a pool keeps.
const MAX_KEPT_HEADS: usize = 100_000;

/// One posting: an item holding a term.
#[derive(Debug, Clone)]
pub(crate) struct Posting {
    pub(crate) item_id: i64,
    pub(crate) title_tf: u32,
    pub(crate) content_tf: u32,
    pub(crate) title_length: u32,
    pub(crate) content_length: u32,
    pub(crate) source: Arc<str>,
}

/// Postings by term.
pub(crate) type PostingsByTerm = HashMap<String, Arc<[Posting]>>;

/// What a result shows of an item.
#[derive(Debug, Clone)]
pub(crate) struct Head {
    pub(crate) source: String,
    pub(crate) external_id: String,
    pub(crate) title: Option<String>,
    pub(crate) content_hash: [u8; 32],
}

impl Head {
    /// The search result of item `id` with this head.
    pub(crate) fn ranked(&self, id: i64, score: f64) -> RankedItem {
        RankedItem {
            id,
            source: self.source.clone(),
            external_id: self.external_id.clone(),
            title: self.title.clone(),
            content_hash: self.content_hash,
            score,
        }
    }
}

/// Corpus totals and the question's terms, as of one version of the index.
pub(crate) struct Corpus {
    pub(crate) version: i64,
    pub(crate) items: f64,
    pub(crate) title_length: f64,
    pub(crate) content_length: f64,
    pub(crate) terms: Vec<String>,
}

/// A pool's copy of postings and heads, valid for one version of the index.
#[derive(Debug, Default)]
pub(crate) struct LexicalCache {
    state: Mutex<Kept>,
}

#[derive(Debug, Default)]
struct Kept {
    version: i64,
    postings: HashMap<String, Arc<[Posting]>>,
    posting_count: usize,
    heads: HashMap<i64, Arc<Head>>,
}

impl Kept {
    /// Whether what is kept serves a search of `version`: the same version does; a newer one
    /// (a write moved the index on) replaces everything kept. An older one, read on a replica
    /// behind the primary, neither uses nor replaces it: the version only grows.
    fn at(&mut self, version: i64) -> bool {
        if version > self.version {
            *self = Kept {
                version,
                ..Kept::default()
            };
        }
        self.version == version
    }
}

impl LexicalCache {
    fn kept(&self) -> std::sync::MutexGuard<'_, Kept> {
        // Every update leaves the maps whole: a poisoned lock still guards valid data.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The postings kept of `terms` at `version`, and the terms not kept.
    pub(crate) fn postings<'t>(
        &self,
        version: i64,
        terms: &'t [String],
    ) -> (PostingsByTerm, Vec<&'t str>) {
        let mut found = HashMap::with_capacity(terms.len());
        let mut missing = Vec::new();
        let mut kept = self.kept();
        let usable = kept.at(version);
        for term in terms {
            match kept.postings.get(term).filter(|_| usable) {
                Some(postings) => {
                    found.insert(term.clone(), postings.clone());
                }
                None => missing.push(term.as_str()),
            }
        }
        (found, missing)
    }

    /// Keeps postings read at `version` (nothing when what is kept is of another version).
    pub(crate) fn keep_postings(&self, version: i64, read: &[(String, Arc<[Posting]>)]) {
        let mut kept = self.kept();
        if kept.version != version {
            return;
        }
        for (term, postings) in read {
            kept.posting_count += postings.len();
            kept.postings.insert(term.clone(), postings.clone());
        }
        if kept.posting_count > MAX_KEPT_POSTINGS {
            kept.postings.clear();
            kept.posting_count = 0;
        }
    }

    /// The heads kept of `ids` at `version`, and the ids not kept.
    pub(crate) fn heads(&self, version: i64, ids: &[i64]) -> (HashMap<i64, Arc<Head>>, Vec<i64>) {
        let mut found = HashMap::with_capacity(ids.len());
        let mut missing = Vec::new();
        let kept = self.kept();
        for id in ids {
            match kept.heads.get(id).filter(|_| kept.version == version) {
                Some(head) => {
                    found.insert(*id, head.clone());
                }
                None => missing.push(*id),
            }
        }
        (found, missing)
    }

    /// Keeps heads read at `version` (nothing when what is kept is of another version).
    pub(crate) fn keep_heads(&self, version: i64, read: &[(i64, Arc<Head>)]) {
        let mut kept = self.kept();
        if kept.version != version {
            return;
        }
        if kept.heads.len() + read.len() > MAX_KEPT_HEADS {
            kept.heads.clear();
        }
        kept.heads.extend(read.iter().cloned());
    }
}

/// Hashes item ids for the score table of one search: one multiplication by an odd constant
/// (Fibonacci hashing), its high bits folded down. Item ids are integers the database assigned,
/// not input an attacker chooses, so SipHash's protection buys nothing here (with the table's
/// growing, the scoring and its hashing were about a tenth of the lexical service's CPU in a
/// `perf` profile).
#[derive(Default)]
struct ItemIdHasher(u64);

impl Hasher for ItemIdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(u64::from(byte));
        }
    }

    fn write_u64(&mut self, value: u64) {
        let mixed = (self.0 ^ value).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 = mixed ^ (mixed >> 32);
    }

    fn write_i64(&mut self, value: i64) {
        self.write_u64(value as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// The question's terms with their IDF, and the best `limit` items of `sources` (all when
/// `None`) by BM25, best first, equal scores in id order.
pub(crate) fn rank(
    corpus: &Corpus,
    postings: &PostingsByTerm,
    sources: Option<&[&str]>,
    limit: usize,
    parameters: &Bm25,
) -> (Vec<QueryTerm>, Vec<(i64, f64)>) {
    let title_weight = parameters.title_weight;
    let items = corpus.items.max(1.0);
    let average_length =
        ((corpus.content_length + title_weight * corpus.title_length) / items).max(1.0);
    let mut terms = Vec::with_capacity(corpus.terms.len());
    // Sized for every posting at once (no growing while scoring), keyed by a cheap hash.
    let postings_read: usize = corpus
        .terms
        .iter()
        .filter_map(|term| postings.get(term))
        .map(|postings| postings.len())
        .sum();
    let mut scores: HashMap<i64, f64, BuildHasherDefault<ItemIdHasher>> =
        HashMap::with_capacity_and_hasher(postings_read, BuildHasherDefault::default());
    for term in &corpus.terms {
        let Some(postings) = postings.get(term).filter(|p| !p.is_empty()) else {
            continue;
        };
        let df = postings.len() as f64;
        let idf = Bm25::idf(items, df);
        terms.push(QueryTerm {
            term: term.clone(),
            idf,
        });
        for posting in postings.iter() {
            if sources.is_some_and(|sources| !sources.contains(&&*posting.source)) {
                continue;
            }
            let tf = f64::from(posting.content_tf) + title_weight * f64::from(posting.title_tf);
            let length =
                f64::from(posting.content_length) + title_weight * f64::from(posting.title_length);
            let score = parameters.term_score(idf, tf, length, average_length);
            *scores.entry(posting.item_id).or_default() += score;
        }
    }
    let mut ranked: Vec<(i64, f64)> = scores.into_iter().collect();
    let by_rank = |a: &(i64, f64), b: &(i64, f64)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    if ranked.len() > limit {
        ranked.select_nth_unstable_by(limit, by_rank);
        ranked.truncate(limit);
    }
    ranked.sort_unstable_by(by_rank);
    (terms, ranked)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn posting(item_id: i64, content_tf: u32, content_length: u32, source: &str) -> Posting {
        Posting {
            item_id,
            title_tf: 0,
            content_tf,
            title_length: 0,
            content_length,
            source: Arc::from(source),
        }
    }

    #[test]
    fn ranking_is_bm25_best_first_ties_by_id() {
        let corpus = Corpus {
            version: 1,
            items: 10.0,
            title_length: 0.0,
            content_length: 100.0,
            terms: vec!["rare".to_owned(), "common".to_owned(), "absent".to_owned()],
        };
        let postings: HashMap<String, Arc<[Posting]>> = [
            ("rare".to_owned(), Arc::from(vec![posting(7, 1, 10, "a")])),
            (
                "common".to_owned(),
                Arc::from(
                    (1..=8)
                        .map(|id| posting(id, 1, 10, if id % 2 == 0 { "a" } else { "b" }))
                        .collect::<Vec<_>>(),
                ),
            ),
            ("absent".to_owned(), Arc::from(Vec::new())),
        ]
        .into_iter()
        .collect();
        let parameters = Bm25::default();
        let (terms, ranked) = rank(&corpus, &postings, None, 3, &parameters);
        let names: Vec<&str> = terms.iter().map(|t| t.term.as_str()).collect();
        assert_eq!(
            names,
            ["rare", "common"],
            "terms without postings are left out"
        );
        let rare_idf = (1.0 + (10.0 - 1.0 + 0.5) / 1.5f64).ln();
        assert!((terms[0].idf - rare_idf).abs() < 1e-12);
        assert_eq!(
            ranked.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
            [7, 1, 2],
            "the rare term first, then equal scores by id"
        );
        // One posting of length = average, tf 1: idf * (k1 + 1) / (1 + k1).
        let common_idf = (1.0 + (10.0 - 8.0 + 0.5) / 8.5f64).ln();
        assert!((ranked[1].1 - common_idf).abs() < 1e-12);
        let only_b = ["b"];
        let (_, ranked) = rank(&corpus, &postings, Some(&only_b), 10, &parameters);
        assert_eq!(
            ranked.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
            [1, 3, 5, 7]
        );
    }

    #[test]
    fn kept_postings_serve_their_version_a_newer_one_replaces_them_an_older_one_leaves_them() {
        let mut kept = Kept::default();
        assert!(kept.at(5));
        kept.postings
            .insert("vacuum".to_owned(), Arc::from(vec![posting(1, 1, 10, "a")]));
        assert!(kept.at(5), "the same version");
        // A replica behind the primary: not served from here, and nothing is dropped.
        assert!(!kept.at(4));
        assert_eq!(kept.version, 5);
        assert!(kept.postings.contains_key("vacuum"));
        // A write moved the index on: everything kept goes.
        assert!(kept.at(6));
        assert!(kept.postings.is_empty());
    }
}
