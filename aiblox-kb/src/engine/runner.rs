//! The one path of every repository statement: the [`Executor`] a repository is built on and
//! the [`ReadPath`] its method states decide which connection the statement runs on (one of the
//! pool's own, a shared pipelined one, a read replica's, the caller's connection or transaction).

use aiblox_kb_gen::client::GenericClient;
use tokio_postgres::types::{BorrowToSql, ToSql};
use tokio_postgres::{Row, RowStream, Statement, ToStatement};

use std::sync::Arc;

use super::pool::{KbConnection, KbPool, KbTransaction};
use super::replicas::{KbPosition, Replica};
use super::shared_reads::ReadClient;
use crate::Error;

/// Where a read may run when its repository is built on a [`KbPool`]; stated once, by the
/// repository method. On a [`KbConnection`] or a [`KbTransaction`] every statement runs there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReadPath {
    /// A read replica within the lag bound (and past the repository's `after` position) may
    /// serve it; else the primary does.
    may_use_replica: bool,
    /// On the primary, one of the pool's shared connections, pipelined with other reads (a
    /// short statement whose delay behind others' is small), when the pool shares some (the
    /// default from 4 connections); else a connection of its own. On a replica, every read
    /// takes one of its read connections, shared likewise.
    may_share_connection: bool,
}

impl ReadPath {
    /// The primary, on a connection of its own: reads that must see the primary, or run long
    /// enough to hold up reads queued behind them on a shared connection.
    pub(crate) const PRIMARY: ReadPath = ReadPath {
        may_use_replica: false,
        may_share_connection: false,
    };
    /// The primary, on a shared connection: one short statement.
    pub(crate) const PRIMARY_PIPELINED: ReadPath = ReadPath {
        may_use_replica: false,
        may_share_connection: true,
    };
    /// A replica when one qualifies, else the primary on a connection of its own: a read of
    /// many rows.
    pub(crate) const REPLICA: ReadPath = ReadPath {
        may_use_replica: true,
        may_share_connection: false,
    };
    /// A replica when one qualifies, else the primary on a shared connection: a point read.
    pub(crate) const REPLICA_PIPELINED: ReadPath = ReadPath {
        may_use_replica: true,
        may_share_connection: true,
    };
}

/// Where a repository runs its queries: a [`KbPool`] (a pooled connection per call), a
/// [`KbConnection`], or a [`KbTransaction`]. Implemented by those three only.
pub trait Executor: sealed::Sealed {}

impl Executor for KbPool {}
impl Executor for KbConnection {}
impl Executor for KbTransaction<'_> {}

mod sealed {
    pub trait Sealed {
        fn runner(&self) -> super::Runner<'_>;
    }

    impl Sealed for super::KbPool {
        fn runner(&self) -> super::Runner<'_> {
            super::Runner::new(super::On::Pool(self))
        }
    }

    impl Sealed for super::KbConnection {
        fn runner(&self) -> super::Runner<'_> {
            super::Runner::new(super::On::Connection(self.client()))
        }
    }

    impl Sealed for super::KbTransaction<'_> {
        fn runner(&self) -> super::Runner<'_> {
            super::Runner::new(super::On::Transaction(self.transaction()))
        }
    }
}

/// What a repository holds: where it runs, and the write position its reads must see.
#[derive(Clone, Copy)]
pub struct Runner<'a> {
    on: On<'a>,
    after: Option<KbPosition>,
}

#[derive(Clone, Copy)]
enum On<'a> {
    Pool(&'a KbPool),
    Connection(&'a deadpool_postgres::Client),
    Transaction(&'a deadpool_postgres::Transaction<'a>),
}

impl<'a> Runner<'a> {
    /// Statements on `executor`, its reads seeing every committed write.
    pub(crate) fn of(executor: &'a impl Executor) -> Runner<'a> {
        sealed::Sealed::runner(executor)
    }

    fn new(on: On<'a>) -> Runner<'a> {
        Runner { on, after: None }
    }

    /// The same, its reads seeing every write committed before `position`: on a pool with
    /// read replicas, a replica serves them only once it has replayed that far.
    pub(crate) fn after(self, position: KbPosition) -> Runner<'a> {
        Runner {
            after: Some(position),
            ..self
        }
    }

    /// The pool, when the repository is built on one (for what the pool keeps in memory).
    pub(crate) fn pool(&self) -> Option<&'a KbPool> {
        match self.on {
            On::Pool(pool) => Some(pool),
            _ => None,
        }
    }

    /// The pool, when point reads of items may be coalesced there: a pool that shares
    /// connections, and no position to wait for (a coalesced batch reads with none).
    pub(crate) fn coalescing_pool(&self) -> Option<&'a KbPool> {
        self.pool()
            .filter(|pool| pool.item_gets().enabled() && self.after.is_none())
    }

    /// A write (or anything that must run on the primary, in the caller's transaction): on a
    /// pool, a connection of its own on the primary. `statements` get the client to run on.
    pub(crate) async fn write<T, Statements>(
        &self,
        statements: impl FnOnce(KbClient<'a>) -> Statements,
    ) -> Result<T, Error>
    where
        Statements: Future<Output = Result<T, Error>>,
    {
        statements(self.primary_client(false).await?).await
    }

    /// A read, where `path` lets it run; `statements` get the client to run on, and run again
    /// on the primary when a read replica fails them: an unreachable replica is out of the
    /// rotation until its next good probe, and any other error (a replica behind a migration
    /// misses a table or a column) may not be the primary's, which answers instead, with its
    /// own error if any.
    pub(crate) async fn read<T, Statements>(
        &self,
        path: ReadPath,
        statements: impl Fn(KbClient<'a>) -> Statements,
    ) -> Result<T, Error>
    where
        Statements: Future<Output = Result<T, Error>>,
    {
        if path.may_use_replica
            && let Some((replica, client)) = self.replica_client().await
            && let Some(value) = replica.answered(statements(KbClient::Pooled(client)).await)
        {
            return Ok(value);
        }
        statements(self.primary_client(path.may_share_connection).await?).await
    }

    /// A read of several statements, each stating its own [`ReadPath`]: on a pool with a
    /// replica that qualifies, all of them run on one of its connections (so they read one
    /// server), else on `self`. A replica's failure as in [`Runner::read`].
    pub(crate) async fn read_steps<T, Run>(
        &self,
        steps: impl Fn(Steps<'a>) -> Run,
    ) -> Result<T, Error>
    where
        Run: Future<Output = Result<T, Error>>,
    {
        if let Some((replica, client)) = self.replica_client().await
            && let Some(value) = replica.answered(steps(Steps::Replica(Arc::new(client))).await)
        {
            return Ok(value);
        }
        steps(Steps::Runner(*self)).await
    }

    /// A read connection of a replica that serves reads now (and has replayed up to `after`),
    /// on a pool that has replicas.
    async fn replica_client(&self) -> Option<(&'a Replica, ReadClient)> {
        let replica = self.pool()?.replica(self.after)?;
        Some((replica, replica.read_client().await?))
    }

    /// The client of a statement on the primary (or wherever the runner is pinned): on a pool,
    /// a shared connection when `shared`, else one of its own.
    async fn primary_client(&self, shared: bool) -> Result<KbClient<'a>, Error> {
        Ok(match self.on {
            On::Pool(pool) if shared => KbClient::Pooled(pool.read_client().await?),
            On::Pool(pool) => KbClient::Pooled(ReadClient::own(pool.checkout().await?)),
            On::Connection(client) => KbClient::Connection(client),
            On::Transaction(transaction) => KbClient::Transaction(transaction),
        })
    }
}

/// Where each statement of a read of several runs ([`Runner::read_steps`]): where its own
/// [`ReadPath`] says on the primary (or the caller's connection or transaction), or all on one
/// read connection of a replica.
#[derive(Clone)]
pub(crate) enum Steps<'a> {
    Runner(Runner<'a>),
    Replica(Arc<ReadClient>),
}

impl<'a> Steps<'a> {
    /// One statement of the read; `path` says whether it may share a connection of the
    /// primary (on a replica every read shares).
    pub(crate) async fn read<T, Statements>(
        &self,
        path: ReadPath,
        statements: impl FnOnce(KbClient<'a>) -> Statements,
    ) -> Result<T, Error>
    where
        Statements: Future<Output = Result<T, Error>>,
    {
        match self {
            Steps::Runner(runner) => {
                statements(runner.primary_client(path.may_share_connection).await?).await
            }
            Steps::Replica(client) => statements(KbClient::Replica(Arc::clone(client))).await,
        }
    }
}

/// The client statements run on: a connection of a pool (its own or shared), the caller's
/// connection or transaction. The generated code prepares a statement first (`stmt_cache`):
/// a connection keeps it (deadpool's statement cache), a transaction does not.
// Lives for one call; boxing the larger variant would allocate per read.
#[allow(clippy::large_enum_variant)]
pub(crate) enum KbClient<'a> {
    Pooled(ReadClient),
    Replica(Arc<ReadClient>),
    Connection(&'a deadpool_postgres::Client),
    Transaction(&'a deadpool_postgres::Transaction<'a>),
}

/// The statement cache's client, or the transaction.
enum Driver<'c> {
    Client(&'c deadpool_postgres::Client),
    Transaction(&'c deadpool_postgres::Transaction<'c>),
}

impl KbClient<'_> {
    fn driver(&self) -> Driver<'_> {
        match self {
            KbClient::Pooled(client) => Driver::Client(client),
            KbClient::Replica(client) => Driver::Client(client),
            KbClient::Connection(client) => Driver::Client(client),
            KbClient::Transaction(transaction) => Driver::Transaction(transaction),
        }
    }
}

impl GenericClient for KbClient<'_> {
    fn stmt_cache() -> bool {
        true
    }

    /// On a connection, prepared once and kept (deadpool's statement cache); in a caller's
    /// transaction, prepared for this use only, as the generated code does on a transaction
    /// (whose type says it keeps no statement): a transaction behind a pooler in transaction
    /// mode keeps working.
    async fn prepare(&self, query: &str) -> Result<Statement, tokio_postgres::Error> {
        match self.driver() {
            Driver::Client(client) => GenericClient::prepare(client, query).await,
            Driver::Transaction(transaction) => {
                let uncached: &tokio_postgres::Transaction<'_> = transaction;
                GenericClient::prepare(uncached, query).await
            }
        }
    }

    async fn execute<T>(
        &self,
        query: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, tokio_postgres::Error>
    where
        T: ?Sized + ToStatement + Sync + Send,
    {
        match self.driver() {
            Driver::Client(client) => GenericClient::execute(client, query, params).await,
            Driver::Transaction(transaction) => {
                GenericClient::execute(transaction, query, params).await
            }
        }
    }

    async fn query_one<T>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, tokio_postgres::Error>
    where
        T: ?Sized + ToStatement + Sync + Send,
    {
        match self.driver() {
            Driver::Client(client) => GenericClient::query_one(client, statement, params).await,
            Driver::Transaction(transaction) => {
                GenericClient::query_one(transaction, statement, params).await
            }
        }
    }

    async fn query_opt<T>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, tokio_postgres::Error>
    where
        T: ?Sized + ToStatement + Sync + Send,
    {
        match self.driver() {
            Driver::Client(client) => GenericClient::query_opt(client, statement, params).await,
            Driver::Transaction(transaction) => {
                GenericClient::query_opt(transaction, statement, params).await
            }
        }
    }

    async fn query<T>(
        &self,
        query: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, tokio_postgres::Error>
    where
        T: ?Sized + ToStatement + Sync + Send,
    {
        match self.driver() {
            Driver::Client(client) => GenericClient::query(client, query, params).await,
            Driver::Transaction(transaction) => {
                GenericClient::query(transaction, query, params).await
            }
        }
    }

    async fn query_raw<T, I>(
        &self,
        statement: &T,
        params: I,
    ) -> Result<RowStream, tokio_postgres::Error>
    where
        T: ?Sized + ToStatement + Sync + Send,
        I: IntoIterator + Sync + Send,
        I::IntoIter: ExactSizeIterator,
        I::Item: BorrowToSql,
    {
        match self.driver() {
            Driver::Client(client) => GenericClient::query_raw(client, statement, params).await,
            Driver::Transaction(transaction) => {
                GenericClient::query_raw(transaction, statement, params).await
            }
        }
    }
}
