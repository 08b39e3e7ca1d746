//! Keel's built-in tools, written against the same public tool API as any user's:
//!
//! - `analyze` (CPU): exact statistics on keel-analyze's bounded pool, with progress
//!   notifications and cancellation, over inline values, CSV or a SQL query's rows;
//! - `query` (IO): one read-only SQL statement on a named SQLite or PostgreSQL database
//!   through keel-query, plus schema browsing as resources (`keel://databases`,
//!   `keel://db/{database}/tables`, `keel://db/{database}/tables/{table}`);
//! - `embed`, `similarity`, `classify` (ML): all-MiniLM-L6-v2 through keel-embed's dynamic
//!   batcher; degraded, not fatal, while the model files are missing.
//!
//! [`builtins`] starts the engines from a [`BuiltinsConfig`]; [`Builtins::register`] adds
//! the tools to a registry and [`Builtins::readiness`] reports what cannot serve yet.
//!
//! It is not a server and has no transport or configuration file of its own: the server
//! parses [`BuiltinsConfig`] from its configuration and calls the entry point. The engines
//! know nothing of MCP; this crate is the only place they meet it.

#![forbid(unsafe_code)]

mod analyze;
mod builtins;
mod config;
mod embed;
mod error;
mod failure;
mod query;
mod schema;

pub use builtins::{Builtins, Readiness, builtins};
pub use config::{AnalyzeConfig, BuiltinsConfig, DatabaseEntry, EmbedConfig, QueryConfig};
pub use error::BuiltinsError;
