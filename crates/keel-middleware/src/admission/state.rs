//! The shared admission state: one semaphore and one bounded queue counter per class.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
};

use keel_core::{BoxFuture, ToolDefinition, Workload};
use tokio::{
    sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError},
    time::Instant,
};

use super::config::{AdmissionLimits, BUILT_IN, Capacity, QueueDepth, index};
use super::error::{Refusal, UndefinedClass};
use crate::{
    Overloaded, QueueTimeout,
    metrics::histogram::{Histogram, HistogramSnapshot},
};

/// Live admission state shared by every clone of the layer and its services; clone it to
/// read gauges for metrics and health checks.
#[derive(Clone)]
pub struct AdmissionState {
    inner: Arc<Inner>,
}

struct Inner {
    /// The built-in classes, at their fixed slots.
    built_in: [Class; BUILT_IN],
    /// Those of the server's own, by name; slots from `BUILT_IN` on.
    named: Box<[Class]>,
    /// Tools admitted in another class than they declare; empty unless configured, and
    /// then never probed.
    tool_classes: HashMap<Box<str>, Workload>,
    max_queue_wait: Option<std::time::Duration>,
}

struct Class {
    workload: Workload,
    permits: Arc<Semaphore>,
    capacity: usize,
    queue_depth: usize,
    queued: AtomicUsize,
    shed: AtomicU64,
    timed_out: AtomicU64,
    /// How long calls admitted after queueing waited (calls admitted at once are not
    /// recorded: the fast path stays one `try_acquire`).
    queue_wait: Histogram,
}

/// A point-in-time reading of one class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassGauges {
    /// The class.
    pub workload: Workload,
    /// Calls holding a permit.
    pub in_flight: usize,
    /// Calls waiting for a permit.
    pub queued: usize,
    /// Configured permits.
    pub capacity: usize,
    /// Configured queue depth.
    pub queue_depth: usize,
    /// Calls shed because the queue was full, since start.
    pub shed_total: u64,
    /// Calls refused after waiting too long in the queue, since start.
    pub timed_out_total: u64,
}

/// A queued call's wait for its permit.
pub(crate) type PermitWait = BoxFuture<Result<OwnedSemaphorePermit, Refusal>>;

/// What admission decided for one call.
pub(crate) enum Admit {
    /// A permit was free.
    Now(OwnedSemaphorePermit),
    /// The call holds a queue slot and waits for a permit (or a timeout).
    Queued(PermitWait),
    /// Permits and queue are full.
    Shed(Overloaded),
    /// The class is not defined.
    Undefined(UndefinedClass),
}

impl AdmissionState {
    /// Fresh state for the given limits.
    pub fn new(limits: &AdmissionLimits) -> Self {
        let class = |(workload, capacity, depth): (Workload, Capacity, QueueDepth)| Class {
            workload,
            permits: Arc::new(Semaphore::new(capacity.get())),
            capacity: capacity.get(),
            queue_depth: depth.0,
            queued: AtomicUsize::new(0),
            shed: AtomicU64::new(0),
            timed_out: AtomicU64::new(0),
            queue_wait: Histogram::new(),
        };
        let built_in = limits.built_in_classes().map(class);
        let named = limits.named_classes().iter().copied().map(class).collect();
        let tool_classes = limits
            .tool_classes()
            .iter()
            .map(|(tool, &workload)| (tool.as_str().into(), workload))
            .collect();
        Self {
            inner: Arc::new(Inner {
                built_in,
                named,
                tool_classes,
                max_queue_wait: limits.max_queue_wait().map(|w| w.0),
            }),
        }
    }

    /// The gauges of one class; a class these limits do not define reads as empty, with
    /// no capacity.
    pub fn gauges(&self, workload: Workload) -> ClassGauges {
        match self.inner.find(workload) {
            Some((_, class)) => class.gauges(),
            None => ClassGauges {
                workload,
                in_flight: 0,
                queued: 0,
                capacity: 0,
                queue_depth: 0,
                shed_total: 0,
                timed_out_total: 0,
            },
        }
    }

    /// The gauges of every class: the built-in ones, then those of the server's own in
    /// name order.
    pub fn snapshot(&self) -> Vec<ClassGauges> {
        self.inner.classes().map(Class::gauges).collect()
    }

    /// The class calls of `tool` are admitted in: the one configuration moves it into, else
    /// the one it declares.
    #[inline]
    pub fn class_of(&self, tool: &ToolDefinition) -> Workload {
        self.class_of_tool(&tool.name, tool.workload)
    }

    /// The class calls of the tool called `name`, which declares `declared`, are admitted in.
    #[inline]
    pub fn class_of_tool(&self, name: &str, declared: Workload) -> Workload {
        // The common case (no tool moved) skips the map entirely.
        if self.inner.tool_classes.is_empty() {
            return declared;
        }
        self.inner
            .tool_classes
            .get(name)
            .copied()
            .unwrap_or(declared)
    }

    /// Every class with the histogram of its queue waits.
    pub(crate) fn queue_waits(&self) -> impl Iterator<Item = (Workload, HistogramSnapshot)> + '_ {
        self.inner
            .classes()
            .map(|c| (c.workload, c.queue_wait.snapshot()))
    }

    /// Takes a permit, a queue slot, or sheds. Never waits itself.
    pub(crate) fn admit(&self, workload: Workload) -> Admit {
        let Some((slot, class)) = self.inner.find(workload) else {
            return Admit::Undefined(UndefinedClass { workload });
        };
        match Arc::clone(&class.permits).try_acquire_owned() {
            Ok(permit) => return Admit::Now(permit),
            // The semaphore is never closed; treat it like a full class rather than panic.
            Err(TryAcquireError::NoPermits | TryAcquireError::Closed) => {}
        }
        let depth = class.queue_depth;
        let taken = class
            .queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |q| {
                (q < depth).then_some(q + 1)
            });
        if taken.is_err() {
            class.shed.fetch_add(1, Ordering::Relaxed);
            return Admit::Shed(class.overloaded());
        }
        // The slot is owned by a guard from here on, so dropping the call before its first
        // poll still frees it.
        let slot = QueueSlot {
            state: Arc::clone(&self.inner),
            class: slot,
        };
        let permits = Arc::clone(&class.permits);
        let started = Instant::now();
        let deadline = self.inner.max_queue_wait.map(|wait| started + wait);
        Admit::Queued(Box::pin(async move {
            let slot = slot;
            let acquired = match deadline {
                None => permits.acquire_owned().await,
                Some(at) => match tokio::time::timeout_at(at, permits.acquire_owned()).await {
                    Ok(acquired) => acquired,
                    Err(_elapsed) => {
                        slot.class().timed_out.fetch_add(1, Ordering::Relaxed);
                        return Err(Refusal::QueueTimeout(QueueTimeout {
                            workload,
                            waited: started.elapsed(),
                        }));
                    }
                },
            };
            let permit =
                acquired.map_err(|_closed| Refusal::Overloaded(slot.class().overloaded()))?;
            slot.class().queue_wait.observe(started.elapsed());
            Ok(permit)
            // `slot` drops here: the call leaves the queue as it takes its permit.
        }))
    }
}

impl Inner {
    /// A class and its slot: fixed for the built-in ones (no search), a short scan of
    /// those of the server's own (a handful, compared by length first).
    #[inline]
    fn find(&self, workload: Workload) -> Option<(usize, &Class)> {
        if let Some(i) = index(workload) {
            return Some((i, &self.built_in[i]));
        }
        let i = self.named.iter().position(|c| c.workload == workload)?;
        Some((BUILT_IN + i, &self.named[i]))
    }

    fn at(&self, slot: usize) -> &Class {
        match slot.checked_sub(BUILT_IN) {
            None => &self.built_in[slot],
            Some(i) => &self.named[i],
        }
    }

    fn classes(&self) -> impl Iterator<Item = &Class> {
        self.built_in.iter().chain(self.named.iter())
    }
}

impl Class {
    fn gauges(&self) -> ClassGauges {
        ClassGauges {
            workload: self.workload,
            in_flight: self.in_flight(),
            queued: self.queued.load(Ordering::Relaxed),
            capacity: self.capacity,
            queue_depth: self.queue_depth,
            shed_total: self.shed.load(Ordering::Relaxed),
            timed_out_total: self.timed_out.load(Ordering::Relaxed),
        }
    }

    fn in_flight(&self) -> usize {
        self.capacity
            .saturating_sub(self.permits.available_permits())
    }

    fn overloaded(&self) -> Overloaded {
        Overloaded {
            workload: self.workload,
            in_flight: self.in_flight(),
            queued: self.queued.load(Ordering::Relaxed),
        }
    }
}

/// One taken place in a class's queue, given back on drop (permit acquired, timed out, or
/// the caller went away).
struct QueueSlot {
    state: Arc<Inner>,
    class: usize,
}

impl QueueSlot {
    fn class(&self) -> &Class {
        self.state.at(self.class)
    }
}

impl Drop for QueueSlot {
    fn drop(&mut self) {
        self.class().queued.fetch_sub(1, Ordering::AcqRel);
    }
}
