//! The HTTP endpoint acts for the principal an authentication layer puts in a request's
//! extensions (anonymous without one), and a legacy session answers only the principal that
//! created it. The real router driven in-process with `oneshot`, as a layer in front of it
//! would call it.

use std::{sync::Arc, time::Duration};

use axum::{Router, body::Body};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use keel_core::{
    CallToolResult, Context, DispatchSettings, Dispatcher, MemorySessionStore, Principal, Registry,
    RequestStateCodec, ServerInfo, StateKey, ToolBuilder,
};
use serde_json::{Value, json};
use tower::ServiceExt;

const LEGACY: &str = "2025-11-25";
const SESSION: &str = "mcp-session-id";

fn router() -> Router {
    let registry =
        Registry::builder()
            .tool(
                ToolBuilder::new("whoami", json!({ "type": "object" })).handler(
                    |_: Value, cx: Context| async move {
                        Ok(CallToolResult::text(cx.principal().key()))
                    },
                ),
            )
            .build()
            .expect("registry");
    let dispatcher = Dispatcher::new(
        Arc::new(registry),
        Dispatcher::base_tool_service(),
        Arc::new(MemorySessionStore::new(Duration::from_secs(60))),
        RequestStateCodec::new(StateKey::random(), Duration::from_secs(60)),
        ServerInfo {
            name: "principal-tests".into(),
            version: "0".into(),
            instructions: None,
        },
        DispatchSettings::default(),
    );
    keel_transport::router(Arc::new(dispatcher), Default::default(), "/mcp")
}

/// A request to the endpoint acting for `principal` (`None`: no authentication layer).
fn request(
    method: &str,
    principal: Option<&Principal>,
    session: Option<&str>,
    version: &str,
    body: Option<&Value>,
) -> Request<Body> {
    let mut b = Request::builder()
        .method(method)
        .uri("/mcp")
        .header("host", "127.0.0.1")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", version);
    if let Some(s) = session {
        b = b.header(SESSION, s);
    }
    let mut r = b
        .body(body.map_or_else(Body::empty, |v| Body::from(v.to_string())))
        .expect("request");
    if let Some(p) = principal {
        r.extensions_mut().insert(p.clone());
    }
    r
}

async fn send(router: &Router, request: Request<Body>) -> (StatusCode, Response<Body>) {
    let response = router.clone().oneshot(request).await.expect("infallible");
    (response.status(), response)
}

async fn json_of(response: Response<Body>) -> Value {
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    serde_json::from_slice(&bytes).expect("JSON body")
}

fn rpc(id: u64, method: &str, params: Value) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params })
}

#[tokio::test]
async fn tools_see_the_principal_of_the_http_request() {
    let router = router();
    let call = rpc(
        1,
        "tools/call",
        json!({ "name": "whoami", "arguments": {} }),
    );
    let bob = Principal::authenticated("bob", "https://issuer.example", ["tools"]);
    for (principal, key) in [
        (None, "anonymous"),
        (Some(&bob), "https://issuer.example|bob"),
    ] {
        let (status, response) = send(
            &router,
            request("POST", principal, None, LEGACY, Some(&call)),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let answer = json_of(response).await;
        assert_eq!(answer["result"]["content"][0]["text"], key, "{answer}");
    }
}

#[tokio::test]
async fn a_session_refuses_every_principal_but_its_creator() {
    let router = router();
    let alice = Principal::authenticated("alice", "https://issuer.example", ["tools"]);
    let bob = Principal::authenticated("bob", "https://issuer.example", ["tools"]);
    let init = rpc(
        1,
        "initialize",
        json!({ "protocolVersion": LEGACY, "capabilities": {}, "clientInfo": { "name": "t", "version": "0" } }),
    );
    let (status, response) = send(
        &router,
        request("POST", Some(&alice), None, LEGACY, Some(&init)),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let session = response.headers()[SESSION]
        .to_str()
        .expect("ascii")
        .to_owned();
    let ping = rpc(2, "ping", json!({}));
    let post = |p: Option<&Principal>, s: &str| request("POST", p, Some(s), LEGACY, Some(&ping));

    // What an unknown session id gets is what another principal gets for alice's session.
    let unknown = "0123456789abcdef0123456789abcdef";
    let (unknown_status, unknown_response) = send(&router, post(Some(&bob), unknown)).await;
    assert_eq!(unknown_status, StatusCode::NOT_FOUND);
    let unknown_body = json_of(unknown_response).await;
    for other in [Some(&bob), Some(&Principal::local("alice")), None] {
        let (status, response) = send(&router, post(other, &session)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{other:?}");
        assert_eq!(json_of(response).await, unknown_body, "{other:?}");
        let (status, _) = send(&router, request("GET", other, Some(&session), LEGACY, None)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "GET by {other:?}");
        let (status, _) = send(
            &router,
            request("DELETE", other, Some(&session), LEGACY, None),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "DELETE by {other:?}");
    }

    // The session lived through it all, for alice.
    let (status, response) = send(&router, post(Some(&alice), &session)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json_of(response).await["result"], json!({}));
    let (status, _) = send(
        &router,
        request("DELETE", Some(&alice), Some(&session), LEGACY, None),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}
