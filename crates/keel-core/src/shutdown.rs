//! How a server stops: it drains (takes no new work, ends open-ended streams, lets work in
//! flight finish), then stops (cancels what is left) when its drain deadline passes.
//!
//! Every task spawned outside a request (a task-extension run, a stream's pump, a timer) is
//! spawned here, so shutdown can wait for it and nothing outlives the server unnoticed.

use std::future::Future;

use tokio_util::{sync::CancellationToken, task::TaskTracker};

/// The shutdown state of one server, shared by its dispatcher and transports. Clones share
/// it.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    draining: CancellationToken,
    stopping: CancellationToken,
    work: TaskTracker,
}

impl Shutdown {
    /// A server that is serving.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts draining: no new work is taken, open-ended streams end, work in flight goes on.
    pub fn drain(&self) {
        self.draining.cancel();
    }

    /// Stops: the drain deadline passed and whatever still runs is cancelled.
    pub fn stop(&self) {
        self.draining.cancel();
        self.stopping.cancel();
    }

    /// Whether draining began.
    pub fn is_draining(&self) -> bool {
        self.draining.is_cancelled()
    }

    /// Whether the server stopped.
    pub fn is_stopped(&self) -> bool {
        self.stopping.is_cancelled()
    }

    /// Completes when draining begins.
    pub async fn drained(&self) {
        self.draining.cancelled().await;
    }

    /// Completes when the server stops.
    pub async fn stopped(&self) {
        self.stopping.cancelled().await;
    }

    /// A token cancelled when draining begins, for futures that must own their wait.
    pub fn draining_token(&self) -> CancellationToken {
        self.draining.clone()
    }

    /// Runs `work` as a tracked task; it is dropped (cancelled) when the server stops.
    pub fn spawn<F>(&self, work: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let stopping = self.stopping.clone();
        self.work.spawn(async move {
            tokio::select! {
                () = work => {}
                () = stopping.cancelled() => {}
            }
        });
    }

    /// Runs `work` as a tracked task that only serves while the server does: it is dropped
    /// when draining begins (change forwarders, timers).
    pub fn spawn_until_drain<F>(&self, work: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let draining = self.draining.clone();
        self.work.spawn(async move {
            tokio::select! {
                () = work => {}
                () = draining.cancelled() => {}
            }
        });
    }

    /// Completes once every tracked task ended; meant for after draining began.
    pub async fn work_done(&self) {
        self.work.close();
        self.work.wait().await;
    }

    /// Number of tracked tasks still running.
    pub fn tasks(&self) -> usize {
        self.work.len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn tracked_work_finishes_while_draining_and_is_cut_when_stopped() {
        let s = Shutdown::new();
        let (tx, rx) = tokio::sync::oneshot::channel();
        s.spawn(async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            let _ = tx.send(());
        });
        s.spawn_until_drain(std::future::pending());
        s.spawn(std::future::pending());
        assert_eq!(s.tasks(), 3);
        s.drain();
        assert!(s.is_draining());
        tokio::time::sleep(Duration::from_secs(6)).await;
        assert!(rx.await.is_ok(), "work in flight finished while draining");
        assert_eq!(
            s.tasks(),
            1,
            "the drain-bound task ended, the stuck one runs"
        );
        s.stop();
        tokio::time::timeout(Duration::from_secs(1), s.work_done())
            .await
            .expect("stopping cuts what is left");
    }
}
