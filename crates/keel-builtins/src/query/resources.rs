//! Schema browsing as resources: `keel://databases` lists the databases,
//! `keel://db/{database}/tables` a database's tables with columns and row counts, and
//! `keel://db/{database}/tables/{table}` one table.

use keel_core::{
    CacheHint, CacheScope, Context, Resource, ResourceBuilder, ResourceContents, ResourceTemplate,
    ToolError, Workload,
};
use keel_protocol::{Era, ErrorCode, RpcError};
use keel_query::{Database, Databases, TableInfo};
use serde_json::{Map, Value, json};

use keel_resilience::Dependencies;

use crate::failure::guarded_read;

const JSON: &str = "application/json";

/// Row counts and columns change with the data: clients re-read them after the query tool's
/// own longest cache lifetime.
const SCHEMA_HINT: CacheHint = CacheHint {
    ttl: std::time::Duration::from_secs(10),
    scope: CacheScope::Shared,
};

/// The fixed resource listing the databases.
pub(crate) fn database_resources(databases: &Databases) -> Vec<Resource> {
    let databases = databases.clone();
    let list = ResourceBuilder::new("keel://databases", "databases")
        .title("Databases")
        .description("The databases the query tool can read: name, engine and row limits.")
        .mime_type(JSON)
        .workload(Workload::Io)
        .read(move |uri, _cx| {
            let listing = listing(&databases);
            async move { Ok(vec![ResourceContents::text(uri, JSON, listing.to_string())]) }
        });
    vec![list]
}

/// The templates for a database's tables and for one table.
pub(crate) fn database_templates(
    databases: &Databases,
    dependencies: &Dependencies,
) -> Vec<ResourceTemplate> {
    let names: Vec<String> = databases.names().map(str::to_owned).collect();
    let complete = move |var: &str, partial: &str| -> Vec<String> {
        if var != "database" {
            return Vec::new();
        }
        names
            .iter()
            .filter(|n| n.starts_with(partial))
            .cloned()
            .collect()
    };
    let tables = {
        let (databases, dependencies) = (databases.clone(), dependencies.clone());
        ResourceBuilder::new("keel://db/{database}/tables", "tables")
            .title("Tables of a database")
            .description("Tables and views of one database with their columns and row counts.")
            .mime_type(JSON)
            .workload(Workload::Io)
            .cache_hint(SCHEMA_HINT)
            .complete(complete.clone())
            .read_template(move |uri, vars, cx| {
                let (databases, dependencies) = (databases.clone(), dependencies.clone());
                async move {
                    let database = database(&databases, &uri, &vars, &cx)?;
                    let tables =
                        guarded_read(&dependencies, database.name(), || database.schema()).await?;
                    let body = json!({
                        "database": database.name(),
                        "engine": database.engine(),
                        "tables": tables,
                    });
                    Ok(vec![ResourceContents::text(uri, JSON, body.to_string())])
                }
            })
    };
    let table = {
        let (databases, dependencies) = (databases.clone(), dependencies.clone());
        ResourceBuilder::new("keel://db/{database}/tables/{table}", "table")
            .title("One table")
            .description(
                "One table or view: its columns (name, type, nullable, primary key) and row \
                 count. PostgreSQL tables may be named schema.table.",
            )
            .mime_type(JSON)
            .workload(Workload::Io)
            .cache_hint(SCHEMA_HINT)
            .complete(complete)
            .read_template(move |uri, vars, cx| {
                let (databases, dependencies) = (databases.clone(), dependencies.clone());
                async move {
                    let database = database(&databases, &uri, &vars, &cx)?;
                    let wanted = var(&vars, "table");
                    let tables =
                        guarded_read(&dependencies, database.name(), || database.schema()).await?;
                    let Some(found) = tables.into_iter().find(|t| names_table(t, wanted)) else {
                        let message = format!(
                            "no table `{wanted}` in database `{}`; see keel://db/{}/tables",
                            database.name(),
                            database.name()
                        );
                        return Err(not_found(&cx, &uri, message));
                    };
                    let body = serde_json::to_string(&found).map_err(ToolError::failed)?;
                    Ok(vec![ResourceContents::text(uri, JSON, body)])
                }
            })
    };
    vec![tables, table]
}

fn listing(databases: &Databases) -> Value {
    let entries: Vec<Value> = databases
        .iter()
        .enumerate()
        .map(|(i, d)| {
            json!({
                "name": d.name(),
                "engine": d.engine(),
                "default": i == 0,
                "statement_timeout_ms": u64::try_from(d.statement_timeout().as_millis()).unwrap_or(u64::MAX),
                "max_rows_default": d.max_rows_default(),
                "max_rows_limit": d.max_rows_limit(),
                "tables_uri": format!("keel://db/{}/tables", d.name()),
            })
        })
        .collect();
    json!({ "databases": entries })
}

fn var<'a>(vars: &'a Map<String, Value>, name: &str) -> &'a str {
    vars.get(name).and_then(Value::as_str).unwrap_or_default()
}

fn database<'a>(
    databases: &'a Databases,
    uri: &str,
    vars: &Map<String, Value>,
    cx: &Context,
) -> Result<&'a Database, ToolError> {
    databases
        .get(var(vars, "database"))
        .map_err(|e| not_found(cx, uri, e.to_string()))
}

/// `name` or, for PostgreSQL, `schema.name`.
fn names_table(table: &TableInfo, wanted: &str) -> bool {
    table.name == wanted
        || table.schema.as_ref().is_some_and(|s| {
            wanted
                .strip_prefix(s.as_str())
                .and_then(|r| r.strip_prefix('.'))
                == Some(table.name.as_str())
        })
}

/// Resource not found, with the code of the request's era (as the dispatcher reports URIs
/// that match nothing).
fn not_found(cx: &Context, uri: &str, message: String) -> ToolError {
    let code = match cx.protocol_version().era() {
        Era::Modern => ErrorCode::INVALID_PARAMS,
        Era::Legacy => ErrorCode::RESOURCE_NOT_FOUND_LEGACY,
    };
    ToolError::Protocol(RpcError::new(code, message).with_data(json!({ "uri": uri })))
}
