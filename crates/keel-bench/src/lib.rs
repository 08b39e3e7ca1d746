//! `keel bench`: an MCP-aware load generator for any MCP server, Keel or not.
//!
//! It speaks both protocol eras (2026-07-28 with `_meta` on every request, and the
//! session-based revisions with one handshake per session), runs closed loops (N connections,
//! each sending when its last answer arrived) and open loops (a rate, with latency measured from
//! the intended send time so a stalled server cannot hide behind the generator), and records
//! HDR histograms, errors by class, per-interval series and SLO verdicts as text, JSON, NDJSON
//! and one self-contained HTML file.
//!
//! It is a client: it knows nothing of Keel's internals and depends on no other keel crate.
#![forbid(unsafe_code)]

mod args;
mod ceiling;
mod churn;
mod client;
mod compare;
mod load;
mod mcp;
mod report;
mod run;
mod setup;
mod slo;
mod stats;
mod workload;

pub use args::{BenchArgs, BenchCommand, CompareArgs, EraChoice, LoadShape};
pub use client::{EndpointError, StdioError};
pub use compare::{Check, CompareError, Metric, compare_reports, metrics};
pub use report::{Ceiling, Churn, Errors, Interval, Latency, Report, Stage};
pub use run::{BenchError, bench, main};
pub use slo::{DEFAULT_SLO, Slo, SloError, SloVerdict, Stat};
pub use workload::{RequestSpec, Workload, WorkloadError};
