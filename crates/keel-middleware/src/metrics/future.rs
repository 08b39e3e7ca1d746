//! The response future of [`MetricsService`](crate::MetricsService).

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
};

use keel_core::{CallToolResult, ToolError};
use pin_project_lite::pin_project;
use tokio::time::Instant;

use super::{outcome::Outcome, table::ToolMetrics};

pin_project! {
    /// Records the call's outcome and latency when the inner future finishes, or as
    /// `cancelled` if it is dropped first.
    pub struct MetricsFuture<F> {
        #[pin]
        inner: F,
        record: Record,
    }
}

/// Pairs one `started` with exactly one `finished`, even when the future is dropped.
pub(crate) struct Record {
    tool: Arc<ToolMetrics>,
    start: Instant,
    done: bool,
}

impl<F> MetricsFuture<F> {
    pub(crate) fn new(inner: F, record: Record) -> Self {
        Self { inner, record }
    }
}

impl Record {
    /// Counts the call as in flight and starts its clock.
    pub(crate) fn start(tool: Arc<ToolMetrics>) -> Self {
        tool.started();
        Self {
            tool,
            start: Instant::now(),
            done: false,
        }
    }

    fn finish(&mut self, outcome: Outcome) {
        if !self.done {
            self.done = true;
            self.tool.finished(outcome, self.start.elapsed());
            keel_core::note_outcome(outcome.as_str());
            crate::trace::record_tool_outcome(outcome.as_str());
        }
    }
}

impl Drop for Record {
    fn drop(&mut self) {
        self.finish(Outcome::Cancelled);
    }
}

impl<F> Future for MetricsFuture<F>
where
    F: Future<Output = Result<CallToolResult, ToolError>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        if let Some(slot) = super::outcome::failure_slot(&result) {
            this.record.tool.failed(slot);
        }
        this.record.finish(Outcome::of(&result));
        Poll::Ready(result)
    }
}
