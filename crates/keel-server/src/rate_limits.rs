//! `[rate_limits]`: token buckets per principal, per tool and per principal × tool, in
//! process or shared by every node through Redis (`[rate_limits.redis]`). A refused request
//! is JSON-RPC `-32029` with `retryAfterMs`; over HTTP, 429 with `Retry-After`.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::time::Duration;

use keel_core::Registry;
use keel_middleware::{OnStoreFailure, RateLimits, RateQuota, SharedStoreConfig};
use serde::Deserialize;

use crate::ConfigError;

/// ```toml
/// [rate_limits]
/// per_principal = { per_second = 50, burst = 100 }   # every request of one caller
/// [rate_limits.tools.query]                          # one tool, all callers together
/// per_second = 20
/// burst = 40
/// [rate_limits.principal_tools.query]                # one tool, each caller
/// per_second = 5
/// burst = 10
/// [rate_limits.redis]                                # shared by every node (optional)
/// url = "redis://127.0.0.1:6379"
/// on_failure = "local"                               # or "allow", "refuse"
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitsConfig {
    /// Every request of one principal.
    pub per_principal: Option<QuotaConfig>,
    /// Calls of a tool, all principals together, by tool name.
    pub tools: BTreeMap<String, QuotaConfig>,
    /// Calls of a tool by each principal, by tool name.
    pub principal_tools: BTreeMap<String, QuotaConfig>,
    /// Buckets in Redis, shared by every node; in process without it.
    pub redis: Option<RedisStoreConfig>,
}

/// `[rate_limits.redis]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisStoreConfig {
    /// `redis://host:port[/db]` of a standalone server.
    pub url: String,
    /// Prepended to every key (default `keel:`).
    #[serde(default = "default_key_prefix")]
    pub key_prefix: String,
    /// Longest a check may take, in milliseconds (default 50), before `on_failure` decides.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// While Redis cannot answer: `local` (each node limits alone), `allow` (fail open) or
    /// `refuse` (fail closed).
    #[serde(default)]
    pub on_failure: OnFailure,
}

fn default_key_prefix() -> String {
    "keel:".into()
}

fn default_timeout_ms() -> u64 {
    50
}

/// What a request gets while the shared store cannot answer.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OnFailure {
    /// Each node applies the limits alone.
    #[default]
    Local,
    /// Every request passes.
    Allow,
    /// Every limited request is refused.
    Refuse,
}

/// A sustained rate and the burst above it.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaConfig {
    /// Requests per second, sustained.
    pub per_second: u32,
    /// Requests allowed at once (default: one second's worth).
    pub burst: Option<u32>,
}

impl QuotaConfig {
    fn quota(self, what: &str) -> Result<RateQuota, ConfigError> {
        let per_second = NonZeroU32::new(self.per_second).ok_or_else(|| {
            ConfigError::Invalid(format!("rate_limits.{what}: per_second must be positive"))
        })?;
        let burst = match self.burst {
            None => per_second,
            Some(b) => NonZeroU32::new(b).ok_or_else(|| {
                ConfigError::Invalid(format!("rate_limits.{what}: burst must be positive"))
            })?,
        };
        Ok(RateQuota { per_second, burst })
    }
}

impl RateLimitsConfig {
    /// The shared store's settings, checked; `None` to limit in process.
    pub fn store(&self) -> Result<Option<SharedStoreConfig>, ConfigError> {
        let Some(r) = &self.redis else {
            return Ok(None);
        };
        if !r.url.starts_with("redis://") {
            return Err(ConfigError::Invalid(
                "rate_limits.redis.url must be redis://host:port[/db]".into(),
            ));
        }
        if !(1..=10_000).contains(&r.timeout_ms) {
            return Err(ConfigError::Invalid(format!(
                "rate_limits.redis.timeout_ms must be between 1 and 10000, not {}",
                r.timeout_ms
            )));
        }
        Ok(Some(SharedStoreConfig {
            url: r.url.clone(),
            key_prefix: r.key_prefix.clone(),
            timeout: Duration::from_millis(r.timeout_ms),
            on_failure: match r.on_failure {
                OnFailure::Local => OnStoreFailure::Local,
                OnFailure::Allow => OnStoreFailure::Allow,
                OnFailure::Refuse => OnStoreFailure::Refuse,
            },
        }))
    }

    /// The limits, checked.
    pub fn limits(&self) -> Result<RateLimits, ConfigError> {
        let tools = |m: &BTreeMap<String, QuotaConfig>, section: &str| {
            m.iter()
                .map(|(t, q)| Ok((t.clone(), q.quota(&format!("{section}.{t}"))?)))
                .collect::<Result<_, ConfigError>>()
        };
        Ok(RateLimits {
            per_principal: self
                .per_principal
                .map(|q| q.quota("per_principal"))
                .transpose()?,
            per_tool: tools(&self.tools, "tools")?,
            per_principal_tool: tools(&self.principal_tools, "principal_tools")?,
        })
    }

    /// Refuses a limit for a tool the server does not offer.
    pub(crate) fn check(&self, registry: &Registry) -> Result<(), ConfigError> {
        for (section, m) in [
            ("rate_limits.tools", &self.tools),
            ("rate_limits.principal_tools", &self.principal_tools),
        ] {
            if let Some(tool) = m.keys().find(|t| registry.tool(t).is_none()) {
                return Err(ConfigError::UnknownTool {
                    section,
                    tool: tool.clone(),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_are_checked_and_burst_defaults_to_the_rate() {
        let c: RateLimitsConfig = toml::from_str(
            "per_principal = { per_second = 10 }\n[tools.query]\nper_second = 2\nburst = 5\n",
        )
        .unwrap();
        let l = c.limits().unwrap();
        assert_eq!(l.per_principal.unwrap().burst.get(), 10);
        assert_eq!(l.per_tool["query"].burst.get(), 5);
        let bad: RateLimitsConfig = toml::from_str("[tools.query]\nper_second = 0\n").unwrap();
        assert!(
            bad.limits()
                .unwrap_err()
                .to_string()
                .contains("rate_limits.tools.query")
        );
    }

    #[test]
    fn the_shared_store_is_checked_and_fails_over_to_local_limits_by_default() {
        let c: RateLimitsConfig =
            toml::from_str("[redis]\nurl = \"redis://127.0.0.1:6379\"\n").unwrap();
        let store = c.store().unwrap().unwrap();
        assert_eq!(store.on_failure, OnStoreFailure::Local);
        assert_eq!(store.timeout, Duration::from_millis(50));
        for (text, what) in [
            ("[redis]\nurl = \"http://x\"\n", "url"),
            (
                "[redis]\nurl = \"redis://x\"\ntimeout_ms = 0\n",
                "timeout_ms",
            ),
        ] {
            let c: RateLimitsConfig = toml::from_str(text).unwrap();
            assert!(c.store().unwrap_err().to_string().contains(what), "{text}");
        }
        let refused: Result<RateLimitsConfig, _> =
            toml::from_str("[redis]\nurl = \"redis://x\"\non_failure = \"maybe\"\n");
        assert!(refused.is_err());
    }
}
