//! Which key a request uses: uniform over a cardinality, or Zipf-skewed so a few keys are hot
//! (how a cache's hit rate is controlled).

/// Largest cardinality a Zipf table is built for (8 MiB of cumulative weights).
pub(crate) const MAX_ZIPF_KEYS: u64 = 1 << 20;

/// Draws keys `0..cardinality`.
#[derive(Debug, Clone)]
pub(crate) enum KeyChooser {
    /// Every key equally likely.
    Uniform(u64),
    /// Key k has weight 1 / (k + 1)^s; the cumulative weights, normalised to 1.
    Zipf(Vec<f64>),
}

impl KeyChooser {
    /// A chooser over `cardinality` keys with exponent `s` (0 = uniform).
    pub(crate) fn new(cardinality: u64, s: f64) -> Result<Self, String> {
        if cardinality == 0 {
            return Err("keys must be at least 1".into());
        }
        if !s.is_finite() || s < 0.0 {
            return Err(format!("zipf exponent {s} must be a number ≥ 0"));
        }
        if s == 0.0 {
            return Ok(Self::Uniform(cardinality));
        }
        if cardinality > MAX_ZIPF_KEYS {
            return Err(format!(
                "a zipf workload takes at most {MAX_ZIPF_KEYS} keys, not {cardinality}"
            ));
        }
        let mut cumulative = Vec::with_capacity(cardinality as usize);
        let mut sum = 0.0;
        for k in 0..cardinality {
            sum += 1.0 / ((k + 1) as f64).powf(s);
            cumulative.push(sum);
        }
        for c in &mut cumulative {
            *c /= sum;
        }
        Ok(Self::Zipf(cumulative))
    }

    /// One key.
    pub(crate) fn pick(&self, rng: &mut fastrand::Rng) -> u64 {
        match self {
            Self::Uniform(n) => rng.u64(0..*n),
            Self::Zipf(cumulative) => {
                let u = rng.f64();
                cumulative.partition_point(|&c| c < u) as u64
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zipf_makes_the_first_keys_hot_and_uniform_does_not() {
        let mut rng = fastrand::Rng::with_seed(7);
        let zipf = KeyChooser::new(1000, 1.1).unwrap();
        let hits0 = (0..100_000).filter(|_| zipf.pick(&mut rng) == 0).count();
        // P(key 0) = 1 / H(1000, 1.1) ≈ 0.18.
        assert!((15_000..21_000).contains(&hits0), "{hits0}");
        let uniform = KeyChooser::new(1000, 0.0).unwrap();
        let hits0 = (0..100_000).filter(|_| uniform.pick(&mut rng) == 0).count();
        assert!(hits0 < 300, "{hits0}");
        assert!((0..10_000).all(|_| zipf.pick(&mut rng) < 1000));
        assert!(KeyChooser::new(0, 0.0).is_err());
        assert!(KeyChooser::new(MAX_ZIPF_KEYS + 1, 1.0).is_err());
    }
}
