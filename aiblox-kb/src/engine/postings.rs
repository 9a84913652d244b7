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

use crate::{Bm25, ItemSet, QueryTerm, RankedItem};

/// Most postings a pool keeps (32 bytes each); past it the copy starts over.
const MAX_KEPT_POSTINGS: usize = 1_000_000;
/// Most result heads a pool keeps.
const MAX_KEPT_HEADS: usize = 100_000;

/// One posting: an item holding a term.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Posting {
    pub(crate) item_id: i64,
    pub(crate) title_tf: u32,
    pub(crate) content_tf: u32,
    pub(crate) title_length: u32,
    pub(crate) content_length: u32,
    /// The item's source, by its number in `item_source` (V0006).
    pub(crate) source_id: i32,
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
    pub(crate) page_starts: Option<Vec<u32>>,
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
            page_starts: self.page_starts.clone(),
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

/// The items a search keeps: of these sources (by their numbers in `item_source`), and within
/// this set (a filter's matches); `None` keeps every item.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Keep<'k> {
    pub(crate) sources: Option<&'k [i32]>,
    pub(crate) within: Option<&'k ItemSet>,
}

impl Keep<'_> {
    #[inline]
    fn keeps(&self, posting: &Posting) -> bool {
        self.sources
            .is_none_or(|sources| sources.contains(&posting.source_id))
            && self
                .within
                .is_none_or(|within| within.contains(posting.item_id))
    }
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

/// How a term's postings score: the corpus's average length and the parameters.
struct Scoring<'p> {
    parameters: &'p Bm25,
    average_length: f64,
}

impl Scoring<'_> {
    /// What `posting` adds for a term of weight `idf`.
    #[inline]
    fn score(&self, idf: f64, posting: &Posting) -> f64 {
        self.score_of(
            idf,
            (
                posting.title_tf,
                posting.content_tf,
                posting.title_length,
                posting.content_length,
            ),
        )
    }

    /// What a posting of these title and content frequencies and lengths adds.
    #[inline]
    fn score_of(
        &self,
        idf: f64,
        (title_tf, content_tf, title_length, content_length): Stats,
    ) -> f64 {
        let title_weight = self.parameters.title_weight;
        let tf = f64::from(content_tf) + title_weight * f64::from(title_tf);
        let length = f64::from(content_length) + title_weight * f64::from(title_length);
        self.parameters
            .term_score(idf, tf, length, self.average_length)
    }

    /// At least what any posting of `list` adds: BM25 grows with the frequency and falls with
    /// the length, so the most frequent and the shortest, even if not one posting, bound them
    /// all.
    fn bound(&self, list: &TermList<'_>) -> f64 {
        self.score_of(
            list.idf,
            list.bounding.unwrap_or((u32::MAX, u32::MAX, 0, 0)),
        )
    }
}

/// A posting's title and content frequencies and title and content lengths.
type Stats = (u32, u32, u32, u32);

/// One term of the question with its postings and weight.
struct TermList<'p> {
    postings: &'p [Posting],
    idf: f64,
    /// With the postings in item id order, the most frequent and the shortest of them (title
    /// and content frequencies, title and content lengths); `None` out of order.
    bounding: Option<Stats>,
}

/// [`TermList::bounding`] of `postings`, in one pass.
fn bounding(postings: &[Posting]) -> Option<Stats> {
    let mut previous = i64::MIN;
    let mut bounds = (0, 0, u32::MAX, u32::MAX);
    for posting in postings {
        if posting.item_id <= previous {
            return None;
        }
        previous = posting.item_id;
        bounds.0 = bounds.0.max(posting.title_tf);
        bounds.1 = bounds.1.max(posting.content_tf);
        bounds.2 = bounds.2.min(posting.title_length);
        bounds.3 = bounds.3.min(posting.content_length);
    }
    Some(bounds)
}

/// The question's terms with their IDF, and the best `limit` items that `keep` keeps by BM25,
/// best first, equal scores in id order.
///
/// Exact and pruned (MaxScore, document at a time): the terms are taken in order of their
/// score bound, and once `limit` items are held, the terms whose bounds together stay under the
/// last one's score no longer propose items: only items of the other terms are scored, each in
/// full and in the question's term order, so its score is the one scoring every posting gives
/// to the last bit. Postings must be in item id order (as the statements read them); any other
/// order is scored exhaustively.
pub(crate) fn rank(
    corpus: &Corpus,
    postings: &PostingsByTerm,
    keep: Keep<'_>,
    limit: usize,
    parameters: &Bm25,
) -> (Vec<QueryTerm>, Vec<(i64, f64)>) {
    let (terms, lists, scoring) = term_lists(corpus, postings, parameters);
    let in_order = lists.iter().all(|list| list.bounding.is_some());
    let ranked = if in_order && parameters.k1 > 0.0 {
        top_by_max_score(&lists, &scoring, keep, limit).0
    } else {
        score_every_posting(&lists, &scoring, keep, limit)
    };
    (terms, ranked)
}

/// [`rank`] scoring every posting: the reference the pruned ranking must equal.
#[cfg(test)]
pub(crate) fn rank_exhaustive(
    corpus: &Corpus,
    postings: &PostingsByTerm,
    keep: Keep<'_>,
    limit: usize,
    parameters: &Bm25,
) -> (Vec<QueryTerm>, Vec<(i64, f64)>) {
    let (terms, lists, scoring) = term_lists(corpus, postings, parameters);
    (terms, score_every_posting(&lists, &scoring, keep, limit))
}

/// The question's terms that have postings, in its order: their weights, and their lists.
fn term_lists<'p>(
    corpus: &Corpus,
    postings: &'p PostingsByTerm,
    parameters: &'p Bm25,
) -> (Vec<QueryTerm>, Vec<TermList<'p>>, Scoring<'p>) {
    let items = corpus.items.max(1.0);
    let average_length =
        ((corpus.content_length + parameters.title_weight * corpus.title_length) / items).max(1.0);
    let mut terms = Vec::with_capacity(corpus.terms.len());
    let mut lists = Vec::with_capacity(corpus.terms.len());
    for term in &corpus.terms {
        let Some(postings) = postings.get(term).filter(|p| !p.is_empty()) else {
            continue;
        };
        let idf = Bm25::idf(items, postings.len() as f64);
        terms.push(QueryTerm {
            term: term.clone(),
            idf,
        });
        lists.push(TermList {
            postings,
            idf,
            bounding: bounding(postings),
        });
    }
    let scoring = Scoring {
        parameters,
        average_length,
    };
    (terms, lists, scoring)
}

/// Best first, equal scores in id order.
fn by_rank(a: &(i64, f64), b: &(i64, f64)) -> std::cmp::Ordering {
    b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
}

/// Every posting scored, summed per item in the question's term order; the best `limit`.
fn score_every_posting(
    lists: &[TermList<'_>],
    scoring: &Scoring<'_>,
    keep: Keep<'_>,
    limit: usize,
) -> Vec<(i64, f64)> {
    // Sized for every posting at once (no growing while scoring), keyed by a cheap hash.
    let postings_read: usize = lists.iter().map(|list| list.postings.len()).sum();
    let mut scores: HashMap<i64, f64, BuildHasherDefault<ItemIdHasher>> =
        HashMap::with_capacity_and_hasher(postings_read, BuildHasherDefault::default());
    for list in lists {
        for posting in list.postings {
            if !keep.keeps(posting) {
                continue;
            }
            *scores.entry(posting.item_id).or_default() += scoring.score(list.idf, posting);
        }
    }
    let mut ranked: Vec<(i64, f64)> = scores.into_iter().collect();
    if ranked.len() > limit {
        ranked.select_nth_unstable_by(limit, by_rank);
        ranked.truncate(limit);
    }
    ranked.sort_unstable_by(by_rank);
    ranked
}

/// An item held among the best: ordered so that the worst (lowest score, then highest id) is
/// the greatest, at the top of the heap.
#[derive(Debug, Clone, Copy)]
struct Held {
    id: i64,
    score: f64,
}

impl PartialEq for Held {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}

impl Eq for Held {}

impl PartialOrd for Held {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Held {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other
            .score
            .total_cmp(&self.score)
            .then(self.id.cmp(&other.id))
    }
}

/// How far under a score a bound must be to rule an item out: sums of the same terms in
/// another order differ in their last bits, never by this much.
fn margin(score: f64) -> f64 {
    1e-9 * score.abs().max(1.0)
}

/// The first place from `at` on in `postings` (in item id order) of an item `id` or later:
/// `at` itself for a list that proposes items (it is never behind), else found by galloping
/// from `at` (a list that proposes none may be far behind).
#[inline]
fn skip_to(postings: &[Posting], at: usize, id: i64) -> usize {
    if postings.get(at).is_none_or(|posting| posting.item_id >= id) {
        return at;
    }
    // postings[low] is before `id`; double the step until past it.
    let (mut low, mut step) = (at, 1);
    while low + step < postings.len() && postings[low + step].item_id < id {
        low += step;
        step *= 2;
    }
    let high = (low + step).min(postings.len());
    low + 1 + postings[low + 1..high].partition_point(|posting| posting.item_id < id)
}

/// The best `limit` items by MaxScore over postings in item id order (see [`rank`]), and how
/// many items were scored.
///
/// (A walk that advanced only the lists still proposing items and probed the others while an
/// item could still enter measured 10-20 % slower on lists of the scale corpus's sizes, in one
/// process beside this one: the per-item bookkeeping cost more than the probes it saved.)
fn top_by_max_score(
    lists: &[TermList<'_>],
    scoring: &Scoring<'_>,
    keep: Keep<'_>,
    limit: usize,
) -> (Vec<(i64, f64)>, usize) {
    if limit == 0 {
        return (Vec::new(), 0);
    }
    let mut scored = 0;
    // The lists by bound, smallest first, and the bounds summed from the smallest.
    let bounds: Vec<f64> = lists.iter().map(|list| scoring.bound(list)).collect();
    let mut by_bound: Vec<usize> = (0..lists.len()).collect();
    by_bound.sort_by(|a, b| bounds[*a].total_cmp(&bounds[*b]));
    let summed: Vec<f64> = by_bound
        .iter()
        .scan(0.0, |sum, list| {
            *sum += bounds[*list];
            Some(*sum)
        })
        .collect();
    // Each list's next posting; lists by_bound[..essential] propose no item.
    let mut next = vec![0_usize; lists.len()];
    let mut essential = 0;
    let mut best: std::collections::BinaryHeap<Held> =
        std::collections::BinaryHeap::with_capacity(limit + 1);
    while let Some(id) = by_bound[essential..]
        .iter()
        .filter_map(|list| lists[*list].postings.get(next[*list]))
        .map(|posting| posting.item_id)
        .min()
    {
        scored += 1;
        let mut score = 0.0;
        let mut any_kept = false;
        for (list, at) in lists.iter().zip(next.iter_mut()) {
            *at = skip_to(list.postings, *at, id);
            let Some(posting) = list.postings.get(*at).filter(|p| p.item_id == id) else {
                continue;
            };
            *at += 1;
            // Each posting names its item's source, as scoring every posting filters them.
            if keep.keeps(posting) {
                any_kept = true;
                score += scoring.score(list.idf, posting);
            }
        }
        if !any_kept {
            continue;
        }
        let candidate = Held { id, score };
        if best.len() < limit {
            best.push(candidate);
        } else if best.peek().is_some_and(|worst| candidate < *worst) {
            best.pop();
            best.push(candidate);
        } else {
            continue;
        }
        if best.len() == limit
            && let Some(worst) = best.peek()
        {
            let floor = worst.score - margin(worst.score);
            while essential < by_bound.len() && summed[essential] < floor {
                essential += 1;
            }
        }
    }
    let mut ranked: Vec<(i64, f64)> = best.into_iter().map(|held| (held.id, held.score)).collect();
    ranked.sort_unstable_by(by_rank);
    (ranked, scored)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn posting(item_id: i64, content_tf: u32, content_length: u32, source_id: i32) -> Posting {
        Posting {
            item_id,
            title_tf: 0,
            content_tf,
            title_length: 0,
            content_length,
            source_id,
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
            ("rare".to_owned(), Arc::from(vec![posting(7, 1, 10, 1)])),
            (
                "common".to_owned(),
                Arc::from(
                    (1..=8)
                        .map(|id| posting(id, 1, 10, if id % 2 == 0 { 1 } else { 2 }))
                        .collect::<Vec<_>>(),
                ),
            ),
            ("absent".to_owned(), Arc::from(Vec::new())),
        ]
        .into_iter()
        .collect();
        let parameters = Bm25::default();
        let (terms, ranked) = rank(&corpus, &postings, Keep::default(), 3, &parameters);
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
        let only_b = [2];
        let (_, ranked) = rank(
            &corpus,
            &postings,
            Keep {
                sources: Some(&only_b),
                within: None,
            },
            10,
            &parameters,
        );
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
            .insert("vacuum".to_owned(), Arc::from(vec![posting(1, 1, 10, 1)]));
        assert!(kept.at(5), "the same version");
        // A replica behind the primary: not served from here, and nothing is dropped.
        assert!(!kept.at(4));
        assert_eq!(kept.version, 5);
        assert!(kept.postings.contains_key("vacuum"));
        // A write moved the index on: everything kept goes.
        assert!(kept.at(6));
        assert!(kept.postings.is_empty());
    }

    /// A corpus of `items` items with random postings for `terms` terms (each item holding a
    /// term with probability `density`), random frequencies, lengths and sources.
    fn random_postings(
        items: i64,
        terms: usize,
        density: f64,
        seed: u64,
    ) -> (Corpus, PostingsByTerm) {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let lengths: Vec<(u32, u32, i32)> = (0..items)
            .map(|_| {
                (
                    (next() % 12) as u32,
                    1 + (next() % 400) as u32,
                    1 + (next() % 3) as i32,
                )
            })
            .collect();
        let mut postings = PostingsByTerm::new();
        let names: Vec<String> = (0..terms).map(|term| format!("t{term}")).collect();
        for name in &names {
            let mut list = Vec::new();
            for id in 0..items {
                if (next() % 10_000) as f64 / 10_000.0 >= density {
                    continue;
                }
                let (title_length, content_length, source_id) = lengths[id as usize];
                list.push(Posting {
                    item_id: id + 1,
                    title_tf: (next() % 3) as u32,
                    content_tf: 1 + (next() % 6) as u32,
                    title_length,
                    content_length,
                    source_id,
                });
            }
            postings.insert(name.clone(), Arc::from(list));
        }
        let corpus = Corpus {
            version: 1,
            items: items as f64,
            title_length: lengths.iter().map(|l| f64::from(l.0)).sum(),
            content_length: lengths.iter().map(|l| f64::from(l.1)).sum(),
            terms: names,
        };
        (corpus, postings)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]

        /// The pruned ranking equals scoring every posting, to the last bit and in the same
        /// order, whatever the corpus, the question's terms (repeated ones too), the limit,
        /// the parameters and the source filter.
        #[test]
        fn pruned_ranking_equals_scoring_every_posting(
            items in 1_i64..400,
            terms in 1_usize..6,
            density in 0.0_f64..0.9,
            seed in proptest::prelude::any::<u64>(),
            limit in 1_usize..40,
            k1 in 0.01_f64..3.0,
            b in 0.0_f64..=1.0,
            title_weight in 0.0_f64..4.0,
            filter in 0_usize..6,
            repeat_first in proptest::prelude::any::<bool>(),
        ) {
            let (mut corpus, postings) = random_postings(items, terms, density, seed);
            if repeat_first {
                let first = corpus.terms[0].clone();
                corpus.terms.push(first);
            }
            corpus.terms.push("absent".to_owned());
            let parameters = Bm25 { k1, b, title_weight };
            let every_third = ItemSet::new((0..items).filter(|id| id % 3 == 0).collect());
            let one = ItemSet::new(vec![items / 2]);
            let keep = |sources: Option<&'static [i32]>, within| Keep { sources, within };
            let filters: [Keep<'_>; 6] = [
                keep(None, None),
                keep(Some(&[1]), None),
                keep(Some(&[2, 3]), None),
                keep(Some(&[99]), None),
                keep(None, Some(&every_third)),
                keep(Some(&[1]), Some(&one)),
            ];
            let kept = filters[filter];
            let pruned = rank(&corpus, &postings, kept, limit, &parameters);
            let every = rank_exhaustive(&corpus, &postings, kept, limit, &parameters);
            if let Some(within) = kept.within {
                proptest::prop_assert!(pruned.1.iter().all(|(id, _)| within.contains(*id)));
            }
            proptest::prop_assert_eq!(pruned, every);
        }
    }

    /// Proves the property can fail: a ranking that drops an item differs from it.
    #[test]
    fn the_equality_sees_a_dropped_item() {
        let (corpus, postings) = random_postings(200, 3, 0.3, 7);
        let parameters = Bm25::default();
        let (_, every) = rank_exhaustive(&corpus, &postings, Keep::default(), 10, &parameters);
        let (_, pruned) = rank(&corpus, &postings, Keep::default(), 10, &parameters);
        assert_eq!(pruned, every);
        let mut fewer = postings.clone();
        let first = every[0].0;
        for list in fewer.values_mut() {
            *list = list
                .iter()
                .filter(|p| p.item_id != first)
                .cloned()
                .collect();
        }
        let (_, without) = rank(&corpus, &fewer, Keep::default(), 10, &parameters);
        assert_ne!(without, every);
    }

    /// The pruning prunes: with one rare term and one held by most items, once the best items
    /// are held the common term proposes no more items, and far fewer items are scored than
    /// hold a term.
    #[test]
    fn a_common_term_stops_proposing_items_once_the_best_are_held() {
        let holding = |ids: std::ops::Range<i64>| -> Arc<[Posting]> {
            ids.map(|id| posting(id, 1, 100, 1))
                .collect::<Vec<_>>()
                .into()
        };
        let postings: PostingsByTerm = [
            ("rare".to_owned(), holding(1..4)),
            ("common".to_owned(), holding(1..10_001)),
        ]
        .into_iter()
        .collect();
        let corpus = Corpus {
            version: 1,
            items: 10_000.0,
            title_length: 0.0,
            content_length: 1_000_000.0,
            terms: vec!["rare".to_owned(), "common".to_owned()],
        };
        let parameters = Bm25::default();
        let (_, lists, scoring) = term_lists(&corpus, &postings, &parameters);
        let (ranked, scored) = top_by_max_score(&lists, &scoring, Keep::default(), 3);
        assert_eq!(
            ranked.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        assert!(
            scored < 10,
            "{scored} items scored of 10,000 holding a term"
        );
        assert_eq!(
            ranked,
            rank_exhaustive(&corpus, &postings, Keep::default(), 3, &parameters).1
        );
    }
}
