//! The accept loop: connections under a cap, each served by hyper with head and idle
//! timeouts, and the drain that ends it.
//!
//! `axum::serve` sets none of these limits (its hyper builder has no timer, so not even
//! hyper's header timeout runs) and waits forever on open streams when shutting down.

use std::{io, sync::Arc, time::Duration};

use axum::Router;
use hyper::server::conn::http1;
use keel_core::Shutdown;
use tokio::{net::TcpListener, sync::Semaphore, time::Instant};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use super::connection::{self, Shared};
use super::tls::TlsAcceptor;

/// Limits on the connections of the HTTP server.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Longest wait for a complete request head: from the accept for a new connection,
    /// from its first byte for a later request on a kept-alive one.
    pub header_read_timeout: Duration,
    /// Longest wait for the next request on a kept-alive connection.
    pub idle_timeout: Duration,
    /// Most connections served at once; more are closed as soon as they are accepted.
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(75),
            max_connections: 10_000,
        }
    }
}

/// How often a warning about refused connections may be logged.
const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` until `shutdown` drains and the drain ends.
///
/// Draining closes the listener; requests that already arrived, and those starting within
/// 200 ms on open connections (they may have been on their way at the signal), are served,
/// and later ones on kept-alive connections are refused with 503 and `Connection: close`.
/// Once no request
/// is in flight and every task tracked by `shutdown` has ended, idle connections close and
/// this returns. When `shutdown` stops (the drain deadline passed), connections still busy
/// are dropped.
pub async fn serve_http(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: Shutdown,
) -> io::Result<()> {
    serve(listener, app, limits, shutdown, None).await
}

/// [`serve_http`] over TLS: each connection's handshake must end within the header timeout
/// (it counts against the connection cap meanwhile); one that fails or stalls is closed.
pub async fn serve_https(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: Shutdown,
    tls: TlsAcceptor,
) -> io::Result<()> {
    serve(listener, app, limits, shutdown, Some(tls)).await
}

async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: Shutdown,
    tls: Option<TlsAcceptor>,
) -> io::Result<()> {
    let mut http1 = http1::Builder::new();
    // The connection's own watchdog enforces the head and idle timeouts.
    http1.header_read_timeout(None);
    let shared = Arc::new(Shared {
        http1,
        app,
        limits,
        shutdown: shutdown.clone(),
        close_idle: CancellationToken::new(),
    });
    let cap = Arc::new(Semaphore::new(limits.max_connections));
    let connections = TaskTracker::new();
    let busy = TaskTracker::new();
    let mut refusals = Refusals::default();
    loop {
        let accepted = tokio::select! {
            biased;
            () = shutdown.drained() => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                // Out of descriptors, most likely: give closing connections time.
                tracing::error!(error = %e, "accept failed");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(100)) => continue,
                    () = shutdown.drained() => break,
                }
            }
        };
        // Over the cap a connection is closed unread: the cheapest refusal, and safe for any
        // client or balancer to retry elsewhere since nothing of it was processed.
        let Ok(permit) = Arc::clone(&cap).try_acquire_owned() else {
            drop(stream);
            refusals.note(limits.max_connections);
            continue;
        };
        let shared = Arc::clone(&shared);
        let busy = busy.token();
        match &tls {
            None => {
                connections.spawn(connection::serve(stream, shared, busy, permit));
            }
            Some(tls) => {
                let handshake = tls.accept(stream);
                connections.spawn(async move {
                    match tokio::time::timeout(shared.limits.header_read_timeout, handshake).await {
                        Ok(Ok(stream)) => connection::serve(stream, shared, busy, permit).await,
                        Ok(Err(error)) => tracing::debug!(%error, "TLS handshake failed"),
                        Err(_) => tracing::debug!("TLS handshake timed out"),
                    }
                });
            }
        }
    }
    drop(listener);
    tracing::info!(
        connections = connections.len(),
        tasks = shutdown.tasks(),
        "draining: listener closed"
    );
    busy.close();
    tokio::select! {
        ((), ()) = async { tokio::join!(busy.wait(), shutdown.work_done()) } => {
            tracing::info!("drained: nothing in flight");
        }
        () = shutdown.stopped() => {
            tracing::warn!(connections = busy.len(), tasks = shutdown.tasks(), "drain deadline passed: cancelling what is left");
        }
    }
    shared.close_idle.cancel();
    connections.close();
    connections.wait().await;
    shutdown.work_done().await;
    Ok(())
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Connections refused over the cap, logged at most every [`REFUSAL_LOG_INTERVAL`].
#[derive(Default)]
struct Refusals {
    since_log: u64,
    logged_at: Option<Instant>,
}

impl Refusals {
    fn note(&mut self, cap: usize) {
        self.since_log += 1;
        if self
            .logged_at
            .is_none_or(|t| t.elapsed() >= REFUSAL_LOG_INTERVAL)
        {
            tracing::warn!(
                refused = self.since_log,
                max_connections = cap,
                "connection cap reached: refusing connections"
            );
            self.since_log = 0;
            self.logged_at = Some(Instant::now());
        }
    }
}
