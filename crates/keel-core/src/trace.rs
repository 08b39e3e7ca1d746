//! Request traces: whether spans are recorded at all, and continuing a caller's W3C trace
//! context on a span.
//!
//! Spans are created only once a trace exporter runs ([`enable`]); until then every decision
//! point pays one relaxed load and builds nothing.

use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::{
    propagation::{Extractor, TextMapPropagator},
    trace::TraceContextExt,
};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Whether spans are recorded: set once an exporter is installed.
#[inline]
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Turns span recording on, for the life of the process.
pub fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

/// W3C `traceparent` and `tracestate` values as a propagator reads them.
struct TraceHeaders<'a> {
    traceparent: &'a str,
    tracestate: Option<&'a str>,
}

impl Extractor for TraceHeaders<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        match key {
            "traceparent" => Some(self.traceparent),
            "tracestate" => self.tracestate,
            _ => None,
        }
    }

    fn keys(&self) -> Vec<&str> {
        let mut keys = vec!["traceparent"];
        if self.tracestate.is_some() {
            keys.push("tracestate");
        }
        keys
    }
}

/// Makes `span` a child of the caller's span named by `traceparent` (and `tracestate`).
/// A malformed `traceparent` is ignored, as W3C Trace Context asks: the span then keeps its
/// own parent. Returns whether the context was continued. Call it before the span is first
/// entered.
pub fn continue_trace(span: &Span, traceparent: &str, tracestate: Option<&str>) -> bool {
    let cx = TraceContextPropagator::new().extract(&TraceHeaders {
        traceparent,
        tracestate,
    });
    if !cx.span().span_context().is_valid() {
        return false;
    }
    span.set_parent(cx).is_ok()
}

/// The trace id of `span` in lowercase hex, when it is recorded.
pub fn trace_id(span: &Span) -> Option<String> {
    let cx = span.context();
    let context = cx.span().span_context().clone();
    context.is_valid().then(|| context.trace_id().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_parents_are_not_continued() {
        let span = tracing::info_span!("t");
        for bad in [
            "",
            "00-0af7651916cd43dd8448eb211c80319c",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            "ff-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01",
            "00-0AF7651916CD43DD8448EB211C80319C-00f067aa0ba902b7-01",
        ] {
            assert!(!continue_trace(&span, bad, None), "{bad}");
        }
    }
}
