//! A circuit breaker judged on a rolling window: it opens when the share of failed (or slow)
//! calls crosses a threshold over at least a minimum number of calls, fails fast while open,
//! lets a few probes through after the reset timeout, and closes when they all succeed.
//!
//! tower has no breaker; failsafe and recloser wrap futures in their own error types and
//! count every error alike, while here only dependency failures count (never invalid input
//! or a 429), so the state machine is written out over `tokio::time` (pausable in tests).

mod window;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use keel_core::Failure;
use serde::Deserialize;
use tokio::sync::watch;
use tokio::time::Instant;

use self::window::Window;

/// When a breaker opens and how it recovers.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerConfig {
    /// The rolling window the failure rate is measured over, in milliseconds (default 10000).
    #[serde(rename = "window_ms", with = "crate::millis")]
    pub window: Duration,
    /// Calls the window must hold before the rate is judged (default 10).
    pub min_calls: u32,
    /// Share of failed calls that opens the breaker, in (0, 1] (default 0.5).
    pub failure_rate: f64,
    /// Failures in a row that open the breaker whatever the window holds, so an outage
    /// after a long healthy spell is caught at once; 0 turns it off (default 5).
    pub consecutive_failures: u32,
    /// A call slower than this counts as slow, in milliseconds; 0 turns slow calls off
    /// (default 5000).
    #[serde(rename = "slow_call_ms", with = "crate::millis")]
    pub slow_call: Duration,
    /// Share of slow calls that opens the breaker, in (0, 1] (default 0.8).
    pub slow_call_rate: f64,
    /// How long the breaker stays open before probing, in milliseconds (default 10000).
    #[serde(rename = "reset_timeout_ms", with = "crate::millis")]
    pub reset_timeout: Duration,
    /// Probes let through half-open; all must succeed to close (default 3).
    pub probes: u32,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(10),
            min_calls: 10,
            consecutive_failures: 5,
            failure_rate: 0.5,
            slow_call: Duration::from_secs(5),
            slow_call_rate: 0.8,
            reset_timeout: Duration::from_secs(10),
            probes: 3,
        }
    }
}

impl BreakerConfig {
    /// Why this configuration cannot work, if it cannot.
    pub fn check(&self) -> Result<(), String> {
        let rate = |r: f64| r > 0.0 && r <= 1.0;
        if self.window < Duration::from_millis(10) || self.window > Duration::from_secs(3600) {
            return Err("window_ms must be between 10 and 3600000".into());
        }
        if !rate(self.failure_rate) || !rate(self.slow_call_rate) {
            return Err("failure_rate and slow_call_rate must be in (0, 1]".into());
        }
        if self.min_calls == 0 || self.probes == 0 {
            return Err("min_calls and probes must be at least 1".into());
        }
        if self.reset_timeout.is_zero() || self.reset_timeout > Duration::from_secs(3600) {
            return Err("reset_timeout_ms must be between 1 and 3600000".into());
        }
        Ok(())
    }
}

/// Where a breaker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls pass; outcomes are counted.
    Closed,
    /// Calls fail fast until the reset timeout ends.
    Open,
    /// A few probes pass; the rest fail fast.
    HalfOpen,
}

impl BreakerState {
    /// The label in metrics, logs and the status page.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }
}

/// A call refused because the breaker is open (or half-open with every probe taken).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{dependency} is unavailable (circuit open); next attempt in {} ms", retry_in.as_millis())]
pub struct CircuitOpen {
    /// The dependency.
    pub dependency: Arc<str>,
    /// When the breaker will let a probe through.
    pub retry_in: Duration,
}

impl From<CircuitOpen> for Failure {
    fn from(open: CircuitOpen) -> Self {
        let retry_ms = u64::try_from(open.retry_in.as_millis()).unwrap_or(u64::MAX);
        Failure::dependency(Arc::clone(&open.dependency), open.to_string())
            .with_detail("circuit", "open")
            .with_detail("retryAfterMs", retry_ms)
    }
}

/// What a breaker reports to the status page and metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerSnapshot {
    /// Its state now.
    pub state: BreakerState,
    /// Calls in the window.
    pub calls: u32,
    /// Failed calls in the window.
    pub failures: u32,
    /// Slow calls in the window.
    pub slow: u32,
    /// Calls refused while open or half-open, since start.
    pub rejected: u64,
    /// Times it opened, since start.
    pub opened: u64,
    /// When open: how long until probing.
    pub retry_in: Option<Duration>,
}

#[derive(Debug)]
enum Phase {
    Closed,
    Open { until: Instant },
    HalfOpen { in_flight: u32, succeeded: u32 },
}

#[derive(Debug)]
struct Inner {
    phase: Phase,
    /// Bumped on every transition; an outcome from an earlier phase is not counted.
    generation: u64,
    window: Window,
    /// Failures since the last success, while closed.
    consecutive: u32,
    rejected: u64,
    opened: u64,
}

/// A circuit breaker for one dependency; clones share it.
#[derive(Debug, Clone)]
pub struct Breaker {
    name: Arc<str>,
    config: BreakerConfig,
    inner: Arc<Mutex<Inner>>,
    state: watch::Sender<BreakerState>,
}

impl Breaker {
    /// A closed breaker for the dependency `name`.
    pub fn new(name: impl Into<Arc<str>>, config: BreakerConfig) -> Self {
        Self {
            name: name.into(),
            config,
            inner: Arc::new(Mutex::new(Inner {
                phase: Phase::Closed,
                generation: 0,
                window: Window::new(config.window),
                consecutive: 0,
                rejected: 0,
                opened: 0,
            })),
            state: watch::Sender::new(BreakerState::Closed),
        }
    }

    /// The dependency's name.
    pub fn name(&self) -> &Arc<str> {
        &self.name
    }

    /// Its configuration.
    pub fn config(&self) -> &BreakerConfig {
        &self.config
    }

    /// Its state; [`subscribe`](Self::subscribe) to follow changes.
    pub fn state(&self) -> BreakerState {
        *self.state.borrow()
    }

    /// Follows its state changes.
    pub fn subscribe(&self) -> watch::Receiver<BreakerState> {
        self.state.subscribe()
    }

    /// Asks to make a call. The [`Permit`] records its outcome; dropping it unrecorded counts
    /// for nothing (a cancelled call says nothing about the dependency).
    ///
    /// # Errors
    /// [`CircuitOpen`] while the breaker is open, or half-open with every probe out.
    pub fn try_acquire(&self) -> Result<Permit, CircuitOpen> {
        let now = Instant::now();
        let mut inner = self.lock();
        let probe = match &mut inner.phase {
            Phase::Closed => false,
            Phase::Open { until } if now >= *until => {
                inner.phase = Phase::HalfOpen {
                    in_flight: 1,
                    succeeded: 0,
                };
                self.moved(&mut inner, BreakerState::HalfOpen);
                true
            }
            Phase::Open { until } => {
                let retry_in = *until - now;
                inner.rejected += 1;
                return Err(self.open_error(retry_in));
            }
            Phase::HalfOpen { in_flight, .. } if *in_flight < self.config.probes => {
                *in_flight += 1;
                true
            }
            Phase::HalfOpen { .. } => {
                inner.rejected += 1;
                return Err(self.open_error(Duration::ZERO));
            }
        };
        Ok(Permit {
            breaker: self.clone(),
            generation: inner.generation,
            started: now,
            probe,
            recorded: false,
        })
    }

    /// Its counters now.
    pub fn snapshot(&self) -> BreakerSnapshot {
        let now = Instant::now();
        let inner = self.lock();
        let totals = inner.window.totals(now);
        let (state, retry_in) = match inner.phase {
            Phase::Closed => (BreakerState::Closed, None),
            Phase::Open { until } => (
                BreakerState::Open,
                Some(until.saturating_duration_since(now)),
            ),
            Phase::HalfOpen { .. } => (BreakerState::HalfOpen, None),
        };
        BreakerSnapshot {
            state,
            calls: totals.calls,
            failures: totals.failures,
            slow: totals.slow,
            rejected: inner.rejected,
            opened: inner.opened,
            retry_in,
        }
    }

    fn open_error(&self, retry_in: Duration) -> CircuitOpen {
        CircuitOpen {
            dependency: Arc::clone(&self.name),
            retry_in,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The state stays consistent at every await-free step; a panic elsewhere while it was
        // held leaves nothing half-written worth refusing over.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn record(&self, permit: &Permit, outcome: Outcome) {
        let now = Instant::now();
        let mut inner = self.lock();
        if inner.generation != permit.generation {
            return;
        }
        let slow = !self.config.slow_call.is_zero()
            && now.duration_since(permit.started) >= self.config.slow_call;
        match (&mut inner.phase, outcome) {
            (Phase::Closed, Outcome::Ignored) => {}
            (Phase::Closed, outcome) => {
                let failed = outcome == Outcome::Failure;
                inner.window.add(now, failed, slow);
                inner.consecutive = if failed { inner.consecutive + 1 } else { 0 };
                let t = inner.window.totals(now);
                let over = |n: u32, rate: f64| f64::from(n) >= rate * f64::from(t.calls);
                let in_a_row = self.config.consecutive_failures > 0
                    && inner.consecutive >= self.config.consecutive_failures;
                if in_a_row
                    || (t.calls >= self.config.min_calls
                        && (over(t.failures, self.config.failure_rate)
                            || (slow && over(t.slow, self.config.slow_call_rate))))
                {
                    self.open(&mut inner, now);
                }
            }
            (Phase::HalfOpen { in_flight, .. }, Outcome::Ignored) => {
                *in_flight = in_flight.saturating_sub(1);
            }
            (Phase::HalfOpen { .. }, Outcome::Failure) => self.open(&mut inner, now),
            (Phase::HalfOpen { .. }, Outcome::Success) if slow => self.open(&mut inner, now),
            (
                Phase::HalfOpen {
                    in_flight,
                    succeeded,
                },
                Outcome::Success,
            ) => {
                *in_flight = in_flight.saturating_sub(1);
                *succeeded += 1;
                if *succeeded >= self.config.probes {
                    inner.phase = Phase::Closed;
                    inner.window.clear();
                    self.moved(&mut inner, BreakerState::Closed);
                }
            }
            // A probe's outcome after the breaker reopened belongs to another generation.
            (Phase::Open { .. }, _) => {}
        }
    }

    fn open(&self, inner: &mut Inner, now: Instant) {
        inner.phase = Phase::Open {
            until: now + self.config.reset_timeout,
        };
        inner.opened += 1;
        inner.consecutive = 0;
        inner.window.clear();
        self.moved(inner, BreakerState::Open);
    }

    fn moved(&self, inner: &mut Inner, to: BreakerState) {
        inner.generation += 1;
        match to {
            BreakerState::Open => tracing::warn!(
                dependency = %self.name,
                reset_timeout_ms = self.config.reset_timeout.as_millis() as u64,
                "circuit opened: calls fail fast until the reset timeout"
            ),
            BreakerState::HalfOpen => {
                tracing::info!(dependency = %self.name, "circuit half-open: probing");
            }
            BreakerState::Closed => tracing::info!(dependency = %self.name, "circuit closed"),
        }
        self.state.send_replace(to);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Success,
    Failure,
    Ignored,
}

/// Leave to make one call; record how it went.
#[derive(Debug)]
#[must_use = "an unrecorded permit counts for nothing"]
pub struct Permit {
    breaker: Breaker,
    generation: u64,
    started: Instant,
    probe: bool,
    recorded: bool,
}

impl Permit {
    /// The call succeeded (a slow success counts as slow).
    pub fn success(mut self) {
        self.finish(Outcome::Success);
    }

    /// The dependency failed the call.
    pub fn failure(mut self) {
        self.finish(Outcome::Failure);
    }

    /// Records a call's outcome by its failure kind: only dependency, transient and timeout
    /// failures count against the dependency; invalid input, permanent failures and overload
    /// (a 429 is the dependency working as designed) count as answers.
    pub fn record<T>(self, outcome: &Result<T, Failure>) {
        match outcome {
            Err(f) if f.kind().is_dependency_failure() => self.failure(),
            _ => self.success(),
        }
    }

    /// Whether this call probes a half-open breaker.
    pub fn is_probe(&self) -> bool {
        self.probe
    }

    fn finish(&mut self, outcome: Outcome) {
        if !self.recorded {
            self.recorded = true;
            self.breaker.clone().record(self, outcome);
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.finish(Outcome::Ignored);
    }
}

#[cfg(test)]
mod tests;
