//! The Keel server: configuration parsed once into validated settings, the dispatcher and
//! tool stack assembled from them, and the `keel` command line.
//!
//! It is the only crate that sees the whole configuration; everything below it receives
//! small typed parameters.
#![forbid(unsafe_code)]

mod admin;
mod admission;
mod audit;
mod auth;
mod builtin_metrics;
mod cache;
pub mod cli;
mod config;
mod echo;
mod health;
mod http_app;
mod model;
mod rate_limits;
mod resilience;
mod serve;
mod status;
mod status_cli;
mod traces;

pub use admin::INVALIDATE_PATH;
pub use admission::{AdmissionConfig, ClassConfig, ToolAdmissionConfig};
pub use audit::AuditSection;
pub use auth::{ApiKeyConfig, AuthConfig};
/// The HTTP framework [`http_app`] builds on, at the version it builds with.
pub use axum;
pub use builtin_metrics::BuiltinFamilies;
pub use cache::{CACHE_STATS_URI, CacheConfig, RedisSection, ScopeConfig, ToolCacheConfig};
pub use config::{
    Config, ConfigError, HttpConfig, InputConfig, SessionsConfig, ShutdownConfig, TlsConfig,
};
pub use echo::{EchoArgs, echo_tool};
pub use health::{Check, CheckFuture, CheckResult, Health, HealthConfig, SELF_CHECK, Verdict};
pub use http_app::{Extras, http_app};
pub use rate_limits::{OnFailure, QuotaConfig, RateLimitsConfig, RedisStoreConfig};
pub use resilience::ResilienceConfig;
pub use serve::{Readiness, Server, ServerBuilder, build_dispatcher, serve_http, serve_stdio};
pub use status::{STATUS_URI, Status, StatusConfig, StatusSection};
pub use status_cli::StatusArgs;
pub use traces::{OtlpProtocol, Traces, TracesConfig};
