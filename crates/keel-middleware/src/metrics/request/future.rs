//! The response future of [`RequestMetricsService`](crate::RequestMetricsService).

use std::{
    convert::Infallible,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
};

use keel_core::Reply;
use pin_project_lite::pin_project;
use tokio::time::Instant;

use super::{MethodTable, RequestOutcome};

pin_project! {
    /// Records the request's outcome and latency when the inner future finishes, or as
    /// `cancelled` if it is dropped first.
    pub struct RequestMetricsFuture<F> {
        #[pin]
        inner: F,
        record: Record,
    }
}

/// Pairs one `started` with exactly one `finished`, even when the future is dropped.
pub(crate) struct Record {
    methods: Arc<MethodTable>,
    slot: usize,
    start: Instant,
    done: bool,
}

impl<F> RequestMetricsFuture<F> {
    pub(crate) fn new(inner: F, record: Record) -> Self {
        Self { inner, record }
    }
}

impl Record {
    pub(crate) fn start(methods: Arc<MethodTable>, slot: usize) -> Self {
        methods.started(slot);
        Self {
            methods,
            slot,
            start: Instant::now(),
            done: false,
        }
    }

    fn finish(&mut self, outcome: RequestOutcome) {
        if !self.done {
            self.done = true;
            self.methods
                .finished(self.slot, outcome, self.start.elapsed());
        }
    }
}

impl Drop for Record {
    fn drop(&mut self) {
        self.finish(RequestOutcome::Cancelled);
    }
}

impl<F> Future for RequestMetricsFuture<F>
where
    F: Future<Output = Result<Reply, Infallible>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        let outcome = match &result {
            Ok(reply) => RequestOutcome::of(reply),
            Err(never) => match *never {},
        };
        this.record.finish(outcome);
        Poll::Ready(result)
    }
}
