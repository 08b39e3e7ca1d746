//! Ordinary least squares of y on x in three parallel passes: means and extremes, centred
//! sums of squares and products, then residuals computed directly (not as
//! `Syy - slope·Sxy`, which cancels badly for good fits).

use super::context::Ctx;
use super::sum::{Compensated, min_max, pairwise_by, pairwise2_by};
use crate::error::{AnalysisError, RequestError};
use crate::report::RegressionReport;

/// Fits `y = intercept + slope·x` for the named columns.
pub(crate) fn fit(
    ctx: &Ctx<'_>,
    (x_name, x): (&str, &[f64]),
    (y_name, y): (&str, &[f64]),
) -> Result<RegressionReport, AnalysisError> {
    let n = x.len();
    let count = n as f64;

    let firsts = ctx.map_chunks(n, 2, |r| {
        let (x, y) = (&x[r.clone()], &y[r]);
        (
            pairwise_by(x, |v| v),
            pairwise_by(y, |v| v),
            min_max(x),
            min_max(y),
        )
    })?;
    let (mut sum_x, mut sum_y) = (Compensated::default(), Compensated::default());
    let (mut x_constant, mut y_constant) = (true, true);
    let (x0, y0) = (x[0], y[0]);
    for (sx, sy, (x_lo, x_hi), (y_lo, y_hi)) in firsts {
        sum_x.add(sx);
        sum_y.add(sy);
        x_constant &= x_lo == x0 && x_hi == x0;
        y_constant &= y_lo == y0 && y_hi == y0;
    }
    if x_constant {
        return Err(RequestError::ConstantRegressor {
            x: x_name.to_owned(),
        }
        .into());
    }
    let mean_x = sum_x.total() / count;
    let mean_y = if y_constant {
        y0
    } else {
        sum_y.total() / count
    };

    let seconds = ctx.map_chunks(n, 2, |r| {
        let (x, y) = (&x[r.clone()], &y[r]);
        (
            pairwise_by(x, |v| (v - mean_x) * (v - mean_x)),
            pairwise2_by(x, y, |a, b| (a - mean_x) * (b - mean_y)),
            pairwise_by(y, |v| (v - mean_y) * (v - mean_y)),
        )
    })?;
    let (mut sxx, mut sxy, mut syy) = Default::default();
    for (xx, xy, yy) in seconds {
        Compensated::add(&mut sxx, xx);
        Compensated::add(&mut sxy, xy);
        Compensated::add(&mut syy, yy);
    }
    let (sxx, sxy, syy): (f64, f64, f64) = (sxx.total(), sxy.total(), syy.total());
    let slope = sxy / sxx;
    let intercept = mean_y - slope * mean_x;

    let thirds = ctx.map_chunks(n, 2, |r| {
        pairwise2_by(&x[r.clone()], &y[r], |a, b| {
            let residual = b - (intercept + slope * a);
            residual * residual
        })
    })?;
    let mut sse = Compensated::default();
    for part in thirds {
        sse.add(part);
    }
    let sse = sse.total();

    let r_squared = (!y_constant).then(|| (1.0 - sse / syy).clamp(0.0, 1.0));
    let (slope_se, intercept_se, residual_se) = if n > 2 {
        let s2 = sse / (count - 2.0);
        (
            Some((s2 / sxx).sqrt()),
            Some((s2 * (1.0 / count + mean_x * mean_x / sxx)).sqrt()),
            Some(s2.sqrt()),
        )
    } else {
        (None, None, None)
    };
    let report = RegressionReport {
        x: x_name.to_owned(),
        y: y_name.to_owned(),
        n: n as u64,
        slope,
        intercept,
        r_squared,
        slope_std_error: slope_se,
        intercept_std_error: intercept_se,
        residual_std_error: residual_se,
    };
    let finite = [slope, intercept, sse]
        .into_iter()
        .chain(slope_se)
        .chain(intercept_se)
        .all(f64::is_finite);
    if finite {
        Ok(report)
    } else {
        Err(AnalysisError::Overflow {
            column: y_name.to_owned(),
            statistic: "regression",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::fit;
    use crate::cancel::CancelToken;
    use crate::engine::context::Ctx;
    use crate::error::{AnalysisError, RequestError};
    use crate::report::RegressionReport;

    fn run(x: &[f64], y: &[f64]) -> Result<RegressionReport, AnalysisError> {
        let cancel = CancelToken::new();
        let ctx = Ctx::new(&cancel, &|_, _| {}, 0);
        fit(&ctx, ("x", x), ("y", y))
    }

    #[test]
    fn exact_line() {
        let x: Vec<f64> = (0..50).map(f64::from).collect();
        let y: Vec<f64> = x.iter().map(|v| 3.0 * v - 7.0).collect();
        let fit = run(&x, &y).unwrap();
        assert_eq!(fit.slope, 3.0);
        assert_eq!(fit.intercept, -7.0);
        assert_eq!(fit.r_squared, Some(1.0));
        assert_eq!(fit.slope_std_error, Some(0.0));
        assert_eq!(fit.residual_std_error, Some(0.0));
        assert_eq!(fit.n, 50);
    }

    #[test]
    fn matches_scipy_linregress() {
        // scipy.stats.linregress([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]): slope 0.8, intercept 0.6,
        // rvalue 0.8, stderr 0.34641016151377546, intercept_stderr 1.1489125293076057.
        let fit = run(&[1.0, 2.0, 3.0, 4.0, 5.0], &[2.0, 1.0, 4.0, 3.0, 5.0]).unwrap();
        let close = |a: f64, b: f64| (a - b).abs() < 1e-14;
        assert!(close(fit.slope, 0.8));
        assert!(close(fit.intercept, 0.6));
        assert!(close(fit.r_squared.unwrap(), 0.64));
        assert!(close(fit.slope_std_error.unwrap(), 0.34641016151377546));
        assert!(close(fit.intercept_std_error.unwrap(), 1.1489125293076057));
        assert!(close(fit.residual_std_error.unwrap(), 1.0954451150103321));
    }

    #[test]
    fn degenerate_inputs() {
        assert_eq!(
            run(&[2.0, 2.0, 2.0], &[1.0, 2.0, 3.0]),
            Err(AnalysisError::InvalidRequest {
                reason: RequestError::ConstantRegressor { x: "x".into() }
            })
        );
        let flat = run(&[1.0, 2.0, 3.0], &[0.1, 0.1, 0.1]).unwrap();
        assert_eq!(
            (flat.slope, flat.intercept, flat.r_squared),
            (0.0, 0.1, None)
        );
        let two = run(&[0.0, 1.0], &[1.0, 3.0]).unwrap();
        assert_eq!((two.slope, two.intercept), (2.0, 1.0));
        assert_eq!(two.slope_std_error, None);
    }
}
