//! Everything computed for one column: runs the passes its plan needs and fills its report.

use std::collections::BTreeSet;

use super::context::Ctx;
use super::histogram::histogram;
use super::moments::{Moments, moments};
use super::moving_average::moving_average;
use super::outliers::{self, Fences, ZRule};
use super::plan::Plan;
use super::quantile::{Interpolation, median_ranks, midpoint, order_statistics};
use crate::error::AnalysisError;
use crate::report::{
    ColumnReport, Dispersion, IqrOutliers, OutlierReport, PercentileValue, ZScoreOutliers,
};

/// Analyses one column; also returns its moments when they were computed.
pub(crate) fn analyze_column(
    ctx: &Ctx<'_>,
    plan: &Plan,
    name: &str,
    values: &[f64],
) -> Result<(ColumnReport, Option<Moments>), AnalysisError> {
    let finite = |statistic: &'static str, value: f64| {
        if value.is_finite() {
            Ok(value)
        } else {
            Err(AnalysisError::Overflow {
                column: name.to_owned(),
                statistic,
            })
        }
    };
    let mut report = ColumnReport {
        name: name.to_owned(),
        ..ColumnReport::default()
    };
    let stats = plan.stats;
    let moments = plan
        .needs_moments()
        .then(|| moments(ctx, values))
        .transpose()?;
    if let Some(m) = &moments {
        report.count = stats.count.then_some(m.count);
        report.sum = stats.sum.then(|| finite("sum", m.sum)).transpose()?;
        report.mean = stats.mean.then_some(m.mean);
        report.min = stats.min.then_some(m.min);
        report.max = stats.max.then_some(m.max);
        if stats.variance || stats.std_dev {
            let population = finite("variance", m.population_variance())?;
            let sample = m
                .sample_variance()
                .map(|v| finite("variance", v))
                .transpose()?;
            report.variance = stats.variance.then_some(Dispersion { sample, population });
            report.std_dev = stats.std_dev.then(|| Dispersion {
                sample: sample.map(f64::sqrt),
                population: population.sqrt(),
            });
        }
    }

    let quantiles = match &moments {
        Some(m) if plan.needs_quantiles() => Some(Quantiles::compute(ctx, plan, values, m)?),
        _ => None,
    };
    if let Some(q) = &quantiles {
        if stats.median {
            let (lower, upper) = median_ranks(values.len());
            report.median = Some(midpoint(q.at(lower), q.at(upper)));
        }
        if let Some(ps) = &plan.percentiles {
            report.percentiles = Some(
                ps.iter()
                    .map(|&p| {
                        let value = finite("percentile", q.percentile(p))?;
                        Ok(PercentileValue { p, value })
                    })
                    .collect::<Result<_, AnalysisError>>()?,
            );
        }
    }

    if let (Some(spec), Some(m)) = (&plan.histogram, &moments) {
        report.histogram = Some(histogram(ctx, name, values, spec, m.min, m.max)?);
    }

    if let (Some(spec), Some(m)) = (&plan.outliers, &moments) {
        let iqr = match (spec.iqr_k, &quantiles) {
            (Some(k), Some(q)) => {
                let (q1, q3) = (q.percentile(25.0), q.percentile(75.0));
                let iqr = finite("interquartile range", q3 - q1)?;
                let fences = Fences {
                    lower: finite("lower outlier fence", q1 - k * iqr)?,
                    upper: finite("upper outlier fence", q3 + k * iqr)?,
                };
                Some((k, q1, q3, iqr, fences))
            }
            _ => None,
        };
        let z = spec
            .z_threshold
            .map(|threshold| {
                Ok::<_, AnalysisError>(ZRule {
                    mean: m.mean,
                    std_dev: finite("standard deviation", m.population_variance().sqrt())?,
                    threshold,
                })
            })
            .transpose()?;
        let fences = iqr.map(|(.., fences)| fences);
        let (by_fences, by_z) = outliers::find(ctx, values, fences, z, spec.max_examples)?;
        report.outliers = Some(OutlierReport {
            iqr: iqr.map(|(k, q1, q3, iqr, fences)| IqrOutliers {
                k,
                q1,
                q3,
                iqr,
                lower_fence: fences.lower,
                upper_fence: fences.upper,
                count: by_fences.count,
                truncated: (by_fences.examples.len() as u64) < by_fences.count,
                examples: by_fences.examples,
            }),
            z_score: z.map(|z| ZScoreOutliers {
                threshold: z.threshold,
                mean: z.mean,
                std_dev: z.std_dev,
                count: by_z.count,
                truncated: (by_z.examples.len() as u64) < by_z.count,
                examples: by_z.examples,
            }),
        });
    }

    if let Some(spec) = &plan.moving_average {
        let series = moving_average(ctx, values, spec)?;
        if !series.values.iter().all(|v| v.is_finite()) {
            return Err(AnalysisError::Overflow {
                column: name.to_owned(),
                statistic: "moving average",
            });
        }
        report.moving_average = Some(series);
    }
    Ok((report, moments))
}

/// The order statistics a column's plan needs, looked up by rank.
struct Quantiles {
    len: usize,
    ranks: Vec<usize>,
    values: Vec<f64>,
}

impl Quantiles {
    fn compute(
        ctx: &Ctx<'_>,
        plan: &Plan,
        values: &[f64],
        m: &Moments,
    ) -> Result<Self, AnalysisError> {
        let len = values.len();
        let mut wanted = BTreeSet::new();
        if plan.stats.median {
            let (lower, upper) = median_ranks(len);
            wanted.extend([lower, upper]);
        }
        let mut ps: Vec<f64> = plan.percentiles.clone().unwrap_or_default();
        if plan.outliers.as_ref().is_some_and(|o| o.iqr_k.is_some()) {
            ps.extend([25.0, 75.0]);
        }
        for p in ps {
            let i = Interpolation::percentile(len, p);
            wanted.extend([i.lower, i.upper]);
        }
        let ranks: Vec<usize> = wanted.into_iter().collect();
        let values = order_statistics(ctx, values, m.min, m.max, &ranks)?;
        Ok(Self { len, ranks, values })
    }

    fn at(&self, rank: usize) -> f64 {
        let slot = self
            .ranks
            .binary_search(&rank)
            .expect("rank was requested when computing");
        self.values[slot]
    }

    fn percentile(&self, p: f64) -> f64 {
        let i = Interpolation::percentile(self.len, p);
        i.blend(self.at(i.lower), self.at(i.upper))
    }
}
