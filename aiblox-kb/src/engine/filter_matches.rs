//! A pool's copy of filters' matches ([`ItemSet`]), each valid for one version of the items
//! (`item_facts_stats`, V0007): a filter asked again while no item was written costs one
//! short statement that reads the version.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::ItemSet;

/// Most filters kept: past it, what is kept is dropped and kept again as asked.
const MOST_FILTERS_KEPT: usize = 256;
/// Most ids kept over all filters (8 bytes each): past it, what is kept is dropped too.
const MOST_IDS_KEPT: usize = 4_000_000;
/// How long matches are trusted by their version alone. The version only grows on one
/// database; a restore or a failover to a standby that missed writes can take it back and, by
/// as many writes, to a value kept here, naming other items: read anew now and then.
const KEPT_FOR: Duration = Duration::from_secs(10);

/// Matches by the filter's jsonpath, with the version they are of and when they were read.
#[derive(Debug, Default)]
pub(crate) struct FilterMatches {
    kept: Mutex<Kept>,
}

#[derive(Debug, Default)]
struct Kept {
    by_filter: HashMap<String, (i64, Arc<ItemSet>, Instant)>,
    ids: usize,
}

impl FilterMatches {
    /// The matches kept for this filter, with the version of the items they are of (none
    /// when read longer ago than [`KEPT_FOR`]).
    pub(crate) fn get(&self, filter: &str) -> Option<(i64, Arc<ItemSet>)> {
        let kept = self.lock();
        let (version, matches, read) = kept.by_filter.get(filter)?;
        (read.elapsed() < KEPT_FOR).then(|| (*version, Arc::clone(matches)))
    }

    /// Keeps `matches` of `filter` as of `version`, unless newer ones read lately are kept (a
    /// read replica behind the primary reads an older version).
    pub(crate) fn keep(&self, filter: &str, version: i64, matches: &Arc<ItemSet>) {
        let mut kept = self.lock();
        if let Some((newer, _, read)) = kept.by_filter.get(filter)
            && *newer > version
            && read.elapsed() < KEPT_FOR
        {
            return;
        }
        if let Some((_, old, _)) = kept.by_filter.remove(filter) {
            kept.ids -= old.len();
        }
        if kept.by_filter.len() >= MOST_FILTERS_KEPT || kept.ids + matches.len() > MOST_IDS_KEPT {
            kept.by_filter.clear();
            kept.ids = 0;
        }
        kept.ids += matches.len();
        kept.by_filter.insert(
            filter.to_owned(),
            (version, Arc::clone(matches), Instant::now()),
        );
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.kept.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
