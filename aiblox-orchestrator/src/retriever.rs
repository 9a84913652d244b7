//! Candidate items from the knowledge base, through the contract's `ItemRepo` only.

use aiblox_kb::{ItemRepo, KbItem, KbPool};

/// Most distinct words of a question used for retrieval.
const MAX_QUERY_WORDS: usize = 32;

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
    /// words are OR-ed and the rank (cover density, title weighted) orders the matches.
    pub async fn search(
        &self,
        question: &str,
        sources: Option<&[String]>,
    ) -> Result<Vec<Candidate>, aiblox_kb::Error> {
        let Some(text) = any_word_query(question) else {
            return Ok(Vec::new());
        };
        let hits = ItemRepo::new(&self.pool)
            .search(&text, sources, self.limit)
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

/// The question's distinct words joined by `or` in web-search syntax, or `None` when it has
/// no word at all. Only letters and digits pass, so no search operator can be injected.
pub fn any_word_query(question: &str) -> Option<String> {
    let mut words: Vec<String> = Vec::new();
    for word in question
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let word = word.to_lowercase();
        if word != "or" && !words.contains(&word) {
            words.push(word);
        }
        if words.len() == MAX_QUERY_WORDS {
            break;
        }
    }
    (!words.is_empty()).then(|| words.join(" or "))
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
