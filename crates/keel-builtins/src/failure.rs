//! The engines' errors as typed failures: which are the caller's input, which a dependency
//! that does not answer, which an overload, so caches, breakers and clients can tell an
//! outage of the database from a typo in SQL.

use std::time::Duration;

use keel_analyze::AnalysisError;
use keel_core::{Failure, ToolError};
use keel_embed::EmbedError;
use keel_query::QueryError;
use keel_resilience::{Dependencies, Idempotency};

use crate::embed::Unavailable;

/// The dependency name of the embedding model.
pub(crate) const MODEL_DEPENDENCY: &str = "model:all-minilm-l6-v2";

/// When a shed analysis or embedding may come back: about one batch or job later.
const ENGINE_RETRY_AFTER: Duration = Duration::from_millis(500);

/// The dependency name of a configured database.
pub(crate) fn database_dependency(name: &str) -> String {
    format!("db:{name}")
}

/// Runs a read of `database` through its dependency guard (`db:NAME`): its breaker, timeout,
/// retries and budget. Reads are idempotent, so a transient failure is tried again.
pub(crate) async fn guarded_read<T, F, Fut>(
    dependencies: &Dependencies,
    database: &str,
    mut read: F,
) -> Result<T, Failure>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, QueryError>>,
{
    dependencies
        .get(&database_dependency(database))
        .call(Idempotency::Idempotent, || {
            let attempt = read();
            async move { attempt.await.map_err(|e| query_failure(e, database)) }
        })
        .await
}

/// A query engine error, for a call on database `database`.
pub(crate) fn query_failure(e: QueryError, database: &str) -> Failure {
    let message = e.to_string();
    let failure = match &e {
        QueryError::UnknownDatabase { .. }
        | QueryError::Rejected(_)
        | QueryError::SqlTooLong { .. }
        | QueryError::ParameterCount { .. }
        | QueryError::TooManyParameters { .. }
        | QueryError::InvalidParameter { .. }
        | QueryError::MaxRowsAboveLimit { .. }
        | QueryError::ReadOnly { .. } => Failure::invalid_input(message),
        QueryError::Sql { code, .. } => sql_failure(code.as_deref(), database, message),
        QueryError::Timeout { timeout } => Failure::timed_out(*timeout, message)
            .with_detail("dependency", database_dependency(database)),
        // The whole wait went by without a connection (all stuck, or none could be opened):
        // a timeout, so it is not tried again on top of the wait it already cost.
        QueryError::Busy { waited, .. } => Failure::timed_out(*waited, message)
            .with_detail("dependency", database_dependency(database)),
        QueryError::Closed { .. } | QueryError::Connect { .. } | QueryError::Driver(_) => {
            Failure::dependency(database_dependency(database), message)
        }
        _ => Failure::permanent(message),
    };
    failure.with_source(e)
}

/// A database's own error: most are the statement's fault; a few say the server is unwell
/// or the transaction lost a race.
fn sql_failure(code: Option<&str>, database: &str, message: String) -> Failure {
    let Some(code) = code else {
        return Failure::invalid_input(message);
    };
    // PostgreSQL SQLSTATE classes: 08 connection, 53 resources, 57 operator intervention
    // (admin shutdown, cannot connect now), 58 system error; 40001/40P01 lost races.
    let class = code.get(..2).unwrap_or_default();
    match class {
        "08" | "53" | "57" | "58" => Failure::dependency(database_dependency(database), message),
        "40" => Failure::transient(message),
        // SQLite's primary result codes 5 (BUSY) and 6 (LOCKED), possibly extended.
        _ if sqlite_primary(code).is_some_and(|c| c == 5 || c == 6) => Failure::transient(message),
        _ => Failure::invalid_input(message),
    }
}

/// The primary result code of a numeric SQLite (extended) code.
fn sqlite_primary(code: &str) -> Option<u32> {
    code.parse::<u32>().ok().map(|c| c & 0xff)
}

/// An analysis engine error.
pub(crate) fn analysis_failure(e: AnalysisError) -> ToolError {
    let message = e.to_string();
    let failure = match &e {
        AnalysisError::Cancelled => return ToolError::Cancelled,
        AnalysisError::InvalidInput { .. }
        | AnalysisError::InvalidRequest { .. }
        | AnalysisError::Overflow { .. } => Failure::invalid_input(message),
        AnalysisError::Overloaded { capacity } => {
            Failure::overloaded(Some(ENGINE_RETRY_AFTER), message)
                .with_detail("reason", "analysis_pool_full")
                .with_detail("capacity", *capacity)
        }
        _ => Failure::permanent(message),
    };
    ToolError::Failed(failure.with_source(e))
}

/// An embedding engine error.
pub(crate) fn embed_failure(e: EmbedError) -> ToolError {
    let message = e.to_string();
    let failure = match &e {
        EmbedError::Cancelled => return ToolError::Cancelled,
        EmbedError::EmptyInput | EmbedError::TooManyTexts { .. } => Failure::invalid_input(message),
        EmbedError::Overloaded { capacity } => {
            Failure::overloaded(Some(ENGINE_RETRY_AFTER), message)
                .with_detail("reason", "embedding_queue_full")
                .with_detail("capacity", *capacity)
        }
        EmbedError::BatchFailed(_) | EmbedError::ModelPanicked => Failure::transient(message),
        _ => Failure::dependency(MODEL_DEPENDENCY, message),
    };
    ToolError::Failed(failure.with_source(e))
}

/// The model is not loaded (missing, being fetched, or failed to load).
pub(crate) fn model_unavailable(e: Unavailable) -> ToolError {
    ToolError::Failed(Failure::dependency(MODEL_DEPENDENCY, e.to_string()).with_source(e))
}

#[cfg(test)]
mod tests {
    use keel_core::FailureKind;

    use super::*;

    #[test]
    fn sql_codes_split_input_from_outages() {
        let kind = |code| {
            sql_failure(Some(code), "main", String::new())
                .kind()
                .clone()
        };
        assert_eq!(kind("42601"), FailureKind::InvalidInput); // syntax error
        assert_eq!(kind("42P01"), FailureKind::InvalidInput); // undefined table
        assert_eq!(kind("40001"), FailureKind::Transient); // serialization failure
        assert_eq!(kind("5"), FailureKind::Transient); // SQLITE_BUSY
        assert_eq!(kind("517"), FailureKind::Transient); // SQLITE_BUSY_SNAPSHOT
        assert_eq!(kind("1"), FailureKind::InvalidInput); // SQLITE_ERROR
        for outage in ["08006", "53300", "57P01", "58030"] {
            assert_eq!(
                kind(outage),
                FailureKind::DependencyUnavailable {
                    dependency: "db:main".into()
                },
                "{outage}"
            );
        }
    }

    #[test]
    fn overloads_carry_a_retry_hint() {
        let ToolError::Failed(f) = analysis_failure(AnalysisError::Overloaded { capacity: 2 })
        else {
            panic!("overload is a failure");
        };
        assert_eq!(
            f.kind(),
            &FailureKind::Overloaded {
                retry_after: Some(ENGINE_RETRY_AFTER)
            }
        );
        let ToolError::Failed(f) = embed_failure(EmbedError::EmptyInput) else {
            panic!()
        };
        assert_eq!(f.kind(), &FailureKind::InvalidInput);
    }
}
