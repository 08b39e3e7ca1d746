//! A consecutive-failure circuit breaker, so a dead or hung Redis costs no latency.
//!
//! tower has no breaker and the crates that do (failsafe, recloser) wrap futures in their own
//! error types; what is needed here is three states and a clock, so it is written out.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// When the breaker opens and for how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive failures that open the breaker.
    pub failures: u32,
    /// How long it stays open before one probe is let through.
    pub open_for: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failures: 3,
            open_for: Duration::from_secs(1),
        }
    }
}

#[derive(Debug)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// One call is probing; another may probe if this one never reports back.
    Probing {
        since: Instant,
    },
}

/// The breaker's state, shared by every Redis operation of a cache.
#[derive(Debug)]
pub(crate) struct Breaker {
    config: BreakerConfig,
    state: Mutex<State>,
}

impl Breaker {
    pub(crate) fn new(config: BreakerConfig) -> Self {
        Self {
            config,
            state: Mutex::new(State::Closed { failures: 0 }),
        }
    }

    /// Whether a call may go to Redis now.
    pub(crate) fn allow(&self) -> bool {
        let Ok(mut state) = self.state.lock() else {
            return true;
        };
        let now = Instant::now();
        match *state {
            State::Closed { .. } => true,
            State::Open { until } if now >= until => {
                *state = State::Probing { since: now };
                true
            }
            State::Probing { since } if now.duration_since(since) >= self.config.open_for => {
                *state = State::Probing { since: now };
                true
            }
            State::Open { .. } | State::Probing { .. } => false,
        }
    }

    pub(crate) fn success(&self) {
        if let Ok(mut state) = self.state.lock() {
            *state = State::Closed { failures: 0 };
        }
    }

    pub(crate) fn failure(&self) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let open = State::Open {
            until: Instant::now() + self.config.open_for,
        };
        *state = match *state {
            State::Closed { failures }
                if failures.saturating_add(1) < self.config.failures.max(1) =>
            {
                State::Closed {
                    failures: failures + 1,
                }
            }
            _ => open,
        };
    }

    /// Whether calls are being refused now.
    #[cfg(test)]
    fn is_open(&self) -> bool {
        !matches!(*self.state.lock().expect("lock"), State::Closed { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> Breaker {
        Breaker::new(BreakerConfig {
            failures: 3,
            open_for: Duration::from_secs(1),
        })
    }

    #[tokio::test(start_paused = true)]
    async fn opens_after_consecutive_failures_and_probes_once() {
        let breaker = breaker();
        for _ in 0..2 {
            assert!(breaker.allow());
            breaker.failure();
        }
        assert!(!breaker.is_open());
        assert!(breaker.allow());
        breaker.failure();
        assert!(breaker.is_open());
        assert!(!breaker.allow());

        tokio::time::advance(Duration::from_millis(999)).await;
        assert!(!breaker.allow());
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(breaker.allow(), "one probe after open_for");
        assert!(!breaker.allow(), "only one probe at a time");

        // The probe fails: open again for a full period.
        breaker.failure();
        assert!(!breaker.allow());
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(breaker.allow());
        breaker.success();
        assert!(!breaker.is_open());
        assert!(breaker.allow());
        assert!(breaker.allow());
    }

    #[tokio::test(start_paused = true)]
    async fn a_success_resets_the_count() {
        let breaker = breaker();
        breaker.failure();
        breaker.failure();
        breaker.success();
        breaker.failure();
        breaker.failure();
        assert!(!breaker.is_open());
    }

    #[tokio::test(start_paused = true)]
    async fn a_lost_probe_does_not_wedge_the_breaker() {
        let breaker = breaker();
        for _ in 0..3 {
            breaker.failure();
        }
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(breaker.allow());
        // The probe's caller went away without reporting.
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(breaker.allow());
    }
}
