//! `[traces]`: OpenTelemetry spans exported over OTLP/HTTP to a collector.

use std::{collections::BTreeMap, time::Duration};

use opentelemetry::{KeyValue, trace::TracerProvider as _};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::{
    Resource,
    trace::{Sampler, SdkTracerProvider},
};
use serde::Deserialize;
use tracing_subscriber::{Layer, filter::Targets, registry::LookupSpan};

use crate::ConfigError;

/// ```toml
/// [traces]
/// endpoint = "http://127.0.0.1:4318/v1/traces"  # the collector's OTLP/HTTP traces URL
/// protocol = "http/protobuf"                     # or "http/json"
/// sample_ratio = 1.0       # of new traces; a caller's sampling decision is followed
/// service_name = "keel"
/// timeout_ms = 10000       # per export
/// headers = { "x-api-key" = "…" }
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TracesConfig {
    /// The OTLP/HTTP traces URL, path included.
    pub endpoint: String,
    /// The OTLP encoding.
    #[serde(default)]
    pub protocol: OtlpProtocol,
    /// Share of traces started here that are recorded; a caller's `traceparent` decides
    /// for the traces it continues.
    #[serde(default = "default_ratio")]
    pub sample_ratio: f64,
    /// `service.name` of the spans.
    #[serde(default = "default_service_name")]
    pub service_name: String,
    /// How long one export may take.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Headers sent with each export (a collector's credentials).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// The OTLP/HTTP encodings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum OtlpProtocol {
    /// Protocol buffers, OTLP's default.
    #[default]
    #[serde(rename = "http/protobuf")]
    Protobuf,
    /// JSON.
    #[serde(rename = "http/json")]
    Json,
}

fn default_ratio() -> f64 {
    1.0
}

fn default_service_name() -> String {
    "keel".to_owned()
}

fn default_timeout_ms() -> u64 {
    10_000
}

impl TracesConfig {
    /// A section exporting to `endpoint` with every other setting at its default.
    pub fn to(endpoint: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            protocol: OtlpProtocol::default(),
            sample_ratio: default_ratio(),
            service_name: default_service_name(),
            timeout_ms: default_timeout_ms(),
            headers: BTreeMap::new(),
        }
    }

    /// Checks the values without starting anything.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let scheme_ok = ["http://", "https://"].iter().any(|s| {
            self.endpoint
                .get(..s.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(s))
        });
        if !scheme_ok || self.endpoint.parse::<http::Uri>().is_err() {
            return Err(ConfigError::Invalid(format!(
                "traces.endpoint must be an http:// or https:// URL, not {:?}",
                self.endpoint
            )));
        }
        if !(0.0..=1.0).contains(&self.sample_ratio) {
            return Err(ConfigError::Invalid(format!(
                "traces.sample_ratio must be between 0 and 1, not {}",
                self.sample_ratio
            )));
        }
        if self.service_name.trim().is_empty() {
            return Err(ConfigError::Invalid(
                "traces.service_name must not be empty".into(),
            ));
        }
        if !(1..=60_000).contains(&self.timeout_ms) {
            return Err(ConfigError::Invalid(format!(
                "traces.timeout_ms must be between 1 and 60000, not {}",
                self.timeout_ms
            )));
        }
        for (name, value) in &self.headers {
            if http::HeaderName::try_from(name.as_str()).is_err()
                || http::HeaderValue::try_from(value.as_str()).is_err()
            {
                return Err(ConfigError::Invalid(format!(
                    "traces.headers: {name:?} is not a valid header"
                )));
            }
        }
        Ok(())
    }

    /// Starts the exporter: a batching span processor on a thread of its own, so exports
    /// never run on the request path. Call it outside an async runtime (its HTTP client is a
    /// blocking one).
    pub fn start(&self) -> Result<Traces, ConfigError> {
        self.validate()?;
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(self.endpoint.clone())
            .with_protocol(match self.protocol {
                OtlpProtocol::Protobuf => Protocol::HttpBinary,
                OtlpProtocol::Json => Protocol::HttpJson,
            })
            .with_timeout(Duration::from_millis(self.timeout_ms))
            .with_headers(self.headers.clone().into_iter().collect())
            .build()
            .map_err(|e| ConfigError::Invalid(format!("traces: cannot start the exporter: {e}")))?;
        let resource = Resource::builder_empty()
            .with_service_name(self.service_name.clone())
            .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
            .build();
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            // New traces are sampled before their first span (`keel_core::trace`); what
            // reaches the exporter follows its parent.
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)))
            .with_resource(resource)
            .build();
        Ok(Traces {
            provider,
            sample_ratio: self.sample_ratio,
        })
    }
}

/// A running span exporter. [`Traces::layer`] feeds it from `tracing`; [`Traces::shutdown`]
/// exports what is left.
pub struct Traces {
    provider: SdkTracerProvider,
    sample_ratio: f64,
}

impl Traces {
    /// Starts creating spans (at the configured sample ratio); call it once
    /// [`Traces::layer`] is installed.
    pub fn enable(&self) {
        keel_core::trace::enable(self.sample_ratio);
    }

    /// The `tracing` layer turning Keel's spans (targets under `keel`) into OpenTelemetry
    /// spans; spans are only created once [`Traces::enable`] was called.
    pub fn layer<S>(&self) -> impl Layer<S> + Send + Sync + 'static
    where
        S: tracing::Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
    {
        tracing_opentelemetry::layer()
            .with_tracer(self.provider.tracer("keel"))
            .with_threads(false)
            .with_filter(Targets::new().with_target("keel", tracing::Level::INFO))
    }

    /// Exports the spans still buffered and stops; call it outside an async runtime.
    pub fn shutdown(self) {
        if let Err(e) = self.provider.shutdown() {
            tracing::warn!(error = %e, "traces: the last spans were not exported");
        }
    }
}
