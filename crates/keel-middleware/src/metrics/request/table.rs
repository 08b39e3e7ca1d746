//! Per-method series, created once for every method Keel knows.

use std::{
    sync::atomic::{AtomicU64, AtomicUsize, Ordering},
    time::Duration,
};

use keel_protocol::methods;

use super::RequestOutcome;
use crate::metrics::histogram::Histogram;

/// The `method` label values: the requests Keel answers, then `other` for anything else.
pub(crate) const METHODS: [&str; 21] = [
    methods::INITIALIZE,
    methods::PING,
    methods::DISCOVER,
    methods::SUBSCRIPTIONS_LISTEN,
    methods::TOOLS_LIST,
    methods::TOOLS_CALL,
    methods::RESOURCES_LIST,
    methods::RESOURCES_TEMPLATES_LIST,
    methods::RESOURCES_READ,
    methods::RESOURCES_SUBSCRIBE,
    methods::RESOURCES_UNSUBSCRIBE,
    methods::PROMPTS_LIST,
    methods::PROMPTS_GET,
    methods::COMPLETION_COMPLETE,
    methods::LOGGING_SET_LEVEL,
    methods::TASKS_GET,
    methods::TASKS_UPDATE,
    methods::TASKS_CANCEL,
    methods::TASKS_LIST,
    methods::TASKS_RESULT,
    OTHER,
];

/// The label of methods Keel does not know.
pub(crate) const OTHER: &str = "other";

/// Every series of one method.
pub(crate) struct MethodMetrics {
    pub(crate) method: &'static str,
    requests: [AtomicU64; RequestOutcome::ALL.len()],
    in_flight: AtomicUsize,
    pub(crate) duration: Histogram,
}

impl MethodMetrics {
    fn new(method: &'static str) -> Self {
        Self {
            method,
            requests: std::array::from_fn(|_| AtomicU64::new(0)),
            in_flight: AtomicUsize::new(0),
            duration: Histogram::new(),
        }
    }

    pub(crate) fn requests(&self, outcome: RequestOutcome) -> u64 {
        self.requests[outcome.index()].load(Ordering::Relaxed)
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }
}

/// The series of every method in [`METHODS`] order; recording is a match on the method
/// name and relaxed atomic adds.
pub(crate) struct MethodTable {
    methods: [MethodMetrics; METHODS.len()],
}

impl MethodTable {
    pub(crate) fn new() -> Self {
        Self {
            methods: METHODS.map(MethodMetrics::new),
        }
    }

    /// The slot of `method`, `other` for names Keel does not know.
    pub(crate) fn slot(method: &str) -> usize {
        METHODS
            .iter()
            .position(|&m| m == method)
            .unwrap_or(METHODS.len() - 1)
    }

    pub(crate) fn started(&self, slot: usize) {
        self.methods[slot].in_flight.fetch_add(1, Ordering::Relaxed);
    }

    /// Records a finished (or abandoned) request; every `started` is paired with one.
    pub(crate) fn finished(&self, slot: usize, outcome: RequestOutcome, elapsed: Duration) {
        let m = &self.methods[slot];
        m.requests[outcome.index()].fetch_add(1, Ordering::Relaxed);
        m.duration.observe(elapsed);
        m.in_flight.fetch_sub(1, Ordering::Relaxed);
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &MethodMetrics> {
        self.methods.iter()
    }
}
