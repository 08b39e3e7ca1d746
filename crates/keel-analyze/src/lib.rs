//! Exact statistics over numeric datasets: the computation engine behind Keel's `analyze` tool.
//!
//! A [`Dataset`] is a set of equally long, named columns of finite `f64` values, built from
//! inline JSON arrays, CSV text or query-result rows. An [`AnalysisRequest`] lists the
//! operations to run (summary statistics, numpy-compatible percentiles and histograms, Pearson
//! correlation, simple linear regression, IQR and z-score outliers, moving averages); the
//! result is an [`AnalysisReport`] that serialises to JSON and carries a JSON Schema, plus a
//! short text rendering from [`render_text`].
//!
//! Work runs on an [`AnalysisPool`]: a dedicated rayon pool with a bounded number of jobs in
//! flight, bridged to async callers, reporting coarse progress and stopping promptly when its
//! [`CancelToken`] is cancelled or its future is dropped.
//!
//! This crate is not an MCP tool and knows nothing of MCP, JSON-RPC or any other Keel crate;
//! wrapping it as a tool (argument parsing, error mapping, progress notifications) is the
//! caller's job.

#![forbid(unsafe_code)]

mod cancel;
mod dataset;
mod engine;
mod error;
mod pool;
mod render;
mod report;
mod request;
mod schema;

pub use cancel::CancelToken;
pub use dataset::{CsvOptions, Dataset, EmptyCells};
pub use engine::analyze;
pub use error::{AnalysisError, CellRef, InputError, Overloaded, PoolBuildError, RequestError};
pub use pool::{
    AnalysisJob, AnalysisPool, MAX_NICE, PoolConfig, ProgressFn, lower_thread_priority,
};
pub use render::render_text;
pub use report::{
    AnalysisReport, ColumnReport, CorrelationReport, Dispersion, Histogram, IqrOutliers,
    MovingAverageReport, OutlierPoint, OutlierReport, PercentileValue, RegressionReport,
    ZScoreOutliers,
};
pub use request::{
    AnalysisRequest, MAX_BINS, MAX_EXAMPLES, MAX_PERCENTILES, MAX_POINTS, Operation, OutlierMethod,
};
pub use schema::{report_schema, request_schema};
