//! A run's report: the JSON document scripts read (`--json`), the text summary, the
//! per-interval NDJSON lines and the HTML page are all views of [`Report`].

mod html;
mod text;

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

pub(crate) use self::html::html;
pub(crate) use self::text::{text, us as us_text};
use crate::slo::SloVerdict;
use crate::stats::{Counts, Sample};

/// Latency statistics in microseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Mean.
    pub mean: f64,
    /// Smallest.
    pub min: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 95th percentile.
    pub p95: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest.
    pub max: u64,
}

impl Latency {
    pub(crate) fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        Self {
            mean: (h.mean() * 10.0).round() / 10.0,
            min: h.min(),
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p95: h.value_at_quantile(0.95),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
        }
    }
}

/// Failed requests by class; every request is either `ok` or counted here once.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Errors {
    /// All failures.
    pub total: u64,
    /// No answer, by kind: connect, io, timeout, malformed, rounds.
    pub transport: BTreeMap<String, u64>,
    /// Answers with a non-2xx HTTP status, by status.
    pub http_status: BTreeMap<String, u64>,
    /// JSON-RPC error responses, by code.
    pub jsonrpc: BTreeMap<String, u64>,
    /// Tool results with `isError: true`.
    pub is_error: u64,
}

impl Errors {
    pub(crate) fn of(c: &Counts) -> Self {
        Self {
            total: c.errors(),
            transport: c
                .transport
                .iter()
                .map(|(k, v)| ((*k).to_owned(), *v))
                .collect(),
            http_status: c.http.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            jsonrpc: c.jsonrpc.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            is_error: c.tool_errors,
        }
    }
}

/// One interval of the run (an NDJSON line, a point of the HTML plots).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// Seconds from the start of the run to the end of the interval.
    pub t: f64,
    /// Requests finished in the interval.
    pub requests: u64,
    /// Failures among them.
    pub errors: u64,
    /// Requests finished per second.
    pub throughput_rps: f64,
    /// Open loop: the rate asked for at the end of the interval.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_rps: Option<f64>,
    /// Latency of the interval's answers.
    pub latency_us: Latency,
}

impl Interval {
    pub(crate) fn of(t: f64, seconds: f64, s: &Sample, target_rps: Option<f64>) -> Self {
        let requests = s.counts.requests();
        Self {
            t: (t * 1000.0).round() / 1000.0,
            requests,
            errors: s.counts.errors(),
            throughput_rps: if seconds > 0.0 {
                (requests as f64 / seconds * 10.0).round() / 10.0
            } else {
                0.0
            },
            target_rps,
            latency_us: Latency::of(&s.latency),
        }
    }
}

/// Session churn: sessions opened and abandoned during the run, and the server's memory.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Churn {
    /// Sessions asked for per second.
    pub rate: f64,
    /// Sessions opened (handshake completed) and then abandoned.
    pub sessions: u64,
    /// Handshakes that failed.
    pub failed: u64,
    /// The server's resident memory before the run, in KiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rss_before_kib: Option<u64>,
    /// The server's resident memory after the run, in KiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rss_after_kib: Option<u64>,
    /// Growth of resident memory per abandoned session, in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rss_per_session_bytes: Option<f64>,
}

/// One stage of `--find-ceiling`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stage {
    /// Rate asked for.
    pub rate: f64,
    /// Rate achieved.
    pub throughput_rps: f64,
    /// Latency of the stage.
    pub latency_us: Latency,
    /// Failure share.
    pub error_rate: f64,
    /// Whether every gate held (and errors stayed under the bound).
    pub passed: bool,
}

/// The result of `--find-ceiling`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Ceiling {
    /// The highest rate whose stage held every gate (0 when the first stage broke one).
    pub rate: f64,
    /// Every stage in order.
    pub stages: Vec<Stage>,
}

/// A whole run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// What was measured: the URL, or `stdio: command`.
    pub target: String,
    /// `modern` or `legacy`.
    pub era: String,
    /// The protocol version spoken.
    pub protocol_version: String,
    /// `closed` (connections send back to back) or `open` (a rate).
    pub mode: String,
    /// Open loop: the load shape.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shape: Option<String>,
    /// Open loop: the (peak) rate asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    /// Connections (stdio: requests in flight).
    pub connections: usize,
    /// Generator threads.
    pub threads: usize,
    /// Legacy sessions the load was spread over.
    pub sessions: usize,
    /// Seconds from the first request to the last answer.
    pub duration_secs: f64,
    /// Requests sent; every one is `ok` or in `errors`.
    pub requests: u64,
    /// Requests that succeeded.
    pub ok: u64,
    /// Finished requests per second.
    pub throughput_rps: f64,
    /// Input-required rounds answered (each retried the request).
    pub input_rounds: u64,
    /// Failures by class.
    pub errors: Errors,
    /// Latency of every answered request, in microseconds.
    pub latency_us: Latency,
    /// Latency of the requests that succeeded.
    #[serde(default)]
    pub ok_latency_us: Latency,
    /// Latency of the answered requests that failed (refusals, errors), when any did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_latency_us: Option<Latency>,
    /// The gates and how the run did against them.
    pub slo: Vec<SloVerdict>,
    /// Whether every gate held and failures stayed within the bound.
    pub passed: bool,
    /// The run interval by interval.
    pub intervals: Vec<Interval>,
    /// Latency histogram: `[upper bound µs, count]` on log-spaced buckets.
    pub histogram: Vec<(u64, u64)>,
    /// Session churn, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub churn: Option<Churn>,
    /// `--find-ceiling` stages, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ceiling: Option<Ceiling>,
}

impl Report {
    /// The share of requests that failed.
    pub fn error_rate(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.errors.total as f64 / self.requests as f64
        }
    }
}

/// Counts per log-spaced bucket (four per power of two), for the histogram plot.
pub(crate) fn buckets(h: &Histogram<u64>) -> Vec<(u64, u64)> {
    if h.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut lower = 1u64;
    while lower <= h.max() {
        let upper = ((lower as f64) * 2f64.powf(0.25)).ceil() as u64;
        let upper = upper.max(lower + 1);
        let count = h.count_between(lower, upper - 1);
        out.push((upper - 1, count));
        lower = upper;
    }
    // Leading empty buckets carry nothing to look at.
    let first = out.iter().position(|&(_, c)| c > 0).unwrap_or(0);
    out.drain(..first);
    out
}
