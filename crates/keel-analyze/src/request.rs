//! What to compute: a list of operations with their options, deserialisable from JSON.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Most histogram bins one request may ask for.
pub const MAX_BINS: usize = 10_000;
/// Most percentiles one request may ask for.
pub const MAX_PERCENTILES: usize = 1_000;
/// Most outlier examples one request may ask for, per method and column.
pub const MAX_EXAMPLES: usize = 10_000;
/// Most moving-average points one request may ask for, per column.
pub const MAX_POINTS: usize = 100_000;

/// The operations to run and the columns to run them on.
///
/// ```json
/// {"columns": ["price"],
///  "operations": [{"op": "summary"}, {"op": "percentiles", "p": [50, 90, 99]}]}
/// ```
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AnalysisRequest {
    /// Columns to analyse, in the order to report them. Default: every column. Regression
    /// names its own columns and may use any column of the dataset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub columns: Option<Vec<String>>,
    /// Operations to run. Default (empty or absent): `summary`.
    #[serde(default)]
    pub operations: Vec<Operation>,
}

/// One operation. Per-column operations run on every selected column; `correlation` relates
/// the selected columns to each other; `regression` names its two columns.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Operation {
    /// Count, sum, mean, median, variance, standard deviation, minimum and maximum.
    Summary,
    /// Number of values.
    Count,
    /// Sum of the values (compensated summation).
    Sum,
    /// Arithmetic mean.
    Mean,
    /// Median (for an even count, the mean of the two middle values).
    Median,
    /// Variance, both sample (divides by n - 1) and population (divides by n).
    Variance,
    /// Standard deviation, both sample (n - 1) and population (n).
    StdDev,
    /// Smallest value.
    Min,
    /// Largest value.
    Max,
    /// Percentiles with linear interpolation between order statistics (numpy's default
    /// method).
    Percentiles {
        /// Percentiles to compute, each from 0 to 100.
        p: Vec<f64>,
    },
    /// Histogram of equal-width bins, as numpy's `histogram`: bins are half-open
    /// `[left, right)` except the last, which includes its right edge.
    Histogram {
        /// Number of bins, 1 to 10000. Default 10.
        #[serde(default = "default_bins")]
        bins: usize,
        /// `[low, high]` range of the bins; values outside are counted separately. Default:
        /// the column's minimum and maximum (widened by 0.5 each way when they are equal).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        range: Option<[f64; 2]>,
    },
    /// Pearson correlation matrix of the selected columns.
    Correlation,
    /// Ordinary least-squares regression of `y` on `x`: slope, intercept, r² and standard
    /// errors.
    Regression {
        /// Column of the independent variable.
        x: String,
        /// Column of the dependent variable.
        y: String,
    },
    /// Outliers by Tukey's fences (outside `[Q1 - k·IQR, Q3 + k·IQR]`) and/or by z-score
    /// (`|x - mean| / σ > threshold`, σ the population standard deviation).
    Outliers {
        /// Which method to use. Default: both.
        #[serde(default)]
        method: OutlierMethod,
        /// Fence multiplier for the IQR method, at least 0. Default 1.5.
        #[serde(default = "default_k")]
        k: f64,
        /// Threshold for the z-score method, greater than 0. Default 3.
        #[serde(default = "default_z")]
        z_threshold: f64,
        /// How many outliers to list per method, in row order, 0 to 10000. Default 20.
        #[serde(default = "default_examples")]
        max_examples: usize,
    },
    /// Simple (unweighted) moving average: point `i` is the mean of rows `i + 1` to
    /// `i + window` (1-based).
    MovingAverage {
        /// Number of values per average, from 1 to the number of rows.
        window: usize,
        /// Most points to return, 1 to 100000; the series keeps its first points and is
        /// flagged as truncated when longer. Default 1000.
        #[serde(default = "default_points")]
        max_points: usize,
    },
}

/// Outlier detection method.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutlierMethod {
    /// Tukey's fences on the interquartile range.
    Iqr,
    /// Distance from the mean in population standard deviations.
    ZScore,
    /// Both methods.
    #[default]
    Both,
}

impl Operation {
    /// The operation's name as written in a request (`"moving_average"`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Summary => "summary",
            Self::Count => "count",
            Self::Sum => "sum",
            Self::Mean => "mean",
            Self::Median => "median",
            Self::Variance => "variance",
            Self::StdDev => "std_dev",
            Self::Min => "min",
            Self::Max => "max",
            Self::Percentiles { .. } => "percentiles",
            Self::Histogram { .. } => "histogram",
            Self::Correlation => "correlation",
            Self::Regression { .. } => "regression",
            Self::Outliers { .. } => "outliers",
            Self::MovingAverage { .. } => "moving_average",
        }
    }
}

fn default_bins() -> usize {
    10
}

fn default_k() -> f64 {
    1.5
}

fn default_z() -> f64 {
    3.0
}

fn default_examples() -> usize {
    20
}

fn default_points() -> usize {
    1000
}

#[cfg(test)]
mod tests {
    use super::{AnalysisRequest, Operation, OutlierMethod};
    use serde_json::json;

    #[test]
    fn parses_operations_with_defaults() {
        let request: AnalysisRequest = serde_json::from_value(json!({
            "columns": ["a"],
            "operations": [
                {"op": "mean"},
                {"op": "histogram"},
                {"op": "outliers", "method": "iqr"},
                {"op": "moving_average", "window": 3},
                {"op": "regression", "x": "a", "y": "b"}
            ]
        }))
        .unwrap();
        assert_eq!(request.columns, Some(vec!["a".to_owned()]));
        assert_eq!(
            request.operations,
            [
                Operation::Mean,
                Operation::Histogram {
                    bins: 10,
                    range: None
                },
                Operation::Outliers {
                    method: OutlierMethod::Iqr,
                    k: 1.5,
                    z_threshold: 3.0,
                    max_examples: 20
                },
                Operation::MovingAverage {
                    window: 3,
                    max_points: 1000
                },
                Operation::Regression {
                    x: "a".into(),
                    y: "b".into()
                },
            ]
        );
        assert_eq!(request.operations[4].name(), "regression");
    }

    #[test]
    fn empty_request_is_valid() {
        let request: AnalysisRequest = serde_json::from_value(json!({})).unwrap();
        assert_eq!(request, AnalysisRequest::default());
    }

    #[test]
    fn unknown_operations_and_options_are_rejected() {
        let unknown = serde_json::from_value::<AnalysisRequest>(json!({
            "operations": [{"op": "mode"}]
        }));
        assert!(
            unknown
                .unwrap_err()
                .to_string()
                .contains("unknown variant `mode`")
        );
        let typo = serde_json::from_value::<AnalysisRequest>(json!({
            "operations": [{"op": "histogram", "bin": 5}]
        }));
        assert!(
            typo.unwrap_err()
                .to_string()
                .contains("unknown field `bin`")
        );
        let stray = serde_json::from_value::<AnalysisRequest>(json!({"ops": []}));
        assert!(stray.is_err());
    }
}
