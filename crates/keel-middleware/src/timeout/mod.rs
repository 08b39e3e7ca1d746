//! A deadline per tool call: a call running longer than its tool's timeout is answered with
//! a [`FailureKind::TimedOut`](keel_core::FailureKind) failure, its context's cancellation
//! token is cancelled (work it handed off — a worker-pool job, a spawned task — sees it),
//! and its future is dropped.
//!
//! The server places this layer inside admission, so the clock starts once the call holds
//! its permit: queue wait has its own bound (`max_queue_wait`).
//!
//! Why not tower's `Timeout`: one duration for every request, an error boxed into
//! `BoxError` (no typed failure to map to `timed_out`), and it only drops the inner future,
//! so work running off the async reactor would never learn it should stop. This layer
//! hands each bounded call a child of its request's cancellation token and cancels that
//! child at the deadline, leaving the rest of the request alone.

mod config;
mod error;
mod future;
mod layer;
mod service;
#[cfg(test)]
mod tests;

pub use config::{CallTimeout, ToolTimeouts};
pub use error::Elapsed;
pub use future::TimeoutFuture;
pub use layer::TimeoutLayer;
pub use service::TimeoutService;
