//! End to end: the real `keel bench` drives the real `keel serve` over HTTP (both eras) and
//! stdio; every request is accounted for, gates set the exit code, reports parse, and
//! `keel bench compare` judges two reports.

mod support;

use std::{path::Path, process::Output};

use serde_json::Value;
use support::{KeelHttp, keel_command, within};

async fn keel(args: &[&str]) -> Output {
    let mut cmd = tokio::process::Command::from(keel_command("error"));
    cmd.args(args).kill_on_drop(true);
    within("keel bench to finish", cmd.output())
        .await
        .expect("run keel bench")
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("report written"))
        .expect("report is JSON")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Every request answered well: sent = ok, no failure of any class.
fn assert_clean(r: &Value) {
    let requests = r["requests"].as_u64().expect("requests");
    assert!(requests > 50, "{r}");
    assert_eq!(r["ok"].as_u64(), Some(requests), "{r}");
    assert_eq!(r["errors"]["total"], 0, "{r}");
    for key in ["mean", "p50", "p90", "p95", "p99", "p999", "max"] {
        assert!(
            r["latency_us"][key].as_f64().is_some_and(|v| v > 0.0),
            "{key}: {r}"
        );
    }
    assert!(r["throughput_rps"].as_f64().is_some_and(|v| v > 0.0));
}

#[tokio::test]
async fn modern_run_with_synthesized_arguments_and_every_report() {
    let server = KeelHttp::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let (json, html, ndjson) = (
        dir.path().join("r.json"),
        dir.path().join("r.html"),
        dir.path().join("r.ndjson"),
    );
    // No --tool, no --args: echo is chosen and its arguments come from its inputSchema.
    let out = keel(&[
        "bench",
        &server.url,
        "-c",
        "4",
        "-d",
        "2s",
        "--interval",
        "500ms",
        "--json",
        &json.display().to_string(),
        "--html",
        &html.display().to_string(),
        "--ndjson",
        &ndjson.display().to_string(),
    ])
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("verdict: PASS"), "{}", text(&out));
    let r = read_json(&json);
    assert_clean(&r);
    assert_eq!(
        (r["era"].as_str(), r["protocol_version"].as_str()),
        (Some("modern"), Some("2026-07-28"))
    );
    assert_eq!(
        r["slo"].as_array().map(Vec::len),
        Some(3),
        "the seed's default gates"
    );
    // Intervals add up to the whole run.
    let lines: Vec<Value> = std::fs::read_to_string(&ndjson)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("NDJSON line"))
        .collect();
    assert!(lines.len() >= 3, "{lines:?}");
    let summed: u64 = lines.iter().map(|l| l["requests"].as_u64().unwrap()).sum();
    assert_eq!(summed, r["requests"].as_u64().unwrap());
    let page = std::fs::read_to_string(&html).unwrap();
    assert_eq!(page.matches("<svg").count(), 3, "three plots");
    assert!(page.contains("PASS") && !page.contains("<script"));
}

#[tokio::test]
async fn legacy_run_spreads_connections_over_sessions() {
    let server = KeelHttp::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let json = dir.path().join("r.json");
    let out = keel(&[
        "bench",
        &server.url,
        "-q",
        "--era",
        "legacy",
        "-c",
        "4",
        "--sessions",
        "2",
        "-d",
        "1s",
        "--tool",
        "echo",
        "--args",
        r#"{"text":"k{key}"}"#,
        "--json",
        &json.display().to_string(),
    ])
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let r = read_json(&json);
    assert_clean(&r);
    assert_eq!(
        (r["era"].as_str(), r["sessions"].as_u64()),
        (Some("legacy"), Some(2))
    );
    assert_eq!(r["protocol_version"], "2025-11-25");
}

#[tokio::test]
async fn stdio_run_and_a_workload_mix() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (json, workload) = (dir.path().join("r.json"), dir.path().join("mix.toml"));
    std::fs::write(
        &workload,
        r#"
[[request]]
tool = "echo"
args = { text = "item {key}" }
weight = 4
keys = 50
zipf = 1.0

[[request]]
method = "tools/list"

[[request]]
method = "resources/read"
uri = "keel://databases"
"#,
    )
    .unwrap();
    let keel_bin = env!("CARGO_BIN_EXE_keel");
    let out = keel(&[
        "bench",
        "-q",
        "--stdio",
        "-c",
        "4",
        "-d",
        "1s",
        "--workload",
        &workload.display().to_string(),
        "--json",
        &json.display().to_string(),
        "--",
        keel_bin,
        "serve",
        "--stdio",
    ])
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let r = read_json(&json);
    assert_clean(&r);
    assert!(r["target"].as_str().unwrap().starts_with("stdio: "));
}

#[tokio::test]
async fn gates_errors_and_bad_setups_set_the_exit_code() {
    let server = KeelHttp::start().await;
    let run = |extra: &'static [&'static str]| {
        let url = server.url.clone();
        async move {
            let mut args = vec!["bench", "-q", "-c", "2", "-d", "500ms"];
            args.push(&url);
            args.extend_from_slice(extra);
            keel(&args).await
        }
    };
    // A gate no server holds: the run fails its verdict with exit 1.
    let out = run(&["--slo", "p50=1us"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("verdict: FAIL"));
    // Schema-invalid arguments are tool errors (isError), counted and failing the run.
    let out = run(&["--tool", "echo", "--args", r#"{"wrong":1}"#]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("isError"), "{}", text(&out));
    // ...unless failures are allowed.
    let out = run(&[
        "--tool",
        "echo",
        "--args",
        r#"{"wrong":1}"#,
        "--max-error-rate",
        "1",
    ])
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // No run at all: exit 2 with the reason.
    let out = run(&["--tool", "nope"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("no tool `nope`"), "{}", text(&out));
    let out = keel(&["bench", "-q", "-d", "200ms", "http://127.0.0.1:1/mcp"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let out = keel(&["bench", "-q", "https://127.0.0.1/mcp"]).await;
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test]
async fn compare_judges_a_new_run_against_a_baseline() {
    let server = KeelHttp::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let base = dir.path().join("base.json");
    let out = keel(&[
        "bench",
        "-q",
        &server.url,
        "-c",
        "2",
        "-d",
        "500ms",
        "--json",
        &base.display().to_string(),
    ])
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let path = |p: &Path| p.display().to_string();
    let out = keel(&[
        "bench",
        "compare",
        &path(&base),
        &path(&base),
        "--assert",
        "p99_delta<10%",
    ])
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // A slower copy: p99 doubled, throughput halved.
    let mut slow = read_json(&base);
    slow["latency_us"]["p99"] = (slow["latency_us"]["p99"].as_u64().unwrap() * 2).into();
    slow["throughput_rps"] = (slow["throughput_rps"].as_f64().unwrap() / 2.0).into();
    let slower = dir.path().join("slow.json");
    std::fs::write(&slower, slow.to_string()).unwrap();
    let out = keel(&[
        "bench",
        "compare",
        &path(&base),
        &path(&slower),
        "--assert",
        "p99_delta<10%",
    ])
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("+100.00%"), "{}", text(&out));
    let out = keel(&[
        "bench",
        "compare",
        &path(&base),
        &path(&slower),
        "--assert",
        "throughput_delta>-10%",
    ])
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let out = keel(&[
        "bench",
        "compare",
        &path(&base),
        &path(&slower),
        "--assert",
        "bogus",
    ])
    .await;
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test]
async fn help_documents_the_interface_scripts_rely_on() {
    let out = keel(&["bench", "--help"]).await;
    assert_eq!(out.status.code(), Some(0));
    let help = text(&out);
    for flag in [
        "--connections",
        "--duration",
        "--rate",
        "--era",
        "--tool",
        "--args",
        "--workload",
        "--slo",
        "--json",
        "--html",
        "--ndjson",
        "--find-ceiling",
        "--churn",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help");
    }
    for words in [
        "coordinated omission",
        "throughput_rps",
        "latency_us",
        "exit code",
    ] {
        assert!(help.contains(words), "`{words}` missing from --help");
    }
}
