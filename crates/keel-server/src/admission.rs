//! `[admission]`: capacity and queue depth per workload class, and the bound on queue wait,
//! turned once into the admission layer's `AdmissionLimits`.

use std::time::Duration;

use keel_core::Workload;
use keel_middleware::{AdmissionLimits, Capacity, MaxQueueWait, QueueDepth};
use serde::Deserialize;

use crate::ConfigError;

/// Deepest queue a class may have.
const MAX_QUEUE: usize = 1 << 24;
/// Longest queue-wait bound, milliseconds (one hour).
const MAX_WAIT_MS: u64 = 3_600_000;

/// Admission per workload class; a class not given keeps its default (light 4096, cpu one
/// per core, io 64, ml 32; queues twice the capacity; no queue-wait bound).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdmissionConfig {
    /// Longest a call may wait in a class's queue before it is refused, milliseconds.
    pub max_queue_wait_ms: Option<u64>,
    /// Cheap tools (echo, lookups).
    pub light: Option<ClassConfig>,
    /// CPU-bound tools (analyze).
    pub cpu: Option<ClassConfig>,
    /// Tools and resources waiting on a database or service (query, `keel://db/...`).
    pub io: Option<ClassConfig>,
    /// Model inference (embed, similarity, classify).
    pub ml: Option<ClassConfig>,
}

/// One class's limits.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassConfig {
    /// Calls running at once.
    pub capacity: usize,
    /// Calls waiting beyond those (default: twice the capacity); past it calls are refused.
    pub queue: Option<usize>,
}

impl AdmissionConfig {
    fn classes(&self) -> [(Workload, &'static str, Option<ClassConfig>); 4] {
        [
            (Workload::Light, "light", self.light),
            (Workload::Cpu, "cpu", self.cpu),
            (Workload::Io, "io", self.io),
            (Workload::Ml, "ml", self.ml),
        ]
    }

    /// Refuses values out of range.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        for (_, name, class) in self.classes() {
            let Some(c) = class else { continue };
            if !(1..=Capacity::MAX).contains(&c.capacity) {
                return Err(ConfigError::Invalid(format!(
                    "admission.{name}.capacity must be between 1 and {}, not {}",
                    Capacity::MAX,
                    c.capacity
                )));
            }
            if c.queue.is_some_and(|q| q > MAX_QUEUE) {
                return Err(ConfigError::Invalid(format!(
                    "admission.{name}.queue must be at most {MAX_QUEUE}"
                )));
            }
        }
        if let Some(ms) = self.max_queue_wait_ms
            && !(1..=MAX_WAIT_MS).contains(&ms)
        {
            return Err(ConfigError::Invalid(format!(
                "admission.max_queue_wait_ms must be between 1 and {MAX_WAIT_MS}, not {ms}"
            )));
        }
        Ok(())
    }

    /// The limits the admission layer enforces (values validated already).
    pub fn limits(&self) -> AdmissionLimits {
        let mut limits = AdmissionLimits::default();
        for (workload, _, class) in self.classes() {
            let Some(c) = class else { continue };
            let Ok(capacity) = Capacity::new(c.capacity) else {
                continue; // refused by validate
            };
            let queue = c.queue.unwrap_or(2 * capacity.get());
            limits = limits.with_class(workload, capacity, QueueDepth(queue));
        }
        limits.with_max_queue_wait(
            self.max_queue_wait_ms
                .map(|ms| MaxQueueWait(Duration::from_millis(ms))),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<AdmissionConfig, ConfigError> {
        let c: AdmissionConfig = toml::from_str(text)?;
        c.validate()?;
        Ok(c)
    }

    #[test]
    fn classes_from_config_replace_only_their_defaults() {
        let c =
            parse("max_queue_wait_ms = 250\n[cpu]\ncapacity = 3\n[io]\ncapacity = 8\nqueue = 0\n")
                .unwrap();
        let limits = c.limits();
        let defaults = AdmissionLimits::default();
        let (cap, queue) = limits.class(Workload::Cpu);
        assert_eq!((cap.get(), queue.0), (3, 6));
        let (cap, queue) = limits.class(Workload::Io);
        assert_eq!((cap.get(), queue.0), (8, 0));
        assert_eq!(
            limits.class(Workload::Light),
            defaults.class(Workload::Light)
        );
        assert_eq!(limits.class(Workload::Ml), defaults.class(Workload::Ml));
        assert_eq!(
            limits.max_queue_wait(),
            Some(MaxQueueWait(Duration::from_millis(250)))
        );
        assert_eq!(parse("").unwrap().limits(), defaults);
    }

    #[test]
    fn bad_values_are_refused_with_their_key() {
        for (text, key) in [
            ("[cpu]\ncapacity = 0\n", "admission.cpu.capacity"),
            (
                "[ml]\ncapacity = 4\nqueue = 99999999999\n",
                "admission.ml.queue",
            ),
            ("max_queue_wait_ms = 0\n", "admission.max_queue_wait_ms"),
        ] {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.contains(key), "{text}: {e}");
        }
        assert!(parse("[gpu]\ncapacity = 1\n").is_err());
        assert!(parse("[cpu]\ncapacity = 1\nburst = 2\n").is_err());
    }
}
