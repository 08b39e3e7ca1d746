//! Findings and the report: text, JSON and SARIF.

mod sarif;
mod text;

use serde::Serialize;

pub(crate) use sarif::to_sarif;
pub(crate) use text::to_text;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; nothing to fix.
    Info,
    /// Hardening.
    Low,
    /// A real weakness (fails the run).
    Medium,
    /// Exploitable.
    High,
    /// Exploitable and serious.
    Critical,
}

impl Severity {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// One thing the server got wrong (or, at `info`, worth knowing).
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// The rule id (see [`crate::RULES`]).
    pub rule: &'static str,
    /// How bad it is.
    pub severity: Severity,
    /// What happened.
    pub message: String,
    /// What was sent and seen, shortened.
    pub evidence: String,
}

/// A probe (or group) that did not run, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    /// Probe or rule id.
    pub probe: String,
    /// Why it did not run.
    pub reason: String,
}

/// The outcome of an audit.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The URL or command audited.
    pub target: String,
    /// The era spoken (`modern`, `legacy`, or `unknown` when none answered).
    pub era: String,
    /// The server's name and version, when it said.
    pub server: Option<String>,
    /// Whether the server demanded authentication.
    pub auth_demanded: bool,
    /// Probe ids that ran.
    pub probes_run: Vec<String>,
    /// What was found.
    pub findings: Vec<Finding>,
    /// What did not run.
    pub skipped: Vec<Skipped>,
    /// Requests (and sockets) used.
    pub requests: u32,
    /// Tools called, by name.
    pub tools_called: Vec<String>,
}

impl Report {
    /// The worst severity found, if any.
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }

    /// Whether a finding of medium or worse exists (the run fails).
    pub fn fails(&self) -> bool {
        self.worst().is_some_and(|s| s >= Severity::Medium)
    }

    /// Whether a finding with rule `id` exists.
    pub fn has(&self, id: &str) -> bool {
        self.findings.iter().any(|f| f.rule == id)
    }

    /// The report as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|_| "{}".into())
    }

    /// The report as a SARIF 2.1.0 log.
    pub fn to_sarif(&self) -> String {
        to_sarif(self)
    }

    /// The report as text for a terminal.
    pub fn to_text(&self) -> String {
        to_text(self)
    }
}
