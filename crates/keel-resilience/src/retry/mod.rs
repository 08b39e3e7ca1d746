//! Which failed calls are tried again, and after how long: capped exponential backoff
//! (backon's schedule) with full jitter, so synchronized callers spread out, and a budget so
//! retries cannot multiply the load on a dependency that is already down.

mod budget;

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use serde::Deserialize;

pub use budget::{RetryBudget, RetryBudgetConfig};

/// How often and how patiently a failed call is tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryPolicy {
    /// Attempts in all, the first included; 1 turns retries off (default 3).
    pub max_attempts: u32,
    /// The first backoff's ceiling, in milliseconds; each next one doubles (default 50).
    #[serde(rename = "base_delay_ms", with = "crate::millis")]
    pub base_delay: Duration,
    /// No backoff, and no `Retry-After` wait, is longer, in milliseconds (default 2000);
    /// a dependency asking for a longer wait gets its failure returned instead.
    #[serde(rename = "max_delay_ms", with = "crate::millis")]
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base_delay: Duration::from_millis(50),
            max_delay: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// Why this policy cannot work, if it cannot.
    pub fn check(&self) -> Result<(), String> {
        if !(1..=10).contains(&self.max_attempts) {
            return Err("max_attempts must be between 1 and 10".into());
        }
        if self.base_delay.is_zero() || self.base_delay > self.max_delay {
            return Err("base_delay_ms must be positive and at most max_delay_ms".into());
        }
        if self.max_delay > Duration::from_secs(60) {
            return Err("max_delay_ms must be at most 60000".into());
        }
        Ok(())
    }

    /// The backoff ceilings before each retry: base, 2·base, 4·base… capped at `max_delay`.
    pub fn ceilings(&self) -> impl Iterator<Item = Duration> + use<> {
        ExponentialBuilder::new()
            .with_min_delay(self.base_delay)
            .with_max_delay(self.max_delay)
            .with_factor(2.0)
            .with_max_times(self.max_attempts.saturating_sub(1) as usize)
            .build()
    }
}

/// Full jitter: a uniformly random wait up to the ceiling.
pub(crate) fn full_jitter(ceiling: Duration) -> Duration {
    ceiling.mul_f64(fastrand::f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_double_up_to_the_cap() {
        let p = RetryPolicy {
            max_attempts: 6,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(500),
        };
        let ms: Vec<u128> = p.ceilings().map(|d| d.as_millis()).collect();
        assert_eq!(ms, [100, 200, 400, 500, 500]);
        let single = RetryPolicy {
            max_attempts: 1,
            ..p
        };
        assert_eq!(single.ceilings().count(), 0);
    }

    #[test]
    fn jitter_stays_under_the_ceiling_and_spreads() {
        let ceiling = Duration::from_millis(100);
        let waits: Vec<Duration> = (0..1000).map(|_| full_jitter(ceiling)).collect();
        assert!(waits.iter().all(|w| *w <= ceiling));
        assert!(waits.iter().any(|w| *w < Duration::from_millis(20)));
        assert!(waits.iter().any(|w| *w > Duration::from_millis(80)));
    }

    #[test]
    fn policies_are_checked() {
        assert!(RetryPolicy::default().check().is_ok());
        let zero = RetryPolicy {
            max_attempts: 0,
            ..RetryPolicy::default()
        };
        assert!(zero.check().is_err());
    }
}
