//! The fake model and the helpers the batcher tests share.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::batcher::{Batcher, BatcherConfig, BatcherStats};
use crate::engine::EmbeddingModel;
use crate::error::EmbedError;

/// Lets batches through one at a time, or all once opened.
#[derive(Default)]
pub(super) struct Gate {
    state: Mutex<(bool, usize)>,
    changed: Condvar,
}

impl Gate {
    fn pass(&self) {
        let mut state = self.state.lock().unwrap();
        while !state.0 && state.1 == 0 {
            state = self.changed.wait(state).unwrap();
        }
        if !state.0 {
            state.1 -= 1;
        }
    }

    pub(super) fn release(&self, n: usize) {
        self.state.lock().unwrap().1 += n;
        self.changed.notify_all();
    }

    pub(super) fn open(&self) {
        self.state.lock().unwrap().0 = true;
        self.changed.notify_all();
    }
}

/// Tokens = words + 2; vector = [bytes, tokens]. "fail" fails its batch, "panic" panics.
#[derive(Default)]
pub(super) struct Fake {
    pub(super) gate: Gate,
    pub(super) started: AtomicUsize,
    pub(super) batches: Mutex<Vec<Vec<String>>>,
}

impl EmbeddingModel for Fake {
    type Input = String;

    fn prepare(&self, text: &str) -> Result<String, EmbedError> {
        Ok(text.to_owned())
    }

    fn token_len(&self, input: &String) -> usize {
        input.split_whitespace().count() + 2
    }

    fn max_tokens(&self) -> usize {
        64
    }

    fn dimension(&self) -> usize {
        2
    }

    fn embed_prepared(&self, batch: &[&String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.started.fetch_add(1, Ordering::SeqCst);
        self.gate.pass();
        self.batches
            .lock()
            .unwrap()
            .push(batch.iter().map(|t| (*t).clone()).collect());
        if batch.iter().any(|t| t.as_str() == "panic") {
            panic!("the fake model was told to panic");
        }
        if batch.iter().any(|t| t.as_str() == "fail") {
            return Err(EmbedError::Unsupported {
                reason: "told to fail".to_owned(),
            });
        }
        Ok(batch
            .iter()
            .map(|t| vec![t.len() as f32, self.token_len(t) as f32])
            .collect())
    }
}

pub(super) fn config() -> BatcherConfig {
    BatcherConfig {
        max_batch_size: 8,
        token_budget: 120,
        flush_deadline: Duration::from_millis(5),
        queue_capacity: 64,
        ..BatcherConfig::default()
    }
}

pub(super) fn start(config: BatcherConfig) -> (Batcher<Fake>, Arc<Fake>) {
    let model = Arc::new(Fake::default());
    (Batcher::new(Arc::clone(&model), config).unwrap(), model)
}

/// Spins (never sleeps) until `cond` holds; the batcher's threads run meanwhile.
pub(super) async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let started = std::time::Instant::now();
    while !cond() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "never reached: {what}"
        );
        tokio::task::yield_now().await;
    }
}

pub(super) fn call(
    b: &Batcher<Fake>,
    texts: &[&str],
) -> JoinHandle<Result<Vec<Vec<f32>>, EmbedError>> {
    let b = b.clone();
    let texts = texts.iter().map(|t| (*t).to_owned()).collect();
    tokio::spawn(async move { b.embed(texts).await })
}

/// Submits one request and waits until the scheduler holds `waiting` texts.
pub(super) async fn queue(
    b: &Batcher<Fake>,
    texts: &[&str],
    waiting: usize,
) -> JoinHandle<Result<Vec<Vec<f32>>, EmbedError>> {
    let handle = call(b, texts);
    until("texts queued", || b.stats().waiting_texts == waiting).await;
    handle
}

/// Holds the gate closed with one batch of `"first"` running.
pub(super) async fn occupy(
    b: &Batcher<Fake>,
    model: &Fake,
) -> JoinHandle<Result<Vec<Vec<f32>>, EmbedError>> {
    let handle = call(b, &["first"]);
    until("first batch running", || {
        model.started.load(Ordering::SeqCst) == 1
    })
    .await;
    handle
}

pub(super) async fn answer(
    handle: JoinHandle<Result<Vec<Vec<f32>>, EmbedError>>,
) -> Result<Vec<Vec<f32>>, EmbedError> {
    until("request answered", || handle.is_finished()).await;
    handle.await.unwrap()
}

pub(super) fn words(n: usize) -> String {
    vec!["w"; n].join(" ")
}

pub(super) fn stats(b: &Batcher<Fake>) -> BatcherStats {
    b.stats()
}
