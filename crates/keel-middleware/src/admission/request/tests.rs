use std::time::Duration;

use keel_core::{MethodRequest, Reply, Workload};
use keel_protocol::ErrorCode;
use serde_json::{Value, json};
use tokio_test::{assert_pending, assert_ready, task};
use tower::{Layer, Service};

use crate::{
    AdmissionLayer, AdmissionLimits, Capacity, MaxQueueWait, QueueDepth,
    test_support::{RouteGate, call, method_request, request_registry},
};

fn limits(workload: Workload, capacity: usize, depth: usize) -> AdmissionLimits {
    AdmissionLimits::default().with_class(
        workload,
        Capacity::new(capacity).expect("valid capacity"),
        QueueDepth(depth),
    )
}

fn read(uri: &str) -> MethodRequest {
    method_request(&request_registry(), "resources/read", json!({ "uri": uri }))
}

/// The JSON-RPC error of a reply: its code and `error.data`.
fn error_of(reply: &Reply) -> (ErrorCode, Value) {
    let body: Value =
        serde_json::from_slice(reply.body.as_deref().expect("a body")).expect("JSON body");
    let code = reply.error.expect("an error reply");
    assert_eq!(body["error"]["code"], code.0);
    (code, body["error"]["data"].clone())
}

const GATED: &[&str] = &["resources/read", "prompts/get", "tools/call", "tools/list"];

#[tokio::test]
async fn reads_and_prompts_take_their_class_permits_shared_with_tools() {
    let tools = AdmissionLayer::new(&limits(Workload::Io, 1, 0));
    let state = tools.state().clone();
    let gate = RouteGate::new(GATED);
    let mut svc = tools.request_layer().layer(gate.service());

    // A template read of an io resource holds the one io permit.
    let mut first = task::spawn(svc.call(read("test://io/42")));
    assert_pending!(first.poll());
    assert_eq!(state.gauges(Workload::Io).in_flight, 1);

    // Another io read and an io prompt are shed with the one overload shape.
    for request in [
        read("test://io"),
        method_request(&request_registry(), "prompts/get", json!({ "name": "io" })),
    ] {
        let mut shed = task::spawn(svc.call(request));
        let reply = assert_ready!(shed.poll()).expect("infallible");
        let (code, data) = error_of(&reply);
        assert_eq!(code, ErrorCode::SERVER_OVERLOADED);
        assert_eq!(data["kind"], "overloaded");
        assert_eq!(data["workload"], "io");
        assert_eq!(data["retryAfterMs"], 1000);
    }
    // The tool stack's admission sees the same class full.
    let mut tool = tools.layer(crate::test_support::Gate::new().service());
    let mut io_tool =
        task::spawn(tool.call(call(&crate::test_support::registry(), "io", json!({}))));
    assert!(
        assert_ready!(io_tool.poll()).is_err(),
        "the io tool is shed too"
    );
    assert_eq!(state.gauges(Workload::Io).shed_total, 3);
    assert_eq!(
        gate.started(),
        ["resources/read"],
        "shed requests never ran"
    );

    // A light read is admitted in its own class.
    let mut light = task::spawn(svc.call(read("test://light")));
    assert_pending!(light.poll());
    assert_eq!(state.gauges(Workload::Light).in_flight, 1);

    gate.release(2);
    assert!(first.is_woken());
    assert!(assert_ready!(first.poll()).is_ok());
    assert!(assert_ready!(light.poll()).is_ok());
    assert_eq!(state.gauges(Workload::Io).in_flight, 0, "permit given back");
    assert_eq!(state.gauges(Workload::Light).in_flight, 0);
}

#[tokio::test]
async fn tool_calls_lists_and_unknown_targets_pass_without_a_permit() {
    let tools = AdmissionLayer::new(&limits(Workload::Io, 1, 0));
    let state = tools.state().clone();
    let gate = RouteGate::new(GATED);
    let mut svc = tools.request_layer().layer(gate.service());
    let registry = request_registry();

    let mut pending = Vec::new();
    for (method, params) in [
        // Admitted by the tool stack, not here: never twice.
        ("tools/call", json!({ "name": "io" })),
        ("tools/call", json!({ "name": "io" })),
        ("tools/list", json!({})),
        // No registered target: the routing answers "not found", no class to admit in.
        ("resources/read", json!({ "uri": "test://nowhere" })),
    ] {
        let mut f = task::spawn(svc.call(method_request(&registry, method, params)));
        assert_pending!(f.poll());
        pending.push(f);
    }
    for w in [Workload::Light, Workload::Cpu, Workload::Io, Workload::Ml] {
        let g = state.gauges(w);
        assert_eq!((g.in_flight, g.queued, g.shed_total), (0, 0, 0), "{w:?}");
    }
    gate.release(pending.len());
    for mut f in pending {
        assert!(assert_ready!(f.poll()).is_ok());
    }
}

#[tokio::test(start_paused = true)]
async fn a_queued_read_runs_when_a_permit_frees_or_is_refused_at_the_wait_bound() {
    let limits = limits(Workload::Io, 1, 1)
        .with_max_queue_wait(Some(MaxQueueWait(Duration::from_millis(100))));
    let tools = AdmissionLayer::new(&limits);
    let state = tools.state().clone();
    let gate = RouteGate::new(GATED);
    let mut svc = tools.request_layer().layer(gate.service());

    let mut running = task::spawn(svc.call(read("test://io")));
    assert_pending!(running.poll());
    let mut queued = task::spawn(svc.call(read("test://io/1")));
    assert_pending!(queued.poll());
    assert_eq!(state.gauges(Workload::Io).queued, 1);

    // The first finishes: the queued one takes its permit and runs.
    gate.release(1);
    assert!(assert_ready!(running.poll()).is_ok());
    assert_pending!(queued.poll());
    assert_eq!(gate.started().len(), 2);
    assert_eq!(state.gauges(Workload::Io).queued, 0);

    // A third waits past the bound while the second holds the permit.
    let mut late = task::spawn(svc.call(read("test://io/2")));
    assert_pending!(late.poll());
    tokio::time::sleep(Duration::from_millis(150)).await;
    let reply = assert_ready!(late.poll()).expect("infallible");
    let (code, data) = error_of(&reply);
    assert_eq!(code, ErrorCode::SERVER_OVERLOADED);
    assert_eq!(data["reason"], "queue_timeout");
    assert!(data["retryAfterMs"].as_u64().is_some());
    assert_eq!(state.gauges(Workload::Io).timed_out_total, 1);
    gate.release(1);
    assert!(assert_ready!(queued.poll()).is_ok());
}

#[tokio::test]
async fn a_read_in_a_class_of_the_servers_own_is_admitted_there_or_refused_when_undefined() {
    use keel_core::{Registry, ResourceBuilder};
    let reports = Workload::named("reports");
    let registry = Registry::builder()
        .resource(
            ResourceBuilder::new("test://reports", "reports")
                .workload(reports)
                .read(|_, _| async { Ok(Vec::new()) }),
        )
        .build()
        .map(std::sync::Arc::new)
        .expect("registry");
    let read = || {
        method_request(
            &registry,
            "resources/read",
            json!({ "uri": "test://reports" }),
        )
    };

    let limits = AdmissionLimits::default().with_class(
        reports,
        Capacity::new(1).expect("valid"),
        QueueDepth(0),
    );
    let tools = AdmissionLayer::new(&limits);
    let state = tools.state().clone();
    let gate = RouteGate::new(GATED);
    let mut svc = tools.request_layer().layer(gate.service());
    let mut first = task::spawn(svc.call(read()));
    assert_pending!(first.poll());
    assert_eq!(state.gauges(reports).in_flight, 1);
    let reply = assert_ready!(task::spawn(svc.call(read())).poll()).expect("infallible");
    let (code, data) = error_of(&reply);
    assert_eq!(code, ErrorCode::SERVER_OVERLOADED);
    assert_eq!(data["workload"], "reports");
    gate.release(1);
    assert!(assert_ready!(first.poll()).is_ok());

    // Without the class, the read is refused, never run.
    let tools = AdmissionLayer::new(&AdmissionLimits::default());
    let gate = RouteGate::new(GATED);
    let mut svc = tools.request_layer().layer(gate.service());
    let reply = assert_ready!(task::spawn(svc.call(read())).poll()).expect("infallible");
    let (code, data) = error_of(&reply);
    assert_eq!(code, ErrorCode::INTERNAL_ERROR);
    assert_eq!(data["workload"], "reports");
    assert_eq!(data["kind"], "permanent");
    assert!(gate.started().is_empty());
}
