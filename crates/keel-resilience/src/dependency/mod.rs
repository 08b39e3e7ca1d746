//! One named dependency's guard — breaker, timeout, retries, budget and `Retry-After`
//! throttle — and the registry of every dependency a server's tools reach.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keel_core::{Failure, FailureKind};
use serde::Deserialize;
use tokio::time::Instant;
use tracing::Instrument;

use crate::breaker::{Breaker, BreakerConfig, BreakerSnapshot, BreakerState};
use crate::retry::{RetryBudget, RetryBudgetConfig, RetryPolicy, full_jitter};

/// Whether a call may be made twice without harm (a read, a pure computation): only those
/// are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idempotency {
    /// Safe to repeat.
    Idempotent,
    /// Never repeated by the guard.
    NotIdempotent,
}

/// How calls to one dependency are guarded.
///
/// ```toml
/// [resilience.default]            # every dependency not named below
/// timeout_ms = 10000
/// breaker = { window_ms = 10000, min_calls = 10, failure_rate = 0.5, reset_timeout_ms = 10000 }
/// retry = { max_attempts = 3, base_delay_ms = 50, max_delay_ms = 2000 }
/// budget = { ratio = 0.2, min_per_sec = 5 }
///
/// [resilience.dependencies."db:warehouse"]
/// timeout_ms = 30000
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DependencyConfig {
    /// Longest one attempt may take, in milliseconds; the attempt is dropped (cancelled) then
    /// (default 10000).
    #[serde(rename = "timeout_ms", with = "crate::millis")]
    pub timeout: Duration,
    /// The circuit breaker.
    pub breaker: BreakerConfig,
    /// Retries of idempotent calls.
    pub retry: RetryPolicy,
    /// The share of extra load retries may add.
    pub budget: RetryBudgetConfig,
}

impl Default for DependencyConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            breaker: BreakerConfig::default(),
            retry: RetryPolicy::default(),
            budget: RetryBudgetConfig::default(),
        }
    }
}

impl DependencyConfig {
    /// Why this configuration cannot work, if it cannot.
    pub fn check(&self) -> Result<(), String> {
        if self.timeout.is_zero() || self.timeout > Duration::from_secs(3600) {
            return Err("timeout_ms must be between 1 and 3600000".into());
        }
        self.breaker.check()?;
        self.retry.check()?;
        self.budget.check()
    }
}

#[derive(Debug, Default)]
struct Counters {
    calls: AtomicU64,
    retries: AtomicU64,
    timeouts: AtomicU64,
    throttled: AtomicU64,
}

#[derive(Debug)]
struct Inner {
    name: Arc<str>,
    config: DependencyConfig,
    breaker: Breaker,
    budget: RetryBudget,
    /// No call before this instant: the dependency said `Retry-After`.
    not_before: Mutex<Option<Instant>>,
    counters: Counters,
}

/// The guard of one dependency; clones share it.
#[derive(Debug, Clone)]
pub struct Dependency {
    inner: Arc<Inner>,
}

/// A dependency's state for the status page and metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct DependencySnapshot {
    /// Its name.
    pub name: Arc<str>,
    /// Its breaker.
    pub breaker: BreakerSnapshot,
    /// Calls made through the guard (each may take several attempts).
    pub calls: u64,
    /// Retries made.
    pub retries: u64,
    /// Retries the budget refused.
    pub retries_refused: u64,
    /// Attempts stopped at the timeout.
    pub timeouts: u64,
    /// Calls that waited for, or were refused by, a `Retry-After`.
    pub throttled: u64,
    /// How long callers are still held back by a `Retry-After`.
    pub throttled_for: Option<Duration>,
}

impl Dependency {
    /// A guard for `name` (`db:main`, `redis`, `model:…`, `api:quotes`).
    pub fn new(name: impl Into<Arc<str>>, config: DependencyConfig) -> Self {
        let name = name.into();
        Self {
            inner: Arc::new(Inner {
                breaker: Breaker::new(Arc::clone(&name), config.breaker),
                budget: RetryBudget::new(config.budget),
                name,
                config,
                not_before: Mutex::new(None),
                counters: Counters::default(),
            }),
        }
    }

    /// Its name.
    pub fn name(&self) -> &Arc<str> {
        &self.inner.name
    }

    /// Its breaker.
    pub fn breaker(&self) -> &Breaker {
        &self.inner.breaker
    }

    /// Its configuration.
    pub fn config(&self) -> &DependencyConfig {
        &self.inner.config
    }

    /// Runs `attempt` against the dependency: fails fast while the breaker is open, holds
    /// back while the dependency asked to wait (`Retry-After`, up to the policy's max delay),
    /// stops each attempt at the timeout, and tries an idempotent call again after a
    /// jittered backoff when it failed quickly and retryably (not a timeout) and the budget
    /// allows.
    ///
    /// An attempt says the dependency asked to wait by failing with
    /// [`Failure::overloaded`] and a `retry_after`: that wait then holds every caller, and
    /// never counts against the breaker.
    ///
    /// # Errors
    /// The last attempt's failure; a [`Failure::dependency`] naming the dependency when the
    /// breaker is open; [`Failure::timed_out`] when an attempt ran out of time.
    pub async fn call<T, F, Fut>(&self, idempotency: Idempotency, attempt: F) -> Result<T, Failure>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Failure>>,
    {
        if !keel_core::trace::in_trace() {
            return self.guarded(idempotency, attempt).await;
        }
        let name = &*self.inner.name;
        let span = tracing::info_span!(
            target: "keel::trace",
            "dependency",
            otel.name = %format!("call {name}"),
            otel.kind = "client",
            otel.status_code = tracing::field::Empty,
            peer.service = name,
            keel.breaker.state = tracing::field::Empty,
            error.type = tracing::field::Empty,
        );
        let outcome = self
            .guarded(idempotency, attempt)
            .instrument(span.clone())
            .await;
        span.record("keel.breaker.state", self.inner.breaker.state().as_str());
        if let Err(failure) = &outcome {
            span.record("otel.status_code", "ERROR");
            span.record("error.type", failure.kind().as_str());
        }
        outcome
    }

    async fn guarded<T, F, Fut>(
        &self,
        idempotency: Idempotency,
        mut attempt: F,
    ) -> Result<T, Failure>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Failure>>,
    {
        let inner = &*self.inner;
        inner.counters.calls.fetch_add(1, Ordering::Relaxed);
        inner.budget.deposit();
        let mut ceilings = inner.config.retry.ceilings();
        loop {
            if let Some(wait) = self.throttle_wait() {
                inner.counters.throttled.fetch_add(1, Ordering::Relaxed);
                if wait > inner.config.retry.max_delay {
                    return Err(self.throttled(wait));
                }
                tokio::time::sleep(wait).await;
            }
            let permit = match inner.breaker.try_acquire() {
                Ok(permit) => permit,
                Err(open) => {
                    keel_core::note_dependency(&inner.name, || BreakerState::Open.as_str());
                    return Err(open.into());
                }
            };
            keel_core::note_dependency(&inner.name, || inner.breaker.state().as_str());
            let outcome = match tokio::time::timeout(inner.config.timeout, attempt()).await {
                Ok(outcome) => outcome,
                Err(_) => {
                    inner.counters.timeouts.fetch_add(1, Ordering::Relaxed);
                    Err(self.timed_out())
                }
            };
            permit.record(&outcome);
            let failure = match outcome {
                Ok(value) => return Ok(value),
                Err(failure) => failure,
            };
            let asked_to_wait = match failure.kind() {
                FailureKind::Overloaded {
                    retry_after: Some(after),
                } => {
                    self.hold_back(*after);
                    true
                }
                _ => false,
            };
            // A timed-out attempt already cost the caller the whole timeout: trying again
            // would multiply it, so only quick failures are retried.
            let retryable = failure.kind().is_retryable()
                && !matches!(failure.kind(), FailureKind::TimedOut { .. });
            if idempotency == Idempotency::NotIdempotent || !retryable {
                return Err(failure);
            }
            let Some(ceiling) = ceilings.next() else {
                return Err(failure);
            };
            if !inner.budget.withdraw() {
                return Err(failure);
            }
            inner.counters.retries.fetch_add(1, Ordering::Relaxed);
            // After a `Retry-After` the throttle at the top of the loop does the waiting.
            if !asked_to_wait {
                tokio::time::sleep(full_jitter(ceiling)).await;
            }
        }
    }

    /// Its counters now.
    pub fn snapshot(&self) -> DependencySnapshot {
        let c = &self.inner.counters;
        let (_, _, refused) = self.inner.budget.counts();
        DependencySnapshot {
            name: Arc::clone(&self.inner.name),
            breaker: self.inner.breaker.snapshot(),
            calls: c.calls.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            retries_refused: refused,
            timeouts: c.timeouts.load(Ordering::Relaxed),
            throttled: c.throttled.load(Ordering::Relaxed),
            throttled_for: self.throttle_wait(),
        }
    }

    fn throttle_wait(&self) -> Option<Duration> {
        let mut not_before = self.lock_throttle();
        let until = (*not_before)?;
        let now = Instant::now();
        if now >= until {
            *not_before = None;
            return None;
        }
        Some(until - now)
    }

    fn hold_back(&self, after: Duration) {
        let until = Instant::now() + after;
        let mut not_before = self.lock_throttle();
        if not_before.is_none_or(|t| t < until) {
            *not_before = Some(until);
        }
    }

    fn lock_throttle(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.inner
            .not_before
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn throttled(&self, wait: Duration) -> Failure {
        let name = &self.inner.name;
        Failure::overloaded(
            Some(wait),
            format!("{name} asked callers to wait {} ms", wait.as_millis()),
        )
        .with_detail("dependency", &**name)
    }

    fn timed_out(&self) -> Failure {
        let name = &self.inner.name;
        let after = self.inner.config.timeout;
        Failure::timed_out(
            after,
            format!("{name} did not answer within {} ms", after.as_millis()),
        )
        .with_detail("dependency", &**name)
    }
}

/// Every dependency of a server, each guarded by its configuration (or the default).
#[derive(Debug, Clone, Default)]
pub struct Dependencies {
    default: DependencyConfig,
    named: Arc<BTreeMap<String, DependencyConfig>>,
    guards: Arc<Mutex<BTreeMap<Arc<str>, Dependency>>>,
}

impl Dependencies {
    /// Guards configured by `default`, except those `named`.
    pub fn new(default: DependencyConfig, named: BTreeMap<String, DependencyConfig>) -> Self {
        Self {
            default,
            named: Arc::new(named),
            guards: Arc::default(),
        }
    }

    /// The guard of `name`, made on first use; every caller of one name shares it.
    pub fn get(&self, name: &str) -> Dependency {
        let mut guards = self.guards.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(guard) = guards.get(name) {
            return guard.clone();
        }
        let config = self.named.get(name).copied().unwrap_or(self.default);
        let guard = Dependency::new(name, config);
        guards.insert(Arc::clone(guard.name()), guard.clone());
        guard
    }

    /// Every guard made so far, by name.
    pub fn all(&self) -> Vec<Dependency> {
        let guards = self.guards.lock().unwrap_or_else(|p| p.into_inner());
        guards.values().cloned().collect()
    }
}

#[cfg(test)]
mod tests;
