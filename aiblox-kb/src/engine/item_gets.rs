//! Coalesced `ItemRepo::get` on a pool: while a few gets are in flight, the gets that arrive
//! meanwhile wait and then go out together as one `id = ANY($1)` query on a shared connection.
//!
//! A lone caller never waits for others: with fewer gets in flight than the limit, a get goes
//! out at once (a batch of one). Batching only starts under load, where it turns N round trips
//! and N statements into one. The caller that starts a batch runs it; if that caller is
//! cancelled mid-batch, the other callers of the batch are put back in the queue and served
//! by the next batch, so one caller's timeout never fails another's read. (A caller that keeps
//! its get future but stops polling it, without dropping it, would hold its batch: futures
//! are polled to completion or dropped, and every select/timeout in tokio does one or the
//! other.)

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use tokio::sync::oneshot;

use crate::{Error, KbItem};

/// Where coalesced gets are read: the pool's coalescer, and the statement that reads a batch.
pub(crate) trait BatchFetch: Send + Sync {
    /// The same, owned, for a batch that a task of its own runs.
    type Owned: BatchFetch + 'static;

    /// The same, owned.
    fn to_owned(&self) -> Self::Owned;

    /// The coalescer these gets go through.
    fn gets(&self) -> &ItemGets;

    /// The items with these (distinct, ascending) ids, in any order.
    fn fetch(&self, ids: &[i64]) -> impl Future<Output = Result<Vec<KbItem>, Error>> + Send;
}

/// Most ids in one batch.
const MAX_BATCH: usize = 256;

/// The queue and the batches in flight of one pool.
#[derive(Debug)]
pub(crate) struct ItemGets {
    state: Mutex<State>,
    max_in_flight: usize,
    /// Batches sent so far (for tests: coalescing shows as fewer batches than gets).
    batches_sent: AtomicU64,
}

#[derive(Debug, Default)]
struct State {
    queue: Vec<Waiter>,
    in_flight: usize,
}

#[derive(Debug)]
struct Waiter {
    id: i64,
    reply: oneshot::Sender<Result<Option<KbItem>, Error>>,
}

impl ItemGets {
    /// At most `max_in_flight` batches at once (0: no coalescing).
    pub(crate) fn new(max_in_flight: usize) -> ItemGets {
        ItemGets {
            state: Mutex::new(State::default()),
            max_in_flight,
            batches_sent: AtomicU64::new(0),
        }
    }

    /// Whether gets are coalesced at all.
    pub(crate) fn enabled(&self) -> bool {
        self.max_in_flight > 0
    }

    /// The item with this id, fetched alone or in a batch with concurrent gets.
    pub(crate) async fn get(
        &self,
        fetch: &impl BatchFetch,
        id: i64,
    ) -> Result<Option<KbItem>, Error> {
        let (reply, answer) = oneshot::channel();
        let batch = {
            let mut state = self.lock();
            state.queue.push(Waiter { id, reply });
            self.start_batch(&mut state)
        };
        if let Some(batch) = batch {
            run_batch(fetch, batch).await;
        }
        answer.await.unwrap_or_else(|_| {
            Err(Error::unavailable(
                "a batched read was abandoned (the runtime is shutting down?); retry",
            ))
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes the next batch off the queue if another may go out now.
    fn start_batch(&self, state: &mut State) -> Option<Vec<Waiter>> {
        state.queue.retain(|waiter| !waiter.reply.is_closed());
        if state.queue.is_empty() || state.in_flight >= self.max_in_flight {
            return None;
        }
        state.in_flight += 1;
        let rest = state.queue.split_off(state.queue.len().min(MAX_BATCH));
        Some(std::mem::replace(&mut state.queue, rest))
    }

    /// A batch is done (or abandoned, with `requeue` waiters still to serve): lets the next
    /// batch go out, run by a task of its own (its callers are all waiting).
    fn finish(&self, fetch: &impl BatchFetch, requeue: Vec<Waiter>) {
        let next = {
            let mut state = self.lock();
            state.in_flight -= 1;
            state.queue.extend(requeue);
            self.start_batch(&mut state)
        };
        if let Some(batch) = next {
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => {
                    let fetch = fetch.to_owned();
                    runtime.spawn(async move { run_batch(&fetch, batch).await });
                }
                Err(_) => {
                    // No runtime to run it on: its callers get an error instead of a hang.
                    self.lock().in_flight -= 1;
                    for waiter in batch {
                        let _ = waiter.reply.send(Err(Error::unavailable(
                            "no async runtime to run a batched read on",
                        )));
                    }
                }
            }
        }
    }
}

/// Runs one batch and answers its callers, then lets the next batch go.
async fn run_batch<F: BatchFetch>(fetch: &F, waiters: Vec<Waiter>) {
    let mut guard = BatchGuard {
        fetch,
        waiters: Some(waiters),
    };
    let ids = guard.ids();
    fetch.gets().batches_sent.fetch_add(1, Ordering::Relaxed);
    let result = fetch.fetch(&ids).await;
    let waiters = guard.waiters.take().unwrap_or_default();
    answer(waiters, result);
    fetch.gets().finish(fetch, Vec::new());
}

/// Gives each caller its item.
fn answer(waiters: Vec<Waiter>, result: Result<Vec<KbItem>, Error>) {
    match result {
        Ok(items) => {
            let ids: Vec<i64> = waiters.iter().map(|waiter| waiter.id).collect();
            let answers = hand_out(&ids, items);
            for (waiter, item) in waiters.into_iter().zip(answers) {
                let _ = waiter.reply.send(Ok(item));
            }
        }
        Err(err) => {
            for waiter in waiters {
                let _ = waiter.reply.send(Err(err.clone()));
            }
        }
    }
}

/// Puts the callers of a batch whose runner was cancelled back in the queue.
struct BatchGuard<'f, F: BatchFetch> {
    fetch: &'f F,
    waiters: Option<Vec<Waiter>>,
}

impl<F: BatchFetch> BatchGuard<'_, F> {
    fn ids(&self) -> Vec<i64> {
        let asked: Vec<i64> = self
            .waiters
            .iter()
            .flatten()
            .map(|waiter| waiter.id)
            .collect();
        distinct_sorted(&asked)
    }
}

impl<F: BatchFetch> Drop for BatchGuard<'_, F> {
    fn drop(&mut self) {
        if let Some(waiters) = self.waiters.take() {
            self.fetch.gets().finish(self.fetch, waiters);
        }
    }
}

/// The distinct ids of `ids`, ascending: what the statement is asked for, in the order its
/// index scan reads them.
pub(crate) fn distinct_sorted(ids: &[i64]) -> Vec<i64> {
    let mut unique = ids.to_vec();
    unique.sort_unstable();
    unique.dedup();
    unique
}

/// The item of each id of `ids`, in order (`None` where absent): moved out of `items`, and
/// cloned only for an id asked for more than once. Found by binary search in `items` sorted
/// by id, which a batch of 100 does in a fraction of what hashing each id twice cost.
pub(crate) fn hand_out(ids: &[i64], mut items: Vec<KbItem>) -> Vec<Option<KbItem>> {
    items.sort_unstable_by_key(|item| item.id);
    let places: Vec<Option<usize>> = ids
        .iter()
        .map(|id| items.binary_search_by_key(id, |item| item.id).ok())
        .collect();
    // How many of the remaining asks name each item: it is moved out at its last.
    let mut asks = vec![0_u32; items.len()];
    for place in places.iter().flatten() {
        asks[*place] += 1;
    }
    let mut items: Vec<Option<KbItem>> = items.into_iter().map(Some).collect();
    places
        .into_iter()
        .map(|place| {
            let place = place?;
            asks[place] -= 1;
            if asks[place] == 0 {
                items[place].take()
            } else {
                items[place].clone()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::{ItemRepo, KbConfig, KbPool, NewItem};

    /// A pool on a fresh schema of the test server, with `ids` of stored items.
    async fn pool_with_items(shared: usize, count: usize) -> (KbPool, Vec<i64>) {
        let schema = format!("t_item_gets_{}_{shared}", std::process::id());
        let config = KbConfig::new(&aiblox_localpg::test_server().url())
            .and_then(|config| config.with_schema(&schema))
            .unwrap();
        crate::migrate(&config).await.unwrap();
        let pool = KbPool::builder(&config)
            .max_size(8)
            .shared_read_connections(shared)
            .build()
            .unwrap();
        let items: Vec<NewItem> = (0..count)
            .map(|n| NewItem::new("docs", format!("{n}"), format!("text {n}")))
            .collect();
        let ids = ItemRepo::new(&pool)
            .upsert(&items)
            .await
            .unwrap()
            .iter()
            .map(|outcome| outcome.id)
            .collect();
        (pool, ids)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_gets_share_batches_and_a_lone_get_goes_alone() {
        let (pool, ids) = pool_with_items(1, 50).await;
        let gets = pool.item_gets();

        for id in &ids[..10] {
            ItemRepo::new(&pool).get(*id).await.unwrap().unwrap();
        }
        assert_eq!(
            gets.batches_sent.load(Ordering::Relaxed),
            10,
            "one batch per lone get"
        );

        let ids = Arc::new(ids);
        let callers: Vec<_> = (0..400)
            .map(|n| {
                let pool = pool.clone();
                let ids = Arc::clone(&ids);
                tokio::spawn(async move {
                    let id = ids[n % ids.len()];
                    assert_eq!(ItemRepo::new(&pool).get(id).await.unwrap().unwrap().id, id);
                })
            })
            .collect();
        for caller in callers {
            caller.await.unwrap();
        }
        let batches = gets.batches_sent.load(Ordering::Relaxed) - 10;
        assert!(
            batches < 200,
            "400 concurrent gets went out in {batches} batches: they were not coalesced"
        );
        assert_eq!(gets.lock().in_flight, 0, "every batch finished");
        assert!(gets.lock().queue.is_empty(), "nobody left waiting");
    }

    #[tokio::test]
    async fn without_shared_connections_gets_are_not_coalesced() {
        let (pool, ids) = pool_with_items(0, 3).await;
        assert!(!pool.item_gets().enabled());
        assert!(ItemRepo::new(&pool).get(ids[0]).await.unwrap().is_some());
        assert_eq!(pool.item_gets().batches_sent.load(Ordering::Relaxed), 0);
    }
}
