//! The HTTP application beside MCP: health, readiness, `/metrics` (beside the endpoint or on
//! its own listener), the status page and the cache's admin route, all around the MCP router.

use std::{sync::Arc, time::Duration};

use axum::{
    response::{IntoResponse, Response},
    routing::get,
};
use keel_core::Dispatcher;
use keel_middleware::{
    AuditLog, CacheHandle, Metrics,
    exposition::{Collector, DescriptorEncoder, Exposition, Format, counter},
};
use keel_resilience::Dependencies;
use keel_transport::{HttpSettings, OriginPolicy, ResumeSettings, SessionMode};

use crate::{
    Config,
    health::{Health, Verdict},
    serve::Readiness,
    status::Status,
};

/// `keel_audit_records_total{result}`: lines written, and lines the sink refused or that
/// could not be queued.
#[derive(Debug)]
struct AuditFamilies(Arc<AuditLog>);

impl Collector for AuditFamilies {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> std::fmt::Result {
        counter(
            &mut encoder,
            "keel_audit_records",
            "Audit log lines, by whether they reached the sink.",
            [
                (&[("result", "written")][..], self.0.written()),
                (&[("result", "failed")][..], self.0.failed()),
            ],
        )
    }
}

/// Endpoints served beside MCP.
#[derive(Default)]
pub struct Extras {
    /// `/metrics`.
    pub metrics: Option<Metrics>,
    /// `/readyz`.
    pub readiness: Option<Readiness>,
    /// `POST /admin/cache/invalidate`, when `[cache] admin_token` is set.
    pub cache: Option<CacheHandle>,
    /// Dependency families on `/metrics`.
    pub dependencies: Option<Dependencies>,
    /// Checks run in the background; `/readyz` judges by them.
    pub health: Option<Health>,
    /// `/status` and `/status.json`, when `[status] page` is on.
    pub status: Option<Status>,
    /// The audit log, whose counters `/metrics` shows.
    pub audit: Option<Arc<AuditLog>>,
    /// More families on `/metrics` (the built-in tools' pools and batcher).
    pub families: Vec<Box<dyn Collector>>,
}

/// The whole HTTP application: MCP at `[http] path` (behind `[auth]` when set), health,
/// readiness, and the optional metrics, status and admin endpoints. Serving it is
/// [`serve_http`]'s; this builds it alone, for tests and fuzzing through the real router.
///
/// # Errors
/// `[auth]` that cannot be set up (an unreadable JWKS file).
pub fn http_app(
    config: &Config,
    dispatcher: Arc<Dispatcher>,
    extras: Extras,
) -> std::io::Result<axum::Router> {
    let (app, metrics) = http_apps(config, dispatcher, extras)?;
    Ok(match metrics {
        Some(metrics) => app.merge(metrics),
        None => app,
    })
}

/// [`http_app`], with `/metrics` apart when `[http] metrics_listen` is set.
pub(crate) fn http_apps(
    config: &Config,
    dispatcher: Arc<Dispatcher>,
    extras: Extras,
) -> std::io::Result<(axum::Router, Option<axum::Router>)> {
    let lifecycle = dispatcher.shutdown().clone();
    let settings = http_settings(config);
    let ready = readyz(extras.readiness, extras.health, lifecycle);
    let mut app = keel_transport::router(dispatcher, settings, &config.http.path);
    let auth_failures = config
        .auth
        .as_ref()
        .map(|_| Arc::new(crate::auth::AuthFailures::default()));
    if let (Some(auth), Some(failures)) = (&config.auth, &auth_failures) {
        app =
            crate::auth::protect(app, auth, Arc::clone(failures)).map_err(std::io::Error::other)?;
        tracing::info!(
            issuer = auth.issuer.as_deref().unwrap_or("-"),
            api_keys = auth.api_keys.len(),
            resource = %auth.resource,
            "bearer authentication on"
        );
    }
    let mut app = app
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(move || std::future::ready(ready())));
    let mut metrics_app = None;
    if let Some(m) = extras.metrics {
        let mut exposition = Exposition::new();
        exposition.register(m);
        if let Some(d) = extras.dependencies {
            exposition.register(crate::resilience::DependencyFamilies(d));
        }
        if let Some(failures) = auth_failures {
            exposition.register(failures);
        }
        if let Some(audit) = extras.audit {
            exposition.register(AuditFamilies(audit));
        }
        for families in extras.families {
            exposition.register_boxed(families);
        }
        let exposition = Arc::new(exposition);
        let route = axum::Router::new().route(
            "/metrics",
            get(move |headers: http::HeaderMap| {
                let accept = headers
                    .get(http::header::ACCEPT)
                    .and_then(|v| v.to_str().ok());
                let format = Format::negotiate(accept);
                let text = exposition.render(format);
                async move { ([(http::header::CONTENT_TYPE, format.content_type())], text) }
            }),
        );
        // On its own listener when `[http] metrics_listen` names one: scrapers then need
        // no route through the MCP endpoint's authentication or exposure.
        if config.http.metrics_listen.is_some() {
            metrics_app = Some(route);
        } else {
            app = app.merge(route);
        }
    }
    if let (Some(status), true) = (extras.status, config.status.page) {
        app = app
            .route(
                "/status",
                get(|| async {
                    (
                        [(http::header::CONTENT_TYPE, "text/html; charset=utf-8")],
                        crate::status::PAGE,
                    )
                }),
            )
            .route(
                "/status.json",
                get(move || {
                    let body = status.snapshot().to_string();
                    async move {
                        (
                            [
                                (http::header::CONTENT_TYPE, "application/json"),
                                (http::header::CACHE_CONTROL, "no-store"),
                            ],
                            body,
                        )
                    }
                }),
            );
        tracing::info!("status page on at /status");
    }
    if let (Some(cache), Some(token)) = (extras.cache, &config.cache.admin_token) {
        app = app.merge(crate::admin::routes(cache, token.clone()));
        tracing::info!(
            path = crate::admin::INVALIDATE_PATH,
            "cache invalidation endpoint on"
        );
    }
    Ok((app, metrics_app))
}

fn http_settings(config: &Config) -> HttpSettings {
    let hosts = &config.http.allowed_hosts;
    let origins = if hosts.iter().any(|h| h == "*") {
        OriginPolicy::Any
    } else {
        OriginPolicy::Hosts(hosts.clone())
    };
    HttpSettings {
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
    }
}

/// `/readyz`: 200 while serving (degraded parts listed), 503 once draining.
fn readyz(
    readiness: Option<Readiness>,
    health: Option<Health>,
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
            let (ok, mut degraded) = readiness();
            let verdict = health.as_ref().map_or(Verdict::Ready, Health::verdict);
            let checks = health.as_ref().map(Health::results).unwrap_or_default();
            for (name, check) in &checks {
                if !check.ok {
                    let why = check.error.as_deref().unwrap_or("not run yet");
                    degraded.push(format!("{name}: {why}"));
                }
            }
            let (code, status) = match verdict {
                Verdict::NotReady => (http::StatusCode::SERVICE_UNAVAILABLE, "not_ready"),
                _ if !ok || verdict == Verdict::Degraded => (http::StatusCode::OK, "degraded"),
                _ => (http::StatusCode::OK, "ready"),
            };
            (
                code,
                serde_json::json!({ "status": status, "degraded": degraded, "checks": checks }),
            )
        };
        let json = [(http::header::CONTENT_TYPE, "application/json")];
        (status, json, body.to_string()).into_response()
    }
}
