//! Request traces: whether spans are recorded at all, and continuing a caller's W3C trace
//! context on a span.
//!
//! Spans are created only once a trace exporter runs ([`enable`]); until then every decision
//! point pays one relaxed load and builds nothing. A request whose trace is not sampled gets
//! no span either: the decision is taken before the first span, not by the exporter after.

use std::{
    cell::Cell,
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
};

use opentelemetry::{
    propagation::{Extractor, TextMapPropagator},
    trace::TraceContextExt,
};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

static ENABLED: AtomicBool = AtomicBool::new(false);
/// The share of new traces recorded, as a threshold on a uniform `u64`.
static ROOT_THRESHOLD: AtomicU64 = AtomicU64::new(u64::MAX);

/// Whether spans are recorded: set once an exporter is installed.
#[inline]
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Turns span recording on, for the life of the process; `sample_ratio` (0 to 1) of the
/// traces started here are recorded (a caller's trace follows the caller's decision).
pub fn enable(sample_ratio: f64) {
    let ratio = sample_ratio.clamp(0.0, 1.0);
    let threshold = if ratio >= 1.0 {
        u64::MAX
    } else {
        (ratio * u64::MAX as f64) as u64
    };
    ROOT_THRESHOLD.store(threshold, Ordering::Relaxed);
    ENABLED.store(true, Ordering::Relaxed);
}

/// Whether a trace started here is recorded. Decided before any span exists, so a request
/// left out costs no span at all (the exporter's sampler then follows parents only).
pub fn sample_root() -> bool {
    let threshold = ROOT_THRESHOLD.load(Ordering::Relaxed);
    threshold == u64::MAX || next_random() < threshold
}

/// Whether the current code runs inside a recorded request's span: where a layer opens a
/// span of its own.
#[inline]
pub fn in_trace() -> bool {
    enabled() && !Span::current().is_none()
}

/// A xorshift generator per thread, seeded from the OS: sampling needs speed, not secrecy.
fn next_random() -> u64 {
    thread_local! {
        static STATE: Cell<u64> = Cell::new({
            let mut seed = [0u8; 8];
            let _ = getrandom::fill(&mut seed);
            u64::from_le_bytes(seed) | 1
        });
    }
    STATE.with(|state| {
        let mut x = state.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        state.set(x);
        x
    })
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
    fn roots_are_sampled_at_the_configured_ratio() {
        enable(0.25);
        let n = 100_000;
        let kept = (0..n).filter(|_| sample_root()).count();
        assert!((23_000..27_000).contains(&kept), "{kept} of {n}");
        enable(1.0);
        assert!((0..1000).all(|_| sample_root()));
        enable(0.0);
        assert!((0..1000).all(|_| !sample_root()));
    }

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
