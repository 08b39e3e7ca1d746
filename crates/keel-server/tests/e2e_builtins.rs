//! End to end, real `keel` binary over Streamable HTTP: the built-in tools (`query`,
//! `analyze`, `embed`, `similarity`, `classify`) on their real engines, including bad input.

mod support;

use serde_json::{Value, json};
use support::http::*;
use support::{request, with_modern_meta};

fn call(id: i64, tool: &str, arguments: Value) -> Value {
    request(
        id,
        "tools/call",
        with_modern_meta(json!({ "name": tool, "arguments": arguments })),
    )
}

async fn tool_result(http: &Http, id: i64, tool: &str, arguments: Value) -> Value {
    http.modern(&call(id, tool, arguments))
        .await
        .result(&json!(id))
}

fn is_error(result: &Value) -> bool {
    result["isError"] == json!(true)
}

#[tokio::test]
async fn every_builtin_tool_is_listed() {
    let http = Http::start().await;
    let list = http
        .modern(&request(1, "tools/list", with_modern_meta(json!({}))))
        .await
        .result(&json!(1));
    let names: Vec<&str> = list["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    for tool in [
        "analyze",
        "classify",
        "echo",
        "embed",
        "query",
        "similarity",
    ] {
        assert!(names.contains(&tool), "{tool} missing from {names:?}");
    }
}

#[tokio::test]
async fn query_reads_the_demo_database_and_refuses_bad_sql() {
    let mut http = Http::start().await;
    let r = tool_result(
        &http,
        1,
        "query",
        json!({ "sql": "SELECT count(*) AS n FROM customers" }),
    )
    .await;
    assert!(!is_error(&r), "{r}");
    let n = &r["structuredContent"]["rows"][0][0];
    assert!(n.as_i64().is_some_and(|n| n > 0), "{r}");

    let r = tool_result(
        &http,
        2,
        "query",
        json!({ "sql": "SELECT email FROM customers WHERE id = ?", "params": [1] }),
    )
    .await;
    assert!(!is_error(&r), "{r}");
    assert_eq!(
        r["structuredContent"]["rows"].as_array().map(Vec::len),
        Some(1),
        "{r}"
    );

    for (id, bad) in [
        (3, json!({ "sql": "DELETE FROM customers" })),
        (4, json!({ "sql": "SELECT 1; SELECT 2" })),
        (5, json!({ "sql": "SELEKT nonsense" })),
        (
            6,
            json!({ "sql": "SELECT * FROM customers WHERE id = ?", "params": [] }),
        ),
        (7, json!({ "sql": "SELECT 1", "database": "no-such-db" })),
    ] {
        let r = tool_result(&http, id, "query", bad.clone()).await;
        assert!(is_error(&r), "{bad} should be a tool error: {r}");
    }
    http.assert_alive().await;
}

#[tokio::test]
async fn analyze_computes_exact_statistics_and_refuses_bad_data() {
    let mut http = Http::start().await;
    let r = tool_result(
        &http,
        1,
        "analyze",
        json!({ "values": [1.0, 2.0, 3.0, 4.0], "operations": [{ "op": "mean" }, { "op": "median" }] }),
    )
    .await;
    assert!(!is_error(&r), "{r}");
    let column = &r["structuredContent"]["columns"][0];
    assert_eq!(column["mean"], json!(2.5), "{r}");
    assert_eq!(column["median"], json!(2.5), "{r}");

    let r = tool_result(&http, 2, "analyze", json!({ "csv": "x\n1\nabc\n" })).await;
    assert!(is_error(&r), "non-numeric CSV: {r}");
    let r = tool_result(&http, 3, "analyze", json!({ "values": [] })).await;
    assert!(is_error(&r), "empty input: {r}");
    let r = tool_result(
        &http,
        4,
        "analyze",
        json!({ "query": { "sql": "SELECT total_cents FROM orders" }, "operations": [{ "op": "count" }] }),
    )
    .await;
    assert!(!is_error(&r), "analyze over query rows: {r}");
    http.assert_alive().await;
}

#[tokio::test]
async fn embeddings_answer_with_the_model_and_survive_huge_input() {
    let mut http = Http::start().await;
    let r = tool_result(&http, 1, "embed", json!({ "texts": ["hello world"] })).await;
    assert!(
        !is_error(&r),
        "embed failed (fetch the model with `keel model fetch` and set KEEL_MODEL_DIR): {r}"
    );
    assert_eq!(r["structuredContent"]["dimensions"], json!(384), "{r}");
    assert_eq!(
        r["structuredContent"]["embeddings"][0]
            .as_array()
            .map(Vec::len),
        Some(384)
    );

    let r = tool_result(
        &http,
        2,
        "classify",
        json!({ "text": "the cat sat on the mat", "labels": ["animals", "finance"] }),
    )
    .await;
    assert!(!is_error(&r), "{r}");
    let r = tool_result(
        &http,
        3,
        "similarity",
        json!({ "a": ["a dog"], "b": ["a puppy", "a spreadsheet"] }),
    )
    .await;
    assert!(!is_error(&r), "{r}");

    let huge = "word ".repeat(200_000);
    let r = tool_result(&http, 4, "embed", json!({ "texts": [huge] })).await;
    assert!(
        r["content"].is_array(),
        "a 1 MB text gets a result, not a crash: {r}"
    );
    let r = tool_result(&http, 5, "embed", json!({ "texts": 5 })).await;
    assert!(is_error(&r), "wrong type: {r}");
    http.assert_alive().await;
}

#[tokio::test]
async fn the_engines_pools_are_on_metrics_in_either_text_format() {
    let http = Http::start().await;
    let r = tool_result(&http, 1, "query", json!({ "sql": "SELECT 1" })).await;
    assert!(!is_error(&r), "{r}");
    let url = http.server.url.replace("/mcp", "/metrics");
    let classic = http.client.get(&url).send().await.unwrap();
    assert!(
        classic.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = classic.text().await.unwrap();
    for series in [
        "keel_db_pool_connections{database=\"main\",pool=\"query\",state=\"in_use\"} 0",
        "keel_db_pool_connections{database=\"main\",pool=\"query\",state=\"idle\"} ",
        "keel_db_pool_max_connections{database=\"main\",pool=\"query\"} ",
        "keel_db_pool_connections{database=\"main\",pool=\"analyze\",state=\"idle\"} ",
        "keel_db_pool_max_connections{database=\"main\",pool=\"analyze\"} ",
        "keel_analyze_pool_threads ",
        "# TYPE keel_tool_calls_total counter",
        "keel_tool_calls_total{tool=\"query\",workload=\"io\",outcome=\"ok\"} 1",
    ] {
        assert!(text.contains(series), "{series} missing from\n{text}");
    }
    // Prometheus asks for OpenMetrics and gets it.
    let open = http
        .client
        .get(&url)
        .header(
            "accept",
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        )
        .send()
        .await
        .unwrap();
    assert!(
        open.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text; version=1.0.0")
    );
    let text = open.text().await.unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert!(text.contains("# TYPE keel_tool_calls counter"), "{text}");
    assert!(
        text.contains("keel_tool_calls_total{tool=\"query\""),
        "{text}"
    );
}
