//! One accepted connection: hyper's HTTP/1.1 server with a watchdog beside it that closes
//! the connection when a head takes too long or it idles too long, and drains it with the
//! server.

mod activity;
mod service;

use std::{
    future::{Future, poll_fn},
    pin::Pin,
    sync::Arc,
    task::Poll,
    time::Duration,
};

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use keel_core::Shutdown;
use tokio::{
    io::{AsyncRead, AsyncWrite},
    sync::OwnedSemaphorePermit,
    time::Instant,
};
use tokio_util::{sync::CancellationToken, task::task_tracker::TaskTrackerToken};

use self::{
    activity::{Activity, Watched},
    service::ConnService,
};
use super::ConnectionLimits;

/// How often a draining connection with a request in flight looks whether it went idle.
const DRAIN_POLL: Duration = Duration::from_millis(20);

/// How long after a drain begins requests on open connections are still served: a request
/// sent just before the signal may still be in the socket, or the server may not have read
/// it yet. Later ones get 503 and `Connection: close`.
const REFUSAL_GRACE: Duration = Duration::from_millis(200);

/// What every connection of one server shares.
pub(crate) struct Shared {
    pub(crate) http1: http1::Builder,
    pub(crate) app: Router,
    pub(crate) limits: ConnectionLimits,
    pub(crate) shutdown: Shutdown,
    /// Cancelled once nothing is in flight any more while draining: idle connections close.
    pub(crate) close_idle: CancellationToken,
}

/// Serves one connection until it closes, times out, or the server stops. `busy` is held
/// while the connection has work in flight during a drain; `_permit` is its place under
/// the connection cap.
pub(crate) async fn serve<S>(
    stream: S,
    shared: Arc<Shared>,
    busy: TaskTrackerToken,
    _permit: OwnedSemaphorePermit,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched::new(stream, Arc::clone(&activity)));
    let service = ConnService {
        app: shared.app.clone(),
        activity: Arc::clone(&activity),
    };
    let conn = shared.http1.serve_connection(io, service);
    let limits = &shared.limits;
    let shutdown = &shared.shutdown;
    let drained = shutdown.drained();
    let stopped = shutdown.stopped();
    let close_idle = shared.close_idle.cancelled();
    let check = tokio::time::sleep(limits.header_read_timeout);
    tokio::pin!(conn, drained, stopped, close_idle, check);
    // Each wait registers once here; the loop polls it again only after its event (an
    // atomic load), so serving requests never locks the server-wide wait lists.
    poll_fn(|cx| {
        let _ = drained.as_mut().poll(cx);
        let _ = stopped.as_mut().poll(cx);
        let _ = close_idle.as_mut().poll(cx);
        Poll::Ready(())
    })
    .await;
    let mut busy = Some(busy);
    let (mut draining, mut closing) = (false, false);
    loop {
        tokio::select! {
            // The connection goes first: requests already received are taken in before a
            // drain makes the connection refuse.
            biased;
            served = conn.as_mut() => {
                if let Err(e) = served {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            () = after(stopped.as_mut(), || shutdown.is_stopped()) => return,
            () = after(drained.as_mut(), || shutdown.is_draining()), if !draining => {
                draining = true;
                activity.refuse_after(REFUSAL_GRACE);
                check.as_mut().reset(Instant::now());
            }
            () = after(close_idle.as_mut(), || shared.close_idle.is_cancelled()), if !closing && busy.is_none() => {
                closing = true;
                conn.as_mut().graceful_shutdown();
            }
            () = check.as_mut() => {
                // Held through the grace: a request on its way would find the connection
                // closed instead of answered.
                if draining && activity.is_idle() && activity.is_refusing() {
                    busy = None;
                }
                let age = activity.age();
                let wait = match activity.deadline(limits) {
                    Some(at) if at <= age => {
                        tracing::debug!(age_ms = age.as_millis() as u64, "closing a connection that waited too long");
                        return;
                    }
                    Some(at) => at - age,
                    // A request runs: look again later.
                    None => limits.header_read_timeout.min(limits.idle_timeout),
                };
                let wait = if busy.is_some() && draining { wait.min(DRAIN_POLL) } else { wait };
                check.as_mut().reset(Instant::now() + wait);
            }
        }
    }
}

/// Completes with `wait` once `happened` says its event came. `wait` registered its wake-up
/// before, so until then it need not be polled: polling it would lock a list shared by
/// every connection on each wake.
fn after<'a, F>(
    mut wait: Pin<&'a mut F>,
    happened: impl Fn() -> bool + 'a,
) -> impl Future<Output = ()> + 'a
where
    F: Future<Output = ()>,
{
    poll_fn(move |cx| {
        if happened() {
            wait.as_mut().poll(cx)
        } else {
            Poll::Pending
        }
    })
}
