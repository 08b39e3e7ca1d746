//! The metrics service.

use std::{
    sync::Arc,
    task::{Context, Poll},
};

use keel_core::{CallToolResult, ToolCall, ToolError};
use tower::Service;

use super::{
    future::{MetricsFuture, Record},
    table::ToolTable,
};

/// Counts each call by outcome and times it, per tool.
#[derive(Clone)]
pub struct MetricsService<S> {
    inner: S,
    tools: Arc<ToolTable>,
}

impl<S> MetricsService<S> {
    pub(crate) fn new(inner: S, tools: Arc<ToolTable>) -> Self {
        Self { inner, tools }
    }
}

impl<S> Service<ToolCall> for MetricsService<S>
where
    S: Service<ToolCall, Response = CallToolResult, Error = ToolError>,
{
    type Response = CallToolResult;
    type Error = ToolError;
    type Future = MetricsFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, call: ToolCall) -> Self::Future {
        // Started before the inner call so synchronous work inside it is timed too, and a
        // panic there still leaves the in-flight gauge balanced.
        let record = Record::start(Arc::clone(self.tools.get(&call.tool.definition.name)));
        MetricsFuture::new(self.inner.call(call), record)
    }
}
