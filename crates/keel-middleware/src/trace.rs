//! A span per request, named and attributed after the OpenTelemetry semantic conventions for
//! MCP (`{mcp.method.name} {target}`, server kind). It continues the caller's trace from
//! `_meta.traceparent` (and `tracestate`) when present, else the ambient span (the HTTP
//! request's, which continues the `traceparent` header). Everything below (cache, admission,
//! dependency calls) nests in it.
//!
//! While no exporter runs ([`keel_core::trace::enabled`] is false) the layer creates nothing.

use std::{
    convert::Infallible,
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
};

use keel_core::{MethodRequest, Reply, trace};
use keel_protocol::methods;
use pin_project_lite::pin_project;
use serde_json::Value;
use tower::{Layer, Service};
use tracing::{Span, field::Empty};

/// Wraps request services with [`TraceService`].
#[derive(Debug, Clone, Copy, Default)]
pub struct TraceLayer;

impl<S> Layer<S> for TraceLayer {
    type Service = TraceService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TraceService { inner }
    }
}

/// Runs each request inside its span and records how it ended.
#[derive(Debug, Clone)]
pub struct TraceService<S> {
    inner: S,
}

impl<S> Service<MethodRequest> for TraceService<S>
where
    S: Service<MethodRequest, Response = Reply, Error = Infallible>,
{
    type Response = Reply;
    type Error = Infallible;
    type Future = TracedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: MethodRequest) -> Self::Future {
        let parent = trace::enabled().then(|| caller_context(&request));
        // Traced when the caller's `_meta` names a trace, when an HTTP span continuing the
        // caller's header is current, or when a new trace is sampled here.
        let traced = match &parent {
            None => false,
            Some(Some(_)) => true,
            Some(None) => !Span::current().is_none() || trace::sample_root(),
        };
        if !traced {
            return TracedFuture {
                inner: self.inner.call(request),
                span: Span::none(),
            };
        }
        let span = request_span(&request, parent.flatten());
        let inner = span.in_scope(|| self.inner.call(request));
        TracedFuture { inner, span }
    }
}

/// The `traceparent` and `tracestate` of the request's `_meta`, when it has one.
fn caller_context(request: &MethodRequest) -> Option<(&str, Option<&str>)> {
    let meta = request.request().meta()?;
    let text = |key| meta.get(key).and_then(Value::as_str);
    Some((text("traceparent")?, text("tracestate")))
}

fn request_span(request: &MethodRequest, parent: Option<(&str, Option<&str>)>) -> Span {
    let method = request.method();
    let target = request.target();
    let name = match target {
        Some(t) if method != methods::RESOURCES_READ => format!("{method} {t}"),
        _ => method.to_owned(),
    };
    let id = request.id().map(|id| id.to_string());
    let span = tracing::info_span!(
        target: "keel::trace",
        "mcp.request",
        otel.name = %name,
        otel.kind = "server",
        otel.status_code = Empty,
        mcp.method.name = %method,
        mcp.protocol.version = %request.version().as_str(),
        jsonrpc.request.id = id.as_deref(),
        gen_ai.operation.name = Empty,
        gen_ai.tool.name = Empty,
        gen_ai.prompt.name = Empty,
        mcp.resource.uri = Empty,
        error.type = Empty,
        rpc.response.status_code = Empty,
        keel.tool.outcome = Empty,
        trace_id = Empty,
    );
    match (method, target) {
        (methods::TOOLS_CALL, Some(tool)) => {
            span.record("gen_ai.operation.name", "execute_tool");
            span.record("gen_ai.tool.name", tool);
        }
        (methods::PROMPTS_GET, Some(prompt)) => {
            span.record("gen_ai.prompt.name", prompt);
        }
        (methods::RESOURCES_READ, Some(uri)) => {
            span.record("mcp.resource.uri", uri);
        }
        _ => {}
    }
    if let Some((traceparent, tracestate)) = parent {
        trace::continue_trace(&span, traceparent, tracestate);
    }
    if let Some(id) = trace::trace_id(&span) {
        span.record("trace_id", id);
    }
    span
}

pin_project! {
    /// The inner future, polled inside the request's span; records the JSON-RPC error, if
    /// any, when it completes.
    pub struct TracedFuture<F> {
        #[pin]
        inner: F,
        span: Span,
    }
}

impl<F> Future for TracedFuture<F>
where
    F: Future<Output = Result<Reply, Infallible>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if this.span.is_none() {
            return this.inner.poll(cx);
        }
        let _entered = this.span.enter();
        let output = ready!(this.inner.poll(cx));
        if let Ok(Reply {
            error: Some(code), ..
        }) = &output
        {
            let code = *code;
            this.span.record("otel.status_code", "ERROR");
            this.span.record("error.type", code.0.to_string());
            this.span
                .record("rpc.response.status_code", code.0.to_string());
        }
        Poll::Ready(output)
    }
}

/// Records a tool call's outcome (`ok`, `tool_error`, …) on the current request span; a
/// tool's `isError` result is a success on the wire but an error to an operator.
pub(crate) fn record_tool_outcome(outcome: &'static str) {
    if !trace::enabled() {
        return;
    }
    let span = Span::current();
    span.record("keel.tool.outcome", outcome);
    if !matches!(outcome, "ok" | "input_required") {
        span.record("error.type", outcome);
        span.record("otel.status_code", "ERROR");
    }
}
