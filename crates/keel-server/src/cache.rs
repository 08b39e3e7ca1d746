//! `[cache]`: the two-level result cache (in-process always, Redis when configured), per-tool
//! overrides of what tools declare, and the admin invalidation endpoint; validated once and
//! turned into keel-cache's builder and the cache layer's overrides.

use std::{collections::HashMap, time::Duration};

use keel_cache::{BreakerConfig, Cache, RedisConfig};
use keel_core::{CacheHint, CacheScope, Resource, ResourceBuilder, ResourceContents, ToolError};
use keel_middleware::{CacheHandle, PolicyOverride};
use serde::Deserialize;

use crate::ConfigError;

/// Longest TTL or stale window accepted, milliseconds (one week).
const MAX_TTL_MS: u64 = 7 * 24 * 3_600_000;

/// The result cache.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// Whether tools that opt in are cached at all.
    pub enabled: bool,
    /// Bytes the in-process level may hold (0 turns it off; Redis alone then).
    pub l1_max_bytes: u64,
    /// Redis as the second level, shared by every node.
    pub redis: Option<RedisSection>,
    /// Per-tool changes to what the tools declare, by tool name.
    pub tools: HashMap<String, ToolCacheConfig>,
    /// `POST /admin/cache/invalidate` with this bearer token; absent: no endpoint.
    pub admin_token: Option<String>,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            l1_max_bytes: 64 * 1024 * 1024,
            redis: None,
            tools: HashMap::new(),
            admin_token: None,
        }
    }
}

/// `[cache.redis]`: one server or a cluster.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSection {
    /// `redis://host:port[/db]` of a standalone server.
    pub url: Option<String>,
    /// Seed nodes of a Redis Cluster (`redis://host:port` each).
    pub cluster: Option<Vec<String>>,
    /// Prefix of every key Keel writes.
    #[serde(default = "default_prefix")]
    pub key_prefix: String,
    /// Deadline of each Redis operation, milliseconds: past it the cache answers from L1.
    #[serde(default = "default_op_timeout")]
    pub op_timeout_ms: u64,
    /// Consecutive failures that stop Redis calls for `breaker_open_ms`.
    #[serde(default = "default_breaker_failures")]
    pub breaker_failures: u32,
    /// How long Redis is left alone after the breaker opens, milliseconds.
    #[serde(default = "default_breaker_open")]
    pub breaker_open_ms: u64,
}

fn default_prefix() -> String {
    "keel:".into()
}
fn default_op_timeout() -> u64 {
    50
}
fn default_breaker_failures() -> u32 {
    3
}
fn default_breaker_open() -> u64 {
    1000
}

/// `[cache.tools.NAME]`: unset keys keep what the tool declares.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolCacheConfig {
    /// Cache this tool (with defaults if it declares nothing) or never.
    pub enabled: Option<bool>,
    /// Shortest freshness, milliseconds.
    pub min_ttl_ms: Option<u64>,
    /// Longest freshness often-read results grow to, milliseconds.
    pub max_ttl_ms: Option<u64>,
    /// Who may be served a cached result.
    pub scope: Option<ScopeConfig>,
    /// Largest cached result, bytes.
    pub max_entry_bytes: Option<usize>,
    /// How long past freshness a result may answer a dependency failure, milliseconds.
    pub max_stale_ms: Option<u64>,
}

/// A cache scope in configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScopeConfig {
    /// Every caller.
    Shared,
    /// Only the principal that produced it.
    Principal,
}

impl CacheConfig {
    /// Refuses values out of range.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: String| Err(ConfigError::Invalid(m));
        if let Some(r) = &self.redis {
            match (&r.url, &r.cluster) {
                (Some(url), None) if url.starts_with("redis://") => {}
                (None, Some(nodes))
                    if !nodes.is_empty() && nodes.iter().all(|n| n.starts_with("redis://")) => {}
                _ => {
                    return invalid(
                        "cache.redis needs either url = \"redis://…\" or cluster = [\"redis://…\", …]"
                            .into(),
                    );
                }
            }
            if !(1..=10_000).contains(&r.op_timeout_ms) {
                return invalid(format!(
                    "cache.redis.op_timeout_ms must be between 1 and 10000, not {}",
                    r.op_timeout_ms
                ));
            }
            if r.breaker_failures == 0 || !(1..=600_000).contains(&r.breaker_open_ms) {
                return invalid(
                    "cache.redis.breaker_failures must be positive and breaker_open_ms between \
                     1 and 600000"
                        .into(),
                );
            }
        }
        if self.admin_token.as_deref().is_some_and(|t| t.len() < 16) {
            return invalid("cache.admin_token must be at least 16 characters".into());
        }
        for (name, t) in &self.tools {
            for (key, ms) in [
                ("min_ttl_ms", t.min_ttl_ms),
                ("max_ttl_ms", t.max_ttl_ms),
                ("max_stale_ms", t.max_stale_ms),
            ] {
                if ms.is_some_and(|ms| ms > MAX_TTL_MS) {
                    return invalid(format!(
                        "cache.tools.{name}.{key} must be at most {MAX_TTL_MS}"
                    ));
                }
            }
            if let (Some(min), Some(max)) = (t.min_ttl_ms, t.max_ttl_ms)
                && max < min
            {
                return invalid(format!(
                    "cache.tools.{name}.max_ttl_ms ({max}) is below min_ttl_ms ({min})"
                ));
            }
        }
        Ok(())
    }

    /// The cache, when caching is on. Needs a Tokio runtime when Redis is configured (the
    /// connection is made in the background; this never waits for Redis).
    pub fn build(&self) -> Result<Option<Cache>, ConfigError> {
        if !self.enabled {
            return Ok(None);
        }
        let mut builder = Cache::builder().l1_max_bytes(self.l1_max_bytes);
        if let Some(r) = &self.redis {
            let mut redis = match (&r.url, &r.cluster) {
                (Some(url), _) => RedisConfig::standalone(url.clone()),
                (None, Some(nodes)) => RedisConfig::cluster(nodes.clone()),
                (None, None) => return Err(ConfigError::Invalid("cache.redis is empty".into())),
            };
            redis.key_prefix = r.key_prefix.clone();
            redis.op_timeout = Duration::from_millis(r.op_timeout_ms);
            redis.breaker = BreakerConfig {
                failures: r.breaker_failures,
                open_for: Duration::from_millis(r.breaker_open_ms),
            };
            builder = builder.redis(redis);
        }
        builder
            .build()
            .map(Some)
            .map_err(|e| ConfigError::Invalid(format!("cache: {e}")))
    }

    /// The per-tool overrides, as the cache layer takes them.
    pub fn overrides(&self) -> HashMap<String, PolicyOverride> {
        let ms = |v: Option<u64>| v.map(Duration::from_millis);
        self.tools
            .iter()
            .map(|(name, t)| {
                let o = PolicyOverride {
                    enabled: t.enabled,
                    min_ttl: ms(t.min_ttl_ms),
                    max_ttl: ms(t.max_ttl_ms),
                    scope: t.scope.map(|s| match s {
                        ScopeConfig::Shared => CacheScope::Shared,
                        ScopeConfig::Principal => CacheScope::PerPrincipal,
                    }),
                    max_entry_bytes: t.max_entry_bytes,
                    max_stale: ms(t.max_stale_ms),
                };
                (name.clone(), o)
            })
            .collect()
    }
}

/// The URI of the cache's statistics resource.
pub const CACHE_STATS_URI: &str = "keel://cache/stats";

/// A resource reading the cache's counters as JSON: per level, per tool, the hottest keys
/// (hashed), single-flight and serve-stale counts, the hit rate.
pub(crate) fn stats_resource(handle: CacheHandle) -> Resource {
    ResourceBuilder::new(CACHE_STATS_URI, "cache-stats")
        .title("Result cache statistics")
        .description("Hits, misses, stale answers, evictions, entries and bytes per cache level and per tool; the hottest keys (hashed); single-flight and invalidation counts.")
        .mime_type("application/json")
        .cache_hint(CacheHint {
            ttl: Duration::ZERO,
            scope: CacheScope::Shared,
        })
        .read(move |uri, _cx| {
            let report = handle.report();
            async move {
                let text = serde_json::to_string_pretty(&report).map_err(ToolError::failed)?;
                Ok(vec![ResourceContents::text(uri, "application/json", text)])
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<CacheConfig, ConfigError> {
        let c: CacheConfig = toml::from_str(text)?;
        c.validate().map(|()| c)
    }

    #[test]
    fn defaults_cache_in_process_only() {
        let c = parse("").unwrap();
        assert!(c.enabled && c.redis.is_none() && c.admin_token.is_none());
    }

    #[test]
    fn tool_overrides_are_typed() {
        let c = parse(
            "[tools.query]\nmin_ttl_ms = 500\nmax_ttl_ms = 2000\nscope = \"principal\"\n\
             [tools.echo]\nenabled = true",
        )
        .unwrap();
        let o = c.overrides();
        assert_eq!(o["query"].scope, Some(CacheScope::PerPrincipal));
        assert_eq!(o["query"].min_ttl, Some(Duration::from_millis(500)));
        assert_eq!(o["echo"].enabled, Some(true));
    }

    #[test]
    fn bad_values_are_refused_with_their_key() {
        for (text, key) in [
            ("[redis]\nurl = \"http://x\"", "cache.redis"),
            (
                "[redis]\nurl = \"redis://x\"\nop_timeout_ms = 0",
                "op_timeout_ms",
            ),
            (
                "[redis]\nurl = \"redis://a\"\ncluster = [\"redis://b\"]",
                "cache.redis",
            ),
            ("[tools.q]\nmin_ttl_ms = 10\nmax_ttl_ms = 5", "max_ttl_ms"),
            ("[tools.q]\nscope = \"everyone\"", "scope"),
            ("admin_token = \"short\"", "admin_token"),
        ] {
            let e = parse(text).expect_err(text).to_string();
            assert!(e.contains(key), "{text}: {e}");
        }
    }
}
