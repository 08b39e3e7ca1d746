//! End to end: `[admission]` limits from the configuration file hold on the real binary, with
//! the load driven by the real `keel bench`.

mod support;

use serde_json::{Value, json};
use support::{KeelHttp, keel_bench, keel_command, within};

/// Turns the result cache off for `analyze`.
const UNCACHED: &str = "[cache.tools.analyze]\nenabled = false\n";

/// `keel bench` on `analyze` with `connections`; the JSON report.
async fn bench(url: &str, connections: &str) -> Value {
    // Large enough that concurrent calls overlap inside the tool.
    let values: Vec<u32> = (0..15_000).map(|i| (i * 7919) % 977).collect();
    let args = json!({ "values": values, "operations": [{ "op": "mean" }, { "op": "median" }] });
    let args = args.to_string();
    keel_bench(
        url,
        &[
            "-c",
            connections,
            "-d",
            "1s",
            "--tool",
            "analyze",
            "--args",
            &args,
        ],
    )
    .await
}

#[tokio::test]
async fn a_configured_class_capacity_refuses_what_exceeds_it() {
    // Defaults: the cpu class runs one call per core and queues twice that; two connections
    // are never refused.
    // Identical calls would be answered by the result cache: admission is what is measured.
    let server = KeelHttp::start_with_config(UNCACHED).await;
    let r = bench(&server.url, "2").await;
    assert!(r["ok"].as_u64().unwrap() > 0, "{r}");
    assert_eq!(r["errors"]["total"], 0, "{r}");

    // One call at a time and no queue: concurrent calls beyond it are refused as overload
    // (a JSON-RPC error), the admitted ones succeed.
    let tight = KeelHttp::start_with_config(&format!(
        "{UNCACHED}[admission.cpu]\ncapacity = 1\nqueue = 0\n"
    ))
    .await;
    let r = bench(&tight.url, "6").await;
    let refused: u64 = r["errors"]["jsonrpc"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert!(r["ok"].as_u64().unwrap() > 0, "{r}");
    assert!(refused > 0, "{r}");
    assert_eq!(r["errors"]["is_error"], 0, "{r}");
}

#[tokio::test]
async fn an_invalid_admission_section_stops_the_server_with_its_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("keel.toml");
    std::fs::write(&path, "[admission.cpu]\ncapacity = 0\n").unwrap();
    let mut cmd = tokio::process::Command::from(keel_command("error"));
    cmd.args(["serve", "--listen", "127.0.0.1:0"])
        .env("KEEL_CONFIG", &path)
        .kill_on_drop(true);
    let out = within("keel serve to refuse", cmd.output())
        .await
        .expect("run keel");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("admission.cpu.capacity"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
