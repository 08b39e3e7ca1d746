//! [`Metrics`]: the handle shared by the layer (which records) and the server (which renders).

use std::sync::Arc;

use keel_core::{Registry, ToolDefinition};

use super::{
    MetricsLayer,
    request::{MethodTable, RequestMetricsLayer},
    table::ToolTable,
};
use crate::{AdmissionState, CacheHandle};

/// The metrics of every tool call and of every request by method, plus admission gauges
/// when given the admission state.
/// Cheap to clone; all clones see the same series.
///
/// Series are pre-created for the tools known at construction (the registry is immutable),
/// so recording never locks or allocates.
#[derive(Clone)]
pub struct Metrics {
    pub(crate) tools: Arc<ToolTable>,
    pub(crate) requests: Arc<MethodTable>,
    pub(crate) admission: Option<AdmissionState>,
    pub(crate) cache: Option<CacheHandle>,
}

impl Metrics {
    /// Series for the given tool definitions (duplicates by name are counted once).
    pub fn new<'a>(tools: impl IntoIterator<Item = &'a ToolDefinition>) -> Self {
        Self {
            tools: Arc::new(ToolTable::new(tools)),
            requests: Arc::new(MethodTable::new()),
            admission: None,
            cache: None,
        }
    }

    /// Series for every tool of a registry.
    pub fn for_registry(registry: &Registry) -> Self {
        Self::new(registry.tools().iter().map(|t| &t.definition))
    }

    /// Also renders the gauges and shed counters of this admission state.
    pub fn with_admission(mut self, admission: AdmissionState) -> Self {
        self.admission = Some(admission);
        self
    }

    /// Also renders the counters of this cache.
    pub fn with_cache(mut self, cache: CacheHandle) -> Self {
        self.cache = Some(cache);
        self
    }

    /// A layer recording into these metrics.
    pub fn layer(&self) -> MetricsLayer {
        MetricsLayer::new(self)
    }

    /// A request-level layer recording into these metrics.
    pub fn request_layer(&self) -> RequestMetricsLayer {
        RequestMetricsLayer::new(self)
    }
}
