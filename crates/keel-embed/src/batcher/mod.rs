//! Dynamic batching: concurrent requests share forward passes.
//!
//! A request flows through four stages:
//!
//! 1. **Admission** (caller's task): the texts take places in a bounded queue, counted in
//!    texts; a full queue fails fast with [`EmbedError::Overloaded`].
//! 2. **Tokenization** (tokenizer threads): each text becomes token ids, so its batch
//!    cost is known.
//! 3. **Scheduling** (one async task): texts wait in a queue; batches are cut under a
//!    token budget, grouping similar lengths (see `form.rs`), and leave by the policy in
//!    `policy.rs`: full batches at once, a lone caller at once, otherwise within
//!    `flush_deadline`.
//! 4. **Inference** (inference threads): one forward pass per batch; every text is
//!    answered on its own channel as soon as its batch finishes.
//!
//! A caller that drops its future gives up its texts: ones not yet in a running batch are
//! skipped. The tower `Buffer`/`ConcurrencyLimit` layers were considered for this; they
//! queue whole requests and cannot merge them into one model call, which is the point.

mod config;
mod form;
mod policy;
mod scheduler;
mod stats;
mod threads;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc as std_mpsc;

use tokio::sync::{Notify, Semaphore, mpsc, oneshot};
use tokio::time::Instant;

pub use self::config::BatcherConfig;
use self::policy::Policy;
use self::scheduler::Scheduler;
pub use self::stats::BatcherStats;
use self::stats::Stats;
use self::threads::{Item, PrepareJob, spawn_inference, spawn_tokenizers};
use crate::engine::EmbeddingModel;
use crate::error::EmbedError;
use crate::model::Model;

/// The shared front of an embedding model: queues, batches and answers requests.
///
/// Requests are admitted into a bounded queue (counted in texts; full means
/// [`EmbedError::Overloaded`] at once), tokenized on the batcher's tokenizer threads, then
/// grouped into batches whose padded size (longest text × texts) stays within
/// [`BatcherConfig::token_budget`], texts of similar length together, and run on the
/// inference threads. Nothing blocking runs on the async runtime.
///
/// When a batch leaves, with an inference thread free:
/// - at once if the queue holds a full batch (budget or `max_batch_size` reached), so
///   a deep queue is served in the largest batches;
/// - at once if nothing is running and as many requests are queued as the last batch
///   served (one if that was longer than `flush_deadline` ago), so a lone caller never
///   waits, while callers in lock step are gathered into one batch;
/// - otherwise when its oldest text has waited `flush_deadline`.
///
/// With [`BatcherConfig::batching`] off, each request runs alone. A caller that drops
/// its future abandons its texts; those not yet running are skipped.
///
/// Cheap to clone; all clones share one queue and one set of threads, which stop when
/// the last clone is dropped.
pub struct Batcher<M: EmbeddingModel = Model> {
    inner: Arc<Inner<M>>,
}

struct Inner<M: EmbeddingModel> {
    model: Arc<M>,
    config: BatcherConfig,
    admission: Arc<Semaphore>,
    tokenizers: std_mpsc::Sender<PrepareJob<M::Input>>,
    arrivals: mpsc::UnboundedSender<Vec<Item<M::Input>>>,
    next_request: AtomicU64,
    /// Wakes the scheduler to drop texts whose caller gave up, freeing their places.
    abandoned: Arc<Notify>,
    stats: Arc<Stats>,
}

impl<M: EmbeddingModel> Clone for Batcher<M> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<M: EmbeddingModel> std::fmt::Debug for Batcher<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batcher")
            .field("config", &self.inner.config)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl<M: EmbeddingModel> Batcher<M> {
    /// Starts the threads and the scheduler task for `model`. Must be called from within a
    /// Tokio runtime (the scheduler is spawned on it).
    pub fn new(model: Arc<M>, config: BatcherConfig) -> Result<Self, EmbedError> {
        config.validate(model.max_tokens())?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| EmbedError::NoRuntime)?;
        let stats = Arc::new(Stats::default());
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        let jobs = spawn_inference(
            Arc::clone(&model),
            config.inference_threads,
            config.kernel_threads,
            Arc::clone(&stats),
            done_tx,
        )?;
        let tokenizers = spawn_tokenizers(Arc::clone(&model), config.tokenizer_threads)?;
        let (arrivals, arrivals_rx) = mpsc::unbounded_channel();
        let abandoned = Arc::new(Notify::new());
        let scheduler = Scheduler {
            policy: Policy {
                batching: config.batching,
                max_batch: config.max_batch_size,
                token_budget: config.token_budget,
                flush_deadline: config.flush_deadline,
            },
            threads: config.inference_threads,
            arrivals: arrivals_rx,
            completions: done_rx,
            abandoned: Arc::clone(&abandoned),
            jobs,
            stats: Arc::clone(&stats),
            queue: Vec::new(),
            in_flight: 0,
            cohort: None,
        };
        runtime.spawn(scheduler.run());
        Ok(Self {
            inner: Arc::new(Inner {
                admission: Arc::new(Semaphore::new(config.queue_capacity)),
                model,
                config,
                tokenizers,
                arrivals,
                next_request: AtomicU64::new(0),
                abandoned,
                stats,
            }),
        })
    }

    /// Embeds `texts`, one vector per text, in order.
    ///
    /// Fails with [`EmbedError::EmptyInput`] for an empty list, with
    /// [`EmbedError::TooManyTexts`] beyond the queue capacity, and at once with
    /// [`EmbedError::Overloaded`] when the queue cannot take them now. Empty strings are
    /// valid (they embed as the bare `[CLS] [SEP]` sequence); texts beyond the model's
    /// window are truncated. Dropping the future abandons the texts not yet running.
    pub async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, EmbedError> {
        let inner = &*self.inner;
        let capacity = inner.config.queue_capacity;
        if texts.is_empty() {
            return Err(EmbedError::EmptyInput);
        }
        let too_many = || EmbedError::TooManyTexts {
            got: texts.len(),
            max: capacity,
        };
        let count = u32::try_from(texts.len()).map_err(|_| too_many())?;
        if texts.len() > capacity {
            return Err(too_many());
        }
        let admission = Arc::clone(&inner.admission)
            .try_acquire_many_owned(count)
            .map_err(|_| EmbedError::Overloaded { capacity })?;
        let admission = Arc::new(admission);

        let (reply, prepared) = oneshot::channel();
        inner
            .tokenizers
            .send(PrepareJob { texts, reply })
            .map_err(|_| EmbedError::ShutDown)?;
        let inputs = prepared.await.map_err(|_| EmbedError::ShutDown)??;

        let request = inner.next_request.fetch_add(1, Ordering::Relaxed);
        let mut answers = Vec::with_capacity(inputs.len());
        let items = inputs
            .into_iter()
            .map(|input| {
                let (reply, answer) = oneshot::channel();
                answers.push(answer);
                Item {
                    tokens: inner.model.token_len(&input),
                    input,
                    request,
                    enqueued: Instant::now(),
                    reply,
                    _admission: Arc::clone(&admission),
                }
            })
            .collect();
        drop(admission);
        inner
            .arrivals
            .send(items)
            .map_err(|_| EmbedError::ShutDown)?;

        let guard = AbandonGuard(Some(&inner.abandoned));
        let mut vectors = Vec::with_capacity(answers.len());
        for answer in answers {
            vectors.push(answer.await.map_err(|_| EmbedError::ShutDown)??);
        }
        guard.disarm();
        Ok(vectors)
    }

    /// The width of every vector.
    pub fn dimension(&self) -> usize {
        self.inner.model.dimension()
    }

    /// The model behind the batcher.
    pub fn model(&self) -> &Arc<M> {
        &self.inner.model
    }

    /// The settings in force.
    pub fn config(&self) -> &BatcherConfig {
        &self.inner.config
    }

    /// Current counters.
    pub fn stats(&self) -> BatcherStats {
        let inner = &*self.inner;
        let free = inner.admission.available_permits();
        inner
            .stats
            .snapshot(inner.config.queue_capacity.saturating_sub(free))
    }
}

/// Tells the scheduler when a caller stops waiting before all its answers arrived, so
/// its queued texts are dropped (and their places freed) now rather than at the next
/// batch.
struct AbandonGuard<'a>(Option<&'a Notify>);

impl AbandonGuard<'_> {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for AbandonGuard<'_> {
    fn drop(&mut self) {
        if let Some(notify) = self.0 {
            notify.notify_one();
        }
    }
}
