//! The timeout service.

use std::{
    sync::Arc,
    task::{Context, Poll},
};

use keel_core::{CallToolResult, ToolCall, ToolError};
use tower::Service;

use super::{TimeoutFuture, ToolTimeouts};

/// Bounds each call by its tool's timeout, counted from when the call reaches this service.
#[derive(Clone)]
pub struct TimeoutService<S> {
    inner: S,
    timeouts: Arc<ToolTimeouts>,
}

impl<S> TimeoutService<S> {
    pub(crate) fn new(inner: S, timeouts: Arc<ToolTimeouts>) -> Self {
        Self { inner, timeouts }
    }
}

impl<S> Service<ToolCall> for TimeoutService<S>
where
    S: Service<ToolCall, Response = CallToolResult, Error = ToolError>,
{
    type Response = CallToolResult;
    type Error = ToolError;
    type Future = TimeoutFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut call: ToolCall) -> Self::Future {
        let Some(timeout) = self.timeouts.of(&call.tool.definition.name) else {
            return TimeoutFuture::unbounded(self.inner.call(call));
        };
        // The call's own token, a child of the request's: a client's cancellation still
        // reaches the call, and the deadline stops this call alone.
        let cancel = call.context.cancellation_token().child_token();
        call.context = call.context.with_cancellation(cancel.clone());
        let tool = Arc::clone(&call.tool);
        TimeoutFuture::bounded(self.inner.call(call), timeout.0, cancel, tool)
    }
}
