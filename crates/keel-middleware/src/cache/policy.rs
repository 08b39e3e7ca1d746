//! Each tool's effective cache policy: what it declared, overridden by configuration,
//! resolved once when the layer is built.

use std::{collections::HashMap, sync::Arc, time::Duration};

use keel_cache::{Tag, TtlPolicy};
use keel_core::{CachePolicy, CacheScope, Registry, ToolCall};
use serde_json::Value;

use super::key::{fingerprint, keyed_hasher};

/// A configured change to one tool's declared policy; unset fields keep the declaration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyOverride {
    /// Turns caching on (with [`CachePolicy::new`]'s defaults where the tool declared
    /// nothing) or off.
    pub enabled: Option<bool>,
    /// Shortest freshness.
    pub min_ttl: Option<Duration>,
    /// Longest freshness.
    pub max_ttl: Option<Duration>,
    /// Who may be served a cached result.
    pub scope: Option<CacheScope>,
    /// Largest cached result, in bytes.
    pub max_entry_bytes: Option<usize>,
    /// Serve-stale window.
    pub max_stale: Option<Duration>,
}

/// Freshness of a tool cached by configuration alone.
const DEFAULT_TTL: Duration = Duration::from_secs(30);

/// The tag every result of tool `name` carries.
pub(crate) fn tool_tag(name: &str) -> Tag {
    Tag::new(format!("tool:{name}"))
}

/// One tool's resolved policy.
pub(crate) struct Resolved {
    pub(crate) name: Arc<str>,
    pub(crate) ttl: TtlPolicy,
    pub(crate) scope: CacheScope,
    pub(crate) max_entry_bytes: usize,
    pub(crate) max_stale: Duration,
    pub(crate) tags: Vec<Tag>,
    /// A hasher holding the tool's fingerprint (see [`keyed_hasher`]).
    pub(crate) keyed: sha2::Sha256,
    only_if: Option<fn(&Value) -> bool>,
}

impl Resolved {
    /// Whether this call may be served from, and stored in, the cache.
    pub(crate) fn admits(&self, call: &ToolCall) -> bool {
        !call.carries_input() && self.only_if.is_none_or(|allows| allows(&call.arguments))
    }
}

/// What the layer does with one tool's calls.
pub(crate) enum Caching {
    /// Served from and stored in the cache.
    Cached(Arc<Resolved>),
    /// A writer: after a successful call, the results tagged with these are dropped. A
    /// writer is never served from the cache, whatever it declares: its call is the write.
    Invalidates(Arc<[Tag]>),
}

/// Every tool the layer acts on, by name (one lookup per call); other tools pass through.
#[derive(Default)]
pub(crate) struct Policies {
    /// Looked up on every call: a fast hasher over the server's own tool names.
    pub(crate) tools: foldhash::HashMap<String, Caching>,
}

impl Policies {
    pub(crate) fn resolve(
        registry: &Registry,
        overrides: &HashMap<String, PolicyOverride>,
    ) -> Self {
        let mut policies = Self::default();
        for entry in registry.tools() {
            let definition = &entry.definition;
            let name = definition.name.as_str();
            let o = overrides.get(name).cloned().unwrap_or_default();
            let declared = match (o.enabled, &definition.cache) {
                (Some(false), _) | (None, None) => None,
                (Some(true), None) => Some(CachePolicy::new(DEFAULT_TTL)),
                (_, Some(p)) => Some(p.clone()),
            };
            if !definition.invalidates.is_empty() {
                let targets: Vec<Tag> = definition
                    .invalidates
                    .iter()
                    .map(|t| match registry.tool(t) {
                        Some(_) => tool_tag(t),
                        None => Tag::new(t.as_str()),
                    })
                    .collect();
                policies
                    .tools
                    .insert(name.to_owned(), Caching::Invalidates(Arc::from(targets)));
                continue;
            }
            if let Some(mut p) = declared {
                p.min_ttl = o.min_ttl.unwrap_or(p.min_ttl);
                p.max_ttl = o.max_ttl.unwrap_or(p.max_ttl).max(p.min_ttl);
                p.scope = o.scope.unwrap_or(p.scope);
                p.max_entry_bytes = o.max_entry_bytes.unwrap_or(p.max_entry_bytes);
                p.max_stale = o.max_stale.unwrap_or(p.max_stale);
                let mut tags = vec![tool_tag(name)];
                tags.extend(p.tags.iter().map(|t| Tag::new(t.as_str())));
                let resolved = Resolved {
                    name: Arc::from(name),
                    ttl: TtlPolicy::new(p.min_ttl, p.max_ttl),
                    scope: p.scope,
                    max_entry_bytes: p.max_entry_bytes,
                    max_stale: p.max_stale,
                    tags,
                    keyed: keyed_hasher(&fingerprint(definition, &p)),
                    only_if: p.only_if,
                };
                policies
                    .tools
                    .insert(name.to_owned(), Caching::Cached(Arc::new(resolved)));
            }
        }
        policies
    }

    /// The names of the tools whose results are cached.
    pub(crate) fn cached_tools(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .tools
            .iter()
            .filter(|(_, c)| matches!(c, Caching::Cached(_)))
            .map(|(name, _)| name.clone())
            .collect();
        names.sort();
        names
    }
}
