//! What a run records: latency histograms (whole run and current interval) and outcomes by
//! class. Every request sent ends as exactly one outcome, so sent = ok + errors.

use std::{collections::BTreeMap, time::Duration};

use hdrhistogram::Histogram;

/// Highest latency a histogram holds (longer ones are clamped to it).
const MAX_LATENCY_US: u64 = 3_600_000_000;

/// How one request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// A result that is not a tool error.
    Ok,
    /// A tool result with `isError: true`.
    ToolError,
    /// A JSON-RPC error response, by code.
    JsonRpc(i64),
    /// An HTTP status other than 2xx.
    Http(u16),
    /// No answer: connect, I/O, timeout or an unreadable response.
    Transport(TransportError),
}

/// Why a request got no usable answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum TransportError {
    /// The connection could not be opened.
    Connect,
    /// Reading or writing failed, or the peer closed the connection.
    Io,
    /// No complete answer within the request timeout.
    Timeout,
    /// An answer arrived that is not a JSON-RPC response to the request.
    Malformed,
    /// The server kept asking for input past the round limit.
    Rounds,
}

impl TransportError {
    fn name(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Io => "io",
            Self::Timeout => "timeout",
            Self::Malformed => "malformed",
            Self::Rounds => "rounds",
        }
    }
}

/// Outcomes by class, the JSON report's `errors`.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Counts {
    pub(crate) ok: u64,
    pub(crate) tool_errors: u64,
    pub(crate) jsonrpc: BTreeMap<i64, u64>,
    pub(crate) http: BTreeMap<u16, u64>,
    pub(crate) transport: BTreeMap<&'static str, u64>,
    /// Input-required rounds answered (not requests: a request with rounds counts once).
    pub(crate) rounds: u64,
}

impl Counts {
    fn add(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Ok => self.ok += 1,
            Outcome::ToolError => self.tool_errors += 1,
            Outcome::JsonRpc(code) => *self.jsonrpc.entry(*code).or_default() += 1,
            Outcome::Http(status) => *self.http.entry(*status).or_default() += 1,
            Outcome::Transport(e) => *self.transport.entry(e.name()).or_default() += 1,
        }
    }

    pub(crate) fn errors(&self) -> u64 {
        self.tool_errors
            + self.jsonrpc.values().sum::<u64>()
            + self.http.values().sum::<u64>()
            + self.transport.values().sum::<u64>()
    }

    pub(crate) fn requests(&self) -> u64 {
        self.ok + self.errors()
    }

    pub(crate) fn merge(&mut self, other: &Counts) {
        self.ok += other.ok;
        self.tool_errors += other.tool_errors;
        self.rounds += other.rounds;
        for (k, v) in &other.jsonrpc {
            *self.jsonrpc.entry(*k).or_default() += v;
        }
        for (k, v) in &other.http {
            *self.http.entry(*k).or_default() += v;
        }
        for (k, v) in &other.transport {
            *self.transport.entry(k).or_default() += v;
        }
    }
}

/// A latency histogram in microseconds with the counts beside it.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    /// Every answered request.
    pub(crate) latency: Histogram<u64>,
    /// Answered requests that failed (an overloaded server's refusals, tool errors…): a
    /// fast refusal must not pass for a fast service.
    pub(crate) failed_latency: Histogram<u64>,
    pub(crate) counts: Counts,
}

fn histogram() -> Histogram<u64> {
    // Three significant digits: 0.1 % resolution at every magnitude.
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("valid histogram bounds")
}

impl Sample {
    pub(crate) fn new() -> Self {
        Self {
            latency: histogram(),
            failed_latency: histogram(),
            counts: Counts::default(),
        }
    }

    pub(crate) fn merge(&mut self, other: &Sample) {
        // Same bounds on both sides: adding cannot fail.
        let _ = self.latency.add(&other.latency);
        let _ = self.failed_latency.add(&other.failed_latency);
        self.counts.merge(&other.counts);
    }

    fn record(&mut self, outcome: &Outcome, latency: Option<Duration>) {
        self.counts.add(outcome);
        if let Some(l) = latency {
            let us = u64::try_from(l.as_micros())
                .unwrap_or(MAX_LATENCY_US)
                .clamp(1, MAX_LATENCY_US);
            let _ = self.latency.record(us);
            if !matches!(outcome, Outcome::Ok) {
                let _ = self.failed_latency.record(us);
            }
        }
    }

    /// The latency of answered requests that succeeded: every answer minus the failed ones.
    pub(crate) fn ok_latency(&self) -> Histogram<u64> {
        let mut ok = self.latency.clone();
        // Every failed sample was also recorded in `latency`: subtracting cannot underflow.
        let _ = ok.subtract(&self.failed_latency);
        ok
    }
}

/// One generator thread's records: the whole run and the interval in progress.
#[derive(Debug)]
pub(crate) struct Recorder {
    pub(crate) total: Sample,
    pub(crate) interval: Sample,
}

impl Recorder {
    pub(crate) fn new() -> Self {
        Self {
            total: Sample::new(),
            interval: Sample::new(),
        }
    }

    /// Records one finished request. Latency is kept for every answered request (an HTTP
    /// error or a JSON-RPC error is an answer); requests without an answer have none.
    pub(crate) fn record(&mut self, outcome: Outcome, latency: Duration, rounds: u64) {
        let answered = !matches!(outcome, Outcome::Transport(_));
        let latency = answered.then_some(latency);
        self.total.record(&outcome, latency);
        self.interval.record(&outcome, latency);
        self.total.counts.rounds += rounds;
        self.interval.counts.rounds += rounds;
    }

    /// Takes the interval's records and starts a new interval.
    pub(crate) fn take_interval(&mut self) -> Sample {
        std::mem::replace(&mut self.interval, Sample::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_and_successes_keep_their_own_latency() {
        let mut r = Recorder::new();
        for _ in 0..90 {
            r.record(Outcome::Ok, Duration::from_millis(50), 0);
        }
        for _ in 0..10 {
            r.record(Outcome::JsonRpc(-32000), Duration::from_micros(200), 0);
        }
        r.record(
            Outcome::Transport(TransportError::Timeout),
            Duration::from_secs(10),
            0,
        );
        let ok = r.total.ok_latency();
        assert_eq!(ok.len(), 90);
        assert!(
            ok.min() >= 49_000,
            "fast refusals do not lower the ok latency"
        );
        assert_eq!(r.total.failed_latency.len(), 10);
        assert!(r.total.failed_latency.max() < 1_000);
    }

    #[test]
    fn every_outcome_counts_once() {
        let mut r = Recorder::new();
        r.record(Outcome::Ok, Duration::from_micros(100), 0);
        r.record(Outcome::ToolError, Duration::from_micros(200), 0);
        r.record(Outcome::JsonRpc(-32602), Duration::from_micros(300), 0);
        r.record(Outcome::Http(503), Duration::from_micros(400), 0);
        r.record(
            Outcome::Transport(TransportError::Timeout),
            Duration::from_secs(10),
            0,
        );
        let c = &r.total.counts;
        assert_eq!((c.ok, c.errors(), c.requests()), (1, 4, 5));
        // The unanswered request has no latency.
        assert_eq!(r.total.latency.len(), 4);
        assert_eq!(r.total.latency.max(), 400);
        let interval = r.take_interval();
        assert_eq!(interval.counts.requests(), 5);
        assert_eq!(r.interval.counts.requests(), 0);
    }
}
