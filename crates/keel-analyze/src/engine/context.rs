//! The run context every pass goes through: parallel chunking, cancellation checks between
//! chunks, and coarse, monotonic progress.

use std::ops::Range;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;

use crate::cancel::CancelToken;
use crate::error::AnalysisError;

/// Rows per chunk: the unit of parallel work, of cancellation latency and of progress.
pub(crate) const CHUNK: usize = 1 << 16;

/// Progress is reported at most about this many times per run.
const REPORTS: u64 = 100;

/// Progress callback as the engine sees it: `(done, total)` in work units.
pub(crate) type Progress<'a> = &'a (dyn Fn(f64, f64) + Sync);

pub(crate) struct Ctx<'a> {
    cancel: &'a CancelToken,
    progress: Progress<'a>,
    total: u64,
    /// Smallest advance worth reporting.
    step: u64,
    done: AtomicU64,
    /// Last value passed to `progress`; holding the lock serialises reports, so the callback
    /// sees non-decreasing values.
    reported: Mutex<u64>,
}

impl<'a> Ctx<'a> {
    /// Starts a run of `total` work units and reports `(0, total)`.
    pub(crate) fn new(cancel: &'a CancelToken, progress: Progress<'a>, total: u64) -> Self {
        progress(0.0, total as f64);
        Self {
            cancel,
            progress,
            total,
            step: (total / REPORTS).max(1),
            done: AtomicU64::new(0),
            reported: Mutex::new(0),
        }
    }

    /// Fails with [`AnalysisError::Cancelled`] once the token is cancelled.
    pub(crate) fn check(&self) -> Result<(), AnalysisError> {
        if self.cancel.is_cancelled() {
            Err(AnalysisError::Cancelled)
        } else {
            Ok(())
        }
    }

    /// Records `units` of finished work, reporting if enough has accumulated and no other
    /// thread is reporting right now.
    pub(crate) fn advance(&self, units: u64) {
        let done = self.done.fetch_add(units, Ordering::AcqRel) + units;
        if let Ok(mut reported) = self.reported.try_lock()
            && done >= *reported + self.step
        {
            let now = self.done.load(Ordering::Acquire);
            *reported = now;
            (self.progress)(now as f64, self.total as f64);
        }
    }

    /// Work units recorded so far.
    pub(crate) fn done(&self) -> u64 {
        self.done.load(Ordering::Acquire)
    }

    /// Reports the final count if it was not reported yet.
    pub(crate) fn finish(&self) {
        let done = self.done();
        debug_assert_eq!(done, self.total, "work plan and work done disagree");
        let mut reported = self
            .reported
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if *reported < done {
            *reported = done;
            (self.progress)(done as f64, self.total as f64);
        }
    }

    /// Runs `work` on every [`CHUNK`]-sized range of `0..len` in parallel and returns the
    /// results in range order. Each range costs `units_per_row` units per row; cancellation
    /// is checked before each range starts.
    pub(crate) fn map_chunks<T, F>(
        &self,
        len: usize,
        units_per_row: u64,
        work: F,
    ) -> Result<Vec<T>, AnalysisError>
    where
        T: Send,
        F: Fn(Range<usize>) -> T + Sync + Send,
    {
        self.check()?;
        let chunks = len.div_ceil(CHUNK);
        (0..chunks)
            .into_par_iter()
            .map(|chunk| {
                self.check()?;
                let range = chunk * CHUNK..((chunk + 1) * CHUNK).min(len);
                let rows = range.len() as u64;
                let out = work(range);
                self.advance(rows * units_per_row);
                Ok(out)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::{CHUNK, Ctx};
    use crate::cancel::CancelToken;
    use crate::error::AnalysisError;

    #[test]
    fn chunks_cover_the_range_in_order_and_progress_is_monotonic() {
        let calls = Mutex::new(Vec::new());
        let record = |done: f64, total: f64| calls.lock().unwrap().push((done, total));
        let cancel = CancelToken::new();
        let len = 5 * CHUNK + 7;
        let ctx = Ctx::new(&cancel, &record, len as u64);
        let ranges = ctx.map_chunks(len, 1, |r| r).unwrap();
        ctx.finish();
        assert_eq!(ranges.len(), 6);
        assert_eq!(ranges[0], 0..CHUNK);
        assert_eq!(ranges[5], 5 * CHUNK..len);
        assert!(ranges.windows(2).all(|w| w[0].end == w[1].start));

        let calls = calls.into_inner().unwrap();
        assert_eq!(calls.first(), Some(&(0.0, len as f64)));
        assert_eq!(calls.last(), Some(&(len as f64, len as f64)));
        assert!(calls.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(calls.len() <= 8);
    }

    #[test]
    fn cancelled_context_does_no_work() {
        let cancel = CancelToken::new();
        cancel.cancel();
        let ctx = Ctx::new(&cancel, &|_, _| {}, 10);
        let result = ctx.map_chunks(10, 1, |_| panic!("work ran after cancellation"));
        assert_eq!(result, Err(AnalysisError::Cancelled));
        assert_eq!(ctx.done(), 0);
    }
}
