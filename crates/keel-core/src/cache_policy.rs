//! How a tool's results may be cached, declared with the tool (and overridable in config).
//! Caching is opt-in: a tool without a policy is never cached.

use std::time::Duration;

/// Who may be served a cached result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CacheScope {
    /// Every caller: the result depends on the arguments alone.
    #[default]
    Shared,
    /// Only the principal whose call produced it (results that depend on who asks).
    PerPrincipal,
}

impl CacheScope {
    /// The label used in configuration and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Shared => "shared",
            Self::PerPrincipal => "principal",
        }
    }

    /// The 2026-07-28 `cacheScope` a result of this scope carries: who else a client or a
    /// proxy may serve it to.
    pub fn wire(self) -> &'static str {
        match self {
            Self::Shared => "public",
            Self::PerPrincipal => "private",
        }
    }
}

/// How long clients may keep a result and whom they may share it with: the 2026-07-28
/// `ttlMs` and `cacheScope` of lists and resource reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheHint {
    /// How long the result stays fresh (`ttlMs`); zero: re-read every time.
    pub ttl: Duration,
    /// Whom a cache may serve it to (`cacheScope`).
    pub scope: CacheScope,
}

impl CacheHint {
    /// Writes `ttlMs` and `cacheScope` into `result` unless a member is already there.
    pub fn apply(self, result: &mut serde_json::Map<String, serde_json::Value>) {
        let ms = u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX);
        result.entry("ttlMs").or_insert_with(|| ms.into());
        result
            .entry("cacheScope")
            .or_insert_with(|| self.scope.wire().into());
    }
}

/// A tool's caching policy.
#[derive(Debug, Clone)]
pub struct CachePolicy {
    /// Shortest freshness: what a result read once lives.
    pub min_ttl: Duration,
    /// Longest freshness: what an often-read result grows to (adaptive TTL).
    pub max_ttl: Duration,
    /// Who may be served a cached result.
    pub scope: CacheScope,
    /// Results larger than this (encoded) are not cached.
    pub max_entry_bytes: usize,
    /// How long past freshness a result may still answer when the tool fails with a
    /// transient or dependency failure (marked stale); zero turns serve-stale off.
    pub max_stale: Duration,
    /// Extra tags the results carry, for invalidation by tag or pattern.
    pub tags: Vec<String>,
    /// Bumped by the tool's author when its behaviour changes without its definition
    /// changing: results of another version are never served.
    pub version: Option<String>,
    /// Caches a call only when this says its arguments allow it (a tool whose result is a
    /// pure function of some inputs only, such as inline data but not a database read).
    pub only_if: Option<fn(&serde_json::Value) -> bool>,
}

impl CachePolicy {
    /// Default largest cached result.
    pub const DEFAULT_MAX_ENTRY_BYTES: usize = 256 * 1024;

    /// Results fresh for `ttl`, growing up to 4 × `ttl` when often read; shared scope, no
    /// serve-stale.
    pub fn new(ttl: Duration) -> Self {
        Self {
            min_ttl: ttl,
            max_ttl: ttl.saturating_mul(4),
            scope: CacheScope::Shared,
            max_entry_bytes: Self::DEFAULT_MAX_ENTRY_BYTES,
            max_stale: Duration::ZERO,
            tags: Vec::new(),
            version: None,
            only_if: None,
        }
    }

    /// Sets the freshness bounds (`max` is raised to `min` if lower).
    pub fn ttl_bounds(mut self, min: Duration, max: Duration) -> Self {
        self.min_ttl = min;
        self.max_ttl = max.max(min);
        self
    }

    /// Sets the scope.
    pub fn scope(mut self, scope: CacheScope) -> Self {
        self.scope = scope;
        self
    }

    /// Sets the largest cached result.
    pub fn max_entry_bytes(mut self, bytes: usize) -> Self {
        self.max_entry_bytes = bytes;
        self
    }

    /// Serves results up to `window` past freshness when the tool fails with a transient or
    /// dependency failure.
    pub fn serve_stale(mut self, window: Duration) -> Self {
        self.max_stale = window;
        self
    }

    /// Adds a tag.
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tags.push(tag.into());
        self
    }

    /// Caches only calls whose arguments pass `allows`.
    pub fn only_if(mut self, allows: fn(&serde_json::Value) -> bool) -> Self {
        self.only_if = Some(allows);
        self
    }

    /// Sets the behaviour version.
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = Some(version.into());
        self
    }
}
