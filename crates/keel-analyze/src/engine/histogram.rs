//! Equal-width histograms with numpy's edges and bin assignment, so counts agree with
//! `numpy.histogram` exactly, including values that fall on an edge.

use super::context::Ctx;
use super::plan::HistogramSpec;
use crate::error::AnalysisError;
use crate::report::Histogram;

/// Computes the histogram of column `name`, whose extremes are `min` and `max`.
///
/// # Errors
/// [`AnalysisError::Overflow`] when the range is too wide for its width to be a finite
/// number; [`AnalysisError::Cancelled`].
pub(crate) fn histogram(
    ctx: &Ctx<'_>,
    name: &str,
    values: &[f64],
    spec: &HistogramSpec,
    min: f64,
    max: f64,
) -> Result<Histogram, AnalysisError> {
    let (mut low, mut high) = spec.range.unwrap_or((min, max));
    if low == high {
        low -= 0.5;
        high += 0.5;
    }
    let Some(edges) = Edges::new(low, high, spec.bins) else {
        return Err(AnalysisError::Overflow {
            column: name.to_owned(),
            statistic: "histogram range",
        });
    };
    let partials = ctx.map_chunks(values.len(), 1, |range| edges.count(&values[range]))?;
    let mut counts = vec![0u64; spec.bins + 2];
    for partial in partials {
        for (total, c) in counts.iter_mut().zip(partial) {
            *total += c;
        }
    }
    let above_range = counts.pop().unwrap_or_default();
    let below_range = counts.pop().unwrap_or_default();
    Ok(Histogram {
        edges: edges.edges,
        counts,
        below_range,
        above_range,
    })
}

struct Edges {
    edges: Vec<f64>,
    low: f64,
    high: f64,
    /// `bins / (high - low)`.
    scale: f64,
    bins: usize,
}

impl Edges {
    /// numpy's `linspace(low, high, bins + 1)`.
    fn new(low: f64, high: f64, bins: usize) -> Option<Self> {
        let width = high - low;
        if !width.is_finite() {
            return None;
        }
        let step = width / bins as f64;
        let mut edges: Vec<f64> = if step == 0.0 {
            (0..=bins)
                .map(|i| i as f64 / bins as f64 * width + low)
                .collect()
        } else {
            (0..=bins).map(|i| i as f64 * step + low).collect()
        };
        edges[bins] = high;
        Some(Self {
            edges,
            low,
            high,
            scale: bins as f64 / width,
            bins,
        })
    }

    /// Per-bin counts followed by the counts below and above the range.
    fn count(&self, values: &[f64]) -> Vec<u64> {
        let mut counts = vec![0u64; self.bins + 2];
        let last = self.bins - 1;
        for &x in values {
            if x < self.low {
                counts[self.bins] += 1;
                continue;
            }
            if x > self.high {
                counts[self.bins + 1] += 1;
                continue;
            }
            // Estimate the bin, then correct against the edges themselves, as numpy does: bin
            // i holds edges[i] <= x < edges[i + 1], the last bin also its right edge. numpy
            // estimates with a division and corrects by one bin; the estimate here is a
            // multiplication, and correcting until the edges agree reaches the same bin from
            // any estimate (one step at most unless the range is subnormally narrow).
            let mut index = (((x - self.low) * self.scale) as usize).min(last);
            while index > 0 && x < self.edges[index] {
                index -= 1;
            }
            while index < last && x >= self.edges[index + 1] {
                index += 1;
            }
            counts[index] += 1;
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::histogram;
    use crate::cancel::CancelToken;
    use crate::engine::context::{CHUNK, Ctx};
    use crate::engine::plan::HistogramSpec;
    use crate::error::AnalysisError;
    use crate::report::Histogram;

    fn run(
        values: &[f64],
        bins: usize,
        range: Option<(f64, f64)>,
    ) -> Result<Histogram, AnalysisError> {
        let cancel = CancelToken::new();
        let ctx = Ctx::new(&cancel, &|_, _| {}, values.len() as u64);
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        histogram(&ctx, "x", values, &HistogramSpec { bins, range }, min, max)
    }

    #[test]
    fn matches_numpy_on_edges() {
        // numpy.histogram([i / 10 for i in range(11)], bins=10) gives these counts: edges are
        // i * 0.1, so 0.3 falls below the edge 0.30000000000000004 and lands in bin 2.
        let values: Vec<f64> = (0..=10).map(|i| f64::from(i) / 10.0).collect();
        let h = run(&values, 10, None).unwrap();
        assert_eq!(h.counts, [1, 1, 2, 0, 1, 2, 1, 0, 1, 2]);
        assert_eq!(h.edges.len(), 11);
        assert_eq!(h.edges[3], 0.30000000000000004);
        assert_eq!((h.below_range, h.above_range), (0, 0));
    }

    #[test]
    fn explicit_range_counts_values_outside() {
        let h = run(
            &[-5.0, 0.0, 1.0, 2.0, 2.5, 3.0, 4.0, 9.0],
            3,
            Some((0.0, 3.0)),
        )
        .unwrap();
        assert_eq!(h.edges, [0.0, 1.0, 2.0, 3.0]);
        assert_eq!(h.counts, [1, 1, 3]);
        assert_eq!((h.below_range, h.above_range), (1, 2));
    }

    #[test]
    fn constant_column_is_widened_like_numpy() {
        let h = run(&[4.0; 3], 2, None).unwrap();
        assert_eq!(h.edges, [3.5, 4.0, 4.5]);
        assert_eq!(h.counts, [0, 3]);
    }

    #[test]
    fn many_chunks_add_up() {
        let n = 3 * CHUNK + 5;
        let values: Vec<f64> = (0..n).map(|i| (i % 100) as f64).collect();
        let h = run(&values, 4, None).unwrap();
        assert_eq!(h.counts.iter().sum::<u64>(), n as u64);
        // Bins of width 24.75: [0, 24.75) holds 0..=24, and so on.
        let per_value =
            |lo: usize, hi: usize| (0..n).filter(|i| (lo..=hi).contains(&(i % 100))).count() as u64;
        assert_eq!(
            h.counts,
            [
                per_value(0, 24),
                per_value(25, 49),
                per_value(50, 74),
                per_value(75, 99)
            ]
        );
    }

    #[test]
    fn values_on_and_beside_every_edge_land_where_the_edges_say() {
        for (low, high, bins) in [
            (0.0, 1.0, 10),
            (-3.7, 12.9, 7),
            (1e-3, 2e-3, 13),
            (5.0, 5.5, 1000),
            (0.0, 1e-310, 4),
        ] {
            let probe = run(&[low, high], bins, Some((low, high))).unwrap();
            let mut values = Vec::new();
            for &edge in &probe.edges {
                values.extend([edge.next_down(), edge, edge.next_up()]);
            }
            let h = run(&values, bins, Some((low, high))).unwrap();
            let mut expected = vec![0u64; bins];
            let (mut below, mut above) = (0, 0);
            for &x in &values {
                if x < low {
                    below += 1;
                } else if x > high {
                    above += 1;
                } else {
                    let bin = (0..bins)
                        .find(|&i| x < probe.edges[i + 1])
                        .unwrap_or(bins - 1);
                    expected[bin] += 1;
                }
            }
            assert_eq!(h.counts, expected, "[{low}, {high}] in {bins} bins");
            assert_eq!((h.below_range, h.above_range), (below, above));
        }
    }

    #[test]
    fn overflowing_width_is_reported() {
        assert_eq!(
            run(&[f64::MIN, f64::MAX], 2, None),
            Err(AnalysisError::Overflow {
                column: "x".into(),
                statistic: "histogram range"
            })
        );
    }
}
