//! The `query` tool: one read-only SQL statement against a named database, answered with
//! typed columns and rows (`structuredContent`) and a plain-text table. Schema browsing is
//! in [`resources`].
//!
//! Every refusal and failure (malformed SQL, a write, several statements, a parameter count
//! that does not match, an unknown database, a timeout) is an `isError` result carrying
//! keel-query's message, which never includes a connection URL.

mod resources;

use std::time::Duration;

use keel_core::{
    Annotations, CachePolicy, CallToolResult, Context, Tool, ToolBuilder, ToolError, Workload,
};
use keel_query::{Database, Databases, QueryError, QueryOutput, render_table};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

pub(crate) use self::resources::{database_resources, database_templates};
use crate::{
    failure::{guarded_read, query_failure},
    schema::inline_schema,
};
use keel_resilience::Dependencies;

/// Width the text table aims for.
const TABLE_WIDTH: usize = 120;

const DESCRIPTION: &str = "Runs one read-only SQL statement (SELECT, WITH, VALUES, EXPLAIN…) \
against a configured database and returns typed columns and rows. Bind values with `params` \
(placeholders `?`/`?N` for SQLite, `$1…$n` for PostgreSQL) instead of quoting them into the \
SQL. Writes and multiple statements are refused. Browse tables with the keel://databases \
and keel://db/{database}/tables resources.";

/// Arguments of `query`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct QueryArgs {
    /// One read-only SQL statement.
    sql: String,
    /// Values bound to the statement's placeholders, in order.
    #[serde(default)]
    params: Vec<Value>,
    /// The database to query. Default: the first configured (`main` out of the box).
    #[serde(default)]
    database: Option<String>,
    /// Most rows to return (default and limit set per database).
    #[serde(default)]
    max_rows: Option<usize>,
}

/// The database a call names, or the default one.
pub(crate) fn pick<'a>(
    databases: &'a Databases,
    name: Option<&str>,
) -> Result<&'a Database, QueryError> {
    match name {
        Some(name) => databases.get(name),
        None => databases
            .default_database()
            .ok_or_else(|| QueryError::UnknownDatabase {
                name: String::new(),
                available: Vec::new(),
            }),
    }
}

/// The `query` tool over `databases`.
pub(crate) fn query_tool(databases: &Databases, dependencies: &Dependencies) -> Tool {
    let databases = databases.clone();
    let dependencies = dependencies.clone();
    ToolBuilder::new("query", inline_schema::<QueryArgs>())
        .title("Query a database")
        .description(DESCRIPTION)
        .annotations(Annotations::read_only())
        .workload(Workload::Io)
        .output_schema(inline_schema::<QueryOutput>())
        // Data may change under a read-only view: a short freshness, and the last answer
        // for a minute when the database is unreachable (`[cache.tools.query]` tunes both).
        .cache(
            CachePolicy::new(Duration::from_secs(2))
                .ttl_bounds(Duration::from_secs(2), Duration::from_secs(10))
                .serve_stale(Duration::from_secs(60)),
        )
        .typed_handler(move |args: QueryArgs, _cx: Context| {
            let (databases, dependencies) = (databases.clone(), dependencies.clone());
            async move { run(&databases, &dependencies, args).await }
        })
}

async fn run(
    databases: &Databases,
    dependencies: &Dependencies,
    args: QueryArgs,
) -> Result<CallToolResult, ToolError> {
    let requested = args.database.as_deref().unwrap_or_default();
    let database =
        pick(databases, args.database.as_deref()).map_err(|e| query_failure(e, requested))?;
    let output = guarded_read(dependencies, database.name(), || {
        database.query(&args.sql, &args.params, args.max_rows)
    })
    .await?;
    let value = serde_json::to_value(&output)
        .map_err(|e| ToolError::failed(format!("could not encode the rows: {e}")))?;
    Ok(CallToolResult::structured(
        value,
        render_table(&output, TABLE_WIDTH),
    ))
}
