//! The result of one query, shaped for JSON (and an MCP `outputSchema`).

use serde::{Deserialize, Serialize};

/// One result column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Column {
    /// The column name as the database reports it.
    pub name: String,
    /// The engine's type name, lower-case for PostgreSQL (`int4`, `timestamptz`, `text[]`);
    /// for SQLite the declared type, or the storage class of the values when the column is
    /// an expression (`INTEGER`, `REAL`, `TEXT`, `BLOB`, `NULL`).
    pub type_name: String,
}

/// Rows returned by [`Database::query`](crate::Database::query).
///
/// Values follow the column types: integers and floats as JSON numbers (non-finite floats
/// as the strings `"NaN"`, `"Infinity"`, `"-Infinity"`), booleans as JSON booleans, text
/// as strings, blobs/`bytea` as base64 strings, PostgreSQL `numeric` and `money` as
/// decimal strings (no precision lost), dates and times as ISO 8601 strings (`timestamptz`
/// in UTC with a `Z`), `uuid` as its hyphenated string, `json`/`jsonb` as JSON, arrays as
/// JSON arrays. A value of a type Keel cannot decode is the string
/// `"<unsupported TYPE value>"`; cast it to text in SQL to see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct QueryOutput {
    /// Result columns, in order.
    pub columns: Vec<Column>,
    /// Result rows; each has one value per column.
    pub rows: Vec<Vec<serde_json::Value>>,
    /// Number of rows in `rows`.
    pub row_count: usize,
    /// True when the statement produced more rows than the row limit and the rest were not
    /// fetched.
    pub truncated: bool,
    /// Wall time of the call in milliseconds, including waiting for a connection.
    pub elapsed_ms: f64,
}

/// What a backend hands back before timing is added.
#[derive(Debug)]
pub(crate) struct Fetched {
    pub(crate) columns: Vec<Column>,
    pub(crate) rows: Vec<Vec<serde_json::Value>>,
    pub(crate) truncated: bool,
}

/// A JSON number, or `"NaN"` / `"Infinity"` / `"-Infinity"`, which JSON cannot hold.
pub(crate) fn json_float(f: f64) -> serde_json::Value {
    use serde_json::Value;
    match serde_json::Number::from_f64(f) {
        Some(n) => Value::Number(n),
        None if f.is_nan() => Value::String("NaN".to_owned()),
        None if f > 0.0 => Value::String("Infinity".to_owned()),
        None => Value::String("-Infinity".to_owned()),
    }
}
