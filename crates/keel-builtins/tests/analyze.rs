//! `analyze` through the dispatcher: inline and CSV sources, exact numbers, input errors,
//! progress, overload and cancellation.

mod support;

use std::num::NonZeroUsize;
use std::sync::Arc;

use keel_builtins::BuiltinsConfig;
use keel_core::Outbound;
use serde_json::{Value, json};
use support::Harness;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

fn config() -> BuiltinsConfig {
    let mut config = BuiltinsConfig::default();
    config.embed.enabled = false;
    config.query.enabled = false;
    config
}

async fn harness() -> Harness {
    Harness::start(&config()).await
}

fn close(got: &Value, want: f64) {
    let got = got
        .as_f64()
        .unwrap_or_else(|| panic!("{got} is not a number"));
    assert!(
        (got - want).abs() <= 1e-12 * want.abs().max(1.0),
        "{got} != {want}"
    );
}

#[tokio::test]
async fn tool_is_listed_with_its_schemas_and_hints() {
    let h = harness().await;
    let list = h.rpc("tools/list", json!({})).await;
    let tools = list["result"]["tools"].as_array().unwrap();
    let analyze = tools.iter().find(|t| t["name"] == "analyze").unwrap();
    assert_eq!(analyze["inputSchema"]["type"], "object");
    assert_eq!(analyze["outputSchema"]["type"], "object");
    assert_eq!(analyze["annotations"]["readOnlyHint"], true);
    assert_eq!(analyze["annotations"]["idempotentHint"], true);
    let entry = h.dispatcher.registry().tool("analyze").unwrap();
    assert_eq!(entry.definition.workload, keel_core::Workload::Cpu);
    assert_eq!(
        entry.definition.task_support,
        keel_core::TaskSupport::Optional
    );
}

#[tokio::test]
async fn inline_array_gets_an_exact_summary() {
    let h = harness().await;
    let out = h
        .call_ok("analyze", json!({ "values": [1, 2, 3, 4, "10"] }))
        .await;
    assert_eq!(out["rows"], 5);
    let column = &out["columns"][0];
    assert_eq!(column["name"], "value");
    assert_eq!(column["count"], 5);
    close(&column["sum"], 20.0);
    close(&column["mean"], 4.0);
    close(&column["median"], 3.0);
    // Squared deviations 9 + 4 + 1 + 0 + 36 = 50.
    close(&column["variance"]["sample"], 12.5);
    close(&column["variance"]["population"], 10.0);
    close(&column["min"], 1.0);
    close(&column["max"], 10.0);
}

#[tokio::test]
async fn named_columns_get_correlation_regression_and_percentiles() {
    let h = harness().await;
    let result = h
        .call(
            "analyze",
            json!({
                "values": { "x": [1, 2, 3, 4, 5], "y": [3, 5, 7, 9, 11] },
                "operations": [
                    { "op": "correlation" },
                    { "op": "regression", "x": "x", "y": "y" },
                    { "op": "percentiles", "p": [0, 25, 50, 90] }
                ]
            }),
        )
        .await;
    assert_eq!(result["isError"], false, "{result}");
    let text = result["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("regression y on x"), "{text}");
    let out = &result["structuredContent"];
    h.assert_fits_output_schema("analyze", out);
    close(&out["correlation"]["matrix"][0][1], 1.0);
    close(&out["regression"]["slope"], 2.0);
    close(&out["regression"]["intercept"], 1.0);
    close(&out["regression"]["r_squared"], 1.0);
    let p = &out["columns"][0]["percentiles"];
    close(&p[1]["value"], 2.0);
    close(&p[3]["value"], 4.6);
}

#[tokio::test]
async fn csv_text_with_header_and_options() {
    let h = harness().await;
    let out = h
        .call_ok(
            "analyze",
            json!({
                "csv": "price;qty\n10;1\n20;2\n30;\n60;5\n",
                "csv_options": { "delimiter": ";", "empty_cells": "skip_row" },
                "columns": ["price"],
                "operations": [{ "op": "mean" }, { "op": "max" }]
            }),
        )
        .await;
    assert_eq!(out["rows"], 3);
    assert_eq!(out["columns"].as_array().unwrap().len(), 1);
    close(&out["columns"][0]["mean"], 30.0);
    close(&out["columns"][0]["max"], 60.0);
}

#[tokio::test]
async fn bad_input_is_a_tool_error_naming_the_problem() {
    let h = harness().await;
    let text = h
        .call_err("analyze", json!({ "values": [1, 2, "three"] }))
        .await;
    assert!(
        text.contains("row 3") && text.contains("not a number"),
        "{text}"
    );
    let text = h
        .call_err("analyze", json!({ "csv": "a,b\n1,2\n3,x\n" }))
        .await;
    assert!(text.contains("line 3") && text.contains("\"b\""), "{text}");
    let text = h.call_err("analyze", json!({ "values": [] })).await;
    assert!(text.contains("no rows"), "{text}");
    let text = h.call_err("analyze", json!({ "csv": "" })).await;
    assert!(text.contains("no rows"), "{text}");
    let text = h.call_err("analyze", json!({})).await;
    assert!(text.contains("no data"), "{text}");
    let text = h
        .call_err("analyze", json!({ "values": [1], "csv": "1" }))
        .await;
    assert!(text.contains("exactly one"), "{text}");
    let text = h
        .call_err(
            "analyze",
            json!({ "values": [1, 2], "operations": [{ "op": "mode" }] }),
        )
        .await;
    assert!(text.to_lowercase().contains("invalid arguments"), "{text}");
    let text = h
        .call_err("analyze", json!({ "values": [1, 2], "columns": ["nope"] }))
        .await;
    assert!(text.contains("no column named \"nope\""), "{text}");
}

/// Values for an analysis that takes seconds: several columns, sorting operations.
fn long_analysis() -> Value {
    let column = |offset: u64| -> Vec<u64> {
        (0..500_000u64)
            .map(|i| (i * 7919 + offset) % 100_003)
            .collect()
    };
    json!({
        "values": { "a": column(1), "b": column(2), "c": column(3), "d": column(4) },
        "operations": [
            { "op": "summary" },
            { "op": "percentiles", "p": [1, 5, 25, 50, 75, 95, 99] },
            { "op": "outliers" },
            { "op": "histogram", "bins": 100 },
            { "op": "moving_average", "window": 1000 },
            { "op": "correlation" }
        ]
    })
}

fn progress_of(message: &Outbound) -> (f64, f64) {
    let Outbound::Notification(bytes) = message else {
        panic!("expected a notification");
    };
    let n: Value = serde_json::from_slice(bytes).unwrap();
    assert_eq!(n["method"], "notifications/progress", "{n}");
    assert_eq!(n["params"]["progressToken"], "long");
    (
        n["params"]["progress"].as_f64().unwrap(),
        n["params"]["total"].as_f64().unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_long_analysis_stops_the_engine_and_frees_its_slot() {
    let mut config = config();
    config.analyze.max_in_flight = NonZeroUsize::MIN;
    let h = Arc::new(Harness::start(&config).await);

    let (tx, mut rx) = mpsc::unbounded_channel();
    let cancel = CancellationToken::new();
    let request = h.parse(
        "tools/call",
        json!({ "name": "analyze", "arguments": long_analysis() }),
        Some("long"),
    );
    let env = Harness::env(cancel.clone(), Some(tx));
    let running = {
        let h = Arc::clone(&h);
        tokio::spawn(async move { h.dispatcher.handle(request, env).await })
    };

    // The engine reports (0, total) when it starts.
    let (first, total) = progress_of(&rx.recv().await.expect("a first progress notification"));
    assert_eq!(first, 0.0);
    assert!(total > 0.0);

    // While it runs, the only slot is taken: another analysis is shed with the one overload
    // shape admission also uses: JSON-RPC -32000 with a retry hint.
    let shed = h
        .rpc(
            "tools/call",
            json!({ "name": "analyze", "arguments": { "values": [1, 2, 3] } }),
        )
        .await;
    let error = &shed["error"];
    assert_eq!(error["code"], -32000, "{shed}");
    assert_eq!(error["data"]["kind"], "overloaded", "{shed}");
    assert_eq!(error["data"]["reason"], "analysis_pool_full", "{shed}");
    assert!(error["data"]["retryAfterMs"].as_u64().is_some(), "{shed}");

    cancel.cancel();
    let reply = running.await.unwrap();
    assert!(reply.body.is_none(), "a cancelled request gets no response");

    // The channel closes when the engine drops its progress callback, i.e. when its work
    // has stopped; a run to completion would have reported (total, total).
    let mut last = first;
    while let Some(message) = rx.recv().await {
        let (done, t) = progress_of(&message);
        assert_eq!(t, total);
        assert!(done >= last, "progress went backwards: {done} after {last}");
        last = done;
    }
    assert!(
        last < total,
        "the analysis ran to completion despite the cancellation"
    );

    // The slot is free again.
    let out = h.call_ok("analyze", json!({ "values": [1, 2, 3] })).await;
    close(&out["columns"][0]["mean"], 2.0);
}

#[tokio::test]
async fn progress_is_coarse_and_ends_at_the_total() {
    let h = harness().await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let values: Vec<u32> = (0..300_000).collect();
    let request = h.parse(
        "tools/call",
        json!({ "name": "analyze", "arguments": {
            "values": values, "operations": [{ "op": "summary" }, { "op": "percentiles", "p": [50] }]
        } }),
        Some("long"),
    );
    let reply = h
        .dispatcher
        .handle(request, Harness::env(CancellationToken::new(), Some(tx)))
        .await;
    let response: Value = serde_json::from_slice(&reply.body.unwrap()).unwrap();
    assert_eq!(response["result"]["isError"], false, "{response}");
    let mut seen = Vec::new();
    while let Some(message) = rx.recv().await {
        seen.push(progress_of(&message));
    }
    assert!(seen.len() >= 2 && seen.len() <= 21, "{seen:?}");
    let (done, total) = *seen.last().unwrap();
    assert_eq!(done, total);
    assert!(seen.windows(2).all(|w| w[0].0 < w[1].0), "{seen:?}");
}
