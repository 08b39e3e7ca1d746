//! The engine's progress callback and cancel flag, wired to the request's [`Context`].

use std::sync::{Arc, Mutex, PoisonError};

use keel_analyze::{CancelToken, ProgressFn};
use keel_core::Context;
use tokio::task::JoinHandle;

/// Notifications per analysis at most: one per this fraction of the work, plus the start.
const STEPS: f64 = 20.0;

/// A progress callback that forwards the engine's `(done, total)` as `notifications/progress`,
/// at most once per twentieth of the work and never out of order. Does nothing when the
/// client sent no progress token.
pub(crate) fn progress_fn(cx: &Context) -> ProgressFn {
    if !cx.wants_progress() {
        return Arc::new(|_, _| {});
    }
    let cx = cx.clone();
    // The last step sent; the lock also keeps concurrent workers' notifications in order.
    let last = Mutex::new(None::<u64>);
    Arc::new(move |done: f64, total: f64| {
        let fraction = if total > 0.0 { done / total } else { 0.0 };
        // Truncation is intended: the step a fraction in [0, 1] falls in.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let step = (fraction.clamp(0.0, 1.0) * STEPS).floor() as u64;
        let mut last = last.lock().unwrap_or_else(PoisonError::into_inner);
        if last.is_none_or(|sent| step > sent) {
            *last = Some(step);
            cx.progress(done, Some(total), None);
        }
    })
}

/// Cancels the engine's token when the request is cancelled; stops watching when dropped.
pub(crate) struct CancelBridge {
    watcher: JoinHandle<()>,
}

impl CancelBridge {
    /// Starts watching `cx` on behalf of `engine`.
    pub(crate) fn new(cx: &Context, engine: CancelToken) -> Self {
        let request = cx.cancellation_token();
        let watcher = tokio::spawn(async move {
            request.cancelled().await;
            engine.cancel();
        });
        Self { watcher }
    }
}

impl Drop for CancelBridge {
    fn drop(&mut self) {
        self.watcher.abort();
    }
}
