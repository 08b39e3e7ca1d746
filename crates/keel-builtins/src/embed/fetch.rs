//! Fetching the model in the background when the tools start without it: the download runs
//! on a blocking thread, reports its progress for readiness and the tools, retries after a
//! failure with a bounded backoff, and stops when its cancellation token fires.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use keel_embed::{EmbedError, FetchProgress, ModelStore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Wait before the second attempt; each later wait doubles, up to [`MAX_RETRY_DELAY`].
const FIRST_RETRY_DELAY: Duration = Duration::from_secs(5);
/// The longest wait between two attempts.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(300);

/// Where a background fetch stands.
#[derive(Debug, Clone, PartialEq)]
enum FetchState {
    /// No fetch is running or pending.
    Idle,
    /// Attempt `attempt` is running; `activity` says what it does (the wheel downloading
    /// and how far, or the step after), once it has started.
    Running {
        attempt: u32,
        activity: Option<String>,
    },
    /// The files are installed and the model is loading.
    Loading,
    /// Attempt `attempt` failed; the next starts at `retry_at`.
    Failed {
        attempt: u32,
        error: String,
        retry_at: Instant,
    },
}

/// The shared state of the background fetch, read by readiness and the tools.
#[derive(Debug)]
pub(crate) struct FetchStatus(Mutex<FetchState>);

impl Default for FetchStatus {
    fn default() -> Self {
        Self(Mutex::new(FetchState::Idle))
    }
}

impl FetchStatus {
    fn set(&self, state: FetchState) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = state;
    }

    fn update(&self, change: impl FnOnce(&mut FetchState)) {
        change(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner));
    }

    /// Marks the first attempt as started (before its task runs, so readiness says so at
    /// once).
    pub(crate) fn starting(&self) {
        self.set(running(1));
    }

    /// `None` when no fetch is running or pending; else what it is doing, for readiness and
    /// the tools' errors.
    pub(crate) fn describe(&self) -> Option<String> {
        let state = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        Some(match state {
            FetchState::Idle => return None,
            FetchState::Running {
                attempt,
                activity: Some(activity),
            } => format!("the model is downloading (attempt {attempt}): {activity}"),
            FetchState::Running { attempt, .. } => {
                format!("the model is downloading (attempt {attempt})")
            }
            FetchState::Loading => "the model is downloaded and loading".to_owned(),
            FetchState::Failed {
                attempt,
                error,
                retry_at,
            } => format!(
                "downloading the model failed (attempt {attempt}): {error}; retrying in {} s",
                retry_at
                    .saturating_duration_since(Instant::now())
                    .as_secs()
                    .max(1)
            ),
        })
    }

    /// The model is installed: it loads next.
    pub(crate) fn loading(&self) {
        self.set(FetchState::Loading);
    }

    /// The fetch is over (loaded, or given up on cancellation).
    pub(crate) fn idle(&self) {
        self.set(FetchState::Idle);
    }
}

fn running(attempt: u32) -> FetchState {
    FetchState::Running {
        attempt,
        activity: None,
    }
}

/// The wait after failed attempt `attempt` (1-based): 5 s, 10 s, 20 s, … up to 5 minutes.
///
/// A doubling capped delay is one line; backon's builders were looked at, but the loop must
/// also wake on cancellation and publish the next attempt's time, which it does itself.
pub(crate) fn retry_delay(attempt: u32) -> Duration {
    let doublings = attempt.saturating_sub(1).min(16);
    FIRST_RETRY_DELAY
        .saturating_mul(1 << doublings)
        .min(MAX_RETRY_DELAY)
}

/// Runs `fetch` on a blocking thread until it succeeds (true) or `cancel` fires (false),
/// waiting [`retry_delay`] between failed attempts and publishing each step to `status`.
pub(crate) async fn fetch_with_retry<F>(
    status: &Arc<FetchStatus>,
    cancel: &CancellationToken,
    fetch: F,
) -> bool
where
    F: Fn(Reporter) -> Result<(), EmbedError> + Clone + Send + 'static,
{
    let mut attempt = 1;
    loop {
        status.set(running(attempt));
        let reporter = Reporter {
            status: Arc::clone(status),
            cancel: cancel.clone(),
            logged_percent: 0,
        };
        let fetch = fetch.clone();
        let outcome = tokio::task::spawn_blocking(move || fetch(reporter)).await;
        let error = match outcome {
            Ok(Ok(())) => return true,
            Ok(Err(EmbedError::Cancelled)) => return false,
            Ok(Err(err)) => err.to_string(),
            Err(join) => format!("the download thread failed: {join}"),
        };
        if cancel.is_cancelled() {
            return false;
        }
        let delay = retry_delay(attempt);
        tracing::warn!(
            attempt,
            %error,
            retry_in_secs = delay.as_secs(),
            "downloading the embedding model failed"
        );
        status.set(FetchState::Failed {
            attempt,
            error,
            retry_at: Instant::now() + delay,
        });
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = cancel.cancelled() => return false,
        }
        attempt += 1;
    }
}

/// Fetches the model into `store` in the background: the body of the server-owned task.
pub(crate) fn fetch_model(
    store: ModelStore,
) -> impl Fn(Reporter) -> Result<(), EmbedError> + Clone {
    move |reporter: Reporter| {
        // Another process (`keel model fetch`) may have installed it meanwhile.
        if store.locate().is_ok() {
            return Ok(());
        }
        store.fetch(reporter).map(drop)
    }
}

/// A fetch's [`FetchProgress`]: steps go to the log and, with the byte counts, to the shared status;
/// the cancellation token stops it.
pub(crate) struct Reporter {
    status: Arc<FetchStatus>,
    cancel: CancellationToken,
    logged_percent: u64,
}

impl Reporter {
    fn doing(&self, what: String) {
        self.status.update(|state| {
            if let FetchState::Running { activity, .. } = state {
                *activity = Some(what);
            }
        });
    }
}

impl FetchProgress for Reporter {
    fn step(&mut self, line: &str) {
        tracing::info!(step = line.trim(), "fetching the embedding model");
        // Indented lines detail the step before them; readiness shows the steps.
        if !line.starts_with(' ') {
            self.doing(line.to_owned());
        }
    }

    fn download(&mut self, name: &str, done: u64, total: u64) {
        let percent = done.saturating_mul(100).checked_div(total).unwrap_or(0);
        self.doing(format!(
            "{name}, {:.1} of {:.1} MB ({percent}%)",
            mb(done),
            mb(total)
        ));
        // A log line every 10%, not every chunk.
        let tenth = percent / 10 * 10;
        if tenth != self.logged_percent {
            self.logged_percent = tenth;
            tracing::info!(
                file = name,
                percent = tenth,
                "downloading the embedding model"
            );
        }
    }

    fn cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }
}

fn mb(bytes: u64) -> f64 {
    // Display only: precision loss above 2^52 bytes does not matter.
    #[allow(clippy::cast_precision_loss)]
    let bytes = bytes as f64;
    bytes / 1_000_000.0
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[test]
    fn retries_back_off_by_doubling_up_to_five_minutes() {
        let delays: Vec<u64> = (1..=9).map(|a| retry_delay(a).as_secs()).collect();
        assert_eq!(delays, [5, 10, 20, 40, 80, 160, 300, 300, 300]);
        assert_eq!(retry_delay(u32::MAX), MAX_RETRY_DELAY);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_fetch_is_reported_then_retried_until_it_succeeds() {
        let status = Arc::new(FetchStatus::default());
        let cancel = CancellationToken::new();
        let calls = Arc::new(AtomicU32::new(0));
        let counter = Arc::clone(&calls);
        let fetch = move |mut reporter: Reporter| {
            reporter.download("model.whl", 50, 100);
            match counter.fetch_add(1, Ordering::SeqCst) {
                0 | 1 => Err(EmbedError::NoCacheDir),
                _ => Ok(()),
            }
        };
        let started = Instant::now();
        let task = {
            let (status, cancel) = (Arc::clone(&status), cancel.clone());
            tokio::spawn(async move { fetch_with_retry(&status, &cancel, fetch).await })
        };
        // After the first failure, before the first retry: the failure is what readiness
        // says.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let said = status.describe().unwrap();
        assert!(
            said.contains("failed (attempt 1)") && said.contains("no model cache directory"),
            "{said}"
        );
        assert!(task.await.unwrap(), "the third attempt succeeds");
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        // 5 s after the first failure, 10 s after the second.
        assert!(started.elapsed() >= Duration::from_secs(15));
        assert!(started.elapsed() < Duration::from_secs(16));
    }

    #[tokio::test(start_paused = true)]
    async fn cancellation_ends_the_wait_between_attempts() {
        let status = Arc::new(FetchStatus::default());
        let cancel = CancellationToken::new();
        let task = {
            let (status, cancel) = (Arc::clone(&status), cancel.clone());
            tokio::spawn(async move {
                fetch_with_retry(&status, &cancel, |_: Reporter| Err(EmbedError::NoCacheDir)).await
            })
        };
        tokio::time::sleep(Duration::from_secs(1)).await;
        cancel.cancel();
        assert!(!task.await.unwrap());
    }

    #[test]
    fn progress_is_described_with_the_file_and_percent() {
        let status = Arc::new(FetchStatus::default());
        assert_eq!(status.describe(), None);
        status.starting();
        assert_eq!(
            status.describe().unwrap(),
            "the model is downloading (attempt 1)"
        );
        let mut reporter = Reporter {
            status: Arc::clone(&status),
            cancel: CancellationToken::new(),
            logged_percent: 0,
        };
        reporter.download("m.whl", 41_750_000, 83_500_000);
        let said = status.describe().unwrap();
        assert!(said.contains("m.whl, 41.8 of 83.5 MB (50%)"), "{said}");
        reporter.step("extracting model files");
        reporter.step("  model.safetensors (90868376 bytes)");
        let said = status.describe().unwrap();
        assert!(
            said.ends_with("(attempt 1): extracting model files"),
            "{said}"
        );
        status.idle();
        assert_eq!(status.describe(), None);
    }
}
