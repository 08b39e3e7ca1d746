//! Simple moving average. Only the returned points are computed; each chunk of points starts
//! from a fresh pairwise window sum and slides with compensated updates, so rounding drift
//! is bounded by the chunk, not by the series.

use super::context::Ctx;
use super::plan::MovingAverageSpec;
use super::sum::{Compensated, pairwise_by};
use crate::error::AnalysisError;
use crate::report::MovingAverageReport;

/// Computes the first `min(rows - window + 1, max_points)` points of the moving average.
pub(crate) fn moving_average(
    ctx: &Ctx<'_>,
    values: &[f64],
    spec: &MovingAverageSpec,
) -> Result<MovingAverageReport, AnalysisError> {
    let window = spec.window;
    let total_points = values.len() - window + 1;
    let points = total_points.min(spec.max_points);
    let width = window as f64;
    let parts = ctx.map_chunks(points, 1, |range| {
        let mut sum = Compensated::default();
        sum.add(pairwise_by(
            &values[range.start..range.start + window],
            |x| x,
        ));
        let mut out = Vec::with_capacity(range.len());
        out.push(sum.total() / width);
        for i in range.start + 1..range.end {
            sum.add(values[i + window - 1]);
            sum.add(-values[i - 1]);
            out.push(sum.total() / width);
        }
        out
    })?;
    Ok(MovingAverageReport {
        window: window as u64,
        total_points: total_points as u64,
        values: parts.concat(),
        truncated: points < total_points,
    })
}

#[cfg(test)]
mod tests {
    use super::moving_average;
    use crate::cancel::CancelToken;
    use crate::engine::context::{CHUNK, Ctx};
    use crate::engine::plan::MovingAverageSpec;

    fn run(values: &[f64], window: usize, max_points: usize) -> crate::report::MovingAverageReport {
        let cancel = CancelToken::new();
        let ctx = Ctx::new(&cancel, &|_, _| {}, 0);
        moving_average(&ctx, values, &MovingAverageSpec { window, max_points }).unwrap()
    }

    #[test]
    fn small_series() {
        let report = run(&[1.0, 2.0, 3.0, 4.0, 5.0], 2, 100);
        assert_eq!(report.values, [1.5, 2.5, 3.5, 4.5]);
        assert_eq!(report.total_points, 4);
        assert!(!report.truncated);
        let whole = run(&[1.0, 2.0, 6.0], 3, 100);
        assert_eq!(whole.values, [3.0]);
        let identity = run(&[4.0, -1.0], 1, 100);
        assert_eq!(identity.values, [4.0, -1.0]);
    }

    #[test]
    fn truncation_keeps_the_first_points() {
        let values: Vec<f64> = (0..100).map(f64::from).collect();
        let report = run(&values, 10, 5);
        assert_eq!(report.values, [4.5, 5.5, 6.5, 7.5, 8.5]);
        assert_eq!(report.total_points, 91);
        assert!(report.truncated);
    }

    #[test]
    fn long_series_across_chunks_matches_direct_means() {
        let n = 2 * CHUNK + 100;
        let values: Vec<f64> = (0..n)
            .map(|i| ((i * 37) % 101) as f64 * 0.1 + 1e6)
            .collect();
        let window = 17;
        let report = run(&values, window, n);
        assert_eq!(report.values.len(), n - window + 1);
        for (i, &got) in report.values.iter().enumerate() {
            let direct: f64 = values[i..i + window].iter().sum::<f64>() / window as f64;
            assert!((got - direct).abs() <= 1e-9, "point {i}: {got} vs {direct}");
        }
    }
}
