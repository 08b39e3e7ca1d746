//! Assembling the dispatcher and running the transports.

use std::{sync::Arc, time::Duration};

use axum::routing::get;
use keel_core::{
    DispatchSettings, Dispatcher, MemorySessionStore, Registry, RequestStateCodec, ServerInfo,
    SessionStore, StateKey, ToolService,
};
use keel_middleware::{AdmissionLayer, AdmissionLimits, Metrics};
use keel_transport::{HttpSettings, OriginPolicy, ResumeSettings, SessionMode};
use tokio_util::sync::CancellationToken;
use tower::{ServiceBuilder, util::BoxCloneSyncService};

use crate::Config;

/// How long a `requestState` stays valid.
const REQUEST_STATE_TTL: Duration = Duration::from_secs(600);

/// Builds the dispatcher: registry, the tool service stack and the session store.
pub fn build_dispatcher(
    config: &Config,
    registry: Registry,
    tools: ToolService,
) -> Arc<Dispatcher> {
    let key = config
        .state_key
        .as_ref()
        .map_or_else(StateKey::random, |k| StateKey::new(k.as_bytes().to_vec()));
    let sessions: Arc<dyn SessionStore> =
        Arc::new(MemorySessionStore::new(config.sessions.idle_timeout()));
    Arc::new(Dispatcher::new(
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
    ))
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
/// admission per workload class, then schema validation and the handler.
fn tool_stack(registry: &Registry) -> (ToolService, Metrics) {
    let admission = AdmissionLayer::new(&AdmissionLimits::default());
    let metrics = Metrics::for_registry(registry).with_admission(admission.state().clone());
    let stack = ServiceBuilder::new()
        .layer(metrics.layer())
        .layer(admission)
        .service(Dispatcher::base_tool_service());
    (BoxCloneSyncService::new(stack), metrics)
}

impl Server {
    /// A server offering `registry`, every tool call going through the default stack.
    pub fn new(config: Config, registry: Registry) -> Self {
        let (tools, metrics) = tool_stack(&registry);
        let dispatcher = build_dispatcher(&config, registry, tools);
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

    /// The metrics of tool calls.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The dispatcher.
    pub fn dispatcher(&self) -> &Arc<Dispatcher> {
        &self.dispatcher
    }

    /// Serves Streamable HTTP until `shutdown` fires; in-flight requests finish first.
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
        serve_stdio(self.dispatcher, shutdown).await
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

/// Serves HTTP on a bound listener.
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
    let sessions = Arc::clone(dispatcher.sessions());
    let sweeper = tokio::spawn(expire_sessions(
        sessions,
        config.sessions.idle_timeout(),
        shutdown.clone(),
    ));
    let mut app = keel_transport::router(dispatcher, settings, &config.http.path)
        .route("/healthz", get(|| async { "ok" }));
    if let Some(ready) = extras.readiness {
        app = app.route(
            "/readyz",
            get(move || {
                let (ok, degraded) = ready();
                let status = if ok { "ready" } else { "degraded" };
                async move {
                    let body =
                        serde_json::json!({ "status": status, "degraded": degraded }).to_string();
                    ([(http::header::CONTENT_TYPE, "application/json")], body)
                }
            }),
        );
    }
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
    tracing::info!(addr = %listener.local_addr()?, path = %config.http.path, "serving Streamable HTTP");
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await;
    sweeper.abort();
    result
}

/// Serves stdin/stdout.
pub async fn serve_stdio(
    dispatcher: Arc<Dispatcher>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    tracing::info!("serving stdio");
    keel_transport::serve_stdio(
        dispatcher,
        tokio::io::stdin(),
        tokio::io::stdout(),
        shutdown,
    )
    .await
}

async fn expire_sessions(
    store: Arc<dyn SessionStore>,
    idle: Duration,
    shutdown: CancellationToken,
) {
    let mut tick =
        tokio::time::interval((idle / 4).clamp(Duration::from_secs(1), Duration::from_secs(60)));
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let gone = store.expire_idle();
                if gone > 0 {
                    tracing::info!(expired = gone, live = store.len(), "expired idle sessions");
                }
            }
            () = shutdown.cancelled() => return,
        }
    }
}
