//! Assembling the dispatcher and running the transports.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use keel_core::{
    CallToolResult, DispatchSettings, Dispatcher, MemorySessionStore, MethodRequest, MethodService,
    MethodStack, Registry, Reply, RequestStateCodec, ServerInfo, SessionStore, StateKey, ToolCall,
    ToolError, ToolService,
};
use keel_middleware::{
    AdmissionLayer, AuditLog, CacheHandle, CacheLayer, InputLimitsLayer, Metrics,
    RequestAdmissionLayer, RequestMetricsLayer, RequestPolicyLayer, TimeoutLayer, TraceLayer,
    exposition::Collector,
};
use keel_resilience::Dependencies;
use tokio_util::sync::CancellationToken;
use tower::{
    Layer, Service, ServiceBuilder,
    util::{BoxCloneSyncService, Either},
};

use crate::{
    Config, ConfigError,
    health::{Check, Health},
    http_app::{Extras, http_app, http_apps},
    status::{Status, StatusSection},
};

/// How long a `requestState` stays valid.
const REQUEST_STATE_TTL: Duration = Duration::from_secs(600);

/// Builds the dispatcher: registry, the tool service stack, the request stack and the
/// session store (the in-memory one when `sessions` is `None`).
pub fn build_dispatcher(
    config: &Config,
    registry: Registry,
    tools: ToolService,
    requests: &impl MethodStack,
    sessions: Option<Arc<dyn SessionStore>>,
) -> Arc<Dispatcher> {
    let key = config
        .state_key
        .as_ref()
        .map_or_else(StateKey::random, |k| StateKey::new(k.as_bytes().to_vec()));
    let sessions = sessions
        .unwrap_or_else(|| Arc::new(MemorySessionStore::new(config.sessions.idle_timeout())));
    Arc::new(
        Dispatcher::new(
            Arc::new(registry),
            tools,
            sessions,
            RequestStateCodec::new(key, REQUEST_STATE_TTL),
            ServerInfo {
                name: "keel".into(),
                version: env!("CARGO_PKG_VERSION").into(),
                instructions: config.instructions.clone(),
            },
            dispatch_settings(config),
        )
        .with_request_stack(requests),
    )
}

/// Lists are filtered per caller when `[auth]` requires scopes: their client cache hints turn
/// private then, since two callers may see different lists.
fn dispatch_settings(config: &Config) -> DispatchSettings {
    let mut settings = DispatchSettings {
        max_sessions: config.sessions.max,
        ..DispatchSettings::default()
    };
    if let Some(filter) = config
        .auth
        .as_ref()
        .and_then(crate::AuthConfig::list_filter)
    {
        settings.list_filter = Some(filter);
        settings.list_cache.scope = keel_core::CacheScope::PerPrincipal;
    }
    settings
}

/// A configured server, ready to serve over HTTP or stdio.
pub struct Server {
    config: Config,
    dispatcher: Arc<Dispatcher>,
    metrics: Metrics,
    cache: Option<CacheHandle>,
    readiness: Option<Readiness>,
    dependencies: Dependencies,
    health: Health,
    status: Status,
    audit: Option<Arc<AuditLog>>,
    families: Vec<Box<dyn Collector>>,
}

/// Reports what cannot serve yet: `(ready, reasons)`.
pub type Readiness = Arc<dyn Fn() -> (bool, Vec<String>) + Send + Sync>;

/// Wraps the tool service with a user's layer.
type ToolLayerFn = Box<dyn FnOnce(ToolService) -> ToolService + Send>;

/// Wraps the request service with a user's layer.
type RequestLayerFn = Box<dyn Fn(MethodService) -> MethodService + Send + Sync>;

/// Composes a [`Server`]: the default stack from configuration, plus layers of one's own
/// and a session store of one's choice.
///
/// Every request (lists, reads, prompts, completion, subscriptions, tasks, tool calls)
/// first passes the request stack, outermost first: metrics by method (sees refusals and
/// queueing time), the added request layers in the order added, admission of
/// `resources/read` and `prompts/get` by their declared workload, then the routing.
///
/// A tool call then passes the tool stack, outermost first: metrics (sees every outcome and
/// the time spent queueing), the fallback of tools declaring one, the result cache (a hit
/// never queues), the added tool layers in
/// the order added, admission per workload class, the tool's timeout when one is configured
/// (counted once the call holds its permit), then schema validation and the handler.
/// Both admissions share one state: a database read through a resource and a `query` call
/// queue in the same io class.
pub struct ServerBuilder {
    config: Config,
    registry: Registry,
    sessions: Option<Arc<dyn SessionStore>>,
    layers: Vec<ToolLayerFn>,
    request_layers: Vec<RequestLayerFn>,
    readiness: Option<Readiness>,
    dependencies: Option<Dependencies>,
    checks: Vec<(String, Check)>,
    sections: BTreeMap<String, StatusSection>,
    families: Vec<Box<dyn Collector>>,
}

impl ServerBuilder {
    /// Uses these dependency guards (the ones the tools were given) instead of fresh ones
    /// from `[resilience]`; the status and `/metrics` report them.
    pub fn dependencies(mut self, dependencies: Dependencies) -> Self {
        self.dependencies = Some(dependencies);
        self
    }

    /// Adds a periodic health check (`db:main`, `redis`…) to readiness; `[health] required`
    /// says which ones make `/readyz` fail rather than degrade.
    pub fn health_check(mut self, name: impl Into<String>, check: Check) -> Self {
        self.checks.push((name.into(), check));
        self
    }

    /// Adds families to `/metrics`, encoded on each scrape after Keel's own.
    pub fn metrics_families(mut self, families: impl Collector) -> Self {
        self.families.push(Box::new(families));
        self
    }

    /// Adds a section to the status (`keel://status`, `/status`).
    pub fn status_section(mut self, name: impl Into<String>, section: StatusSection) -> Self {
        self.sections.insert(name.into(), section);
        self
    }

    /// Keeps legacy sessions in `store` instead of process memory.
    pub fn session_store(mut self, store: Arc<dyn SessionStore>) -> Self {
        self.sessions = Some(store);
        self
    }

    /// Adds a layer around tool calls, inside the cache and outside admission; layers added
    /// first are outermost.
    pub fn tool_layer<L>(mut self, layer: L) -> Self
    where
        L: Layer<ToolService> + Send + 'static,
        L::Service: Service<ToolCall, Response = CallToolResult, Error = ToolError>
            + Clone
            + Send
            + Sync
            + 'static,
        <L::Service as Service<ToolCall>>::Future: Send + 'static,
    {
        self.layers.push(Box::new(move |inner: ToolService| {
            BoxCloneSyncService::new(layer.layer(inner))
        }));
        self
    }

    /// Adds a layer around every request, inside request metrics and outside request
    /// admission; layers added first are outermost. The place for a policy on every method
    /// (authorization, rate limits): it refuses by answering a [`Reply`] itself.
    pub fn request_layer<L>(mut self, layer: L) -> Self
    where
        L: Layer<MethodService> + Send + Sync + 'static,
        L::Service: Service<MethodRequest, Response = Reply, Error = std::convert::Infallible>
            + Clone
            + Send
            + Sync
            + 'static,
        <L::Service as Service<MethodRequest>>::Future: Send + 'static,
    {
        self.request_layers.push(Box::new(move |inner| {
            MethodService::new(layer.layer(inner))
        }));
        self
    }

    /// Adds a readiness check, served at `/readyz` (degraded parts are listed, not fatal).
    pub fn readiness(mut self, readiness: Readiness) -> Self {
        self.readiness = Some(readiness);
        self
    }

    /// Assembles the server. Fails when `[admission]` does not fit the registry (a
    /// `[admission.tools.NAME]` for a tool not offered; a tool, resource, template or
    /// prompt in a workload class no `[admission.classes.NAME]` defines) or when the cache
    /// cannot be built (Redis configured outside a Tokio runtime, or a URL Redis's client
    /// refuses).
    pub fn build(self) -> Result<Server, ConfigError> {
        // A configuration built in code is checked as a loaded one is.
        self.config.admission.validate()?;
        let limits = self.config.admission.limits();
        self.config.admission.check(&self.registry, &limits)?;
        let mut request_layers = self.request_layers;
        self.config.rate_limits.check(&self.registry)?;
        let rate_limits = self.config.rate_limits.limits()?;
        let dependencies = self
            .dependencies
            .unwrap_or_else(|| self.config.resilience.dependencies());
        if !rate_limits.is_empty() {
            // Inside the scope check (inserted ahead of it below): a refused caller spends
            // no tokens.
            let layer = match self.config.rate_limits.store()? {
                None => keel_middleware::RateLimitLayer::new(&rate_limits),
                Some(store) => keel_middleware::RateLimitLayer::shared(
                    &rate_limits,
                    &store,
                    dependencies.get(keel_middleware::RATE_LIMIT_STORE),
                )
                .map_err(|e| ConfigError::Invalid(format!("rate_limits.redis: {e}")))?,
            };
            request_layers.insert(
                0,
                Box::new(move |inner| MethodService::new(layer.layer(inner))),
            );
        }
        if let Some(auth) = &self.config.auth {
            auth.check(&self.registry)?;
            if let Some(scopes) = auth.scope_layer() {
                // Outermost of the added layers: nothing else runs for a refused caller.
                request_layers.insert(
                    0,
                    Box::new(move |inner| MethodService::new(scopes.layer(inner))),
                );
            }
        }
        let audit = match &self.config.audit {
            Some(section) => {
                let log = AuditLog::open(&section.config()?).map_err(|e| {
                    ConfigError::Invalid(format!("audit: cannot open the log: {e}"))
                })?;
                let log = Arc::new(log);
                // Outermost: a call the scope check or a rate limit refuses is recorded too.
                let layer = keel_middleware::AuditLayer::new(Arc::clone(&log));
                request_layers.insert(
                    0,
                    Box::new(move |inner| MethodService::new(layer.layer(inner))),
                );
                Some(log)
            }
            None => None,
        };
        let admission = AdmissionLayer::new(&limits);
        let mut metrics =
            Metrics::for_registry(&self.registry).with_admission(admission.state().clone());
        let timeouts = self.config.admission.timeouts();
        // The default tool layers keep their types and are erased once, outermost: each
        // erasure would cost a boxed future and a boxed clone per call. Without any timeout
        // the layer is left out, not installed to do nothing.
        let admitted = ServiceBuilder::new()
            .layer(admission.clone())
            .option_layer((!timeouts.is_empty()).then(|| TimeoutLayer::new(timeouts)))
            .service(Dispatcher::base_tool());
        let inner = if self.layers.is_empty() {
            Either::Left(admitted)
        } else {
            let mut tools: ToolService = BoxCloneSyncService::new(admitted);
            for layer in self.layers.into_iter().rev() {
                tools = layer(tools);
            }
            Either::Right(tools)
        };
        let mut registry = self.registry;
        let health = Health::new(self.config.health.clone());
        for (name, check) in self.checks {
            health.add_check(name, check);
        }
        let (cache_layer, cache) = match self.config.cache.build()? {
            Some(cache) => {
                let layer = CacheLayer::new(cache, &registry, &self.config.cache.overrides());
                let handle = layer.handle();
                metrics = metrics.with_cache(handle.clone());
                registry = registry
                    .with_resource(crate::cache::stats_resource(handle.clone()))
                    .map_err(|e| ConfigError::Invalid(e.to_string()))?;
                (Some(layer), Some(handle))
            }
            None => (None, None),
        };
        // Outside the cache, so a stale cached result is preferred and a fallback's answer
        // is never stored; left out when no tool declares one.
        let fallback =
            keel_middleware::any_fallback(&registry).then_some(keel_middleware::FallbackLayer);
        let status = Status {
            started: std::time::Instant::now(),
            dependencies: dependencies.clone(),
            admission: admission.state().clone(),
            cache: cache.clone(),
            health: health.clone(),
            sections: Arc::new(self.sections),
            dispatcher: Arc::default(),
        };
        registry = registry
            .with_resource(status.resource())
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        let tools: ToolService = BoxCloneSyncService::new(
            ServiceBuilder::new()
                .layer(metrics.layer())
                .option_layer(fallback)
                .option_layer(cache_layer)
                .service(inner),
        );
        let requests = RequestStack {
            metrics: metrics.request_layer(),
            limits: InputLimitsLayer::new(self.config.input.limits()),
            admission: admission.request_layer(),
            layers: request_layers,
            traced: self.config.traces.is_some(),
        };
        let dispatcher = build_dispatcher(&self.config, registry, tools, &requests, self.sessions);
        let _ = status.dispatcher.set(Arc::downgrade(&dispatcher));
        health.add_self_check(Arc::downgrade(&dispatcher));
        Ok(Server {
            config: self.config,
            dispatcher,
            metrics,
            cache,
            readiness: self.readiness,
            dependencies,
            health,
            status,
            audit,
            families: self.families,
        })
    }
}

/// The request stack of [`ServerBuilder`]. Without added layers it is erased once; each
/// added layer costs one more boxed future per request.
struct RequestStack {
    metrics: RequestMetricsLayer,
    limits: InputLimitsLayer,
    admission: RequestAdmissionLayer,
    layers: Vec<RequestLayerFn>,
    /// Whether each request gets a span (outermost, so every layer's span nests in it).
    traced: bool,
}

impl MethodStack for RequestStack {
    /// Nothing added and no request span: the default policy as a gate, so the routing
    /// runs inline with no boxed future of the stack's.
    fn gate(&self) -> Option<Arc<dyn keel_core::RequestGate>> {
        (self.layers.is_empty() && !self.traced).then(|| {
            Arc::new(RequestPolicyLayer::new(
                &self.metrics,
                self.limits,
                self.admission.clone(),
            )) as Arc<dyn keel_core::RequestGate>
        })
    }

    fn wrap<S>(&self, route: S) -> MethodService
    where
        S: Service<MethodRequest, Response = Reply, Error = std::convert::Infallible>
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        // Nothing added between them: the three default layers as one service.
        let policy = || RequestPolicyLayer::new(&self.metrics, self.limits, self.admission.clone());
        if self.layers.is_empty() && self.traced {
            return MethodService::new(TraceLayer.layer(policy().layer(route)));
        }
        if self.layers.is_empty() {
            return MethodService::new(policy().layer(route));
        }
        let mut inner = MethodService::new(self.limits.layer(self.admission.layer(route)));
        for layer in self.layers.iter().rev() {
            inner = layer(inner);
        }
        if self.traced {
            return MethodService::new(TraceLayer.layer(self.metrics.layer(inner)));
        }
        MethodService::new(self.metrics.layer(inner))
    }
}

impl Server {
    /// A server offering `registry` through the default stack.
    pub fn new(config: Config, registry: Registry) -> Result<Self, ConfigError> {
        Self::builder(config, registry).build()
    }

    /// A builder to add layers or choose the session store.
    pub fn builder(config: Config, registry: Registry) -> ServerBuilder {
        ServerBuilder {
            config,
            registry,
            sessions: None,
            layers: Vec::new(),
            request_layers: Vec::new(),
            readiness: None,
            dependencies: None,
            checks: Vec::new(),
            sections: BTreeMap::new(),
            families: Vec::new(),
        }
    }

    /// Adds a readiness check, served at `/readyz` (degraded parts are listed, not fatal).
    pub fn with_readiness(mut self, readiness: Readiness) -> Self {
        self.readiness = Some(readiness);
        self
    }

    /// The metrics of requests and tool calls.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The result cache, when caching is on: invalidation and statistics.
    pub fn cache(&self) -> Option<&CacheHandle> {
        self.cache.as_ref()
    }

    /// The dispatcher.
    pub fn dispatcher(&self) -> &Arc<Dispatcher> {
        &self.dispatcher
    }

    /// The dependency guards: breakers, retries, throttles.
    pub fn dependencies(&self) -> &Dependencies {
        &self.dependencies
    }

    /// The health checks and their last results.
    pub fn health(&self) -> &Health {
        &self.health
    }

    /// The status document.
    pub fn status(&self) -> &Status {
        &self.status
    }

    /// This server's HTTP application without a listener or background tasks: for driving
    /// the real router in process (tests, fuzzing).
    ///
    /// # Errors
    /// `[auth]` that cannot be set up.
    pub fn into_http_app(self) -> std::io::Result<axum::Router> {
        let (config, dispatcher, extras) = self.into_parts();
        http_app(&config, dispatcher, extras)
    }

    /// The configuration, the dispatcher and everything served beside MCP.
    fn into_parts(self) -> (Config, Arc<Dispatcher>, Extras) {
        let extras = Extras {
            metrics: Some(self.metrics),
            readiness: self.readiness,
            cache: self.cache,
            dependencies: Some(self.dependencies),
            health: Some(self.health),
            status: Some(self.status),
            audit: self.audit,
            families: self.families,
        };
        (self.config, self.dispatcher, extras)
    }

    /// Serves Streamable HTTP until `shutdown` fires and the drain ends.
    /// Then stops the cache's background tasks (Redis subscriber and writes).
    pub async fn serve_http(self, shutdown: CancellationToken) -> std::io::Result<()> {
        let listener = tokio::net::TcpListener::bind(self.config.http.listen).await?;
        let (config, dispatcher, extras) = self.into_parts();
        let (cache, audit) = (extras.cache.clone(), extras.audit.clone());
        let served = serve_http(listener, &config, dispatcher, extras, shutdown).await;
        close_cache(cache).await;
        close_audit(audit).await;
        served
    }

    /// Serves stdin/stdout until stdin closes or `shutdown` fires, then stops the cache's
    /// background tasks.
    pub async fn serve_stdio(self, shutdown: CancellationToken) -> std::io::Result<()> {
        let served = serve_stdio(self.dispatcher, &self.config, shutdown).await;
        close_cache(self.cache).await;
        close_audit(self.audit).await;
        served
    }
}

/// How long the exit waits for the cache's background tasks (a Redis write in flight is
/// bounded by the op timeout already).
const CACHE_CLOSE_GRACE: Duration = Duration::from_secs(2);

async fn close_cache(cache: Option<CacheHandle>) {
    let Some(cache) = cache else { return };
    if tokio::time::timeout(CACHE_CLOSE_GRACE, cache.cache().close())
        .await
        .is_err()
    {
        tracing::warn!("the cache's background tasks did not stop in time");
    }
}

/// Writes every audit record of the calls that ran and flushes the file.
async fn close_audit(audit: Option<Arc<AuditLog>>) {
    if let Some(audit) = audit {
        audit.close().await;
        tracing::debug!(
            records = audit.written(),
            failed = audit.failed(),
            "audit log closed"
        );
    }
}

/// Serves HTTP on a bound listener until `shutdown` fires and the drain ends: readiness
/// turns 503, the listener closes, later requests are refused, streams end, work in flight
/// gets `[shutdown] drain_timeout_secs` before it is cancelled.
pub async fn serve_http(
    listener: tokio::net::TcpListener,
    config: &Config,
    dispatcher: Arc<Dispatcher>,
    extras: Extras,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    // Certificate files are read before anything starts: a bad one stops the start.
    let tls = match &config.http.tls {
        None => None,
        Some(tls) => {
            let acceptor = keel_transport::tls_acceptor(&tls.cert, &tls.key)?;
            tracing::info!(cert = %tls.cert.display(), "TLS on");
            Some(acceptor)
        }
    };
    let lifecycle = dispatcher.shutdown().clone();
    let driver = tokio::spawn(drain_on(
        shutdown,
        lifecycle.clone(),
        config.shutdown.drain_timeout(),
    ));
    lifecycle.spawn_until_drain(expire_sessions(
        Arc::clone(dispatcher.sessions()),
        config.sessions.idle_timeout(),
    ));
    if let Some(health) = extras.health.clone() {
        // One round before the first accept, so `/readyz` judges from the start (a hung
        // dependency delays the start by at most the check timeout).
        health.run_once().await;
        lifecycle.spawn_until_drain(health.run());
    }
    let (app, metrics_app) = http_apps(config, dispatcher, extras)?;
    let metrics_listener = match (metrics_app, config.http.metrics_listen) {
        (Some(metrics_app), Some(addr)) => {
            let listener = tokio::net::TcpListener::bind(addr).await?;
            tracing::info!(addr = %listener.local_addr()?, "serving /metrics apart");
            Some((listener, metrics_app))
        }
        _ => None,
    };
    let limits = config.http.limits();
    warn_over_file_limit(limits.max_connections);
    tracing::info!(addr = %listener.local_addr()?, path = %config.http.path, "serving Streamable HTTP");
    // The metrics listener drains with the main one (same lifecycle).
    let metrics_server = metrics_listener.map(|(listener, metrics_app)| {
        tokio::spawn(keel_transport::serve_http(
            listener,
            metrics_app,
            limits,
            lifecycle.clone(),
        ))
    });
    let result = match tls {
        None => keel_transport::serve_http(listener, app, limits, lifecycle).await,
        Some(acceptor) => {
            keel_transport::serve_https(listener, app, limits, lifecycle, acceptor).await
        }
    };
    if let Some(metrics_server) = metrics_server
        && let Ok(Err(error)) = metrics_server.await
    {
        tracing::warn!(%error, "the metrics listener ended with an error");
    }
    driver.abort();
    result
}

/// On `signal`: drain at once, stop when `deadline` has passed.
async fn drain_on(signal: CancellationToken, lifecycle: keel_core::Shutdown, deadline: Duration) {
    signal.cancelled().await;
    tracing::info!(
        deadline_secs = deadline.as_secs(),
        "draining: refusing new requests, ending streams, finishing work in flight"
    );
    lifecycle.drain();
    tokio::time::sleep(deadline).await;
    lifecycle.stop();
}

/// Warns when the connection cap leaves the process no room under its file limit.
fn warn_over_file_limit(max_connections: usize) {
    // Descriptors besides connections: the listener, logs, databases, the model.
    const SPARE: u64 = 256;
    if let Some(limit) = open_file_limit()
        && (max_connections as u64).saturating_add(SPARE) > limit
    {
        tracing::warn!(
            max_connections,
            open_file_limit = limit,
            "http.max_connections is near the open file limit: raise `ulimit -n` or lower the cap"
        );
    }
}

/// The soft limit on open files, where the platform says (Linux).
fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Serves stdin/stdout until stdin closes or `shutdown` fires; then reading stops and
/// requests in flight get `[shutdown] drain_timeout_secs`.
pub async fn serve_stdio(
    dispatcher: Arc<Dispatcher>,
    config: &Config,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    tracing::info!("serving stdio");
    let lifecycle = dispatcher.shutdown().clone();
    let driver = tokio::spawn(drain_on(
        shutdown,
        lifecycle.clone(),
        config.shutdown.drain_timeout(),
    ));
    let stop = CancellationToken::new();
    let result =
        keel_transport::serve_stdio(dispatcher, tokio::io::stdin(), tokio::io::stdout(), stop)
            .await;
    if lifecycle.is_draining() {
        tokio::select! {
            () = lifecycle.work_done() => {}
            () = lifecycle.stopped() => {}
        }
    }
    driver.abort();
    result
}

async fn expire_sessions(store: Arc<dyn SessionStore>, idle: Duration) {
    let mut tick =
        tokio::time::interval((idle / 4).clamp(Duration::from_secs(1), Duration::from_secs(60)));
    loop {
        tick.tick().await;
        let gone = store.expire_idle();
        if gone > 0 {
            tracing::info!(expired = gone, live = store.len(), "expired idle sessions");
        }
    }
}
