//! The result of an analysis, serialisable to JSON with a matching JSON Schema.
//!
//! Fields of operations that were not requested are omitted. Every number is finite;
//! statistics that are undefined for the data (a sample variance of one value, a correlation
//! with a constant column) are `null`.

use schemars::JsonSchema;
use serde::Serialize;

/// Everything an analysis computed.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct AnalysisReport {
    /// Number of rows in the dataset.
    pub rows: u64,
    /// Per-column results, one entry per analysed column in request order.
    pub columns: Vec<ColumnReport>,
    /// Pearson correlation matrix, when requested.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation: Option<CorrelationReport>,
    /// Linear regression, when requested.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub regression: Option<RegressionReport>,
}

/// Results for one column.
#[derive(Debug, Clone, Default, PartialEq, Serialize, JsonSchema)]
pub struct ColumnReport {
    /// Column name.
    pub name: String,
    /// Number of values.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// Sum of the values.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sum: Option<f64>,
    /// Arithmetic mean.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean: Option<f64>,
    /// Median.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub median: Option<f64>,
    /// Variance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variance: Option<Dispersion>,
    /// Standard deviation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub std_dev: Option<Dispersion>,
    /// Smallest value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Largest value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Requested percentiles, in request order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percentiles: Option<Vec<PercentileValue>>,
    /// Histogram.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub histogram: Option<Histogram>,
    /// Outliers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outliers: Option<OutlierReport>,
    /// Moving average.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moving_average: Option<MovingAverageReport>,
}

/// A variance or standard deviation, in both conventions.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, JsonSchema)]
pub struct Dispersion {
    /// Sample statistic: sum of squared deviations divided by n - 1 (numpy `ddof=1`, the
    /// usual estimate from a sample). `null` for a single value.
    pub sample: Option<f64>,
    /// Population statistic: divided by n (numpy's default `ddof=0`).
    pub population: f64,
}

/// One percentile.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, JsonSchema)]
pub struct PercentileValue {
    /// Percentile, 0 to 100.
    pub p: f64,
    /// Its value, linearly interpolated between order statistics.
    pub value: f64,
}

/// Equal-width histogram.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Histogram {
    /// Bin edges, one more than there are bins; bin `i` covers `[edges[i], edges[i+1])`, the
    /// last bin also its right edge.
    pub edges: Vec<f64>,
    /// Values per bin.
    pub counts: Vec<u64>,
    /// Values below the first edge (only with an explicit range).
    pub below_range: u64,
    /// Values above the last edge (only with an explicit range).
    pub above_range: u64,
}

/// Outliers found by the requested methods.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct OutlierReport {
    /// Tukey's fences, when requested.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iqr: Option<IqrOutliers>,
    /// Z-score, when requested.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub z_score: Option<ZScoreOutliers>,
}

/// Outliers outside Tukey's fences.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct IqrOutliers {
    /// Fence multiplier.
    pub k: f64,
    /// First quartile (25th percentile).
    pub q1: f64,
    /// Third quartile (75th percentile).
    pub q3: f64,
    /// Interquartile range, `q3 - q1`.
    pub iqr: f64,
    /// `q1 - k·iqr`; values strictly below are outliers.
    pub lower_fence: f64,
    /// `q3 + k·iqr`; values strictly above are outliers.
    pub upper_fence: f64,
    /// Number of outliers.
    pub count: u64,
    /// The first outliers in row order, at most `max_examples`.
    pub examples: Vec<OutlierPoint>,
    /// Whether `examples` lists fewer outliers than `count`.
    pub truncated: bool,
}

/// Outliers by z-score.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ZScoreOutliers {
    /// Threshold on `|z|`; values strictly above are outliers.
    pub threshold: f64,
    /// Mean used for the z-scores.
    pub mean: f64,
    /// Population standard deviation used for the z-scores. When it is 0 there are no
    /// outliers.
    pub std_dev: f64,
    /// Number of outliers.
    pub count: u64,
    /// The first outliers in row order, at most `max_examples`.
    pub examples: Vec<OutlierPoint>,
    /// Whether `examples` lists fewer outliers than `count`.
    pub truncated: bool,
}

/// One outlying value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, JsonSchema)]
pub struct OutlierPoint {
    /// 0-based row index.
    pub index: u64,
    /// The value.
    pub value: f64,
}

/// Simple moving average.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct MovingAverageReport {
    /// Values per average.
    pub window: u64,
    /// Length of the full series, `rows - window + 1`.
    pub total_points: u64,
    /// The series from its start: `values[i]` is the mean of 0-based rows `i` to
    /// `i + window - 1`.
    pub values: Vec<f64>,
    /// Whether `values` stops before `total_points`.
    pub truncated: bool,
}

/// Pearson correlation matrix.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct CorrelationReport {
    /// Always `"pearson"`.
    pub method: &'static str,
    /// Row and column labels of the matrix.
    pub columns: Vec<String>,
    /// Symmetric matrix of coefficients in `[-1, 1]`; `null` where a column is constant.
    pub matrix: Vec<Vec<Option<f64>>>,
}

/// Ordinary least-squares fit of `y = intercept + slope·x`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct RegressionReport {
    /// Independent variable.
    pub x: String,
    /// Dependent variable.
    pub y: String,
    /// Number of points.
    pub n: u64,
    /// Slope.
    pub slope: f64,
    /// Intercept.
    pub intercept: f64,
    /// Coefficient of determination; `null` when `y` is constant.
    pub r_squared: Option<f64>,
    /// Standard error of the slope; `null` with fewer than 3 points.
    pub slope_std_error: Option<f64>,
    /// Standard error of the intercept; `null` with fewer than 3 points.
    pub intercept_std_error: Option<f64>,
    /// Residual standard error, `sqrt(SSE / (n - 2))`; `null` with fewer than 3 points.
    pub residual_std_error: Option<f64>,
}
