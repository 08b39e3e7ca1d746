//! The report as the terminal shows it.

use std::fmt::Write;

use super::Report;

/// Microseconds as the shortest readable unit.
pub(crate) fn us(v: f64) -> String {
    if v >= 1_000_000.0 {
        format!("{:.2}s", v / 1_000_000.0)
    } else if v >= 1_000.0 {
        format!("{:.2}ms", v / 1_000.0)
    } else {
        format!("{v:.0}µs")
    }
}

/// A multi-line summary.
pub(crate) fn text(r: &Report) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{} ({} {}), {} loop{}, {} connections, {} thread(s){}",
        r.target,
        r.era,
        r.protocol_version,
        r.mode,
        match (&r.shape, r.rate) {
            (Some(s), Some(rate)) => format!(" at {rate} req/s ({s})"),
            _ => String::new(),
        },
        r.connections,
        r.threads,
        if r.era == "legacy" {
            format!(", {} session(s)", r.sessions)
        } else {
            String::new()
        }
    );
    let _ = writeln!(
        o,
        "  {} requests in {:.2}s: {:.1} req/s, {} ok, {} failed ({:.3}%){}",
        r.requests,
        r.duration_secs,
        r.throughput_rps,
        r.ok,
        r.errors.total,
        r.error_rate() * 100.0,
        if r.input_rounds > 0 {
            format!(", {} input rounds answered", r.input_rounds)
        } else {
            String::new()
        }
    );
    let l = &r.latency_us;
    let _ = writeln!(
        o,
        "  latency: avg {}  p50 {}  p90 {}  p95 {}  p99 {}  p99.9 {}  max {}",
        us(l.mean),
        us(l.p50 as f64),
        us(l.p90 as f64),
        us(l.p95 as f64),
        us(l.p99 as f64),
        us(l.p999 as f64),
        us(l.max as f64)
    );
    if let Some(f) = &r.failed_latency_us {
        let ok = &r.ok_latency_us;
        let _ = writeln!(
            o,
            "  succeeded: p50 {}  p99 {}  max {}   failed: p50 {}  p99 {}  max {}",
            us(ok.p50 as f64),
            us(ok.p99 as f64),
            us(ok.max as f64),
            us(f.p50 as f64),
            us(f.p99 as f64),
            us(f.max as f64)
        );
    }
    let e = &r.errors;
    if e.total > 0 {
        let mut parts = Vec::new();
        for (k, v) in &e.transport {
            parts.push(format!("transport {k}: {v}"));
        }
        for (k, v) in &e.http_status {
            parts.push(format!("HTTP {k}: {v}"));
        }
        for (k, v) in &e.jsonrpc {
            parts.push(format!("JSON-RPC {k}: {v}"));
        }
        if e.is_error > 0 {
            parts.push(format!("isError: {}", e.is_error));
        }
        let _ = writeln!(o, "  errors: {}", parts.join(", "));
    }
    if let Some(c) = &r.churn {
        let _ = writeln!(
            o,
            "  churn: {} sessions opened and abandoned ({} failed) at {}/s{}",
            c.sessions,
            c.failed,
            c.rate,
            match c.rss_per_session_bytes {
                Some(b) => format!(", server RSS {:+.0} bytes per session", b),
                None => String::new(),
            }
        );
    }
    if let Some(c) = &r.ceiling {
        for s in &c.stages {
            let _ = writeln!(
                o,
                "  stage {:>9.1} req/s: got {:.1} req/s, p99 {}, errors {:.3}% {}",
                s.rate,
                s.throughput_rps,
                us(s.latency_us.p99 as f64),
                s.error_rate * 100.0,
                if s.passed { "held" } else { "BROKE" }
            );
        }
        let _ = writeln!(o, "  ceiling: {:.1} req/s", c.rate);
    }
    for g in &r.slo {
        let _ = writeln!(
            o,
            "  SLO {} ≤ {}: {} {}",
            g.stat,
            us(g.limit_us as f64),
            us(g.actual_us),
            if g.passed { "pass" } else { "FAIL" }
        );
    }
    let _ = writeln!(o, "  verdict: {}", if r.passed { "PASS" } else { "FAIL" });
    o
}
