//! End to end, real `keel` binary on a loopback port. Legacy (session-based) revisions over Streamable HTTP: the session flow from initialize to DELETE, version negotiation, lenient session-less requests.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::json;
use support::http::*;
use support::{
    LATEST_LEGACY, META_SERVER_INFO, echo_params, echoed_text, initialize, notification, request,
};

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

#[tokio::test]
async fn legacy_2025_03_26_session_serves_a_batch() {
    let http = Http::start().await;
    let init = http.post(&[], &initialize(1, "2025-03-26")).await;
    let session = init.header(SESSION).expect("session").to_owned();
    let headers = [
        (SESSION, session.as_str()),
        ("mcp-protocol-version", "2025-03-26"),
    ];
    http.post(&headers, &notification("notifications/initialized"))
        .await;
    let batch = json!([
        request(2, "tools/call", echo_params("first")),
        request(3, "tools/call", echo_params("second")),
        notification("notifications/initialized"),
    ]);
    let r = http.post(&headers, &batch).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let answers = r.json();
    let answers = answers.as_array().expect("a JSON array of responses");
    assert_eq!(answers.len(), 2, "{}", r.text);
    for (id, text) in [(2, "first"), (3, "second")] {
        let answer = answers
            .iter()
            .find(|a| a["id"] == id)
            .expect("each request answered");
        assert_eq!(echoed_text(&answer["result"]), text);
    }
    // Only notifications: accepted, no body.
    let r = http
        .post(
            &headers,
            &json!([notification("notifications/initialized")]),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
}

#[tokio::test]
async fn initialize_past_the_session_cap_is_refused_until_a_session_ends() {
    let http = Http::over(support::KeelHttp::start_with_config("[sessions]\nmax = 3\n").await);
    let mut sessions = Vec::new();
    for _ in 0..3 {
        sessions.push(http.open_session().await);
    }
    // A client opening sessions in a loop gets an overload, not a fourth session.
    let refused = http.post(&[], &initialize(9, LATEST_LEGACY)).await;
    assert!(refused.header(SESSION).is_none(), "{}", refused.text);
    assert_eq!(refused.header("retry-after"), Some("1"));
    let body = refused.json();
    assert_eq!(body["error"]["code"], -32000, "{body}");
    assert_eq!(body["error"]["data"]["limit"], "sessions");
    // The sessions that exist keep working.
    let r = http
        .in_session(
            &sessions[0],
            &request(2, "tools/call", echo_params("still")),
        )
        .await;
    assert_eq!(echoed_text(&r.result(&json!(2))), "still");
    // One ends: there is room again.
    let deleted = http
        .send(
            Method::DELETE,
            &[
                (SESSION, &sessions[1]),
                ("mcp-protocol-version", LATEST_LEGACY),
            ],
            "",
        )
        .await;
    assert!(deleted.status.is_success());
    http.open_session().await;
}
