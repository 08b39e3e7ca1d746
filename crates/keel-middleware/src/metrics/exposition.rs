//! `/metrics` through `prometheus-client`, the Prometheus project's Rust client: it owns the
//! text formats (the classic 0.0.4 one and OpenMetrics 1.0, chosen by the scraper's
//! `Accept`), their escaping and family layout. Keel's series stay where they are recorded
//! (pre-created atomics, no lock or lookup per call); each source is a [`Collector`] read at
//! scrape time.

use std::fmt;

pub use prometheus_client::{collector::Collector, encoding::DescriptorEncoder};
use prometheus_client::{encoding::NoLabelSet, metrics::MetricType, registry::Registry};

/// The `Content-Type` of the classic Prometheus text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// The `Content-Type` of OpenMetrics text.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A text format of the exposition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text 0.0.4, what a scraper gets unless it asks for OpenMetrics.
    Prometheus,
    /// OpenMetrics 1.0 text.
    OpenMetrics,
}

impl Format {
    /// The format an `Accept` header asks for: OpenMetrics when it names it (Prometheus
    /// itself does), the classic format otherwise.
    pub fn negotiate(accept: Option<&str>) -> Self {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Self::OpenMetrics,
            _ => Self::Prometheus,
        }
    }

    /// Its `Content-Type`.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Prometheus => CONTENT_TYPE,
            Self::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
        }
    }
}

/// Every source of `/metrics`, encoded on each scrape.
#[derive(Debug, Default)]
pub struct Exposition {
    registry: Registry,
}

impl Exposition {
    /// An exposition with no families.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a source; families appear in the order sources were added.
    pub fn register(&mut self, collector: impl Collector) {
        self.registry.register_collector(Box::new(collector));
    }

    /// [`Self::register`] for a source already boxed.
    pub fn register_boxed(&mut self, collector: Box<dyn Collector>) {
        self.registry.register_collector(collector);
    }

    /// The text of every family in `format`.
    pub fn render(&self, format: Format) -> String {
        let mut out = String::with_capacity(8192);
        // Writing into a String cannot fail.
        let _ = match format {
            Format::Prometheus => {
                prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
            }
            Format::OpenMetrics => {
                prometheus_client::encoding::text::encode(&mut out, &self.registry)
            }
        };
        out
    }
}

/// Labels of one series: `(name, value)` pairs, values escaped by the encoder.
pub type Labels<'a> = &'a [(&'a str, &'a str)];

/// A counter family; `name` without the `_total` the formats add.
pub fn counter<'a>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    series: impl IntoIterator<Item = (Labels<'a>, u64)>,
) -> fmt::Result {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, value) in series {
        if labels.is_empty() {
            family.encode_counter::<NoLabelSet, _, u64>(&value, None)?;
        } else {
            family
                .encode_family(&labels)?
                .encode_counter::<NoLabelSet, _, u64>(&value, None)?;
        }
    }
    Ok(())
}

/// A count as a gauge value, saturating.
pub fn gauge_value(n: impl TryInto<i64>) -> i64 {
    n.try_into().unwrap_or(i64::MAX)
}

/// A gauge family.
pub fn gauge<'a>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    series: impl IntoIterator<Item = (Labels<'a>, i64)>,
) -> fmt::Result {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, value) in series {
        if labels.is_empty() {
            family.encode_gauge(&value)?;
        } else {
            family.encode_family(&labels)?.encode_gauge(&value)?;
        }
    }
    Ok(())
}

/// One histogram series: its sum, count and per-bucket (not cumulative) counts by upper
/// bound, the last bound being infinity.
pub struct HistogramSeries<'a> {
    /// Labels of the series.
    pub labels: Labels<'a>,
    /// Sum of the observations.
    pub sum: f64,
    /// Number of observations.
    pub count: u64,
    /// `(upper bound, observations in this bucket alone)`.
    pub buckets: &'a [(f64, u64)],
}

/// A histogram family.
pub fn histogram<'a>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    series: impl IntoIterator<Item = HistogramSeries<'a>>,
) -> fmt::Result {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Histogram)?;
    for s in series {
        family
            .encode_family(&s.labels)?
            .encode_histogram::<NoLabelSet>(s.sum, s.count, s.buckets, None)?;
    }
    Ok(())
}
