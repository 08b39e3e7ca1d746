//! Freshness policy: adaptive TTL that grows with hits.

use std::time::Duration;

/// Bounds of an entry's fresh lifetime. An entry starts fresh for `min`; each doubling of its
/// hit count doubles its freshness, never past `max`. Freshness is measured from `stored_at`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TtlPolicy {
    /// Freshness of an entry nobody has read yet.
    pub min: Duration,
    /// The most freshness hits can earn.
    pub max: Duration,
}

impl TtlPolicy {
    /// A policy; a `max` below `min` is raised to `min`.
    pub fn new(min: Duration, max: Duration) -> Self {
        Self {
            min,
            max: max.max(min),
        }
    }

    /// Fresh lifetime after `hits` fresh hits: `clamp(min × 2^floor(log2(hits + 1)), min, max)`.
    pub fn fresh_for(&self, hits: u64) -> Duration {
        let doublings = hits.saturating_add(1).ilog2();
        let factor = 1u32.checked_shl(doublings).unwrap_or(u32::MAX);
        self.min
            .checked_mul(factor)
            .unwrap_or(Duration::MAX)
            .clamp(self.min, self.max.max(self.min))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_with_hits_within_bounds() {
        let policy = TtlPolicy::new(Duration::from_secs(10), Duration::from_secs(100));
        let secs = |hits| policy.fresh_for(hits).as_secs();
        assert_eq!(secs(0), 10);
        assert_eq!(secs(1), 20);
        assert_eq!(secs(2), 20);
        assert_eq!(secs(3), 40);
        assert_eq!(secs(7), 80);
        assert_eq!(secs(15), 100);
        assert_eq!(secs(u64::MAX), 100);
    }

    #[test]
    fn max_below_min_is_min() {
        let policy = TtlPolicy::new(Duration::from_secs(10), Duration::from_secs(1));
        assert_eq!(policy.fresh_for(100), Duration::from_secs(10));
    }
}
