//! Count, sum, mean, variance, minimum and maximum in one parallel pass.
//!
//! Each chunk computes its sum pairwise and its sum of squared deviations from its own mean
//! (two passes over cache-resident data); chunks are merged in order with Chan, Golub and
//! LeVeque's update, which avoids the cancellation of the naive sum-of-squares formula.

use super::context::Ctx;
use super::sum::{Compensated, min_max, pairwise_by};
use crate::error::AnalysisError;

/// Moments of one column.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Moments {
    pub(crate) count: u64,
    /// Compensated sum; may be infinite when the values are huge.
    pub(crate) sum: f64,
    /// Mean, within `[min, max]`.
    pub(crate) mean: f64,
    /// Sum of squared deviations from the mean.
    pub(crate) m2: f64,
    pub(crate) min: f64,
    pub(crate) max: f64,
}

impl Moments {
    pub(crate) fn population_variance(&self) -> f64 {
        self.m2 / self.count as f64
    }

    pub(crate) fn sample_variance(&self) -> Option<f64> {
        (self.count > 1).then(|| self.m2 / (self.count - 1) as f64)
    }
}

#[derive(Debug, Clone, Copy)]
struct Partial {
    count: u64,
    sum: f64,
    mean: f64,
    m2: f64,
    min: f64,
    max: f64,
}

fn partial(values: &[f64]) -> Partial {
    let sum = pairwise_by(values, |x| x);
    let mean = sum / values.len() as f64;
    let m2 = pairwise_by(values, |x| (x - mean) * (x - mean));
    let (min, max) = min_max(values);
    Partial {
        count: values.len() as u64,
        sum,
        mean,
        m2,
        min,
        max,
    }
}

/// Computes the moments of a non-empty column.
pub(crate) fn moments(ctx: &Ctx<'_>, values: &[f64]) -> Result<Moments, AnalysisError> {
    let partials = ctx.map_chunks(values.len(), 1, |range| partial(&values[range]))?;
    let mut sum = Compensated::default();
    let mut merged: Option<Partial> = None;
    for part in partials {
        sum.add(part.sum);
        merged = Some(match merged {
            None => part,
            Some(acc) => merge(acc, part),
        });
    }
    let merged = merged.expect("a column has at least one value");
    let sum = sum.total();
    let constant = merged.min == merged.max;
    let mean = if constant {
        merged.min
    } else if sum.is_finite() {
        (sum / merged.count as f64).clamp(merged.min, merged.max)
    } else {
        merged.mean.clamp(merged.min, merged.max)
    };
    Ok(Moments {
        count: merged.count,
        sum,
        mean,
        m2: if constant { 0.0 } else { merged.m2 },
        min: merged.min,
        max: merged.max,
    })
}

/// Chan et al.'s pairwise update of count, mean and M2.
fn merge(a: Partial, b: Partial) -> Partial {
    let count = a.count + b.count;
    let (na, nb, n) = (a.count as f64, b.count as f64, count as f64);
    let delta = b.mean - a.mean;
    Partial {
        count,
        sum: a.sum + b.sum,
        mean: a.mean + delta * (nb / n),
        m2: a.m2 + b.m2 + delta * delta * (na * nb / n),
        min: a.min.min(b.min),
        max: a.max.max(b.max),
    }
}

#[cfg(test)]
mod tests {
    use super::moments;
    use crate::cancel::CancelToken;
    use crate::engine::context::{CHUNK, Ctx};

    fn run(values: &[f64]) -> super::Moments {
        let cancel = CancelToken::new();
        let ctx = Ctx::new(&cancel, &|_, _| {}, values.len() as u64);
        moments(&ctx, values).unwrap()
    }

    #[test]
    fn textbook_dataset() {
        let m = run(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
        assert_eq!(m.count, 8);
        assert_eq!(m.sum, 40.0);
        assert_eq!(m.mean, 5.0);
        assert_eq!(m.population_variance(), 4.0);
        assert_eq!(m.sample_variance(), Some(32.0 / 7.0));
        assert_eq!((m.min, m.max), (2.0, 9.0));
    }

    #[test]
    fn large_offset_does_not_cancel() {
        // The naive E[x²] - E[x]² formula returns garbage here.
        let values: Vec<f64> = [4.0, 7.0, 13.0, 16.0].iter().map(|x| 1e9 + x).collect();
        let m = run(&values);
        assert_eq!(m.mean, 1e9 + 10.0);
        assert_eq!(m.sample_variance(), Some(30.0));
        assert_eq!(m.population_variance(), 22.5);
    }

    #[test]
    fn chunk_merging_is_exact_on_integers() {
        let n = 3 * CHUNK + 12_345;
        let values: Vec<f64> = (0..n).map(|i| (i % 1000) as f64).collect();
        let m = run(&values);
        let exact_sum: u64 = (0..n as u64).map(|i| i % 1000).sum();
        assert_eq!(m.sum, exact_sum as f64);
        let mean = exact_sum as f64 / n as f64;
        let m2: f64 = values.iter().map(|x| (x - mean) * (x - mean)).sum();
        assert!((m.m2 - m2).abs() <= 1e-9 * m2, "{} vs {m2}", m.m2);
        assert_eq!((m.min, m.max), (0.0, 999.0));
    }

    #[test]
    fn constant_column_has_zero_variance() {
        let m = run(&[0.1; 3]);
        assert_eq!(m.mean, 0.1);
        assert_eq!(m.m2, 0.0);
        assert_eq!(run(&[5.0]).sample_variance(), None);
    }
}
