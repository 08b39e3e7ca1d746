//! End to end over Streamable HTTP: the real `keel` binary on a loopback port, driven with
//! real HTTP requests. Covers the legacy session flow (2024-11-05 … 2025-11-25), the modern
//! stateless revision (2026-07-28) and its header validation, refusal of bad input, and
//! concurrent requests within one session.

mod support;

use reqwest::{Method, StatusCode, header::HeaderMap};
use serde_json::{Value, json};
use support::{
    KeelHttp, LATEST_LEGACY, META_SERVER_INFO, META_VERSION, MODERN, echo_params, echoed_text,
    expect_error, expect_result, initialize, notification, request, with_modern_meta, within,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ACCEPT: &str = "application/json, text/event-stream";
const SESSION: &str = "mcp-session-id";

/// The server and a client for it.
struct Http {
    server: KeelHttp,
    client: reqwest::Client,
}

/// What came back.
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| {
            panic!(
                "status {}: body is not JSON ({e}): {:?}",
                self.status, self.text
            )
        })
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the status and that the body is a JSON-RPC error with `code` and `id`;
    /// returns the whole body.
    fn error(&self, status: StatusCode, code: i64, id: &Value) -> Value {
        assert_eq!(self.status, status, "wrong status; body: {}", self.text);
        let body = self.json();
        expect_error(&body, code, id);
        body
    }

    /// Asserts 200 with a JSON-RPC result for `id`; returns the result.
    fn result(&self, id: &Value) -> Value {
        assert_eq!(self.status, StatusCode::OK, "body: {}", self.text);
        let body = self.json();
        expect_result(&body, id).clone()
    }
}

impl Http {
    async fn start() -> Self {
        Self {
            server: KeelHttp::start().await,
            client: reqwest::Client::new(),
        }
    }

    /// Sends a request; `Content-Type` and `Accept` get MCP's values unless `headers` sets
    /// them.
    async fn send(
        &self,
        method: Method,
        headers: &[(&str, &str)],
        body: impl Into<reqwest::Body>,
    ) -> Reply {
        let has = |name: &str| headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
        let mut rb = self.client.request(method, &self.server.url);
        if !has("content-type") {
            rb = rb.header("content-type", "application/json");
        }
        if !has("accept") {
            rb = rb.header("accept", ACCEPT);
        }
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        let response = within("HTTP response", rb.body(body).send())
            .await
            .expect("request failed");
        let status = response.status();
        let headers = response.headers().clone();
        let text = within("HTTP body", response.text())
            .await
            .expect("read body");
        Reply {
            status,
            headers,
            text,
        }
    }

    async fn post(&self, headers: &[(&str, &str)], body: &Value) -> Reply {
        self.send(Method::POST, headers, body.to_string()).await
    }

    /// A legacy request within `session` (negotiated at the newest legacy revision).
    async fn in_session(&self, session: &str, body: &Value) -> Reply {
        self.post(
            &[(SESSION, session), ("mcp-protocol-version", LATEST_LEGACY)],
            body,
        )
        .await
    }

    /// A modern request with the headers the body implies: `MCP-Protocol-Version`,
    /// `Mcp-Method`, and `Mcp-Name` for `tools/call`.
    async fn modern(&self, body: &Value) -> Reply {
        self.modern_with(&[], body).await
    }

    /// [`Self::modern`] with `extra` headers added.
    async fn modern_with(&self, extra: &[(&str, &str)], body: &Value) -> Reply {
        let method = body["method"].as_str().expect("method");
        let mut headers = vec![("mcp-protocol-version", MODERN), ("mcp-method", method)];
        if let Some(name) = body["params"]["name"].as_str() {
            headers.push(("mcp-name", name));
        }
        headers.extend_from_slice(extra);
        self.post(&headers, body).await
    }

    /// Initializes a legacy session at the newest legacy revision; returns its id.
    async fn open_session(&self) -> String {
        let r = self.post(&[], &initialize(1, LATEST_LEGACY)).await;
        let result = r.result(&json!(1));
        assert_eq!(result["protocolVersion"], LATEST_LEGACY);
        let session = r
            .header(SESSION)
            .unwrap_or_else(|| panic!("initialize gave no Mcp-Session-Id: {:?}", r.headers))
            .to_owned();
        let ack = self
            .in_session(&session, &notification("notifications/initialized"))
            .await;
        assert_eq!(ack.status, StatusCode::ACCEPTED, "body: {}", ack.text);
        session
    }

    /// The server still answers a modern echo call.
    async fn assert_alive(&mut self) {
        assert!(self.server.is_running(), "keel exited");
        let body = request(
            "alive",
            "tools/call",
            with_modern_meta(echo_params("still here")),
        );
        let r = self.modern(&body).await;
        assert_eq!(echoed_text(&r.result(&json!("alive"))), "still here");
    }
}

fn modern_call(id: i64, text: &str) -> Value {
    request(id, "tools/call", with_modern_meta(echo_params(text)))
}

// ---------------------------------------------------------------------------------------
// Legacy (session-based) revisions
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn legacy_session_initialize_list_and_call() {
    let http = Http::start().await;

    let init = http.post(&[], &initialize(1, LATEST_LEGACY)).await;
    let result = init.result(&json!(1));
    assert_eq!(result["protocolVersion"], LATEST_LEGACY);
    assert_eq!(result["serverInfo"]["name"], "keel");
    assert!(result["capabilities"]["tools"].is_object(), "{result}");
    assert!(result.get("resultType").is_none(), "{result}");
    let session = init
        .header(SESSION)
        .expect("initialize must assign Mcp-Session-Id")
        .to_owned();
    assert_eq!(session.len(), 32, "session id {session:?}");
    assert!(
        session.bytes().all(|b| b.is_ascii_hexdigit()),
        "session id {session:?}"
    );

    let ack = http
        .in_session(&session, &notification("notifications/initialized"))
        .await;
    assert_eq!(ack.status, StatusCode::ACCEPTED);
    assert!(ack.text.is_empty(), "202 must have no body: {:?}", ack.text);

    let list = http
        .in_session(&session, &request(2, "tools/list", json!({})))
        .await
        .result(&json!(2));
    let tools = list["tools"].as_array().expect("tools array");
    let echo = tools
        .iter()
        .find(|t| t["name"] == "echo")
        .unwrap_or_else(|| panic!("no echo tool in {list}"));
    assert_eq!(echo["inputSchema"]["type"], "object", "{echo}");
    assert!(list.get("resultType").is_none(), "{list}");
    assert!(list.get("ttlMs").is_none(), "{list}");

    let call = http
        .in_session(&session, &request(3, "tools/call", echo_params("hello")))
        .await
        .result(&json!(3));
    assert_eq!(echoed_text(&call), "hello");
    assert!(call.get("resultType").is_none(), "{call}");
    assert!(
        call.get("_meta")
            .is_none_or(|m| m.get(META_SERVER_INFO).is_none())
    );
}

#[tokio::test]
async fn legacy_ping_returns_an_empty_object() {
    let http = Http::start().await;
    let session = http.open_session().await;
    let result = http
        .in_session(&session, &request("p", "ping", json!({})))
        .await
        .result(&json!("p"));
    assert_eq!(result, json!({}));
}

#[tokio::test]
async fn legacy_delete_ends_the_session() {
    let http = Http::start().await;
    let session = http.open_session().await;

    let deleted = http
        .send(
            Method::DELETE,
            &[(SESSION, &session), ("mcp-protocol-version", LATEST_LEGACY)],
            "",
        )
        .await;
    assert!(
        deleted.status.is_success(),
        "DELETE: {} {}",
        deleted.status,
        deleted.text
    );

    let after = http
        .in_session(&session, &request(2, "tools/call", echo_params("gone")))
        .await;
    assert_eq!(after.status, StatusCode::NOT_FOUND, "body: {}", after.text);

    let again = http.send(Method::DELETE, &[(SESSION, &session)], "").await;
    assert_eq!(again.status, StatusCode::NOT_FOUND, "second DELETE");
}

#[tokio::test]
async fn legacy_unknown_session_id_gets_404() {
    let http = Http::start().await;
    // Make sure sessions exist, so the id below is unknown rather than the store empty.
    http.open_session().await;
    for unknown in ["0123456789abcdef0123456789abcdef", "no-such-session"] {
        let r = http
            .in_session(unknown, &request(7, "tools/list", json!({})))
            .await;
        assert_eq!(
            r.status,
            StatusCode::NOT_FOUND,
            "session {unknown:?}: {}",
            r.text
        );
    }
}

#[tokio::test]
async fn legacy_request_without_session_is_served_when_lenient() {
    let http = Http::start().await;
    // No initialize, no Mcp-Session-Id, no MCP-Protocol-Version: an early client.
    let r = http
        .post(&[], &request(1, "tools/call", echo_params("lenient")))
        .await;
    let result = r.result(&json!(1));
    assert_eq!(echoed_text(&result), "lenient");
    assert!(result.get("resultType").is_none(), "{result}");
}

#[tokio::test]
async fn legacy_initialize_keeps_each_supported_legacy_version() {
    let http = Http::start().await;
    for version in ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"] {
        let r = http.post(&[], &initialize(1, version)).await;
        let result = r.result(&json!(1));
        assert_eq!(result["protocolVersion"], version, "asked for {version}");
        assert!(r.header(SESSION).is_some(), "no session for {version}");
    }
}

#[tokio::test]
async fn legacy_initialize_with_unknown_version_offers_latest_legacy() {
    let http = Http::start().await;
    let result = http
        .post(&[], &initialize(1, "2099-01-01"))
        .await
        .result(&json!(1));
    assert_eq!(result["protocolVersion"], LATEST_LEGACY);
}

#[tokio::test]
async fn legacy_session_at_2024_11_05_serves_tool_calls() {
    let http = Http::start().await;
    let init = http.post(&[], &initialize(1, "2024-11-05")).await;
    assert_eq!(init.result(&json!(1))["protocolVersion"], "2024-11-05");
    let session = init.header(SESSION).expect("session").to_owned();
    // 2024-11-05 predates MCP-Protocol-Version: the session alone identifies the revision.
    let call = http
        .post(
            &[(SESSION, &session)],
            &request(2, "tools/call", echo_params("old")),
        )
        .await
        .result(&json!(2));
    assert_eq!(echoed_text(&call), "old");
    assert!(call.get("resultType").is_none(), "{call}");
}

// ---------------------------------------------------------------------------------------
// Modern (2026-07-28) revision
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn modern_echo_call_is_complete_and_names_the_server() {
    let http = Http::start().await;
    let r = http.modern(&modern_call(1, "modern hello")).await;
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "content-type {:?}",
        r.header("content-type")
    );
    assert!(
        r.header(SESSION).is_none(),
        "modern responses mint no session"
    );
    let result = r.result(&json!(1));
    assert_eq!(echoed_text(&result), "modern hello");
    assert_eq!(result["resultType"], "complete", "{result}");
    let info = &result["_meta"][META_SERVER_INFO];
    assert_eq!(info["name"], "keel", "{result}");
    assert!(info["version"].is_string(), "{result}");
}

#[tokio::test]
async fn modern_tools_list_is_cacheable() {
    let http = Http::start().await;
    let result = http
        .modern(&request(1, "tools/list", with_modern_meta(json!({}))))
        .await
        .result(&json!(1));
    assert!(
        result["tools"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t["name"] == "echo")),
        "{result}"
    );
    assert!(result["ttlMs"].is_u64(), "ttlMs: {result}");
    assert!(
        matches!(result["cacheScope"].as_str(), Some("public" | "private")),
        "cacheScope: {result}"
    );
    assert_eq!(result["resultType"], "complete");
}

#[tokio::test]
async fn modern_discover_lists_supported_versions() {
    let http = Http::start().await;
    let result = http
        .modern(&request(1, "server/discover", with_modern_meta(json!({}))))
        .await
        .result(&json!(1));
    let versions: Vec<&str> = result["supportedVersions"]
        .as_array()
        .unwrap_or_else(|| panic!("no supportedVersions: {result}"))
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for v in [
        "2026-07-28",
        "2025-11-25",
        "2025-06-18",
        "2025-03-26",
        "2024-11-05",
    ] {
        assert!(versions.contains(&v), "{v} missing from {versions:?}");
    }
    assert!(result["capabilities"]["tools"].is_object(), "{result}");
}

#[tokio::test]
async fn modern_method_header_mismatch_is_header_mismatch() {
    let mut http = Http::start().await;
    let r = http
        .post(
            &[
                ("mcp-protocol-version", MODERN),
                ("mcp-method", "tools/list"),
                ("mcp-name", "echo"),
            ],
            &modern_call(1, "x"),
        )
        .await;
    r.error(StatusCode::BAD_REQUEST, -32020, &json!(1));
    http.assert_alive().await;
}

#[tokio::test]
async fn modern_missing_name_header_on_tools_call_is_header_mismatch() {
    let http = Http::start().await;
    let r = http
        .post(
            &[
                ("mcp-protocol-version", MODERN),
                ("mcp-method", "tools/call"),
            ],
            &modern_call(1, "x"),
        )
        .await;
    r.error(StatusCode::BAD_REQUEST, -32020, &json!(1));
}

#[tokio::test]
async fn modern_name_header_mismatch_is_header_mismatch() {
    let http = Http::start().await;
    let r = http
        .post(
            &[
                ("mcp-protocol-version", MODERN),
                ("mcp-method", "tools/call"),
                ("mcp-name", "not-echo"),
            ],
            &modern_call(1, "x"),
        )
        .await;
    r.error(StatusCode::BAD_REQUEST, -32020, &json!(1));
}

#[tokio::test]
async fn modern_version_header_differing_from_meta_is_header_mismatch() {
    let http = Http::start().await;
    let mut body = modern_call(1, "x");
    body["params"]["_meta"][META_VERSION] = json!(LATEST_LEGACY);
    let r = http
        .post(
            &[
                ("mcp-protocol-version", MODERN),
                ("mcp-method", "tools/call"),
                ("mcp-name", "echo"),
            ],
            &body,
        )
        .await;
    r.error(StatusCode::BAD_REQUEST, -32020, &json!(1));
}

/// The same mismatch the other way round: a modern `_meta` version under a legacy header
/// value must not be served as a legacy request.
#[tokio::test]
async fn modern_meta_under_a_legacy_version_header_is_header_mismatch() {
    let http = Http::start().await;
    let r = http
        .post(
            &[
                ("mcp-protocol-version", LATEST_LEGACY),
                ("mcp-method", "tools/call"),
                ("mcp-name", "echo"),
            ],
            &modern_call(1, "x"),
        )
        .await;
    r.error(StatusCode::BAD_REQUEST, -32020, &json!(1));
}

#[tokio::test]
async fn modern_unsupported_version_lists_the_supported_ones() {
    let http = Http::start().await;
    let mut body = modern_call(1, "x");
    body["params"]["_meta"][META_VERSION] = json!("1900-01-01");
    let r = http
        .post(
            &[
                ("mcp-protocol-version", "1900-01-01"),
                ("mcp-method", "tools/call"),
                ("mcp-name", "echo"),
            ],
            &body,
        )
        .await;
    let body = r.error(StatusCode::BAD_REQUEST, -32022, &json!(1));
    let data = &body["error"]["data"];
    assert!(
        data["supported"]
            .as_array()
            .is_some_and(|s| s.contains(&json!(MODERN))),
        "data.supported: {body}"
    );
    assert_eq!(data["requested"], "1900-01-01", "{body}");
}

#[tokio::test]
async fn modern_unknown_method_is_404_method_not_found() {
    let mut http = Http::start().await;
    let r = http
        .modern(&request(1, "no/such/method", with_modern_meta(json!({}))))
        .await;
    r.error(StatusCode::NOT_FOUND, -32601, &json!(1));
    http.assert_alive().await;
}

#[tokio::test]
async fn modern_initialize_is_404_method_not_found() {
    let http = Http::start().await;
    let mut body = initialize(1, MODERN);
    body["params"]["_meta"] = support::modern_meta();
    let r = http.modern(&body).await;
    r.error(StatusCode::NOT_FOUND, -32601, &json!(1));
    assert!(r.header(SESSION).is_none(), "no session in the modern era");
}

#[tokio::test]
async fn modern_missing_client_capabilities_is_invalid_params() {
    let http = Http::start().await;
    let body = request(
        1,
        "tools/call",
        json!({
            "name": "echo",
            "arguments": { "text": "x" },
            "_meta": { META_VERSION: MODERN },
        }),
    );
    let r = http.modern(&body).await;
    r.error(StatusCode::BAD_REQUEST, -32602, &json!(1));
}

#[tokio::test]
async fn modern_base64_name_header_is_decoded() {
    let http = Http::start().await;
    let r = http
        .post(
            &[
                ("mcp-protocol-version", MODERN),
                ("mcp-method", "tools/call"),
                ("mcp-name", "=?base64?ZWNobw==?="),
            ],
            &modern_call(1, "encoded"),
        )
        .await;
    assert_eq!(echoed_text(&r.result(&json!(1))), "encoded");
}

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
async fn batch_array_is_an_invalid_request() {
    let mut http = Http::start().await;
    let batch = json!([modern_call(1, "a"), modern_call(2, "b")]);
    let r = http.post(&[], &batch).await;
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
