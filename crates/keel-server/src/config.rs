//! Configuration: one TOML file plus `KEEL_*` environment overrides, validated once.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use serde::Deserialize;

/// Why configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The path.
        path: String,
        /// The IO error.
        source: std::io::Error,
    },
    /// The TOML is malformed or has unknown keys.
    #[error("invalid configuration: {0}")]
    Parse(#[from] toml::de::Error),
    /// A value is out of range.
    #[error("invalid configuration: {0}")]
    Invalid(String),
    /// A tool, resource, template or prompt (or a `[admission.tools.NAME] class`) uses a
    /// workload class that neither is built in nor has an `[admission.classes.NAME]`.
    #[error(
        "invalid configuration: {what} uses workload class {class:?}, which no \
         [admission.classes.{class}] section defines"
    )]
    UndefinedClass {
        /// What uses it: `tool "report"`, `prompt "summary"`, `admission.tools.echo.class`.
        what: String,
        /// The class.
        class: String,
    },
    /// A per-tool section names a tool the server does not offer.
    #[error("invalid configuration: [{section}.{tool}] names no tool this server offers")]
    UnknownTool {
        /// The section (`admission.tools`).
        section: &'static str,
        /// The name it gives.
        tool: String,
    },
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// HTTP transport.
    pub http: HttpConfig,
    /// Legacy sessions.
    pub sessions: SessionsConfig,
    /// How the server stops on SIGTERM or SIGINT.
    pub shutdown: ShutdownConfig,
    /// Secret that signs multi round-trip `requestState` (hex or text); random per process
    /// when absent, so set it when several nodes serve one endpoint.
    pub state_key: Option<String>,
    /// Natural-language guidance for models.
    pub instructions: Option<String>,
    /// The built-in tools (`analyze`, `query`, `embed`, `similarity`, `classify`).
    pub builtins: keel_builtins::BuiltinsConfig,
    /// Admission per workload class.
    pub admission: crate::AdmissionConfig,
    /// The result cache.
    pub cache: crate::CacheConfig,
    /// Guards of the dependencies tools reach.
    pub resilience: crate::ResilienceConfig,
    /// Readiness checks.
    pub health: crate::HealthConfig,
    /// The status page.
    pub status: crate::StatusConfig,
    /// Bearer authentication of the HTTP endpoint; absent, the endpoint is open.
    pub auth: Option<crate::AuthConfig>,
    /// Rate limits per principal, per tool, per principal × tool.
    pub rate_limits: crate::RateLimitsConfig,
    /// The audit log of tool calls; absent, none is kept.
    pub audit: Option<crate::AuditSection>,
    /// Bounds on request params.
    pub input: InputConfig,
    /// OpenTelemetry traces over OTLP; absent, no span is created.
    pub traces: Option<crate::TracesConfig>,
}

/// `[input]`: bounds every request's params meet before anything runs; past them, `-32602`
/// naming where.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InputConfig {
    /// Longest string value or object key, bytes (default 1 MiB).
    pub max_string_bytes: usize,
    /// Deepest nesting of objects and arrays (default 32, at most 128).
    pub max_depth: usize,
}

impl Default for InputConfig {
    fn default() -> Self {
        let limits = keel_middleware::InputLimits::default();
        Self {
            max_string_bytes: limits.max_string_bytes,
            max_depth: limits.max_depth,
        }
    }
}

impl InputConfig {
    /// The bounds.
    pub fn limits(&self) -> keel_middleware::InputLimits {
        keel_middleware::InputLimits {
            max_string_bytes: self.max_string_bytes,
            max_depth: self.max_depth,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            http: HttpConfig::default(),
            sessions: SessionsConfig::default(),
            shutdown: ShutdownConfig::default(),
            state_key: None,
            builtins: keel_builtins::BuiltinsConfig::default(),
            admission: crate::AdmissionConfig::default(),
            cache: crate::CacheConfig::default(),
            resilience: crate::ResilienceConfig::default(),
            health: crate::HealthConfig::default(),
            status: crate::StatusConfig::default(),
            auth: None,
            rate_limits: crate::RateLimitsConfig::default(),
            audit: None,
            input: InputConfig::default(),
            traces: None,
            instructions: Some("Keel MCP server. Call tools/list to see what it offers.".into()),
        }
    }
}

/// HTTP settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Listen address.
    pub listen: SocketAddr,
    /// Endpoint path.
    pub path: String,
    /// Largest request body, bytes.
    pub max_body_bytes: usize,
    /// Longest wait for a whole request body once its head arrived, seconds; a slower body
    /// is answered 408 and its connection closed.
    pub body_read_timeout_secs: u64,
    /// Accepted Host/Origin names; `["*"]` turns the check off.
    pub allowed_hosts: Vec<String>,
    /// Longest wait for a complete request head, seconds: from the accept on a new
    /// connection, from the first byte of a later request on a kept-alive one.
    pub header_read_timeout_secs: u64,
    /// Longest wait for the next request on a kept-alive connection, seconds. Keep it above
    /// the idle timeout of any load balancer in front, so the balancer closes first.
    pub idle_timeout_secs: u64,
    /// Most connections served at once; more are closed as soon as they are accepted. Keep
    /// it below the process's file limit (`ulimit -n`).
    pub max_connections: usize,
    /// TLS on the listener, for direct exposure; off behind a terminating proxy.
    pub tls: Option<TlsConfig>,
    /// Serve `/metrics` on this address instead of beside MCP (plain HTTP, no auth: keep
    /// it on a private interface).
    pub metrics_listen: Option<SocketAddr>,
}

/// `[http.tls]`: PEM files, read at start.
///
/// ```toml
/// [http.tls]
/// cert = "/etc/keel/cert.pem"   # the chain, leaf first
/// key = "/etc/keel/key.pem"     # PKCS#8, PKCS#1 or SEC1
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// The private key.
    pub key: PathBuf,
}

impl Default for HttpConfig {
    fn default() -> Self {
        let limits = keel_transport::ConnectionLimits::default();
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            path: "/mcp".into(),
            max_body_bytes: 4 * 1024 * 1024,
            body_read_timeout_secs: 30,
            allowed_hosts: vec!["localhost".into(), "127.0.0.1".into(), "[::1]".into()],
            header_read_timeout_secs: limits.header_read_timeout.as_secs(),
            idle_timeout_secs: limits.idle_timeout.as_secs(),
            max_connections: limits.max_connections,
            tls: None,
            metrics_listen: None,
        }
    }
}

impl HttpConfig {
    /// The connection limits.
    pub fn limits(&self) -> keel_transport::ConnectionLimits {
        keel_transport::ConnectionLimits {
            header_read_timeout: Duration::from_secs(self.header_read_timeout_secs),
            idle_timeout: Duration::from_secs(self.idle_timeout_secs),
            max_connections: self.max_connections,
        }
    }
}

/// Shutdown settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShutdownConfig {
    /// How long work in flight may run on after SIGTERM or SIGINT before it is cancelled,
    /// seconds. Keep it below Kubernetes' `terminationGracePeriodSeconds`.
    pub drain_timeout_secs: u64,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        Self {
            drain_timeout_secs: 30,
        }
    }
}

impl ShutdownConfig {
    /// The drain deadline.
    pub fn drain_timeout(&self) -> Duration {
        Duration::from_secs(self.drain_timeout_secs)
    }
}

/// Longest duration a timeout may be set to (a day); larger values are surely mistakes.
const MAX_TIMEOUT_SECS: u64 = 86_400;

/// Legacy session settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionsConfig {
    /// Idle time after which a session expires, seconds.
    pub idle_timeout_secs: u64,
    /// `lenient` (serve session-less legacy requests) or `strict` (refuse them with 400).
    pub mode: String,
    /// How long a request keeps running after its SSE connection went, for the client to
    /// resume with `Last-Event-ID`, seconds.
    pub resume_window_secs: u64,
    /// Live sessions at most; `initialize` past it is refused as an overload (default
    /// 10000).
    pub max: usize,
}

impl Default for SessionsConfig {
    fn default() -> Self {
        Self {
            idle_timeout_secs: 1800,
            mode: "lenient".into(),
            resume_window_secs: 60,
            max: 10_000,
        }
    }
}

impl SessionsConfig {
    /// The idle timeout.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs)
    }
}

impl Config {
    /// Reads a file (if given), applies `KEEL_*` overrides and validates.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let mut config = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.display().to_string(),
                    source,
                })?;
                toml::from_str(&text)?
            }
            None => Self::default(),
        };
        config.apply_env(|k| std::env::var(k).ok())?;
        config.validate()?;
        Ok(config)
    }

    fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(v) = var("KEEL_LISTEN") {
            self.http.listen = v
                .parse()
                .map_err(|_| ConfigError::Invalid(format!("KEEL_LISTEN={v} is not an address")))?;
        }
        if let Some(v) = var("KEEL_PATH") {
            self.http.path = v;
        }
        if let Some(v) = var("KEEL_SESSION_MODE") {
            self.sessions.mode = v;
        }
        if let Some(v) = var("KEEL_STATE_KEY") {
            self.state_key = Some(v);
        }
        if let Some(v) = var("KEEL_MODEL_AUTO_FETCH") {
            self.builtins.embed.auto_fetch = parse_switch(&v).ok_or_else(|| {
                ConfigError::Invalid(format!(
                    "KEEL_MODEL_AUTO_FETCH={v} is not a switch (1/0, true/false, on/off, yes/no)"
                ))
            })?;
        }
        if let Some(v) = var("KEEL_MODEL_MIRROR") {
            self.builtins.embed.model_mirror = Some(v).filter(|v| !v.trim().is_empty());
        }
        if let Some(v) = var("KEEL_ALLOWED_HOSTS") {
            self.http.allowed_hosts = v
                .split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect();
        }
        if let Some(v) = var("KEEL_TRACES_ENDPOINT") {
            match &mut self.traces {
                Some(traces) => traces.endpoint = v,
                None => self.traces = Some(crate::TracesConfig::to(v)),
            }
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if let Some(traces) = &self.traces {
            traces.validate()?;
        }
        if !self.http.path.starts_with('/') {
            return Err(ConfigError::Invalid(format!(
                "http.path {:?} must start with /",
                self.http.path
            )));
        }
        if self.http.max_body_bytes < 1024 {
            return Err(ConfigError::Invalid(
                "http.max_body_bytes must be at least 1024".into(),
            ));
        }
        if !matches!(self.sessions.mode.as_str(), "lenient" | "strict") {
            return Err(ConfigError::Invalid(format!(
                "sessions.mode must be lenient or strict, not {:?}",
                self.sessions.mode
            )));
        }
        if self.sessions.max == 0 {
            return Err(ConfigError::Invalid(
                "sessions.max must be at least 1".into(),
            ));
        }
        for (key, secs, least) in [
            (
                "http.header_read_timeout_secs",
                self.http.header_read_timeout_secs,
                1,
            ),
            ("http.idle_timeout_secs", self.http.idle_timeout_secs, 1),
            (
                "http.body_read_timeout_secs",
                self.http.body_read_timeout_secs,
                1,
            ),
            (
                "shutdown.drain_timeout_secs",
                self.shutdown.drain_timeout_secs,
                0,
            ),
        ] {
            if !(least..=MAX_TIMEOUT_SECS).contains(&secs) {
                return Err(ConfigError::Invalid(format!(
                    "{key} must be between {least} and {MAX_TIMEOUT_SECS}, not {secs}"
                )));
            }
        }
        if self.http.max_connections == 0 {
            return Err(ConfigError::Invalid(
                "http.max_connections must be positive".into(),
            ));
        }
        if self.sessions.idle_timeout_secs == 0 {
            return Err(ConfigError::Invalid(
                "sessions.idle_timeout_secs must be positive".into(),
            ));
        }
        self.admission.validate()?;
        self.resilience.validate()?;
        self.health.validate()?;
        if let Some(auth) = &self.auth {
            auth.validate()?;
        }
        self.rate_limits.limits()?;
        self.rate_limits.store()?;
        if let Some(audit) = &self.audit {
            audit.config()?;
        }
        if self.input.max_string_bytes == 0
            || !(1..=keel_protocol::MAX_NESTING).contains(&self.input.max_depth)
        {
            return Err(ConfigError::Invalid(format!(
                "input.max_string_bytes must be positive and input.max_depth between 1 and {}",
                keel_protocol::MAX_NESTING
            )));
        }
        self.cache.validate()
    }
}

/// An on/off environment value.
fn parse_switch(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "on" | "yes" => Some(true),
        "0" | "false" | "off" | "no" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_secure_and_valid() {
        let c = Config::default();
        assert!(c.http.listen.ip().is_loopback());
        c.validate().unwrap();
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        assert!(toml::from_str::<Config>("[http]\nlisen = \"x\"").is_err());
        let mut c: Config = toml::from_str("[sessions]\nmode = \"loose\"").unwrap();
        assert!(c.validate().is_err());
        c.sessions.mode = "strict".into();
        c.validate().unwrap();
    }

    #[test]
    fn connection_limits_and_the_drain_deadline_are_read_and_checked() {
        let c: Config = toml::from_str(
            "[http]\nheader_read_timeout_secs = 1\nidle_timeout_secs = 5\nmax_connections = 7\n\
             [shutdown]\ndrain_timeout_secs = 0\n",
        )
        .unwrap();
        c.validate().unwrap();
        let l = c.http.limits();
        assert_eq!(l.header_read_timeout, Duration::from_secs(1));
        assert_eq!(l.idle_timeout, Duration::from_secs(5));
        assert_eq!(l.max_connections, 7);
        assert_eq!(c.shutdown.drain_timeout(), Duration::ZERO);
        for bad in [
            "[http]\nheader_read_timeout_secs = 0",
            "[http]\nidle_timeout_secs = 0",
            "[http]\nbody_read_timeout_secs = 0",
            "[http]\nmax_connections = 0",
            "[shutdown]\ndrain_timeout_secs = 100000",
        ] {
            let c: Config = toml::from_str(bad).unwrap();
            assert!(c.validate().is_err(), "{bad}");
        }
        assert!(toml::from_str::<Config>("[shutdown]\ndrain = 1").is_err());
    }

    #[test]
    fn environment_overrides_the_file() {
        let mut c = Config::default();
        c.apply_env(|k| (k == "KEEL_LISTEN").then(|| "127.0.0.1:9999".into()))
            .unwrap();
        assert_eq!(c.http.listen.port(), 9999);
        assert!(
            c.apply_env(|k| (k == "KEEL_LISTEN").then(|| "nope".into()))
                .is_err()
        );
    }

    #[test]
    fn the_model_download_can_be_switched_off_and_pointed_at_a_mirror() {
        let mut c = Config::default();
        assert!(c.builtins.embed.auto_fetch);
        let env = |k: &str| match k {
            "KEEL_MODEL_AUTO_FETCH" => Some("0".to_owned()),
            "KEEL_MODEL_MIRROR" => Some("http://127.0.0.1:9000/wheels".to_owned()),
            _ => None,
        };
        c.apply_env(env).unwrap();
        assert!(!c.builtins.embed.auto_fetch);
        assert_eq!(
            c.builtins.embed.model_mirror.as_deref(),
            Some("http://127.0.0.1:9000/wheels")
        );
        c.apply_env(|k| (k == "KEEL_MODEL_AUTO_FETCH").then(|| "On".into()))
            .unwrap();
        assert!(c.builtins.embed.auto_fetch);
        assert!(
            c.apply_env(|k| (k == "KEEL_MODEL_AUTO_FETCH").then(|| "maybe".into()))
                .is_err()
        );
    }
}
