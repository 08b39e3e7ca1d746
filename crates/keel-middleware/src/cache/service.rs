//! The cache layer: answers a call from the two-level cache, or computes it once for every
//! identical call in flight and stores the result.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering::Relaxed},
    },
    task::{Context, Poll},
    time::{SystemTime, UNIX_EPOCH},
};

use futures_util::future::Either;
use keel_cache::{Cache, CacheKey, Entry, Level, Lookup, StatsSnapshot, Tag};
use keel_core::{
    BoxFuture, CacheScope, CallToolResult, Failure, Registry, SharedResult, ToolCall, ToolError,
};
use serde_json::{Map, Value, json};
use tower::{Layer, Service, ServiceExt};
use tracing::Instrument;

use super::{
    flight::{Flights, Joined, Outcome},
    key::call_key,
    policy::{Caching, Policies, PolicyOverride, Resolved, tool_tag},
};

/// The key of the cache's description in a stale result's `_meta`.
pub const CACHE_META_KEY: &str = "io.keel/cache";

/// The layer's shared state: the cache, every tool's policy, the flights in progress.
struct Shared {
    cache: Cache,
    policies: Policies,
    flights: Arc<Flights>,
    computed: AtomicU64,
    coalesced: AtomicU64,
    stale_served: AtomicU64,
    invalidations: AtomicU64,
}

/// Wraps tool services with [`CacheService`]; every service it makes shares one cache.
#[derive(Clone)]
pub struct CacheLayer {
    shared: Arc<Shared>,
}

/// A handle on the layer's cache, for invalidation and statistics.
#[derive(Clone)]
pub struct CacheHandle {
    shared: Arc<Shared>,
}

impl CacheLayer {
    /// A layer over `cache` for the tools of `registry`, with configured `overrides` of
    /// their declared policies (by tool name).
    pub fn new(
        cache: Cache,
        registry: &Registry,
        overrides: &HashMap<String, PolicyOverride>,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                cache,
                policies: Policies::resolve(registry, overrides),
                flights: Arc::default(),
                computed: AtomicU64::new(0),
                coalesced: AtomicU64::new(0),
                stale_served: AtomicU64::new(0),
                invalidations: AtomicU64::new(0),
            }),
        }
    }

    /// The handle for invalidation and statistics.
    pub fn handle(&self) -> CacheHandle {
        CacheHandle {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S> Layer<S> for CacheLayer {
    type Service = CacheService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CacheService {
            inner,
            shared: Arc::clone(&self.shared),
        }
    }
}

/// Serves cacheable calls from the cache (see [`CacheLayer`]); passes every other call
/// through untouched.
#[derive(Clone)]
pub struct CacheService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> Service<ToolCall> for CacheService<S>
where
    S: Service<ToolCall, Response = CallToolResult, Error = ToolError> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = CallToolResult;
    type Error = ToolError;
    type Future = Either<S::Future, BoxFuture<Result<CallToolResult, ToolError>>>;

    /// Ready when the inner service is: a call the cache does not concern goes straight to
    /// it. A cached call computes on a clone of it, whose readiness the computation awaits.
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, call: ToolCall) -> Self::Future {
        let name = call.tool.definition.name.as_str();
        let shared = &self.shared;
        let caching = shared.policies.tools.get(name);
        let caching = match caching {
            Some(Caching::Cached(policy)) if !policy.admits(&call) => None,
            other => other,
        };
        let Some(caching) = caching else {
            // Not the cache's concern: no clone of the stack below, no extra box.
            return Either::Left(self.inner.call(call));
        };
        let inner = self.inner.clone();
        let computed: BoxFuture<Result<CallToolResult, ToolError>> = match caching {
            Caching::Cached(policy) => {
                let policy = Arc::clone(policy);
                let shared = Arc::clone(shared);
                if keel_core::trace::in_trace() {
                    let span = tracing::info_span!(
                        target: "keel::trace",
                        "cache",
                        otel.name = "cache lookup",
                        keel.cache.level = tracing::field::Empty,
                    );
                    Box::pin(cached_call(shared, policy, inner, call).instrument(span))
                } else {
                    Box::pin(cached_call(shared, policy, inner, call))
                }
            }
            Caching::Invalidates(targets) => {
                let targets = Arc::clone(targets);
                let shared = Arc::clone(shared);
                Box::pin(async move {
                    let result = inner.oneshot(call).await;
                    if result.as_ref().is_ok_and(|r| !r.is_error) {
                        for tag in targets.iter() {
                            shared.invalidations.fetch_add(1, Relaxed);
                            shared.cache.invalidate_tag(tag).await;
                        }
                    }
                    result
                })
            }
        };
        Either::Right(computed)
    }
}

/// Notes how the cache answered, for the audit record and the cache span.
fn noted(level: &'static str) {
    keel_core::note_cache(level);
    if keel_core::trace::enabled() {
        tracing::Span::current().record("keel.cache.level", level);
    }
}

/// The dependencies a computation reached, with their breakers' states.
type Reached = Arc<Mutex<Vec<(Arc<str>, &'static str)>>>;

async fn cached_call<S>(
    shared: Arc<Shared>,
    policy: Arc<Resolved>,
    inner: S,
    call: ToolCall,
) -> Result<CallToolResult, ToolError>
where
    S: Service<ToolCall, Response = CallToolResult, Error = ToolError> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let scope = match policy.scope {
        CacheScope::Shared => None,
        CacheScope::PerPrincipal => Some(call.principal().key()),
    };
    let key = call_key(&policy.keyed, &call.arguments, scope);
    let stale = match shared.cache.get(&policy.name, &key, &policy.ttl).await {
        Lookup::Fresh(entry, level) => match read(&entry, level) {
            Some(result) => {
                noted(match level {
                    Level::L1 => "l1",
                    Level::L2 => "l2",
                });
                return Ok(CallToolResult::from_shared(result));
            }
            None => {
                shared.cache.invalidate_key(&key).await;
                None
            }
        },
        Lookup::Stale(entry, level) => read(&entry, level).map(|r| (r, entry.stored_at)),
        Lookup::Miss => None,
    };
    // The computation runs in a task of its own: the dependencies it reached are handed
    // back so the leading call's record names them.
    let reached: Reached = Arc::default();
    let joining = shared.flights.join(key, |token| {
        let work = ToolCall {
            tool: Arc::clone(&call.tool),
            arguments: call.arguments.clone(),
            context: call.context.for_shared_work(token),
        };
        compute(
            Arc::clone(&shared),
            Arc::clone(&policy),
            inner.clone(),
            work,
            key,
            Arc::clone(&reached),
        )
    });
    let leader = joining.is_leader();
    let joined = joining.outcome().await;
    let (counter, how) = if leader {
        (&shared.computed, "computed")
    } else {
        (&shared.coalesced, "coalesced")
    };
    counter.fetch_add(1, Relaxed);
    noted(how);
    if leader {
        let reached = reached.lock().unwrap_or_else(PoisonError::into_inner);
        for (dependency, breaker) in reached.iter() {
            keel_core::note_dependency(dependency, || breaker);
        }
    }
    match joined {
        Joined::Outcome(Outcome::Result(result)) => Ok(CallToolResult::from_shared(result)),
        Joined::Outcome(Outcome::Failed(failure)) => match stale {
            Some((result, stored_at)) if failure.kind().is_dependency_failure() => {
                shared.stale_served.fetch_add(1, Relaxed);
                noted("stale");
                Ok(marked_stale(result, stored_at, &failure))
            }
            _ => Err(ToolError::Failed(failure)),
        },
        Joined::Outcome(Outcome::Once(slot)) => {
            let taken = slot.lock().ok().and_then(|mut s| s.take());
            match taken {
                Some(e) => Err(e),
                None => inner.oneshot(call).await,
            }
        }
        Joined::Lost => inner.oneshot(call).await,
    }
}

/// Runs the call once for its flight and stores a cacheable result.
async fn compute<S>(
    shared: Arc<Shared>,
    policy: Arc<Resolved>,
    inner: S,
    call: ToolCall,
    key: CacheKey,
    reached: Reached,
) -> Outcome
where
    S: Service<ToolCall, Response = CallToolResult, Error = ToolError> + Send + 'static,
    S::Future: Send + 'static,
{
    // A computation that finished between this call's lookup and its joining stored its
    // result before leaving the flights: look again rather than run the tool twice.
    if let Some(entry) = shared.cache.fresh_in_l1(&key, &policy.ttl).await
        && let Some(result) = read(&entry, Level::L1)
    {
        return Outcome::Result(result);
    }
    let (result, notes) = keel_core::collect_notes(inner.oneshot(call)).await;
    *reached.lock().unwrap_or_else(PoisonError::into_inner) = notes.dependencies;
    let outcome = Outcome::of(result);
    if let Outcome::Result(result) = &outcome
        && !result.is_error()
        && result.len() <= policy.max_entry_bytes
    {
        let entry = Entry::new(
            result.to_bytes(),
            &policy.ttl,
            policy.max_stale,
            policy.tags.clone(),
        );
        shared.cache.put(&policy.name, key, entry).await;
    }
    outcome
}

/// A cached entry's result. What came from Redis is checked in full once (a corrupt value
/// must not become a corrupt response); what L1 holds was stored or checked here.
fn read(entry: &Entry, level: Level) -> Option<SharedResult> {
    let bytes = entry.value.clone();
    let result = match level {
        Level::L1 => SharedResult::from_trusted_bytes(bytes),
        Level::L2 => SharedResult::from_bytes(bytes),
    };
    result.ok()
}

fn marked_stale(result: SharedResult, stored_at: u64, failure: &Failure) -> CallToolResult {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let mut meta = Map::new();
    meta.insert(
        CACHE_META_KEY.into(),
        json!({
            "stale": true,
            "ageMs": now.saturating_sub(stored_at),
            "because": Value::Object(failure.describe()),
        }),
    );
    let mut r = CallToolResult::from_shared(result);
    r.meta = Some(meta);
    r
}

/// The layer's own counters beside the cache's.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CacheReport {
    /// The two levels' counters.
    pub levels: StatsSnapshot,
    /// Computations run for missed calls.
    pub computed: u64,
    /// Calls that joined a computation already in flight.
    pub coalesced: u64,
    /// Stale results served because the tool failed with a transient or dependency failure.
    pub stale_served: u64,
    /// Tag invalidations declared tools triggered.
    pub invalidations: u64,
    /// Computations in flight now.
    pub in_flight: usize,
    /// Tools with a cache policy.
    pub cached_tools: Vec<String>,
    /// Fresh answers (either level) per lookup, 0 before the first lookup.
    pub hit_rate: f64,
}

impl CacheHandle {
    /// The counters now.
    pub fn report(&self) -> CacheReport {
        let s = &self.shared;
        let cached_tools = s.policies.cached_tools();
        let levels = s.cache.stats();
        let (hits, lookups) = levels.namespaces.values().fold((0, 0), |(h, l), n| {
            (h + n.hits, l + n.hits + n.misses + n.stale_hits)
        });
        #[expect(clippy::cast_precision_loss, reason = "a ratio")]
        let hit_rate = if lookups == 0 {
            0.0
        } else {
            hits as f64 / lookups as f64
        };
        CacheReport {
            levels,
            hit_rate,
            computed: s.computed.load(Relaxed),
            coalesced: s.coalesced.load(Relaxed),
            stale_served: s.stale_served.load(Relaxed),
            invalidations: s.invalidations.load(Relaxed),
            in_flight: s.flights.len(),
            cached_tools,
        }
    }

    /// Drops every cached result of tool `name`, on every node.
    pub async fn invalidate_tool(&self, name: &str) {
        self.shared.cache.invalidate_tag(&tool_tag(name)).await;
    }

    /// Drops every cached result tagged `tag`, on every node.
    pub async fn invalidate_tag(&self, tag: &str) {
        self.shared.cache.invalidate_tag(&Tag::new(tag)).await;
    }

    /// Drops the results of every tag matching `pattern` (`*`, `?`); returns how many
    /// tags matched.
    pub async fn invalidate_pattern(&self, pattern: &str) -> usize {
        self.shared.cache.invalidate_pattern(pattern).await
    }

    /// Drops one entry by its key (64 hex digits, as statistics show them); false if the
    /// key is malformed.
    pub async fn invalidate_key(&self, hex: &str) -> bool {
        match CacheKey::from_hex(hex) {
            Some(key) => {
                self.shared.cache.invalidate_key(&key).await;
                true
            }
            None => false,
        }
    }

    /// The underlying two-level cache.
    pub fn cache(&self) -> &Cache {
        &self.shared.cache
    }
}
