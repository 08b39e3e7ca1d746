//! What one connection is doing, as its watchdog needs to know: whether a request is in
//! flight, and since when it has been waiting for a request or for the rest of a head.
//!
//! hyper's own `header_read_timeout` also runs while a kept-alive connection waits for its
//! next request (hyper ≥ 1.4), so it cannot give a short head timeout and a long idle
//! timeout at once; this does, like Go's `ReadHeaderTimeout` and `IdleTimeout`.

use std::{
    io,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed},
    },
    task::{Context, Poll},
    time::Duration,
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    time::Instant,
};

use super::super::ConnectionLimits;

/// Shared by a connection's IO, its service and its watchdog. All of them run in the
/// connection's one task, so relaxed atomics suffice; they are atomics only to be `Sync`.
#[derive(Debug)]
pub(crate) struct Activity {
    start: Instant,
    /// Requests whose response is not finished.
    in_flight: AtomicU32,
    /// Milliseconds after `start` when the connection began waiting: for a request, or
    /// (`head`) for the rest of one.
    since_ms: AtomicU64,
    /// Bytes of a request arrived since the connection went idle; a new connection counts
    /// as reading its first head.
    head: AtomicBool,
    /// Milliseconds after `start` from which requests are refused (a draining server's);
    /// `NEVER` until the drain.
    refuse_from_ms: AtomicU64,
}

/// `refuse_from_ms` before any drain.
const NEVER: u64 = u64::MAX;

impl Activity {
    pub(crate) fn new() -> Self {
        Self {
            start: Instant::now(),
            in_flight: AtomicU32::new(0),
            since_ms: AtomicU64::new(0),
            head: AtomicBool::new(true),
            refuse_from_ms: AtomicU64::new(NEVER),
        }
    }

    /// Time since the connection was accepted.
    pub(crate) fn age(&self) -> Duration {
        self.start.elapsed()
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.age().as_millis()).unwrap_or(u64::MAX)
    }

    /// Bytes arrived: on an idle connection they start a head, whose timeout runs from now.
    fn on_read(&self) {
        if self.in_flight.load(Relaxed) == 0 && !self.head.load(Relaxed) {
            self.since_ms.store(self.now_ms(), Relaxed);
            self.head.store(true, Relaxed);
        }
    }

    /// A request head was read: the request is in flight until the guard drops with its
    /// response.
    pub(crate) fn begin(self: &Arc<Self>) -> Busy {
        self.in_flight.fetch_add(1, Relaxed);
        self.head.store(false, Relaxed);
        Busy(Arc::clone(self))
    }

    /// Whether no request is in flight.
    pub(crate) fn is_idle(&self) -> bool {
        self.in_flight.load(Relaxed) == 0
    }

    /// Refuses the requests that start once `grace` has passed from now.
    pub(crate) fn refuse_after(&self, grace: Duration) {
        let grace_ms = u64::try_from(grace.as_millis()).unwrap_or(u64::MAX);
        let from = self.now_ms().saturating_add(grace_ms).min(NEVER - 1);
        self.refuse_from_ms.store(from, Relaxed);
    }

    /// Whether a request starting now is refused. No clock is read before a drain.
    pub(crate) fn is_refusing(&self) -> bool {
        let from = self.refuse_from_ms.load(Relaxed);
        from != NEVER && self.now_ms() >= from
    }

    /// When, as an age, the connection has waited too long; `None` while a request is in
    /// flight (its own timeouts are the handler's business).
    pub(crate) fn deadline(&self, limits: &ConnectionLimits) -> Option<Duration> {
        if !self.is_idle() {
            return None;
        }
        let wait = if self.head.load(Relaxed) {
            limits.header_read_timeout
        } else {
            limits.idle_timeout
        };
        Some(Duration::from_millis(self.since_ms.load(Relaxed)) + wait)
    }
}

/// A request in flight; dropped with its response body.
#[derive(Debug)]
pub(crate) struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Relaxed) == 1 {
            self.0.since_ms.store(self.0.now_ms(), Relaxed);
        }
    }
}

/// A socket that reports reads to its connection's [`Activity`].
#[derive(Debug)]
pub(crate) struct Watched<T> {
    io: T,
    activity: Arc<Activity>,
}

impl<T> Watched<T> {
    pub(crate) fn new(io: T, activity: Arc<Activity>) -> Self {
        Self { io, activity }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.on_read();
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ConnectionLimits {
        ConnectionLimits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_head_has_the_header_timeout_an_idle_wait_the_idle_timeout() {
        let l = limits();
        let a = Arc::new(Activity::new());
        // A new connection must send its head within the header timeout.
        assert_eq!(a.deadline(&l), Some(Duration::from_secs(10)));
        tokio::time::advance(Duration::from_secs(3)).await;
        let busy = a.begin();
        assert_eq!(a.deadline(&l), None, "no deadline while a request runs");
        tokio::time::advance(Duration::from_secs(100)).await;
        assert_eq!(a.deadline(&l), None);
        drop(busy);
        // Kept alive: the idle timeout runs from the end of the response.
        assert_eq!(a.deadline(&l), Some(Duration::from_secs(163)));
        tokio::time::advance(Duration::from_secs(5)).await;
        // The first byte of the next head starts the header timeout.
        a.on_read();
        assert_eq!(a.deadline(&l), Some(Duration::from_secs(118)));
        tokio::time::advance(Duration::from_secs(1)).await;
        a.on_read();
        assert_eq!(
            a.deadline(&l),
            Some(Duration::from_secs(118)),
            "more bytes of the same head do not extend it"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn pipelined_requests_keep_the_connection_busy_until_the_last_ends() {
        let l = limits();
        let a = Arc::new(Activity::new());
        let first = a.begin();
        let second = a.begin();
        drop(first);
        assert_eq!(a.deadline(&l), None);
        drop(second);
        assert!(a.deadline(&l).is_some());
    }

    #[test]
    fn a_drain_refuses_only_after_its_grace() {
        let a = Activity::new();
        assert!(!a.is_refusing(), "refusing before any drain");
        a.refuse_after(Duration::from_secs(60));
        assert!(!a.is_refusing(), "refusing within the grace");
        a.refuse_after(Duration::ZERO);
        assert!(a.is_refusing(), "serving after the grace");
        a.refuse_after(Duration::MAX);
        assert!(
            !a.is_refusing(),
            "an endless grace overflowed into a refusal"
        );
    }
}
