use std::time::Duration;

use keel_core::{
    CallToolResult, FailureKind, Registry, ToolCall, ToolError, ToolService, Workload,
};
use keel_protocol::RpcError;
use serde_json::{Map, Value, json};
use tokio_test::{assert_pending, assert_ready, assert_ready_ok, task};
use tower::{Layer, Service, ServiceExt, service_fn, util::BoxCloneSyncService};

use super::*;
use crate::{
    AdmissionLayer, AdmissionLimits, Capacity, Overloaded, QueueDepth,
    test_support::{Gate, call, parse_exposition, registry, value},
};

/// An inner service that ends each call the way its `mode` argument says, after `ms`.
fn scripted() -> ToolService {
    BoxCloneSyncService::new(service_fn(|call: ToolCall| async move {
        if let Some(ms) = call.arguments["ms"].as_u64() {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        match call.arguments["mode"].as_str().unwrap_or("ok") {
            "ok" => Ok(CallToolResult::text("ok")),
            "is_error" => Ok(CallToolResult::error("tool said no")),
            "failed" => Err(ToolError::failed("boom")),
            "invalid" => Err(ToolError::invalid_arguments("missing x")),
            "rejected" => Err(Overloaded {
                workload: Workload::Io,
                in_flight: 1,
                queued: 0,
            }
            .into()),
            "cancelled" => Err(ToolError::Cancelled),
            "protocol" => Err(ToolError::Protocol(RpcError::internal("nope"))),
            "input" => Err(ToolError::InputRequired(Map::new())),
            other => panic!("unknown mode {other}"),
        }
    }))
}

fn calls(samples: &[crate::test_support::Sample], tool: &str, outcome: &str) -> f64 {
    value(
        samples,
        "keel_tool_calls_total",
        &[("tool", tool), ("outcome", outcome)],
    )
}

#[tokio::test]
async fn outcomes_are_counted_per_tool() {
    let reg = registry();
    let metrics = Metrics::for_registry(&reg);
    let svc = metrics.layer().layer(scripted());
    let modes = [
        ("io", "ok"),
        ("io", "ok"),
        ("io", "is_error"),
        ("io", "failed"),
        ("io", "invalid"),
        ("io", "rejected"),
        ("io", "cancelled"),
        ("io", "protocol"),
        ("io", "input"),
        ("cpu", "ok"),
    ];
    for (tool, mode) in modes {
        let _ = svc
            .clone()
            .oneshot(call(&reg, tool, json!({ "mode": mode })))
            .await;
    }
    let s = parse_exposition(&metrics.render());
    assert_eq!(calls(&s, "io", "ok"), 2.0);
    assert_eq!(calls(&s, "io", "tool_error"), 3.0);
    assert_eq!(calls(&s, "io", "rejected"), 1.0);
    assert_eq!(calls(&s, "io", "cancelled"), 1.0);
    assert_eq!(calls(&s, "io", "protocol_error"), 1.0);
    assert_eq!(calls(&s, "io", "input_required"), 1.0);
    assert_eq!(calls(&s, "cpu", "ok"), 1.0);
    assert_eq!(calls(&s, "cpu", "tool_error"), 0.0);
    assert_eq!(
        calls(&s, "ml", "ok"),
        0.0,
        "known tools are rendered from the start"
    );
    assert_eq!(
        value(
            &s,
            "keel_tool_calls_total",
            &[("tool", "io"), ("outcome", "ok"), ("workload", "io")]
        ),
        2.0
    );
    for tool in ["io", "cpu", "ml", "light"] {
        assert_eq!(
            value(&s, "keel_tool_calls_in_flight", &[("tool", tool)]),
            0.0
        );
    }
    assert!(!metrics.render().contains("_unregistered"));
}

#[tokio::test]
async fn dropped_call_counts_as_cancelled_and_leaves_flight() {
    let reg = registry();
    let metrics = Metrics::for_registry(&reg);
    let gate = Gate::new();
    let mut svc = metrics.layer().layer(gate.service());
    let mut pending = task::spawn(svc.call(call(&reg, "light", json!({ "n": 1 }))));
    assert_pending!(pending.poll());
    let s = parse_exposition(&metrics.render());
    assert_eq!(
        value(&s, "keel_tool_calls_in_flight", &[("tool", "light")]),
        1.0
    );
    assert_eq!(calls(&s, "light", "cancelled"), 0.0);

    drop(pending);
    let s = parse_exposition(&metrics.render());
    assert_eq!(
        value(&s, "keel_tool_calls_in_flight", &[("tool", "light")]),
        0.0
    );
    assert_eq!(calls(&s, "light", "cancelled"), 1.0);
    assert_eq!(
        value(
            &s,
            "keel_tool_call_duration_seconds_count",
            &[("tool", "light")]
        ),
        1.0
    );

    // A finished call is counted once, not again as cancelled when dropped.
    let mut done = task::spawn(svc.call(call(&reg, "light", json!({ "n": 2 }))));
    assert_pending!(done.poll());
    gate.release(1);
    assert_ready_ok!(done.poll());
    drop(done);
    let s = parse_exposition(&metrics.render());
    assert_eq!(calls(&s, "light", "ok"), 1.0);
    assert_eq!(calls(&s, "light", "cancelled"), 1.0);
}

#[tokio::test(start_paused = true)]
async fn histogram_buckets_sum_and_count_agree() {
    let reg = registry();
    let metrics = Metrics::for_registry(&reg);
    let svc = metrics.layer().layer(scripted());
    let millis = [0_u64, 3, 3, 20, 700, 2_000, 45_000, 100_000];
    for ms in millis {
        svc.clone()
            .oneshot(call(&reg, "ml", json!({ "ms": ms })))
            .await
            .expect("ok");
    }
    let s = parse_exposition(&metrics.render());
    let bucket = |le: &str| {
        value(
            &s,
            "keel_tool_call_duration_seconds_bucket",
            &[("tool", "ml"), ("le", le)],
        )
    };
    // Paused time advances exactly to each sleep's deadline, give or take the timer's 1ms.
    assert_eq!(bucket("0.0001"), 1.0);
    assert_eq!(bucket("0.001"), 1.0);
    assert_eq!(bucket("0.005"), 3.0);
    assert_eq!(bucket("0.01"), 3.0);
    assert_eq!(bucket("0.025"), 4.0);
    assert_eq!(bucket("0.5"), 4.0);
    assert_eq!(bucket("1"), 5.0);
    assert_eq!(bucket("2.5"), 6.0);
    assert_eq!(bucket("30"), 6.0);
    assert_eq!(bucket("60"), 7.0);
    assert_eq!(bucket("+Inf"), 8.0);
    let count = value(
        &s,
        "keel_tool_call_duration_seconds_count",
        &[("tool", "ml")],
    );
    assert_eq!(count, 8.0);
    let sum = value(&s, "keel_tool_call_duration_seconds_sum", &[("tool", "ml")]);
    let expected = millis.iter().sum::<u64>() as f64 / 1e3;
    assert!(
        (expected..expected + 0.01).contains(&sum),
        "sum {sum} vs {expected}"
    );

    // Buckets are cumulative and ordered for every tool.
    for tool in ["light", "cpu", "io", "ml"] {
        let buckets: Vec<f64> = s
            .iter()
            .filter(|x| {
                x.name == "keel_tool_call_duration_seconds_bucket"
                    && x.labels.iter().any(|(k, v)| k == "tool" && v == tool)
            })
            .map(|x| x.value)
            .collect();
        assert_eq!(buckets.len(), histogram::BUCKETS.len() + 1);
        assert!(
            buckets.windows(2).all(|w| w[0] <= w[1]),
            "{tool}: {buckets:?}"
        );
    }
}

#[test]
fn histogram_bucket_bounds_are_inclusive() {
    let h = histogram::Histogram::new();
    h.observe(Duration::from_micros(100)); // exactly on 0.0001
    h.observe(Duration::from_nanos(100_001)); // just above
    h.observe(Duration::from_secs(61)); // +Inf only
    let snap = h.snapshot();
    assert_eq!(snap.buckets[0], (0.0001, 1));
    assert_eq!(snap.buckets[1], (0.00025, 1));
    assert_eq!(snap.buckets[histogram::BUCKETS.len() - 1], (60.0, 0));
    assert_eq!(snap.buckets[histogram::BUCKETS.len()], (f64::INFINITY, 1));
    assert_eq!(snap.count(), 3);
    assert!((snap.sum_seconds - 61.000_200_001).abs() < 1e-9);
}

#[test]
fn openmetrics_is_served_to_scrapers_that_ask_for_it() {
    let reg = registry();
    let metrics = Metrics::for_registry(&reg);
    let mut exposition = crate::exposition::Exposition::new();
    exposition.register(metrics);
    let accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5";
    let format = crate::exposition::Format::negotiate(Some(accept));
    assert_eq!(format, crate::exposition::Format::OpenMetrics);
    let text = exposition.render(format);
    assert!(text.ends_with("# EOF\n"), "{text}");
    // OpenMetrics names a counter family without `_total`; its samples keep it.
    assert!(text.contains("# TYPE keel_tool_calls counter\n"), "{text}");
    assert!(
        text.contains("keel_tool_calls_total{tool=\"light\""),
        "{text}"
    );
    let classic = exposition.render(crate::exposition::Format::negotiate(None));
    assert!(classic.contains("# TYPE keel_tool_calls_total counter\n"));
    assert!(!classic.contains("# EOF"));
}

#[tokio::test]
async fn renders_valid_exposition_with_admission_gauges() {
    let reg = registry();
    let admission = AdmissionLayer::new(&AdmissionLimits::default().with_class(
        Workload::Io,
        Capacity::new(1).expect("valid"),
        QueueDepth(1),
    ));
    let metrics = Metrics::for_registry(&reg).with_admission(admission.state().clone());
    let gate = Gate::new();
    let mut svc = metrics.layer().layer(admission.layer(gate.service()));

    let mut running = task::spawn(svc.call(call(&reg, "io", json!({ "n": 0 }))));
    assert_pending!(running.poll());
    let mut queued = task::spawn(svc.call(call(&reg, "io", json!({ "n": 1 }))));
    assert_pending!(queued.poll());
    let mut shed = task::spawn(svc.call(call(&reg, "io", json!({ "n": 2 }))));
    assert!(matches!(
        assert_ready!(shed.poll()),
        Err(ToolError::Failed(f)) if matches!(f.kind(), FailureKind::Overloaded { .. })
    ));

    let text = metrics.render();
    let s = parse_exposition(&text);
    let gauge = |name: &str, w: &str| value(&s, name, &[("workload", w)]);
    assert_eq!(gauge("keel_admission_in_flight", "io"), 1.0);
    assert_eq!(gauge("keel_admission_queued", "io"), 1.0);
    assert_eq!(gauge("keel_admission_capacity", "io"), 1.0);
    assert_eq!(gauge("keel_admission_queue_depth", "io"), 1.0);
    assert_eq!(gauge("keel_admission_in_flight", "cpu"), 0.0);
    assert_eq!(gauge("keel_admission_capacity", "light"), 4096.0);
    assert_eq!(
        value(
            &s,
            "keel_admission_rejected_total",
            &[("workload", "io"), ("reason", "queue_full")]
        ),
        1.0
    );
    // Metrics sit outside admission: queued calls are in flight, the shed one is rejected.
    assert_eq!(
        value(&s, "keel_tool_calls_in_flight", &[("tool", "io")]),
        2.0
    );
    assert_eq!(calls(&s, "io", "rejected"), 1.0);

    // Every family is declared once with HELP and TYPE, and the text is stable.
    for family in [
        "keel_tool_calls_total counter",
        "keel_tool_call_duration_seconds histogram",
        "keel_tool_calls_in_flight gauge",
        "keel_admission_in_flight gauge",
        "keel_admission_queued gauge",
        "keel_admission_rejected_total counter",
    ] {
        assert_eq!(text.matches(&format!("# TYPE {family}\n")).count(), 1);
    }
    assert_eq!(
        text.matches("# HELP ").count(),
        text.matches("# TYPE ").count()
    );
    gate.release(2);
    assert_ready_ok!(running.poll());
    assert_ready_ok!(queued.poll());
    let s = parse_exposition(&metrics.render());
    assert_eq!(calls(&s, "io", "ok"), 2.0);
    assert_eq!(
        value(&s, "keel_admission_in_flight", &[("workload", "io")]),
        0.0
    );
}

#[tokio::test]
async fn unknown_tools_and_odd_names_render_safely() {
    let reg = Registry::builder()
        .tool(
            keel_core::ToolBuilder::new("we\"ird\\name\nx", json!({"type": "object"}))
                .handler(|_: Value, _| async { Ok(CallToolResult::text("x")) }),
        )
        .build()
        .expect("registry");
    // Built without the tool: its calls land in the catch-all series.
    let empty = Metrics::new([]);
    let with_tool = Metrics::for_registry(&reg);
    for metrics in [&empty, &with_tool] {
        metrics
            .layer()
            .layer(scripted())
            .oneshot(call(&reg, "we\"ird\\name\nx", json!({})))
            .await
            .expect("ok");
    }
    let s = parse_exposition(&empty.render());
    assert_eq!(calls(&s, table::UNREGISTERED, "ok"), 1.0);
    let s = parse_exposition(&with_tool.render());
    assert_eq!(calls(&s, "we\"ird\\name\nx", "ok"), 1.0);
    assert!(!with_tool.render().contains(table::UNREGISTERED));
}

#[test]
fn outcome_labels_are_distinct_and_indexed_in_order() {
    for (i, o) in Outcome::ALL.iter().enumerate() {
        assert_eq!(o.index(), i);
    }
    let mut labels: Vec<_> = Outcome::ALL.iter().map(|o| o.as_str()).collect();
    labels.dedup();
    assert_eq!(labels.len(), Outcome::ALL.len());
    assert_eq!(
        Outcome::of(&Ok(CallToolResult::error("x"))),
        Outcome::ToolError
    );
    assert_eq!(
        Outcome::of(&Err(ToolError::InputRequired(Map::new()))),
        Outcome::InputRequired
    );
}

#[tokio::test(start_paused = true)]
async fn named_classes_and_queue_waits_are_rendered_beside_the_built_ins() {
    let reg = registry();
    let reports = Workload::named("reports");
    let admission = AdmissionLayer::new(
        &AdmissionLimits::default()
            .with_class(reports, Capacity::new(1).expect("valid"), QueueDepth(1))
            .with_tool_class("io", reports),
    );
    let metrics = Metrics::for_registry(&reg).with_admission(admission.state().clone());
    let gate = Gate::new();
    let mut svc = metrics.layer().layer(admission.layer(gate.service()));

    let mut running = task::spawn(svc.call(call(&reg, "io", json!({ "n": 0 }))));
    assert_pending!(running.poll());
    let mut queued = task::spawn(svc.call(call(&reg, "io", json!({ "n": 1 }))));
    assert_pending!(queued.poll());
    tokio::time::advance(Duration::from_millis(20)).await;
    gate.release(1);
    assert_ready_ok!(running.poll());
    assert_pending!(queued.poll());

    let text = metrics.render();
    let s = parse_exposition(&text);
    let gauge = |name: &str, w: &str| value(&s, name, &[("workload", w)]);
    assert_eq!(gauge("keel_admission_in_flight", "reports"), 1.0);
    assert_eq!(gauge("keel_admission_capacity", "reports"), 1.0);
    assert_eq!(gauge("keel_admission_queue_depth", "reports"), 1.0);
    assert_eq!(gauge("keel_admission_in_flight", "io"), 0.0);
    assert_eq!(
        value(
            &s,
            "keel_admission_rejected_total",
            &[("workload", "reports"), ("reason", "queue_full")]
        ),
        0.0
    );
    // The moved tool is labelled with the class it is admitted in.
    assert_eq!(
        value(
            &s,
            "keel_tool_calls_total",
            &[("tool", "io"), ("workload", "reports"), ("outcome", "ok")]
        ),
        1.0
    );
    // One queued call waited 20ms; the one admitted at once is not recorded.
    let wait = |suffix: &str, labels: &[(&str, &str)]| {
        value(
            &s,
            &format!("keel_admission_queue_wait_seconds{suffix}"),
            labels,
        )
    };
    assert_eq!(wait("_count", &[("workload", "reports")]), 1.0);
    assert_eq!(
        wait("_bucket", &[("workload", "reports"), ("le", "0.01")]),
        0.0
    );
    assert_eq!(
        wait("_bucket", &[("workload", "reports"), ("le", "0.025")]),
        1.0
    );
    assert_eq!(wait("_count", &[("workload", "cpu")]), 0.0);
    assert_eq!(
        text.matches("# TYPE keel_admission_queue_wait_seconds histogram\n")
            .count(),
        1
    );
    gate.release(1);
    assert_ready_ok!(queued.poll());
}

#[tokio::test]
async fn a_panicking_tool_answers_an_error_result_and_is_counted() {
    use keel_core::{Context, Dispatcher, ToolBuilder, WireFailure};
    let reg = Registry::builder()
        .tool(
            ToolBuilder::new("fragile", json!({"type": "object"})).handler(
                |args: Value, _: Context| async move {
                    assert!(args["fine"].as_bool().unwrap_or(false), "invariant broken");
                    Ok(CallToolResult::text("fine"))
                },
            ),
        )
        .build()
        .unwrap();
    let metrics = Metrics::for_registry(&reg);
    let svc = metrics.layer().layer(Dispatcher::base_tool_service());
    let err = svc
        .clone()
        .oneshot(call(&reg, "fragile", json!({})))
        .await
        .unwrap_err();
    let ToolError::Failed(failure) = err else {
        panic!("a panic is a failure");
    };
    assert!(failure.is_panic());
    let WireFailure::Result(result) = failure.to_wire() else {
        panic!("a panic reaches the model as an isError result");
    };
    assert!(result.is_error);
    let text = serde_json::to_string(&result).unwrap();
    assert!(
        !text.contains("invariant broken"),
        "the panic message stays in the log"
    );
    // The service goes on.
    let ok = svc
        .oneshot(call(&reg, "fragile", json!({"fine": true})))
        .await
        .unwrap();
    assert!(!ok.is_error);
    let samples = parse_exposition(&metrics.render());
    assert_eq!(calls(&samples, "fragile", "panicked"), 1.0);
    assert_eq!(calls(&samples, "fragile", "ok"), 1.0);
}

#[tokio::test]
async fn failures_are_counted_by_their_kind() {
    let reg = registry();
    let metrics = Metrics::for_registry(&reg);
    let svc = metrics.layer().layer(scripted());
    for mode in ["ok", "invalid", "invalid", "failed", "is_error"] {
        let _ = svc
            .clone()
            .oneshot(call(&reg, "light", json!({ "mode": mode })))
            .await;
    }
    let s = parse_exposition(&metrics.render());
    let failures = |kind| {
        value(
            &s,
            "keel_tool_failures_total",
            &[("tool", "light"), ("kind", kind)],
        )
    };
    assert_eq!(failures("invalid_input"), 2.0);
    assert_eq!(failures("permanent"), 1.0);
    assert_eq!(failures("untyped"), 1.0);
    assert_eq!(failures("transient"), 0.0);
    assert_eq!(calls(&s, "light", "ok"), 1.0);
}
