//! The synchronous engine: validates a request against a dataset and runs its passes on the
//! current rayon pool.

mod column;
mod context;
mod correlation;
mod histogram;
mod moments;
mod moving_average;
mod outliers;
mod plan;
mod quantile;
mod regression;
mod sum;

#[cfg(test)]
mod tests;

use rayon::prelude::*;

use crate::cancel::CancelToken;
use crate::dataset::Dataset;
use crate::error::AnalysisError;
use crate::report::{AnalysisReport, CorrelationReport};
use crate::request::AnalysisRequest;

use context::Ctx;
use plan::Plan;

/// Runs `request` on `dataset` in the calling thread's rayon pool (the global pool outside
/// one); [`AnalysisPool`](crate::AnalysisPool) calls this on its own pool and is the
/// entry point for async callers.
///
/// `progress` receives `(done, total)` work units: `(0, total)` first, then about a hundred
/// non-decreasing updates, then `(total, total)` on success. It is called from worker
/// threads and should return quickly. `cancel` is checked before every chunk of at most
/// 65,536 rows.
///
/// # Errors
/// [`AnalysisError::InvalidRequest`] when the request does not fit the dataset (an unknown
/// column, an option out of range, a constant regressor), [`AnalysisError::Overflow`] when a
/// requested statistic exceeds the `f64` range, [`AnalysisError::Cancelled`].
pub fn analyze(
    dataset: &Dataset,
    request: &AnalysisRequest,
    progress: &(dyn Fn(f64, f64) + Sync),
    cancel: &CancelToken,
) -> Result<AnalysisReport, AnalysisError> {
    let plan = Plan::new(request, dataset)?;
    let rows = dataset.rows();
    let ctx = Ctx::new(cancel, progress, plan.total_units(rows));
    ctx.check()?;

    // Columns run in parallel with each other as well as chunk by chunk within each.
    let analysed = plan
        .columns
        .par_iter()
        .map(|&index| {
            column::analyze_column(
                &ctx,
                &plan,
                dataset.name_at(index),
                dataset.values_at(index),
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut columns = Vec::with_capacity(analysed.len());
    let mut series = Vec::new();
    for (&index, (report, moments)) in plan.columns.iter().zip(analysed) {
        columns.push(report);
        if let (true, Some(moments)) = (plan.correlation, moments) {
            series.push(correlation::Series {
                values: dataset.values_at(index),
                moments,
            });
        }
    }

    let correlation = if plan.correlation {
        Some(CorrelationReport {
            method: "pearson",
            columns: plan
                .columns
                .iter()
                .map(|&i| dataset.name_at(i).to_owned())
                .collect(),
            matrix: correlation::matrix(&ctx, &series)?,
        })
    } else {
        None
    };

    let regression = plan
        .regression
        .map(|(x, y)| {
            regression::fit(
                &ctx,
                (dataset.name_at(x), dataset.values_at(x)),
                (dataset.name_at(y), dataset.values_at(y)),
            )
        })
        .transpose()?;

    ctx.finish();
    Ok(AnalysisReport {
        rows: rows as u64,
        columns,
        correlation,
        regression,
    })
}
