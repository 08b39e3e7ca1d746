//! End to end, with real processes: PostgreSQL frozen with `SIGSTOP` under `query` calls
//! (a hang, not a refusal) opens the `db:NAME` breaker, calls then fail fast naming the
//! dependency while other tools answer, readiness degrades, and the breaker closes within a
//! reset timeout of `SIGCONT`; the status page, `keel status`, the status resource and the
//! dependency metrics report it all.

mod support;

#[path = "../../keel-query/tests/support/mod.rs"]
#[allow(dead_code, unreachable_pub, clippy::all)]
mod pg;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{KeelHttp, http::Http, keel_command, modern_meta, within};

fn query(id: i64) -> Value {
    json!({
        "jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {
            "name": "query",
            "arguments": { "sql": "SELECT 1 AS one" },
            "_meta": modern_meta(),
        }
    })
}

/// Calls `query`; the result, and how long it took.
async fn timed_query(node: &Http, id: i64) -> (Value, Duration) {
    let started = Instant::now();
    let reply = node.modern(&query(id)).await;
    (reply.result(&json!(id)), started.elapsed())
}

fn failure(result: &Value) -> &Value {
    &result["_meta"]["io.keel/failure"]
}

async fn get(node: &Http, path: &str) -> (u16, String) {
    let url = format!("http://127.0.0.1:{}{path}", node.server.port);
    within(path, async {
        let r = reqwest::get(&url).await?;
        let status = r.status().as_u16();
        Ok::<_, reqwest::Error>((status, r.text().await?))
    })
    .await
    .expect("GET")
}

async fn status(node: &Http) -> Value {
    let (code, body) = get(node, "/status.json").await;
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).expect("status JSON")
}

fn breaker(status: &Value, dependency: &str) -> String {
    status["dependencies"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["name"] == dependency))
        .map_or_else(
            || "absent".into(),
            |d| d["breaker"].as_str().unwrap().to_owned(),
        )
}

const GUARDED: &str = "[status]\npage = true\n[health]\ninterval_ms = 200\ntimeout_ms = 300\n\
    [cache.tools.query]\nenabled = false\n[builtins.embed]\nenabled = false\n\
    [resilience.default]\ntimeout_ms = 1000\n[resilience.default.breaker]\nmin_calls = 4\n\
    failure_rate = 0.5\nreset_timeout_ms = 1000\nprobes = 1\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_postgres_opens_its_breaker_and_it_closes_after_resume() {
    let pg = pg::PgServer::start();
    let config = format!(
        "{GUARDED}[builtins.query]\n[[builtins.query.databases]]\nname = \"main\"\n\
         url = \"{}\"\nstatement_timeout_ms = 300\n",
        pg.url
    );
    let mut node = Http::over(KeelHttp::start_with_config(&config).await);
    let (ok, _) = timed_query(&node, 1).await;
    assert_eq!(ok["isError"], false, "{ok}");
    assert_eq!(node.readiness().await.0, "ready");

    pg.pause();
    // Calls time out at the statement timeout until the breaker has seen enough of them.
    let mut calls_to_open = 0;
    for id in 10..30 {
        let (result, _) = timed_query(&node, id).await;
        assert_eq!(result["isError"], true, "{result}");
        calls_to_open += 1;
        if failure(&result)["circuit"] == "open" {
            assert_eq!(failure(&result)["dependency"], "db:main");
            assert_eq!(failure(&result)["kind"], "dependency_unavailable");
            break;
        }
        assert!(
            ["timed_out", "dependency_unavailable"]
                .contains(&failure(&result)["kind"].as_str().unwrap_or("")),
            "{result}"
        );
    }
    assert!(
        calls_to_open <= 5,
        "the breaker opened after {calls_to_open} calls"
    );
    // Open: every call fails at once, naming the dependency and when it is tried again.
    for id in 40..45 {
        let (result, took) = timed_query(&node, id).await;
        assert!(took < Duration::from_millis(200), "{took:?}: {result}");
        assert_eq!(failure(&result)["dependency"], "db:main", "{result}");
    }
    // Other tools answer meanwhile.
    node.assert_alive().await;
    within("readiness to degrade", async {
        loop {
            let (state, degraded) = node.readiness().await;
            if state == "degraded" && degraded.iter().any(|d| d.starts_with("db:main")) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    let s = status(&node).await;
    assert_ne!(breaker(&s, "db:main"), "closed", "{s}");

    pg.resume();
    let resumed = Instant::now();
    within("a query to succeed after SIGCONT", async {
        let mut id = 100;
        loop {
            let (result, _) = timed_query(&node, id).await;
            if result["isError"] == false {
                break;
            }
            id += 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let recovered = resumed.elapsed();
    // One reset timeout (1 s) and the probe, with room for a loaded machine.
    assert!(
        recovered < Duration::from_secs(4),
        "recovered after {recovered:?}"
    );
    assert_eq!(breaker(&status(&node).await, "db:main"), "closed");
    within("readiness to return", async {
        while node.readiness().await.0 != "ready" {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;

    // The terminal view and the metrics tell the same story.
    let out = keel_command("error")
        .args(["status", &node.server.url])
        .output()
        .expect("run keel status");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("readiness: ready") && text.contains("db:main"),
        "{text}"
    );
    let (_, metrics) = get(&node, "/metrics").await;
    let opened = metrics
        .lines()
        .find_map(|l| {
            l.strip_prefix("keel_dependency_breaker_opened_total{dependency=\"db:main\"} ")
        })
        .expect("the breaker's counter");
    assert!(opened.parse::<u64>().unwrap() >= 1, "{opened}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_is_served_as_a_page_a_document_and_a_resource() {
    let node = Http::over(KeelHttp::start_with_config(GUARDED).await);
    let (_, _) = timed_query(&node, 1).await;
    let (code, page) = get(&node, "/status").await;
    assert_eq!(code, 200);
    assert!(page.contains("<title>Keel status</title>") && page.contains("status.json"));
    let s = status(&node).await;
    assert_eq!(s["readiness"], "ready", "{s}");
    assert_eq!(s["checks"]["mcp"]["ok"], true, "{s}");
    assert_eq!(s["checks"]["db:main"]["ok"], true, "{s}");
    assert_eq!(breaker(&s, "db:main"), "closed");
    assert!(
        s["admission"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["class"] == "io")
    );
    assert!(
        s["components"]["builtins"]["analyze"]["threads"]
            .as_u64()
            .unwrap()
            >= 1
    );
    let read = json!({
        "jsonrpc": "2.0", "id": 2, "method": "resources/read",
        "params": { "uri": "keel://status", "_meta": modern_meta() }
    });
    let result = node.modern(&read).await.result(&json!(2));
    let text = result["contents"][0]["text"].as_str().expect("text");
    let doc: Value = serde_json::from_str(text).expect("JSON");
    assert_eq!(doc["server"]["name"], "keel");

    // Off by default.
    let plain = Http::over(KeelHttp::start().await);
    assert_eq!(get(&plain, "/status").await.0, 404);
    assert_eq!(get(&plain, "/status.json").await.0, 404);
    let out = keel_command("error")
        .args(["status", &plain.server.url])
        .output()
        .expect("run keel status");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("[status] page = true"));
}
