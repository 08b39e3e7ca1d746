//! Admission per workload class (the four built-in ones and those a server defines): a
//! concurrency limit plus a bounded wait queue, shedding with a typed [`Overloaded`]
//! rejection when both are full.
//!
//! Why not tower's `ConcurrencyLimit` + `LoadShed`: `ConcurrencyLimit` takes its permit in
//! `poll_ready`, before the request (and so its workload class) is known, which rules out
//! one limit per class behind one service; and its waiters form an unbounded queue.
//! `LoadShed` on top sheds as soon as the limit is reached, i.e. a queue of depth zero,
//! with an untyped `Overloaded` error carrying no class or counts. Wrapping four of them
//! behind a router would still give no bounded queue and no queue timeout. So this layer
//! keys a `tokio::sync::Semaphore` (FIFO-fair, lock-free `try_acquire` on the fast path)
//! per class and bounds the waiters with an atomic counter.

mod class;
mod config;
mod error;
mod future;
mod layer;
pub(crate) mod request;
mod service;
pub(crate) mod state;
#[cfg(test)]
mod tests;

pub use class::{InvalidClassName, MAX_CLASS_NAME, named_class, parse_class};
pub use config::{AdmissionLimits, Capacity, InvalidCapacity, MaxQueueWait, QueueDepth};
pub use error::{Overloaded, QueueTimeout, UndefinedClass};
pub use future::AdmissionFuture;
pub use layer::AdmissionLayer;
pub use request::{RequestAdmissionFuture, RequestAdmissionLayer, RequestAdmissionService};
pub use service::AdmissionService;
pub use state::{AdmissionState, ClassGauges};
