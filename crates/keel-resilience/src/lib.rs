//! Guards for the calls a tool makes to what it depends on (a database, Redis, a model, an
//! outbound HTTP service): a circuit breaker per dependency, retries with capped exponential
//! backoff, full jitter and a budget, a throttle honouring the dependency's `Retry-After`, and
//! a timeout per attempt that drops (cancels) the work.
//!
//! It is not a tower layer around tool calls: one tool call may reach several dependencies,
//! and which one is known only inside the tool (`query` picks its database from the
//! arguments). Tools hold a [`Dependency`] from the server's [`Dependencies`] and run each
//! dependency call through it; the outcome is judged by its [`keel_core::FailureKind`].

#![forbid(unsafe_code)]

mod breaker;
mod dependency;
mod http;
mod retry;

pub use breaker::{Breaker, BreakerConfig, BreakerSnapshot, BreakerState, CircuitOpen, Permit};
pub use dependency::{Dependencies, Dependency, DependencyConfig, DependencySnapshot, Idempotency};
pub use http::{http_failure, parse_retry_after};
pub use retry::{RetryBudget, RetryBudgetConfig, RetryPolicy};

/// Durations written in milliseconds in configuration files.
mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}
