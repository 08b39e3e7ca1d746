//! The server's status in one document: version and uptime, readiness and the last health
//! checks, dependency breakers, admission classes and queues, cache levels, legacy sessions,
//! and what the built-ins report (analysis pool, embedding batcher). Served as the
//! `keel://status` resource, as JSON at `/status.json` and as a live page at `/status` (both
//! off unless `[status] page = true`), and read in a terminal by `keel status URL`.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use keel_core::{
    CacheHint, CacheScope, Dispatcher, Resource, ResourceBuilder, ResourceContents, ToolError,
};
use keel_middleware::{AdmissionState, CacheHandle};
use keel_resilience::Dependencies;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::health::Health;

/// The URI of the status resource.
pub const STATUS_URI: &str = "keel://status";

/// Where the status is served beside MCP.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StatusConfig {
    /// Serve `/status` (a live HTML page) and `/status.json` on the HTTP listener (default
    /// false: they name dependencies and load, which is for operators; put them behind the
    /// same network rules as `/metrics`).
    pub page: bool,
}

/// A section a component adds to the status (`builtins`, …).
pub type StatusSection = Arc<dyn Fn() -> Value + Send + Sync>;

/// Everything the status reads from; clones share it.
#[derive(Clone)]
pub struct Status {
    pub(crate) started: Instant,
    pub(crate) dependencies: Dependencies,
    pub(crate) admission: AdmissionState,
    pub(crate) cache: Option<CacheHandle>,
    pub(crate) health: Health,
    pub(crate) sections: Arc<BTreeMap<String, StatusSection>>,
    /// Set once the dispatcher (whose registry holds the status resource) exists.
    pub(crate) dispatcher: Arc<OnceLock<Weak<Dispatcher>>>,
}

impl Status {
    /// The status now, as JSON.
    pub fn snapshot(&self) -> Value {
        let uptime = self.started.elapsed();
        let dependencies: Vec<Value> = self
            .dependencies
            .all()
            .iter()
            .map(|d| {
                let s = d.snapshot();
                json!({
                    "name": &*s.name,
                    "breaker": s.breaker.state.as_str(),
                    "calls_in_window": s.breaker.calls,
                    "failures_in_window": s.breaker.failures,
                    "slow_in_window": s.breaker.slow,
                    "retry_in_ms": s.breaker.retry_in.map(millis),
                    "opened_total": s.breaker.opened,
                    "rejected_total": s.breaker.rejected,
                    "calls_total": s.calls,
                    "retries_total": s.retries,
                    "retries_refused_total": s.retries_refused,
                    "timeouts_total": s.timeouts,
                    "throttled_total": s.throttled,
                    "throttled_for_ms": s.throttled_for.map(millis),
                })
            })
            .collect();
        let admission: Vec<Value> = self
            .admission
            .snapshot()
            .iter()
            .map(|c| {
                json!({
                    "class": c.workload.as_str(),
                    "in_flight": c.in_flight,
                    "capacity": c.capacity,
                    "queued": c.queued,
                    "queue_depth": c.queue_depth,
                    "shed_total": c.shed_total,
                    "timed_out_total": c.timed_out_total,
                })
            })
            .collect();
        let dispatcher = self.dispatcher.get().and_then(Weak::upgrade);
        let sections: serde_json::Map<String, Value> = self
            .sections
            .iter()
            .map(|(name, section)| (name.clone(), section()))
            .collect();
        json!({
            "server": {
                "name": "keel",
                "version": env!("CARGO_PKG_VERSION"),
                "uptime_secs": uptime.as_secs(),
                "draining": dispatcher.as_ref().is_some_and(|d| d.shutdown().is_draining()),
            },
            "readiness": self.health.verdict(),
            "checks": self.health.results(),
            "dependencies": dependencies,
            "admission": admission,
            "cache": self.cache.as_ref().map(|c| serde_json::to_value(c.report()).unwrap_or(Value::Null)),
            "sessions": dispatcher.as_ref().map(|d| d.sessions().len()),
            "components": sections,
        })
    }

    /// The `keel://status` resource.
    pub(crate) fn resource(&self) -> Resource {
        let status = self.clone();
        ResourceBuilder::new(STATUS_URI, "status")
            .title("Server status")
            .description(
                "Readiness and health checks, dependency breakers, admission queues, cache \
                 levels, sessions and the built-ins' pools, with version and uptime.",
            )
            .mime_type("application/json")
            .cache_hint(CacheHint {
                ttl: Duration::ZERO,
                scope: CacheScope::Shared,
            })
            .read(move |uri, _cx| {
                let snapshot = status.snapshot();
                async move {
                    let text =
                        serde_json::to_string_pretty(&snapshot).map_err(ToolError::failed)?;
                    Ok(vec![ResourceContents::text(uri, "application/json", text)])
                }
            })
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The live page: it reads `/status.json` every second and redraws, without reloading.
pub(crate) const PAGE: &str = include_str!("status.html");
