//! What a query keeps, the same for every leg and for lookups: the sources it names (narrowed
//! to its key's), and the items its filter matches.

use std::sync::Arc;

use aiblox_kb::{ItemFilter, ItemSet, KbPool};

use super::lexical::ReadAt;

/// The sources and items a query keeps (`None`: every one).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Narrowing<'q> {
    pub(crate) sources: Option<&'q [String]>,
    pub(crate) within: Option<&'q ItemSet>,
}

impl<'q> Narrowing<'q> {
    /// Of these sources (none: every one) and within these items (none: every one).
    pub(crate) fn new(sources: Option<&'q [String]>, within: Option<&'q ItemSet>) -> Self {
        Narrowing { sources, within }
    }

    /// Whether the item `id` of `source` is kept.
    pub(crate) fn keeps(&self, source: &str, id: i64) -> bool {
        self.sources
            .is_none_or(|sources| sources.iter().any(|kept| kept == source))
            && self.within.is_none_or(|within| within.contains(id))
    }
}

/// The items `filter` matches, as of now (none without a filter).
pub(crate) async fn matches(
    pool: &KbPool,
    filter: Option<&ItemFilter>,
    at: ReadAt,
) -> Result<Option<Arc<ItemSet>>, aiblox_kb::Error> {
    match filter {
        Some(filter) => Ok(Some(at.items(pool).matching(filter).await?)),
        None => Ok(None),
    }
}
