//! SLO gates (`avg=100ms,p95=200ms,max=500ms`) and their verdicts on a run.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::args::parse_duration;
use crate::report::Latency;

/// The seed's gates, used when none are given.
pub const DEFAULT_SLO: &str = "avg=100ms,p95=200ms,max=500ms";

/// Why a gate list cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum SloError {
    /// Not `stat=duration`.
    #[error("SLO gate `{0}` is not stat=duration (stats: avg, p50, p90, p95, p99, p999, max)")]
    Syntax(String),
    /// The duration does not parse.
    #[error("SLO gate `{0}`: {1}")]
    Duration(String, String),
}

/// A latency statistic a gate bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stat {
    /// Mean.
    Avg,
    /// Median.
    P50,
    /// 90th percentile.
    P90,
    /// 95th percentile.
    P95,
    /// 99th percentile.
    P99,
    /// 99.9th percentile.
    P999,
    /// Largest.
    Max,
}

impl Stat {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "avg" | "mean" => Self::Avg,
            "p50" | "median" => Self::P50,
            "p90" => Self::P90,
            "p95" => Self::P95,
            "p99" => Self::P99,
            "p999" | "p99.9" => Self::P999,
            "max" => Self::Max,
            _ => return None,
        })
    }

    /// The statistic's value in a run, in microseconds.
    pub fn of(self, l: &Latency) -> f64 {
        match self {
            Self::Avg => l.mean,
            Self::P50 => l.p50 as f64,
            Self::P90 => l.p90 as f64,
            Self::P95 => l.p95 as f64,
            Self::P99 => l.p99 as f64,
            Self::P999 => l.p999 as f64,
            Self::Max => l.max as f64,
        }
    }
}

impl fmt::Display for Stat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Avg => "avg",
            Self::P50 => "p50",
            Self::P90 => "p90",
            Self::P95 => "p95",
            Self::P99 => "p99",
            Self::P999 => "p999",
            Self::Max => "max",
        })
    }
}

/// Gates a run must hold.
#[derive(Debug, Clone, PartialEq)]
pub struct Slo {
    gates: Vec<(Stat, u64)>,
}

/// One gate's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SloVerdict {
    /// The statistic.
    pub stat: Stat,
    /// Its bound in microseconds (inclusive).
    pub limit_us: u64,
    /// Its value in the run.
    pub actual_us: f64,
    /// Whether the run held it.
    pub passed: bool,
}

impl Slo {
    /// Parses `stat=duration,...`; `none` or an empty string is no gate.
    pub fn parse(s: &str) -> Result<Self, SloError> {
        let mut gates = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if part == "none" {
                continue;
            }
            let (stat, limit) = part
                .split_once(['=', '<'])
                .ok_or_else(|| SloError::Syntax(part.into()))?;
            let stat = Stat::parse(stat.trim()).ok_or_else(|| SloError::Syntax(part.into()))?;
            let limit = parse_duration(limit.trim_start_matches('=').trim())
                .map_err(|e| SloError::Duration(part.into(), e))?;
            gates.push((stat, u64::try_from(limit.as_micros()).unwrap_or(u64::MAX)));
        }
        Ok(Self { gates })
    }

    /// The verdict of every gate on `latency`.
    pub fn judge(&self, latency: &Latency) -> Vec<SloVerdict> {
        self.gates
            .iter()
            .map(|&(stat, limit_us)| {
                let actual_us = stat.of(latency);
                SloVerdict {
                    stat,
                    limit_us,
                    actual_us,
                    passed: actual_us <= limit_us as f64,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn latency(mean: f64, p95: u64, max: u64) -> Latency {
        Latency {
            mean,
            p95,
            max,
            ..Latency::default()
        }
    }

    #[test]
    fn the_default_gates_are_the_seeds() {
        let slo = Slo::parse(DEFAULT_SLO).unwrap();
        let v = slo.judge(&latency(90_000.0, 150_000, 499_000));
        assert!(v.iter().all(|g| g.passed), "{v:?}");
        let v = slo.judge(&latency(90_000.0, 250_000, 499_000));
        assert_eq!(
            v.iter()
                .filter(|g| !g.passed)
                .map(|g| g.stat)
                .collect::<Vec<_>>(),
            vec![Stat::P95]
        );
        assert!(
            Slo::parse("none")
                .unwrap()
                .judge(&Latency::default())
                .is_empty()
        );
        assert!(Slo::parse("p97=1ms").is_err());
        assert!(Slo::parse("p99=fast").is_err());
        assert_eq!(
            Slo::parse("p99<50ms").unwrap().gates,
            vec![(Stat::P99, 50_000)]
        );
    }
}
