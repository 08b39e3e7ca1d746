//! End to end over stdio: the real `keel serve --stdio` process, driven through its stdin
//! and stdout pipes with newline-delimited JSON-RPC.

mod support;

use std::process::{ExitStatus, Stdio};

use serde_json::{Value, json};
use support::{
    LATEST_LEGACY, META_SERVER_INFO, echo_params, echoed_text, expect_error, expect_result,
    initialize, keel_command, notification, request, with_modern_meta, within,
};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines},
    process::{Child, ChildStdin, ChildStdout},
};

/// A `keel serve --stdio` process, killed when dropped.
struct KeelStdio {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Lines<BufReader<ChildStdout>>,
    /// Every line read from stdout so far.
    seen: Vec<String>,
}

impl KeelStdio {
    /// Starts the server with logs discarded.
    fn start() -> Self {
        Self::spawn("error", Stdio::null())
    }

    fn spawn(log: &str, stderr: Stdio) -> Self {
        let mut cmd = tokio::process::Command::from(keel_command(log));
        cmd.args(["serve", "--stdio"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .kill_on_drop(true);
        let mut child = cmd.spawn().expect("spawn keel serve --stdio");
        let stdin = child.stdin.take().expect("stdin pipe");
        let stdout = BufReader::new(child.stdout.take().expect("stdout pipe")).lines();
        Self {
            child,
            stdin: Some(stdin),
            stdout,
            seen: Vec::new(),
        }
    }

    async fn send_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin already closed");
        let mut bytes = line.as_bytes().to_vec();
        bytes.push(b'\n');
        within("writing to stdin", async {
            stdin.write_all(&bytes).await.expect("write stdin");
            stdin.flush().await.expect("flush stdin");
        })
        .await;
    }

    async fn send(&mut self, message: &Value) {
        self.send_line(&message.to_string()).await;
    }

    /// The next stdout line, parsed.
    async fn recv(&mut self) -> Value {
        let line = within("a line on stdout", self.stdout.next_line())
            .await
            .expect("read stdout")
            .expect("stdout closed while a message was expected");
        self.seen.push(line.clone());
        serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line:?}"))
    }

    /// Sends a request and reads the next message.
    async fn call(&mut self, message: &Value) -> Value {
        self.send(message).await;
        self.recv().await
    }

    /// Closes stdin, reads what is left on stdout and waits for the process to exit.
    async fn close(mut self) -> (ExitStatus, Vec<String>) {
        drop(self.stdin.take());
        while let Some(line) = within("stdout to close", self.stdout.next_line())
            .await
            .expect("read stdout")
        {
            self.seen.push(line);
        }
        let status = within("keel to exit", self.child.wait())
            .await
            .expect("wait for keel");
        (status, self.seen)
    }
}

fn modern_echo(id: impl Into<Value>, text: &str) -> Value {
    request(id, "tools/call", with_modern_meta(echo_params(text)))
}

#[tokio::test]
async fn modern_request_needs_no_initialize() {
    let mut keel = KeelStdio::start();
    let reply = keel.call(&modern_echo(1, "no handshake")).await;
    let result = expect_result(&reply, &json!(1));
    assert_eq!(echoed_text(result), "no handshake");
    assert_eq!(result["resultType"], "complete", "{result}");
    assert_eq!(
        result["_meta"][META_SERVER_INFO]["name"], "keel",
        "{result}"
    );

    let discover = keel
        .call(&request(2, "server/discover", with_modern_meta(json!({}))))
        .await;
    let result = expect_result(&discover, &json!(2));
    assert!(
        result["supportedVersions"]
            .as_array()
            .is_some_and(|v| v.contains(&json!("2026-07-28"))),
        "{result}"
    );
}

#[tokio::test]
async fn legacy_initialize_then_tools_call() {
    let mut keel = KeelStdio::start();
    let init = keel.call(&initialize(1, LATEST_LEGACY)).await;
    let result = expect_result(&init, &json!(1));
    assert_eq!(result["protocolVersion"], LATEST_LEGACY);
    assert_eq!(result["serverInfo"]["name"], "keel");

    // A notification gets no answer: the next line answers the ping.
    keel.send(&notification("notifications/initialized")).await;
    let ping = keel.call(&request(2, "ping", json!({}))).await;
    assert_eq!(expect_result(&ping, &json!(2)), &json!({}));

    let list = keel.call(&request(3, "tools/list", json!({}))).await;
    let result = expect_result(&list, &json!(3));
    assert!(
        result["tools"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t["name"] == "echo")),
        "{result}"
    );

    let call = keel
        .call(&request(4, "tools/call", echo_params("over stdio")))
        .await;
    let result = expect_result(&call, &json!(4));
    assert_eq!(echoed_text(result), "over stdio");
    assert!(result.get("resultType").is_none(), "{result}");
}

#[tokio::test]
async fn batches_are_served_for_2025_03_26_sessions_only() {
    let mut keel = KeelStdio::start();
    keel.call(&initialize(1, "2025-03-26")).await;
    keel.send(&notification("notifications/initialized")).await;
    let batch = json!([
        request(2, "tools/call", echo_params("one")),
        notification("notifications/initialized"),
        request(3, "ping", json!({})),
        request(4, "no/such/method", json!({})),
    ]);
    let reply = keel.call(&batch).await;
    let answers = reply
        .as_array()
        .unwrap_or_else(|| panic!("an array: {reply}"));
    assert_eq!(answers.len(), 3, "one answer per request: {reply}");
    let by_id = |id: i64| {
        answers
            .iter()
            .find(|a| a["id"] == id)
            .unwrap_or_else(|| panic!("no answer for {id}: {reply}"))
    };
    assert_eq!(echoed_text(expect_result(by_id(2), &json!(2))), "one");
    assert_eq!(expect_result(by_id(3), &json!(3)), &json!({}));
    expect_error(by_id(4), -32601, &json!(4));

    let mut newer = KeelStdio::start();
    newer.call(&initialize(1, LATEST_LEGACY)).await;
    let refused = newer.call(&json!([request(2, "ping", json!({}))])).await;
    expect_error(&refused, -32600, &Value::Null);
}

#[tokio::test]
async fn request_before_initialize_is_an_invalid_request_with_the_same_id() {
    let mut keel = KeelStdio::start();
    let early = keel.call(&request("early", "tools/list", json!({}))).await;
    expect_error(&early, -32600, &json!("early"));
    let early = keel
        .call(&request(7, "tools/call", echo_params("too soon")))
        .await;
    expect_error(&early, -32600, &json!(7));
    // The process keeps serving.
    let reply = keel.call(&modern_echo(8, "after")).await;
    assert_eq!(echoed_text(expect_result(&reply, &json!(8))), "after");
}

#[tokio::test]
async fn malformed_line_is_a_parse_error_and_reading_continues() {
    let mut keel = KeelStdio::start();
    keel.send_line(r#"{"jsonrpc":"2.0","id":1,"method":"#).await;
    let error = keel.recv().await;
    expect_error(&error, -32700, &Value::Null);

    keel.send_line(r#"{"foo":1}"#).await;
    let error = keel.recv().await;
    expect_error(&error, -32600, &Value::Null);

    let reply = keel.call(&modern_echo(2, "still reading")).await;
    assert_eq!(
        echoed_text(expect_result(&reply, &json!(2))),
        "still reading"
    );
}

/// The transport's longest accepted line.
#[cfg(target_os = "linux")]
const MAX_LINE: u64 = 16 * 1024 * 1024;

/// Peak resident memory (`VmHWM`) of a process, in bytes.
#[cfg(target_os = "linux")]
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no VmHWM in {status}"));
    kib * 1024
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn endless_line_is_refused_in_bounded_memory_and_the_next_message_served() {
    let mut keel = KeelStdio::start();
    let pid = keel.child.id().expect("keel pid");
    // The baseline is taken once the process has served a request.
    keel.call(&modern_echo(1, "before")).await;
    let baseline = peak_rss(pid);

    // 200 MiB without a newline, written a chunk at a time while the server reads.
    let chunk = vec![b'x'; 1024 * 1024];
    let stdin = keel.stdin.as_mut().expect("stdin open");
    within("writing an oversized line", async {
        for _ in 0..200 {
            stdin.write_all(&chunk).await.expect("write stdin");
        }
        stdin.write_all(b"\n").await.expect("write stdin");
        stdin.flush().await.expect("flush stdin");
    })
    .await;
    let refused = keel.recv().await;
    let error = expect_error(&refused, -32600, &Value::Null);
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains(&MAX_LINE.to_string())),
        "the message names the limit: {refused}"
    );
    let reply = keel.call(&modern_echo(2, "after")).await;
    assert_eq!(echoed_text(expect_result(&reply, &json!(2))), "after");

    let peak = peak_rss(pid);
    let mib = |b: u64| b / (1024 * 1024);
    assert!(
        peak < baseline + 4 * MAX_LINE,
        "peak RSS {} MiB after a baseline of {} MiB: the line was buffered",
        mib(peak),
        mib(baseline)
    );
    // Nothing more was answered.
    let (status, lines) = keel.close().await;
    assert!(status.success(), "exit status {status}");
    assert_eq!(lines.len(), 3, "{lines:#?}");
}

#[tokio::test]
async fn stdout_carries_only_jsonrpc_messages() {
    // Verbose logging, so anything that leaked onto stdout would show.
    let mut keel = KeelStdio::spawn("trace", Stdio::piped());
    let mut stderr = keel.child.stderr.take().expect("stderr pipe");
    let logs = tokio::spawn(async move {
        let mut all = Vec::new();
        let _ = stderr.read_to_end(&mut all).await;
        all
    });

    keel.call(&modern_echo(1, "a")).await;
    keel.send_line("not json at all").await;
    keel.recv().await;
    keel.call(&initialize(2, LATEST_LEGACY)).await;
    keel.send(&notification("notifications/initialized")).await;
    keel.call(&request(3, "tools/list", json!({}))).await;
    keel.call(&request(4, "tools/call", echo_params("b"))).await;
    keel.call(&request(
        5,
        "tools/call",
        json!({ "name": "nope", "arguments": {} }),
    ))
    .await;
    keel.call(&request(6, "no/such/method", json!({}))).await;

    let (status, lines) = keel.close().await;
    assert!(status.success(), "exit status {status}");
    assert_eq!(lines.len(), 7, "one line per answer expected: {lines:#?}");
    for line in &lines {
        let message: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line:?}"));
        assert_eq!(message["jsonrpc"], "2.0", "{line}");
        assert!(message.get("id").is_some(), "{line}");
        assert!(
            message.get("result").is_some() != message.get("error").is_some(),
            "exactly one of result and error: {line}"
        );
    }
    let logs = within("stderr to close", logs).await.expect("stderr task");
    assert!(!logs.is_empty(), "logs were expected on stderr");
}

#[tokio::test]
async fn closing_stdin_makes_the_process_exit_zero() {
    let mut keel = KeelStdio::start();
    let reply = keel.call(&modern_echo(1, "bye")).await;
    assert_eq!(echoed_text(expect_result(&reply, &json!(1))), "bye");
    let (status, lines) = keel.close().await;
    assert_eq!(status.code(), Some(0), "exit status {status}");
    assert_eq!(lines.len(), 1, "nothing after the last answer: {lines:#?}");
}

#[tokio::test]
async fn closing_stdin_of_an_idle_process_exits_zero() {
    let keel = KeelStdio::start();
    let (status, lines) = keel.close().await;
    assert_eq!(status.code(), Some(0), "exit status {status}");
    assert!(lines.is_empty(), "unexpected output: {lines:#?}");
}

#[tokio::test]
async fn builtin_tools_answer_over_stdio() {
    let mut keel = KeelStdio::start();
    let call = |id: i64, tool: &str, arguments: Value| {
        request(
            id,
            "tools/call",
            with_modern_meta(json!({ "name": tool, "arguments": arguments })),
        )
    };
    let reply = keel
        .call(&call(
            1,
            "query",
            json!({ "sql": "SELECT count(*) FROM products" }),
        ))
        .await;
    let result = expect_result(&reply, &json!(1));
    assert_eq!(result["isError"], json!(false), "{result}");
    assert!(
        result["structuredContent"]["rows"][0][0]
            .as_i64()
            .is_some_and(|n| n > 0),
        "{result}"
    );

    let reply = keel
        .call(&call(
            2,
            "query",
            json!({ "sql": "UPDATE products SET price_cents = 1" }),
        ))
        .await;
    assert_eq!(
        expect_result(&reply, &json!(2))["isError"],
        json!(true),
        "writes are refused"
    );

    let reply = keel
        .call(&call(
            3,
            "analyze",
            json!({ "values": [2.0, 4.0], "operations": [{ "op": "sum" }] }),
        ))
        .await;
    let result = expect_result(&reply, &json!(3));
    assert_eq!(
        result["structuredContent"]["columns"][0]["sum"],
        json!(6.0),
        "{result}"
    );

    let reply = keel
        .call(&call(4, "embed", json!({ "texts": ["stdio"] })))
        .await;
    let result = expect_result(&reply, &json!(4));
    assert_eq!(
        result["structuredContent"]["dimensions"],
        json!(384),
        "needs the model (KEEL_MODEL_DIR): {result}"
    );
}
