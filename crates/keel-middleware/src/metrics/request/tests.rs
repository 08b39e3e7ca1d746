use std::convert::Infallible;

use keel_core::{MethodRequest, Reply};
use keel_protocol::{ErrorCode, RequestId, RpcError};
use serde_json::json;
use tokio_test::{assert_pending, assert_ready, task};
use tower::{Layer, Service, ServiceExt, service_fn};

use crate::{
    Metrics,
    test_support::{
        RouteGate, method_request, parse_exposition, request_registry, requests_total, value,
    },
};

/// A mock routing answering each method with a fixed outcome.
fn answers(request: MethodRequest) -> std::future::Ready<Result<Reply, Infallible>> {
    let id = request.id().cloned().unwrap_or(RequestId::Number(0));
    let reply = match request.method() {
        "ping" | "tools/call" => Reply {
            body: Some(keel_protocol::encode_result(&id, &json!({}))),
            ..Reply::default()
        },
        "prompts/get" => Reply::error(Some(&id), &RpcError::invalid_params("Unknown prompt")),
        "resources/read" => Reply::error(
            Some(&id),
            &keel_core::Failure::overloaded(None, "full").to_rpc_error(),
        ),
        "tasks/get" => Reply::default(),
        other => Reply::error(Some(&id), &RpcError::method_not_found(other)),
    };
    std::future::ready(Ok(reply))
}

#[tokio::test]
async fn counts_requests_by_method_and_error_class() {
    let metrics = Metrics::new([]);
    let registry = request_registry();
    let svc = metrics.request_layer().layer(service_fn(answers));
    for (method, params) in [
        ("ping", json!({})),
        ("ping", json!({})),
        ("tools/call", json!({ "name": "io" })),
        ("prompts/get", json!({ "name": "nope" })),
        ("resources/read", json!({ "uri": "test://io" })),
        ("tasks/get", json!({})),
        ("no/such/method", json!({})),
    ] {
        let request = method_request(&registry, method, params);
        svc.clone().oneshot(request).await.expect("infallible");
    }
    let samples = parse_exposition(&metrics.render());
    let count = |method, outcome| requests_total(&samples, method, outcome);
    assert_eq!(count("ping", "ok"), 2.0);
    assert_eq!(count("tools/call", "ok"), 1.0);
    assert_eq!(count("prompts/get", "invalid_params"), 1.0);
    assert_eq!(count("resources/read", "overloaded"), 1.0);
    assert_eq!(count("tasks/get", "cancelled"), 1.0, "no answer");
    assert_eq!(
        count("other", "method_not_found"),
        1.0,
        "unknown methods share one label"
    );
    assert_eq!(count("ping", "invalid_params"), 0.0);
    let latency = |method: &str| {
        value(
            &samples,
            "keel_request_duration_seconds_count",
            &[("method", method)],
        )
    };
    assert_eq!(latency("ping"), 2.0);
    assert_eq!(latency("resources/read"), 1.0);
    assert_eq!(latency("resources/list"), 0.0, "every method is rendered");
    // The tool families are unchanged.
    assert!(
        metrics
            .render()
            .contains("# TYPE keel_tool_calls_total counter")
    );
}

#[tokio::test]
async fn tracks_in_flight_and_counts_a_dropped_request_as_cancelled() {
    let metrics = Metrics::new([]);
    let gate = RouteGate::new(&["resources/read"]);
    let mut svc = metrics.request_layer().layer(gate.service());
    let registry = request_registry();
    let in_flight = |m: &Metrics| {
        let samples = parse_exposition(&m.render());
        value(
            &samples,
            "keel_requests_in_flight",
            &[("method", "resources/read")],
        )
    };

    let read = || method_request(&registry, "resources/read", json!({ "uri": "test://io" }));
    let mut first = task::spawn(svc.call(read()));
    assert_pending!(first.poll());
    let mut second = task::spawn(svc.call(read()));
    assert_pending!(second.poll());
    assert_eq!(in_flight(&metrics), 2.0);

    drop(second);
    gate.release(1);
    let reply = assert_ready!(first.poll()).expect("infallible");
    assert_eq!(reply.error, None::<ErrorCode>);
    assert_eq!(in_flight(&metrics), 0.0);
    let samples = parse_exposition(&metrics.render());
    let count = |outcome| requests_total(&samples, "resources/read", outcome);
    assert_eq!((count("ok"), count("cancelled")), (1.0, 1.0));
}
