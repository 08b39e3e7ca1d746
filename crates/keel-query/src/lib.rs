//! The engine behind Keel's built-in read-only SQL `query` tool.
//!
//! It opens several named databases from configuration data — SQLite files (a demo
//! retail database is created on first start) and PostgreSQL servers — and runs one
//! read-only statement per call with bound JSON parameters, a statement timeout and a
//! row limit, returning typed columns and JSON rows ([`QueryOutput`]) or a plain-text
//! table ([`render_table`]). It also lists tables and columns ([`Database::schema`]).
//!
//! Writes are refused twice: by a guard that admits one SELECT/WITH/VALUES/EXPLAIN/…
//! statement and nothing else, and by the engines themselves (read-only SQLite
//! connections with `query_only`; PostgreSQL sessions whose transactions default to
//! read-only).
//!
//! It is not an MCP tool: it knows nothing of MCP, JSON-RPC or other Keel crates. A
//! wiring layer wraps [`Database::query`] as a tool (the output types implement
//! `JsonSchema` for its `outputSchema`) and [`Database::schema`] as resources.

#![forbid(unsafe_code)]

mod calendar;
mod config;
mod databases;
mod demo;
mod error;
mod guard;
mod output;
mod params;
mod postgres;
mod render;
mod schema;
mod sqlite;

pub use config::{DatabaseConfig, Engine};
pub use databases::{Database, Databases, PoolStats};
pub use demo::seed_demo_database;
pub use error::{ConfigProblem, ParameterProblem, QueryError, SeedFailure};
pub use guard::{AllowedExtra, MAX_SQL_BYTES, Rejection, Unterminated};
pub use output::{Column, QueryOutput};
pub use params::{MAX_PARAM_BYTES, MAX_PARAMS};
pub use render::render_table;
pub use schema::{ColumnInfo, TableInfo, TableKind};
