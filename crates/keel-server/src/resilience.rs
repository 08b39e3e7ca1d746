//! `[resilience]`: the guards of the dependencies tools reach (breakers, timeouts, retries,
//! budgets), and their Prometheus families.

use keel_middleware::exposition::{Collector, DescriptorEncoder, counter, gauge};
use keel_resilience::{Dependencies, DependencyConfig};
use serde::Deserialize;
use std::collections::BTreeMap;

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

/// The families of every dependency guard made so far, for `/metrics`.
#[derive(Debug)]
pub(crate) struct DependencyFamilies(pub(crate) Dependencies);

impl Collector for DependencyFamilies {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> std::fmt::Result {
        let snapshots: Vec<_> = self.0.all().iter().map(|d| d.snapshot()).collect();
        if snapshots.is_empty() {
            return Ok(());
        }
        let states = ["closed", "open", "half_open"];
        let state_labels: Vec<[(&str, &str); 2]> = snapshots
            .iter()
            .flat_map(|s| states.map(|state| [("dependency", &*s.name), ("state", state)]))
            .collect();
        let on = snapshots
            .iter()
            .flat_map(|s| states.map(|state| i64::from(s.breaker.state.as_str() == state)));
        gauge(
            &mut encoder,
            "keel_dependency_breaker_state",
            "1 for the state each dependency's breaker is in.",
            state_labels.iter().map(|l| &l[..]).zip(on),
        )?;
        let counters: [(&str, &str, Counter); 7] = [
            (
                "keel_dependency_calls",
                "Calls made through the dependency's guard.",
                |s| s.calls,
            ),
            (
                "keel_dependency_retries",
                "Attempts made again after a failure.",
                |s| s.retries,
            ),
            (
                "keel_dependency_retries_refused",
                "Retries the retry budget refused.",
                |s| s.retries_refused,
            ),
            (
                "keel_dependency_timeouts",
                "Attempts stopped at the dependency's timeout.",
                |s| s.timeouts,
            ),
            (
                "keel_dependency_throttled",
                "Calls held back by the dependency's Retry-After.",
                |s| s.throttled,
            ),
            (
                "keel_dependency_breaker_opened",
                "Times the dependency's breaker opened.",
                |s| s.breaker.opened,
            ),
            (
                "keel_dependency_breaker_rejected",
                "Calls failed fast by an open breaker.",
                |s| s.breaker.rejected,
            ),
        ];
        let names: Vec<[(&str, &str); 1]> = snapshots
            .iter()
            .map(|s| [("dependency", &*s.name)])
            .collect();
        for (name, help, value) in counters {
            counter(
                &mut encoder,
                name,
                help,
                names
                    .iter()
                    .map(|l| &l[..])
                    .zip(snapshots.iter().map(value)),
            )?;
        }
        Ok(())
    }
}

/// Reads one counter of a dependency.
type Counter = fn(&keel_resilience::DependencySnapshot) -> u64;

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
        let mut exposition = keel_middleware::exposition::Exposition::new();
        exposition.register(DependencyFamilies(deps));
        let out = exposition.render(keel_middleware::exposition::Format::Prometheus);
        assert!(
            out.contains(
                "keel_dependency_breaker_state{dependency=\"db:main\",state=\"closed\"} 1"
            )
        );
        assert!(out.contains("keel_dependency_calls_total{dependency=\"db:main\"} 0"));
    }
}
