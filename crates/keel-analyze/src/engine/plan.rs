//! A request checked against a dataset and resolved into what to compute.

use super::quantile;
use crate::dataset::Dataset;
use crate::error::RequestError;
use crate::request::{
    AnalysisRequest, MAX_BINS, MAX_EXAMPLES, MAX_PERCENTILES, MAX_POINTS, Operation, OutlierMethod,
};

/// Which single-number statistics to report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Stats {
    pub(crate) count: bool,
    pub(crate) sum: bool,
    pub(crate) mean: bool,
    pub(crate) median: bool,
    pub(crate) variance: bool,
    pub(crate) std_dev: bool,
    pub(crate) min: bool,
    pub(crate) max: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HistogramSpec {
    pub(crate) bins: usize,
    pub(crate) range: Option<(f64, f64)>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OutlierSpec {
    pub(crate) iqr_k: Option<f64>,
    pub(crate) z_threshold: Option<f64>,
    pub(crate) max_examples: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MovingAverageSpec {
    pub(crate) window: usize,
    pub(crate) max_points: usize,
}

/// A validated request.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Plan {
    /// Dataset indices of the analysed columns, in report order.
    pub(crate) columns: Vec<usize>,
    pub(crate) stats: Stats,
    pub(crate) percentiles: Option<Vec<f64>>,
    pub(crate) histogram: Option<HistogramSpec>,
    pub(crate) outliers: Option<OutlierSpec>,
    pub(crate) moving_average: Option<MovingAverageSpec>,
    pub(crate) correlation: bool,
    /// Dataset indices of x and y.
    pub(crate) regression: Option<(usize, usize)>,
}

impl Plan {
    pub(crate) fn new(request: &AnalysisRequest, dataset: &Dataset) -> Result<Self, RequestError> {
        let rows = dataset.rows();
        let mut plan = Self {
            columns: select_columns(request.columns.as_deref(), dataset)?,
            ..Self::default()
        };
        let summary = [Operation::Summary];
        let operations = if request.operations.is_empty() {
            &summary[..]
        } else {
            &request.operations[..]
        };
        for op in operations {
            plan.add(op, dataset)?;
        }
        if plan.correlation {
            if plan.columns.len() < 2 {
                return Err(RequestError::NotEnoughColumns {
                    op: "correlation",
                    needed: 2,
                    found: plan.columns.len(),
                });
            }
            at_least_rows("correlation", 2, rows)?;
        }
        Ok(plan)
    }

    fn add(&mut self, op: &Operation, dataset: &Dataset) -> Result<(), RequestError> {
        let rows = dataset.rows();
        let stats = &mut self.stats;
        match op {
            Operation::Summary => {
                *stats = Stats {
                    count: true,
                    sum: true,
                    mean: true,
                    median: true,
                    variance: true,
                    std_dev: true,
                    min: true,
                    max: true,
                }
            }
            Operation::Count => stats.count = true,
            Operation::Sum => stats.sum = true,
            Operation::Mean => stats.mean = true,
            Operation::Median => stats.median = true,
            Operation::Variance => stats.variance = true,
            Operation::StdDev => stats.std_dev = true,
            Operation::Min => stats.min = true,
            Operation::Max => stats.max = true,
            Operation::Correlation => self.correlation = true,
            Operation::Percentiles { p } => {
                once(&self.percentiles, op)?;
                if p.is_empty() || p.len() > MAX_PERCENTILES {
                    return Err(invalid(
                        op,
                        "p",
                        format!("a list of {}", p.len()),
                        "1 to 1000 percentiles",
                    ));
                }
                if let Some(bad) = p.iter().find(|p| !(0.0..=100.0).contains(*p)) {
                    return Err(invalid(op, "p", bad, "a number from 0 to 100"));
                }
                self.percentiles = Some(p.clone());
            }
            Operation::Histogram { bins, range } => {
                once(&self.histogram, op)?;
                if !(1..=MAX_BINS).contains(bins) {
                    return Err(invalid(op, "bins", bins, "an integer from 1 to 10000"));
                }
                if let Some([low, high]) = *range
                    && !(low.is_finite() && high.is_finite() && low <= high)
                {
                    return Err(invalid(
                        op,
                        "range",
                        format!("[{low}, {high}]"),
                        "[low, high] with finite low <= high",
                    ));
                }
                self.histogram = Some(HistogramSpec {
                    bins: *bins,
                    range: range.map(|[low, high]| (low, high)),
                });
            }
            Operation::Outliers {
                method,
                k,
                z_threshold,
                max_examples,
            } => {
                once(&self.outliers, op)?;
                if !(k.is_finite() && *k >= 0.0) {
                    return Err(invalid(op, "k", k, "a finite number >= 0"));
                }
                if !(z_threshold.is_finite() && *z_threshold > 0.0) {
                    return Err(invalid(
                        op,
                        "z_threshold",
                        z_threshold,
                        "a finite number > 0",
                    ));
                }
                if *max_examples > MAX_EXAMPLES {
                    return Err(invalid(
                        op,
                        "max_examples",
                        max_examples,
                        "an integer from 0 to 10000",
                    ));
                }
                let iqr = matches!(method, OutlierMethod::Iqr | OutlierMethod::Both);
                let z = matches!(method, OutlierMethod::ZScore | OutlierMethod::Both);
                self.outliers = Some(OutlierSpec {
                    iqr_k: iqr.then_some(*k),
                    z_threshold: z.then_some(*z_threshold),
                    max_examples: *max_examples,
                });
            }
            Operation::MovingAverage { window, max_points } => {
                once(&self.moving_average, op)?;
                if *window == 0 || *window > rows {
                    return Err(invalid(
                        op,
                        "window",
                        window,
                        "an integer from 1 to the number of rows",
                    ));
                }
                if !(1..=MAX_POINTS).contains(max_points) {
                    return Err(invalid(
                        op,
                        "max_points",
                        max_points,
                        "an integer from 1 to 100000",
                    ));
                }
                self.moving_average = Some(MovingAverageSpec {
                    window: *window,
                    max_points: *max_points,
                });
            }
            Operation::Regression { x, y } => {
                once(&self.regression, op)?;
                let x = column_index(dataset, x)?;
                let y = column_index(dataset, y)?;
                at_least_rows("regression", 2, rows)?;
                self.regression = Some((x, y));
            }
        }
        Ok(())
    }

    /// Whether the per-column pass computing count, sum, mean, variance, min and max runs.
    pub(crate) fn needs_moments(&self) -> bool {
        self.stats != Stats::default()
            || self.percentiles.is_some()
            || self.histogram.is_some()
            || self.outliers.is_some()
            || self.correlation
    }

    /// Whether order statistics are needed.
    pub(crate) fn needs_quantiles(&self) -> bool {
        self.stats.median
            || self.percentiles.is_some()
            || self.outliers.as_ref().is_some_and(|o| o.iqr_k.is_some())
    }

    /// Moving-average points computed per column.
    pub(crate) fn moving_average_points(&self, rows: usize) -> usize {
        self.moving_average
            .as_ref()
            .map_or(0, |ma| (rows - ma.window + 1).min(ma.max_points))
    }

    /// Work units the whole run advances; must match what the passes record.
    pub(crate) fn total_units(&self, rows: usize) -> u64 {
        let n = rows as u64;
        let mut per_column = 0;
        if self.needs_moments() {
            per_column += n;
        }
        if self.needs_quantiles() {
            per_column += quantile::units(rows);
        }
        if self.histogram.is_some() {
            per_column += n;
        }
        if self.outliers.is_some() {
            per_column += n;
        }
        per_column += self.moving_average_points(rows) as u64;
        let mut total = per_column * self.columns.len() as u64;
        if self.correlation {
            total += n * self.columns.len() as u64;
        }
        if self.regression.is_some() {
            total += 6 * n;
        }
        total
    }
}

fn select_columns(names: Option<&[String]>, dataset: &Dataset) -> Result<Vec<usize>, RequestError> {
    let Some(names) = names else {
        return Ok((0..dataset.column_count()).collect());
    };
    if names.is_empty() {
        return Err(RequestError::InvalidParameter {
            op: "request",
            name: "columns",
            value: "[]".to_owned(),
            expected: "at least one column name, or no `columns` field for all columns",
        });
    }
    let mut indices = Vec::with_capacity(names.len());
    for name in names {
        let index = column_index(dataset, name)?;
        if indices.contains(&index) {
            return Err(RequestError::DuplicateColumn { name: name.clone() });
        }
        indices.push(index);
    }
    Ok(indices)
}

fn column_index(dataset: &Dataset, name: &str) -> Result<usize, RequestError> {
    dataset
        .index_of(name)
        .ok_or_else(|| RequestError::UnknownColumn {
            name: name.to_owned(),
            available: dataset.column_names().map(str::to_owned).collect(),
        })
}

fn once<T>(slot: &Option<T>, op: &Operation) -> Result<(), RequestError> {
    match slot {
        Some(_) => Err(RequestError::DuplicateOperation { op: op.name() }),
        None => Ok(()),
    }
}

fn at_least_rows(op: &'static str, needed: usize, rows: usize) -> Result<(), RequestError> {
    if rows < needed {
        Err(RequestError::NotEnoughRows { op, needed, rows })
    } else {
        Ok(())
    }
}

fn invalid(
    op: &Operation,
    name: &'static str,
    value: impl ToString,
    expected: &'static str,
) -> RequestError {
    RequestError::InvalidParameter {
        op: op.name(),
        name,
        value: value.to_string(),
        expected,
    }
}
