//! The pool: admission, cancellation, progress, and the async bridge.

use std::num::NonZeroUsize;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use serde_json::json;

use super::{AnalysisPool, PoolConfig, ProgressFn};
use crate::cancel::CancelToken;
use crate::dataset::Dataset;
use crate::error::{AnalysisError, Overloaded, RequestError};
use crate::request::AnalysisRequest;

fn pool(threads: usize, max_in_flight: usize) -> AnalysisPool {
    AnalysisPool::new(PoolConfig {
        threads: NonZeroUsize::new(threads),
        max_in_flight: NonZeroUsize::new(max_in_flight).unwrap(),
        ..PoolConfig::default()
    })
    .unwrap()
}

fn request(value: serde_json::Value) -> AnalysisRequest {
    serde_json::from_value(value).unwrap()
}

fn quiet() -> ProgressFn {
    Arc::new(|_, _| {})
}

fn small() -> Arc<Dataset> {
    Arc::new(Dataset::from_values(vec![1.0, 2.0, 3.0, 10.0]).unwrap())
}

/// A progress callback that blocks in its first call until released, after announcing that
/// the job started. Its captured `Gate` disconnects `finished` when the job drops it.
struct Blocker {
    progress: ProgressFn,
    started: mpsc::Receiver<()>,
    release: mpsc::Sender<()>,
    finished: mpsc::Receiver<()>,
    calls: Arc<Mutex<Vec<f64>>>,
}

struct Gate {
    started: mpsc::Sender<()>,
    release: Mutex<mpsc::Receiver<()>>,
    _finished: mpsc::Sender<()>,
}

fn blocker() -> Blocker {
    let (started_tx, started) = mpsc::channel();
    let (release, release_rx) = mpsc::channel();
    let (finished_tx, finished) = mpsc::channel();
    let gate = Gate {
        started: started_tx,
        release: Mutex::new(release_rx),
        _finished: finished_tx,
    };
    let calls = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&calls);
    let progress: ProgressFn = Arc::new(move |done, _total| {
        // Capture the whole gate (not just the fields used), so `finished` lives as long as
        // the callback.
        let gate = &gate;
        let first = {
            let mut seen = seen.lock().unwrap();
            seen.push(done);
            seen.len() == 1
        };
        if first {
            gate.started.send(()).unwrap();
            gate.release.lock().unwrap().recv().unwrap();
        }
    });
    Blocker {
        progress,
        started,
        release,
        finished,
        calls,
    }
}

#[test]
fn handles_can_cross_threads() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: &T) {}
    let pool = pool(1, 1);
    send_sync(&pool);
    let run = pool.run(small(), request(json!({})), quiet(), CancelToken::new());
    send(&run);
    drop(run);
    let job = pool
        .try_submit(small(), request(json!({})), quiet(), CancelToken::new())
        .unwrap();
    send_sync(&job);
}

#[tokio::test]
async fn runs_an_analysis_off_the_runtime() {
    let pool = pool(2, 2);
    assert_eq!(pool.threads(), 2);
    let report = pool
        .run(small(), request(json!({})), quiet(), CancelToken::new())
        .await
        .unwrap();
    assert_eq!(report.columns[0].mean, Some(4.0));
    assert_eq!(report.columns[0].median, Some(2.5));
    assert_eq!(pool.in_flight(), 0);
}

#[tokio::test]
async fn errors_pass_through() {
    let pool = pool(1, 1);
    let result = pool
        .run(
            small(),
            request(json!({"columns": ["nope"]})),
            quiet(),
            CancelToken::new(),
        )
        .await;
    assert!(matches!(
        result,
        Err(AnalysisError::InvalidRequest {
            reason: RequestError::UnknownColumn { .. }
        })
    ));
}

#[tokio::test]
async fn full_pool_rejects_new_work_until_a_slot_frees() {
    let pool = pool(2, 1);
    let gate = blocker();
    let first = pool
        .try_submit(
            small(),
            request(json!({})),
            gate.progress.clone(),
            CancelToken::new(),
        )
        .unwrap();
    gate.started.recv().unwrap();
    assert_eq!(pool.in_flight(), 1);

    let busy = pool.try_submit(small(), request(json!({})), quiet(), CancelToken::new());
    assert_eq!(busy.unwrap_err(), Overloaded { capacity: 1 });
    let busy = pool
        .run(small(), request(json!({})), quiet(), CancelToken::new())
        .await;
    assert_eq!(busy, Err(AnalysisError::Overloaded { capacity: 1 }));
    assert_eq!(
        busy.unwrap_err().to_string(),
        "the analysis engine is busy (limit: 1 at a time); retry shortly"
    );

    gate.release.send(()).unwrap();
    assert!(first.await.is_ok());
    let again = pool
        .run(small(), request(json!({})), quiet(), CancelToken::new())
        .await;
    assert!(again.is_ok());
}

#[tokio::test]
async fn cancellation_stops_a_ten_million_value_run_early() {
    let pool = pool(2, 1);
    let values: Vec<f64> = (0..10_000_000u32).map(|i| f64::from(i % 10_007)).collect();
    let data = Arc::new(Dataset::from_values(values).unwrap());
    let cancel = CancelToken::new();
    let reports = Arc::new(Mutex::new(Vec::new()));
    let progress: ProgressFn = {
        let cancel = cancel.clone();
        let reports = Arc::clone(&reports);
        Arc::new(move |done, total| {
            reports.lock().unwrap().push((done, total));
            if done >= total * 0.1 {
                cancel.cancel();
            }
        })
    };
    let req = request(json!({"operations": [
        {"op": "summary"}, {"op": "histogram"}, {"op": "outliers"}
    ]}));
    let result = pool.run(data, req, progress, cancel).await;
    assert_eq!(result, Err(AnalysisError::Cancelled));

    let reports = reports.lock().unwrap();
    let total = reports[0].1;
    assert_eq!(total, 5.0 * 10_000_000.0);
    let furthest = reports.iter().map(|r| r.0).fold(0.0, f64::max);
    assert!(furthest >= total * 0.1);
    // Cancelled at 10%; only chunks already running may finish (each is 0.13% of the work).
    assert!(
        furthest < total * 0.2,
        "work went on to {furthest} of {total}"
    );
}

#[tokio::test]
async fn progress_reaches_the_total() {
    let pool = pool(2, 1);
    let values: Vec<f64> = (0..500_000u32).map(f64::from).collect();
    let data = Arc::new(Dataset::from_values(values).unwrap());
    let reports = Arc::new(Mutex::new(Vec::new()));
    let progress: ProgressFn = {
        let reports = Arc::clone(&reports);
        Arc::new(move |done, total| reports.lock().unwrap().push((done, total)))
    };
    let req = request(json!({"operations": [{"op": "mean"}, {"op": "percentiles", "p": [50]}]}));
    let report = pool
        .run(data, req, progress, CancelToken::new())
        .await
        .unwrap();
    assert_eq!(report.columns[0].mean, Some(249_999.5));

    let reports = reports.lock().unwrap();
    assert_eq!(reports.first(), Some(&(0.0, 1_500_000.0)));
    assert_eq!(reports.last(), Some(&(1_500_000.0, 1_500_000.0)));
    assert!(reports.len() > 3, "only {} reports", reports.len());
    assert!(reports.windows(2).all(|w| w[0].0 < w[1].0));
}

#[tokio::test]
async fn dropping_the_job_cancels_abandoned_work() {
    let pool = pool(2, 1);
    let values: Vec<f64> = (0..1_000_000u32).map(f64::from).collect();
    let data = Arc::new(Dataset::from_values(values).unwrap());
    let Blocker {
        progress,
        started,
        release,
        finished,
        calls,
    } = blocker();
    let cancel = CancelToken::new();
    let job = pool
        .try_submit(data, request(json!({})), progress, cancel.clone())
        .unwrap();
    started.recv().unwrap();
    assert!(!cancel.is_cancelled());
    drop(job);
    assert!(cancel.is_cancelled());

    release.send(()).unwrap();
    // The job drops its progress callback, and with it the gate, when it ends.
    assert_eq!(finished.recv(), Err(mpsc::RecvError));
    assert_eq!(*calls.lock().unwrap(), [0.0], "no chunk ran after the drop");
    assert_eq!(pool.in_flight(), 0);
}

#[tokio::test]
async fn a_finished_job_leaves_its_token_alone() {
    let pool = pool(1, 1);
    let cancel = CancelToken::new();
    let job = pool
        .try_submit(small(), request(json!({})), quiet(), cancel.clone())
        .unwrap();
    assert!(!job.cancel_token().is_cancelled());
    job.await.unwrap();
    assert!(!cancel.is_cancelled());
}

#[tokio::test]
async fn a_panicking_callback_becomes_an_error() {
    let pool = pool(1, 1);
    let progress: ProgressFn = Arc::new(|_, _| panic!("progress sink closed"));
    let result = pool
        .run(small(), request(json!({})), progress, CancelToken::new())
        .await;
    assert_eq!(
        result,
        Err(AnalysisError::WorkerPanicked {
            message: "progress sink closed".into()
        })
    );
    // The pool survives.
    assert!(
        pool.run(small(), request(json!({})), quiet(), CancelToken::new())
            .await
            .is_ok()
    );
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn workers_run_at_the_configured_nice_value() {
    let nice_of_worker = |nice: u8| async move {
        let pool = AnalysisPool::new(PoolConfig {
            threads: NonZeroUsize::new(1),
            nice,
            ..PoolConfig::default()
        })
        .unwrap();
        let seen = Arc::new(Mutex::new(None));
        let sink = Arc::clone(&seen);
        let progress: ProgressFn = Arc::new(move |_, _| {
            let tid = rustix::thread::gettid();
            *sink.lock().unwrap() = Some(rustix::process::getpriority_process(Some(tid)).unwrap());
        });
        pool.run(small(), request(json!({})), progress, CancelToken::new())
            .await
            .unwrap();
        seen.lock().unwrap().expect("the job reported progress")
    };
    let own = rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap();
    assert_eq!(nice_of_worker(10).await, (own + 10).min(19));
    assert_eq!(nice_of_worker(0).await, own);
}
