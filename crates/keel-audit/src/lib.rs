//! `keel audit`: a live, bounded, non-mutating security prober for any MCP server.
//!
//! It speaks to a server over Streamable HTTP (either era) or a child process's stdio, sends
//! malformed, hostile and forged requests, and reports what the server got wrong as findings
//! with a severity, as text, JSON or SARIF 2.1.0. It calls only tools annotated
//! `readOnlyHint: true` unless told otherwise, and stops at a request budget and a deadline.
//!
//! It is not a fuzzer (the payloads are a fixed list) and not a conformance suite (it checks
//! what matters to security, not every MUST of the specification).

mod audit;
mod catalog;
mod checks;
mod cli;
mod jwt;
mod options;
mod probes;
mod report;
mod schema;
mod wire;

pub use audit::{AuditError, audit};
pub use catalog::{RULES, Rule};
pub use cli::{AuditArgs, run};
pub use options::{Era, Options, Target};
pub use report::{Finding, Report, Severity, Skipped};
