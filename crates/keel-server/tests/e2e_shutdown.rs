//! End to end, real `keel` binary: SIGTERM during steady load, with a legacy GET stream and a
//! `subscriptions/listen` open. Requests sent before the signal are answered, later ones
//! are refused cleanly, streams end, in-flight calls finish (or are cancelled at the drain
//! deadline), and the process exits 0.

mod support;

use std::{
    process::Stdio,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use support::{
    KeelHttp, LATEST_LEGACY, MODERN, echo_params, echoed_text,
    http::{ACCEPT, Http, SESSION},
    keel_command,
    raw::{RawConn, RawResponse},
    request, with_modern_meta, within,
};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// The `query` call used as slow work: a recursive count that takes about a second here.
fn slow_query(id: i64, rows: u64) -> Value {
    let sql = format!(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {rows}) \
         SELECT sum(x) AS s FROM c"
    );
    request(
        id,
        "tools/call",
        with_modern_meta(json!({ "name": "query", "arguments": { "sql": sql } })),
    )
}

fn echo_call(id: i64, text: &str) -> Value {
    request(id, "tools/call", with_modern_meta(echo_params(text)))
}

/// How a request sent on a raw connection ended.
#[derive(Debug)]
enum Outcome {
    /// A 200 with the expected result.
    Answered,
    /// 503 with a JSON-RPC error and `Connection: close`.
    Refused,
    /// Anything else: a reset, a truncated or wrong response.
    Failed(String),
}

fn classify(reply: std::io::Result<RawResponse>, expected_text: &str) -> Outcome {
    let r = match reply {
        Ok(r) => r,
        Err(e) => return Outcome::Failed(format!("transport: {e}")),
    };
    match r.status {
        200 => {
            let body = r.json();
            let text = body["result"]["content"][0]["text"].as_str();
            if text == Some(expected_text) {
                Outcome::Answered
            } else {
                Outcome::Failed(format!("wrong answer: {body}"))
            }
        }
        503 if r.header("connection") == Some("close") && r.json()["error"]["code"].is_i64() => {
            Outcome::Refused
        }
        s => Outcome::Failed(format!("status {s}: {}", r.body)),
    }
}

/// One client calling `echo` back to back on one keep-alive connection until it is
/// refused or fails; every request with the instant its bytes were sent.
async fn steady_client(port: u16, n: usize, stop: Arc<AtomicBool>) -> Vec<(Instant, Outcome)> {
    let mut conn = RawConn::connect(port).await.expect("connect");
    let mut seen = Vec::new();
    for i in 0.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let text = format!("client {n} call {i}");
        let Ok(sent) = conn.send_call(&echo_call(i, &text)).await else {
            break;
        };
        let outcome = classify(conn.read_response().await, &text);
        let end = !matches!(outcome, Outcome::Answered);
        seen.push((sent, outcome));
        if end {
            break;
        }
    }
    seen
}

/// The SSE `data:` payloads of a stream's text.
fn sse_messages(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| !d.trim().is_empty())
        .map(|d| serde_json::from_str(d).unwrap_or_else(|e| panic!("bad SSE data ({e}): {d}")))
        .collect()
}

/// Reads a streamed response to its end: `Ok(text)` on a clean end, `Err` on a broken one.
async fn read_to_end(mut r: reqwest::Response, mut text: String) -> Result<String, String> {
    loop {
        match r.chunk().await {
            Ok(Some(c)) => text.push_str(&String::from_utf8_lossy(&c)),
            Ok(None) => return Ok(text),
            Err(e) => return Err(format!("{e} after {text:?}")),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_during_load_answers_what_was_sent_closes_streams_and_exits_zero() {
    let mut http = Http::start().await;
    let port = http.server.port;
    let url = http.server.url.clone();

    let mut probe = RawConn::connect(port).await.expect("connect probe");
    probe.send_get("/readyz").await.expect("send readyz");
    assert_eq!(probe.read_response().await.expect("readyz").status, 200);

    // A legacy session's standalone GET stream.
    let session = http.open_session().await;
    let get = within(
        "GET stream",
        http.client
            .get(&url)
            .header(SESSION, &session)
            .header("mcp-protocol-version", LATEST_LEGACY)
            .header("accept", "text/event-stream")
            .send(),
    )
    .await
    .expect("open the GET stream");
    assert_eq!(get.status(), 200);
    let get_stream = tokio::spawn(read_to_end(get, String::new()));

    // A modern subscription, acknowledged before the signal.
    let listen_body = request(
        "sub",
        "subscriptions/listen",
        with_modern_meta(json!({ "notifications": { "toolsListChanged": true } })),
    );
    let mut listen = within(
        "listen",
        http.client
            .post(&url)
            .header("content-type", "application/json")
            .header("accept", ACCEPT)
            .header("mcp-protocol-version", MODERN)
            .header("mcp-method", "subscriptions/listen")
            .body(listen_body.to_string())
            .send(),
    )
    .await
    .expect("open the listen stream");
    assert_eq!(listen.status(), 200);
    let mut acked = String::new();
    while !acked.contains("subscriptions/acknowledged") {
        let chunk = within("listen acknowledgement", listen.chunk())
            .await
            .expect("read listen")
            .expect("listen ended before its acknowledgement");
        acked.push_str(&String::from_utf8_lossy(&chunk));
    }
    let listen_stream = tokio::spawn(read_to_end(listen, acked));

    // Steady load, and two slow calls in flight when the signal comes.
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|n| tokio::spawn(steady_client(port, n, Arc::clone(&stop))))
        .collect();
    let mut slow = Vec::new();
    for id in 0..2 {
        let mut conn = RawConn::connect(port).await.expect("connect slow");
        conn.send_call(&slow_query(id, 3_000_000))
            .await
            .expect("send slow call");
        slow.push(tokio::spawn(async move { conn.read_response().await }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    let signal_at = Instant::now();
    http.server.terminate();

    // Readiness turns 503 while the drain runs (checked once the process is gone).
    let mut readiness = Err("/readyz answered 200 throughout".to_owned());
    for _ in 0..200 {
        let status = match probe.send_get("/readyz").await {
            Ok(_) => probe.read_response().await.map(|r| r.status),
            Err(e) => Err(e),
        };
        match status {
            Ok(200) => tokio::time::sleep(Duration::from_millis(5)).await,
            Ok(s) => {
                readiness = Ok(s);
                break;
            }
            Err(e) => {
                readiness = Err(format!("/readyz failed: {e}"));
                break;
            }
        }
    }

    let status = http
        .server
        .exit_within(Duration::from_secs(20))
        .await
        .expect("keel still running 20 s after SIGTERM");
    let took = signal_at.elapsed();
    stop.store(true, Ordering::Relaxed);
    assert!(status.success(), "keel exited with {status}");
    assert!(took < Duration::from_secs(10), "exit took {took:?}");
    assert_eq!(readiness, Ok(503), "readiness after SIGTERM");

    for s in slow {
        let r = within("slow call", s)
            .await
            .expect("slow task")
            .expect("slow call answered");
        assert_eq!(r.status, 200, "{}", r.body);
        let body = r.json();
        assert_eq!(body["result"]["isError"], false, "{body}");
    }
    let (mut before, mut refused) = (0, 0);
    for c in clients {
        for (sent, outcome) in within("load client", c).await.expect("load task") {
            match outcome {
                Outcome::Answered if sent < signal_at => before += 1,
                Outcome::Answered => {}
                Outcome::Refused if sent >= signal_at => refused += 1,
                Outcome::Refused => panic!(
                    "a request sent {:?} before the signal was refused",
                    signal_at - sent
                ),
                Outcome::Failed(why) => panic!(
                    "a request sent {} the signal failed: {why}",
                    if sent < signal_at { "before" } else { "after" }
                ),
            }
        }
    }
    assert!(before > 0, "no load before the signal");
    assert!(refused > 0, "no request after the signal was refused");

    within("GET stream end", get_stream)
        .await
        .expect("GET task")
        .expect("the GET stream broke instead of ending");
    let listen_text = within("listen end", listen_stream)
        .await
        .expect("listen task")
        .expect("the listen stream broke instead of ending");
    let last = sse_messages(&listen_text).pop().expect("listen messages");
    assert_eq!(
        last["id"], "sub",
        "listen ended without its response: {listen_text}"
    );
    assert_eq!(
        last["result"]["_meta"]["io.modelcontextprotocol/subscriptionId"], "sub",
        "{last}"
    );
}

#[tokio::test]
async fn work_past_the_drain_deadline_is_cancelled_and_the_process_exits_zero() {
    let mut server = KeelHttp::start_with_config("[shutdown]\ndrain_timeout_secs = 1\n").await;
    let mut conn = RawConn::connect(server.port).await.expect("connect");
    conn.send_call(&slow_query(1, 40_000_000))
        .await
        .expect("send slow call");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let signal_at = Instant::now();
    server.terminate();
    let status = server
        .exit_within(Duration::from_secs(20))
        .await
        .expect("keel still running 20 s after SIGTERM");
    assert!(status.success(), "keel exited with {status}");
    // The query would run for many seconds; the deadline cut it.
    let took = signal_at.elapsed();
    assert!(took < Duration::from_secs(4), "exit took {took:?}");
    assert!(
        conn.read_response().await.is_err(),
        "the cut call got an answer"
    );
}

#[tokio::test]
async fn sigterm_on_stdio_stops_reading_answers_in_flight_calls_and_exits_zero() {
    let mut cmd = tokio::process::Command::from(keel_command("error"));
    cmd.args(["serve", "--stdio"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("spawn keel serve --stdio");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut send = async |m: &Value| {
        stdin
            .write_all(format!("{m}\n").as_bytes())
            .await
            .expect("write stdin");
    };
    send(&echo_call(1, "before")).await;
    let line = within("echo", stdout.next_line())
        .await
        .expect("read")
        .expect("line");
    let reply: Value = serde_json::from_str(&line).expect("JSON");
    assert_eq!(echoed_text(&reply["result"]), "before");

    send(&slow_query(2, 3_000_000)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = child.id().expect("pid").to_string();
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status();
    assert!(kill.expect("run kill").success());
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Read no more: this line is never answered.
    send(&echo_call(3, "after")).await;

    let line = within("slow answer", stdout.next_line())
        .await
        .expect("read")
        .expect("stdout closed before the in-flight call was answered");
    let reply: Value = serde_json::from_str(&line).expect("JSON");
    assert_eq!(reply["id"], 2, "{reply}");
    assert_eq!(reply["result"]["isError"], false, "{reply}");
    let rest = within("stdout end", stdout.next_line())
        .await
        .expect("read");
    assert_eq!(rest, None, "a line read after the signal was served");
    let status = within("exit", child.wait()).await.expect("wait");
    assert!(status.success(), "keel exited with {status}");
}
