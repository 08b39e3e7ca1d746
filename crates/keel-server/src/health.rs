//! `[health]`: dependency checks run in the background on a period, each under its own
//! timeout and a bound on how many run at once, plus an MCP self-check (a real `tools/list`
//! through the dispatcher), so `/readyz` means MCP answers, not only that the socket is open.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

use keel_core::{Dispatcher, Incoming, Principal, RequestEnv};
use keel_protocol::ProtocolVersion;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::ConfigError;

/// The name of the MCP self-check.
pub const SELF_CHECK: &str = "mcp";

/// How readiness is judged.
///
/// ```toml
/// [health]
/// interval_ms = 5000       # how often every check runs
/// timeout_ms = 2000        # the longest one check may take
/// concurrency = 4          # checks running at once
/// required = ["db:main"]   # failing, these make /readyz answer 503; others only degrade it
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthConfig {
    /// Period of the checks, in milliseconds.
    pub interval_ms: u64,
    /// Timeout of one check, in milliseconds.
    pub timeout_ms: u64,
    /// Checks running at once.
    pub concurrency: usize,
    /// Dependencies that must answer for the server to be ready.
    pub required: Vec<String>,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            interval_ms: 5000,
            timeout_ms: 2000,
            concurrency: 4,
            required: Vec::new(),
        }
    }
}

impl HealthConfig {
    /// Checks the ranges.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(100..=600_000).contains(&self.interval_ms)
            || !(10..=60_000).contains(&self.timeout_ms)
            || !(1..=64).contains(&self.concurrency)
        {
            return Err(ConfigError::Invalid(
                "health: interval_ms must be 100-600000, timeout_ms 10-60000, concurrency 1-64"
                    .into(),
            ));
        }
        Ok(())
    }
}

/// A check's future: `Err` says what is wrong.
pub type CheckFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// One dependency check, run on every period.
pub type Check = Arc<dyn Fn() -> CheckFuture + Send + Sync>;

/// The last result of one check.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    /// Whether it answered in time.
    pub ok: bool,
    /// Whether readiness needs it.
    pub required: bool,
    /// What went wrong.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How long it took, in milliseconds.
    pub latency_ms: f64,
    /// Seconds since it ran.
    pub age_secs: f64,
    #[serde(skip)]
    at: Option<Instant>,
}

/// Readiness as the checks last saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every check passed.
    Ready,
    /// An optional check failed; the server serves what it can.
    Degraded,
    /// A required check, or the MCP self-check, failed.
    NotReady,
}

/// The checks and their last results; clones share them.
#[derive(Clone)]
pub struct Health {
    config: Arc<HealthConfig>,
    checks: Arc<RwLock<BTreeMap<String, Check>>>,
    results: Arc<RwLock<BTreeMap<String, CheckResult>>>,
}

impl Health {
    /// No checks yet.
    pub fn new(config: HealthConfig) -> Self {
        Self {
            config: Arc::new(config),
            checks: Arc::default(),
            results: Arc::default(),
        }
    }

    /// Adds (or replaces) the check named `name` (`db:main`, `redis`…).
    pub fn add_check(&self, name: impl Into<String>, check: Check) {
        let mut checks = self.checks.write().unwrap_or_else(|p| p.into_inner());
        checks.insert(name.into(), check);
    }

    /// Adds the MCP self-check: a `tools/list` through the dispatcher's whole request path.
    pub fn add_self_check(&self, dispatcher: Weak<Dispatcher>) {
        self.add_check(
            SELF_CHECK,
            Arc::new(move || {
                let dispatcher = dispatcher.upgrade();
                Box::pin(async move {
                    match dispatcher {
                        Some(d) => self_check(&d).await,
                        None => Err("the server has stopped".into()),
                    }
                })
            }),
        );
    }

    /// The last results, by check.
    pub fn results(&self) -> BTreeMap<String, CheckResult> {
        let now = Instant::now();
        let results = self.results.read().unwrap_or_else(|p| p.into_inner());
        results
            .iter()
            .map(|(name, r)| {
                let mut r = r.clone();
                r.age_secs = r.at.map_or(0.0, |at| now.duration_since(at).as_secs_f64());
                (name.clone(), r)
            })
            .collect()
    }

    /// Ready, degraded or not ready, from the last results. Before the first round, a
    /// required check counts as not ready.
    pub fn verdict(&self) -> Verdict {
        let results = self.results.read().unwrap_or_else(|p| p.into_inner());
        let checks = self.checks.read().unwrap_or_else(|p| p.into_inner());
        let mut verdict = Verdict::Ready;
        for name in checks.keys() {
            let required = self.is_required(name);
            match results.get(name) {
                Some(r) if r.ok => {}
                None if !required => {}
                _ if required => return Verdict::NotReady,
                _ => verdict = Verdict::Degraded,
            }
        }
        verdict
    }

    fn is_required(&self, name: &str) -> bool {
        name == SELF_CHECK || self.config.required.iter().any(|r| r == name)
    }

    /// Runs every check once, at most `concurrency` at a time, each under the timeout.
    pub async fn run_once(&self) {
        let checks: Vec<(String, Check)> = {
            let checks = self.checks.read().unwrap_or_else(|p| p.into_inner());
            checks
                .iter()
                .map(|(n, c)| (n.clone(), Arc::clone(c)))
                .collect()
        };
        let timeout = Duration::from_millis(self.config.timeout_ms);
        // Each check is its own task: a check that blocks its thread cannot stall the
        // others, and dropping this future aborts them all.
        let permits = Arc::new(tokio::sync::Semaphore::new(self.config.concurrency));
        let mut running = tokio::task::JoinSet::new();
        for (name, check) in checks {
            let permits = Arc::clone(&permits);
            running.spawn(async move {
                let _permit = permits.acquire_owned().await;
                run_check(name, check, timeout).await
            });
        }
        let mut done = Vec::new();
        while let Some(joined) = running.join_next().await {
            match joined {
                Ok(result) => done.push(result),
                Err(e) => tracing::warn!(error = %e, "a health check panicked"),
            }
        }
        let mut results = self.results.write().unwrap_or_else(|p| p.into_inner());
        for (name, started, outcome) in done {
            if let Err(e) = &outcome {
                tracing::warn!(check = %name, error = %e, "health check failed");
            }
            let required = self.is_required(&name);
            results.insert(
                name,
                CheckResult {
                    ok: outcome.is_ok(),
                    required,
                    error: outcome.err(),
                    latency_ms: started.elapsed().as_secs_f64() * 1000.0,
                    age_secs: 0.0,
                    at: Some(Instant::now()),
                },
            );
        }
    }

    /// Runs the checks every period, from one period on, for as long as the future is
    /// polled: its owner ends it (the server spawns it on its `Shutdown`, which stops it at
    /// the drain; dropping it aborts the checks in flight).
    pub async fn run(self) {
        let period = Duration::from_millis(self.config.interval_ms);
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            self.run_once().await;
        }
    }
}

async fn run_check(
    name: String,
    check: Check,
    timeout: Duration,
) -> (String, Instant, Result<(), String>) {
    let started = Instant::now();
    let outcome = match tokio::time::timeout(timeout, check()).await {
        Ok(outcome) => outcome,
        Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
    };
    (name, started, outcome)
}

async fn self_check(dispatcher: &Dispatcher) -> Result<(), String> {
    let body = br#"{"jsonrpc":"2.0","id":"keel-health","method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#;
    let Incoming::Request(request) = Incoming::decode(body) else {
        return Err("the self-check request does not parse".into());
    };
    let env = RequestEnv {
        version: ProtocolVersion::LATEST,
        session: None,
        outbound: None,
        cancel: CancellationToken::new(),
        sessions_enabled: false,
        cancellable_by_notification: false,
        principal: Principal::local("keel-health"),
    };
    let reply = dispatcher.handle(request, env).await;
    match (reply.error, reply.body) {
        (None, Some(body)) if body.windows(7).any(|w| w == b"\"tools\"") => Ok(()),
        (Some(code), _) => Err(format!("tools/list answered error {}", code.0)),
        _ => Err("tools/list answered no tool list".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(outcome: Result<(), &'static str>, delay: Duration) -> Check {
        Arc::new(move || {
            Box::pin(async move {
                tokio::time::sleep(delay).await;
                outcome.map_err(str::to_owned)
            })
        })
    }

    fn health(required: &[&str]) -> Health {
        Health::new(HealthConfig {
            required: required.iter().map(|s| (*s).to_owned()).collect(),
            timeout_ms: 100,
            ..HealthConfig::default()
        })
    }

    #[tokio::test(start_paused = true)]
    async fn optional_failures_degrade_and_required_ones_fail() {
        let h = health(&["db:main"]);
        h.add_check("db:main", check(Ok(()), Duration::ZERO));
        h.add_check("redis", check(Err("connection refused"), Duration::ZERO));
        assert_eq!(
            h.verdict(),
            Verdict::NotReady,
            "a required check not yet run"
        );
        h.run_once().await;
        assert_eq!(h.verdict(), Verdict::Degraded);
        assert_eq!(
            h.results()["redis"].error.as_deref(),
            Some("connection refused")
        );
        h.add_check("db:main", check(Ok(()), Duration::from_secs(5)));
        h.run_once().await;
        assert_eq!(h.verdict(), Verdict::NotReady);
        assert!(
            h.results()["db:main"]
                .error
                .as_deref()
                .unwrap()
                .contains("100 ms")
        );
    }

    #[tokio::test(start_paused = true)]
    async fn checks_run_at_most_concurrency_at_once() {
        let h = Health::new(HealthConfig {
            concurrency: 2,
            timeout_ms: 10_000,
            ..HealthConfig::default()
        });
        for i in 0..6 {
            h.add_check(format!("c{i}"), check(Ok(()), Duration::from_secs(1)));
        }
        let start = tokio::time::Instant::now();
        h.run_once().await;
        assert_eq!(start.elapsed(), Duration::from_secs(3));
        assert_eq!(h.verdict(), Verdict::Ready);
    }
}
