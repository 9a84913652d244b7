//! The connections of a pool (or of a read replica) that point reads share, pipelining their
//! statements, and the connection one read runs on. A read that finds no other read running
//! and an idle connection in the pool takes that one instead: there is nobody to share with,
//! and the pool hands its warm connections out in turn (measured faster for a lone caller on
//! two-core machines, where one connection's server process sits on the other core).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::Error;

/// The connections of a pool that point reads share. Each is taken from the pool once and
/// kept; one that breaks is replaced by the next read that picks it (the broken one goes back
/// to the pool, which discards it).
#[derive(Debug)]
pub(crate) struct SharedReads {
    connections: Box<[Mutex<Option<Arc<deadpool_postgres::Client>>>]>,
    next: AtomicUsize,
    /// Reads running now on connections this handed out.
    running: Arc<AtomicUsize>,
}

impl SharedReads {
    pub(crate) fn new(count: usize) -> SharedReads {
        SharedReads {
            connections: (0..count).map(|_| Mutex::new(None)).collect(),
            next: AtomicUsize::new(0),
            running: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// A connection for one read: its own from the pool when no other read runs and `idle`
    /// says the pool has a connection free, else the next shared connection in turn (none
    /// shared: always its own). Connections are taken from the pool with `take`.
    pub(crate) async fn read_client<F>(
        &self,
        take: impl Fn() -> F,
        idle: impl Fn() -> bool,
    ) -> Result<ReadClient, Error>
    where
        F: Future<Output = Result<deadpool_postgres::Client, Error>>,
    {
        if self.connections.is_empty() {
            return Ok(ReadClient::own(take().await?));
        }
        let running = Running::start(&self.running);
        if running.alone && idle() {
            return Ok(ReadClient {
                connection: Connection::Own(take().await?),
                _running: Some(running),
            });
        }
        let slot =
            &self.connections[self.next.fetch_add(1, Ordering::Relaxed) % self.connections.len()];
        if let Some(client) = slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .filter(|client| !client.is_closed())
        {
            return Ok(ReadClient::shared(Arc::clone(client), running));
        }
        // Two reads may open the same slot at once: the later one's connection stays, the
        // other goes back to the pool when its read is done.
        let client = Arc::new(take().await?);
        *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(Arc::clone(&client));
        Ok(ReadClient::shared(client, running))
    }

    /// Gives every shared connection back to the pool (once its reads in flight are done).
    pub(crate) fn release_all(&self) {
        for slot in &self.connections {
            slot.lock().unwrap_or_else(PoisonError::into_inner).take();
        }
    }
}

/// Whether `pool` can hand out a connection now: one is idle, or it may open another (what
/// [`SharedReads::read_client`]'s `idle` asks, of a pool or of a replica's).
pub(crate) fn has_room(pool: &deadpool_postgres::Pool) -> bool {
    let status = pool.status();
    status.available > 0 || status.size < status.max_size
}

/// Takes connections from `pool` until it holds `count` or cannot open more without waiting,
/// then gives them all back.
pub(crate) async fn warm_up(pool: &deadpool_postgres::Pool, count: usize) -> Result<(), Error> {
    let mut held = Vec::new();
    loop {
        let status = pool.status();
        if status.size >= count.min(status.max_size) || !has_room(pool) {
            return Ok(());
        }
        held.push(pool.get().await.map_err(Error::from_pool)?);
    }
}

/// One read running, counted while it lives.
#[derive(Debug)]
struct Running {
    count: Arc<AtomicUsize>,
    /// No other read was running when it started.
    alone: bool,
}

impl Running {
    fn start(count: &Arc<AtomicUsize>) -> Running {
        let before = count.fetch_add(1, Ordering::Relaxed);
        Running {
            count: Arc::clone(count),
            alone: before == 0,
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The connection a read runs on (and, from a pool with shared connections, the read counted
/// as running while it holds it).
pub(crate) struct ReadClient {
    connection: Connection,
    _running: Option<Running>,
}

// Lives on the stack for one call; boxing the larger variant would allocate per read.
#[allow(clippy::large_enum_variant)]
enum Connection {
    Shared(Arc<deadpool_postgres::Client>),
    Own(deadpool_postgres::Client),
}

impl ReadClient {
    /// A connection of its own, for this read alone.
    pub(crate) fn own(client: deadpool_postgres::Client) -> ReadClient {
        ReadClient {
            connection: Connection::Own(client),
            _running: None,
        }
    }

    fn shared(client: Arc<deadpool_postgres::Client>, running: Running) -> ReadClient {
        ReadClient {
            connection: Connection::Shared(client),
            _running: Some(running),
        }
    }
}

impl std::ops::Deref for ReadClient {
    type Target = deadpool_postgres::Client;

    fn deref(&self) -> &Self::Target {
        match &self.connection {
            Connection::Shared(client) => client,
            Connection::Own(client) => client,
        }
    }
}
