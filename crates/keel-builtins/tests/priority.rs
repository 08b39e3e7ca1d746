//! `analyze` prepares its input below the server's priority: its read thread, the SQLite
//! threads of its own connections and its pool run `analyze.nice` levels nicer than the
//! server, while the `query` tool's connections keep the server's priority. Linux only (the
//! nice value is per thread there, and read from `/proc`).
#![cfg(target_os = "linux")]

mod support;

use keel_builtins::BuiltinsConfig;
use serde_json::json;
use support::{Harness, sqlite_in};

/// The nice value in a `/proc/…/stat` line: field 19, counting from the state (field 3),
/// which follows the thread name's closing parenthesis.
fn nice_in(stat: &str) -> i32 {
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    after_name.split(' ').nth(16).unwrap().parse().unwrap()
}

/// The nice value of every thread of this process, by thread name.
fn thread_nice() -> Vec<(String, i32)> {
    let mut threads = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let dir = task.unwrap().path();
        let (Ok(name), Ok(stat)) = (
            std::fs::read_to_string(dir.join("comm")),
            std::fs::read_to_string(dir.join("stat")),
        ) else {
            continue; // the thread ended meanwhile
        };
        threads.push((name.trim_end().to_owned(), nice_in(&stat)));
    }
    threads
}

#[tokio::test]
async fn analyze_reads_and_parses_below_the_servers_priority() {
    let own = nice_in(&std::fs::read_to_string("/proc/thread-self/stat").unwrap());
    let nicer = own + 7;
    assert!(
        nicer <= 19,
        "the test runs at nice {own}; it needs room for 7 more"
    );

    let dir = tempfile::tempdir().unwrap();
    let mut config = BuiltinsConfig::default();
    config.embed.enabled = false;
    config.analyze.nice = 7;
    config.query.databases = vec![sqlite_in(&dir, "main")];
    let h = Harness::start(&config).await;
    h.call_ok("query", json!({ "sql": "SELECT count(*) FROM orders" }))
        .await;
    let out = h
        .call_ok(
            "analyze",
            json!({ "query": { "sql": "SELECT total_cents FROM orders" } }),
        )
        .await;
    assert!(out["columns"][0]["count"].as_f64().unwrap() > 0.0, "{out}");

    let threads = thread_nice();
    let sqlite: Vec<i32> = threads
        .iter()
        .filter(|(name, _)| name.starts_with("keel-sqlite-"))
        .map(|&(_, nice)| nice)
        .collect();
    assert!(
        sqlite.contains(&own) && sqlite.contains(&nicer),
        "the query tool's SQLite threads at {own}, the analyzer's at {nicer}: {threads:?}"
    );
    assert!(
        sqlite.iter().all(|&nice| nice == own || nice == nicer),
        "{threads:?}"
    );
    let analyze: Vec<&(String, i32)> = threads
        .iter()
        .filter(|(name, _)| name.starts_with("keel-analyze"))
        .collect();
    assert!(
        analyze.iter().any(|(name, _)| name == "keel-analyze-io"),
        "the read thread runs: {threads:?}"
    );
    assert!(
        analyze.iter().all(|&&(_, nice)| nice == nicer),
        "the read thread and the pool at {nicer}: {threads:?}"
    );
    h.builtins.close().await;
}
