//! End to end: a burst of identical calls of a slow cached tool, each on its own HTTP
//! connection, runs the tool once and answers every caller as soon as that one run ends.
//! `cargo test --release -p keel-server --test e2e_flight -- --nocapture` prints the
//! latency distribution recorded in BENCHMARKS.md.

mod support;

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering::SeqCst},
    },
    time::{Duration, Instant},
};

use keel_core::{CachePolicy, CallToolResult, Registry, ToolBuilder};
use keel_server::{Config, Extras};
use serde_json::json;
use support::{raw::RawConn, request, with_modern_meta, within};
use tokio_util::sync::CancellationToken;

/// How long the tool works.
const WORK: Duration = Duration::from_millis(100);

/// Calls in the burst: 1,000, fewer when the open-file limit cannot hold two descriptors per
/// call (client and server ends live in this process) plus a margin.
fn burst_size() -> usize {
    let limit = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|l| {
            l.lines()
                .find(|l| l.starts_with("Max open files"))?
                .split_whitespace()
                .nth(3)?
                .parse::<usize>()
                .ok()
        })
        .unwrap_or(1024);
    1000.min(limit.saturating_sub(200) / 2)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_identical_calls_runs_the_tool_once() {
    let runs = Arc::new(AtomicU32::new(0));
    let counted = Arc::clone(&runs);
    let slow = ToolBuilder::new("slow", json!({ "type": "object" }))
        .cache(CachePolicy::new(Duration::from_secs(60)))
        .handler(move |_, _| {
            counted.fetch_add(1, SeqCst);
            async {
                tokio::time::sleep(WORK).await;
                Ok(CallToolResult::text("done once"))
            }
        });
    let registry = Registry::builder().tool(slow).build().expect("registry");
    let mut config = Config::default();
    config.http.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    let server = keel_server::Server::new(config.clone(), registry).expect("server");
    let dispatcher = server.dispatcher().clone();
    let listener = tokio::net::TcpListener::bind(config.http.listen)
        .await
        .expect("bind");
    let port = listener.local_addr().expect("address").port();
    let stop = CancellationToken::new();
    let serving = {
        let stop = stop.clone();
        tokio::spawn(async move {
            keel_server::serve_http(listener, &config, dispatcher, Extras::default(), stop).await
        })
    };

    let n = burst_size();
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        conns.push(RawConn::connect(port).await.expect("connect"));
    }
    let body = request(1, "tools/call", with_modern_meta(json!({ "name": "slow" })));
    let start = Arc::new(tokio::sync::Barrier::new(n));
    let calls: Vec<_> = conns
        .into_iter()
        .map(|mut conn| {
            let (body, start) = (body.clone(), Arc::clone(&start));
            tokio::spawn(async move {
                start.wait().await;
                let sent = conn.send_call(&body).await.expect("send");
                let response = conn.read_response().await.expect("response");
                (sent.elapsed(), response)
            })
        })
        .collect();
    let began = Instant::now();
    let mut latencies = Vec::with_capacity(n);
    for call in calls {
        let (latency, response) = within("an answer", call).await.expect("call task");
        assert_eq!(response.status, 200, "{}", response.body);
        let result = &response.json()["result"];
        assert_eq!(result["content"][0]["text"], "done once", "{result}");
        latencies.push(latency);
    }
    let wall = began.elapsed();
    assert_eq!(
        runs.load(SeqCst),
        1,
        "{n} identical calls ran the tool once"
    );
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    eprintln!(
        "{n} identical calls of a {WORK:?} tool: 1 run; latency p50 {:?}, p99 {:?}, max {:?}; \
         burst answered in {wall:?}",
        at(0.5),
        at(0.99),
        at(1.0)
    );
    // Nobody waited for a second run (which would take twice the work).
    assert!(at(1.0) < WORK * 2 + Duration::from_secs(2), "{:?}", at(1.0));
    stop.cancel();
    let _ = serving.await;
}
