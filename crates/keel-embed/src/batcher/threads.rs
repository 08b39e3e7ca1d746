//! The batcher's own threads: a tokenizer pool and an inference pool, fed through
//! channels, so neither tokenization nor forward passes ever run on the async runtime.
//!
//! Plain `std::thread`s rather than `spawn_blocking`: the work is a few long-lived
//! loops, each pulling from one queue. candle spreads its kernels over the rayon pool it
//! runs in, so each inference thread runs its batches inside its own small rayon pool
//! (`kernel_threads`) instead of rayon's global one, which would be shared by all.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::Ordering;
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{OwnedSemaphorePermit, mpsc, oneshot};
use tokio::time::Instant;

use super::stats::Stats;
use crate::engine::EmbeddingModel;
use crate::error::EmbedError;

/// Where one text's vector (or error) goes.
pub(crate) type Reply = oneshot::Sender<Result<Vec<f32>, EmbedError>>;

/// One queued text.
pub(crate) struct Item<I> {
    pub(crate) input: I,
    pub(crate) tokens: usize,
    pub(crate) request: u64,
    /// Set when the scheduler receives the item.
    pub(crate) enqueued: Instant,
    pub(crate) reply: Reply,
    /// The request's share of the queue capacity, released with its last text.
    pub(crate) _admission: Arc<OwnedSemaphorePermit>,
}

impl<I> Item<I> {
    /// The caller stopped waiting (its future was dropped).
    pub(crate) fn abandoned(&self) -> bool {
        self.reply.is_closed()
    }
}

/// A request's texts to tokenize.
pub(crate) struct PrepareJob<I> {
    pub(crate) texts: Vec<String>,
    pub(crate) reply: oneshot::Sender<Result<Vec<I>, EmbedError>>,
}

/// A finished batch, reported to the scheduler.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Completed {
    /// Distinct requests the batch answered.
    pub(crate) requests: usize,
}

type Jobs<T> = Arc<Mutex<std_mpsc::Receiver<T>>>;

fn next_job<T>(jobs: &Jobs<T>) -> Option<T> {
    jobs.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .recv()
        .ok()
}

/// Starts `threads` threads that share one job queue; `make` builds each thread's
/// handler (which returns `false` to stop the thread).
fn spawn_pool<T, W>(
    name: &str,
    threads: usize,
    mut make: impl FnMut(usize) -> Result<W, EmbedError>,
) -> Result<std_mpsc::Sender<T>, EmbedError>
where
    T: Send + 'static,
    W: FnMut(T) -> bool + Send + 'static,
{
    let (tx, rx) = std_mpsc::channel();
    let jobs: Jobs<T> = Arc::new(Mutex::new(rx));
    for i in 0..threads {
        let mut work = make(i)?;
        let jobs = Arc::clone(&jobs);
        std::thread::Builder::new()
            .name(format!("keel-embed-{name}-{i}"))
            .spawn(move || {
                while let Some(job) = next_job(&jobs) {
                    if !work(job) {
                        break;
                    }
                }
            })
            .map_err(|source| EmbedError::ThreadSpawn { source })?;
    }
    Ok(tx)
}

/// Starts the tokenizer threads; they stop when the returned sender is dropped.
pub(crate) fn spawn_tokenizers<M: EmbeddingModel>(
    model: Arc<M>,
    threads: usize,
) -> Result<std_mpsc::Sender<PrepareJob<M::Input>>, EmbedError> {
    spawn_pool("tokenize", threads, |_| {
        let model = Arc::clone(&model);
        Ok(move |job: PrepareJob<M::Input>| {
            if !job.reply.is_closed() {
                let prepared = catch_unwind(AssertUnwindSafe(|| {
                    job.texts.iter().map(|t| model.prepare(t)).collect()
                }))
                .unwrap_or(Err(EmbedError::ModelPanicked));
                // The caller may have gone meanwhile; then nobody needs the tokens.
                let _ = job.reply.send(prepared);
            }
            true
        })
    })
}

/// Starts the inference threads, each running its batches inside its own rayon pool of
/// `kernel_threads`; they stop when the returned sender is dropped or the scheduler is
/// gone.
pub(crate) fn spawn_inference<M: EmbeddingModel>(
    model: Arc<M>,
    threads: usize,
    kernel_threads: usize,
    stats: Arc<Stats>,
    completions: mpsc::UnboundedSender<Completed>,
) -> Result<std_mpsc::Sender<Vec<Item<M::Input>>>, EmbedError> {
    spawn_pool("infer", threads, |i| {
        let kernels = rayon::ThreadPoolBuilder::new()
            .num_threads(kernel_threads)
            .thread_name(move |k| format!("keel-embed-kernel-{i}.{k}"))
            .build()
            .map_err(|err| EmbedError::ThreadSpawn {
                source: std::io::Error::other(err),
            })?;
        let (model, stats, completions) =
            (Arc::clone(&model), Arc::clone(&stats), completions.clone());
        Ok(move |batch: Vec<Item<M::Input>>| {
            let requests = kernels.install(|| run_batch(&*model, batch, &stats));
            stats.running_batches.fetch_sub(1, Ordering::AcqRel);
            completions.send(Completed { requests }).is_ok()
        })
    })
}

/// Runs one batch, skipping texts whose callers left, and answers each text. Returns the
/// number of distinct requests answered.
fn run_batch<M: EmbeddingModel>(model: &M, batch: Vec<Item<M::Input>>, stats: &Stats) -> usize {
    let (live, abandoned): (Vec<_>, Vec<_>) = batch.into_iter().partition(|i| !i.abandoned());
    Stats::add(&stats.skipped_texts, abandoned.len());
    drop(abandoned);
    if live.is_empty() {
        return 0;
    }
    let requests = 1 + live
        .windows(2)
        .filter(|w| w[0].request != w[1].request)
        .count();
    let inputs: Vec<&M::Input> = live.iter().map(|i| &i.input).collect();
    let outcome = catch_unwind(AssertUnwindSafe(|| model.embed_prepared(&inputs)));
    drop(inputs);
    Stats::add(&stats.batches, 1);
    let cause = match outcome {
        Ok(Ok(vectors)) if vectors.len() == live.len() => {
            Stats::add(&stats.embedded_texts, live.len());
            for (item, vector) in live.into_iter().zip(vectors) {
                // A caller that left after the check above simply misses its answer.
                let _ = item.reply.send(Ok(vector));
            }
            return requests;
        }
        Ok(Ok(vectors)) => EmbedError::BadOutput {
            expected: live.len(),
            got: vectors.len(),
        },
        Ok(Err(err)) => err,
        Err(_) => EmbedError::ModelPanicked,
    };
    let cause = Arc::new(cause);
    for item in live {
        let _ = item
            .reply
            .send(Err(EmbedError::BatchFailed(Arc::clone(&cause))));
    }
    requests
}
