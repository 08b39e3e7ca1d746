//! The admission service: takes a permit of the call's workload class around the inner call.

use std::task::{Context, Poll};

use keel_core::{CallToolResult, ToolCall, ToolError};
use tower::Service;

use super::{
    future::AdmissionFuture,
    state::{AdmissionState, Admit},
};

/// Admits each call by its tool's workload class (or the class configuration moves the
/// tool into): runs it at once if a permit is free,
/// queues it if the class's queue has room, sheds it with [`Overloaded`](crate::Overloaded)
/// otherwise.
#[derive(Clone)]
pub struct AdmissionService<S> {
    inner: S,
    state: AdmissionState,
}

impl<S> AdmissionService<S> {
    /// Wraps `inner` with shared admission state.
    pub fn new(inner: S, state: AdmissionState) -> Self {
        Self { inner, state }
    }

    /// The shared admission state (gauges).
    pub fn state(&self) -> &AdmissionState {
        &self.state
    }
}

impl<S> Service<ToolCall> for AdmissionService<S>
where
    S: Service<ToolCall, Response = CallToolResult, Error = ToolError> + Clone,
{
    type Response = CallToolResult;
    type Error = ToolError;
    type Future = AdmissionFuture<S>;

    /// Always ready: admission sheds instead of exerting backpressure, because the class
    /// (and so the semaphore to wait on) is only known once the call is seen. The inner
    /// service's readiness is awaited inside the future, after a permit is held.
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, call: ToolCall) -> Self::Future {
        let class = self.state.class_of(&call.tool.definition);
        let admit = self.state.admit(class);
        // A span for the decisions that cost the call something: the wait when queued
        // (the span lasts it), or the refusal. An immediate admission adds none.
        let span = match &admit {
            Admit::Now(_) => tracing::Span::none(),
            _ if !keel_core::trace::in_trace() => tracing::Span::none(),
            Admit::Queued(_) => admission_span(class, "queued"),
            Admit::Shed(_) | Admit::Undefined(_) => admission_span(class, "shed"),
        };
        match admit {
            Admit::Now(permit) => AdmissionFuture::running(permit, self.inner.clone(), call),
            Admit::Queued(wait) => AdmissionFuture::queued(wait, self.inner.clone(), call, span),
            Admit::Shed(overloaded) => AdmissionFuture::shed(overloaded.into()),
            Admit::Undefined(undefined) => {
                AdmissionFuture::shed(ToolError::Failed(undefined.to_failure()))
            }
        }
    }
}

fn admission_span(class: keel_core::Workload, decision: &'static str) -> tracing::Span {
    tracing::info_span!(
        target: "keel::trace",
        "admission",
        otel.name = "admission",
        keel.workload = %class.as_str(),
        keel.admission.decision = decision,
    )
}
