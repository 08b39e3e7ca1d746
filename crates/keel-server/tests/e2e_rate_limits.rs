//! End to end: a per-principal tool limit over real HTTP. Past its burst a call is answered
//! 429 with `Retry-After` and JSON-RPC -32029 naming when to come back; other methods pass.

mod support;

#[path = "../../keel-cache/tests/support/mod.rs"]
#[allow(dead_code, unreachable_pub, clippy::all)]
mod redis;

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::StatusCode;
use serde_json::json;
use support::{KeelHttp, http::Http, http::modern_call};

#[tokio::test]
async fn past_the_burst_a_call_is_refused_with_when_to_return() {
    let node = Http::over(
        KeelHttp::start_with_config(
            "[rate_limits.principal_tools.echo]\nper_second = 1\nburst = 2\n",
        )
        .await,
    );
    for id in 1..=2 {
        let r = node.modern(&modern_call(id, "hi")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    }
    let r = node.modern(&modern_call(3, "hi")).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text);
    let after: u64 = r
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!((1..=2).contains(&after), "{after}");
    let error = &r.json()["error"];
    assert_eq!(error["code"], -32029);
    assert_eq!(error["data"]["limit"], "principal_tool");
    assert!(error["data"]["retryAfterMs"].as_u64().unwrap() > 0);
    let list = json!({ "jsonrpc": "2.0", "id": 4, "method": "tools/list", "params": { "_meta": support::modern_meta() } });
    assert_eq!(node.modern(&list).await.status, StatusCode::OK);
    // The bucket refills.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        node.modern(&modern_call(5, "hi")).await.status,
        StatusCode::OK
    );
}

/// Calls `echo` on `node` from `clients` concurrent loops until `until`; how many passed and
/// how many were refused with the rate-limit error (any other answer fails the test).
async fn hammer(node: &Arc<Http>, clients: usize, until: Instant) -> (u64, u64) {
    let mut set = tokio::task::JoinSet::new();
    for c in 0..clients {
        let node = Arc::clone(node);
        set.spawn(async move {
            let (mut ok, mut limited) = (0, 0);
            let mut id = 0;
            while Instant::now() < until {
                id += 1;
                let r = node.modern(&modern_call(id, "x")).await;
                match r.status {
                    StatusCode::OK => ok += 1,
                    StatusCode::TOO_MANY_REQUESTS => {
                        assert_eq!(r.json()["error"]["code"], -32029, "{}", r.text);
                        limited += 1;
                    }
                    other => panic!("client {c}: {other}: {}", r.text),
                }
            }
            (ok, limited)
        });
    }
    let (mut ok, mut limited) = (0, 0);
    while let Some(r) = set.join_next().await {
        let (o, l) = r.expect("client task");
        ok += o;
        limited += l;
    }
    (ok, limited)
}

fn shared_config(redis_url: &str, on_failure: &str) -> String {
    format!(
        "[rate_limits.tools.echo]\nper_second = 100\nburst = 10\n\
         [rate_limits.redis]\nurl = \"{redis_url}\"\non_failure = \"{on_failure}\"\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_sharing_one_redis_hold_one_limit_within_five_percent() {
    let redis = redis::RedisServer::start();
    let config = shared_config(&redis.url(), "refuse");
    let a = Arc::new(Http::over(KeelHttp::start_with_config(&config).await));
    let b = Arc::new(Http::over(KeelHttp::start_with_config(&config).await));

    let seconds = 4.0;
    let started = Instant::now();
    let until = started + Duration::from_secs_f64(seconds);
    let (on_a, on_b) = tokio::join!(hammer(&a, 4, until), hammer(&b, 4, until));
    let elapsed = started.elapsed().as_secs_f64();
    let passed = on_a.0 + on_b.0;
    // The burst, then 100 a second, across both nodes together.
    let allowed = 10.0 + 100.0 * elapsed;
    let ratio = passed as f64 / allowed;
    eprintln!(
        "passed {passed} of {} in {elapsed:.2} s (a {on_a:?}, b {on_b:?}): {ratio:.3} of the limit",
        passed + on_a.1 + on_b.1
    );
    assert!(
        (0.95..=1.05).contains(&ratio),
        "{passed} calls passed where the shared limit allows {allowed:.0}"
    );
    // Both nodes were offered far more than the limit, and both took part in it.
    assert!(on_a.1 > 0 && on_b.1 > 0 && on_a.0 > 0 && on_b.0 > 0);
    // A refused bucket is refused locally until its wait has passed: the flood past the
    // limit reached Redis a fraction of the times it reached the nodes.
    let stats = redis.cli(&["INFO", "commandstats"]);
    let checks: u64 = stats
        .lines()
        .filter(|l| l.starts_with("cmdstat_evalsha:") || l.starts_with("cmdstat_eval:"))
        .filter_map(|l| {
            l.split("calls=")
                .nth(1)?
                .split(',')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum();
    let offered = passed + on_a.1 + on_b.1;
    eprintln!("{checks} checks reached Redis for {offered} calls");
    assert!(checks > 0 && checks * 4 < offered, "{checks} of {offered}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_gone_each_node_does_what_its_configuration_says() {
    let mut redis = redis::RedisServer::start();
    let url = redis.url();
    let refuse = Http::over(KeelHttp::start_with_config(&shared_config(&url, "refuse")).await);
    let allow = Http::over(KeelHttp::start_with_config(&shared_config(&url, "allow")).await);
    let local = Http::over(KeelHttp::start_with_config(&shared_config(&url, "local")).await);
    for node in [&refuse, &allow, &local] {
        assert_eq!(
            node.modern(&modern_call(1, "up")).await.status,
            StatusCode::OK
        );
    }
    redis.kill();

    // Fail closed: refused, saying the limiter is unavailable and when to try again.
    let r = refuse.modern(&modern_call(2, "down")).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text);
    assert_eq!(r.json()["error"]["data"]["limit"], "unavailable");
    assert_eq!(r.header("retry-after"), Some("1"));
    // Other methods are not limited, so they still pass.
    let list = json!({ "jsonrpc": "2.0", "id": 3, "method": "tools/list", "params": { "_meta": support::modern_meta() } });
    assert_eq!(refuse.modern(&list).await.status, StatusCode::OK);

    // Fail open: more than the burst passes at once.
    for id in 0..30 {
        let r = allow.modern(&modern_call(id, "open")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    }

    // Local: the node's own buckets hold (burst 10, then refused).
    let mut statuses = Vec::new();
    for id in 0..30 {
        statuses.push(local.modern(&modern_call(id, "local")).await.status);
    }
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert!(refused >= 10, "{statuses:?}");

    // Redis back: the shared buckets are used again.
    redis.restart();
    within_secs(20, || async {
        let r = refuse.modern(&modern_call(9, "back")).await;
        r.status == StatusCode::OK
    })
    .await;
}

/// Polls `check` until it holds, for at most `secs` seconds.
async fn within_secs<F, Fut>(secs: u64, check: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = bool>,
{
    let until = Instant::now() + Duration::from_secs(secs);
    while !check().await {
        assert!(Instant::now() < until, "not within {secs} s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
