//! The connection pool ([`KbPool`]) with what it keeps beside its connections (shared read
//! connections, the item get coalescer, the lexical postings, the read replicas), and pooled
//! connections and transactions.

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

use super::filter_matches::FilterMatches;
use super::item_gets::ItemGets;
use super::postings::LexicalCache;
use super::replicas::{KbPosition, KbReplicaStatus, Replica, Replicas};
use super::shared_reads::{ReadClient, SharedReads, has_room, warm_up};
use crate::{Error, KbConfig, tls};

/// Coalesced item gets in flight per shared read connection: the server always has the next
/// batch queued while the client takes in the last (docs/benchmarks.md: 4 per connection
/// beat 1, 2 and 3, and matched 6).
const BATCHES_PER_SHARED_CONNECTION: usize = 4;

/// A pool of connections to the knowledge base, each with `search_path` set to the configured
/// schema when it is opened (no extra round trip per query) and its own cache of prepared
/// statements (each query is prepared once per connection). Cheap to clone.
///
/// Point reads run on a repository built on the pool (`ItemRepo::get`, `get_by_key`,
/// `ChunkCacheRepo::get`) are *pipelined*: they share a few of the
/// pool's connections (see [`KbPoolBuilder::shared_read_connections`]), many in flight on each,
/// instead of taking a connection each. Each is still one statement in its own implicit
/// transaction; what changes is fewer connections and far fewer round trips under load. A
/// point read that finds no other read running takes an idle connection of its own instead
/// (nobody to share with).
/// Multi-row reads (`get_many`), searches, writes and everything run on a [`KbConnection`] or
/// [`KbTransaction`] take a connection of their own.
///
/// With read replicas ([`KbConfig::with_read_replica`]) the pool also holds a pool per
/// replica: point reads, `get_many`, full-text and BM25 searches and chunk reads go to a
/// replica within the lag bound (and past a repository's `after` position), else to the
/// primary; see [`KbPool::replicas`] and [`KbPool::position`].
///
/// ```no_run
/// # async fn demo() -> Result<(), aiblox_kb::Error> {
/// use aiblox_kb::{ItemRepo, KbConfig, KbPool};
///
/// let config = KbConfig::from_env()?;
/// let pool = KbPool::builder(&config).max_size(8).build()?;
/// let item = ItemRepo::new(&pool).get(42).await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct KbPool {
    pool: Pool,
    /// `host:port` of the database, for errors.
    target: Arc<str>,
    schema: String,
    shared_reads: Arc<SharedReads>,
    item_gets: Arc<ItemGets>,
    lexical: Arc<LexicalCache>,
    filter_matches: Arc<FilterMatches>,
    /// Read replicas, when the configuration names some.
    replicas: Option<Arc<Replicas>>,
}

/// How the pool's connections are used at one moment ([`KbPool::status`]), for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct KbPoolStatus {
    /// The most connections the pool opens.
    pub max_size: usize,
    /// Connections open now.
    pub size: usize,
    /// Open connections idle now.
    pub available: usize,
    /// Callers waiting for a connection.
    pub waiting: usize,
}

/// Settings of a [`KbPool`], with defaults suited to a service.
#[derive(Debug, Clone)]
pub struct KbPoolBuilder {
    config: KbConfig,
    max_size: usize,
    connect_timeout: Duration,
    wait_timeout: Duration,
    recycle_timeout: Duration,
    application_name: Option<String>,
    shared_read_connections: Option<usize>,
}

impl KbPool {
    /// Settings for a pool on `config`: at most 16 connections, 1 of them shared by point
    /// reads; 5 s to open a connection, 5 s to wait for a free one, 5 s to check a returned
    /// one.
    pub fn builder(config: &KbConfig) -> KbPoolBuilder {
        KbPoolBuilder {
            config: config.clone(),
            max_size: 16,
            connect_timeout: Duration::from_secs(5),
            wait_timeout: Duration::from_secs(5),
            recycle_timeout: Duration::from_secs(5),
            application_name: None,
            shared_read_connections: None,
        }
    }

    /// A pool with the default settings. Opens no connection until one is needed.
    pub fn new(config: &KbConfig) -> Result<Self, Error> {
        Self::builder(config).build()
    }

    /// A connection from the pool, for running several operations on one connection or in
    /// one transaction. It goes back to the pool when dropped.
    pub async fn get(&self) -> Result<KbConnection, Error> {
        Ok(KbConnection {
            client: self.take().await?,
        })
    }

    /// Checks that the database answers, through a pooled connection.
    pub async fn ping(&self) -> Result<(), Error> {
        self.take()
            .await?
            .simple_query("")
            .await
            .map_err(Error::from_driver)?;
        Ok(())
    }

    /// Opens connections until the pool holds `count` (at most its `max_size`), on the
    /// primary and on each read replica, and leaves them idle: the first requests of a
    /// service do not wait for connections to open, and a lone caller's reads rotate over
    /// warm connections as a busy pool's do. Returns the connections the primary's pool
    /// holds afterwards.
    ///
    /// # Errors
    /// The first connection that fails to open; the connections opened before it stay.
    pub async fn warm_up(&self, count: usize) -> Result<usize, Error> {
        warm_up(&self.pool, count)
            .await
            .map_err(|err| err.at_target(&self.target))?;
        if let Some(replicas) = &self.replicas {
            replicas.warm_up(count).await?;
        }
        Ok(self.pool.status().size)
    }

    /// Size, idle connections and waiters, for metrics. The shared read connections, once
    /// opened, count as in use.
    pub fn status(&self) -> KbPoolStatus {
        let status = self.pool.status();
        KbPoolStatus {
            max_size: status.max_size,
            size: status.size,
            available: status.available,
            waiting: status.waiting,
        }
    }

    /// The schema the pool's connections use.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// Closes the pool: connections are closed as they come back; new requests fail.
    pub fn close(&self) {
        self.shared_reads.release_all();
        self.pool.close();
        if let Some(replicas) = &self.replicas {
            replicas.close();
        }
    }

    /// What the pool knows of each read replica (serving or not, replay lag, reads served,
    /// times passed over), for metrics; empty without replicas.
    pub fn replicas(&self) -> Vec<KbReplicaStatus> {
        self.replicas
            .as_ref()
            .map(|replicas| replicas.status())
            .unwrap_or_default()
    }

    /// Reads that would have gone to a replica but went to the primary, no replica being
    /// within the lag bound or reachable.
    pub fn replica_reads_on_primary(&self) -> u64 {
        self.replicas
            .as_ref()
            .map_or(0, |replicas| replicas.primary_reads())
    }

    /// The primary's write position now: every write committed before this call, by any
    /// process, lies at or before it. Give it to a repository's `after` (for example
    /// [`ItemRepo::after`](crate::ItemRepo::after)), in this process or another, and its reads
    /// see those writes even from a read replica. One round trip to the primary.
    pub async fn position(&self) -> Result<KbPosition, Error> {
        let client = self.read_client().await?;
        // The insert position, not the write position: a commit made without waiting for its
        // flush (`synchronous_commit = off`) is inserted but may not be written. Prepared once
        // per connection: a question with replicas asks for it every time.
        let statement = client
            .prepare_cached("SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::bigint")
            .await
            .map_err(Error::from_driver)?;
        let bytes: i64 = client
            .query_one(&statement, &[])
            .await
            .map_err(Error::from_driver)?
            .get(0);
        Ok(KbPosition::from_db(bytes))
    }

    /// Whether the pool has read replicas.
    pub fn has_replicas(&self) -> bool {
        self.replicas.is_some()
    }

    /// The replica the next routed read goes to, if one serves reads now (and had replayed up
    /// to `after`, when given).
    pub(crate) fn replica(&self, after: Option<KbPosition>) -> Option<&Replica> {
        self.replicas.as_ref()?.pick(after)
    }

    /// The coalescer of this pool's `ItemRepo::get` calls.
    pub(crate) fn item_gets(&self) -> &ItemGets {
        &self.item_gets
    }

    /// This pool's copy of the lexical index's postings, for `ItemRepo::search_bm25`.
    pub(crate) fn lexical(&self) -> &LexicalCache {
        &self.lexical
    }

    /// This pool's copy of filters' matches, for `ItemRepo::matching`.
    pub(crate) fn filter_matches(&self) -> &FilterMatches {
        &self.filter_matches
    }

    /// A connection of its own, for one operation.
    pub(crate) async fn checkout(&self) -> Result<deadpool_postgres::Client, Error> {
        self.take().await
    }

    /// A connection from the pool; a failure names the database's `host:port`.
    async fn take(&self) -> Result<deadpool_postgres::Client, Error> {
        self.pool
            .get()
            .await
            .map_err(|err| Error::from_pool(err).at_target(&self.target))
    }

    /// A connection for one single-statement read: a shared one when the pool has them and
    /// other reads run, else one of its own.
    pub(crate) async fn read_client(&self) -> Result<ReadClient, Error> {
        self.shared_reads
            .read_client(|| self.take(), || has_room(&self.pool))
            .await
    }
}

impl KbPoolBuilder {
    /// Maximum number of connections (default 16).
    pub fn max_size(mut self, max_size: usize) -> Self {
        self.max_size = max_size;
        self
    }

    /// Time allowed to open a connection (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Time a caller waits for a free connection before [`Error::Unavailable`] (default 5 s).
    pub fn wait_timeout(mut self, timeout: Duration) -> Self {
        self.wait_timeout = timeout;
        self
    }

    /// Time allowed to check a returned connection (default 5 s).
    pub fn recycle_timeout(mut self, timeout: Duration) -> Self {
        self.recycle_timeout = timeout;
        self
    }

    /// How many of the pool's connections point reads share, pipelining their queries, and
    /// over which concurrent `ItemRepo::get` calls are coalesced (default: 1; pools of fewer
    /// than 4 connections share none). 0 turns both off: every read takes a connection of its
    /// own. One shared connection is served by one server process, so it carries about one
    /// server core's worth of point reads (about 100,000 item gets/s in docs/benchmarks.md);
    /// share more where one replica needs more.
    ///
    /// A shared connection answers its reads in order, so a slow one delays those queued
    /// behind it. On the primary, point reads of one item or one chunk set and a BM25 search's
    /// first statement are shared; each read replica shares as many connections for every
    /// read it serves.
    pub fn shared_read_connections(mut self, count: usize) -> Self {
        self.shared_read_connections = Some(count);
        self
    }

    /// The `application_name` the server shows for these connections (default: the URL's,
    /// else `aiblox-kb`).
    pub fn application_name(mut self, name: impl Into<String>) -> Self {
        self.application_name = Some(name.into());
        self
    }

    /// Builds the pool. Opens no connection yet.
    pub fn build(self) -> Result<KbPool, Error> {
        if self.max_size == 0 {
            return Err(Error::Config {
                message: "the pool needs at least one connection (max_size 0)".to_owned(),
            });
        }
        let shared_reads = self
            .shared_read_connections
            .unwrap_or(usize::from(self.max_size >= 4));
        if shared_reads >= self.max_size {
            return Err(Error::Config {
                message: format!(
                    "{shared_reads} shared read connections leave none of the pool's {} for other \
                     work: share fewer, or allow more connections",
                    self.max_size
                ),
            });
        }
        let pool = self.deadpool(&self.config)?;
        let replica_configs = self.config.for_read_replicas();
        let replicas = if replica_configs.is_empty() {
            None
        } else {
            let pools = replica_configs
                .iter()
                .map(|config| Ok((config.target(), self.deadpool(config)?)))
                .collect::<Result<Vec<_>, Error>>()?;
            Some(Arc::new(Replicas::new(
                pools,
                shared_reads,
                self.config.max_replica_lag(),
            )))
        };
        Ok(KbPool {
            pool,
            target: self.config.target().into(),
            schema: self.config.schema().to_owned(),
            shared_reads: Arc::new(SharedReads::new(shared_reads)),
            item_gets: Arc::new(ItemGets::new(shared_reads * BATCHES_PER_SHARED_CONNECTION)),
            lexical: Arc::new(LexicalCache::default()),
            filter_matches: Arc::new(FilterMatches::default()),
            replicas,
        })
    }

    /// A deadpool pool on the server of `config`, with this builder's settings.
    fn deadpool(&self, config: &KbConfig) -> Result<Pool, Error> {
        let mut pg = config.pg_config();
        pg.connect_timeout(self.connect_timeout);
        if let Some(name) = &self.application_name {
            pg.application_name(name);
        }
        let recycling = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = match tls::connector(config.tls())? {
            Some(tls) => Manager::from_config(pg, tls, recycling),
            None => Manager::from_config(pg, NoTls, recycling),
        };
        Pool::builder(manager)
            .max_size(self.max_size)
            .wait_timeout(Some(self.wait_timeout))
            .create_timeout(Some(self.connect_timeout))
            .recycle_timeout(Some(self.recycle_timeout))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|err| Error::Config {
                message: format!("could not build the connection pool: {err}"),
            })
    }
}

/// A connection taken from a [`KbPool`]; back to the pool on drop.
#[derive(Debug)]
pub struct KbConnection {
    client: deadpool_postgres::Client,
}

impl KbConnection {
    /// The pooled connection, for the repositories.
    pub(crate) fn client(&self) -> &deadpool_postgres::Client {
        &self.client
    }
}

impl KbConnection {
    /// Starts a transaction. Repositories built on it run inside it; it rolls back when
    /// dropped without [`KbTransaction::commit`].
    ///
    /// ```no_run
    /// # async fn demo(pool: &aiblox_kb::KbPool) -> Result<(), aiblox_kb::Error> {
    /// use aiblox_kb::{ChunkCacheRepo, ItemRepo, NewItem};
    ///
    /// let mut connection = pool.get().await?;
    /// let transaction = connection.transaction().await?;
    /// let outcome = ItemRepo::new(&transaction).upsert(&[NewItem::new("docs", "a.md", "text")]).await?;
    /// ChunkCacheRepo::new(&transaction).purge_stale().await?;
    /// transaction.commit().await?;
    /// # Ok(()) }
    /// ```
    pub async fn transaction(&mut self) -> Result<KbTransaction<'_>, Error> {
        Ok(KbTransaction {
            transaction: self
                .client
                .transaction()
                .await
                .map_err(Error::from_driver)?,
        })
    }
}

/// A transaction on a [`KbConnection`].
#[derive(Debug)]
pub struct KbTransaction<'c> {
    transaction: deadpool_postgres::Transaction<'c>,
}

impl<'c> KbTransaction<'c> {
    /// The transaction, for the repositories.
    pub(crate) fn transaction(&self) -> &deadpool_postgres::Transaction<'c> {
        &self.transaction
    }
}

impl KbTransaction<'_> {
    /// Commits.
    pub async fn commit(self) -> Result<(), Error> {
        self.transaction.commit().await.map_err(Error::from_driver)
    }

    /// Rolls back (dropping the transaction does too).
    pub async fn rollback(self) -> Result<(), Error> {
        self.transaction
            .rollback()
            .await
            .map_err(Error::from_driver)
    }
}
