//! End to end: `[admission]` limits from the configuration file hold on the real binary, with
//! the load driven by the real `keel bench`.

mod support;

use serde_json::{Value, json};
use support::{
    KeelHttp, echo_params, echoed_text, http::Http, keel_bench, keel_command, request,
    with_modern_meta, within,
};

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

/// `keel serve` with `config`; its exit status and standard error, when it refuses.
async fn refused(config: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("keel.toml");
    std::fs::write(&path, config).unwrap();
    let mut cmd = tokio::process::Command::from(keel_command("error"));
    cmd.args(["serve", "--listen", "127.0.0.1:0"])
        .env("KEEL_CONFIG", &path)
        .kill_on_drop(true);
    let out = within("keel serve to refuse", cmd.output())
        .await
        .expect("run keel");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn classes_and_tools_from_the_file_shape_admission_and_its_metrics() {
    let node = Http::over(
        KeelHttp::start_with_config(
            "[admission.classes.reports]\ncapacity = 3\nqueue = 1\n\
             [admission.tools.echo]\nclass = \"reports\"\ntimeout_ms = 5000\n",
        )
        .await,
    );
    let id = json!(1);
    let reply = node
        .modern(&request(
            1,
            "tools/call",
            with_modern_meta(echo_params("hi")),
        ))
        .await;
    assert_eq!(echoed_text(&reply.result(&id)), "hi");

    let url = format!("http://127.0.0.1:{}/metrics", node.server.port);
    let text = within("GET /metrics", async {
        reqwest::get(&url).await?.text().await
    })
    .await
    .expect("GET /metrics");
    for line in [
        "keel_admission_capacity{workload=\"reports\"} 3",
        "keel_admission_queue_depth{workload=\"reports\"} 1",
        "keel_admission_in_flight{workload=\"reports\"} 0",
        "keel_tool_calls_total{tool=\"echo\",workload=\"reports\",outcome=\"ok\"} 1",
        "keel_admission_queue_wait_seconds_count{workload=\"reports\"} 0",
        "keel_admission_queue_wait_seconds_count{workload=\"cpu\"} 0",
    ] {
        assert!(text.contains(line), "{line} missing from\n{text}");
    }
}

#[tokio::test]
async fn a_section_for_an_unknown_tool_or_an_undefined_class_stops_the_server() {
    // The log is JSON: quotes inside the message are escaped.
    for (config, message) in [
        (
            "[admission.tools.nope]\nclass = \"cpu\"\n",
            &["[admission.tools.nope] names no tool this server offers"][..],
        ),
        (
            "[admission.tools.echo]\nclass = \"reports\"\n",
            &[
                "admission.tools.echo.class uses workload class",
                "which no [admission.classes.reports] section defines",
            ],
        ),
        (
            "[admission.classes.cpu]\ncapacity = 1\n",
            &["admission.classes.cpu:", "is a built-in workload class"],
        ),
    ] {
        let (code, stderr) = refused(config).await;
        assert_eq!(code, Some(2), "{config}: {stderr}");
        for needle in message {
            assert!(stderr.contains(needle), "{config}: {stderr}");
        }
    }
}
