//! Each probe fires against the fixture flaw it looks for, and a clean fixture yields no
//! medium-or-worse finding; tools not annotated read-only are never called by default.

mod fixture;

use std::{sync::atomic::Ordering, time::Duration};

use fixture::{Flaws, SECRET, start, token_for};
use keel_audit::{Era, Options, Report, Severity, Target, audit};

fn options(era: Era) -> Options {
    Options {
        era,
        request_timeout: Duration::from_secs(2),
        slow_bound: Duration::from_secs(2),
        trickle_interval: Duration::from_millis(200),
        oversized_bytes: 2 * 1024 * 1024,
        deadline: Duration::from_secs(120),
        ..Options::default()
    }
}

fn with_tokens(mut o: Options, secret: bool) -> Options {
    o.token = Some(token_for("alice"));
    o.second_token = Some(token_for("bob"));
    if secret {
        o.hs256_secret = Some(SECRET.into());
    }
    o
}

async fn run(flaws: Flaws, auth: bool, opts: Options) -> (Report, usize) {
    let f = start(flaws, auth).await;
    let report = tokio::time::timeout(
        Duration::from_secs(150),
        audit(&Target::Http(f.url.clone()), opts),
    )
    .await
    .expect("the audit ends within its deadline")
    .expect("the fixture is reachable");
    (report, f.mutating_calls.load(Ordering::Relaxed))
}

fn medium_or_worse(r: &Report) -> Vec<String> {
    r.findings
        .iter()
        .filter(|f| f.severity >= Severity::Medium)
        .map(|f| format!("{} {}", f.rule, f.message))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_fixture_has_no_medium_findings_and_mutating_tools_are_not_called() {
    let cases = [
        ("modern", false, options(Era::Auto)),
        ("legacy", false, options(Era::Legacy)),
        (
            "modern with auth",
            true,
            with_tokens(options(Era::Auto), true),
        ),
        (
            "legacy with auth",
            true,
            with_tokens(options(Era::Legacy), false),
        ),
    ];
    let mut set = tokio::task::JoinSet::new();
    for (name, auth, opts) in cases {
        set.spawn(async move { (name, run(Flaws::default(), auth, opts).await) });
    }
    while let Some(done) = set.join_next().await {
        let (name, (report, wipes)) = done.expect("task");
        assert!(
            medium_or_worse(&report).is_empty(),
            "{name}: {:#?}",
            report.findings
        );
        assert_eq!(wipes, 0, "{name}: the mutating tool was called");
        assert!(
            report.tools_called.iter().any(|t| t == "lookup"),
            "{name}: {report:?}"
        );
        assert!(!report.tools_called.iter().any(|t| t == "wipe"), "{name}");
        assert!(
            report.skipped.iter().any(|s| s.probe == "tool wipe"),
            "{name}"
        );
        if !name.contains("auth") {
            assert!(report.has("auth.none"), "{name}: no-auth is reported");
        }
    }
}

#[tokio::test]
async fn allow_mutating_calls_the_mutating_tool() {
    let mut opts = options(Era::Auto);
    opts.allow_mutating = true;
    let (report, wipes) = run(Flaws::default(), false, opts).await;
    assert!(wipes > 0, "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_probe_fires_on_its_flaw() {
    type Set = fn(&mut Flaws);
    let cases: Vec<(&str, Set, bool, Options)> = vec![
        (
            "leak.stack-trace",
            |f| f.leak_errors = true,
            false,
            options(Era::Auto),
        ),
        (
            "leak.path",
            |f| f.leak_errors = true,
            false,
            options(Era::Auto),
        ),
        (
            "http.foreign-origin",
            |f| f.foreign_origin = true,
            false,
            options(Era::Auto),
        ),
        (
            "http.foreign-host",
            |f| f.foreign_host = true,
            false,
            options(Era::Auto),
        ),
        (
            "http.header-mismatch",
            |f| f.ignore_headers = true,
            false,
            options(Era::Auto),
        ),
        (
            "protocol.unsupported-version",
            |f| f.any_version = true,
            false,
            options(Era::Auto),
        ),
        (
            "protocol.unsupported-version",
            |f| f.any_version = true,
            false,
            options(Era::Legacy),
        ),
        (
            "session.forged",
            |f| f.forged_session = true,
            false,
            options(Era::Legacy),
        ),
        (
            "session.deleted",
            |f| f.deleted_session = true,
            false,
            options(Era::Legacy),
        ),
        (
            "protocol.batch",
            |f| f.batches = true,
            false,
            options(Era::Legacy),
        ),
        (
            "protocol.deep-nesting",
            |f| f.hang_deep = true,
            false,
            options(Era::Auto),
        ),
        (
            "transport.slow-head",
            |f| f.no_head_timeout = true,
            false,
            options(Era::Auto),
        ),
        (
            "transport.half-open",
            |f| f.no_head_timeout = true,
            false,
            options(Era::Auto),
        ),
        (
            "leak.passwd",
            |f| f.passwd = true,
            false,
            options(Era::Auto),
        ),
        (
            "auth.alg-none",
            |f| f.alg_none = true,
            true,
            with_tokens(options(Era::Auto), false),
        ),
        (
            "auth.expired-token",
            |f| f.expired = true,
            true,
            with_tokens(options(Era::Auto), true),
        ),
        (
            "auth.wrong-audience",
            |f| f.wrong_aud = true,
            true,
            with_tokens(options(Era::Auto), true),
        ),
        (
            "auth.wrong-issuer",
            |f| f.wrong_iss = true,
            true,
            with_tokens(options(Era::Auto), true),
        ),
        (
            "auth.query-token",
            |f| f.query_token = true,
            true,
            with_tokens(options(Era::Auto), false),
        ),
        (
            "auth.prm",
            |f| f.no_prm = true,
            true,
            with_tokens(options(Era::Auto), false),
        ),
        (
            "auth.www-authenticate",
            |f| f.no_www_authenticate = true,
            true,
            options(Era::Auto),
        ),
        (
            "auth.insufficient-scope",
            |f| f.bad_scope_shape = true,
            true,
            with_tokens(options(Era::Auto), false),
        ),
        (
            "cache.cross-principal",
            |f| f.shared_cache = true,
            true,
            with_tokens(options(Era::Auto), false),
        ),
    ];
    let mut set = tokio::task::JoinSet::new();
    for (rule, set_flaw, auth, opts) in cases {
        let mut flaws = Flaws::default();
        set_flaw(&mut flaws);
        set.spawn(async move { (rule, run(flaws, auth, opts).await.0) });
    }
    let mut failures = Vec::new();
    while let Some(done) = set.join_next().await {
        let (rule, report) = done.expect("task");
        if !report.has(rule) {
            failures.push(format!("{rule} did not fire: {:#?}", report.findings));
        }
        assert!(report.requests <= 600, "{rule}: budget exceeded");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn the_request_budget_holds() {
    let mut opts = options(Era::Auto);
    opts.max_requests = 12;
    let (report, _) = run(Flaws::default(), false, opts).await;
    assert!(report.requests <= 12, "{}", report.requests);
    assert!(!report.skipped.is_empty());
}

#[tokio::test]
async fn sarif_and_json_reports_are_well_formed() {
    let (report, _) = run(
        Flaws {
            passwd: true,
            ..Flaws::default()
        },
        false,
        options(Era::Auto),
    )
    .await;
    let sarif: serde_json::Value = serde_json::from_str(&report.to_sarif()).expect("SARIF is JSON");
    assert_eq!(sarif["version"], "2.1.0");
    let results = sarif["runs"][0]["results"].as_array().expect("results");
    assert!(
        results
            .iter()
            .any(|r| r["ruleId"] == "leak.passwd" && r["level"] == "error")
    );
    assert!(
        sarif["runs"][0]["tool"]["driver"]["rules"]
            .as_array()
            .is_some_and(|r| r.len() == keel_audit::RULES.len())
    );
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).expect("JSON");
    assert!(json["findings"].as_array().is_some_and(|f| !f.is_empty()));
    assert!(report.fails());
}
