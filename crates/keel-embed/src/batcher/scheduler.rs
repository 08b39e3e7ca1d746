//! The scheduler: one async task that queues tokenized texts, asks the policy when to cut
//! a batch, and hands batches to the inference threads. It only does bookkeeping, so it
//! can live on the runtime, and its waiting uses `tokio::time` (testable with a paused
//! clock).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc as std_mpsc;

use tokio::sync::{Notify, mpsc};
use tokio::time::{Instant, sleep_until};

use super::policy::{Cohort, Decision, Policy, Queued};
use super::stats::Stats;
use super::threads::{Completed, Item};

pub(crate) struct Scheduler<I> {
    pub(crate) policy: Policy,
    pub(crate) threads: usize,
    pub(crate) arrivals: mpsc::UnboundedReceiver<Vec<Item<I>>>,
    pub(crate) completions: mpsc::UnboundedReceiver<Completed>,
    pub(crate) abandoned: Arc<Notify>,
    pub(crate) jobs: std_mpsc::Sender<Vec<Item<I>>>,
    pub(crate) stats: Arc<Stats>,
    pub(crate) queue: Vec<Item<I>>,
    pub(crate) in_flight: usize,
    pub(crate) cohort: Option<Cohort>,
}

impl<I: Send + 'static> Scheduler<I> {
    /// Runs until every batcher handle is dropped (no caller can be waiting then) or the
    /// inference threads are gone.
    pub(crate) async fn run(mut self) {
        let mut open = true;
        loop {
            let wake = self.dispatch();
            self.stats
                .waiting_texts
                .store(self.queue.len(), Ordering::Release);
            if !open {
                break;
            }
            tokio::select! {
                biased;
                done = self.completions.recv() => match done {
                    Some(done) => self.complete(done),
                    None => break,
                },
                arrived = self.arrivals.recv() => match arrived {
                    Some(items) => self.accept(items),
                    None => open = false,
                },
                () = self.abandoned.notified() => {}
                () = sleep_until(wake.unwrap_or_else(Instant::now)), if wake.is_some() => {}
            }
        }
    }

    /// Queues a request's texts, and any other requests that arrived meanwhile.
    fn accept(&mut self, items: Vec<Item<I>>) {
        let now = Instant::now();
        let mut push = |items: Vec<Item<I>>| {
            self.queue.extend(items.into_iter().map(|mut item| {
                item.enqueued = now;
                item
            }));
        };
        push(items);
        while let Ok(items) = self.arrivals.try_recv() {
            push(items);
        }
    }

    fn complete(&mut self, done: Completed) {
        self.in_flight = self.in_flight.saturating_sub(1);
        if done.requests > 0 {
            self.cohort = Some(Cohort {
                requests: done.requests,
                until: Instant::now() + self.policy.flush_deadline,
            });
        }
    }

    /// Drops abandoned texts, then dispatches batches while threads are free and the
    /// policy says go. Returns when to look again if texts remain queued.
    fn dispatch(&mut self) -> Option<Instant> {
        let before = self.queue.len();
        self.queue.retain(|item| !item.abandoned());
        Stats::add(&self.stats.skipped_texts, before - self.queue.len());

        while self.in_flight < self.threads && !self.queue.is_empty() {
            let view: Vec<Queued> = self
                .queue
                .iter()
                .map(|item| Queued {
                    tokens: item.tokens,
                    request: item.request,
                    enqueued: item.enqueued,
                })
                .collect();
            let indices =
                match self
                    .policy
                    .decide(&view, Instant::now(), self.in_flight, self.cohort)
                {
                    Decision::WaitUntil(at) => return Some(at),
                    Decision::Dispatch(indices) if indices.is_empty() => return None,
                    Decision::Dispatch(indices) => indices,
                };
            let batch = take(&mut self.queue, &indices);
            self.in_flight += 1;
            self.stats.running_batches.fetch_add(1, Ordering::AcqRel);
            if self.jobs.send(batch).is_err() {
                // The inference threads are gone: dropping the queue answers every
                // caller with `ShutDown`.
                self.queue.clear();
                return None;
            }
        }
        None
    }
}

/// Removes the items at `indices` (ascending) from `queue`, keeping the rest in order.
fn take<T>(queue: &mut Vec<T>, indices: &[usize]) -> Vec<T> {
    let mut picked = Vec::with_capacity(indices.len());
    let mut rest = Vec::with_capacity(queue.len().saturating_sub(indices.len()));
    let mut wanted = indices.iter().copied().peekable();
    for (i, item) in std::mem::take(queue).into_iter().enumerate() {
        if wanted.next_if_eq(&i).is_some() {
            picked.push(item);
        } else {
            rest.push(item);
        }
    }
    *queue = rest;
    picked
}

#[cfg(test)]
mod tests {
    use super::take;

    #[test]
    fn take_splits_out_the_chosen_positions_in_order() {
        let mut queue = vec!['a', 'b', 'c', 'd', 'e'];
        assert_eq!(take(&mut queue, &[0, 2, 3]), vec!['a', 'c', 'd']);
        assert_eq!(queue, vec!['b', 'e']);
    }
}
