//! `[resilience]`: the guards of the dependencies tools reach (breakers, timeouts, retries,
//! budgets), and their Prometheus families.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use keel_resilience::{Dependencies, DependencyConfig};
use serde::Deserialize;

use crate::ConfigError;

/// Guards of dependencies: one default, and overrides by dependency name (`db:main`,
/// `db:warehouse`…).
///
/// ```toml
/// [resilience.default]
/// timeout_ms = 10000
/// [resilience.default.breaker]
/// window_ms = 10000
/// min_calls = 10
/// failure_rate = 0.5
/// consecutive_failures = 5
/// slow_call_ms = 5000
/// slow_call_rate = 0.8
/// reset_timeout_ms = 10000
/// probes = 3
/// [resilience.default.retry]
/// max_attempts = 3
/// base_delay_ms = 50
/// max_delay_ms = 2000
/// [resilience.default.budget]
/// ratio = 0.2
/// min_per_sec = 5
/// window_ms = 10000
///
/// [resilience.dependencies."db:warehouse"]
/// timeout_ms = 30000
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResilienceConfig {
    /// Every dependency not named in `dependencies`.
    pub default: DependencyConfig,
    /// Per dependency, replacing the default whole.
    pub dependencies: BTreeMap<String, DependencyConfig>,
}

impl ResilienceConfig {
    /// Checks every guard's settings.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let named = self.dependencies.iter().map(|(n, c)| (n.as_str(), c));
        for (name, config) in std::iter::once(("default", &self.default)).chain(named) {
            config
                .check()
                .map_err(|problem| ConfigError::Invalid(format!("resilience.{name}: {problem}")))?;
        }
        Ok(())
    }

    /// The guards, made on first use by the tools.
    pub fn dependencies(&self) -> Dependencies {
        Dependencies::new(self.default, self.dependencies.clone())
    }
}

/// The families of every dependency guard made so far, in the Prometheus text format.
pub(crate) fn render_metrics(dependencies: &Dependencies, out: &mut String) {
    let snapshots: Vec<_> = dependencies.all().iter().map(|d| d.snapshot()).collect();
    if snapshots.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "# HELP keel_dependency_breaker_state 1 for the state each dependency's breaker is in.\n\
         # TYPE keel_dependency_breaker_state gauge"
    );
    for s in &snapshots {
        for state in ["closed", "open", "half_open"] {
            let on = u8::from(s.breaker.state.as_str() == state);
            let _ = writeln!(
                out,
                "keel_dependency_breaker_state{{dependency=\"{}\",state=\"{state}\"}} {on}",
                escape(&s.name)
            );
        }
    }
    let counters: [(&str, &str, Counter); 7] = [
        (
            "keel_dependency_calls_total",
            "Calls made through the dependency's guard.",
            |s| s.calls,
        ),
        (
            "keel_dependency_retries_total",
            "Attempts made again after a failure.",
            |s| s.retries,
        ),
        (
            "keel_dependency_retries_refused_total",
            "Retries the retry budget refused.",
            |s| s.retries_refused,
        ),
        (
            "keel_dependency_timeouts_total",
            "Attempts stopped at the dependency's timeout.",
            |s| s.timeouts,
        ),
        (
            "keel_dependency_throttled_total",
            "Calls held back by the dependency's Retry-After.",
            |s| s.throttled,
        ),
        (
            "keel_dependency_breaker_opened_total",
            "Times the dependency's breaker opened.",
            |s| s.breaker.opened,
        ),
        (
            "keel_dependency_breaker_rejected_total",
            "Calls failed fast by an open breaker.",
            |s| s.breaker.rejected,
        ),
    ];
    for (name, help, value) in counters {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        for s in &snapshots {
            let _ = writeln!(
                out,
                "{name}{{dependency=\"{}\"}} {}",
                escape(&s.name),
                value(s)
            );
        }
    }
}

/// Reads one counter of a dependency.
type Counter = fn(&keel_resilience::DependencySnapshot) -> u64;

/// A label value with `\`, `"` and newlines escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_are_named() {
        ResilienceConfig::default().validate().unwrap();
        let c: ResilienceConfig = toml::from_str(
            "[dependencies.\"db:main\"]\ntimeout_ms = 500\n[dependencies.\"db:main\".breaker]\nfailure_rate = 2.0\n",
        )
        .unwrap();
        let e = c.validate().unwrap_err().to_string();
        assert!(
            e.contains("resilience.db:main") && e.contains("failure_rate"),
            "{e}"
        );
        assert!(toml::from_str::<ResilienceConfig>("[default]\ntimeout = 5").is_err());
    }

    #[test]
    fn guards_render_as_prometheus_families() {
        let c: ResilienceConfig =
            toml::from_str("[dependencies.\"db:main\"]\ntimeout_ms = 500\n").unwrap();
        let deps = c.dependencies();
        assert_eq!(deps.get("db:main").config().timeout.as_millis(), 500);
        let mut out = String::new();
        render_metrics(&deps, &mut out);
        assert!(
            out.contains(
                "keel_dependency_breaker_state{dependency=\"db:main\",state=\"closed\"} 1"
            )
        );
        assert!(out.contains("keel_dependency_calls_total{dependency=\"db:main\"} 0"));
    }
}
