//! Why the built-in tools could not be set up.

use keel_analyze::PoolBuildError;
use keel_embed::EmbedError;
use keel_query::QueryError;

/// A configuration the built-ins cannot run with, or a resource they could not open.
///
/// A missing embedding model is not an error: the tools start degraded (see
/// [`Builtins::readiness`](crate::Builtins::readiness)) and say how to fetch it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuiltinsError {
    /// The analysis pool's threads could not be started.
    #[error("cannot start the analysis pool: {0}")]
    AnalysisPool(#[from] PoolBuildError),
    /// `analyze.nice` is above what the operating system accepts.
    #[error("analyze.nice is {0}; it must be between 0 and {max}", max = keel_analyze::MAX_NICE)]
    AnalyzeNice(u8),
    /// The thread analyses read their input on could not be started, or the analyzer's own
    /// database connections could not be opened from it.
    #[error("cannot start the analysis read thread: {source}")]
    AnalyzeLane {
        /// What the system said.
        source: std::io::Error,
    },
    /// A database configuration is invalid, or a database could not be opened or seeded.
    #[error("databases: {0}")]
    Database(#[from] QueryError),
    /// The query tool is enabled without any database to query.
    #[error(
        "query.enabled is true but query.databases is empty; list a database or disable the tool"
    )]
    NoDatabases,
    /// The embedding settings are invalid.
    #[error("embedding tools: {0}")]
    Embed(#[source] EmbedError),
}
