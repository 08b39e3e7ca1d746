//! End to end over a loopback socket, server in process: legacy sessions' SSE streams carry
//! event ids and resume with `Last-Event-ID` after the connection goes, whether the tool let
//! go of it (SSE polling) or the client's network dropped it.

mod support;

use std::{net::SocketAddr, time::Duration};

use keel_core::{CallToolResult, Context, Registry, ToolBuilder};
use keel_server::{Config, Extras};
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{LATEST_LEGACY, initialize, notification, request, within};
use tokio_util::sync::CancellationToken;

const SESSION: &str = "mcp-session-id";

struct Served {
    url: String,
    client: reqwest::Client,
    shutdown: CancellationToken,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn no_args(name: &str) -> ToolBuilder {
    ToolBuilder::new(name, json!({ "type": "object", "properties": {} })).description(name)
}

async fn serve() -> Served {
    let registry = Registry::builder()
        .tool(
            no_args("release_then_answer").handler(|_, ctx: Context| async move {
                ctx.close_stream();
                tokio::time::sleep(Duration::from_millis(200)).await;
                Ok(CallToolResult::text("answered after release"))
            }),
        )
        .tool(
            no_args("progress_then_answer").handler(|_, ctx: Context| async move {
                ctx.progress(1.0, Some(2.0), Some("half"));
                tokio::time::sleep(Duration::from_millis(400)).await;
                ctx.progress(2.0, Some(2.0), Some("done"));
                Ok(CallToolResult::text("answered after drop"))
            }),
        )
        .build()
        .expect("registry");
    let mut config = Config::default();
    config.http.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    let dispatcher = keel_server::Server::new(config.clone(), registry)
        .dispatcher()
        .clone();
    let listener = tokio::net::TcpListener::bind(config.http.listen)
        .await
        .expect("bind");
    let url = format!(
        "http://{}{}",
        listener.local_addr().expect("address"),
        config.http.path
    );
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        keel_server::serve_http(listener, &config, dispatcher, Extras::default(), stop).await
    });
    Served {
        url,
        client: reqwest::Client::new(),
        shutdown,
    }
}

impl Served {
    fn post(&self, session: Option<&str>, version: &str, body: &Value) -> reqwest::RequestBuilder {
        let mut rb = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", version)
            .body(body.to_string());
        if let Some(s) = session {
            rb = rb.header(SESSION, s);
        }
        rb
    }

    async fn session(&self, version: &str) -> String {
        let init = within(
            "initialize",
            self.post(None, version, &initialize(1, version)).send(),
        )
        .await
        .expect("initialize");
        assert_eq!(init.status(), StatusCode::OK);
        let session = init.headers()[SESSION].to_str().expect("ascii").to_owned();
        let ack = self
            .post(
                Some(&session),
                version,
                &notification("notifications/initialized"),
            )
            .send()
            .await
            .expect("initialized");
        assert_eq!(ack.status(), StatusCode::ACCEPTED);
        session
    }

    async fn resume(&self, session: &str, last_event_id: &str) -> reqwest::Response {
        within(
            "resumed stream",
            self.client
                .get(&self.url)
                .header("accept", "text/event-stream")
                .header(SESSION, session)
                .header("mcp-protocol-version", LATEST_LEGACY)
                .header("last-event-id", last_event_id)
                .send(),
        )
        .await
        .expect("GET")
    }
}

/// `(id, retry, data)` of each SSE event in `text`.
fn events(text: &str) -> Vec<(Option<String>, Option<String>, String)> {
    text.split("\n\n")
        .filter(|block| !block.trim().is_empty() && !block.starts_with(':'))
        .map(|block| {
            let field = |name: &str| {
                block
                    .lines()
                    .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
            };
            (
                field("id:"),
                field("retry:"),
                field("data:").unwrap_or_default(),
            )
        })
        .collect()
}

fn call(id: i64, tool: &str) -> Value {
    request(
        id,
        "tools/call",
        json!({ "name": tool, "arguments": {}, "_meta": { "progressToken": "p" } }),
    )
}

#[tokio::test]
async fn a_tool_that_lets_go_of_the_stream_is_answered_on_the_resumed_stream() {
    let served = serve().await;
    let session = served.session(LATEST_LEGACY).await;

    let post = within(
        "POST stream",
        served
            .post(
                Some(&session),
                LATEST_LEGACY,
                &call(7, "release_then_answer"),
            )
            .send(),
    )
    .await
    .expect("POST");
    assert_eq!(post.headers()["content-type"], "text/event-stream");
    let text = within("POST stream end", post.text()).await.expect("body");
    let first = events(&text);
    let (Some(priming_id), Some(retry), data) = &first[0] else {
        panic!("first event must carry an id and a retry interval: {text:?}");
    };
    assert!(data.is_empty(), "priming event has empty data: {text:?}");
    assert_eq!(retry, "1000");
    assert!(
        !text.contains("answered after release"),
        "the answer must wait for the resumed stream: {text:?}"
    );

    let resumed = served.resume(&session, priming_id).await;
    assert_eq!(resumed.status(), StatusCode::OK);
    let text = within("resumed stream end", resumed.text())
        .await
        .expect("body");
    let result: Value = events(&text)
        .iter()
        .find_map(|(_, _, d)| serde_json::from_str::<Value>(d).ok())
        .unwrap_or_else(|| panic!("no message on the resumed stream: {text:?}"));
    assert_eq!(result["id"], 7, "{result}");
    assert_eq!(
        result["result"]["content"][0]["text"],
        "answered after release"
    );
}

#[tokio::test]
async fn a_dropped_connection_resumes_where_it_broke_and_the_tool_runs_on() {
    let served = serve().await;
    let session = served.session(LATEST_LEGACY).await;

    let mut post = served
        .post(
            Some(&session),
            LATEST_LEGACY,
            &call(8, "progress_then_answer"),
        )
        .send()
        .await
        .expect("POST");
    // Read up to the first progress notification, then drop the connection.
    let mut seen = String::new();
    while !seen.contains("\"half\"") {
        let chunk = within("first events", post.chunk())
            .await
            .expect("chunk")
            .expect("stream ended early");
        seen.push_str(std::str::from_utf8(&chunk).expect("utf-8"));
    }
    drop(post);
    let last_id = events(&seen)
        .iter()
        .rev()
        .find_map(|(id, _, _)| id.clone())
        .unwrap_or_else(|| panic!("events carry ids: {seen:?}"));

    let text = within(
        "resumed stream end",
        served.resume(&session, &last_id).await.text(),
    )
    .await
    .expect("body");
    let messages: Vec<Value> = events(&text)
        .iter()
        .filter_map(|(_, _, d)| serde_json::from_str(d).ok())
        .collect();
    assert!(
        !messages.iter().any(|m| m["params"]["message"] == "half"),
        "events before Last-Event-ID are not replayed: {text:?}"
    );
    assert_eq!(messages.len(), 2, "{text:?}");
    assert_eq!(messages[0]["params"]["message"], "done");
    assert_eq!(messages[1]["id"], 8);
    assert_eq!(
        messages[1]["result"]["content"][0]["text"],
        "answered after drop"
    );
}

#[tokio::test]
async fn event_ids_do_not_cross_sessions() {
    let served = serve().await;
    let owner = served.session(LATEST_LEGACY).await;
    let other = served.session(LATEST_LEGACY).await;
    let post = served
        .post(Some(&owner), LATEST_LEGACY, &call(9, "release_then_answer"))
        .send()
        .await
        .expect("POST");
    let text = post.text().await.expect("body");
    let priming = events(&text)[0].0.clone().expect("priming id");

    // Another session naming this stream gets its own standalone stream, never the answer.
    let mut stranger = served.resume(&other, &priming).await;
    assert_eq!(stranger.status(), StatusCode::OK);
    let early = tokio::time::timeout(Duration::from_millis(600), stranger.chunk()).await;
    if let Ok(Ok(Some(chunk))) = early {
        let chunk = String::from_utf8_lossy(&chunk).into_owned();
        assert!(!chunk.contains("answered"), "{chunk}");
    }
    drop(stranger);

    let text = served
        .resume(&owner, &priming)
        .await
        .text()
        .await
        .expect("body");
    assert!(text.contains("answered after release"), "{text:?}");
}

#[tokio::test]
async fn older_revisions_get_ids_but_no_priming_event() {
    let served = serve().await;
    let session = served.session("2025-06-18").await;
    let post = served
        .post(
            Some(&session),
            "2025-06-18",
            &call(10, "progress_then_answer"),
        )
        .send()
        .await
        .expect("POST");
    let text = within("stream end", post.text()).await.expect("body");
    let all = events(&text);
    assert!(
        all.iter().all(|(id, _, d)| id.is_some() && !d.is_empty()),
        "{text:?}"
    );
    assert!(text.contains("answered after drop"), "{text:?}");
}
