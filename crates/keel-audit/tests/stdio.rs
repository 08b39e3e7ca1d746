//! Probes over a child's stdio fire on its flaws: small `sh` servers that accept anything
//! or leak a traceback in every error.

use std::time::Duration;

use keel_audit::{Options, Report, Target, audit};

/// Answers every line with the same message; the first `ok` lines with a result.
fn server(ok: usize, then: &str) -> Target {
    let result = r#"{"jsonrpc":"2.0","id":null,"result":{"tools":[]}}"#;
    let script = format!(
        "n=0; while IFS= read -r line; do n=$((n+1)); if [ $n -le {ok} ]; then printf '%s\\n' '{result}'; else printf '%s\\n' '{then}'; fi; done"
    );
    Target::Stdio(vec!["sh".into(), "-c".into(), script])
}

async fn run(target: Target) -> Report {
    let opts = Options {
        request_timeout: Duration::from_secs(5),
        oversized_bytes: 64 * 1024,
        ..Options::default()
    };
    tokio::time::timeout(Duration::from_secs(120), audit(&target, opts))
        .await
        .expect("the audit ends")
        .expect("the server starts")
}

#[tokio::test]
async fn a_server_that_accepts_anything_is_caught() {
    let accept = r#"{"jsonrpc":"2.0","id":null,"result":{"tools":[]}}"#;
    let report = run(server(usize::MAX / 2, accept)).await;
    for rule in [
        "protocol.malformed-json",
        "protocol.bad-jsonrpc-version",
        "protocol.missing-method",
        "protocol.bad-id-type",
        "protocol.unsupported-version",
        "protocol.batch",
    ] {
        assert!(report.has(rule), "{rule}: {:#?}", report.findings);
    }
    assert!(report.fails());
    assert!(
        report
            .skipped
            .iter()
            .any(|s| s.reason.contains("HTTP only"))
    );
}

#[tokio::test]
async fn a_server_that_leaks_tracebacks_is_caught() {
    let leak = r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"Traceback (most recent call last):\n  File \"/app/server.py\", line 3"}}"#;
    let report = run(server(2, leak)).await;
    assert!(report.has("leak.stack-trace"), "{:#?}", report.findings);
    assert!(report.has("leak.path"), "{:#?}", report.findings);
    assert!(!report.has("server.down"), "{:#?}", report.findings);
}
