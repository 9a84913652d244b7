//! The connections of a pool (or of a read replica) that point reads share, pipelining their
//! statements, and the connection one read runs on.

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
}

impl SharedReads {
    pub(crate) fn new(count: usize) -> SharedReads {
        SharedReads {
            connections: (0..count).map(|_| Mutex::new(None)).collect(),
            next: AtomicUsize::new(0),
        }
    }

    /// The next shared connection in turn, else (none shared) one of its own; connections are
    /// taken from the pool with `take`.
    pub(crate) async fn read_client<F>(&self, take: impl Fn() -> F) -> Result<ReadClient, Error>
    where
        F: Future<Output = Result<deadpool_postgres::Client, Error>>,
    {
        if self.connections.is_empty() {
            return Ok(ReadClient::Own(take().await?));
        }
        let slot =
            &self.connections[self.next.fetch_add(1, Ordering::Relaxed) % self.connections.len()];
        if let Some(client) = slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .filter(|client| !client.is_closed())
        {
            return Ok(ReadClient::Shared(Arc::clone(client)));
        }
        // Two reads may open the same slot at once: the later one's connection stays, the
        // other goes back to the pool when its read is done.
        let client = Arc::new(take().await?);
        *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(Arc::clone(&client));
        Ok(ReadClient::Shared(client))
    }

    /// Gives every shared connection back to the pool (once its reads in flight are done).
    pub(crate) fn release_all(&self) {
        for slot in &self.connections {
            slot.lock().unwrap_or_else(PoisonError::into_inner).take();
        }
    }
}

/// The connection a read runs on.
// Lives on the stack for one call; boxing the larger variant would allocate per read.
#[allow(clippy::large_enum_variant)]
pub(crate) enum ReadClient {
    Shared(Arc<deadpool_postgres::Client>),
    Own(deadpool_postgres::Client),
}

impl std::ops::Deref for ReadClient {
    type Target = deadpool_postgres::Client;

    fn deref(&self) -> &Self::Target {
        match self {
            ReadClient::Shared(client) => client,
            ReadClient::Own(client) => client,
        }
    }
}
