//! Read replicas of a pool: which one a routed read goes to, measured from each replica
//! itself (its replay lag, every [`PROBE_INTERVAL`]), and what was seen of each.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use deadpool_postgres::Pool;

use super::shared_reads::{ReadClient, SharedReads, has_room, warm_up};
use crate::Error;

/// How often each replica's lag is measured: a replica falling behind stops serving reads
/// within the lag bound plus this.
pub(crate) const PROBE_INTERVAL: Duration = Duration::from_millis(250);

/// The replica's replay lag in milliseconds, measured on the replica: 0 when it has replayed
/// all it received (or is no longer in recovery), else the age of the last transaction it
/// replayed; NULL when it replays but has never replayed a transaction since it started. And
/// how far it has replayed, as a [`KbPosition`].
const LAG_QUERY: &str = "SELECT CASE \
     WHEN NOT pg_is_in_recovery() THEN 0::bigint \
     WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0::bigint \
     ELSE (extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp()) * 1000)::bigint \
     END, \
     (coalesce(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() \
     ELSE pg_current_wal_insert_lsn() END, '0/0') - '0/0'::pg_lsn)::bigint";

/// A point in the primary's write-ahead log ([`KbPool::position`](crate::KbPool::position)):
/// every write committed before it was taken lies at or before it. Given to a repository's
/// `after`, its reads see those writes, from a replica that has replayed that far or from the
/// primary. Written and parsed as PostgreSQL writes an LSN (`16/B374D848`), to travel between
/// processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KbPosition(u64);

impl KbPosition {
    pub(crate) fn from_db(bytes: i64) -> KbPosition {
        KbPosition(u64::try_from(bytes).unwrap_or(0))
    }
}

impl std::fmt::Display for KbPosition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:X}/{:X}", self.0 >> 32, self.0 & 0xFFFF_FFFF)
    }
}

impl std::str::FromStr for KbPosition {
    type Err = Error;

    fn from_str(text: &str) -> Result<KbPosition, Error> {
        let invalid = || Error::InvalidInput {
            message: format!(
                "{text:?} is not a write position: expected two hexadecimal numbers as PostgreSQL \
                 writes an LSN (16/B374D848)"
            ),
        };
        let (high, low) = text.split_once('/').ok_or_else(invalid)?;
        let part = |part: &str| {
            (!part.is_empty() && part.len() <= 8)
                .then(|| u64::from_str_radix(part, 16).ok())
                .flatten()
                .ok_or_else(invalid)
        };
        Ok(KbPosition((part(high)? << 32) | part(low)?))
    }
}

/// What a pool knows of one of its read replicas ([`KbPool::replicas`](crate::KbPool::replicas)),
/// for metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KbReplicaStatus {
    /// `host:port` of the replica.
    pub target: String,
    /// Whether reads go to it now: reachable and within the lag bound at its last probe.
    pub serving: bool,
    /// Its replay lag at the last probe, in milliseconds; `None` before the first probe or
    /// when it could not be measured (unreachable).
    pub lag_ms: Option<u64>,
    /// Reads it served.
    pub reads: u64,
    /// Probes that found it past the lag bound or unreachable, and reads that found it
    /// unreachable: each time it was passed over.
    pub skipped: u64,
}

/// The replicas of one pool.
#[derive(Debug)]
pub(crate) struct Replicas {
    replicas: Box<[Replica]>,
    max_lag: Duration,
    next: AtomicUsize,
    /// Routed reads that went to the primary because no replica qualified.
    primary_reads: AtomicU64,
    probing: AtomicBool,
    /// Set by [`Replicas::close`]: the probes stop.
    closed: AtomicBool,
}

#[derive(Debug)]
pub(crate) struct Replica {
    target: String,
    pool: Pool,
    shared_reads: SharedReads,
    serving: AtomicBool,
    /// Milliseconds; -1: unknown.
    lag_ms: AtomicI64,
    /// How far it had replayed at its last probe ([`KbPosition`]'s bytes).
    replayed: AtomicU64,
    reads: AtomicU64,
    skipped: AtomicU64,
}

impl Replicas {
    /// `replicas`: (`host:port`, pool) of each; `shared_reads` connections of each shared by
    /// the reads it serves, as on the primary.
    pub(crate) fn new(
        replicas: Vec<(String, Pool)>,
        shared_reads: usize,
        max_lag: Duration,
    ) -> Replicas {
        Replicas {
            replicas: replicas
                .into_iter()
                .map(|(target, pool)| Replica {
                    target,
                    pool,
                    shared_reads: SharedReads::new(shared_reads),
                    // Nothing is known before the first probe: reads go to the primary.
                    serving: AtomicBool::new(false),
                    lag_ms: AtomicI64::new(-1),
                    replayed: AtomicU64::new(0),
                    reads: AtomicU64::new(0),
                    skipped: AtomicU64::new(0),
                })
                .collect(),
            max_lag,
            next: AtomicUsize::new(0),
            primary_reads: AtomicU64::new(0),
            probing: AtomicBool::new(false),
            closed: AtomicBool::new(false),
        }
    }

    /// The next replica in turn that serves reads and, given `after`, had replayed that far at
    /// its last probe; or `None` (the read goes to the primary, and is counted). Starts
    /// measuring the replicas on first use.
    pub(crate) fn pick(self: &Arc<Self>, after: Option<KbPosition>) -> Option<&Replica> {
        self.start_probing();
        let count = self.replicas.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let found = (0..count)
            .map(|offset| &self.replicas[(start + offset) % count])
            .find(|replica| {
                replica.serving.load(Ordering::Relaxed)
                    && after.is_none_or(|after| replica.replayed.load(Ordering::Relaxed) >= after.0)
            });
        if found.is_none() {
            self.primary_reads.fetch_add(1, Ordering::Relaxed);
        }
        found
    }

    /// What is known of each replica.
    pub(crate) fn status(&self) -> Vec<KbReplicaStatus> {
        self.replicas
            .iter()
            .map(|replica| KbReplicaStatus {
                target: replica.target.clone(),
                serving: replica.serving.load(Ordering::Relaxed),
                lag_ms: u64::try_from(replica.lag_ms.load(Ordering::Relaxed)).ok(),
                reads: replica.reads.load(Ordering::Relaxed),
                skipped: replica.skipped.load(Ordering::Relaxed),
            })
            .collect()
    }

    /// Routed reads the primary served because no replica qualified.
    pub(crate) fn primary_reads(&self) -> u64 {
        self.primary_reads.load(Ordering::Relaxed)
    }

    /// Opens connections until each replica's pool holds `count` ([`KbPool::warm_up`](crate::KbPool::warm_up)).
    pub(crate) async fn warm_up(&self, count: usize) -> Result<(), Error> {
        for replica in &self.replicas {
            warm_up(&replica.pool, count)
                .await
                .map_err(|err| err.at_target(&replica.target))?;
        }
        Ok(())
    }

    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        for replica in &self.replicas {
            replica.shared_reads.release_all();
            replica.pool.close();
        }
    }

    /// Measures every replica every [`PROBE_INTERVAL`] on a task of the runtime, for as long
    /// as the pool lives; from the first routed read (a pool is built outside any runtime).
    /// Should that runtime end first (a pool outliving the runtime it was first read on), the
    /// replicas stop serving, their measurements being stale, and the next routed read starts
    /// the probes again on its own runtime.
    fn start_probing(self: &Arc<Self>) {
        // A plain load first: every routed read passes here.
        if self.probing.load(Ordering::Relaxed) || self.probing.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.probing.store(false, Ordering::Release);
            return;
        };
        let replicas: Weak<Replicas> = Arc::downgrade(self);
        let probing = ProbingTask(replicas.clone());
        runtime.spawn(async move {
            let _probing = probing;
            loop {
                let Some(replicas) = replicas
                    .upgrade()
                    .filter(|replicas| !replicas.closed.load(Ordering::Relaxed))
                else {
                    return;
                };
                // All at once: an unreachable replica's probe waits out its connect timeout
                // without holding back the others'.
                futures::future::join_all(
                    replicas
                        .replicas
                        .iter()
                        .map(|replica| replica.probe(replicas.max_lag)),
                )
                .await;
                drop(replicas);
                tokio::time::sleep(PROBE_INTERVAL).await;
            }
        });
    }
}

/// Held by the probe task: when the task ends or is dropped with its runtime, the replicas'
/// measurements stop, so they stop serving, and the next routed read may start probing again.
struct ProbingTask(Weak<Replicas>);

impl Drop for ProbingTask {
    fn drop(&mut self) {
        if let Some(replicas) = self.0.upgrade() {
            for replica in &replicas.replicas {
                replica.serving.store(false, Ordering::Relaxed);
                replica.lag_ms.store(-1, Ordering::Relaxed);
            }
            replicas.probing.store(false, Ordering::Release);
        }
    }
}

impl Replica {
    /// A connection to this replica for a read (a shared one, as on the primary); a failure
    /// passes it over until its next good probe.
    pub(crate) async fn read_client(&self) -> Option<ReadClient> {
        let take = || async { self.pool.get().await.map_err(Error::from_pool) };
        match self
            .shared_reads
            .read_client(take, || has_room(&self.pool))
            .await
        {
            Ok(client) => Some(client),
            Err(err) => {
                self.pass_over(&err);
                None
            }
        }
    }

    /// What came of a read it ran: the value of a read it served (counted), `None` when it
    /// failed and the primary is to answer instead (an unreachable replica is passed over).
    pub(crate) fn answered<T>(&self, result: Result<T, Error>) -> Option<T> {
        match result {
            Ok(value) => {
                self.reads.fetch_add(1, Ordering::Relaxed);
                Some(value)
            }
            Err(err @ Error::Unavailable { .. }) => {
                self.pass_over(&err);
                None
            }
            Err(_) => None,
        }
    }

    /// Takes it out of the rotation after `err` (unreachable, or its connection broke) until
    /// its next good probe.
    fn pass_over(&self, err: &Error) {
        if self.serving.swap(false, Ordering::Relaxed) {
            tracing::warn!(replica = %self.target, error = %err, "read replica passed over");
        }
        self.lag_ms.store(-1, Ordering::Relaxed);
        self.skipped.fetch_add(1, Ordering::Relaxed);
    }

    async fn probe(&self, max_lag: Duration) {
        let measured = match self.pool.get().await {
            // Prepared once per connection: it runs four times a second.
            Ok(client) => match client.prepare_cached(LAG_QUERY).await {
                Ok(statement) => client.query_one(&statement, &[]).await,
                Err(err) => Err(err),
            }
            .map_err(Error::from_driver)
            .map(|row| (row.get::<_, Option<i64>>(0), row.get::<_, i64>(1))),
            Err(err) => Err(Error::from_pool(err)),
        };
        match measured {
            Ok((lag, replayed)) => {
                self.replayed
                    .store(KbPosition::from_db(replayed).0, Ordering::Relaxed);
                let lag = lag.unwrap_or(i64::MAX).max(0);
                self.lag_ms
                    .store(if lag == i64::MAX { -1 } else { lag }, Ordering::Relaxed);
                let within = u128::try_from(lag).is_ok_and(|lag| lag <= max_lag.as_millis());
                let was = self.serving.swap(within, Ordering::Relaxed);
                if !within {
                    self.skipped.fetch_add(1, Ordering::Relaxed);
                    if was {
                        tracing::warn!(replica = %self.target, lag_ms = lag, "read replica behind: reads go elsewhere");
                    }
                } else if !was {
                    tracing::info!(replica = %self.target, lag_ms = lag, "read replica serving reads");
                }
            }
            Err(err) => self.pass_over(&err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_read_and_write_as_postgresql_writes_an_lsn() {
        for text in ["0/0", "16/B374D848", "FFFFFFFF/FFFFFFFF"] {
            assert_eq!(text.parse::<KbPosition>().unwrap().to_string(), text);
        }
        let (earlier, later): (KbPosition, KbPosition) =
            ("1/FFFFFFFF".parse().unwrap(), "2/0".parse().unwrap());
        assert!(earlier < later);
        assert_eq!(
            "16/b374d848".parse::<KbPosition>().unwrap().to_string(),
            "16/B374D848"
        );
        for bad in ["", "16", "/1", "1/", "G/1", "1/123456789", "1/2/3", " 1/2"] {
            let err = bad.parse::<KbPosition>().unwrap_err().to_string();
            assert!(err.contains("is not a write position"), "{bad}: {err}");
        }
    }
}
