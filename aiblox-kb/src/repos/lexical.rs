//! The statements of [`ItemRepo::search_bm25`](crate::ItemRepo::search_bm25) and
//! [`ItemRepo::heads`](crate::ItemRepo::heads): the corpus and the question's terms, postings,
//! result heads, read where the pool does not keep them (`engine::LexicalCache`), then ranked
//! by BM25 (`engine::rank`).
//!
//! Each search reads the index's version with the question's terms in one small statement; on
//! a pool whose copy holds the postings and heads it needs at that version, that is the only
//! statement, so repeated terms cost the database nothing more. Postings are read from their
//! blocks (V0006), less those marked dead, with the fresh items' computed from their vectors.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use aiblox_kb_gen::queries::item::{self as queries, LexicalPostings};

use crate::engine::{
    Corpus, Head, Keep, LexicalCache, Posting, PostingsByTerm, ReadPath, Steps, rank,
};
use crate::repos::content_hash_from_db;
use crate::repos::item_repo::page_starts_from_db;
use crate::{Bm25, Error, ItemSet, RankedItems};

/// Searches that meet a concurrent write between their statements start over this often, then
/// rank with what they read.
const ATTEMPTS: usize = 3;

/// [`ItemRepo::search_bm25`](crate::ItemRepo::search_bm25) by `steps`, with the pool's
/// `cache` when there is a pool (the steps may run on one of its read replicas): the caller
/// checked the arguments.
pub(crate) async fn search(
    steps: Steps<'_>,
    cache: Option<&LexicalCache>,
    question: &str,
    sources: Option<&[&str]>,
    within: Option<&ItemSet>,
    limit: usize,
    parameters: &Bm25,
) -> Result<RankedItems, Error> {
    for attempt in 1..=ATTEMPTS {
        let (corpus, source_ids) = corpus(&steps, question, sources).await?;
        if corpus.terms.is_empty() {
            return Ok(RankedItems::default());
        }
        let (postings, current) = postings(&steps, cache, &corpus).await?;
        if !current && attempt < ATTEMPTS {
            continue;
        }
        let keep = Keep {
            sources: sources.map(|_| source_ids.as_slice()),
            within,
        };
        let (terms, ranked) = rank(&corpus, &postings, keep, limit, parameters);
        let ids: Vec<i64> = ranked.iter().map(|(id, _)| *id).collect();
        let (heads, current) = heads(&steps, cache, corpus.version, &ids).await?;
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

/// The corpus totals, version and the question's terms, and the numbers of `sources` that
/// postings name, in one short statement.
async fn corpus(
    steps: &Steps<'_>,
    question: &str,
    sources: Option<&[&str]>,
) -> Result<(Corpus, Vec<i32>), Error> {
    let row = steps
        .read(ReadPath::PRIMARY_PIPELINED, |client| async move {
            queries::lexical_corpus()
                .bind(&client, &question, &sources)
                .one()
                .await
                .map_err(Error::from_driver)
        })
        .await?;
    let corpus = Corpus {
        version: row.version,
        items: row.items as f64,
        title_length: row.title_length as f64,
        content_length: row.content_length as f64,
        terms: row.terms,
    };
    Ok((corpus, row.source_ids))
}

/// The postings of the corpus's terms, from the pool's copy where it holds them at the
/// corpus's version, else read (and kept). `false` when a write changed the index since the
/// corpus was read.
async fn postings(
    steps: &Steps<'_>,
    cache: Option<&LexicalCache>,
    corpus: &Corpus,
) -> Result<(PostingsByTerm, bool), Error> {
    let (mut found, missing) = match cache {
        Some(cache) => cache.postings(corpus.version, &corpus.terms),
        None => (
            HashMap::new(),
            corpus.terms.iter().map(String::as_str).collect(),
        ),
    };
    if missing.is_empty() {
        return Ok((found, true));
    }
    let terms = &missing;
    let rows = steps
        .read(ReadPath::PRIMARY, |client| async move {
            queries::lexical_postings()
                .bind(&client, terms)
                .all()
                .await
                .map_err(Error::from_driver)
        })
        .await?;
    let version = rows.first().map_or(corpus.version, |row| row.version);
    let mut read: HashMap<String, Vec<Posting>> = HashMap::with_capacity(missing.len());
    for mut row in rows {
        let term = std::mem::take(&mut row.term);
        read.entry(term).or_default().extend(current_postings(row));
    }
    // In item id order, as the pruned ranking reads them.
    let read: Vec<(String, Arc<[Posting]>)> = read
        .into_iter()
        .map(|(term, mut postings)| {
            postings.sort_unstable_by_key(|posting| posting.item_id);
            (term, Arc::from(postings))
        })
        .collect();
    if let Some(cache) = cache
        && version == corpus.version
    {
        cache.keep_postings(version, &read);
    }
    found.extend(read);
    Ok((found, version == corpus.version))
}

/// The postings of a row of `lexical_postings` that are current: those of a block (or of the
/// fresh items) less those the block's marks name; none for a term's row of NULLs.
fn current_postings(row: LexicalPostings) -> impl Iterator<Item = Posting> {
    let dead: HashSet<i64> = row.dead_item_ids.unwrap_or_default().into_iter().collect();
    let block = row
        .item_ids
        .unwrap_or_default()
        .into_iter()
        .zip(row.title_tfs.unwrap_or_default())
        .zip(row.content_tfs.unwrap_or_default())
        .zip(row.title_lengths.unwrap_or_default())
        .zip(row.content_lengths.unwrap_or_default())
        .zip(row.source_ids.unwrap_or_default());
    block.filter_map(
        move |(((((item_id, title_tf), content_tf), title_length), content_length), source_id)| {
            (!dead.contains(&item_id)).then_some(Posting {
                item_id,
                title_tf: title_tf.max(0) as u32,
                content_tf: content_tf.max(0) as u32,
                title_length: title_length.max(0) as u32,
                content_length: content_length.max(0) as u32,
                source_id,
            })
        },
    )
}

/// The heads of `ids`, from the pool's copy where it holds them at `version`, else read (and
/// kept). `false` when a write changed the index since `version`.
async fn heads(
    steps: &Steps<'_>,
    cache: Option<&LexicalCache>,
    version: i64,
    ids: &[i64],
) -> Result<(HashMap<i64, Arc<Head>>, bool), Error> {
    let (mut found, missing) = match cache {
        Some(cache) => cache.heads(version, ids),
        None => (HashMap::new(), ids.to_vec()),
    };
    if missing.is_empty() {
        return Ok((found, true));
    }
    let (read_version, read) = read_heads(steps, &missing).await?;
    let read_version = read_version.unwrap_or(version);
    if let Some(cache) = cache
        && read_version == version
    {
        cache.keep_heads(version, &read);
    }
    found.extend(read);
    Ok((found, read_version == version))
}

/// The heads of `ids` read now (those that exist, in no particular order), and the lexical
/// index's version in the same snapshot (`None` when no id exists).
pub(crate) async fn read_heads(
    steps: &Steps<'_>,
    ids: &[i64],
) -> Result<(Option<i64>, Vec<(i64, Arc<Head>)>), Error> {
    let rows = steps
        .read(ReadPath::PRIMARY, |client| async move {
            queries::get_item_heads()
                .bind(&client, &ids)
                .all()
                .await
                .map_err(Error::from_driver)
        })
        .await?;
    let version = rows.first().map(|row| row.version);
    let mut read = Vec::with_capacity(rows.len());
    for row in rows {
        let head = Arc::new(Head {
            source: row.source,
            external_id: row.external_id,
            title: row.title,
            content_hash: content_hash_from_db(&row.content_hash)?,
            page_starts: row.page_starts.map(page_starts_from_db).transpose()?,
        });
        read.push((row.id, head));
    }
    Ok((version, read))
}
