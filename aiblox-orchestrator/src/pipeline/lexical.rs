//! The lexical leg and the lookup: candidate items from the knowledge base through the
//! contract's `ItemRepo` only, ranked by BM25 over its lexical index, or named by identity.

use aiblox_kb::{Bm25, ItemRepo, KbPool, KbPosition, QueryTerm, RankedItem};

use super::narrowing::Narrowing;

/// The BM25 parameters of pages and passages, tuned on the development set
/// (docs/retrieval.md): more weight to repeated terms than the textbook `k1` 1.2, a little less
/// length normalisation than its `b` 0.75.
pub(crate) const BM25: Bm25 = Bm25 {
    k1: 2.0,
    b: 0.6,
    title_weight: 2.0,
};

/// Items read as of now: with read replicas, these reads see every write committed before
/// this call (a replica serves them only once it has replayed that far, else the primary
/// does), so a question right after an ingest finds what was ingested. One round trip to the
/// primary with replicas, none without.
pub(crate) async fn items_now(pool: &KbPool) -> Result<ItemRepo<'_>, aiblox_kb::Error> {
    Ok(ReadAt::of(pool, None).await?.items(pool))
}

/// Where a question's reads stand: at a position every read must see (the caller's `after`, a
/// write's; else, with read replicas, the primary's when the question arrived: one round trip
/// for the whole question), or anywhere (no replicas: every read sees every committed write).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ReadAt(Option<KbPosition>);

impl ReadAt {
    /// The reads of a question that gives `after` (or none).
    pub(crate) async fn of(
        pool: &KbPool,
        after: Option<KbPosition>,
    ) -> Result<ReadAt, aiblox_kb::Error> {
        Ok(ReadAt(match after {
            Some(after) => Some(after),
            None if pool.has_replicas() => Some(pool.position().await?),
            None => None,
        }))
    }

    /// The items, read as of this position.
    pub(crate) fn items(self, pool: &KbPool) -> ItemRepo<'_> {
        let items = ItemRepo::new(pool);
        match self.0 {
            Some(at) => items.after(at),
            None => items,
        }
    }
}

/// An item worth scoring passages of, with its retrieval score (0 for a direct lookup): the
/// contract's search result. Its content is not fetched: passages come from the chunk cache.
pub(crate) type Candidate = RankedItem;

/// The candidates of one query and the question's terms with their corpus IDF.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Retrieved {
    /// The question's indexed terms (none for a direct lookup).
    pub(crate) terms: Vec<QueryTerm>,
    /// Best first.
    pub(crate) candidates: Vec<Candidate>,
}

/// Finds candidate items by their words, or by identity.
#[derive(Debug, Clone)]
pub(crate) struct LexicalLeg {
    pool: KbPool,
    limit: u32,
    bm25: Bm25,
}

impl LexicalLeg {
    /// The leg, returning at most `limit` candidates per search, ranked with `bm25`.
    pub(crate) fn new(pool: KbPool, limit: u32, bm25: Bm25) -> Self {
        LexicalLeg { pool, limit, bm25 }
    }

    /// Most candidates one search returns (per leg).
    pub(crate) fn limit(&self) -> u32 {
        self.limit
    }

    /// The BM25 parameters it ranks with (passages are scored with the same).
    pub(crate) fn bm25(&self) -> &Bm25 {
        &self.bm25
    }

    /// Items holding any term of the question, ranked by BM25 over the contract's lexical
    /// index (corpus-wide IDF and length normalisation), best first; as of now (a read
    /// replica answers only once it has replayed every write committed before the question).
    pub(crate) async fn search(
        &self,
        question: &str,
        narrowing: Narrowing<'_>,
        at: ReadAt,
    ) -> Result<Retrieved, aiblox_kb::Error> {
        let Narrowing { sources, within } = narrowing;
        let ranked = at
            .items(&self.pool)
            .search_bm25(question, sources, within, self.limit, &self.bm25)
            .await?;
        Ok(Retrieved {
            terms: ranked.terms,
            candidates: ranked.items,
        })
    }

    /// The sources of `asked` that hold no item, where no candidate is of them (a source
    /// with a candidate holds one; the others cost one round trip, as of now).
    pub(crate) async fn sources_without_items(
        &self,
        asked: &[String],
        candidates: &[Candidate],
        at: ReadAt,
    ) -> Result<Vec<String>, aiblox_kb::Error> {
        let mut unseen: Vec<String> = Vec::new();
        for source in asked {
            if !candidates.iter().any(|c| &c.source == source) && !unseen.contains(source) {
                unseen.push(source.clone());
            }
        }
        if unseen.is_empty() {
            return Ok(unseen);
        }
        let present = at.items(&self.pool).sources_with_items(&unseen).await?;
        Ok(unseen
            .into_iter()
            .filter(|source| !present.contains(source))
            .collect())
    }

    /// The item with this identity, if it exists and the query keeps it (one it does not
    /// keep is answered as a missing one).
    pub(crate) async fn lookup(
        &self,
        source: &str,
        external_id: &str,
        narrowing: Narrowing<'_>,
        at: ReadAt,
    ) -> Result<Option<Candidate>, aiblox_kb::Error> {
        if narrowing
            .sources
            .is_some_and(|sources| !sources.iter().any(|s| s == source))
        {
            return Ok(None);
        }
        let item = at
            .items(&self.pool)
            .get_by_key(source, external_id)
            .await?
            .filter(|item| narrowing.keeps(&item.source, item.id));
        Ok(item.map(|item| Candidate {
            id: item.id,
            source: item.source,
            external_id: item.external_id,
            title: item.title,
            content_hash: item.content_hash,
            score: 0.0,
            page_starts: item.page_starts,
        }))
    }
}
