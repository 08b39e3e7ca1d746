//! `query` and the schema resources through the dispatcher, on demo SQLite databases
//! created in a temporary directory; and `analyze` reading a query's rows.

mod support;

use std::time::Duration;

use keel_builtins::{BuiltinsConfig, DatabaseEntry};
use serde_json::{Value, json};
use support::{Harness, sqlite_in};
use tempfile::TempDir;

/// Two demo databases, `main` and `small` (tight limits), analyze on, embed off.
async fn harness() -> (TempDir, Harness) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = BuiltinsConfig::default();
    config.embed.enabled = false;
    config.query.databases = vec![
        sqlite_in(&dir, "main"),
        DatabaseEntry {
            statement_timeout_ms: 50,
            max_rows: 5,
            max_rows_limit: 10,
            ..sqlite_in(&dir, "small")
        },
    ];
    let h = Harness::start(&config).await;
    (dir, h)
}

fn text_of(result: &Value) -> &str {
    result["content"][0]["text"].as_str().unwrap()
}

#[tokio::test]
async fn query_tool_is_listed_read_only_with_its_output_schema() {
    let (_dir, h) = harness().await;
    let list = h.rpc("tools/list", json!({})).await;
    let tools = list["result"]["tools"].as_array().unwrap();
    let query = tools.iter().find(|t| t["name"] == "query").unwrap();
    assert_eq!(query["annotations"]["readOnlyHint"], true);
    assert_eq!(query["annotations"]["destructiveHint"], false);
    assert_eq!(query["outputSchema"]["type"], "object");
    assert!(
        query["outputSchema"]["required"]
            .as_array()
            .unwrap()
            .contains(&json!("rows"))
    );
    let entry = h.dispatcher.registry().tool("query").unwrap();
    assert_eq!(entry.definition.workload, keel_core::Workload::Io);
}

#[tokio::test]
async fn point_lookup_returns_typed_columns_and_a_table() {
    let (_dir, h) = harness().await;
    let result = h
        .call(
            "query",
            json!({ "sql": "SELECT id, email, is_vip FROM customers WHERE id = ?", "params": [42] }),
        )
        .await;
    assert_eq!(result["isError"], false, "{result}");
    let out = &result["structuredContent"];
    h.assert_fits_output_schema("query", out);
    assert_eq!(out["row_count"], 1);
    assert_eq!(out["truncated"], false);
    assert_eq!(out["rows"][0][0], 42);
    assert!(out["rows"][0][1].as_str().unwrap().contains('@'));
    let names: Vec<&str> = out["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["id", "email", "is_vip"]);
    assert_eq!(out["columns"][0]["type_name"], "INTEGER");
    let text = text_of(&result);
    assert!(text.contains("email") && text.contains("(1 row"), "{text}");
}

#[tokio::test]
async fn scans_respect_row_limits_and_aggregates_are_exact() {
    let (_dir, h) = harness().await;
    let out = h
        .call_ok(
            "query",
            json!({ "sql": "SELECT count(*) AS n FROM orders" }),
        )
        .await;
    assert_eq!(out["rows"], json!([[2000]]));

    let out = h
        .call_ok(
            "query",
            json!({ "sql": "SELECT id, total_cents FROM orders ORDER BY id" }),
        )
        .await;
    assert_eq!(out["row_count"], 100, "the database's default row count");
    assert_eq!(out["truncated"], true);
    assert_eq!(out["rows"][99][0], 100);

    let out = h
        .call_ok(
            "query",
            json!({ "sql": "SELECT id FROM products ORDER BY id", "max_rows": 1000 }),
        )
        .await;
    assert_eq!(
        (out["row_count"].as_u64(), out["truncated"].as_bool()),
        (Some(120), Some(false))
    );

    // The second database has its own limits.
    let out = h
        .call_ok(
            "query",
            json!({ "sql": "SELECT id FROM customers", "database": "small" }),
        )
        .await;
    assert_eq!(
        (out["row_count"].as_u64(), out["truncated"].as_bool()),
        (Some(5), Some(true))
    );
}

#[tokio::test]
async fn refusals_and_failures_are_tool_errors() {
    let (_dir, h) = harness().await;
    let cases = [
        (json!({ "sql": "SELEC id FROM customers" }), "not allowed"),
        (
            json!({ "sql": "SELECT id FROM customers WHERE" }),
            "incomplete input",
        ),
        (
            json!({ "sql": "SELECT id FROM customers WHERE id = = 1" }),
            "syntax error",
        ),
        (
            json!({ "sql": "SELECT * FROM no_such_table" }),
            "no_such_table",
        ),
        (json!({ "sql": "DELETE FROM orders" }), "rejected"),
        (
            json!({ "sql": "UPDATE products SET price_cents = 1" }),
            "rejected",
        ),
        (json!({ "sql": "SELECT 1; DROP TABLE orders" }), "rejected"),
        (json!({ "sql": "SELECT 1; SELECT 2" }), "rejected"),
        (
            json!({ "sql": "SELECT * FROM customers WHERE id = ?" }),
            "1 parameter placeholder(s) but 0",
        ),
        (
            json!({ "sql": "SELECT ?", "params": [1, 2] }),
            "but 2 value(s)",
        ),
        (
            json!({ "sql": "SELECT 1", "database": "sales" }),
            "unknown database `sales`; configured databases: main, small",
        ),
        (
            json!({ "sql": "SELECT 1", "database": "small", "max_rows": 11 }),
            "limit of 10",
        ),
    ];
    for (args, expected) in cases {
        let text = h.call_err("query", args.clone()).await;
        assert!(text.contains(expected), "{args}: {text}");
        // The caller's input is at fault, never the database: nothing to retry or serve stale.
        let result = h.call("query", args.clone()).await;
        let failure = &result["_meta"]["io.keel/failure"];
        assert_eq!(failure["kind"], "invalid_input", "{args}: {result}");
        assert_eq!(failure["retryable"], false, "{args}: {result}");
    }
    // The data is untouched.
    let out = h
        .call_ok("query", json!({ "sql": "SELECT count(*) FROM orders" }))
        .await;
    assert_eq!(out["rows"], json!([[2000]]));
}

#[tokio::test]
async fn a_statement_over_its_timeout_is_a_tool_error() {
    let (_dir, h) = harness().await;
    let endless = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) \
                   SELECT count(*) FROM n";
    let text = h
        .call_err("query", json!({ "sql": endless, "database": "small" }))
        .await;
    assert!(text.contains("timeout"), "{text}");
    let result = h
        .call("query", json!({ "sql": endless, "database": "small" }))
        .await;
    let failure = &result["_meta"]["io.keel/failure"];
    assert_eq!(failure["kind"], "timed_out", "{result}");
    assert!(failure["timeoutMs"].as_u64().is_some(), "{result}");
    // The pool still serves afterwards.
    h.call_ok("query", json!({ "sql": "SELECT 1", "database": "small" }))
        .await;
}

async fn read(h: &Harness, uri: &str) -> Value {
    let response = h.rpc("resources/read", json!({ "uri": uri })).await;
    let contents = &response["result"]["contents"][0];
    assert_eq!(contents["uri"], uri, "{response}");
    assert_eq!(contents["mimeType"], "application/json");
    serde_json::from_str(contents["text"].as_str().unwrap()).unwrap()
}

#[tokio::test]
async fn schema_resources_are_admitted_as_io_work() {
    let (_dir, h) = harness().await;
    let registry = h.dispatcher.registry();
    for uri in [
        "keel://databases",
        "keel://db/main/tables",
        "keel://db/main/tables/orders",
    ] {
        let target = registry.find_resource(uri).expect("a registered resource");
        assert_eq!(target.workload(), keel_core::Workload::Io, "{uri}");
    }
}

#[tokio::test]
async fn schema_resources_list_databases_tables_and_columns() {
    let (_dir, h) = harness().await;
    let resources = h.rpc("resources/list", json!({})).await;
    let uris: Vec<&str> = resources["result"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["uri"].as_str().unwrap())
        .collect();
    assert_eq!(uris, ["keel://databases"]);
    let templates = h.rpc("resources/templates/list", json!({})).await;
    let templates: Vec<&str> = templates["result"]["resourceTemplates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["uriTemplate"].as_str().unwrap())
        .collect();
    assert_eq!(
        templates,
        [
            "keel://db/{database}/tables",
            "keel://db/{database}/tables/{table}"
        ]
    );

    let listing = read(&h, "keel://databases").await;
    let dbs = listing["databases"].as_array().unwrap();
    assert_eq!(dbs.len(), 2);
    assert_eq!(dbs[0]["name"], "main");
    assert_eq!(dbs[0]["engine"], "sqlite");
    assert_eq!(dbs[0]["default"], true);
    assert_eq!(dbs[1]["max_rows_limit"], 10);
    assert_eq!(dbs[1]["tables_uri"], "keel://db/small/tables");

    let tables = read(&h, "keel://db/main/tables").await;
    assert_eq!(tables["database"], "main");
    let tables = tables["tables"].as_array().unwrap();
    let count = |name: &str| {
        tables
            .iter()
            .find(|t| t["name"] == name)
            .unwrap_or_else(|| panic!("no {name}"))["row_count"]
            .clone()
    };
    assert_eq!(count("customers"), 500);
    assert_eq!(count("products"), 120);
    assert_eq!(count("orders"), 2000);

    let orders = read(&h, "keel://db/main/tables/orders").await;
    assert_eq!(orders["name"], "orders");
    assert_eq!(orders["kind"], "table");
    let columns = orders["columns"].as_array().unwrap();
    let id = columns.iter().find(|c| c["name"] == "id").unwrap();
    assert_eq!(id["primary_key"], true);
    assert!(
        columns
            .iter()
            .any(|c| c["name"] == "total_cents" && c["type"] == "INTEGER")
    );

    for uri in ["keel://db/main/tables/nope", "keel://db/sales/tables"] {
        let response = h.rpc("resources/read", json!({ "uri": uri })).await;
        assert_eq!(response["error"]["code"], -32602, "{response}");
        assert_eq!(response["error"]["data"]["uri"], uri);
    }
    let complete = h
        .rpc(
            "completion/complete",
            json!({
                "ref": { "type": "ref/resource", "uri": "keel://db/{database}/tables" },
                "argument": { "name": "database", "value": "sm" }
            }),
        )
        .await;
    assert_eq!(
        complete["result"]["completion"]["values"],
        json!(["small"]),
        "{complete}"
    );
}

#[tokio::test]
async fn analyze_reads_query_rows_on_the_server() {
    let (_dir, h) = harness().await;
    let expected = h
        .call_ok(
            "query",
            json!({
                "sql": "SELECT count(*), sum(total_cents), min(total_cents), max(total_cents) \
                        FROM orders WHERE status = ?",
                "params": ["delivered"]
            }),
        )
        .await;
    let [count, sum, min, max] = [0, 1, 2, 3].map(|i| expected["rows"][0][i].as_f64().unwrap());
    assert!(count > 0.0);

    let out = h
        .call_ok(
            "analyze",
            json!({
                "query": {
                    "sql": "SELECT total_cents FROM orders WHERE status = ?",
                    "params": ["delivered"]
                },
                "operations": [{ "op": "summary" }]
            }),
        )
        .await;
    let column = &out["columns"][0];
    assert_eq!(column["name"], "total_cents");
    assert_eq!(column["count"].as_f64(), Some(count));
    assert_eq!(column["sum"].as_f64(), Some(sum));
    assert_eq!(column["min"].as_f64(), Some(min));
    assert_eq!(column["max"].as_f64(), Some(max));
    let mean = column["mean"].as_f64().unwrap();
    assert!((mean - sum / count).abs() < 1e-9 * mean.abs(), "{mean}");

    // Two columns: correlation of quantity and line price.
    let out = h
        .call_ok(
            "analyze",
            json!({
                "query": { "sql": "SELECT quantity, quantity * unit_price_cents AS line FROM order_items" },
                "operations": [{ "op": "correlation" }]
            }),
        )
        .await;
    assert_eq!(out["correlation"]["columns"], json!(["quantity", "line"]));

    // Text columns are not numbers; a cut-off result is refused; SQL errors pass through.
    let text = h
        .call_err(
            "analyze",
            json!({ "query": { "sql": "SELECT first_name FROM customers" } }),
        )
        .await;
    assert!(
        text.contains("not a number") && text.contains("first_name"),
        "{text}"
    );
    let text = h
        .call_err(
            "analyze",
            json!({ "query": { "sql": "SELECT total_cents FROM orders", "database": "small" } }),
        )
        .await;
    assert!(text.contains("more than 10 rows"), "{text}");
    let text = h
        .call_err(
            "analyze",
            json!({ "query": { "sql": "DELETE FROM orders" } }),
        )
        .await;
    assert!(text.contains("rejected"), "{text}");
    let text = h
        .call_err(
            "analyze",
            json!({ "query": { "sql": "SELECT total_cents FROM orders WHERE id < 0" } }),
        )
        .await;
    assert!(text.contains("no rows"), "{text}");
}

/// `analyze` reads on its own connections: reads whose calls are dropped give their
/// connections back (more of them than the pool has connections leave it serving), and a
/// read over the statement timeout is interrupted like the query tool's.
#[tokio::test]
async fn analyze_reads_are_cancelled_and_interrupted_without_losing_connections() {
    let (_dir, h) = harness().await;
    let endless = json!({ "query": {
        "sql": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) \
                SELECT count(*) FROM n",
        "database": "small"
    }});
    let connections = DatabaseEntry::default().max_connections as usize;
    for _ in 0..=connections {
        let dropped = tokio::time::timeout(
            Duration::from_millis(10),
            h.call("analyze", endless.clone()),
        )
        .await;
        assert!(
            dropped.is_err(),
            "the read ends before its timeout: {dropped:?}"
        );
    }
    let result = tokio::time::timeout(Duration::from_secs(5), h.call("analyze", endless))
        .await
        .expect("a connection is free again");
    let failure = &result["_meta"]["io.keel/failure"];
    assert_eq!(failure["kind"], "timed_out", "{result}");
    let out = h
        .call_ok(
            "analyze",
            json!({ "query": {
                "sql": "SELECT 1.5 AS x UNION ALL SELECT 2.5",
                "database": "small"
            }}),
        )
        .await;
    assert_eq!(out["columns"][0]["count"].as_f64(), Some(2.0), "{out}");
}
