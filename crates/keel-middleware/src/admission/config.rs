//! Admission limits: small typed values, validated once at the edge, handed to the layer.

use std::{num::NonZeroUsize, time::Duration};

use keel_core::Workload;

/// Every workload class, in the order gauges and metrics list them.
pub(crate) const WORKLOADS: [Workload; 4] =
    [Workload::Light, Workload::Cpu, Workload::Io, Workload::Ml];

/// The slot of a workload class in per-class arrays.
pub(crate) const fn index(workload: Workload) -> usize {
    match workload {
        Workload::Light => 0,
        Workload::Cpu => 1,
        Workload::Io => 2,
        Workload::Ml => 3,
    }
}

/// How many calls of one workload class may run at once (the number of permits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity(NonZeroUsize);

impl Capacity {
    /// The largest accepted capacity; far above any sane setting, far below tokio's limit.
    pub const MAX: usize = 1 << 24;

    /// A capacity of `permits` concurrent calls: at least 1, at most [`Capacity::MAX`].
    pub fn new(permits: usize) -> Result<Self, InvalidCapacity> {
        match NonZeroUsize::new(permits) {
            Some(n) if permits <= Self::MAX => Ok(Self(n)),
            _ => Err(InvalidCapacity(permits)),
        }
    }

    /// The number of permits.
    pub fn get(self) -> usize {
        self.0.get()
    }

    /// `permits`, clamped into the valid range (for defaults computed at run time).
    fn clamped(permits: usize) -> Self {
        Self::new(permits.clamp(1, Self::MAX)).unwrap_or(Self(NonZeroUsize::MIN))
    }
}

/// A capacity outside `1..=Capacity::MAX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("admission capacity must be between 1 and {max}, got {0}", max = Capacity::MAX)]
pub struct InvalidCapacity(pub usize);

/// How many calls of one class may wait for a permit; beyond that, calls are shed at once.
/// `QueueDepth(0)` means no queue: a call is shed as soon as every permit is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueDepth(pub usize);

/// The longest a call may wait in the queue before it is refused with
/// [`QueueTimeout`](crate::QueueTimeout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxQueueWait(pub Duration);

/// Per-workload capacities and queue depths, plus an optional bound on queue wait.
///
/// The defaults keep light work effectively unlimited and bound the expensive classes:
///
/// | class | capacity | queue depth |
/// |---|---|---|
/// | light | 4096 | 8192 |
/// | cpu | available cores | 2 × cores |
/// | io | 64 | 128 |
/// | ml | 32 | 64 |
///
/// No queue-wait bound by default: the queue itself is bounded, and per-call deadlines are
/// a separate concern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdmissionLimits {
    per_workload: [(Workload, Capacity, QueueDepth); 4],
    max_queue_wait: Option<MaxQueueWait>,
}

impl Default for AdmissionLimits {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, NonZeroUsize::get);
        let class = |w, permits: usize| {
            let capacity = Capacity::clamped(permits);
            (w, capacity, QueueDepth(2 * capacity.get()))
        };
        Self {
            per_workload: [
                class(Workload::Light, 4096),
                class(Workload::Cpu, cores),
                class(Workload::Io, 64),
                class(Workload::Ml, 32),
            ],
            max_queue_wait: None,
        }
    }
}

impl AdmissionLimits {
    /// Sets the capacity and queue depth of one class.
    pub fn with_class(mut self, workload: Workload, capacity: Capacity, depth: QueueDepth) -> Self {
        self.per_workload[index(workload)] = (workload, capacity, depth);
        self
    }

    /// Sets (or clears) the bound on how long a call may wait in a queue.
    pub fn with_max_queue_wait(mut self, wait: Option<MaxQueueWait>) -> Self {
        self.max_queue_wait = wait;
        self
    }

    /// The capacity and queue depth of one class.
    pub fn class(&self, workload: Workload) -> (Capacity, QueueDepth) {
        let (_, capacity, depth) = self.per_workload[index(workload)];
        (capacity, depth)
    }

    /// Every class with its capacity and queue depth.
    pub fn per_workload(&self) -> [(Workload, Capacity, QueueDepth); 4] {
        self.per_workload
    }

    /// The bound on queue wait, if any.
    pub fn max_queue_wait(&self) -> Option<MaxQueueWait> {
        self.max_queue_wait
    }
}
