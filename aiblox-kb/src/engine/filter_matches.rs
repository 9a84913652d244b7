//! A pool's copy of filters' matches ([`ItemSet`]), each valid for one version of the items
//! (`item_facts_stats`, V0007): a filter asked again while no item was written costs one
//! short statement that reads the version.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use crate::ItemSet;

/// Most filters kept: past it, what is kept is dropped and kept again as asked.
const MOST_FILTERS_KEPT: usize = 256;

/// Matches by the filter's jsonpath.
#[derive(Debug, Default)]
pub(crate) struct FilterMatches {
    kept: Mutex<HashMap<String, (i64, Arc<ItemSet>)>>,
}

impl FilterMatches {
    /// The matches kept for this filter, with the version of the items they are of.
    pub(crate) fn get(&self, filter: &str) -> Option<(i64, Arc<ItemSet>)> {
        self.lock().get(filter).cloned()
    }

    /// Keeps `matches` of `filter` as of `version`, unless newer ones are kept (a read replica
    /// behind the primary reads an older version: the version only grows).
    pub(crate) fn keep(&self, filter: &str, version: i64, matches: &Arc<ItemSet>) {
        let mut kept = self.lock();
        match kept.get_mut(filter) {
            Some((newer, _)) if *newer > version => {}
            Some(entry) => *entry = (version, Arc::clone(matches)),
            None => {
                if kept.len() >= MOST_FILTERS_KEPT {
                    kept.clear();
                }
                kept.insert(filter.to_owned(), (version, Arc::clone(matches)));
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (i64, Arc<ItemSet>)>> {
        self.kept.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
