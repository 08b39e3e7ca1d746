//! The thread an analysis's input is prepared on, at the analysis pool's lower priority.
//!
//! Reading a query's rows costs more CPU than analyzing them: SQLite produces the rows on
//! its connection's own thread and the rows are decoded where the read is polled. Done on
//! the server's runtime, both keep the server's priority, so a saturated cpu class would
//! take the cores from the threads answering light calls. The lane is one thread running
//! its own Tokio runtime, niced like the analysis pool; the analyzer's database
//! connections are opened from it, so their SQLite threads inherit its nice value (Linux
//! keeps one per thread and a new thread inherits its creator's), and the parse into a
//! dataset runs on the lane's blocking threads, started from it as well.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::runtime::{Builder, Handle};
use tokio::sync::oneshot;
use tokio::task::{JoinError, JoinHandle};

/// A thread with its own current-thread runtime, stopped when the lane is dropped.
pub(crate) struct Lane {
    handle: Handle,
    /// Dropping it ends the thread's `block_on`, which then drops the runtime.
    _stop: oneshot::Sender<()>,
}

impl Lane {
    /// Starts the thread `name`, `nice` levels nicer than the caller; the runtime's blocking
    /// threads share the name.
    pub(crate) fn start(name: &str, nice: u8) -> io::Result<Self> {
        let runtime = Builder::new_current_thread()
            .enable_all()
            .thread_name(name)
            .build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                keel_analyze::lower_thread_priority(nice);
                runtime.block_on(async {
                    let _ = stopped.await;
                });
                // Work still running belongs to calls that were dropped; nothing waits for it.
                runtime.shutdown_background();
            })?;
        Ok(Self {
            handle,
            _stop: stop,
        })
    }

    /// Runs `work` on the lane. The returned future resolves to its output, or to the
    /// [`JoinError`] when it panicked or the lane stopped first; dropping it aborts the work.
    pub(crate) fn run<F>(&self, work: F) -> OnLane<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        OnLane(self.handle.spawn(work))
    }
}

/// Work running on a [`Lane`], aborted when dropped unfinished.
pub(crate) struct OnLane<T>(JoinHandle<T>);

impl<T> Future for OnLane<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

impl<T> Drop for OnLane<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn work_runs_on_the_lane_thread_and_is_aborted_when_dropped() {
        let lane = Lane::start("keel-lane-test", 0).unwrap();
        let name = lane
            .run(async { std::thread::current().name().map(str::to_owned) })
            .await
            .unwrap();
        assert_eq!(name.as_deref(), Some("keel-lane-test"));

        // Dropping the caller's future stops the work: its guard is dropped on the lane.
        struct SetOnDrop(Arc<AtomicBool>);
        impl Drop for SetOnDrop {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let dropped = Arc::new(AtomicBool::new(false));
        let guard = SetOnDrop(Arc::clone(&dropped));
        let pending = lane.run(async move {
            let _guard = guard;
            std::future::pending::<()>().await;
        });
        assert!(
            tokio::time::timeout(Duration::from_millis(50), pending)
                .await
                .is_err()
        );
        for _ in 0..100 {
            if dropped.load(Ordering::SeqCst) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            dropped.load(Ordering::SeqCst),
            "the work outlived its caller"
        );

        // A panic in the work is an error for the caller, not a lost lane.
        let panicked = lane.run(async { panic!("boom") }).await;
        assert!(panicked.unwrap_err().is_panic());
        assert_eq!(lane.run(async { 7 }).await.unwrap(), 7);
    }

    #[tokio::test]
    async fn work_on_a_dropped_lane_ends_cancelled() {
        let lane = Lane::start("keel-lane-stop", 0).unwrap();
        let stranded = lane.run(std::future::pending::<()>());
        drop(lane);
        let outcome = tokio::time::timeout(Duration::from_secs(5), stranded)
            .await
            .expect("work on a stopped lane ends");
        assert!(outcome.unwrap_err().is_cancelled());
    }
}
