//! End to end: the real `keel audit` binary audits the real `keel serve` (HTTP in both eras,
//! and stdio) and finds nothing of medium or worse; its SARIF and JSON reports parse.

mod support;

use std::{path::Path, process::Output};

use serde_json::Value;
use support::{KeelHttp, keel_command, within};

/// Runs `keel audit ARGS` to completion.
async fn keel_audit(args: Vec<String>) -> Output {
    let mut cmd = tokio::process::Command::from(keel_command("error"));
    cmd.arg("audit").args(args).kill_on_drop(true);
    within("keel audit to finish", cmd.output())
        .await
        .expect("run keel audit")
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).expect("report written");
    serde_json::from_str(&text).expect("report is JSON")
}

/// Findings of medium or worse in a JSON report.
fn serious(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .expect("findings array")
        .iter()
        .filter(|f| ["medium", "high", "critical"].contains(&f["severity"].as_str().unwrap_or("")))
        .map(|f| f.to_string())
        .collect()
}

async fn audit_http(era: &str) -> (Output, Value, Value) {
    let server = KeelHttp::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let (sarif, json) = (
        dir.path().join("audit.sarif"),
        dir.path().join("audit.json"),
    );
    let out = keel_audit(vec![
        server.url.clone(),
        "--era".into(),
        era.into(),
        "--sarif".into(),
        sarif.display().to_string(),
        "--json".into(),
        json.display().to_string(),
    ])
    .await;
    (out, read_json(&sarif), read_json(&json))
}

#[tokio::test]
async fn keel_passes_its_own_audit_in_the_modern_era() {
    let (out, sarif, report) = audit_http("auto").await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(serious(&report).is_empty(), "{stdout}");
    assert_eq!(report["era"], "modern");
    assert_eq!(sarif["version"], "2.1.0");
    assert!(
        sarif["runs"][0]["tool"]["driver"]["rules"]
            .as_array()
            .is_some_and(|r| !r.is_empty())
    );
    let ran: Vec<&str> = report["probes_run"]
        .as_array()
        .expect("probes")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for probe in [
        "protocol.deep-nesting",
        "http.foreign-origin",
        "http.header-mismatch",
        "transport.slow-head",
        "injection",
    ] {
        assert!(ran.contains(&probe), "{probe} did not run: {ran:?}");
    }
    assert!(
        report["tools_called"]
            .as_array()
            .is_some_and(|t| t.iter().any(|n| n == "echo"))
    );
    assert!(stdout.contains("keel audit of"), "{stdout}");
}

#[tokio::test]
async fn keel_passes_its_own_audit_in_the_legacy_era() {
    let (out, sarif, report) = audit_http("legacy").await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(serious(&report).is_empty(), "{stdout}");
    assert!(
        report["era"]
            .as_str()
            .is_some_and(|e| e.starts_with("legacy")),
        "{report}"
    );
    assert_eq!(sarif["version"], "2.1.0");
    let ran: Vec<&str> = report["probes_run"]
        .as_array()
        .expect("probes")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for probe in ["session.forged", "session.deleted", "protocol.batch"] {
        assert!(ran.contains(&probe), "{probe} did not run: {ran:?}");
    }
}

#[tokio::test]
async fn keel_passes_its_own_audit_over_stdio() {
    let dir = tempfile::tempdir().expect("temp dir");
    let json = dir.path().join("audit.json");
    let out = keel_audit(vec![
        "--json".into(),
        json.display().to_string(),
        "--stdio".into(),
        "--".into(),
        env!("CARGO_BIN_EXE_keel").into(),
        "serve".into(),
        "--stdio".into(),
    ])
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let report = read_json(&json);
    assert!(serious(&report).is_empty(), "{stdout}");
    assert!(
        stdout.contains("HTTP only"),
        "skipped probes are listed: {stdout}"
    );
}

#[tokio::test]
async fn an_unreachable_server_is_a_usage_error() {
    let out = keel_audit(vec!["http://127.0.0.1:1/mcp".into()]).await;
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test]
async fn a_flawed_server_fails_the_audit() {
    // A stdio server that answers every message, malformed or not, with a result.
    let script = r#"while IFS= read -r line; do printf '%s\n' '{"jsonrpc":"2.0","id":null,"result":{"tools":[]}}'; done"#;
    let out = keel_audit(vec![
        "--stdio".into(),
        "--".into(),
        "sh".into(),
        "-c".into(),
        script.into(),
    ])
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("protocol.malformed-json"), "{stdout}");
}
