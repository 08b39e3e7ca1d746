//! End to end: two real `keel serve` processes sharing one real Redis as the second cache
//! level — a result computed on one node answers the other, an invalidation on one node
//! reaches the other, and Redis killed under load fails no call.

mod support;

#[path = "../../keel-cache/tests/support/mod.rs"]
#[allow(dead_code, unreachable_pub, clippy::all)]
mod redis;

use std::time::Duration;

use serde_json::{Value, json};
use support::{KeelHttp, http::Http, keel_bench, modern_meta, within};

const TOKEN: &str = "an-admin-token-for-tests";

fn config(redis_url: &str) -> String {
    format!(
        "[cache]\nadmin_token = \"{TOKEN}\"\n[cache.redis]\nurl = \"{redis_url}\"\n\
         op_timeout_ms = 50\nbreaker_open_ms = 200\n"
    )
}

fn analyze(id: i64, values: &[i64]) -> Value {
    json!({
        "jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {
            "name": "analyze",
            "arguments": { "values": values, "operations": [{ "op": "mean" }] },
            "_meta": modern_meta(),
        }
    })
}

/// One sample of `/metrics` (0 when absent).
async fn metric(node: &Http, series: &str) -> f64 {
    let url = format!("http://127.0.0.1:{}/metrics", node.server.port);
    let text = within("GET /metrics", async {
        reqwest::get(&url).await?.text().await
    })
    .await
    .expect("GET /metrics");
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

/// Waits until the node follows Redis (connected and resynced).
async fn connected(node: &Http) {
    within("the node to connect to Redis", async {
        while metric(node, "keel_cache_l2_connected").await < 1.0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

/// Waits until the node's writes to Redis (made in the background, after the answer) number
/// `n`: another node can only read what has landed.
async fn written(node: &Http, n: f64) {
    within("the node's Redis writes to land", async {
        while metric(node, "keel_cache_level_inserts_total{level=\"l2\"}").await < n {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

async fn mean(node: &Http, id: i64, values: &[i64]) -> Value {
    let reply = node.modern(&analyze(id, values)).await;
    let result = reply.result(&json!(id));
    assert_eq!(result["isError"], false, "{result}");
    result["structuredContent"]["columns"][0]["mean"].clone()
}

async fn invalidate(node: &Http, token: Option<&str>, body: &Value) -> reqwest::StatusCode {
    let url = format!(
        "http://127.0.0.1:{}/admin/cache/invalidate",
        node.server.port
    );
    let mut rb = reqwest::Client::new().post(&url).json(body);
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    within("POST invalidate", rb.send())
        .await
        .expect("invalidate")
        .status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_share_results_and_invalidations_through_redis() {
    let redis = redis::RedisServer::start();
    let a = Http::over(KeelHttp::start_with_config(&config(&redis.url())).await);
    let b = Http::over(KeelHttp::start_with_config(&config(&redis.url())).await);
    connected(&a).await;
    connected(&b).await;

    assert_eq!(mean(&a, 1, &[1, 2, 3]).await, json!(2.0));
    assert_eq!(metric(&a, "keel_cache_computed_total").await, 1.0);
    written(&a, 1.0).await;
    // Node B never ran it: the answer came from Redis, and now lives in its L1 too.
    assert_eq!(mean(&b, 2, &[1, 2, 3]).await, json!(2.0));
    assert_eq!(mean(&b, 3, &[1, 2, 3]).await, json!(2.0));
    assert_eq!(metric(&b, "keel_cache_computed_total").await, 0.0);
    assert_eq!(
        metric(&b, "keel_cache_level_hits_total{level=\"l2\"}").await,
        1.0
    );
    assert_eq!(
        metric(&b, "keel_cache_level_hits_total{level=\"l1\"}").await,
        1.0
    );
    // The same counters as a resource.
    let read = json!({
        "jsonrpc": "2.0", "id": 9, "method": "resources/read",
        "params": { "uri": "keel://cache/stats", "_meta": modern_meta() }
    });
    let contents = &b.modern(&read).await.result(&json!(9))["contents"][0];
    assert_eq!(contents["mimeType"], "application/json");
    let stats: Value =
        serde_json::from_str(contents["text"].as_str().expect("text")).expect("JSON stats");
    assert_eq!(stats["levels"]["l2"]["hits"], 1, "{stats}");
    assert_eq!(stats["levels"]["l1"]["hits"], 1, "{stats}");
    assert_eq!(
        stats["levels"]["namespaces"]["analyze"]["hits"], 2,
        "{stats}"
    );
    assert_eq!(stats["hitRate"], 1.0, "{stats}");
    assert_eq!(
        stats["levels"]["hottest"][0]["key"].as_str().map(str::len),
        Some(64)
    );

    // The admin endpoint: a token is required; invalidating on A reaches B's L1.
    let body = json!({ "tool": "analyze" });
    assert_eq!(invalidate(&a, None, &body).await, 401);
    assert_eq!(
        invalidate(&a, Some("wrong-token-of-some-length"), &body).await,
        401
    );
    assert_eq!(
        invalidate(&a, Some(TOKEN), &json!({ "tool": "a", "tag": "b" })).await,
        400
    );
    assert_eq!(invalidate(&a, Some(TOKEN), &body).await, 200);
    within("B to recompute after the invalidation", async {
        loop {
            mean(&b, 4, &[1, 2, 3]).await;
            if metric(&b, "keel_cache_computed_total").await >= 1.0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_share_results_and_invalidations_through_a_redis_cluster() {
    let cluster = redis::RedisCluster::start();
    let nodes = cluster
        .urls()
        .iter()
        .map(|u| format!("\"{u}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let config = format!(
        "[cache]\nadmin_token = \"{TOKEN}\"\n[cache.redis]\ncluster = [{nodes}]\n\
         op_timeout_ms = 200\n"
    );
    let a = Http::over(KeelHttp::start_with_config(&config).await);
    let b = Http::over(KeelHttp::start_with_config(&config).await);
    connected(&a).await;
    connected(&b).await;

    // Distinct inputs spread their keys over the cluster's slots.
    for n in 1..=8u8 {
        let v = i64::from(n);
        let values = [v, v + 1, v + 2];
        assert_eq!(mean(&a, 100 + v, &values).await, json!(f64::from(n + 1)));
        written(&a, f64::from(n)).await;
        assert_eq!(mean(&b, 200 + v, &values).await, json!(f64::from(n + 1)));
    }
    assert_eq!(metric(&a, "keel_cache_computed_total").await, 8.0);
    assert_eq!(
        metric(&b, "keel_cache_computed_total").await,
        0.0,
        "B read A's results"
    );
    assert_eq!(
        metric(&b, "keel_cache_level_hits_total{level=\"l2\"}").await,
        8.0
    );

    assert_eq!(
        invalidate(&a, Some(TOKEN), &json!({ "tool": "analyze" })).await,
        200
    );
    within("B to recompute after the invalidation", async {
        loop {
            mean(&b, 300, &[1, 2, 3]).await;
            if metric(&b, "keel_cache_computed_total").await >= 1.0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

/// `keel bench` on cached `analyze` calls over `keys` distinct inputs; the JSON report.
async fn bench(url: &str, seconds: u32, keys: u32) -> Value {
    let dir = tempfile::tempdir().expect("temp dir");
    let workload = dir.path().join("w.toml");
    std::fs::write(
        &workload,
        format!(
            "[[request]]\ntool = \"analyze\"\n\
             args = {{ csv = \"x\\n{{key}}\\n2\\n3\", operations = [{{ op = \"mean\" }}] }}\n\
             keys = {keys}\n"
        ),
    )
    .expect("workload");
    let seconds = format!("{seconds}s");
    let workload = workload.display().to_string();
    keel_bench(url, &["-c", "4", "-d", &seconds, "--workload", &workload]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_under_load_fails_no_call_and_the_cache_recovers() {
    let mut redis = redis::RedisServer::start();
    let node = Http::over(KeelHttp::start_with_config(&config(&redis.url())).await);
    connected(&node).await;
    let url = node.server.url.clone();
    // Keys enough that most calls miss L1 and go to Redis, before and after it dies.
    let load = tokio::spawn(async move { bench(&url, 4, 1_000_000).await });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    redis.kill();
    let report = load.await.expect("bench task");
    assert!(report["ok"].as_u64().unwrap() > 0, "{report}");
    assert_eq!(report["errors"]["total"], 0, "{report}");
    assert!(metric(&node, "keel_cache_l2_errors_total").await >= 1.0);

    // Redis back on the same port: the node reconnects by itself and writes reach it again.
    redis.restart();
    connected(&node).await;
    mean(&node, 9, &[7, 8, 9]).await;
    within("the result to reach Redis", async {
        while redis.cli(&["DBSIZE"]).trim() == "0" {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}
