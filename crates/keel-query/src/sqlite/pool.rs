//! A small pool of read-only SQLite connections, each with an interrupt deadline.
//!
//! sqlx's `Pool` was the first choice, but it keeps no per-connection state the caller
//! can reach, and stopping a runaway statement needs exactly that: every connection here
//! carries a deadline cell that its SQLite progress handler reads every
//! [`PROGRESS_OPS`] virtual-machine steps. When the deadline has passed the handler
//! returns `false`, SQLite aborts the statement with `SQLITE_INTERRUPT`, and the
//! connection is free again at once. SQLite connections never drop off a network, so the
//! pool needs no health checks: it is a semaphore and a stack of idle connections.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Connection};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::QueryError;

/// SQLite virtual-machine instructions between deadline checks (a few microseconds of work).
const PROGRESS_OPS: i32 = 1_000;

/// No deadline armed.
const DISARMED: u64 = 0;

pub(crate) struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    database: String,
    options: SqliteConnectOptions,
    idle: Mutex<Vec<Slot>>,
    permits: Arc<Semaphore>,
    max: u32,
    /// Connections open now, idle or leased.
    open: Arc<AtomicU64>,
    /// Deadlines are nanoseconds since this instant; 0 means none.
    epoch: Instant,
    /// Connections opened over the pool's life.
    opened: AtomicU64,
}

struct Slot {
    conn: SqliteConnection,
    deadline: Arc<AtomicU64>,
    _open: Counted,
}

/// Counts a connection as open for as long as it lives.
struct Counted(Arc<AtomicU64>);

impl Counted {
    fn new(open: &Arc<AtomicU64>) -> Self {
        open.fetch_add(1, Ordering::Relaxed);
        Self(Arc::clone(open))
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Pool {
    /// Opens one connection up front so a bad path fails at start-up, not on first query.
    pub(crate) async fn open(
        database: &str,
        options: SqliteConnectOptions,
        max_connections: u32,
    ) -> Result<Self, QueryError> {
        let inner = Arc::new(Inner {
            database: database.to_owned(),
            options,
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(max_connections as usize)),
            max: max_connections,
            open: Arc::default(),
            epoch: Instant::now(),
            opened: AtomicU64::new(0),
        });
        let first = inner.connect().await?;
        inner.idle().push(first);
        Ok(Self { inner })
    }

    /// Waits up to `wait` for a connection.
    pub(crate) async fn acquire(&self, wait: Duration) -> Result<Lease, QueryError> {
        let permit =
            match tokio::time::timeout(wait, self.inner.permits.clone().acquire_owned()).await {
                Ok(Ok(permit)) => permit,
                Ok(Err(_closed)) => {
                    return Err(QueryError::Closed {
                        database: self.inner.database.clone(),
                    });
                }
                Err(_elapsed) => {
                    return Err(QueryError::Busy {
                        database: self.inner.database.clone(),
                        waited: wait,
                    });
                }
            };
        let idle = self.inner.idle().pop();
        let slot = match idle {
            Some(slot) => slot,
            None => self.inner.connect().await?,
        };
        Ok(Lease {
            slot: Some(slot),
            inner: Arc::clone(&self.inner),
            _permit: permit,
        })
    }

    /// Connections opened so far (a reconnect after a discarded connection counts).
    #[cfg(test)]
    pub(crate) fn connections_opened(&self) -> u64 {
        self.inner.opened.load(Ordering::Relaxed)
    }

    /// Its size and load now.
    pub(crate) fn stats(&self) -> crate::PoolStats {
        let leased =
            (self.inner.max as usize).saturating_sub(self.inner.permits.available_permits());
        let open = self.inner.open.load(Ordering::Relaxed);
        crate::PoolStats {
            max: self.inner.max,
            open: u32::try_from(open).unwrap_or(u32::MAX),
            in_use: u32::try_from(leased).unwrap_or(u32::MAX),
        }
    }

    /// Refuses new leases and closes idle connections; leased ones close when returned.
    pub(crate) async fn close(&self) {
        self.inner.permits.close();
        let idle = std::mem::take(&mut *self.inner.idle());
        for slot in idle {
            let _ = slot.conn.close().await;
        }
    }
}

impl Inner {
    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Slot>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn connect(&self) -> Result<Slot, QueryError> {
        let connect_error = |source| QueryError::Connect {
            database: self.database.clone(),
            source,
        };
        let mut conn = self.options.connect().await.map_err(connect_error)?;
        self.opened.fetch_add(1, Ordering::Relaxed);
        let deadline = Arc::new(AtomicU64::new(DISARMED));
        let cell = Arc::clone(&deadline);
        let epoch = self.epoch;
        let mut handle = conn.lock_handle().await.map_err(connect_error)?;
        handle.set_progress_handler(PROGRESS_OPS, move || {
            let deadline = cell.load(Ordering::Relaxed);
            deadline == DISARMED || nanos_since(epoch) < deadline
        });
        // No transaction on these connections may commit a write, whatever opened it: the
        // file is read-only, but the temp schema and attached in-memory databases are not.
        // SQLite calls this only for write transactions, so reads pay nothing.
        handle.set_commit_hook(|| false);
        drop(handle);
        Ok(Slot {
            conn,
            deadline,
            _open: Counted::new(&self.open),
        })
    }
}

fn nanos_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// A connection on loan; it goes back to the pool when dropped unless discarded.
pub(crate) struct Lease {
    slot: Option<Slot>,
    inner: Arc<Inner>,
    _permit: OwnedSemaphorePermit,
}

impl Lease {
    pub(crate) fn conn(&mut self) -> &mut SqliteConnection {
        // `slot` is only taken by `discard` and `drop`, which consume the lease.
        &mut self.slot.as_mut().expect("lease holds a connection").conn
    }

    /// Statements on this connection are interrupted once `timeout` from now has passed.
    pub(crate) fn arm(&self, timeout: Duration) {
        if let Some(slot) = &self.slot {
            let at = nanos_since(self.inner.epoch)
                .saturating_add(u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX))
                .max(1);
            slot.deadline.store(at, Ordering::Relaxed);
        }
    }

    /// Closes the connection instead of returning it, for when its worker thread may
    /// still be busy (the call gave up before SQLite reported the interrupt).
    pub(crate) fn discard(mut self) {
        if let Some(slot) = self.slot.take() {
            // Dropping the connection tells its worker thread to finish and exit.
            drop(slot);
        }
    }
}

impl Drop for Lease {
    /// The deadline stays armed: if the call was cancelled while its statement still runs
    /// on the worker thread, that statement still stops at its deadline. Idle
    /// connections run nothing, and every lease arms a fresh deadline before its work.
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take()
            && !self.inner.permits.is_closed()
        {
            self.inner.idle().push(slot);
        }
    }
}
