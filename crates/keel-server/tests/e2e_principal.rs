//! End to end, server in process with a tool that reports `Context::principal`: over a
//! loopback socket (HTTP, both eras) a request is anonymous; over real OS pipes (stdio, both
//! eras) it acts for the local user.

mod support;

use std::net::SocketAddr;

use keel_core::{CallToolResult, Context, Principal, Registry, ToolBuilder};
use keel_server::{Config, Extras};
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{LATEST_LEGACY, MODERN, initialize, notification, request, with_modern_meta, within};
use tokio_util::sync::CancellationToken;

fn registry() -> Registry {
    Registry::builder()
        .tool(
            ToolBuilder::new("whoami", json!({ "type": "object", "properties": {} }))
                .description("reports who the call acts for")
                .handler(|_: Value, cx: Context| async move {
                    let p = cx.principal();
                    Ok(CallToolResult::structured(
                        json!({ "key": p.key(), "anonymous": p.is_anonymous() }),
                        p.to_string(),
                    ))
                }),
        )
        .build()
        .expect("registry")
}

fn whoami(id: i64, modern: bool) -> Value {
    let params = json!({ "name": "whoami", "arguments": {} });
    let params = if modern {
        with_modern_meta(params)
    } else {
        params
    };
    request(id, "tools/call", params)
}

/// The principal key the tool reported in `response`.
fn reported(response: &Value) -> (String, bool) {
    let seen = &response["result"]["structuredContent"];
    let key = seen["key"]
        .as_str()
        .unwrap_or_else(|| panic!("no principal in {response}"));
    (key.to_owned(), seen["anonymous"] == true)
}

#[tokio::test]
async fn http_requests_are_anonymous() {
    let mut config = Config::default();
    config.http.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    let dispatcher = keel_server::Server::new(config.clone(), registry())
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
    let _stop = shutdown.clone().drop_guard();
    tokio::spawn(async move {
        keel_server::serve_http(listener, &config, dispatcher, Extras::default(), shutdown).await
    });
    let client = reqwest::Client::new();
    let post = |headers: &[(&str, &str)], body: &Value| {
        let mut rb = client
            .post(&url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body.to_string());
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        rb.send()
    };

    let modern = [
        ("mcp-protocol-version", MODERN),
        ("mcp-method", "tools/call"),
        ("mcp-name", "whoami"),
    ];
    let r = within("modern call", post(&modern, &whoami(1, true)))
        .await
        .expect("modern call");
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.expect("JSON");
    assert_eq!(reported(&body), ("anonymous".to_owned(), true), "{body}");

    let legacy = [("mcp-protocol-version", LATEST_LEGACY)];
    let init = within("initialize", post(&legacy, &initialize(1, LATEST_LEGACY)))
        .await
        .expect("initialize");
    assert_eq!(init.status(), StatusCode::OK);
    let session = init.headers()["mcp-session-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let in_session = [
        ("mcp-protocol-version", LATEST_LEGACY),
        ("mcp-session-id", session.as_str()),
    ];
    let r = within("legacy call", post(&in_session, &whoami(2, false)))
        .await
        .expect("legacy call");
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.expect("JSON");
    assert_eq!(reported(&body), ("anonymous".to_owned(), true), "{body}");
}

#[cfg(unix)]
#[tokio::test]
async fn stdio_requests_act_for_the_local_user() {
    use tokio::{
        io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
        net::unix::pipe,
    };

    let dispatcher = keel_server::Server::new(Config::default(), registry())
        .expect("server builds")
        .dispatcher()
        .clone();
    let (mut to_server, server_in) = pipe::pipe().expect("stdin pipe");
    let (server_out, from_server) = pipe::pipe().expect("stdout pipe");
    let shutdown = CancellationToken::new();
    let _stop = shutdown.clone().drop_guard();
    tokio::spawn(keel_transport::serve_stdio(
        dispatcher, server_in, server_out, shutdown,
    ));
    let mut lines = BufReader::new(from_server).lines();
    let mut exchange = async |message: Value| {
        let mut line = message.to_string();
        line.push('\n');
        to_server.write_all(line.as_bytes()).await.expect("write");
        let Some(id) = message.get("id").cloned() else {
            return Value::Null;
        };
        loop {
            let line = within("stdout line", lines.next_line())
                .await
                .expect("read")
                .expect("stdout open");
            let answer: Value = serde_json::from_str(&line).expect("JSON line");
            if answer["id"] == id {
                return answer;
            }
        }
    };

    let modern = exchange(whoami(1, true)).await;
    exchange(initialize(2, LATEST_LEGACY)).await;
    exchange(notification("notifications/initialized")).await;
    let legacy = exchange(whoami(3, false)).await;

    // The user this process runs as, named as the server names it.
    let local = Principal::local_user();
    for answer in [&modern, &legacy] {
        let (key, anonymous) = reported(answer);
        assert!(!anonymous, "{answer}");
        assert!(key.starts_with("local:"), "{answer}");
        assert_eq!(key, local.key(), "{answer}");
        if let Some(user) = ["USER", "LOGNAME"]
            .into_iter()
            .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()))
        {
            assert_eq!(key, format!("local:{user}"), "{answer}");
        }
    }
}
