//! `keel bench` against a fixture whose answers are known in advance: every request is
//! counted exactly once in the right class, rounds are answered, gates decide the verdict and
//! the open loop shows a stall that the closed loop hides.

mod support;

use std::sync::atomic::Ordering;

use clap::Parser;
use keel_bench::{BenchArgs, Report, bench};
use support::{Mode, start};

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: BenchArgs,
}

fn args(line: &[&str]) -> BenchArgs {
    let mut argv = vec!["bench", "-q"];
    argv.extend_from_slice(line);
    Cli::try_parse_from(argv).unwrap().args
}

async fn run(line: &[&str]) -> Report {
    bench(&args(line)).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_is_counted_once_in_its_class() {
    for (modern, threads) in [(true, "1"), (false, "2")] {
        let f = start(Mode::Mixed, modern).await;
        let r = run(&[
            &f.url(),
            "-c",
            "8",
            "-t",
            threads,
            "-d",
            "1s",
            "--slo",
            "none",
            "--max-error-rate",
            "1",
        ])
        .await;
        let s = &f.seen;
        let calls = s.calls.load(Ordering::Relaxed);
        assert!(calls > 100, "{calls}");
        assert_eq!(r.era, if modern { "modern" } else { "legacy" });
        // sent = answered + errors, and each class matches what the server did.
        assert_eq!(r.requests, calls);
        assert_eq!(r.requests, r.ok + r.errors.total);
        assert_eq!(
            r.intervals.iter().map(|i| i.requests).sum::<u64>(),
            r.requests
        );
        assert_eq!(r.ok, s.ok.load(Ordering::Relaxed));
        assert_eq!(r.errors.is_error, s.is_error.load(Ordering::Relaxed));
        assert_eq!(
            r.errors.jsonrpc.get("-32603").copied().unwrap_or(0),
            s.rpc_error.load(Ordering::Relaxed)
        );
        assert_eq!(
            r.errors.http_status.get("503").copied().unwrap_or(0),
            s.http_503.load(Ordering::Relaxed)
        );
        assert!(r.errors.transport.is_empty(), "{:?}", r.errors.transport);
        // Input-required rounds were answered with the elicited field and retried once each.
        assert_eq!(r.input_rounds, s.retries.load(Ordering::Relaxed));
        assert!(
            r.input_rounds >= calls / 10 - 1,
            "{} rounds",
            r.input_rounds
        );
        assert_eq!(s.bad_headers.load(Ordering::Relaxed), 0);
        if !modern {
            // One session per connection, each opened with its handshake.
            assert_eq!(r.sessions, 8);
            assert_eq!(s.sessions.load(Ordering::Relaxed), 8);
        }
        assert!(r.latency_us.p50 > 0);
        assert!(r.passed, "no gate and every failure allowed: {:?}", r.slo);
        let json: Report = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(json, r);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameters_a_tool_marks_are_mirrored_into_headers() {
    let f = start(Mode::Stall { at: 0, millis: 0 }, true).await;
    // Synthesized arguments, and given ones with a key: the header follows each request.
    for extra in [&[][..], &["--args", r#"{"region":"eu-{key}"}"#][..]] {
        let url = f.url();
        let mut line = vec![url.as_str(), "-c", "2", "-d", "300ms", "--tool", "geo"];
        line.extend_from_slice(extra);
        let r = run(&line).await;
        assert!(r.requests > 10 && r.passed, "{r:?}");
    }
    assert_eq!(f.seen.bad_headers.load(Ordering::Relaxed), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gates_and_the_error_bound_decide_the_verdict() {
    let f = start(Mode::Stall { at: 0, millis: 0 }, true).await;
    let r = run(&[&f.url(), "-c", "2", "-d", "300ms"]).await;
    assert!(r.passed, "{:?}", r.slo);
    assert_eq!(r.slo.len(), 3, "the default gates are avg, p95 and max");
    let r = run(&[&f.url(), "-c", "2", "-d", "300ms", "--slo", "p50=1us"]).await;
    assert!(!r.passed);
    assert!(!r.slo[0].passed);
    let f = start(Mode::Mixed, true).await;
    let r = run(&[
        &f.url(),
        "-c",
        "2",
        "-d",
        "300ms",
        "--slo",
        "none",
        "--max-error-rate",
        "0.5",
    ])
    .await;
    assert!(r.passed, "30% of calls fail, half may");
    let r = run(&[
        &f.url(),
        "-c",
        "2",
        "-d",
        "300ms",
        "--slo",
        "none",
        "--max-error-rate",
        "0.01",
    ])
    .await;
    assert!(!r.passed, "30% of calls fail, 1% may");
    let r = run(&[&f.url(), "-c", "2", "-d", "300ms", "--slo", "none"]).await;
    assert!(!r.passed, "by default no failure is allowed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_open_loop_counts_a_stall_against_every_request_it_delayed() {
    // One connection, one 500 ms stall at the 50th call.
    let closed = {
        let f = start(
            Mode::Stall {
                at: 50,
                millis: 500,
            },
            true,
        )
        .await;
        run(&[&f.url(), "-c", "1", "-d", "2s", "--slo", "none"]).await
    };
    let open = {
        let f = start(
            Mode::Stall {
                at: 50,
                millis: 500,
            },
            true,
        )
        .await;
        run(&[
            &f.url(),
            "-c",
            "1",
            "-d",
            "2s",
            "--rate",
            "200",
            "--slo",
            "none",
        ])
        .await
    };
    assert!(closed.latency_us.max >= 500_000 && open.latency_us.max >= 500_000);
    // Closed loop: one slow request among thousands, so p90 stays fast (coordinated omission).
    assert!(closed.latency_us.p90 < 50_000, "{:?}", closed.latency_us);
    // Open loop: the ~100 requests due during the stall waited for it, measured from when
    // they were due: more than a tenth of the run's requests are slower than 100 ms.
    assert!(open.latency_us.p90 > 100_000, "{:?}", open.latency_us);
    assert!(
        (300..=420).contains(&open.requests),
        "{} requests at 200/s for 2s",
        open.requests
    );
    assert_eq!(open.mode, "open");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn find_ceiling_stops_at_the_first_stage_that_breaks_a_gate() {
    let f = start(Mode::Stall { at: 0, millis: 0 }, true).await;
    // A gate no stage can hold: the first stage breaks it and the ceiling is 0.
    let r = run(&[
        &f.url(),
        "-c",
        "4",
        "--find-ceiling",
        "--rate",
        "200",
        "--stage",
        "300ms",
        "--slo",
        "max=1us",
    ])
    .await;
    let c = r.ceiling.as_ref().unwrap();
    assert_eq!((c.rate, c.stages.len(), r.passed), (0.0, 1, false));
    // Gates the fixture holds: stages rise by half until the generator or server lags.
    let r = run(&[
        &f.url(),
        "-c",
        "4",
        "--find-ceiling",
        "--rate",
        "200",
        "--stage",
        "300ms",
        "--slo",
        "p99=2s",
    ])
    .await;
    let c = r.ceiling.as_ref().unwrap();
    assert!(c.stages.len() >= 2 && c.rate >= 200.0, "{c:?}");
    assert_eq!(c.stages[1].rate, 300.0);
}
