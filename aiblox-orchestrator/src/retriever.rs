//! Candidate items from the knowledge base, through the contract's `ItemRepo` only.

use aiblox_kb::{ItemRepo, KbItem, KbPool};

/// An item worth chunking and scoring, with its retrieval rank.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The item.
    pub item: KbItem,
    /// Full-text rank (0 for a direct lookup).
    pub rank: f64,
}

/// Finds candidate items.
#[derive(Debug, Clone)]
pub struct Retriever {
    pool: KbPool,
    limit: u32,
}

impl Retriever {
    /// A retriever returning at most `limit` candidates per search.
    pub fn new(pool: KbPool, limit: u32) -> Self {
        Retriever { pool, limit }
    }

    /// Items matching any word of the question, best first. Plain full-text search requires
    /// every word; real questions ("how do I reclaim disk space") rarely have them all, so the
    /// contract's any-word search ranks items by how often they hold the question's words.
    pub async fn search(
        &self,
        question: &str,
        sources: Option<&[String]>,
    ) -> Result<Vec<Candidate>, aiblox_kb::Error> {
        let hits = ItemRepo::new(&self.pool)
            .search_any_word(question, sources, self.limit)
            .await?;
        Ok(hits
            .into_iter()
            .map(|hit| Candidate {
                item: hit.item,
                rank: f64::from(hit.rank),
            })
            .collect())
    }

    /// The item with this identity, if it exists (and is in `sources`, when given).
    pub async fn lookup(
        &self,
        source: &str,
        external_id: &str,
        sources: Option<&[String]>,
    ) -> Result<Option<Candidate>, aiblox_kb::Error> {
        if sources.is_some_and(|sources| !sources.iter().any(|s| s == source)) {
            return Ok(None);
        }
        let item = ItemRepo::new(&self.pool)
            .get_by_key(source, external_id)
            .await?;
        Ok(item.map(|item| Candidate { item, rank: 0.0 }))
    }
}
