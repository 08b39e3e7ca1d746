//! `[rate_limits]`: token buckets per principal, per tool and per principal × tool, in
//! process. A refused request is JSON-RPC `-32029` with `retryAfterMs`; over HTTP, 429 with
//! `Retry-After`.

use std::collections::BTreeMap;
use std::num::NonZeroU32;

use keel_core::Registry;
use keel_middleware::{RateLimits, RateQuota};
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
}
