use std::time::Duration;

use keel_core::{Failure, FailureKind, ToolCall, ToolError, Workload};
use serde_json::json;
use tokio_test::{assert_pending, assert_ready, assert_ready_ok, task};
use tower::{Layer, Service, ServiceExt};

use super::*;
use crate::test_support::{Gate, call, registry};

fn limits(workload: Workload, capacity: usize, depth: usize) -> AdmissionLimits {
    AdmissionLimits::default().with_class(
        workload,
        Capacity::new(capacity).expect("valid capacity"),
        QueueDepth(depth),
    )
}

fn stack(
    limits: &AdmissionLimits,
    gate: &Gate,
) -> (AdmissionService<keel_core::ToolService>, AdmissionState) {
    let layer = AdmissionLayer::new(limits);
    let state = layer.state().clone();
    (layer.layer(gate.service()), state)
}

fn cpu_call(n: i64) -> ToolCall {
    call(&registry(), "cpu", json!({ "n": n }))
}

fn rejection(result: Result<keel_core::CallToolResult, ToolError>) -> Failure {
    match result {
        Err(ToolError::Failed(f)) if matches!(f.kind(), FailureKind::Overloaded { .. }) => f,
        other => panic!("expected an overload, got {other:?}"),
    }
}

#[tokio::test]
async fn sheds_exactly_when_permits_and_queue_are_full() {
    let gate = Gate::new();
    let (mut svc, state) = stack(&limits(Workload::Cpu, 2, 3), &gate);

    let mut calls: Vec<_> = (0..5).map(|n| task::spawn(svc.call(cpu_call(n)))).collect();
    for c in &mut calls {
        assert_pending!(c.poll());
    }
    assert_eq!(gate.started(), [0, 1], "two run, three wait");
    let g = state.gauges(Workload::Cpu);
    assert_eq!((g.in_flight, g.queued, g.shed_total), (2, 3, 0));

    let mut shed = task::spawn(svc.call(cpu_call(5)));
    let r = rejection(assert_ready!(shed.poll()));
    assert_eq!(
        r.to_string(),
        "server overloaded: cpu work has 2 calls running and 3 waiting"
    );
    let rpc = r.to_rpc_error();
    assert_eq!(rpc.code.0, -32000);
    assert_eq!(rpc.message, "Server overloaded");
    assert_eq!(
        rpc.data,
        Some(json!({
            "workload": "cpu", "reason": "queue_full", "inFlight": 2, "queued": 3,
            "retryable": true, "kind": "overloaded", "retryAfterMs": 1000,
            "message": "server overloaded: cpu work has 2 calls running and 3 waiting",
        }))
    );
    assert_eq!(state.gauges(Workload::Cpu).shed_total, 1);
    assert_eq!(
        gate.started(),
        [0, 1],
        "the shed call never reached the inner service"
    );

    // One finished call makes room for exactly one more in the queue.
    gate.release(1);
    assert!(calls[0].is_woken());
    assert_ready_ok!(calls[0].poll());
    assert!(
        calls[2].is_woken(),
        "the head of the queue is woken with the freed permit"
    );
    assert_pending!(calls[2].poll());
    let mut sixth = task::spawn(svc.call(cpu_call(6)));
    assert_pending!(sixth.poll());
    let mut seventh = task::spawn(svc.call(cpu_call(7)));
    rejection(assert_ready!(seventh.poll()));
    assert_eq!(state.gauges(Workload::Cpu).shed_total, 2);
}

#[tokio::test]
async fn queued_calls_proceed_in_order_as_permits_free_up() {
    let gate = Gate::new();
    let (mut svc, state) = stack(&limits(Workload::Cpu, 1, 3), &gate);
    let mut calls: Vec<_> = (0..4).map(|n| task::spawn(svc.call(cpu_call(n)))).collect();
    for c in &mut calls {
        assert_pending!(c.poll());
    }
    // Poll the later ones first: the order must come from the queue, not from polling.
    for i in 0..4 {
        assert_eq!(gate.started().len(), i + 1);
        gate.release(1);
        assert_eq!(
            assert_ready_ok!(calls[i].poll()).content[0]["text"],
            i.to_string()
        );
        for c in calls[i + 1..].iter_mut().rev() {
            assert_pending!(c.poll());
        }
    }
    assert_eq!(gate.started(), [0, 1, 2, 3]);
    let g = state.gauges(Workload::Cpu);
    assert_eq!((g.in_flight, g.queued, g.shed_total), (0, 0, 0));
}

#[tokio::test]
async fn permit_is_released_on_completion_before_the_future_is_dropped() {
    let gate = Gate::new();
    let (mut svc, state) = stack(&limits(Workload::Cpu, 1, 0), &gate);
    let mut first = task::spawn(svc.call(cpu_call(0)));
    assert_pending!(first.poll());
    assert_eq!(state.gauges(Workload::Cpu).in_flight, 1);
    gate.release(1);
    assert_ready_ok!(first.poll());
    assert_eq!(state.gauges(Workload::Cpu).in_flight, 0);
    // `first` is still alive; the next call gets the permit anyway.
    let mut second = task::spawn(svc.call(cpu_call(1)));
    assert_pending!(second.poll());
    assert_eq!(gate.started(), [0, 1]);
    drop(first);
}

#[tokio::test]
async fn permit_is_released_when_a_running_call_is_dropped() {
    let gate = Gate::new();
    let (mut svc, state) = stack(&limits(Workload::Cpu, 1, 0), &gate);
    let mut running = task::spawn(svc.call(cpu_call(0)));
    assert_pending!(running.poll());
    rejection(assert_ready!(task::spawn(svc.call(cpu_call(1))).poll()));

    drop(running);
    assert_eq!(state.gauges(Workload::Cpu).in_flight, 0);
    let mut next = task::spawn(svc.call(cpu_call(2)));
    assert_pending!(next.poll());
    assert_eq!(gate.started(), [0, 2]);
}

#[tokio::test]
async fn queue_slot_is_released_when_a_queued_call_is_dropped() {
    let gate = Gate::new();
    let (mut svc, state) = stack(&limits(Workload::Cpu, 1, 1), &gate);
    let mut running = task::spawn(svc.call(cpu_call(0)));
    assert_pending!(running.poll());

    // Dropped before it was ever polled, and dropped while waiting: both free the slot.
    let never_polled = svc.call(cpu_call(1));
    assert_eq!(state.gauges(Workload::Cpu).queued, 1);
    drop(never_polled);
    assert_eq!(state.gauges(Workload::Cpu).queued, 0);

    let mut waiting = task::spawn(svc.call(cpu_call(2)));
    assert_pending!(waiting.poll());
    assert_eq!(state.gauges(Workload::Cpu).queued, 1);
    drop(waiting);
    assert_eq!(state.gauges(Workload::Cpu).queued, 0);

    // The permit went to nobody: the next queued call gets it when the runner finishes.
    let mut next = task::spawn(svc.call(cpu_call(3)));
    assert_pending!(next.poll());
    gate.release(1);
    assert_ready_ok!(running.poll());
    assert!(next.is_woken());
    assert_pending!(next.poll());
    assert_eq!(gate.started(), [0, 3]);
    assert_eq!(state.gauges(Workload::Cpu).in_flight, 1);
}

#[tokio::test]
async fn classes_are_independent() {
    let gate = Gate::new();
    let limits = limits(Workload::Cpu, 1, 0).with_class(
        Workload::Io,
        Capacity::new(1).expect("valid"),
        QueueDepth(0),
    );
    let (mut svc, state) = stack(&limits, &gate);
    let reg = registry();
    let mut cpu = task::spawn(svc.call(call(&reg, "cpu", json!({"n": 0}))));
    assert_pending!(cpu.poll());
    rejection(assert_ready!(
        task::spawn(svc.call(call(&reg, "cpu", json!({"n": 1})))).poll()
    ));

    let mut io = task::spawn(svc.call(call(&reg, "io", json!({"n": 2}))));
    assert_pending!(io.poll());
    let mut light = task::spawn(svc.call(call(&reg, "light", json!({"n": 3}))));
    assert_pending!(light.poll());
    assert_eq!(gate.started(), [0, 2, 3]);

    let r = rejection(assert_ready!(
        task::spawn(svc.call(call(&reg, "io", json!({})))).poll()
    ));
    assert_eq!(r.to_rpc_error().data.expect("data")["workload"], "io");
    let [light_g, cpu_g, io_g, ml_g] = state.snapshot()[..] else {
        panic!("four built-in classes and no other");
    };
    assert_eq!((light_g.in_flight, light_g.shed_total), (1, 0));
    assert_eq!((cpu_g.in_flight, cpu_g.shed_total), (1, 1));
    assert_eq!((io_g.in_flight, io_g.shed_total), (1, 1));
    assert_eq!((ml_g.in_flight, ml_g.shed_total), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn queued_call_times_out_after_max_queue_wait() {
    let gate = Gate::new();
    let limits = limits(Workload::Cpu, 1, 1)
        .with_max_queue_wait(Some(MaxQueueWait(Duration::from_millis(100))));
    let (mut svc, state) = stack(&limits, &gate);
    let mut running = task::spawn(svc.call(cpu_call(0)));
    assert_pending!(running.poll());
    let mut waiting = task::spawn(svc.call(cpu_call(1)));
    assert_pending!(waiting.poll());

    tokio::time::advance(Duration::from_millis(99)).await;
    assert_pending!(waiting.poll());
    tokio::time::advance(Duration::from_millis(2)).await;
    assert!(waiting.is_woken());
    let r = rejection(assert_ready!(waiting.poll()));
    let data = r.to_rpc_error().data.expect("data");
    assert_eq!(data["reason"], "queue_timeout");
    assert_eq!(data["workload"], "cpu");
    assert_eq!(data["retryable"], true);
    assert!((100..=102).contains(&data["waitedMs"].as_u64().expect("waitedMs")));
    let g = state.gauges(Workload::Cpu);
    assert_eq!(
        (g.in_flight, g.queued, g.timed_out_total, g.shed_total),
        (1, 0, 1, 0)
    );

    // The running call is unaffected by the queue bound.
    tokio::time::advance(Duration::from_secs(10)).await;
    assert_pending!(running.poll());
    gate.release(1);
    assert_ready_ok!(running.poll());
    assert_eq!(gate.started(), [0]);
}

#[tokio::test(start_paused = true)]
async fn call_admitted_within_max_queue_wait_runs_to_completion() {
    let gate = Gate::new();
    let limits = limits(Workload::Cpu, 1, 1)
        .with_max_queue_wait(Some(MaxQueueWait(Duration::from_millis(100))));
    let (mut svc, _state) = stack(&limits, &gate);
    let mut running = task::spawn(svc.call(cpu_call(0)));
    assert_pending!(running.poll());
    let mut waiting = task::spawn(svc.call(cpu_call(1)));
    assert_pending!(waiting.poll());
    tokio::time::advance(Duration::from_millis(50)).await;
    gate.release(1);
    assert_ready_ok!(running.poll());
    assert_pending!(waiting.poll());
    // Running past the queue bound is fine: it only limits waiting.
    tokio::time::advance(Duration::from_secs(1)).await;
    gate.release(1);
    assert_ready_ok!(waiting.poll());
}

#[tokio::test]
async fn oneshot_through_the_layer_reaches_the_handler() {
    let reg = registry();
    let svc = AdmissionLayer::new(&AdmissionLimits::default())
        .layer(keel_core::Dispatcher::base_tool_service());
    let r = svc
        .oneshot(call(&reg, "ml", json!({})))
        .await
        .expect("admitted");
    assert_eq!(r.content[0]["text"], "handler");
}

#[test]
fn capacity_is_validated() {
    assert_eq!(Capacity::new(0), Err(InvalidCapacity(0)));
    assert_eq!(
        Capacity::new(Capacity::MAX + 1),
        Err(InvalidCapacity(Capacity::MAX + 1))
    );
    assert_eq!(Capacity::new(7).map(Capacity::get), Ok(7));
}

#[test]
fn defaults_bound_expensive_classes() {
    let d = AdmissionLimits::default();
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    let get = |w| {
        let (c, q) = d.class(w).expect("built-in classes are defined");
        (c.get(), q.0)
    };
    assert_eq!(get(Workload::Light), (4096, 8192));
    assert_eq!(get(Workload::Cpu), (cores, 2 * cores));
    assert_eq!(get(Workload::Io), (64, 128));
    assert_eq!(get(Workload::Ml), (32, 64));
    assert_eq!(d.max_queue_wait(), None);
    let classes: Vec<_> = d.per_workload().map(|(w, _, _)| w).collect();
    assert_eq!(
        classes,
        [Workload::Light, Workload::Cpu, Workload::Io, Workload::Ml]
    );
}

const REPORTS: Workload = Workload::named("reports");

/// The workload tools of [`registry`] plus `report`, declaring the class `reports`.
fn named_registry() -> keel_core::Registry {
    let mut b = keel_core::Registry::builder();
    for tool in registry().tools() {
        b = b.tool(keel_core::Tool {
            definition: tool.definition.clone(),
            handler: std::sync::Arc::clone(tool.handler()),
            fallback: None,
        });
    }
    b.tool(
        keel_core::ToolBuilder::new("report", json!({"type": "object"}))
            .workload(REPORTS)
            .handler(|_: serde_json::Value, _: keel_core::Context| async {
                Ok(keel_core::CallToolResult::text("handler"))
            }),
    )
    .build()
    .expect("registry")
}

fn valid(n: usize) -> Capacity {
    Capacity::new(n).expect("valid capacity")
}

#[tokio::test]
async fn a_class_of_the_servers_own_admits_and_sheds_apart_from_the_built_ins() {
    let gate = Gate::new();
    let limits = limits(Workload::Cpu, 1, 0).with_class(REPORTS, valid(1), QueueDepth(1));
    assert!(limits.defines(REPORTS));
    assert_eq!(limits.class(REPORTS), Some((valid(1), QueueDepth(1))));
    let (mut svc, state) = stack(&limits, &gate);
    let reg = named_registry();

    let mut running = task::spawn(svc.call(call(&reg, "report", json!({"n": 0}))));
    assert_pending!(running.poll());
    let mut queued = task::spawn(svc.call(call(&reg, "report", json!({"n": 1}))));
    assert_pending!(queued.poll());
    let r = rejection(assert_ready!(
        task::spawn(svc.call(call(&reg, "report", json!({"n": 2})))).poll()
    ));
    assert_eq!(
        r.to_string(),
        "server overloaded: reports work has 1 calls running and 1 waiting"
    );
    assert_eq!(r.to_rpc_error().data.expect("data")["workload"], "reports");

    // The cpu class is untouched by it, and the other way round.
    let mut cpu = task::spawn(svc.call(call(&reg, "cpu", json!({"n": 3}))));
    assert_pending!(cpu.poll());
    assert_eq!(gate.started(), [0, 3]);

    let g = state.gauges(REPORTS);
    assert_eq!(
        (
            g.workload,
            g.in_flight,
            g.queued,
            g.capacity,
            g.queue_depth,
            g.shed_total
        ),
        (REPORTS, 1, 1, 1, 1, 1)
    );
    let names: Vec<_> = state
        .snapshot()
        .iter()
        .map(|g| g.workload.as_str())
        .collect();
    assert_eq!(names, ["light", "cpu", "io", "ml", "reports"]);
    assert_eq!(state.gauges(Workload::Cpu).shed_total, 0);

    gate.release(3);
    assert_ready_ok!(running.poll());
    assert_ready_ok!(queued.poll());
    assert_ready_ok!(cpu.poll());
    assert_eq!(state.gauges(REPORTS).in_flight, 0);
}

#[tokio::test]
async fn a_class_the_limits_do_not_define_is_refused_not_run() {
    let gate = Gate::new();
    let limits = AdmissionLimits::default();
    assert!(!limits.defines(REPORTS));
    assert_eq!(limits.class(REPORTS), None);
    let (mut svc, state) = stack(&limits, &gate);
    let mut report = task::spawn(svc.call(call(&named_registry(), "report", json!({}))));
    match assert_ready!(report.poll()) {
        Err(ToolError::Failed(f)) => {
            assert_eq!(f.kind(), &FailureKind::Permanent);
            assert_eq!(
                f.message(),
                "workload class reports is not defined on this server"
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(gate.started().is_empty());
    assert_eq!(state.gauges(REPORTS).capacity, 0);
}

#[tokio::test]
async fn configuration_moves_a_tool_into_another_class() {
    let gate = Gate::new();
    let limits = limits(Workload::Cpu, 1, 0)
        .with_class(REPORTS, valid(1), QueueDepth(0))
        .with_tool_class("light", Workload::Cpu)
        .with_tool_class("ml", REPORTS);
    let (mut svc, state) = stack(&limits, &gate);
    let reg = named_registry();
    assert_eq!(
        state.class_of(&reg.tool("light").expect("tool").definition),
        Workload::Cpu
    );
    assert_eq!(
        state.class_of(&reg.tool("io").expect("tool").definition),
        Workload::Io
    );

    // `light` now shares the one cpu permit with `cpu`.
    let mut light = task::spawn(svc.call(call(&reg, "light", json!({"n": 0}))));
    assert_pending!(light.poll());
    let r = rejection(assert_ready!(
        task::spawn(svc.call(call(&reg, "cpu", json!({"n": 1})))).poll()
    ));
    assert_eq!(r.to_rpc_error().data.expect("data")["workload"], "cpu");
    // `ml` and `report` share `reports`.
    let mut ml = task::spawn(svc.call(call(&reg, "ml", json!({"n": 2}))));
    assert_pending!(ml.poll());
    rejection(assert_ready!(
        task::spawn(svc.call(call(&reg, "report", json!({"n": 3})))).poll()
    ));
    assert_eq!(gate.started(), [0, 2]);
    assert_eq!(state.gauges(Workload::Light).in_flight, 0);
    assert_eq!(state.gauges(Workload::Ml).in_flight, 0);
    assert_eq!(state.gauges(REPORTS).in_flight, 1);
}

#[tokio::test(start_paused = true)]
async fn queue_wait_is_recorded_for_calls_admitted_after_queueing() {
    let gate = Gate::new();
    let (mut svc, state) = stack(&limits(Workload::Cpu, 1, 2), &gate);
    let mut running = task::spawn(svc.call(cpu_call(0)));
    assert_pending!(running.poll());
    let mut queued = task::spawn(svc.call(cpu_call(1)));
    assert_pending!(queued.poll());
    let mut abandoned = task::spawn(svc.call(cpu_call(2)));
    assert_pending!(abandoned.poll());

    tokio::time::advance(Duration::from_millis(30)).await;
    drop(abandoned);
    gate.release(1);
    assert_ready_ok!(running.poll());
    assert_pending!(queued.poll());

    let waits: Vec<_> = state.queue_waits().collect();
    let (w, cpu) = &waits[1];
    assert_eq!(*w, Workload::Cpu);
    // Only the call that queued and was admitted: not the one admitted at once, nor the
    // one that left the queue.
    assert_eq!(cpu.count(), 1);
    assert!(
        (0.030..0.032).contains(&cpu.sum_seconds),
        "{}",
        cpu.sum_seconds
    );
    assert!(
        waits
            .iter()
            .filter(|(w, _)| *w != Workload::Cpu)
            .all(|(_, h)| h.count() == 0)
    );
    gate.release(1);
    assert_ready_ok!(queued.poll());
}
