//! End to end, server in process, over a loopback socket (and stdio pipes for
//! subscriptions): what legacy sessions receive on their streams. SSE streams carry event ids and resume with `Last-Event-ID` after the
//! connection goes, whether the tool let go of it (SSE polling) or the client's network
//! dropped it; `resources/subscribe` selects which resource updates a session's GET stream
//! gets.

mod support;

use std::{net::SocketAddr, time::Duration};

use keel_core::{CallToolResult, Context, ListChange, Registry, ToolBuilder};
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

fn registry() -> Registry {
    Registry::builder()
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
        .tool(no_args("change_tools").handler(|_, ctx: Context| async move {
            ctx.notify_changed(ListChange::Tools);
            Ok(CallToolResult::text("changed"))
        }))
        .tool(
            ToolBuilder::new(
                "touch",
                json!({ "type": "object", "properties": { "uri": { "type": "string" } }, "required": ["uri"] }),
            )
            .description("touch")
            .handler(|args: Value, ctx: Context| async move {
                let uri = args["uri"].as_str().unwrap_or_default().to_owned();
                ctx.notify_changed(ListChange::ResourceUpdated(uri));
                Ok(CallToolResult::text("touched"))
            }),
        )
        .build()
        .expect("registry")
}

async fn serve() -> Served {
    let registry = registry();
    let mut config = Config::default();
    config.http.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    let dispatcher = keel_server::Server::new(config.clone(), registry)
        .expect("server builds")
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

async fn next_data(stream: &mut reqwest::Response, within_ms: u64) -> Option<Value> {
    let mut buf = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(within_ms);
    loop {
        if let Some((_, _, d)) = events(&buf).into_iter().find(|(_, _, d)| !d.is_empty()) {
            return serde_json::from_str(&d).ok();
        }
        match tokio::time::timeout_at(deadline, stream.chunk()).await {
            Ok(Ok(Some(chunk))) => buf.push_str(&String::from_utf8_lossy(&chunk)),
            _ => return None,
        }
    }
}

#[tokio::test]
async fn resource_updates_reach_the_sessions_that_subscribed() {
    let served = serve().await;
    let subscriber = served.session(LATEST_LEGACY).await;
    let bystander = served.session(LATEST_LEGACY).await;
    let subscribe = request(2, "resources/subscribe", json!({ "uri": "test://watched" }));
    let ack = served
        .post(Some(&subscriber), LATEST_LEGACY, &subscribe)
        .send()
        .await
        .expect("subscribe");
    assert_eq!(ack.status(), StatusCode::OK);
    let ack: Value = ack.json().await.expect("JSON");
    assert_eq!(ack["result"], json!({}), "{ack}");

    let open = |session: String| {
        served
            .client
            .get(&served.url)
            .header("accept", "text/event-stream")
            .header(SESSION, session)
            .header("mcp-protocol-version", LATEST_LEGACY)
            .send()
    };
    let mut sub_stream = open(subscriber.clone()).await.expect("GET");
    let mut other_stream = open(bystander.clone()).await.expect("GET");
    assert_eq!(sub_stream.status(), StatusCode::OK);
    // Give the streams' forwarders a moment to start listening.
    tokio::time::sleep(Duration::from_millis(100)).await;

    let touch = |uri: &str, id: i64| {
        request(
            id,
            "tools/call",
            json!({ "name": "touch", "arguments": { "uri": uri } }),
        )
    };
    for (i, uri) in ["test://other", "test://watched"].into_iter().enumerate() {
        let r = served
            .post(Some(&bystander), LATEST_LEGACY, &touch(uri, 10 + i as i64))
            .send()
            .await
            .expect("touch");
        assert_eq!(r.status(), StatusCode::OK);
    }
    let update = next_data(&mut sub_stream, 2000)
        .await
        .expect("an update for the subscriber");
    assert_eq!(
        update["method"], "notifications/resources/updated",
        "{update}"
    );
    assert_eq!(
        update["params"]["uri"], "test://watched",
        "only the watched URI: {update}"
    );
    assert!(
        next_data(&mut other_stream, 300).await.is_none(),
        "the bystander subscribed to nothing"
    );

    let unsubscribe = request(
        3,
        "resources/unsubscribe",
        json!({ "uri": "test://watched" }),
    );
    let r = served
        .post(Some(&subscriber), LATEST_LEGACY, &unsubscribe)
        .send()
        .await
        .expect("unsubscribe");
    assert_eq!(r.status(), StatusCode::OK);
    served
        .post(
            Some(&bystander),
            LATEST_LEGACY,
            &touch("test://watched", 20),
        )
        .send()
        .await
        .expect("touch");
    assert!(
        next_data(&mut sub_stream, 300).await.is_none(),
        "no update after unsubscribe"
    );
}

/// Tasks alive on this test's runtime (the server runs on it too).
fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

#[tokio::test]
async fn reconnected_streams_get_each_change_once_and_leave_no_task_behind() {
    let served = serve().await;
    let session = served.session(LATEST_LEGACY).await;
    let open = || {
        served
            .client
            .get(&served.url)
            .header("accept", "text/event-stream")
            .header(SESSION, session.clone())
            .header("mcp-protocol-version", LATEST_LEGACY)
            .send()
    };
    let settle = || tokio::time::sleep(Duration::from_millis(100));
    let change = || async {
        let call = request(
            7,
            "tools/call",
            json!({ "name": "change_tools", "arguments": {} }),
        );
        let r = served
            .post(Some(&session), LATEST_LEGACY, &call)
            .send()
            .await
            .expect("change");
        assert_eq!(r.status(), StatusCode::OK);
    };
    let exactly_one_copy = |mut stream: reqwest::Response| async move {
        let note = next_data(&mut stream, 2000).await.expect("a list change");
        assert_eq!(note["method"], "notifications/tools/list_changed", "{note}");
        let extra = next_data(&mut stream, 500).await;
        assert!(extra.is_none(), "one copy per change: {extra:?}");
        stream
    };

    let first = open().await.expect("GET");
    assert_eq!(first.status(), StatusCode::OK);
    settle().await;
    change().await;
    let first = exactly_one_copy(first).await;
    settle().await;
    let with_one_stream = alive_tasks();

    drop(first);
    for _ in 0..3 {
        settle().await;
        let stream = open().await.expect("GET");
        assert_eq!(stream.status(), StatusCode::OK);
        settle().await;
        drop(stream);
    }
    settle().await;
    let stream = open().await.expect("GET");
    assert_eq!(stream.status(), StatusCode::OK);
    settle().await;
    change().await;
    let _stream = exactly_one_copy(stream).await;

    // The dropped streams' forwarders and connections are gone: as many tasks as with the
    // first stream alone.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while alive_tasks() > with_one_stream && tokio::time::Instant::now() < deadline {
        settle().await;
    }
    assert!(
        alive_tasks() <= with_one_stream,
        "{} tasks alive, {with_one_stream} with one stream",
        alive_tasks()
    );
}

#[tokio::test]
async fn subscribing_without_a_session_is_a_clear_error() {
    let served = serve().await;
    let subscribe = request(2, "resources/subscribe", json!({ "uri": "test://watched" }));
    let r = served
        .post(None, LATEST_LEGACY, &subscribe)
        .send()
        .await
        .expect("subscribe");
    let body: Value = r.json().await.expect("JSON");
    assert_eq!(body["error"]["code"], -32600, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("session"),
        "{body}"
    );
}

#[tokio::test]
async fn stdio_sessions_get_the_updates_they_subscribed_to() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    let dispatcher = keel_server::Server::new(Config::default(), registry())
        .expect("server builds")
        .dispatcher()
        .clone();
    let (client, server) = tokio::io::duplex(1 << 16);
    let (server_in, server_out) = tokio::io::split(server);
    let shutdown = CancellationToken::new();
    let _stop = shutdown.clone().drop_guard();
    tokio::spawn(keel_transport::serve_stdio(
        dispatcher, server_in, server_out, shutdown,
    ));
    let (client_in, mut client_out) = tokio::io::split(client);
    let mut lines = BufReader::new(client_in).lines();
    let mut send = async |message: Value| {
        let mut line = message.to_string();
        line.push('\n');
        client_out.write_all(line.as_bytes()).await.expect("write");
    };
    let touch = |uri: &str, id: i64| {
        request(
            id,
            "tools/call",
            json!({ "name": "touch", "arguments": { "uri": uri } }),
        )
    };

    // Reads stdout until the answer to `id`, collecting resource updates on the way.
    let mut updates = Vec::new();
    let mut answer = async |id: i64, updates: &mut Vec<Value>| loop {
        let line = within("stdout line", lines.next_line())
            .await
            .expect("read")
            .expect("stdout open");
        let message: Value = serde_json::from_str(&line).expect("JSON line");
        if message["method"] == "notifications/resources/updated" {
            updates.push(message["params"]["uri"].clone());
        }
        if message["id"] == id {
            return message;
        }
    };

    send(initialize(1, LATEST_LEGACY)).await;
    answer(1, &mut updates).await;
    send(notification("notifications/initialized")).await;
    send(request(
        2,
        "resources/subscribe",
        json!({ "uri": "test://watched" }),
    ))
    .await;
    assert_eq!(answer(2, &mut updates).await["result"], json!({}));
    send(touch("test://other", 3)).await;
    answer(3, &mut updates).await;
    send(touch("test://watched", 4)).await;
    answer(4, &mut updates).await;
    // The update may trail the tool's answer: ping until it is in.
    for id in 100..120 {
        if !updates.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        send(request(id, "ping", json!({}))).await;
        answer(id, &mut updates).await;
    }
    send(request(
        5,
        "resources/unsubscribe",
        json!({ "uri": "test://watched" }),
    ))
    .await;
    answer(5, &mut updates).await;
    send(touch("test://watched", 6)).await;
    answer(6, &mut updates).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    send(request(7, "ping", json!({}))).await;
    answer(7, &mut updates).await;
    assert_eq!(
        updates,
        vec![json!("test://watched")],
        "exactly one update, for the watched URI"
    );
}
