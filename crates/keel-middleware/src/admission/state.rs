//! The shared admission state: one semaphore and one bounded queue counter per class.

use std::sync::{
    Arc,
    atomic::{AtomicU64, AtomicUsize, Ordering},
};

use keel_core::{BoxFuture, Workload};
use tokio::{
    sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError},
    time::Instant,
};

use super::config::{AdmissionLimits, WORKLOADS, index};
use super::error::Refusal;
use crate::{Overloaded, QueueTimeout};

/// Live admission state shared by every clone of the layer and its services; clone it to
/// read gauges for metrics and health checks.
#[derive(Clone)]
pub struct AdmissionState {
    inner: Arc<Inner>,
}

struct Inner {
    classes: [Class; 4],
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
}

impl AdmissionState {
    /// Fresh state for the given limits.
    pub fn new(limits: &AdmissionLimits) -> Self {
        let classes = limits
            .per_workload()
            .map(|(workload, capacity, depth)| Class {
                workload,
                permits: Arc::new(Semaphore::new(capacity.get())),
                capacity: capacity.get(),
                queue_depth: depth.0,
                queued: AtomicUsize::new(0),
                shed: AtomicU64::new(0),
                timed_out: AtomicU64::new(0),
            });
        Self {
            inner: Arc::new(Inner {
                classes,
                max_queue_wait: limits.max_queue_wait().map(|w| w.0),
            }),
        }
    }

    /// The gauges of one class.
    pub fn gauges(&self, workload: Workload) -> ClassGauges {
        let c = &self.inner.classes[index(workload)];
        ClassGauges {
            workload: c.workload,
            in_flight: c.in_flight(),
            queued: c.queued.load(Ordering::Relaxed),
            capacity: c.capacity,
            queue_depth: c.queue_depth,
            shed_total: c.shed.load(Ordering::Relaxed),
            timed_out_total: c.timed_out.load(Ordering::Relaxed),
        }
    }

    /// The gauges of every class.
    pub fn snapshot(&self) -> [ClassGauges; 4] {
        WORKLOADS.map(|w| self.gauges(w))
    }

    /// Takes a permit, a queue slot, or sheds. Never waits itself.
    pub(crate) fn admit(&self, workload: Workload) -> Admit {
        let class = &self.inner.classes[index(workload)];
        match Arc::clone(&class.permits).try_acquire_owned() {
            Ok(permit) => return Admit::Now(permit),
            // The semaphore is never closed; treat it like a full class rather than panic.
            Err(TryAcquireError::NoPermits | TryAcquireError::Closed) => {}
        }
        let depth = class.queue_depth;
        let slot = class
            .queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |q| {
                (q < depth).then_some(q + 1)
            });
        if slot.is_err() {
            class.shed.fetch_add(1, Ordering::Relaxed);
            return Admit::Shed(class.overloaded());
        }
        // The slot is owned by a guard from here on, so dropping the call before its first
        // poll still frees it.
        let slot = QueueSlot {
            state: Arc::clone(&self.inner),
            class: index(workload),
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
            acquired.map_err(|_closed| Refusal::Overloaded(slot.class().overloaded()))
            // `slot` drops here: the call leaves the queue as it takes its permit.
        }))
    }
}

impl Class {
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
        &self.state.classes[self.class]
    }
}

impl Drop for QueueSlot {
    fn drop(&mut self) {
        self.class().queued.fetch_sub(1, Ordering::AcqRel);
    }
}
