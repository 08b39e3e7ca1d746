//! Admission limits: small typed values, validated once at the edge, handed to the layer.

use std::{collections::BTreeMap, num::NonZeroUsize, time::Duration};

use keel_core::Workload;

/// The slot of a built-in workload class in per-class arrays; user-defined classes follow
/// them, in name order.
pub(crate) const fn index(workload: Workload) -> Option<usize> {
    match workload {
        Workload::Light => Some(0),
        Workload::Cpu => Some(1),
        Workload::Io => Some(2),
        Workload::Ml => Some(3),
        Workload::Named(_) => None,
    }
}

/// How many slots the built-in classes take.
pub(crate) const BUILT_IN: usize = Workload::BUILT_IN.len();

/// How many calls of one workload class may run at once (the number of permits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity(NonZeroUsize);

impl Capacity {
    /// One permit.
    pub const MIN: Self = Self(NonZeroUsize::MIN);

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
        Self::new(permits.clamp(1, Self::MAX)).unwrap_or(Self::MIN)
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

/// Per-workload capacities and queue depths, an optional bound on queue wait, and the
/// classes some tools are moved into.
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
/// Classes of the server's own ([`Workload::named`]) exist only once given limits with
/// [`AdmissionLimits::with_class`]. No queue-wait bound by default: the queue itself is
/// bounded, and per-call deadlines are a separate concern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdmissionLimits {
    built_in: [(Workload, Capacity, QueueDepth); BUILT_IN],
    /// User-defined classes, sorted by name.
    named: Vec<(Workload, Capacity, QueueDepth)>,
    /// Tools admitted in another class than the one they declare, by tool name.
    tool_classes: BTreeMap<String, Workload>,
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
            built_in: [
                class(Workload::Light, 4096),
                class(Workload::Cpu, cores),
                class(Workload::Io, 64),
                class(Workload::Ml, 32),
            ],
            named: Vec::new(),
            tool_classes: BTreeMap::new(),
            max_queue_wait: None,
        }
    }
}

impl AdmissionLimits {
    /// Sets the capacity and queue depth of one class; for a class of the server's own,
    /// defines it. (Name one read from configuration with [`named_class`](crate::named_class),
    /// which validates it.)
    pub fn with_class(mut self, workload: Workload, capacity: Capacity, depth: QueueDepth) -> Self {
        let class = (workload, capacity, depth);
        match index(workload) {
            Some(i) => self.built_in[i] = class,
            None => match self
                .named
                .binary_search_by(|(w, _, _)| w.as_str().cmp(workload.as_str()))
            {
                Ok(i) => self.named[i] = class,
                Err(i) => self.named.insert(i, class),
            },
        }
        self
    }

    /// Admits calls of the tool called `tool` in `workload`, whatever class it declares.
    pub fn with_tool_class(mut self, tool: impl Into<String>, workload: Workload) -> Self {
        self.tool_classes.insert(tool.into(), workload);
        self
    }

    /// Sets (or clears) the bound on how long a call may wait in a queue.
    pub fn with_max_queue_wait(mut self, wait: Option<MaxQueueWait>) -> Self {
        self.max_queue_wait = wait;
        self
    }

    /// The capacity and queue depth of one class; `None` for a class of the server's own
    /// these limits do not define.
    pub fn class(&self, workload: Workload) -> Option<(Capacity, QueueDepth)> {
        self.per_workload()
            .find(|(w, _, _)| *w == workload)
            .map(|(_, capacity, depth)| (capacity, depth))
    }

    /// Whether calls of `workload` can be admitted: a built-in class, or one defined here.
    pub fn defines(&self, workload: Workload) -> bool {
        workload.is_built_in() || self.class(workload).is_some()
    }

    /// Every class with its capacity and queue depth: the built-in ones, then those of the
    /// server's own in name order.
    pub fn per_workload(&self) -> impl Iterator<Item = (Workload, Capacity, QueueDepth)> + '_ {
        self.built_in.iter().chain(&self.named).copied()
    }

    pub(crate) fn built_in_classes(&self) -> [(Workload, Capacity, QueueDepth); BUILT_IN] {
        self.built_in
    }

    pub(crate) fn named_classes(&self) -> &[(Workload, Capacity, QueueDepth)] {
        &self.named
    }

    /// The tools moved into another class, by name.
    pub fn tool_classes(&self) -> &BTreeMap<String, Workload> {
        &self.tool_classes
    }

    /// The bound on queue wait, if any.
    pub fn max_queue_wait(&self) -> Option<MaxQueueWait> {
        self.max_queue_wait
    }
}
