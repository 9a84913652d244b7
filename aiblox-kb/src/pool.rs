//! Connection pool, pooled connections and transactions, and the [`Executor`] trait that lets
//! every repository method run on any of them.

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime, Status};
use tokio_postgres::NoTls;

use crate::{Error, KbConfig, tls};

/// A pool of connections to the knowledge base, each with `search_path` set to the configured
/// schema when it is opened (no extra round trip per query) and its own cache of prepared
/// statements (each query is prepared once per connection). Cheap to clone.
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
    schema: String,
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
}

impl KbPool {
    /// Settings for a pool on `config`: at most 16 connections; 5 s to open a connection, 5 s
    /// to wait for a free one, 5 s to check a returned one.
    pub fn builder(config: &KbConfig) -> KbPoolBuilder {
        KbPoolBuilder {
            config: config.clone(),
            max_size: 16,
            connect_timeout: Duration::from_secs(5),
            wait_timeout: Duration::from_secs(5),
            recycle_timeout: Duration::from_secs(5),
            application_name: None,
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
            client: self.pool.get().await?,
        })
    }

    /// Checks that the database answers, through a pooled connection.
    pub async fn ping(&self) -> Result<(), Error> {
        self.pool.get().await?.simple_query("").await?;
        Ok(())
    }

    /// Size, idle connections and waiters, for metrics.
    pub fn status(&self) -> Status {
        self.pool.status()
    }

    /// The schema the pool's connections use.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// Closes the pool: connections are closed as they come back; new requests fail.
    pub fn close(&self) {
        self.pool.close();
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
        let mut pg = self.config.pg_config();
        pg.connect_timeout(self.connect_timeout);
        if let Some(name) = &self.application_name {
            pg.application_name(name);
        }
        let recycling = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = match tls::connector(self.config.tls())? {
            Some(tls) => Manager::from_config(pg, tls, recycling),
            None => Manager::from_config(pg, NoTls, recycling),
        };
        let pool = Pool::builder(manager)
            .max_size(self.max_size)
            .wait_timeout(Some(self.wait_timeout))
            .create_timeout(Some(self.connect_timeout))
            .recycle_timeout(Some(self.recycle_timeout))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|err| Error::Config {
                message: format!("could not build the connection pool: {err}"),
            })?;
        Ok(KbPool {
            pool,
            schema: self.config.schema().to_owned(),
        })
    }
}

/// A connection taken from a [`KbPool`]; back to the pool on drop.
#[derive(Debug)]
pub struct KbConnection {
    client: deadpool_postgres::Client,
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
            transaction: self.client.transaction().await?,
        })
    }
}

/// A transaction on a [`KbConnection`].
#[derive(Debug)]
pub struct KbTransaction<'c> {
    transaction: deadpool_postgres::Transaction<'c>,
}

impl KbTransaction<'_> {
    /// Commits.
    pub async fn commit(self) -> Result<(), Error> {
        Ok(self.transaction.commit().await?)
    }

    /// Rolls back (dropping the transaction does too).
    pub async fn rollback(self) -> Result<(), Error> {
        Ok(self.transaction.rollback().await?)
    }
}

/// Where a repository runs its queries: a [`KbPool`] (a pooled connection per call), a
/// [`KbConnection`], or a [`KbTransaction`]. Implemented by those three only.
pub trait Executor: sealed::Sealed {}

impl Executor for KbPool {}
impl Executor for KbConnection {}
impl Executor for KbTransaction<'_> {}

pub(crate) use sealed::Target;

mod sealed {
    /// What an [`Executor`](super::Executor) gives the repositories.
    #[derive(Clone, Copy)]
    pub enum Target<'a> {
        Pool(&'a deadpool_postgres::Pool),
        Connection(&'a deadpool_postgres::Client),
        Transaction(&'a deadpool_postgres::Transaction<'a>),
    }

    pub trait Sealed {
        fn target(&self) -> Target<'_>;
    }

    impl Sealed for super::KbPool {
        fn target(&self) -> Target<'_> {
            Target::Pool(&self.pool)
        }
    }

    impl Sealed for super::KbConnection {
        fn target(&self) -> Target<'_> {
            Target::Connection(&self.client)
        }
    }

    impl Sealed for super::KbTransaction<'_> {
        fn target(&self) -> Target<'_> {
            Target::Transaction(&self.transaction)
        }
    }
}

pub(crate) fn target_of(executor: &impl Executor) -> Target<'_> {
    sealed::Sealed::target(executor)
}

/// Runs `$body` with `$client` bound to a client of `$target`, generic over the three kinds.
macro_rules! with_client {
    ($target:expr, |$client:ident| $body:expr) => {
        match $target {
            $crate::pool::Target::Pool(pool) => {
                let object = pool.get().await.map_err($crate::Error::from)?;
                let $client: &deadpool_postgres::Client = &object;
                $body
            }
            $crate::pool::Target::Connection($client) => $body,
            $crate::pool::Target::Transaction($client) => $body,
        }
    };
}
pub(crate) use with_client;
