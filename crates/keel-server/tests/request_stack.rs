//! The server's assembled request stack driven in process through `Dispatcher::handle` (no
//! sockets): every method is measured, and a resource read is admitted in its declared
//! workload class beside the tools of that class.

mod support;

use std::{sync::Arc, time::Duration};

use keel_core::{
    CallToolResult, Context, Dispatcher, Incoming, Registry, Reply, ResourceBuilder,
    ResourceContents, ToolBuilder, Workload,
};
use keel_protocol::{ErrorCode, ProtocolVersion};
use keel_server::{ClassConfig, Config, Server};
use serde_json::{Value, json};
use tokio::sync::{Notify, Semaphore};

/// A light tool, a fixed io resource whose reads wait for the test, and an io template.
fn registry(started: &Arc<Notify>, gate: &Arc<Semaphore>) -> Registry {
    let (started, gate) = (Arc::clone(started), Arc::clone(gate));
    Registry::builder()
        .tool(
            ToolBuilder::new("light", json!({ "type": "object" }))
                .handler(|_: Value, _: Context| async { Ok(CallToolResult::text("light")) }),
        )
        .resource(
            ResourceBuilder::new("test://db", "db")
                .workload(Workload::Io)
                .read(move |uri, _cx| {
                    let (started, gate) = (Arc::clone(&started), Arc::clone(&gate));
                    async move {
                        started.notify_one();
                        if let Ok(permit) = gate.acquire().await {
                            permit.forget();
                        }
                        Ok(vec![ResourceContents::text(uri, "text/plain", "rows")])
                    }
                }),
        )
        .template(
            ResourceBuilder::new("test://db/{table}", "table")
                .workload(Workload::Io)
                .read_template(|uri, _, _| async move {
                    Ok(vec![ResourceContents::text(uri, "text/plain", "table")])
                }),
        )
        .build()
        .expect("registry")
}

fn server(registry: Registry) -> Server {
    let mut config = Config::default();
    config.admission.io = Some(ClassConfig {
        capacity: 1,
        queue: Some(0),
    });
    Server::new(config, registry).expect("server")
}

const MODERN: &str = "2026-07-28";

/// Sends one request; modern methods carry the `_meta` their era requires.
async fn send(d: &Dispatcher, method: &str, mut params: Value, modern: bool) -> Reply {
    let version = if modern {
        params["_meta"] = json!({
            "io.modelcontextprotocol/protocolVersion": MODERN,
            "io.modelcontextprotocol/clientCapabilities": {},
        });
        ProtocolVersion::parse(MODERN).expect("known revision")
    } else {
        ProtocolVersion::V2025_06_18
    };
    let text = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
    let Incoming::Request(req) = Incoming::decode(text.to_string().as_bytes()) else {
        panic!("{text} is a request");
    };
    let env = support::in_process_env(version);
    d.handle(req, env).await
}

fn body(reply: &Reply) -> Value {
    serde_json::from_slice(reply.body.as_deref().expect("a response")).expect("JSON")
}

#[tokio::test]
async fn an_io_resource_read_is_shed_when_the_io_class_is_full_while_cheap_work_answers() {
    let (started, gate) = (Arc::new(Notify::new()), Arc::new(Semaphore::new(0)));
    let server = server(registry(&started, &gate));
    let dispatcher = Arc::clone(server.dispatcher());

    // The first read holds the one io permit, blocked in its handler.
    let holder = Arc::clone(&dispatcher);
    let first = tokio::spawn(async move {
        send(
            &holder,
            "resources/read",
            json!({ "uri": "test://db" }),
            false,
        )
        .await
    });
    started.notified().await;

    for uri in ["test://db", "test://db/orders"] {
        // Shed at once; without admission it would wait on the gate.
        let shed = tokio::time::timeout(
            Duration::from_secs(10),
            send(&dispatcher, "resources/read", json!({ "uri": uri }), false),
        )
        .await
        .expect("answered at once, not queued behind the gate");
        assert_eq!(shed.error, Some(ErrorCode::SERVER_OVERLOADED), "{uri}");
        let error = &body(&shed)["error"];
        assert_eq!(error["code"], -32000);
        assert_eq!(error["data"]["kind"], "overloaded");
        assert_eq!(error["data"]["workload"], "io");
        assert!(error["data"]["retryAfterMs"].as_u64().is_some(), "{error}");
    }

    let list = send(&dispatcher, "tools/list", json!({}), false).await;
    assert_eq!(list.error, None);
    assert_eq!(body(&list)["result"]["tools"][0]["name"], "light");
    let call = send(
        &dispatcher,
        "tools/call",
        json!({ "name": "light", "arguments": {} }),
        false,
    )
    .await;
    assert_eq!(call.error, None);
    assert_eq!(body(&call)["result"]["content"][0]["text"], "light");

    gate.add_permits(1);
    let first = first.await.expect("the first read ends");
    assert_eq!(body(&first)["result"]["contents"][0]["text"], "rows");
    // The class is free again.
    let again = send(
        &dispatcher,
        "resources/read",
        json!({ "uri": "test://db/x" }),
        false,
    )
    .await;
    assert_eq!(again.error, None);

    let text = server.metrics().render();
    for line in [
        "keel_requests_total{method=\"resources/read\",outcome=\"overloaded\"} 2",
        "keel_requests_total{method=\"resources/read\",outcome=\"ok\"} 2",
        "keel_requests_total{method=\"tools/call\",outcome=\"ok\"} 1",
        "keel_admission_rejected_total{workload=\"io\",reason=\"queue_full\"} 2",
        "keel_tool_calls_total{tool=\"light\",workload=\"light\",outcome=\"ok\"} 1",
    ] {
        assert!(text.contains(line), "{line} missing from\n{text}");
    }
}

#[tokio::test]
async fn every_method_is_counted_in_the_request_metrics() {
    let (started, gate) = (Arc::new(Notify::new()), Arc::new(Semaphore::new(1)));
    let server = server(registry(&started, &gate));
    let d = server.dispatcher();
    let methods: [(&str, Value, bool); 21] = [
        (
            "initialize",
            json!({ "protocolVersion": "2025-06-18", "capabilities": {},
                    "clientInfo": { "name": "t", "version": "1" } }),
            false,
        ),
        ("ping", json!({}), false),
        ("server/discover", json!({}), true),
        ("subscriptions/listen", json!({ "notifications": {} }), true),
        ("tools/list", json!({}), false),
        ("tools/call", json!({ "name": "light" }), false),
        ("resources/list", json!({}), false),
        ("resources/templates/list", json!({}), false),
        ("resources/read", json!({ "uri": "test://db" }), false),
        ("resources/subscribe", json!({ "uri": "test://db" }), false),
        (
            "resources/unsubscribe",
            json!({ "uri": "test://db" }),
            false,
        ),
        ("prompts/list", json!({}), false),
        ("prompts/get", json!({ "name": "none" }), false),
        (
            "completion/complete",
            json!({ "ref": { "type": "ref/resource", "uri": "test://db/{table}" },
                    "argument": { "name": "table", "value": "o" } }),
            false,
        ),
        ("logging/setLevel", json!({ "level": "info" }), false),
        ("tasks/get", json!({ "taskId": "none" }), true),
        ("tasks/update", json!({ "taskId": "none" }), true),
        ("tasks/cancel", json!({ "taskId": "none" }), true),
        ("tasks/list", json!({}), true),
        ("tasks/result", json!({ "taskId": "none" }), true),
        ("no/such/method", json!({}), false),
    ];
    for (method, params, modern) in &methods {
        send(d, method, params.clone(), *modern).await;
    }
    let text = server.metrics().render();
    for (method, _, _) in &methods[..20] {
        let line = format!("keel_request_duration_seconds_count{{method=\"{method}\"}} 1");
        assert!(text.contains(&line), "{line} missing from\n{text}");
    }
    for line in [
        "keel_request_duration_seconds_count{method=\"other\"} 1",
        "keel_requests_total{method=\"other\",outcome=\"method_not_found\"} 1",
        "keel_requests_total{method=\"ping\",outcome=\"ok\"} 1",
        "keel_requests_total{method=\"prompts/get\",outcome=\"invalid_params\"} 1",
        "keel_requests_in_flight{method=\"tools/call\"} 0",
    ] {
        assert!(text.contains(line), "{line} missing from\n{text}");
    }
}

/// A policy added with `ServerBuilder::request_layer`: refuses `prompts/get` for everyone,
/// answering the refusal itself.
#[derive(Clone)]
struct DenyPrompts<S>(S);

impl<S> tower::Service<keel_core::MethodRequest> for DenyPrompts<S>
where
    S: tower::Service<
            keel_core::MethodRequest,
            Response = Reply,
            Error = std::convert::Infallible,
            Future = keel_core::BoxFuture<Result<Reply, std::convert::Infallible>>,
        >,
{
    type Response = Reply;
    type Error = std::convert::Infallible;
    type Future = keel_core::BoxFuture<Result<Reply, std::convert::Infallible>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: keel_core::MethodRequest) -> Self::Future {
        if request.method() == "prompts/get" {
            let refusal = request.refuse(&keel_protocol::RpcError::new(
                ErrorCode::INVALID_REQUEST,
                "prompts are closed",
            ));
            return Box::pin(std::future::ready(Ok(refusal)));
        }
        self.0.call(request)
    }
}

#[tokio::test]
async fn a_request_layer_added_to_the_builder_sees_every_method_inside_the_request_metrics() {
    let (started, gate) = (Arc::new(Notify::new()), Arc::new(Semaphore::new(1)));
    let server = Server::builder(Config::default(), registry(&started, &gate))
        .request_layer(tower::layer::layer_fn(DenyPrompts))
        .build()
        .expect("server");
    let d = server.dispatcher();

    let refused = send(d, "prompts/get", json!({ "name": "any" }), false).await;
    assert_eq!(refused.error, Some(ErrorCode::INVALID_REQUEST));
    assert_eq!(body(&refused)["error"]["message"], "prompts are closed");
    // Other methods pass through the added layer to the routing.
    let read = send(d, "resources/read", json!({ "uri": "test://db" }), false).await;
    assert_eq!(read.error, None);
    assert_eq!(body(&read)["result"]["contents"][0]["text"], "rows");

    let text = server.metrics().render();
    for line in [
        "keel_requests_total{method=\"prompts/get\",outcome=\"invalid_request\"} 1",
        "keel_requests_total{method=\"resources/read\",outcome=\"ok\"} 1",
    ] {
        assert!(text.contains(line), "{line} missing from\n{text}");
    }
}
