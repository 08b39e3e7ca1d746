//! Per-tool series, created once from the fixed tool list and only read afterwards.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use keel_core::{ToolDefinition, Workload};

use super::{
    histogram::Histogram,
    outcome::{FAILURE_KINDS, Outcome},
};

/// The label used for calls to a tool the table was not built with.
pub(crate) const UNREGISTERED: &str = "_unregistered";

/// Every series of one tool: counters by outcome, in-flight gauge, latency histogram.
pub(crate) struct ToolMetrics {
    /// The tool's name.
    pub(crate) name: String,
    /// The class the tool declares; `None` for the catch-all of unregistered tools.
    pub(crate) workload: Option<Workload>,
    calls: [AtomicU64; Outcome::ALL.len()],
    failures: [AtomicU64; FAILURE_KINDS.len()],
    in_flight: AtomicUsize,
    pub(crate) duration: Histogram,
}

impl ToolMetrics {
    fn new(name: &str, workload: Option<Workload>) -> Self {
        Self {
            name: name.to_owned(),
            workload,
            calls: std::array::from_fn(|_| AtomicU64::new(0)),
            failures: std::array::from_fn(|_| AtomicU64::new(0)),
            in_flight: AtomicUsize::new(0),
            duration: Histogram::new(),
        }
    }

    pub(crate) fn started(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    /// Records a finished (or abandoned) call. Every `started` is paired with one `finished`.
    pub(crate) fn finished(&self, outcome: Outcome, elapsed: Duration) {
        self.calls[outcome.index()].fetch_add(1, Ordering::Relaxed);
        self.duration.observe(elapsed);
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }

    /// Counts a failure of the kind at `slot` of [`FAILURE_KINDS`].
    pub(crate) fn failed(&self, slot: usize) {
        if let Some(n) = self.failures.get(slot) {
            n.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Failures of the kind at `slot` of [`FAILURE_KINDS`].
    pub(crate) fn failures(&self, slot: usize) -> u64 {
        self.failures
            .get(slot)
            .map_or(0, |n| n.load(Ordering::Relaxed))
    }

    pub(crate) fn calls(&self, outcome: Outcome) -> u64 {
        self.calls[outcome.index()].load(Ordering::Relaxed)
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    fn is_untouched(&self) -> bool {
        self.in_flight() == 0 && Outcome::ALL.iter().all(|&o| self.calls(o) == 0)
    }
}

/// Name → series, built once. Lookups on the hot path are a read-only hash probe.
pub(crate) struct ToolTable {
    /// Looked up on every call: a fast hasher over the server's own tool names.
    by_name: foldhash::HashMap<String, Arc<ToolMetrics>>,
    /// The same series sorted by tool name, for deterministic rendering.
    sorted: Vec<Arc<ToolMetrics>>,
    /// Catch-all for names not in the registry the table was built from.
    unregistered: Arc<ToolMetrics>,
}

impl ToolTable {
    pub(crate) fn new<'a>(tools: impl IntoIterator<Item = &'a ToolDefinition>) -> Self {
        let mut by_name = foldhash::HashMap::default();
        for t in tools {
            by_name
                .entry(t.name.clone())
                .or_insert_with(|| Arc::new(ToolMetrics::new(&t.name, Some(t.workload))));
        }
        let mut sorted: Vec<_> = by_name.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(b.0));
        let sorted = sorted.into_iter().map(|(_, m)| Arc::clone(m)).collect();
        Self {
            by_name,
            sorted,
            unregistered: Arc::new(ToolMetrics::new(UNREGISTERED, None)),
        }
    }

    pub(crate) fn get(&self, name: &str) -> &Arc<ToolMetrics> {
        self.by_name.get(name).unwrap_or(&self.unregistered)
    }

    /// Registered tools in name order, then the catch-all if it ever saw a call.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &ToolMetrics> {
        let extra = (!self.unregistered.is_untouched()).then_some(&*self.unregistered);
        self.sorted.iter().map(|m| &**m).chain(extra)
    }
}
