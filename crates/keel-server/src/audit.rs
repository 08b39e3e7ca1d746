//! `[audit]`: one JSON line per tool call, to a file or standard error.

use std::path::PathBuf;

use keel_middleware::{AuditConfig, AuditSink};
use serde::Deserialize;

use crate::ConfigError;

/// ```toml
/// [audit]
/// file = "/var/log/keel/audit.log"   # absent: standard error
/// include_arguments = false          # true writes the arguments, not only their SHA-256
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSection {
    /// The file records are appended to; standard error without it.
    pub file: Option<PathBuf>,
    /// Whether records carry the arguments themselves (they may hold secrets).
    #[serde(default)]
    pub include_arguments: bool,
    /// Records waiting for the writer before calls wait for it (default 8192).
    #[serde(default = "default_capacity")]
    pub capacity: usize,
}

fn default_capacity() -> usize {
    8192
}

impl AuditSection {
    /// The log's settings, checked.
    pub fn config(&self) -> Result<AuditConfig, ConfigError> {
        if !(1..=1_000_000).contains(&self.capacity) {
            return Err(ConfigError::Invalid(format!(
                "audit.capacity must be between 1 and 1000000, not {}",
                self.capacity
            )));
        }
        Ok(AuditConfig {
            sink: self.file.clone().map_or(AuditSink::Stderr, AuditSink::File),
            include_arguments: self.include_arguments,
            capacity: self.capacity,
        })
    }
}
