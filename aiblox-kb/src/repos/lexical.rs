//! BM25 ranking over the lexical index (V0003), and the pool's copy of the postings it reads.
//!
//! PostgreSQL holds the index and parses questions; the ranking itself is computed here, from
//! postings read for the question's terms. On a pool, postings and result heads are kept in
//! memory, tagged with the index's version (a sum that every change to the postings grows, read
//! in the same snapshot as the postings): each search reads the version with the question's
//! terms in one small statement, and anything kept under an older version is dropped. So a
//! search sees every write committed before it began, as the SQL it replaces did, and costs the
//! database one short statement once the postings it needs are in memory.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, Mutex, PoisonError};

use aiblox_kb_gen::client::GenericClient;
use aiblox_kb_gen::queries::item as queries;

use crate::pool::{Target, with_client, with_read_client};
use crate::repos::content_hash_from_db;
use crate::{Bm25, Error, QueryTerm, RankedItem, RankedItems};

/// Most postings a pool keeps (about 40 bytes each); past it the copy starts over.
const MAX_KEPT_POSTINGS: usize = 1_000_000;
/// Most result heads a pool keeps.
const MAX_KEPT_HEADS: usize = 100_000;
/// Searches that meet a concurrent write between their statements start over this often, then
/// rank with what they read.
const ATTEMPTS: usize = 3;

/// One posting: an item holding a term.
#[derive(Debug, Clone)]
struct Posting {
    item_id: i64,
    title_tf: u32,
    content_tf: u32,
    title_length: u32,
    content_length: u32,
    source: Arc<str>,
}

/// What a result shows of an item.
#[derive(Debug, Clone)]
pub(crate) struct Head {
    source: String,
    external_id: String,
    title: Option<String>,
    content_hash: [u8; 32],
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
struct Corpus {
    version: i64,
    items: f64,
    title_length: f64,
    content_length: f64,
    terms: Vec<String>,
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
}

/// [`ItemRepo::search_bm25`](crate::ItemRepo::search_bm25) on `target`, with the pool's
/// `cache` when there is a pool (the target may be one of its read replicas): the caller
/// checked the arguments.
pub(crate) async fn search(
    target: Target<'_>,
    cache: Option<&LexicalCache>,
    question: &str,
    sources: Option<&[&str]>,
    limit: usize,
    parameters: &Bm25,
) -> Result<RankedItems, Error> {
    for attempt in 1..=ATTEMPTS {
        let corpus = corpus(target, question).await?;
        if corpus.terms.is_empty() {
            return Ok(RankedItems::default());
        }
        let (postings, current) = postings(target, cache, &corpus).await?;
        if !current && attempt < ATTEMPTS {
            continue;
        }
        let (terms, ranked) = rank(&corpus, &postings, sources, limit, parameters);
        let ids: Vec<i64> = ranked.iter().map(|(id, _)| *id).collect();
        let (heads, current) = heads(target, cache, corpus.version, &ids).await?;
        if !current && attempt < ATTEMPTS {
            continue;
        }
        let items = ranked
            .into_iter()
            .filter_map(|(id, score)| {
                // Absent only if deleted by a write that committed during this search.
                Some(heads.get(&id)?.ranked(id, score))
            })
            .collect();
        return Ok(RankedItems { terms, items });
    }
    unreachable!("the last attempt always returns")
}

/// The corpus totals, version and the question's terms, in one statement.
async fn corpus(target: Target<'_>, question: &str) -> Result<Corpus, Error> {
    let row = with_read_client!(target, |client| queries::lexical_corpus()
        .bind(client, &question)
        .one()
        .await
        .map_err(Error::from_driver)?);
    Ok(Corpus {
        version: row.version,
        items: row.items as f64,
        title_length: row.title_length as f64,
        content_length: row.content_length as f64,
        terms: row.terms,
    })
}

/// The postings of the corpus's terms, from the pool's copy where it holds them at the
/// corpus's version, else read (and kept). `false` when a write changed the index since the
/// corpus was read.
async fn postings(
    target: Target<'_>,
    cache: Option<&LexicalCache>,
    corpus: &Corpus,
) -> Result<(HashMap<String, Arc<[Posting]>>, bool), Error> {
    let mut found = HashMap::with_capacity(corpus.terms.len());
    let mut missing: Vec<&str> = Vec::new();
    match cache {
        Some(cache) => {
            let mut kept = cache.kept();
            let usable = kept.at(corpus.version);
            for term in &corpus.terms {
                match kept.postings.get(term).filter(|_| usable) {
                    Some(postings) => {
                        found.insert(term.clone(), postings.clone());
                    }
                    None => missing.push(term),
                }
            }
        }
        None => missing.extend(corpus.terms.iter().map(String::as_str)),
    }
    if missing.is_empty() {
        return Ok((found, true));
    }
    let rows = with_client!(target, |client| read_postings(client, &missing).await?);
    let version = rows.first().map_or(corpus.version, |row| row.version);
    let mut sources: HashMap<String, Arc<str>> = HashMap::new();
    let mut read: HashMap<String, Vec<Posting>> = HashMap::with_capacity(missing.len());
    for row in rows {
        let postings = read.entry(row.term).or_default();
        let (Some(item_id), Some(source), Some(title_tf), Some(content_tf)) =
            (row.item_id, row.source, row.title_tf, row.content_tf)
        else {
            continue;
        };
        let source = sources
            .entry(source)
            .or_insert_with_key(|source| Arc::from(source.as_str()))
            .clone();
        postings.push(Posting {
            item_id,
            title_tf: title_tf.max(0) as u32,
            content_tf: content_tf.max(0) as u32,
            title_length: row.title_length.unwrap_or(0).max(0) as u32,
            content_length: row.content_length.unwrap_or(0).max(0) as u32,
            source,
        });
    }
    let read: Vec<(String, Arc<[Posting]>)> = read
        .into_iter()
        .map(|(term, postings)| (term, Arc::from(postings)))
        .collect();
    if let Some(cache) = cache {
        let mut kept = cache.kept();
        if kept.version == version && version == corpus.version {
            for (term, postings) in &read {
                kept.posting_count += postings.len();
                kept.postings.insert(term.clone(), postings.clone());
            }
            if kept.posting_count > MAX_KEPT_POSTINGS {
                kept.postings.clear();
                kept.posting_count = 0;
            }
        }
    }
    found.extend(read);
    Ok((found, version == corpus.version))
}

async fn read_postings<C: GenericClient>(
    client: &C,
    terms: &[&str],
) -> Result<Vec<queries::LexicalPosting>, Error> {
    queries::lexical_postings()
        .bind(client, &terms)
        .all()
        .await
        .map_err(Error::from_driver)
}

/// The heads of `ids`, from the pool's copy where it holds them at `version`, else read (and
/// kept). `false` when a write changed the index since `version`.
async fn heads(
    target: Target<'_>,
    cache: Option<&LexicalCache>,
    version: i64,
    ids: &[i64],
) -> Result<(HashMap<i64, Arc<Head>>, bool), Error> {
    let mut found = HashMap::with_capacity(ids.len());
    let mut missing = Vec::new();
    match cache {
        Some(cache) => {
            let kept = cache.kept();
            for id in ids {
                match kept.heads.get(id).filter(|_| kept.version == version) {
                    Some(head) => {
                        found.insert(*id, head.clone());
                    }
                    None => missing.push(*id),
                }
            }
        }
        None => missing.extend_from_slice(ids),
    }
    if missing.is_empty() {
        return Ok((found, true));
    }
    let (read_version, read) = read_heads(target, &missing).await?;
    let read_version = read_version.unwrap_or(version);
    if let Some(cache) = cache {
        let mut kept = cache.kept();
        if kept.version == version && read_version == version {
            if kept.heads.len() + read.len() > MAX_KEPT_HEADS {
                kept.heads.clear();
            }
            kept.heads.extend(read.iter().cloned());
        }
    }
    found.extend(read);
    Ok((found, read_version == version))
}

/// The heads of `ids` read now (those that exist, in no particular order), and the lexical
/// index's version in the same snapshot (`None` when no id exists).
pub(crate) async fn read_heads(
    target: Target<'_>,
    ids: &[i64],
) -> Result<(Option<i64>, Vec<(i64, Arc<Head>)>), Error> {
    let rows = with_client!(target, |client| queries::get_item_heads()
        .bind(client, &ids)
        .all()
        .await
        .map_err(Error::from_driver)?);
    let version = rows.first().map(|row| row.version);
    let mut read = Vec::with_capacity(rows.len());
    for row in rows {
        let head = Arc::new(Head {
            source: row.source,
            external_id: row.external_id,
            title: row.title,
            content_hash: content_hash_from_db(&row.content_hash)?,
        });
        read.push((row.id, head));
    }
    Ok((version, read))
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
fn rank(
    corpus: &Corpus,
    postings: &HashMap<String, Arc<[Posting]>>,
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
