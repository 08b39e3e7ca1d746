//! Assembling the dispatcher and running the transports.

use std::{sync::Arc, time::Duration};

use axum::{
    response::{IntoResponse, Response},
    routing::get,
};
use keel_core::{
    DispatchSettings, Dispatcher, MemorySessionStore, MethodRequest, MethodService, MethodStack,
    Registry, Reply, RequestStateCodec, ServerInfo, SessionStore, StateKey, ToolService,
};
use keel_middleware::{
    AdmissionLayer, AdmissionLimits, Metrics, RequestAdmissionLayer, RequestMetricsLayer,
};
use keel_transport::{HttpSettings, OriginPolicy, ResumeSettings, SessionMode};
use tokio_util::sync::CancellationToken;
use tower::{Service, ServiceBuilder, util::BoxCloneSyncService};

use crate::Config;

/// How long a `requestState` stays valid.
const REQUEST_STATE_TTL: Duration = Duration::from_secs(600);

/// Builds the dispatcher: registry, the tool service stack, the request stack and the
/// session store.
pub fn build_dispatcher(
    config: &Config,
    registry: Registry,
    tools: ToolService,
    requests: &impl MethodStack,
) -> Arc<Dispatcher> {
    let key = config
        .state_key
        .as_ref()
        .map_or_else(StateKey::random, |k| StateKey::new(k.as_bytes().to_vec()));
    let sessions: Arc<dyn SessionStore> =
        Arc::new(MemorySessionStore::new(config.sessions.idle_timeout()));
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
            DispatchSettings::default(),
        )
        .with_request_stack(requests),
    )
}

/// A configured server, ready to serve over HTTP or stdio.
pub struct Server {
    config: Config,
    dispatcher: Arc<Dispatcher>,
    metrics: Metrics,
    readiness: Option<Readiness>,
}

/// Reports what cannot serve yet: `(ready, reasons)`.
pub type Readiness = Arc<dyn Fn() -> (bool, Vec<String>) + Send + Sync>;

/// The default tool stack, outermost first: metrics (sees rejections and queueing time),
/// admission per workload class, then schema validation and the handler. Also returns the
/// request stack sharing its metrics and admission state.
fn tool_stack(
    registry: &Registry,
    limits: &AdmissionLimits,
) -> (ToolService, RequestStack, Metrics) {
    let admission = AdmissionLayer::new(limits);
    let metrics = Metrics::for_registry(registry).with_admission(admission.state().clone());
    let requests = RequestStack {
        metrics: metrics.request_layer(),
        admission: admission.request_layer(),
    };
    let stack = ServiceBuilder::new()
        .layer(metrics.layer())
        .layer(admission)
        .service(Dispatcher::base_tool_service());
    (BoxCloneSyncService::new(stack), requests, metrics)
}

/// The default request stack, outermost first: metrics by method (sees refusals and
/// queueing time), then admission of `resources/read` and `prompts/get` by their declared
/// workload in the tool stack's classes, then the dispatcher's routing.
pub(crate) struct RequestStack {
    metrics: RequestMetricsLayer,
    admission: RequestAdmissionLayer,
}

impl MethodStack for RequestStack {
    fn wrap<S>(&self, route: S) -> MethodService
    where
        S: Service<MethodRequest, Response = Reply, Error = std::convert::Infallible>
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        MethodService::new(
            ServiceBuilder::new()
                .layer(self.metrics.clone())
                .layer(self.admission.clone())
                .service(route),
        )
    }
}

impl Server {
    /// A server offering `registry`, every request going through the default request stack
    /// and every tool call through the default tool stack.
    pub fn new(config: Config, registry: Registry) -> Self {
        let (tools, requests, metrics) = tool_stack(&registry, &config.admission.limits());
        let dispatcher = build_dispatcher(&config, registry, tools, &requests);
        Self {
            config,
            dispatcher,
            metrics,
            readiness: None,
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

    /// The dispatcher.
    pub fn dispatcher(&self) -> &Arc<Dispatcher> {
        &self.dispatcher
    }

    /// Serves Streamable HTTP until `shutdown` fires and the drain ends.
    pub async fn serve_http(self, shutdown: CancellationToken) -> std::io::Result<()> {
        let listener = tokio::net::TcpListener::bind(self.config.http.listen).await?;
        let extras = Extras {
            metrics: Some(self.metrics),
            readiness: self.readiness,
        };
        serve_http(listener, &self.config, self.dispatcher, extras, shutdown).await
    }

    /// Serves stdin/stdout until stdin closes or `shutdown` fires.
    pub async fn serve_stdio(self, shutdown: CancellationToken) -> std::io::Result<()> {
        serve_stdio(self.dispatcher, &self.config, shutdown).await
    }
}

/// Endpoints served beside MCP.
#[derive(Default)]
pub struct Extras {
    /// `/metrics`.
    pub metrics: Option<Metrics>,
    /// `/readyz`.
    pub readiness: Option<Readiness>,
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
    let hosts = &config.http.allowed_hosts;
    let origins = if hosts.iter().any(|h| h == "*") {
        OriginPolicy::Any
    } else {
        OriginPolicy::Hosts(hosts.clone())
    };
    let settings = HttpSettings {
        max_body_bytes: config.http.max_body_bytes,
        body_read_timeout: Duration::from_secs(config.http.body_read_timeout_secs),
        origins,
        session_mode: if config.sessions.mode == "strict" {
            SessionMode::Strict
        } else {
            SessionMode::Lenient
        },
        resume: ResumeSettings {
            window: Duration::from_secs(config.sessions.resume_window_secs),
            ..ResumeSettings::default()
        },
        ..HttpSettings::default()
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
    let ready = readyz(extras.readiness, lifecycle.clone());
    let mut app = keel_transport::router(dispatcher, settings, &config.http.path)
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(move || std::future::ready(ready())));
    if let Some(m) = extras.metrics {
        app = app.route(
            "/metrics",
            get(move || {
                let m = m.clone();
                async move {
                    (
                        [(http::header::CONTENT_TYPE, keel_middleware::CONTENT_TYPE)],
                        m.render(),
                    )
                }
            }),
        );
    }
    let limits = config.http.limits();
    warn_over_file_limit(limits.max_connections);
    tracing::info!(addr = %listener.local_addr()?, path = %config.http.path, "serving Streamable HTTP");
    let result = keel_transport::serve_http(listener, app, limits, lifecycle).await;
    driver.abort();
    result
}

/// `/readyz`: 200 while serving (degraded parts listed), 503 once draining.
fn readyz(
    readiness: Option<Readiness>,
    lifecycle: keel_core::Shutdown,
) -> impl Fn() -> Response + Clone + Send + Sync + 'static {
    let readiness = readiness.unwrap_or_else(|| -> Readiness { Arc::new(|| (true, Vec::new())) });
    move || {
        let (status, body) = if lifecycle.is_draining() {
            (
                http::StatusCode::SERVICE_UNAVAILABLE,
                serde_json::json!({ "status": "draining", "reason": "shutting down" }),
            )
        } else {
            let (ok, degraded) = readiness();
            let status = if ok { "ready" } else { "degraded" };
            (
                http::StatusCode::OK,
                serde_json::json!({ "status": status, "degraded": degraded }),
            )
        };
        let json = [(http::header::CONTENT_TYPE, "application/json")];
        (status, json, body.to_string()).into_response()
    }
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
