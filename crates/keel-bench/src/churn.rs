//! Session churn: legacy sessions opened and abandoned at a rate while the load runs, and
//! the server's resident memory before and after (how much an abandoned session costs until
//! the server expires it).

use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::{
    mcp::Era,
    report,
    run::{BenchError, Prepared},
    setup::{self, Target},
};

/// Churn in progress.
pub(crate) struct Churn {
    rate: f64,
    pid: Option<u32>,
    rss_before: Option<u64>,
    stop: CancellationToken,
    task: JoinHandle<(u64, u64)>,
}

impl Churn {
    /// Starts opening `rate` sessions per second (each on its own connection, then dropped).
    pub(crate) fn start(
        prepared: &Prepared,
        rate: f64,
        pid: Option<u32>,
    ) -> Result<Self, BenchError> {
        if !(rate.is_finite() && rate > 0.0) {
            return Err(BenchError::Usage("--churn must be a positive rate"));
        }
        let (Target::Http(_), Era::Legacy) = (&prepared.target, prepared.era) else {
            return Err(BenchError::Usage(
                "--churn needs a legacy-era (session) server over HTTP",
            ));
        };
        let target = prepared.target.clone();
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        let rss_before = pid.and_then(rss_kib);
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let (mut opened, mut failed) = (0, 0);
            loop {
                tokio::select! {
                    () = stopped.cancelled() => break,
                    _ = tick.tick() => {}
                }
                let mut channel = target.channel();
                match setup::open_legacy(&mut channel, 1).await {
                    Ok(_) => opened += 1,
                    Err(_) => failed += 1,
                }
            }
            (opened, failed)
        });
        Ok(Self {
            rate,
            pid,
            rss_before,
            stop,
            task,
        })
    }

    /// Stops churning and measures.
    pub(crate) async fn finish(self) -> report::Churn {
        self.stop.cancel();
        let (sessions, failed) = self.task.await.unwrap_or((0, 0));
        let rss_after = self.pid.and_then(rss_kib);
        let per_session = match (self.rss_before, rss_after) {
            (Some(b), Some(a)) if sessions > 0 => {
                Some((a as f64 - b as f64) * 1024.0 / sessions as f64)
            }
            _ => None,
        };
        report::Churn {
            rate: self.rate,
            sessions,
            failed,
            rss_before_kib: self.rss_before,
            rss_after_kib: rss_after,
            rss_per_session_bytes: per_session.map(f64::round),
        }
    }
}

/// A process's resident memory in KiB, from /proc (Linux).
pub(crate) fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

#[cfg(test)]
mod tests {
    #[test]
    fn own_rss_is_readable() {
        let rss = super::rss_kib(std::process::id()).expect("VmRSS");
        assert!(rss > 100, "{rss}");
    }
}
