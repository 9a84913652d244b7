//! [`ItemRepo`]: writing items in idempotent batches, reading them back, searching them.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::sync::Arc;

use aiblox_kb_gen::client::GenericClient;
use aiblox_kb_gen::queries::item as queries;
use futures::TryStreamExt as _;
use sha2::{Digest as _, Sha256};

use crate::engine::{
    BatchFetch, Executor, ItemGets, KbClient, KbPool, ReadPath, Runner, Steps, distinct_sorted,
    hand_out,
};
use crate::repos::lexical;
use crate::repos::{content_hash_from_db, timestamp_from_db};
use crate::{
    Bm25, Error, ItemDigest, ItemFilter, ItemSet, KbItem, KbPosition, NewItem, RankedItem,
    RankedItems, SearchHit, UpsertOutcome, UpsertStatus,
};

/// Longest `source`, in bytes (the schema's limit).
const MAX_SOURCE_BYTES: usize = 256;
/// Longest `external_id`, in bytes (the schema's limit).
const MAX_EXTERNAL_ID_BYTES: usize = 1024;
/// Most pages one item may have ([`NewItem::page_starts`]).
pub const MAX_PAGES: usize = 100_000;
/// Most ids [`ItemRepo::delete_many`] deletes in one call.
const MAX_IDS_DELETED: usize = 10_000;
/// Most keys [`ItemRepo::keys_of_source`] lists in one page.
const MAX_KEYS_LISTED: usize = 10_000;
/// Most results one search may ask for.
const MAX_SEARCH_LIMIT: u32 = 1000;

/// Reads and writes items. Build one per use on a pool, a connection or a transaction; it
/// holds nothing but that reference.
///
/// ```no_run
/// # async fn demo(pool: &aiblox_kb::KbPool) -> Result<(), aiblox_kb::Error> {
/// use aiblox_kb::{ItemRepo, NewItem, UpsertStatus};
///
/// let items = ItemRepo::new(pool);
/// let outcomes = items
///     .upsert(&[NewItem::new("docs", "intro.md", "PostgreSQL is a database.").with_title("Intro")])
///     .await?;
/// assert_eq!(outcomes[0].status, UpsertStatus::Inserted);
/// let hits = items.search("database", None, 10).await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Copy)]
pub struct ItemRepo<'a> {
    runner: Runner<'a>,
}

impl<'a> ItemRepo<'a> {
    /// Items on `executor`: a [`KbPool`](crate::KbPool), a [`KbConnection`](crate::KbConnection)
    /// or a [`KbTransaction`](crate::KbTransaction).
    pub fn new(executor: &'a impl Executor) -> Self {
        ItemRepo {
            runner: Runner::of(executor),
        }
    }

    /// The same repository, its reads seeing every write committed before `position` (taken
    /// with [`KbPool::position`](crate::KbPool::position) after those writes, here or in
    /// another process): on a pool with read replicas, a read goes to a replica only once it
    /// has replayed that far, else to the primary. Without replicas, or on a connection or a
    /// transaction, reads see every committed write anyway.
    pub fn after(mut self, position: KbPosition) -> Self {
        self.runner = self.runner.after(position);
        self
    }

    /// Inserts or updates a batch of items in one statement (atomic), keyed by
    /// `(source, external_id)`, and reports, in input order, each item's id and whether it was
    /// inserted, updated or left unchanged (same title, content and metadata: not written).
    ///
    /// Idempotent: upserting the same batch again reports every item unchanged. Concurrent
    /// batches over the same keys do not deadlock (rows are written in key order).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when an item breaks a rule (empty or too long `source` or
    /// `external_id`, metadata not an object, a NUL character in a text) or when two items of
    /// the batch share a key; nothing is written then.
    pub async fn upsert(&self, items: &[NewItem]) -> Result<Vec<UpsertOutcome>, Error> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        validate_batch(items)?;
        self.runner
            .write(|client| async move { upsert(&client, items).await })
            .await
    }

    /// The item with this id, if it exists.
    ///
    /// On a [`KbPool`](crate::KbPool) that shares connections for reads (the default),
    /// concurrent gets are coalesced: those that arrive while others are in flight go out
    /// together in one query. A lone get goes out at once.
    pub async fn get(&self, id: i64) -> Result<Option<KbItem>, Error> {
        if let Some(pool) = self.runner.coalescing_pool() {
            return pool.item_gets().get(&PoolItems(pool), id).await;
        }
        self.runner
            .read(ReadPath::REPLICA_PIPELINED, |client| async move {
                read_item(&client, id).await
            })
            .await
    }

    /// The items with these ids, in the order asked, `None` where an id does not exist
    /// (duplicates are answered twice). One round trip.
    pub async fn get_many(&self, ids: &[i64]) -> Result<Vec<Option<KbItem>>, Error> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let unique = &distinct_sorted(ids);
        let items = self
            .runner
            .read(ReadPath::REPLICA, |client| async move {
                read_items(queries::get_items().bind(&client, unique), unique.len()).await
            })
            .await?;
        Ok(hand_out(ids, items))
    }

    /// Which of `sources` hold at least one item, in the order given (for telling a caller
    /// that a source it named has nothing). [`Error::InvalidInput`] for more than
    /// 1,000 sources.
    pub async fn sources_with_items(&self, sources: &[String]) -> Result<Vec<String>, Error> {
        if sources.len() > MAX_SOURCES_ASKED {
            return Err(Error::invalid(format!(
                "{} sources asked about; the limit is {MAX_SOURCES_ASKED}",
                sources.len()
            )));
        }
        if sources.is_empty() {
            return Ok(Vec::new());
        }
        self.runner
            .read(ReadPath::REPLICA, |client| async move {
                queries::sources_with_items()
                    .bind(&client, &sources)
                    .all()
                    .await
                    .map_err(Error::from_driver)
            })
            .await
    }

    /// The digests (id, external id, content hash, update time) of the items of `source`, in
    /// external id order, those after `after` (the last external id of the previous page), at
    /// most `limit` (1 to 10,000): a source page by page, for a client that keeps it in sync
    /// (`GET /v1/sources/{source}/items`).
    pub async fn digests_of_source(
        &self,
        source: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ItemDigest>, Error> {
        if !(1..=MAX_KEYS_LISTED).contains(&limit) {
            return Err(Error::invalid(format!(
                "a page of {limit} items; it must be 1 to {MAX_KEYS_LISTED}"
            )));
        }
        let limit = limit as i64;
        self.runner
            .read(ReadPath::REPLICA, |client| async move {
                queries::source_item_digests()
                    .bind(&client, &source, &after, &limit)
                    .all()
                    .await
                    .map_err(Error::from_driver)?
                    .into_iter()
                    .map(|row| {
                        Ok(ItemDigest {
                            id: row.id,
                            external_id: row.external_id,
                            content_hash: content_hash_from_db(&row.content_hash)?,
                            updated_at: timestamp_from_db(row.updated_at),
                        })
                    })
                    .collect()
            })
            .await
    }

    /// Every source that holds items, with how many, by name: what a knowledge base holds, for
    /// a listing (`GET /v1/sources`). Counts every item of the schema: seconds at many
    /// millions of items.
    pub async fn source_counts(&self) -> Result<Vec<(String, i64)>, Error> {
        self.runner
            .read(ReadPath::REPLICA, |client| async move {
                Ok(queries::source_counts()
                    .bind(&client)
                    .all()
                    .await
                    .map_err(Error::from_driver)?
                    .into_iter()
                    .map(|row| (row.source, row.items))
                    .collect())
            })
            .await
    }

    /// The item with this identity, if it exists.
    pub async fn get_by_key(
        &self,
        source: &str,
        external_id: &str,
    ) -> Result<Option<KbItem>, Error> {
        self.runner
            .read(ReadPath::REPLICA_PIPELINED, |client| async move {
                queries::get_item_by_key()
                    .bind(&client, &source, &external_id)
                    .map(item_from_borrowed)
                    .opt()
                    .await
                    .map_err(Error::from_driver)?
                    .transpose()
            })
            .await
    }

    /// Deletes the item and its cached chunks. Returns whether it existed.
    pub async fn delete(&self, id: i64) -> Result<bool, Error> {
        self.runner
            .write(|client| async move {
                Ok(queries::delete_item()
                    .bind(&client, &id)
                    .await
                    .map_err(Error::from_driver)?
                    > 0)
            })
            .await
    }

    /// Deletes the item with this identity (and its cached chunks and vectors) in one
    /// statement, on the primary. Returns whether it existed.
    pub async fn delete_by_key(&self, source: &str, external_id: &str) -> Result<bool, Error> {
        self.runner
            .write(|client| async move {
                Ok(queries::delete_item_by_key()
                    .bind(&client, &source, &external_id)
                    .await
                    .map_err(Error::from_driver)?
                    > 0)
            })
            .await
    }

    /// Deletes these items (and their cached chunks and vectors) in one statement. Returns how
    /// many existed. [`Error::InvalidInput`] for more than 10,000 ids.
    pub async fn delete_many(&self, ids: &[i64]) -> Result<u64, Error> {
        if ids.len() > MAX_IDS_DELETED {
            return Err(Error::invalid(format!(
                "{} items to delete in one call; the limit is {MAX_IDS_DELETED}",
                ids.len()
            )));
        }
        if ids.is_empty() {
            return Ok(0);
        }
        self.runner
            .write(|client| async move {
                queries::delete_items()
                    .bind(&client, &ids)
                    .await
                    .map_err(Error::from_driver)
            })
            .await
    }

    /// The ids and external ids of the items of `source`, in external id order, those after
    /// `after` (the last external id of the previous page), at most `limit` (1 to 10,000): all
    /// of a source's items, page by page, for mirroring it (an ingestion block's prune).
    pub async fn keys_of_source(
        &self,
        source: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(i64, String)>, Error> {
        if !(1..=MAX_KEYS_LISTED).contains(&limit) {
            return Err(Error::invalid(format!(
                "a page of {limit} keys; it must be 1 to {MAX_KEYS_LISTED}"
            )));
        }
        let limit = limit as i64;
        self.runner
            .read(ReadPath::PRIMARY, |client| async move {
                Ok(queries::source_item_keys()
                    .bind(&client, &source, &after, &limit)
                    .all()
                    .await
                    .map_err(Error::from_driver)?
                    .into_iter()
                    .map(|row| (row.id, row.external_id))
                    .collect())
            })
            .await
    }

    /// Full-text search over titles (weighted higher) and contents, best first.
    ///
    /// `text` uses web-search syntax (`"quoted phrase"`, `or`, `-excluded`; plain words must
    /// all match). `sources`, when given, keeps items of those sources only. `limit` is
    /// 1 to 1000.
    pub async fn search(
        &self,
        text: &str,
        sources: Option<&[String]>,
        limit: u32,
    ) -> Result<Vec<SearchHit>, Error> {
        if text.trim().is_empty() {
            return Err(Error::invalid("the search text is empty"));
        }
        if text.contains('\0') {
            return Err(Error::invalid("the search text contains a NUL character"));
        }
        let (sources, limit) = search_bounds(sources, limit)?;
        let sources = &sources;
        let rows = self
            .runner
            .read(ReadPath::REPLICA, |client| async move {
                queries::search_items()
                    .bind(&client, &text, sources, &limit)
                    .all()
                    .await
                    .map_err(Error::from_driver)
            })
            .await?;
        rows.into_iter().map(hit_from_row).collect()
    }

    /// Items holding any word of a natural-language `question`, ranked by how often they hold
    /// them (titles weigh more), best first: what a question needs, where [`ItemRepo::search`]
    /// wants every word. Only the question's letters and digits are used (no search operators);
    /// a question without any word finds nothing. `sources` and `limit` as for `search`.
    pub async fn search_any_word(
        &self,
        question: &str,
        sources: Option<&[String]>,
        limit: u32,
    ) -> Result<Vec<SearchHit>, Error> {
        let (sources, limit) = search_bounds(sources, limit)?;
        let Some(query) = any_word_query(question) else {
            return Ok(Vec::new());
        };
        let (query, sources) = (&query, &sources);
        let rows = self
            .runner
            .read(ReadPath::PRIMARY, |client| async move {
                queries::search_items_any_word()
                    .bind(&client, query, sources, &limit)
                    .all()
                    .await
                    .map_err(Error::from_driver)
            })
            .await?;
        rows.into_iter().map(hit_from_row).collect()
    }

    /// The items `filter` matches now: a search's `within` ([`ItemRepo::search_bm25`]), a
    /// lookup's check. One statement, which evaluates the filter over every item (equalities
    /// on metadata at the filter's top go through the metadata's index first); on a
    /// [`KbPool`](crate::KbPool) the set is kept while no item is written (the statement then
    /// only reads the items' version), so a filter asked again costs the database next to
    /// nothing.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a filter [`ItemFilter::validate`] refuses.
    pub async fn matching(&self, filter: &ItemFilter) -> Result<Arc<ItemSet>, Error> {
        filter.validate()?;
        let path = &filter.jsonpath();
        let narrowing = &filter.narrowing();
        let kept = self.runner.pool().map(KbPool::filter_matches);
        let known = kept.and_then(|kept| kept.get(path));
        let known_version = &known.as_ref().map_or(-1, |(version, _)| *version);
        // A connection of its own: evaluating a filter anew reads every item, which would hold
        // up the point reads queued on a shared connection.
        let found = self
            .runner
            .read(ReadPath::REPLICA, |client| async move {
                match narrowing {
                    Some(narrowing) => {
                        queries::item_filter_matches_narrowed()
                            .bind(&client, known_version, narrowing, path)
                            .one()
                            .await
                    }
                    None => {
                        queries::item_filter_matches()
                            .bind(&client, known_version, path)
                            .one()
                            .await
                    }
                }
                .map_err(Error::from_driver)
            })
            .await?;
        match (found.ids, known) {
            (None, Some((_, matches))) => Ok(matches),
            (None, None) => Err(Error::internal(
                "the filter's matches were not read though none were kept",
            )),
            (Some(ids), _) => {
                let matches = Arc::new(ItemSet::new(ids));
                if let Some(kept) = kept {
                    kept.keep(path, found.version, &matches);
                }
                Ok(matches)
            }
        }
    }

    /// Items holding any term of a natural-language `question`, ranked by BM25 over the
    /// contract's lexical index: IDF and average length from the whole corpus, title terms
    /// counted [`Bm25::title_weight`] times. Best first; equal scores in id order.
    ///
    /// Terms are PostgreSQL's `english` lexemes of the question (stemmed, stop words
    /// dropped), the same as the index holds; only its first 4 KiB are read. A question
    /// without any indexed term finds nothing. The index is written with the items, in the
    /// same transaction: a committed item is found at once (on a transaction, its own writes
    /// too). `sources` and `limit` as for [`ItemRepo::search`]; `within`, when given, keeps
    /// only the items of that set (a filter's matches, [`ItemRepo::matching`]). IDF stays
    /// corpus-wide when `sources` or `within` narrow the results.
    ///
    /// On a [`KbPool`](crate::KbPool) the postings read are kept in memory for as long as the
    /// index does not change (one short statement per search checks its version), so
    /// repeated terms cost the database nothing more.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a NUL character in the question, parameters out of range
    /// (`k1` and `title_weight` finite and at least 0, `b` within 0 to 1), or bounds as for
    /// `search`.
    pub async fn search_bm25(
        &self,
        question: &str,
        sources: Option<&[String]>,
        within: Option<&ItemSet>,
        limit: u32,
        parameters: &Bm25,
    ) -> Result<RankedItems, Error> {
        let (sources, limit) = search_bounds(sources, limit)?;
        validate_bm25(parameters)?;
        if question.contains('\0') {
            return Err(Error::invalid("the question contains a NUL character"));
        }
        let question = truncate_at_char(question, MAX_QUESTION_BYTES);
        if question.trim().is_empty() {
            return Ok(RankedItems::default());
        }
        let sources = sources.as_deref();
        let limit = limit as usize;
        let cache = self.runner.pool().map(KbPool::lexical);
        // On a replica, every statement of the search runs on one of its read connections; on
        // the primary, each where its own path says.
        self.runner
            .read_steps(|runner| async move {
                lexical::search(runner, cache, question, sources, within, limit, parameters).await
            })
            .await
    }
}

impl ItemRepo<'_> {
    /// Merges the lexical index's stored postings (schema V0006): items written since the
    /// last merge (fresh ones, whose postings a search computes from their search vectors)
    /// get their postings written in blocks, and per term the newest blocks, while each holds
    /// at most twice the postings of those newer than it, become one block, dropping postings
    /// of items changed or deleted since. Searches find the same items before and after; they
    /// read less after.
    ///
    /// Writers keep the index right without it; a search's cost grows with the fresh items
    /// until a merge. Run it after loading (aiblox-ingest does, every 50,000 items written and
    /// at the end of a run) or now and then beside writers: each step is one statement (on a
    /// pool or a connection, its own short transaction) of up to 25,000 fresh items or 500
    /// terms, and statements that change or delete items wait for the step at hand (inserts do
    /// not). Returns how many steps ran.
    ///
    /// # Errors
    /// [`Error::Database`] from a caller's transaction above READ COMMITTED (a step must see
    /// what committed before its lock), and as any write.
    pub async fn merge_postings(&self) -> Result<u64, Error> {
        let mut steps = 0;
        loop {
            let taken = self
                .runner
                .write(|client| async move {
                    queries::merge_fresh_postings()
                        .bind(&client, &MERGE_FRESH_ITEMS_PER_STEP)
                        .one()
                        .await
                        .map_err(Error::from_driver)
                })
                .await?;
            steps += 1;
            if taken < MERGE_FRESH_ITEMS_PER_STEP {
                break;
            }
        }
        let mut after: Option<String> = None;
        loop {
            let last = after.as_deref();
            after = self
                .runner
                .write(|client| async move {
                    queries::merge_postings()
                        .bind(&client, &last, &MERGE_TERMS_PER_STEP)
                        .one()
                        .await
                        .map_err(Error::from_driver)
                })
                .await?;
            steps += 1;
            if after.is_none() {
                return Ok(steps);
            }
        }
    }

    /// The metadata of the items `ids` (for counting their values: facets), read now, by id;
    /// ids that do not exist are left out. One round trip (at most 10,000 ids).
    pub async fn metadata_of(&self, ids: &[i64]) -> Result<HashMap<i64, serde_json::Value>, Error> {
        if ids.len() > MAX_HEADS {
            return Err(Error::invalid(format!(
                "{} ids in one metadata_of call: at most {MAX_HEADS}",
                ids.len()
            )));
        }
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let ids = &distinct_sorted(ids);
        let rows = self
            .runner
            .read(ReadPath::REPLICA, |client| async move {
                queries::get_item_metadata()
                    .bind(&client, ids)
                    .all()
                    .await
                    .map_err(Error::from_driver)
            })
            .await?;
        rows.into_iter()
            .map(|row| {
                let metadata = serde_json::from_str(&row.metadata).map_err(|err| {
                    Error::internal(format!(
                        "item {} has metadata that is not JSON: {err}",
                        row.id
                    ))
                })?;
                Ok((row.id, metadata))
            })
            .collect()
    }

    /// What a search result shows of the items `ids` (identity, title, content hash; no
    /// content), read now, in the order asked, with score 0; ids that do not exist are left
    /// out. One round trip, whatever the number of ids (at most 10,000).
    pub async fn heads(&self, ids: &[i64]) -> Result<Vec<RankedItem>, Error> {
        if ids.len() > MAX_HEADS {
            return Err(Error::invalid(format!(
                "{} ids in one heads call: at most {MAX_HEADS}",
                ids.len()
            )));
        }
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let (_, read) = lexical::read_heads(&Steps::Runner(self.runner), ids).await?;
        let mut by_id: HashMap<i64, _> = read.into_iter().collect();
        Ok(ids
            .iter()
            .filter_map(|id| Some(by_id.remove(id)?.ranked(*id, 0.0)))
            .collect())
    }
}

/// Most fresh items one step of [`ItemRepo::merge_postings`] writes into blocks.
const MERGE_FRESH_ITEMS_PER_STEP: i32 = 25_000;

/// Most terms one step of [`ItemRepo::merge_postings`] merges.
const MERGE_TERMS_PER_STEP: i32 = 500;

/// Most ids one [`ItemRepo::heads`] call reads.
const MAX_HEADS: usize = 10_000;

/// Longest part of a question [`ItemRepo::search_bm25`] reads, in bytes.
const MAX_QUESTION_BYTES: usize = 4096;

/// `text` cut to at most `max` bytes, on a character boundary.
fn truncate_at_char(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn validate_bm25(parameters: &Bm25) -> Result<(), Error> {
    let Bm25 {
        k1,
        b,
        title_weight,
    } = *parameters;
    if !(k1.is_finite() && k1 >= 0.0) {
        return Err(Error::invalid(format!(
            "BM25 k1 must be a finite number of at least 0, not {k1}"
        )));
    }
    if !(0.0..=1.0).contains(&b) {
        return Err(Error::invalid(format!(
            "BM25 b must be within 0 to 1, not {b}"
        )));
    }
    if !(title_weight.is_finite() && title_weight >= 0.0) {
        return Err(Error::invalid(format!(
            "BM25 title_weight must be a finite number of at least 0, not {title_weight}"
        )));
    }
    Ok(())
}

impl std::fmt::Debug for ItemRepo<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ItemRepo").finish_non_exhaustive()
    }
}

/// Checks a search's source filter and limit.
fn search_bounds(
    sources: Option<&[String]>,
    limit: u32,
) -> Result<(Option<Vec<&str>>, i64), Error> {
    if !(1..=MAX_SEARCH_LIMIT).contains(&limit) {
        return Err(Error::invalid(format!(
            "search limit {limit} is out of range 1..={MAX_SEARCH_LIMIT}"
        )));
    }
    let sources: Option<Vec<&str>> =
        sources.map(|sources| sources.iter().map(String::as_str).collect());
    if sources.as_ref().is_some_and(Vec::is_empty) {
        return Err(Error::invalid(
            "the source filter is empty: pass None to search every source",
        ));
    }
    Ok((sources, i64::from(limit)))
}

/// Most sources [`ItemRepo::sources_with_items`] is asked about at once.
const MAX_SOURCES_ASKED: usize = 1_000;

/// Most distinct words of a question used by [`ItemRepo::search_any_word`].
const MAX_QUESTION_WORDS: usize = 32;

/// The question's distinct words joined by `or` in web-search syntax, or `None` when it has
/// no word. Only letters and digits pass, so no search operator can be injected.
fn any_word_query(question: &str) -> Option<String> {
    let mut words: Vec<String> = Vec::new();
    for word in question
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let word = word.to_lowercase();
        if word != "or" && !words.contains(&word) {
            words.push(word);
        }
        if words.len() == MAX_QUESTION_WORDS {
            break;
        }
    }
    (!words.is_empty()).then(|| words.join(" or "))
}

fn hit_from_row(row: queries::ItemHit) -> Result<SearchHit, Error> {
    let rank = row.rank;
    let item = item_from_row(queries::Item {
        id: row.id,
        source: row.source,
        external_id: row.external_id,
        title: row.title,
        content: row.content,
        content_hash: row.content_hash,
        metadata: row.metadata,
        created_at: row.created_at,
        updated_at: row.updated_at,
        page_starts: row.page_starts,
    })?;
    Ok(SearchHit { item, rank })
}

/// The SHA-256 of an item's content.
pub(crate) fn content_hash(content: &str) -> [u8; 32] {
    Sha256::digest(content.as_bytes()).into()
}

fn validate_batch(items: &[NewItem]) -> Result<(), Error> {
    let mut seen: HashMap<(&str, &str), usize> = HashMap::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let field_error = |rule: &str| {
            Error::invalid(format!(
                "item {index} ({}, {}): {rule}",
                item.source, item.external_id
            ))
        };
        if item.source.is_empty() || item.source.len() > MAX_SOURCE_BYTES {
            return Err(field_error(&format!(
                "source must be 1 to {MAX_SOURCE_BYTES} bytes"
            )));
        }
        if item.external_id.is_empty() || item.external_id.len() > MAX_EXTERNAL_ID_BYTES {
            return Err(field_error(&format!(
                "external_id must be 1 to {MAX_EXTERNAL_ID_BYTES} bytes"
            )));
        }
        if !item.metadata.is_object() {
            return Err(field_error("metadata must be a JSON object"));
        }
        let texts = [
            ("source", Some(&item.source)),
            ("external_id", Some(&item.external_id)),
            ("title", item.title.as_ref()),
            ("content", Some(&item.content)),
        ];
        if let Some((field, _)) = texts
            .iter()
            .find(|(_, text)| text.is_some_and(|text| text.contains('\0')))
        {
            return Err(field_error(&format!(
                "{field} contains a NUL character, which PostgreSQL text cannot hold"
            )));
        }
        if let Some(starts) = &item.page_starts {
            check_page_starts(starts, &item.content).map_err(|rule| field_error(&rule))?;
        }
        if let Some(first) = seen.insert((&item.source, &item.external_id), index) {
            return Err(field_error(&format!(
                "same key as item {first}: one batch may hold each key once"
            )));
        }
    }
    Ok(())
}

/// Why `starts` are not the page starts of `content` ([`NewItem::page_starts`]).
fn check_page_starts(starts: &[u32], content: &str) -> Result<(), String> {
    if starts.is_empty() || starts.len() > MAX_PAGES {
        return Err(format!("page_starts must hold 1 to {MAX_PAGES} pages"));
    }
    if starts[0] != 0 {
        return Err("page_starts must begin with 0".to_owned());
    }
    if let Some(page) = starts.windows(2).position(|pair| pair[1] < pair[0]) {
        return Err(format!(
            "page_starts must not decrease: page {} starts before page {}",
            page + 2,
            page + 1
        ));
    }
    let past = starts.iter().position(|start| {
        let start = *start as usize;
        start > content.len() || !content.is_char_boundary(start)
    });
    if let Some(page) = past {
        return Err(format!(
            "page {} starts at byte {}, past the content's end ({} bytes) or inside a character",
            page + 1,
            starts[page],
            content.len()
        ));
    }
    Ok(())
}

/// A page list as the upsert statement takes it: an array literal, `{0,812,1650}`.
fn page_starts_literal(starts: &[u32]) -> String {
    let mut literal = String::with_capacity(starts.len() * 7 + 2);
    literal.push('{');
    for (index, start) in starts.iter().enumerate() {
        if index > 0 {
            literal.push(',');
        }
        literal.push_str(&start.to_string());
    }
    literal.push('}');
    literal
}

async fn upsert<C: GenericClient>(
    client: &C,
    items: &[NewItem],
) -> Result<Vec<UpsertOutcome>, Error> {
    let sources: Vec<&str> = items.iter().map(|item| item.source.as_str()).collect();
    let external_ids: Vec<&str> = items.iter().map(|item| item.external_id.as_str()).collect();
    let titles: Vec<Option<&str>> = items.iter().map(|item| item.title.as_deref()).collect();
    let contents: Vec<&str> = items.iter().map(|item| item.content.as_str()).collect();
    let hashes: Vec<[u8; 32]> = items
        .iter()
        .map(|item| content_hash(&item.content))
        .collect();
    let hashes: Vec<&[u8]> = hashes.iter().map(|hash| hash.as_slice()).collect();
    let metadata: Vec<&serde_json::Value> = items.iter().map(|item| &item.metadata).collect();
    let page_starts: Vec<Option<String>> = items
        .iter()
        .map(|item| item.page_starts.as_deref().map(page_starts_literal))
        .collect();

    let rows = queries::upsert_items()
        .bind(
            client,
            &sources,
            &external_ids,
            &titles,
            &contents,
            &hashes,
            &metadata,
            &page_starts,
        )
        .all()
        .await
        .map_err(Error::from_driver)?;
    if rows.len() != items.len() {
        return Err(Error::internal(format!(
            "upsert returned {} rows for {} items",
            rows.len(),
            items.len()
        )));
    }

    let late_ids = ids_written_meanwhile(client, &rows, &sources, &external_ids).await?;
    rows.into_iter()
        .zip(items)
        .map(|(row, item)| {
            let id = match row.id {
                Some(id) => id,
                None => *late_ids.get(&(item.source.clone(), item.external_id.clone())).ok_or_else(|| {
                    Error::conflict(format!(
                        "item ({}, {}) was deleted by a concurrent writer during the upsert; retry",
                        item.source, item.external_id
                    ))
                })?,
            };
            let status = match (row.inserted, row.written) {
                (true, _) => UpsertStatus::Inserted,
                (false, true) => UpsertStatus::Updated,
                (false, false) => UpsertStatus::Unchanged,
            };
            Ok(UpsertOutcome { id, status })
        })
        .collect()
}

/// The ids of the rows without one: another writer inserted the same key after the upsert
/// statement's snapshot, with the same values (else the statement would have updated it).
async fn ids_written_meanwhile<C: GenericClient>(
    client: &C,
    rows: &[queries::UpsertItems],
    sources: &[&str],
    external_ids: &[&str],
) -> Result<HashMap<(String, String), i64>, Error> {
    let unresolved: Vec<usize> = rows
        .iter()
        .enumerate()
        .filter(|(_, row)| row.id.is_none())
        .map(|(i, _)| i)
        .collect();
    let mut late_ids = HashMap::new();
    if unresolved.is_empty() {
        return Ok(late_ids);
    }
    let sources: Vec<&str> = unresolved.iter().map(|&i| sources[i]).collect();
    let external_ids: Vec<&str> = unresolved.iter().map(|&i| external_ids[i]).collect();
    for row in queries::get_item_ids_by_keys()
        .bind(client, &sources, &external_ids)
        .all()
        .await
        .map_err(Error::from_driver)?
    {
        late_ids.insert((row.source, row.external_id), row.id);
    }
    Ok(late_ids)
}

/// The rows of an item query, each mapped straight from the driver's buffer into a
/// [`KbItem`] kept in a vector sized for the `expected` rows (no growth on the way).
async fn read_items<C: GenericClient>(
    query: queries::ItemQuery<'_, '_, '_, C, queries::Item, 1>,
    expected: usize,
) -> Result<Vec<KbItem>, Error> {
    let rows = query
        .map(item_from_borrowed)
        .iter()
        .await
        .map_err(Error::from_driver)?;
    let mut rows = std::pin::pin!(rows);
    let mut items = Vec::with_capacity(expected);
    while let Some(row) = rows.try_next().await.map_err(Error::from_driver)? {
        items.push(row?);
    }
    Ok(items)
}

/// The items of coalesced gets ([`ItemRepo::get`] on a pool): the pool, borrowed or owned.
struct PoolItems<P>(P);

impl<P: Borrow<KbPool> + Send + Sync> BatchFetch for PoolItems<P> {
    type Owned = PoolItems<KbPool>;

    fn to_owned(&self) -> PoolItems<KbPool> {
        PoolItems(self.0.borrow().clone())
    }

    fn gets(&self) -> &ItemGets {
        self.0.borrow().item_gets()
    }

    fn fetch(&self, ids: &[i64]) -> impl Future<Output = Result<Vec<KbItem>, Error>> + Send {
        fetch_items(self.0.borrow(), ids)
    }
}

/// The items with these (distinct) ids, in one query on a read connection of `pool` (a read
/// replica's when one serves reads).
async fn fetch_items(pool: &KbPool, ids: &[i64]) -> Result<Vec<KbItem>, Error> {
    Runner::of(pool)
        .read(ReadPath::REPLICA_PIPELINED, |client| async move {
            match ids {
                // A batch of one (no concurrent gets): the single-row statement. Through
                // `= ANY($1)` a lone get cost 25 % more latency and 40 % more server CPU
                // (docs/benchmarks.md).
                [id] => Ok(read_item(&client, *id).await?.into_iter().collect()),
                _ => read_items(queries::get_items().bind(&client, &ids), ids.len()).await,
            }
        })
        .await
}

/// The item with this id, if it exists.
async fn read_item(client: &KbClient<'_>, id: i64) -> Result<Option<KbItem>, Error> {
    queries::get_item()
        .bind(client, &id)
        .map(item_from_borrowed)
        .opt()
        .await
        .map_err(Error::from_driver)?
        .transpose()
}

/// An item straight from the driver's row buffer: each field copied once, the content hash
/// into its array without an intermediate `Vec`, the metadata parsed once from its text.
fn item_from_borrowed(row: queries::ItemBorrowed<'_>) -> Result<KbItem, Error> {
    Ok(KbItem {
        id: row.id,
        source: row.source.to_owned(),
        external_id: row.external_id.to_owned(),
        title: row.title.map(str::to_owned),
        content: row.content.to_owned(),
        content_hash: content_hash_from_db(row.content_hash)?,
        metadata: metadata_from_db(row.metadata)?,
        page_starts: row.page_starts.map(page_starts_from_db).transpose()?,
        created_at: timestamp_from_db(row.created_at),
        updated_at: timestamp_from_db(row.updated_at),
    })
}

/// Page starts as stored (`integer[]`, never negative: the contract writes them) as offsets.
pub(crate) fn page_starts_from_db(
    starts: impl IntoIterator<Item = i32>,
) -> Result<Vec<u32>, Error> {
    starts
        .into_iter()
        .map(|start| {
            u32::try_from(start)
                .map_err(|_| Error::internal(format!("a stored page start is negative: {start}")))
        })
        .collect()
}

/// Metadata read as text (`metadata::text` in the queries) into JSON: parsed once.
fn metadata_from_db(text: &str) -> Result<serde_json::Value, Error> {
    serde_json::from_str(text)
        .map_err(|err| Error::internal(format!("stored metadata is not JSON: {err}")))
}

fn item_from_row(row: queries::Item) -> Result<KbItem, Error> {
    Ok(KbItem {
        id: row.id,
        source: row.source,
        external_id: row.external_id,
        title: row.title,
        content: row.content,
        content_hash: content_hash_from_db(&row.content_hash)?,
        metadata: metadata_from_db(&row.metadata)?,
        page_starts: row.page_starts.map(page_starts_from_db).transpose()?,
        created_at: timestamp_from_db(row.created_at),
        updated_at: timestamp_from_db(row.updated_at),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: i64) -> KbItem {
        KbItem {
            id,
            source: "docs".to_owned(),
            external_id: id.to_string(),
            title: None,
            content: format!("content of {id}"),
            content_hash: [0; 32],
            metadata: serde_json::json!({}),
            page_starts: None,
            created_at: chrono::DateTime::UNIX_EPOCH,
            updated_at: chrono::DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn page_starts_are_checked_against_the_content() {
        let content = "page one\u{e9}page two";
        assert_eq!(check_page_starts(&[0, 10, 10], content), Ok(()));
        assert_eq!(
            check_page_starts(&[0, 18], content),
            Ok(()),
            "an empty last page"
        );
        for (starts, expected) in [
            (&[][..], "page_starts must hold 1 to 100000 pages"),
            (&[3], "page_starts must begin with 0"),
            (
                &[0, 10, 4],
                "page_starts must not decrease: page 3 starts before page 2",
            ),
            (
                &[0, 19],
                "page 2 starts at byte 19, past the content's end (18 bytes) or inside a character",
            ),
            (
                &[0, 9],
                "page 2 starts at byte 9, past the content's end (18 bytes) or inside a character",
            ),
        ] {
            assert_eq!(check_page_starts(starts, content).unwrap_err(), expected);
        }
        assert_eq!(page_starts_literal(&[0, 812, 1650]), "{0,812,1650}");
    }

    #[test]
    fn the_page_of_an_offset_is_the_last_page_starting_at_or_before_it() {
        let starts = [0, 10, 10, 25];
        let pages: Vec<Option<u32>> = [0, 9, 10, 24, 25, 400]
            .into_iter()
            .map(|offset| crate::models::page_at(&starts, offset))
            .collect();
        // Page 2 is empty: offset 10 is on page 3.
        assert_eq!(
            pages,
            [Some(1), Some(1), Some(3), Some(3), Some(4), Some(4)]
        );
    }

    #[test]
    fn each_id_gets_its_item_in_the_order_asked_whatever_the_rows_order() {
        let ids = [7, 3, 99, 7, 1, 7, 3, -4];
        // Rows come back in any order, each once; 99 and -4 do not exist.
        let rows = vec![item(3), item(1), item(7)];
        let answered: Vec<Option<i64>> = hand_out(&ids, rows)
            .iter()
            .map(|found| found.as_ref().map(|item| item.id))
            .collect();
        assert_eq!(
            answered,
            [
                Some(7),
                Some(3),
                None,
                Some(7),
                Some(1),
                Some(7),
                Some(3),
                None
            ]
        );
        assert!(hand_out(&[], vec![item(1)]).is_empty());
        assert_eq!(distinct_sorted(&ids), [-4, 1, 3, 7, 99]);
    }

    #[test]
    fn batches_are_validated_before_anything_is_sent() {
        let ok = NewItem::new("docs", "a", "text");
        assert!(validate_batch(std::slice::from_ref(&ok)).is_ok());
        let cases = [
            (NewItem::new("", "a", "x"), "source must be 1 to 256 bytes"),
            (
                NewItem::new("s".repeat(257), "a", "x"),
                "source must be 1 to 256 bytes",
            ),
            (
                NewItem::new("docs", "", "x"),
                "external_id must be 1 to 1024 bytes",
            ),
            (
                NewItem::new("docs", "a", "x").with_metadata(serde_json::json!([1])),
                "metadata must be a JSON object",
            ),
            (
                NewItem::new("docs", "a", "nul\0here"),
                "content contains a NUL character",
            ),
            (
                NewItem::new("docs", "a", "x").with_title("t\0"),
                "title contains a NUL character",
            ),
        ];
        for (item, expected) in cases {
            let err = validate_batch(&[item]).unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
        }
        let err = validate_batch(&[ok.clone(), NewItem::new("docs", "b", "x"), ok])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("item 2 (docs, a): same key as item 0"),
            "{err}"
        );
    }

    #[test]
    fn questions_become_or_queries_without_operators() {
        assert_eq!(
            any_word_query("How do I VACUUM -a \"table\"?").as_deref(),
            Some("how or do or i or vacuum or a or table")
        );
        assert_eq!(
            any_word_query("this or that or this").as_deref(),
            Some("this or that")
        );
        assert_eq!(any_word_query("?!- \"\"").as_deref(), None);
    }

    #[test]
    fn content_hash_is_sha256() {
        let hex = hex::encode(content_hash("abc"));
        assert_eq!(
            hex,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
