//! A dedicated, bounded CPU pool for analyses, bridged to async callers.
//!
//! tower's `ConcurrencyLimit` and `LoadShed` bound concurrency for services, but the work
//! here must leave the async runtime for CPU threads and be cancelled when its caller goes
//! away, so the bound is a semaphore permit held by the job on a rayon pool and the bridge a
//! oneshot channel.

use std::future::Future;
use std::num::NonZeroUsize;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::sync::{Semaphore, oneshot};

use crate::cancel::CancelToken;
use crate::dataset::Dataset;
use crate::engine::analyze;
use crate::error::{AnalysisError, Overloaded, PoolBuildError};
use crate::report::AnalysisReport;
use crate::request::AnalysisRequest;

/// Progress callback: receives `(done, total)` work units; see [`analyze`].
pub type ProgressFn = Arc<dyn Fn(f64, f64) + Send + Sync>;

/// Size of an [`AnalysisPool`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolConfig {
    /// Worker threads. Default (`None`): the number of available cores.
    pub threads: Option<NonZeroUsize>,
    /// Jobs admitted at once, running or queued for a thread; further submissions fail with
    /// [`Overloaded`]. Default 4.
    pub max_in_flight: NonZeroUsize,
    /// How much nicer than the server the worker threads run, 0 to 19 (the most the system
    /// allows in total), as `nice -n`. Default 19: a saturated pool then yields the cores to
    /// the threads that answer cheap requests, so heavy work queues behind light work and not
    /// the other way round (at 10, light calls' p99 still doubled under a saturated pool on
    /// two cores; see BENCHMARKS.md). Linux only.
    pub nice: u8,
}

/// The highest nice value the operating system accepts.
pub const MAX_NICE: u8 = 19;

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            threads: None,
            max_in_flight: NonZeroUsize::new(4).expect("4 is not zero"),
            nice: MAX_NICE,
        }
    }
}

/// Runs analyses on its own rayon threads, never on the async runtime, admitting a bounded
/// number of jobs at once.
pub struct AnalysisPool {
    pool: rayon::ThreadPool,
    permits: Arc<Semaphore>,
    capacity: usize,
}

impl std::fmt::Debug for AnalysisPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnalysisPool")
            .field("threads", &self.threads())
            .field("capacity", &self.capacity)
            .field("in_flight", &self.in_flight())
            .finish()
    }
}

impl AnalysisPool {
    /// Starts the worker threads (named `keel-analyze-N`).
    ///
    /// # Errors
    /// [`PoolBuildError`] when the operating system refuses to start the threads.
    pub fn new(config: PoolConfig) -> Result<Self, PoolBuildError> {
        let nice = config.nice.min(MAX_NICE);
        let threads = config.threads.map_or_else(
            || std::thread::available_parallelism().map_or(1, NonZeroUsize::get),
            NonZeroUsize::get,
        );
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("keel-analyze-{i}"))
            .start_handler(move |_| lower_thread_priority(nice))
            .build()
            .map_err(|source| PoolBuildError { source })?;
        let capacity = config.max_in_flight.get();
        Ok(Self {
            pool,
            permits: Arc::new(Semaphore::new(capacity)),
            capacity,
        })
    }

    /// Number of worker threads.
    pub fn threads(&self) -> usize {
        self.pool.current_num_threads()
    }

    /// Most jobs admitted at once.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Jobs admitted and not yet finished, including abandoned ones still winding down.
    pub fn in_flight(&self) -> usize {
        self.capacity - self.permits.available_permits()
    }

    /// Starts an analysis if a slot is free. The job keeps its slot until its work stops,
    /// even if the returned [`AnalysisJob`] is dropped first (which cancels it).
    ///
    /// # Errors
    /// [`Overloaded`] when [`capacity`](Self::capacity) jobs are already in flight; nothing
    /// is started.
    pub fn try_submit(
        &self,
        dataset: Arc<Dataset>,
        request: AnalysisRequest,
        progress: ProgressFn,
        cancel: CancelToken,
    ) -> Result<AnalysisJob, Overloaded> {
        let permit = Arc::clone(&self.permits)
            .try_acquire_owned()
            .map_err(|_| Overloaded {
                capacity: self.capacity,
            })?;
        let (sender, receiver) = oneshot::channel();
        let token = cancel.clone();
        self.pool.spawn(move || {
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                analyze(&dataset, &request, &*progress, &token)
            }));
            let result = outcome.unwrap_or_else(|payload| {
                Err(AnalysisError::WorkerPanicked {
                    message: panic_message(payload.as_ref()),
                })
            });
            // Free the slot before reporting, so a caller that saw the result can submit again.
            drop(permit);
            // The receiver is gone when the job was abandoned; the result has no reader then.
            let _ = sender.send(result);
        });
        Ok(AnalysisJob {
            receiver,
            guard: CancelOnDrop {
                token: cancel,
                armed: true,
            },
        })
    }

    /// Runs an analysis to completion: [`try_submit`](Self::try_submit), then awaits the
    /// job. Dropping the returned future cancels the work.
    ///
    /// # Errors
    /// [`AnalysisError::Overloaded`] when the pool is full, and every error of [`analyze`].
    pub async fn run(
        &self,
        dataset: Arc<Dataset>,
        request: AnalysisRequest,
        progress: ProgressFn,
        cancel: CancelToken,
    ) -> Result<AnalysisReport, AnalysisError> {
        self.try_submit(dataset, request, progress, cancel)?.await
    }
}

/// Raises the calling thread's nice value by `nice` above the one it inherited (Linux keeps
/// one per thread, and threads it starts inherit it), as `nice -n` does, up to [`MAX_NICE`].
/// Raising it needs no privilege; should the system refuse anyway, the thread keeps the
/// server's priority, which costs latency under load and nothing else. Elsewhere than on
/// Linux it does nothing.
#[cfg(target_os = "linux")]
pub fn lower_thread_priority(nice: u8) {
    use rustix::process::{getpriority_process, setpriority_process};
    if nice == 0 {
        return;
    }
    let tid = Some(rustix::thread::gettid());
    if let Ok(own) = getpriority_process(tid) {
        let _ = setpriority_process(tid, (own + i32::from(nice)).min(i32::from(MAX_NICE)));
    }
}

/// Does nothing: thread priorities are only lowered on Linux.
#[cfg(not(target_os = "linux"))]
pub fn lower_thread_priority(_nice: u8) {}

/// A submitted analysis; resolves to its result. Dropping it before it resolves cancels the
/// analysis through its [`CancelToken`].
#[derive(Debug)]
#[must_use = "dropping a job cancels it"]
pub struct AnalysisJob {
    receiver: oneshot::Receiver<Result<AnalysisReport, AnalysisError>>,
    guard: CancelOnDrop,
}

impl AnalysisJob {
    /// The token that cancels this job.
    pub fn cancel_token(&self) -> &CancelToken {
        &self.guard.token
    }
}

impl Future for AnalysisJob {
    type Output = Result<AnalysisReport, AnalysisError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let result = std::task::ready!(Pin::new(&mut self.receiver).poll(cx));
        self.guard.armed = false;
        Poll::Ready(result.unwrap_or_else(|_| {
            Err(AnalysisError::WorkerPanicked {
                message: "the worker stopped without a result".to_owned(),
            })
        }))
    }
}

/// Cancels the token when dropped, unless the job already finished.
#[derive(Debug)]
struct CancelOnDrop {
    token: CancelToken,
    armed: bool,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if self.armed {
            self.token.cancel();
        }
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a worker panicked".to_owned()
    }
}

#[cfg(test)]
mod tests;
