//! `keel bench compare BASE NEW --assert 'p99_delta<10%'`: relative changes between two JSON
//! reports, judged for CI.

use std::{path::Path, process::ExitCode};

use crate::{args::CompareArgs, report::Report};

/// Why a comparison cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    /// A report cannot be read or parsed.
    #[error("cannot read report {0}: {1}")]
    Read(String, String),
    /// An assertion does not parse.
    #[error(
        "assertion `{0}` is not METRIC<N% (metrics: throughput_delta, mean_delta, p50_delta, \
         p90_delta, p95_delta, p99_delta, p999_delta, max_delta, error_rate; ops < <= > >=)"
    )]
    Syntax(String),
}

/// One metric of the comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    /// Its name (`p99_delta`, `error_rate`).
    pub name: &'static str,
    /// Its value in percent.
    pub percent: f64,
}

/// Every metric: relative change from base to new in percent, and the new error rate.
pub fn metrics(base: &Report, new: &Report) -> Vec<Metric> {
    let delta = |b: f64, n: f64| {
        if b == 0.0 {
            if n == 0.0 { 0.0 } else { f64::INFINITY }
        } else {
            (n - b) / b * 100.0
        }
    };
    let (b, n) = (&base.latency_us, &new.latency_us);
    vec![
        Metric {
            name: "throughput_delta",
            percent: delta(base.throughput_rps, new.throughput_rps),
        },
        Metric {
            name: "mean_delta",
            percent: delta(b.mean, n.mean),
        },
        Metric {
            name: "p50_delta",
            percent: delta(b.p50 as f64, n.p50 as f64),
        },
        Metric {
            name: "p90_delta",
            percent: delta(b.p90 as f64, n.p90 as f64),
        },
        Metric {
            name: "p95_delta",
            percent: delta(b.p95 as f64, n.p95 as f64),
        },
        Metric {
            name: "p99_delta",
            percent: delta(b.p99 as f64, n.p99 as f64),
        },
        Metric {
            name: "p999_delta",
            percent: delta(b.p999 as f64, n.p999 as f64),
        },
        Metric {
            name: "max_delta",
            percent: delta(b.max as f64, n.max as f64),
        },
        Metric {
            name: "error_rate",
            percent: new.error_rate() * 100.0,
        },
    ]
}

/// An assertion's verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// The assertion as written.
    pub assertion: String,
    /// The metric's value in percent.
    pub percent: f64,
    /// Whether it holds.
    pub passed: bool,
}

/// Judges `assertions` on the two reports.
pub fn compare_reports(
    base: &Report,
    new: &Report,
    assertions: &[String],
) -> Result<Vec<Check>, CompareError> {
    let metrics = metrics(base, new);
    assertions
        .iter()
        .map(|a| {
            let syntax = || CompareError::Syntax(a.clone());
            let compact: String = a.chars().filter(|c| !c.is_whitespace()).collect();
            let at = compact.find(['<', '>']).ok_or_else(syntax)?;
            let (name, rest) = compact.split_at(at);
            let (op, number) = match rest.get(..2) {
                Some("<=" | ">=") => rest.split_at(2),
                _ => rest.split_at(1),
            };
            let limit: f64 = number.trim_end_matches('%').parse().map_err(|_| syntax())?;
            let metric = metrics.iter().find(|m| m.name == name).ok_or_else(syntax)?;
            let v = metric.percent;
            let passed = match op {
                "<" => v < limit,
                "<=" => v <= limit,
                ">" => v > limit,
                ">=" => v >= limit,
                _ => return Err(syntax()),
            };
            Ok(Check {
                assertion: a.clone(),
                percent: v,
                passed,
            })
        })
        .collect()
}

fn read(path: &Path) -> Result<Report, CompareError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| CompareError::Read(shown.clone(), e.to_string()))?;
    serde_json::from_str(&text).map_err(|e| CompareError::Read(shown, e.to_string()))
}

/// The `compare` subcommand: prints every metric and each assertion; exit 1 when one fails.
pub(crate) fn main(args: &CompareArgs) -> ExitCode {
    let result = (|| {
        let (base, new) = (read(&args.base)?, read(&args.new)?);
        let checks = compare_reports(&base, &new, &args.asserts)?;
        Ok::<_, CompareError>((base, new, checks))
    })();
    let (base, new, checks) = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("keel bench compare: {e}");
            return ExitCode::from(2);
        }
    };
    let mut out = String::new();
    out.push_str(&format!(
        "base: {:.1} req/s, p99 {}µs   new: {:.1} req/s, p99 {}µs\n",
        base.throughput_rps, base.latency_us.p99, new.throughput_rps, new.latency_us.p99
    ));
    for m in metrics(&base, &new) {
        out.push_str(&format!("  {:<17} {:+.2}%\n", m.name, m.percent));
    }
    let mut failed = false;
    for c in &checks {
        failed |= !c.passed;
        out.push_str(&format!(
            "  assert {}: {:+.2}% {}\n",
            c.assertion,
            c.percent,
            if c.passed { "pass" } else { "FAIL" }
        ));
    }
    use std::io::Write as _;
    let _ = std::io::stdout().lock().write_all(out.as_bytes());
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Latency;

    fn report(rps: f64, p99: u64, errors: u64) -> Report {
        let mut r = Report {
            throughput_rps: rps,
            requests: 1000,
            latency_us: Latency {
                p99,
                ..Latency::default()
            },
            ..Report::default()
        };
        r.errors.total = errors;
        r
    }

    #[test]
    fn assertions_judge_relative_changes() {
        let base = report(1000.0, 1000, 0);
        let new = report(950.0, 1150, 20);
        let asserts: Vec<String> = ["p99_delta<10%", "throughput_delta>=-5%", "error_rate < 1%"]
            .map(String::from)
            .to_vec();
        let checks = compare_reports(&base, &new, &asserts).unwrap();
        assert_eq!(
            checks.iter().map(|c| c.passed).collect::<Vec<_>>(),
            vec![false, true, false]
        );
        assert!((checks[0].percent - 15.0).abs() < 1e-9);
        assert!(compare_reports(&base, &new, &["p98_delta<1%".into()]).is_err());
        assert!(compare_reports(&base, &new, &["p99_delta=1%".into()]).is_err());
    }
}
