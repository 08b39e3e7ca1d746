//! End to end, real `keel` binary on a loopback port. Bad input over Streamable HTTP: each gets the spec's error and status, and the server stays up.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::http::*;
use support::{
    LATEST_LEGACY, MODERN, echo_params, echoed_text, expect_error, request, with_modern_meta,
    within,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

// ---------------------------------------------------------------------------------------
// Bad input: the spec's error and status, and the server stays up
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn malformed_json_is_a_parse_error_with_null_id() {
    let mut http = Http::start().await;
    let r = http
        .send(
            Method::POST,
            &[],
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list""#,
        )
        .await;
    r.error(StatusCode::BAD_REQUEST, -32700, &Value::Null);
    http.assert_alive().await;
}

#[tokio::test]
async fn json_that_is_not_jsonrpc_is_an_invalid_request() {
    let mut http = Http::start().await;
    for body in [
        json!({ "foo": 1 }),
        json!({ "jsonrpc": "1.0", "id": 1, "method": "tools/list" }),
        json!({ "jsonrpc": "2.0", "id": 1 }),
    ] {
        let r = http.post(&[], &body).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.text);
        let reply = r.json();
        assert_eq!(reply["error"]["code"], -32600, "{body}: {reply}");
    }
    http.assert_alive().await;
}

#[tokio::test]
async fn tools_call_with_non_object_arguments_is_invalid_params() {
    let mut http = Http::start().await;
    let legacy = http
        .post(
            &[],
            &request(1, "tools/call", json!({ "name": "echo", "arguments": 5 })),
        )
        .await;
    expect_error(&legacy.json(), -32602, &json!(1));
    let modern = http
        .modern(&request(
            2,
            "tools/call",
            with_modern_meta(json!({ "name": "echo", "arguments": 5 })),
        ))
        .await;
    expect_error(&modern.json(), -32602, &json!(2));
    http.assert_alive().await;
}

#[tokio::test]
async fn unknown_tool_is_invalid_params() {
    let mut http = Http::start().await;
    let legacy = http
        .post(
            &[],
            &request(1, "tools/call", json!({ "name": "nope", "arguments": {} })),
        )
        .await;
    expect_error(&legacy.json(), -32602, &json!(1));
    let modern = http
        .modern(&request(
            2,
            "tools/call",
            with_modern_meta(json!({ "name": "nope", "arguments": {} })),
        ))
        .await;
    expect_error(&modern.json(), -32602, &json!(2));
    http.assert_alive().await;
}

#[tokio::test]
async fn echo_with_wrongly_typed_argument_is_a_tool_error() {
    let mut http = Http::start().await;
    let r = http
        .modern(&request(
            1,
            "tools/call",
            with_modern_meta(json!({ "name": "echo", "arguments": { "text": 5 } })),
        ))
        .await;
    let result = r.result(&json!(1));
    assert_eq!(result["isError"], true, "{result}");
    assert!(result["content"].is_array(), "{result}");
    http.assert_alive().await;
}

/// Sends a POST over a raw socket, writing the body while reading the answer: the server
/// may answer (and close) before the whole body is sent. Returns the status code.
async fn raw_post_status(port: u16, body: Vec<u8>) -> u16 {
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let (mut rd, mut wr) = stream.into_split();
    let head = format!(
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n\
         Accept: {ACCEPT}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let writer = tokio::spawn(async move {
        // Errors are expected once the server refuses the body and closes.
        if wr.write_all(head.as_bytes()).await.is_ok() {
            let _ = wr.write_all(&body).await;
        }
        wr
    });
    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    let status_line = within("413 response", async {
        loop {
            if let Some(end) = received.windows(2).position(|w| w == b"\r\n") {
                break String::from_utf8_lossy(&received[..end]).into_owned();
            }
            match rd.read(&mut chunk).await {
                Ok(0) | Err(_) => {
                    panic!(
                        "connection ended before a status line: {:?}",
                        String::from_utf8_lossy(&received)
                    )
                }
                Ok(n) => received.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    writer.abort();
    status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"))
}

#[tokio::test]
async fn oversized_body_is_413() {
    let mut http = Http::start().await;
    // A syntactically valid request whose text argument makes it 5 MB.
    let mut body = modern_call(1, "").to_string().into_bytes();
    let filler = "a".repeat(5 * 1024 * 1024);
    let text_at = body
        .windows(9)
        .position(|w| w == br#""text":"""#)
        .expect("text field")
        + 8;
    body.splice(text_at..text_at, filler.bytes());
    let status = raw_post_status(http.server.port, body).await;
    assert_eq!(status, 413);
    http.assert_alive().await;
}

#[tokio::test]
async fn deeply_nested_json_is_a_parse_error() {
    let mut http = Http::start().await;
    let r = http.send(Method::POST, &[], "[".repeat(100_000)).await;
    r.error(StatusCode::BAD_REQUEST, -32700, &Value::Null);
    let nested_params = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{{"x":{}1{}}}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let r = http.send(Method::POST, &[], nested_params).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "body: {}", r.text);
    assert_eq!(r.json()["error"]["code"], -32700);
    http.assert_alive().await;
}

#[tokio::test]
async fn wrong_content_type_is_415() {
    let mut http = Http::start().await;
    let r = http
        .send(
            Method::POST,
            &[
                ("content-type", "text/plain"),
                ("mcp-protocol-version", MODERN),
                ("mcp-method", "tools/call"),
                ("mcp-name", "echo"),
            ],
            modern_call(1, "x").to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{}", r.text);
    http.assert_alive().await;
}

#[tokio::test]
async fn foreign_host_is_403() {
    let mut http = Http::start().await;
    let r = http
        .modern_with(&[("host", "evil.example.com")], &modern_call(1, "x"))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    http.assert_alive().await;
}

#[tokio::test]
async fn foreign_origin_is_403() {
    let mut http = Http::start().await;
    let r = http
        .modern_with(
            &[("origin", "http://evil.example.com")],
            &modern_call(1, "x"),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    // The spec allows a body only as an error response without an id.
    if !r.text.is_empty() {
        let body = r.json();
        assert!(body["error"].is_object(), "{body}");
        assert!(body["id"].is_null(), "{body}");
    }
    // A local origin is fine.
    let ok = http
        .modern_with(&[("origin", "http://localhost:3000")], &modern_call(2, "x"))
        .await;
    assert_eq!(echoed_text(&ok.result(&json!(2))), "x");
    http.assert_alive().await;
}

#[tokio::test]
async fn put_is_405_with_allow() {
    let mut http = Http::start().await;
    let r = http
        .send(
            Method::PUT,
            &[
                ("mcp-protocol-version", MODERN),
                ("mcp-method", "tools/call"),
                ("mcp-name", "echo"),
            ],
            modern_call(1, "x").to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{}", r.text);
    let allow = r.header("allow").unwrap_or_default();
    assert!(allow.contains("POST"), "Allow: {allow:?}");
    http.assert_alive().await;
}

#[tokio::test]
async fn batches_are_refused_after_2025_03_26() {
    let mut http = Http::start().await;
    let batch = json!([modern_call(1, "a"), modern_call(2, "b")]);
    let r = http
        .post(&[("mcp-protocol-version", "2026-07-28")], &batch)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert_eq!(r.json()["error"]["code"], -32600, "{}", r.text);
    let session = http.open_session().await;
    let batch = json!([request(1, "ping", json!({}))]);
    let r = http
        .post(
            &[(SESSION, &session), ("mcp-protocol-version", LATEST_LEGACY)],
            &batch,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert_eq!(r.json()["error"]["code"], -32600, "{}", r.text);
    let r = http.post(&[], &json!([])).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert_eq!(r.json()["error"]["code"], -32600, "{}", r.text);
    http.assert_alive().await;
}

// ---------------------------------------------------------------------------------------
// Concurrency
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_calls_on_one_session_all_succeed() {
    let http = std::sync::Arc::new(Http::start().await);
    let session = std::sync::Arc::new(http.open_session().await);
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..50_i64 {
        let http = std::sync::Arc::clone(&http);
        let session = std::sync::Arc::clone(&session);
        calls.spawn(async move {
            let text = format!("call {i}");
            let r = http
                .in_session(&session, &request(i, "tools/call", echo_params(&text)))
                .await;
            assert_eq!(echoed_text(&r.result(&json!(i))), text);
            i
        });
    }
    let mut done = Vec::new();
    while let Some(joined) = calls.join_next().await {
        done.push(joined.expect("call task panicked"));
    }
    done.sort_unstable();
    assert_eq!(done, (0..50).collect::<Vec<_>>());
}

#[tokio::test]
async fn strings_and_nesting_past_the_input_bounds_are_refused_naming_where() {
    let mut http = Http::over(
        support::KeelHttp::start_with_config("[input]\nmax_string_bytes = 64\nmax_depth = 4\n")
            .await,
    );
    let long = "x".repeat(65);
    let r = http
        .modern(&request(
            1,
            "tools/call",
            with_modern_meta(json!({ "name": "echo", "arguments": { "text": long } })),
        ))
        .await;
    let body = r.error(StatusCode::OK, -32602, &json!(1));
    assert_eq!(
        body["error"]["data"]["pointer"], "/arguments/text",
        "{body}"
    );
    let deep = json!({ "name": "echo", "arguments": { "text": "hi", "extra": [[[1]]] } });
    let r = http
        .modern(&request(2, "tools/call", with_modern_meta(deep)))
        .await;
    let body = r.error(StatusCode::OK, -32602, &json!(2));
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("4 levels"),
        "{body}"
    );
    // Within the bounds, hostile text is data: echoed back as sent.
    let hostile = "\u{202e}<script>${jndi:x}</script>\u{0}";
    let r = http
        .modern(&request(
            3,
            "tools/call",
            with_modern_meta(json!({ "name": "echo", "arguments": { "text": hostile } })),
        ))
        .await;
    assert_eq!(echoed_text(&r.result(&json!(3))), hostile);
    http.assert_alive().await;
}
