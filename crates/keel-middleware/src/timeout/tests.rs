use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use keel_core::{
    CallToolResult, Context, Dispatcher, FailureKind, Registry, ToolBuilder, ToolCall, ToolError,
    ToolService, Workload,
};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio_test::{assert_pending, assert_ready, assert_ready_ok, task};
use tokio_util::sync::CancellationToken;
use tower::{Layer, Service, ServiceBuilder, util::BoxCloneSyncService};

use super::*;
use crate::{
    AdmissionLayer, AdmissionLimits, Capacity, Metrics, QueueDepth,
    test_support::{Gate, call, parse_exposition, registry, value},
};

/// One cpu tool, `stuck`, that hands its cancellation token to work of its own (a spawned
/// watcher, as a worker-pool job would get it) and then never answers.
fn stuck_registry(
    tokens: Arc<Mutex<Vec<CancellationToken>>>,
    observed: Arc<Mutex<Option<oneshot::Sender<()>>>>,
) -> Registry {
    Registry::builder()
        .tool(
            ToolBuilder::new("stuck", json!({ "type": "object" }))
                .workload(Workload::Cpu)
                .handler(move |_: Value, cx: Context| {
                    let token = cx.cancellation_token();
                    tokens.lock().expect("not poisoned").push(token.clone());
                    let observed = observed.lock().expect("not poisoned").take();
                    tokio::spawn(async move {
                        token.cancelled().await;
                        if let Some(tx) = observed {
                            let _ = tx.send(());
                        }
                    });
                    std::future::pending::<Result<CallToolResult, ToolError>>()
                }),
        )
        .build()
        .expect("registry")
}

fn timeouts(tool: &str, ms: u64) -> ToolTimeouts {
    ToolTimeouts::default().with_tool(tool, CallTimeout(Duration::from_millis(ms)))
}

fn timed_out(result: Result<CallToolResult, ToolError>) -> Duration {
    match result {
        Err(ToolError::Failed(f)) => match f.kind() {
            FailureKind::TimedOut { after } => *after,
            other => panic!("expected a timeout, got {other:?}"),
        },
        other => panic!("expected a timeout, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_call_past_its_timeout_is_cancelled_stopped_and_frees_its_permit() {
    let tokens = Arc::new(Mutex::new(Vec::new()));
    let (tx, observed) = oneshot::channel();
    let reg = stuck_registry(Arc::clone(&tokens), Arc::new(Mutex::new(Some(tx))));
    let admission = AdmissionLayer::new(&AdmissionLimits::default().with_class(
        Workload::Cpu,
        Capacity::new(1).expect("valid"),
        QueueDepth(0),
    ));
    let metrics = Metrics::for_registry(&reg).with_admission(admission.state().clone());
    let svc: ToolService = BoxCloneSyncService::new(
        ServiceBuilder::new()
            .layer(metrics.layer())
            .layer(admission.clone())
            .layer(TimeoutLayer::new(timeouts("stuck", 100)))
            .service(Dispatcher::base_tool_service()),
    );

    let first = call(&reg, "stuck", json!({}));
    let request_token = first.context.cancellation_token();
    let mut first = task::spawn(svc.clone().call(first));
    assert_pending!(first.poll());
    assert_eq!(admission.state().gauges(Workload::Cpu).in_flight, 1);
    let token = tokens.lock().expect("not poisoned")[0].clone();

    tokio::time::advance(Duration::from_millis(99)).await;
    assert_pending!(first.poll());
    assert!(!token.is_cancelled());
    tokio::time::advance(Duration::from_millis(2)).await;
    assert!(first.is_woken());
    let after = timed_out(assert_ready!(first.poll()));
    assert_eq!(after, Duration::from_millis(100));

    // The tool's own work saw the cancellation; the rest of the request did not.
    assert!(token.is_cancelled());
    observed
        .await
        .expect("the tool's watcher saw the cancellation");
    assert!(!request_token.is_cancelled());

    // The permit is free at once: the next call is admitted, not shed.
    assert_eq!(admission.state().gauges(Workload::Cpu).in_flight, 0);
    let mut second = task::spawn(svc.clone().call(call(&reg, "stuck", json!({}))));
    assert_pending!(second.poll());
    assert_eq!(admission.state().gauges(Workload::Cpu).in_flight, 1);
    assert_eq!(admission.state().gauges(Workload::Cpu).shed_total, 0);

    let s = parse_exposition(&metrics.render());
    let calls = |outcome| {
        value(
            &s,
            "keel_tool_calls_total",
            &[("tool", "stuck"), ("outcome", outcome)],
        )
    };
    assert_eq!(calls("timed_out"), 1.0);
    assert_eq!(calls("tool_error"), 0.0);

    // On the wire: an `isError` result the model reads, saying what happened.
    let Err(ToolError::Failed(f)) = ({
        tokio::time::advance(Duration::from_millis(101)).await;
        assert_ready!(second.poll())
    }) else {
        panic!("the second call times out too");
    };
    match f.to_wire() {
        keel_core::WireFailure::Result(r) => {
            assert!(r.is_error);
            let meta = &r.meta.expect("meta")[keel_core::FAILURE_META_KEY];
            assert_eq!(meta["kind"], "timed_out");
            assert_eq!(meta["timeoutMs"], 100);
            assert_eq!(meta["retryable"], true);
            assert_eq!(
                r.content[0]["text"],
                "stuck ran past its 100ms timeout and was stopped"
            );
        }
        keel_core::WireFailure::Error(e) => panic!("expected a result, got {e:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn the_clock_starts_when_the_call_holds_its_permit() {
    let gate = Gate::new();
    let limits = AdmissionLimits::default().with_class(
        Workload::Cpu,
        Capacity::new(1).expect("valid"),
        QueueDepth(1),
    );
    let mut svc = AdmissionLayer::new(&limits)
        .layer(TimeoutLayer::new(timeouts("cpu", 100)).layer(gate.service()));
    let mut running = task::spawn(svc.call(cpu(0)));
    assert_pending!(running.poll());
    let mut queued = task::spawn(svc.call(cpu(1)));
    assert_pending!(queued.poll());

    // The first finishes just in time; the second waited 90ms, which its timeout ignores.
    tokio::time::advance(Duration::from_millis(90)).await;
    gate.release(1);
    assert_ready_ok!(running.poll());
    assert_pending!(queued.poll());
    assert_eq!(gate.started(), [0, 1]);
    tokio::time::advance(Duration::from_millis(99)).await;
    assert_pending!(queued.poll());
    gate.release(1);
    assert_ready_ok!(queued.poll());
}

#[tokio::test(start_paused = true)]
async fn tools_without_a_timeout_run_unbounded_and_a_default_covers_the_rest() {
    let gate = Gate::new();
    let mut svc = TimeoutLayer::new(timeouts("cpu", 100)).layer(gate.service());
    let mut light = task::spawn(svc.call(call(&registry(), "light", json!({ "n": 0 }))));
    assert_pending!(light.poll());
    tokio::time::advance(Duration::from_secs(3600)).await;
    assert_pending!(light.poll());
    gate.release(1);
    assert_ready_ok!(light.poll());

    let mut svc = TimeoutLayer::new(
        timeouts("cpu", 100).with_default(Some(CallTimeout(Duration::from_millis(50)))),
    )
    .layer(gate.service());
    let mut light = task::spawn(svc.call(call(&registry(), "light", json!({ "n": 1 }))));
    let mut cpu = task::spawn(svc.call(call(&registry(), "cpu", json!({ "n": 2 }))));
    assert_pending!(light.poll());
    assert_pending!(cpu.poll());
    tokio::time::advance(Duration::from_millis(51)).await;
    assert_eq!(
        timed_out(assert_ready!(light.poll())),
        Duration::from_millis(50)
    );
    assert_pending!(cpu.poll());
    tokio::time::advance(Duration::from_millis(50)).await;
    assert_eq!(
        timed_out(assert_ready!(cpu.poll())),
        Duration::from_millis(100)
    );
}

#[test]
fn timeouts_resolve_per_tool_then_default() {
    let ms = |n| Some(CallTimeout(Duration::from_millis(n)));
    assert!(ToolTimeouts::default().is_empty());
    assert_eq!(ToolTimeouts::default().of("echo"), None);
    let t = timeouts("query", 200);
    assert!(!t.is_empty());
    assert_eq!((t.of("query"), t.of("echo")), (ms(200), None));
    let t = t.with_default(ms(50));
    assert_eq!((t.of("query"), t.of("echo")), (ms(200), ms(50)));
    let t = ToolTimeouts::default().with_default(ms(50));
    assert_eq!(t.of("anything"), ms(50));
}

fn cpu(n: i64) -> ToolCall {
    call(&registry(), "cpu", json!({ "n": n }))
}
