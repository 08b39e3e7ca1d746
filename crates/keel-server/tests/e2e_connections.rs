//! End to end, real `keel` binary: connections that never finish a request head are closed
//! after the header timeout, idle keep-alive connections after the idle timeout, and
//! connections over the cap are refused at once, while other clients are served throughout.

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::{
    KeelHttp, echoed_text,
    http::{Http, modern_call},
    raw::RawConn,
    within,
};
use tokio::task::JoinSet;

const CONFIG: &str =
    "[http]\nheader_read_timeout_secs = 2\nidle_timeout_secs = 4\nmax_connections = 1000\n";

/// A request head cut short: the server waits for the rest.
const PARTIAL_HEAD: &[u8] = b"POST /mcp HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-ty";

async fn half_open(port: u16, n: usize) -> Vec<RawConn> {
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        let mut c = RawConn::connect(port).await.expect("connect");
        c.write(PARTIAL_HEAD).await.expect("send a partial head");
        conns.push(c);
    }
    conns
}

/// How many of `conns` the server closes within `limit`.
async fn closed_within(conns: Vec<RawConn>, limit: Duration) -> usize {
    let mut set = JoinSet::new();
    for mut c in conns {
        set.spawn(async move {
            tokio::time::timeout(limit, c.closed_by_server())
                .await
                .unwrap_or(false)
        });
    }
    let mut closed = 0;
    while let Some(r) = set.join_next().await {
        closed += usize::from(r.expect("read task"));
    }
    closed
}

async fn echo_ok(http: &Http, id: i64) {
    let r = http.modern(&modern_call(id, "through")).await;
    assert_eq!(echoed_text(&r.result(&json!(id))), "through");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn half_open_connections_are_closed_and_others_are_served_throughout() {
    let http = Http {
        server: KeelHttp::start_with_config(CONFIG).await,
        client: reqwest::Client::new(),
    };
    let port = http.server.port;
    echo_ok(&http, 0).await;
    let baseline = http.server.open_fds();

    let opened = Instant::now();
    let stuck = half_open(port, 900).await;
    for id in 1..=5 {
        echo_ok(&http, id).await;
    }
    // The echoes ride the client's kept-alive connection, so they do not prove the accept
    // loop has drained the backlog: wait for it, before the first header timeout (2 s).
    let accepted_by = opened + Duration::from_millis(1900);
    let mut fds = http.server.open_fds();
    while fds < baseline + 800 && Instant::now() < accepted_by {
        tokio::time::sleep(Duration::from_millis(20)).await;
        fds = http.server.open_fds();
    }
    assert!(
        fds >= baseline + 800,
        "the half-open connections were not even accepted ({fds} descriptors vs {baseline})"
    );

    // Over the cap (1,000 with the client's own): refused at once, long before the
    // header timeout.
    let over = half_open(port, 300).await;
    let refused = closed_within(over, Duration::from_millis(800)).await;
    assert!(
        refused >= 150,
        "only {refused} of 300 connections over the cap were refused at once"
    );
    echo_ok(&http, 6).await;

    // The header timeout closes every half-open connection; the server keeps answering.
    let wait = Duration::from_secs(6).saturating_sub(opened.elapsed());
    let closed = closed_within(stuck, wait.max(Duration::from_secs(1))).await;
    assert_eq!(
        closed, 900,
        "half-open connections still open after the header timeout"
    );
    echo_ok(&http, 7).await;
    let settled = within("descriptors back to the baseline", async {
        loop {
            let fds = http.server.open_fds();
            if fds <= baseline + 5 {
                return fds;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(
        settled <= baseline + 5,
        "{settled} descriptors vs {baseline}"
    );

    // A fresh client is served once the cap has room again.
    let fresh = Http {
        server: http.server,
        client: reqwest::Client::new(),
    };
    echo_ok(&fresh, 8).await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_outlives_the_header_timeout_but_not_the_idle_timeout() {
    let server = KeelHttp::start_with_config(CONFIG).await;
    let mut conn = RawConn::connect(server.port).await.expect("connect");
    conn.send_call(&modern_call(1, "once")).await.expect("send");
    let r = conn.read_response().await.expect("answer");
    assert_eq!(r.status, 200, "{}", r.body);

    // Past the 2 s header timeout the connection is still usable...
    tokio::time::sleep(Duration::from_millis(2500)).await;
    conn.send_call(&modern_call(2, "twice"))
        .await
        .expect("send");
    let r = conn
        .read_response()
        .await
        .expect("kept alive past the header timeout");
    assert_eq!(r.status, 200, "{}", r.body);
    let idle_from = Instant::now();

    // ...and closed once idle for the 4 s idle timeout.
    assert!(
        within("the idle timeout", conn.closed_by_server()).await,
        "connection not closed"
    );
    let idle = idle_from.elapsed();
    assert!(
        idle >= Duration::from_millis(3500) && idle < Duration::from_secs(8),
        "closed after {idle:?} idle"
    );
}

#[tokio::test]
async fn a_body_that_never_arrives_whole_is_answered_408_and_its_connection_closed() {
    let server = KeelHttp::start_with_config(
        "[http]\nheader_read_timeout_secs = 2\nbody_read_timeout_secs = 1\n",
    )
    .await;
    let mut conn = RawConn::connect(server.port).await.expect("connect");
    // A whole head announcing 100 bytes, then only the first few of them.
    let sent = conn
        .write(
            b"POST /mcp HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n\
              accept: application/json, text/event-stream\r\nmcp-protocol-version: 2026-07-28\r\n\
              content-length: 100\r\n\r\n{\"jsonrpc\":",
        )
        .await
        .expect("send");
    let r = within("the body timeout", conn.read_response())
        .await
        .expect("an answer");
    let waited = sent.elapsed();
    assert_eq!(r.status, 408, "{}", r.body);
    assert_eq!(r.json()["error"]["code"], json!(-32600), "{}", r.body);
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "answered after {waited:?}"
    );
    assert!(
        within("the close", conn.closed_by_server()).await,
        "connection left open"
    );
    // Others are served.
    let http = Http {
        server,
        client: reqwest::Client::new(),
    };
    echo_ok(&http, 1).await;
}
