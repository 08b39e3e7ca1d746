//! The `analyze` tool: exact statistics over inline values, CSV text or the rows of a SQL
//! query, computed on the bounded analysis pool with coarse progress notifications and
//! cancellation.
//!
//! The input is prepared on the analysis lane (the query's read on the analyzer's own
//! connections, the parse on the lane's blocking threads) and analyzed on the pool's own
//! threads, all at the pool's lower priority and never on the server's runtime. A full pool
//! is reported as a tool error (`isError`) saying the engine is busy, so the model can
//! retry; it is not a JSON-RPC rejection.

mod args;
mod lane;
mod progress;

use std::{sync::Arc, time::Duration};

use keel_analyze::{
    AnalysisError, AnalysisPool, AnalysisRequest, CancelToken, CsvOptions, Dataset, render_text,
    report_schema,
};
use keel_core::{
    Annotations, CachePolicy, CallToolResult, Context, Failure, TaskSupport, Tool, ToolBuilder,
    ToolError, Workload,
};
use keel_query::{DatabaseConfig, Databases};
use serde_json::Value;
use tokio::sync::Semaphore;

use self::args::{AnalyzeArgs, QuerySource, Source};
use self::lane::Lane;
use self::progress::{CancelBridge, progress_fn};
use crate::config::AnalyzeConfig;
use crate::error::BuiltinsError;
use keel_resilience::Dependencies;

use crate::failure::{analysis_failure, guarded_read, query_failure};
use crate::query::pick;
use crate::schema::inline_schema;

const DESCRIPTION: &str = "Exact descriptive statistics over numeric data: summary (count, \
sum, mean, median, variance, standard deviation, min, max), percentiles, histograms, Pearson \
correlation, linear regression, outliers (IQR and z-score) and moving averages. Give the data \
as `values` (an array, or an object of named arrays), as `csv` text, or as a read-only SQL \
`query` whose numeric columns the server reads itself; list `operations` (default: summary).";

/// The analysis pool, the lane its input is prepared on, the admission bound in front of
/// both, and the databases a `query` source reads.
pub(crate) struct Analyzer {
    pool: AnalysisPool,
    lane: Lane,
    /// The analyzer's own pools, opened from the lane: their connections' threads run at the
    /// lane's priority, and a burst of analyses cannot take the `query` tool's connections.
    databases: Option<Databases>,
    /// Held from reading the data to the end of the analysis; the pool's own bound only
    /// covers the analysis.
    admission: Arc<Semaphore>,
}

/// The data, read but not yet parsed into a [`Dataset`].
enum Data {
    Inline(Value),
    Csv(String, CsvOptions),
    Rows(Vec<String>, Vec<Vec<Value>>),
}

impl Analyzer {
    /// Starts the pool and the lane, and opens `databases` from the lane (`None` when the
    /// query tool is disabled).
    pub(crate) async fn start(
        config: &AnalyzeConfig,
        databases: Option<Vec<DatabaseConfig>>,
    ) -> Result<Self, BuiltinsError> {
        if config.nice > keel_analyze::MAX_NICE {
            return Err(BuiltinsError::AnalyzeNice(config.nice));
        }
        let pool = AnalysisPool::new(config.pool())?;
        let lane = Lane::start("keel-analyze-io", config.nice)
            .map_err(|source| BuiltinsError::AnalyzeLane { source })?;
        let databases = match databases {
            Some(configs) => Some(lane.run(Databases::connect(configs)).await.map_err(|e| {
                BuiltinsError::AnalyzeLane {
                    source: std::io::Error::other(e),
                }
            })??),
            None => None,
        };
        let admission = Arc::new(Semaphore::new(pool.capacity()));
        Ok(Self {
            pool,
            lane,
            databases,
            admission,
        })
    }

    /// Closes the analyzer's database pools; see [`Databases::close`].
    pub(crate) async fn close(&self) {
        if let Some(databases) = self.databases.clone() {
            let _ = self.lane.run(async move { databases.close().await }).await;
        }
    }

    /// The analyzer's own database pools.
    pub(crate) fn databases(&self) -> Option<&Databases> {
        self.databases.as_ref()
    }

    /// The pool's `(threads, capacity, in flight)`.
    pub(crate) fn pool_load(&self) -> (usize, usize, usize) {
        (
            self.pool.threads(),
            self.pool.capacity(),
            self.pool.in_flight(),
        )
    }

    /// The pool's size and load.
    pub(crate) fn pool_status(&self) -> serde_json::Value {
        serde_json::json!({
            "threads": self.pool.threads(),
            "capacity": self.pool.capacity(),
            "in_flight": self.pool.in_flight(),
        })
    }

    /// The `analyze` tool.
    pub(crate) fn tool(self: &Arc<Self>, dependencies: &Dependencies) -> Tool {
        let analyzer = Arc::clone(self);
        let dependencies = dependencies.clone();
        ToolBuilder::new("analyze", inline_schema::<AnalyzeArgs>())
            .title("Analyze data")
            .description(DESCRIPTION)
            .annotations(Annotations::read_only())
            .workload(Workload::Cpu)
            .task_support(TaskSupport::Optional)
            .output_schema(report_schema())
            // A pure function of inline data; rows read from a database may change.
            .cache(
                CachePolicy::new(Duration::from_secs(60))
                    .ttl_bounds(Duration::from_secs(60), Duration::from_secs(600))
                    .only_if(|args| args.get("query").is_none_or(Value::is_null)),
            )
            .typed_handler(move |args: AnalyzeArgs, cx: Context| {
                let (analyzer, dependencies) = (Arc::clone(&analyzer), dependencies.clone());
                async move { analyzer.call(args, cx, &dependencies).await }
            })
    }

    async fn call(
        &self,
        args: AnalyzeArgs,
        cx: Context,
        dependencies: &Dependencies,
    ) -> Result<CallToolResult, ToolError> {
        let (source, request) = args.into_parts().map_err(ToolError::invalid_arguments)?;
        let Ok(_admitted) = Arc::clone(&self.admission).try_acquire_owned() else {
            let capacity = self.pool.capacity();
            return Err(analysis_failure(AnalysisError::Overloaded { capacity }));
        };
        let (databases, dependencies) = (self.databases.clone(), dependencies.clone());
        let prepared = self
            .lane
            .run(async move {
                let data = match source {
                    Source::Values(values) => Data::Inline(values),
                    Source::Csv(text, options) => Data::Csv(text, options),
                    Source::Query(query) => fetch(databases.as_ref(), query, &dependencies).await?,
                };
                parse(data).await.map_err(analysis_failure)
            })
            .await;
        let dataset = match prepared {
            Ok(dataset) => dataset?,
            Err(e) if e.is_panic() => {
                return Err(analysis_failure(AnalysisError::WorkerPanicked {
                    message: e.to_string(),
                }));
            }
            Err(_) => return Err(ToolError::Cancelled),
        };
        self.run(dataset, request, &cx).await
    }

    async fn run(
        &self,
        dataset: Dataset,
        request: AnalysisRequest,
        cx: &Context,
    ) -> Result<CallToolResult, ToolError> {
        let cancel = CancelToken::new();
        let _bridge = CancelBridge::new(cx, cancel.clone());
        let outcome = self
            .pool
            .run(Arc::new(dataset), request, progress_fn(cx), cancel)
            .await;
        match outcome {
            Ok(report) => {
                let text = render_text(&report);
                let value = serde_json::to_value(&report).map_err(ToolError::failed)?;
                Ok(CallToolResult::structured(value, text))
            }
            Err(e) => Err(analysis_failure(e)),
        }
    }
}

/// Runs the query, reading at most the database's row limit: an analysis of a cut-off
/// result would be silently wrong, so a longer result is an error.
async fn fetch(
    databases: Option<&Databases>,
    query: QuerySource,
    dependencies: &Dependencies,
) -> Result<Data, ToolError> {
    let Some(databases) = databases else {
        return Err(Failure::invalid_input(
            "no databases are configured (the query tool is disabled)",
        )
        .into());
    };
    let requested = query.database.as_deref().unwrap_or_default();
    let database =
        pick(databases, query.database.as_deref()).map_err(|e| query_failure(e, requested))?;
    let limit = database.max_rows_limit();
    let output = guarded_read(dependencies, database.name(), || {
        database.query(&query.sql, &query.params, Some(limit))
    })
    .await?;
    if output.truncated {
        return Err(Failure::invalid_input(format!(
            "the query returns more than {limit} rows, the most analyze reads from database \
             `{}`; filter or aggregate in SQL",
            database.name()
        ))
        .into());
    }
    let columns = output.columns.into_iter().map(|c| c.name).collect();
    Ok(Data::Rows(columns, output.rows))
}

/// Builds the dataset off the async runtime: large inputs take a while to parse.
async fn parse(data: Data) -> Result<Dataset, AnalysisError> {
    let parse = move || match data {
        Data::Inline(values) => Dataset::from_inline(&values),
        Data::Csv(text, options) => Dataset::from_csv(&text, &options),
        Data::Rows(columns, rows) => Dataset::from_rows(columns, rows),
    };
    tokio::task::spawn_blocking(parse)
        .await
        .unwrap_or_else(|e| {
            Err(AnalysisError::WorkerPanicked {
                message: e.to_string(),
            })
        })
}
