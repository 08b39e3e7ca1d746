//! Outlier counting for Tukey's fences and z-scores in one parallel pass, keeping the first
//! few outliers of each kind in row order.

use super::context::Ctx;
use crate::error::AnalysisError;
use crate::report::OutlierPoint;

/// A value is an outlier when it falls outside `[lower, upper]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Fences {
    pub(crate) lower: f64,
    pub(crate) upper: f64,
}

/// A value is an outlier when `|x - mean| / std_dev > threshold`; never when `std_dev` is 0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ZRule {
    pub(crate) mean: f64,
    pub(crate) std_dev: f64,
    pub(crate) threshold: f64,
}

impl ZRule {
    #[inline]
    fn is_outlier(&self, x: f64) -> bool {
        self.std_dev > 0.0 && ((x - self.mean) / self.std_dev).abs() > self.threshold
    }
}

/// Outliers found by one rule.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Found {
    pub(crate) count: u64,
    pub(crate) examples: Vec<OutlierPoint>,
}

impl Found {
    fn record(&mut self, index: usize, value: f64, keep: usize) {
        self.count += 1;
        if self.examples.len() < keep {
            self.examples.push(OutlierPoint {
                index: index as u64,
                value,
            });
        }
    }

    fn merge(&mut self, other: Found, keep: usize) {
        self.count += other.count;
        let room = keep.saturating_sub(self.examples.len());
        self.examples.extend(other.examples.into_iter().take(room));
    }
}

/// Applies the given rules to every value; returns what each rule found.
pub(crate) fn find(
    ctx: &Ctx<'_>,
    values: &[f64],
    fences: Option<Fences>,
    z: Option<ZRule>,
    keep: usize,
) -> Result<(Found, Found), AnalysisError> {
    let partials = ctx.map_chunks(values.len(), 1, |range| {
        let mut by_fences = Found::default();
        let mut by_z = Found::default();
        let start = range.start;
        for (offset, &x) in values[range].iter().enumerate() {
            if fences.is_some_and(|f| x < f.lower || x > f.upper) {
                by_fences.record(start + offset, x, keep);
            }
            if z.is_some_and(|z| z.is_outlier(x)) {
                by_z.record(start + offset, x, keep);
            }
        }
        (by_fences, by_z)
    })?;
    let mut by_fences = Found::default();
    let mut by_z = Found::default();
    for (f, z) in partials {
        by_fences.merge(f, keep);
        by_z.merge(z, keep);
    }
    Ok((by_fences, by_z))
}

#[cfg(test)]
mod tests {
    use super::{Fences, ZRule, find};
    use crate::cancel::CancelToken;
    use crate::engine::context::{CHUNK, Ctx};

    #[test]
    fn counts_all_and_keeps_the_first_in_row_order() {
        let n = 2 * CHUNK + 10;
        let mut values = vec![0.0; n];
        let planted = [3, CHUNK - 1, CHUNK + 5, 2 * CHUNK + 9];
        for (i, &at) in planted.iter().enumerate() {
            values[at] = 100.0 + i as f64;
        }
        values[7] = -50.0;
        let cancel = CancelToken::new();
        let ctx = Ctx::new(&cancel, &|_, _| {}, n as u64);
        let fences = Fences {
            lower: -10.0,
            upper: 10.0,
        };
        let z = ZRule {
            mean: 0.0,
            std_dev: 1.0,
            threshold: 60.0,
        };
        let (by_fences, by_z) = find(&ctx, &values, Some(fences), Some(z), 3).unwrap();
        assert_eq!(by_fences.count, 5);
        let indices: Vec<u64> = by_fences.examples.iter().map(|p| p.index).collect();
        assert_eq!(indices, [3, 7, (CHUNK - 1) as u64]);
        assert_eq!(by_z.count, 4);
        assert_eq!(by_z.examples[0].value, 100.0);
    }

    #[test]
    fn zero_spread_has_no_z_outliers() {
        let rule = ZRule {
            mean: 1.0,
            std_dev: 0.0,
            threshold: 3.0,
        };
        assert!(!rule.is_outlier(1.0));
        assert!(!rule.is_outlier(5.0));
    }
}
